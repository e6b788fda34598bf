// The credential providers of the AWS default chain, each behind
// CredentialsProvider, in the order the AWS SDKs try them (chain.h composes
// them): environment, shared files, web identity (IRSA), container (ECS task
// role, EKS Pod Identity), EC2 instance metadata (IMDSv2).
//
// Why seams: every provider reads variables through config::Environment and
// talks HTTP through http::Transport, so unit tests script the exchanges and
// no test reaches a real metadata address or AWS. Each fetch makes its own
// transport from the factory (fetches are rare: the caching wrapper in
// refreshing.h calls them), so the providers are thread-safe.
//
// Errors name no secret: access key ids may appear, secret keys, session
// tokens, web identity tokens and authorization tokens never do. A provider
// that is not configured (its variables unset) fails with kNotFound and a
// message saying what is missing; the chain then tries the next one.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "aws/credentials.h"
#include "base/clock.h"
#include "config/environment.h"
#include "http/transport.h"

namespace sluice::aws {

using TransportFactory = std::function<std::unique_ptr<http::Transport>()>;

// Timeouts of the credential endpoints. IMDS is short so a host that is not
// EC2 fails fast (the SDKs use 1 s).
inline constexpr std::chrono::milliseconds kImdsConnectTimeout{1000};
inline constexpr std::chrono::milliseconds kImdsTimeout{2000};
inline constexpr std::chrono::milliseconds kContainerConnectTimeout{2000};
inline constexpr std::chrono::milliseconds kContainerTimeout{5000};
inline constexpr std::chrono::milliseconds kStsConnectTimeout{5000};
inline constexpr std::chrono::milliseconds kStsTimeout{10000};
// Lifetime asked for the IMDSv2 session token (seconds).
inline constexpr int kImdsTokenTtlSeconds = 21600;

// AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN).
class EnvironmentCredentialsProvider final : public CredentialsProvider {
 public:
  explicit EnvironmentCredentialsProvider(config::Environment env) : env_(std::move(env)) {}
  Result<Credentials> Get() override;
  std::string Name() const override { return "environment"; }

 private:
  const config::Environment env_;
};

// Static keys (aws_access_key_id, aws_secret_access_key, aws_session_token) of
// profile AWS_PROFILE (default "default") in the credentials file
// (AWS_SHARED_CREDENTIALS_FILE, default ~/.aws/credentials, sections "[name]")
// and the config file (AWS_CONFIG_FILE, default ~/.aws/config, sections
// "[profile name]", and "[default]"). A key in the credentials file wins over
// the same key in the config file. Files are read at each Get(). A profile
// that only names a role (role_arn, credential_process, sso_*) is reported as
// unsupported.
class ProfileCredentialsProvider final : public CredentialsProvider {
 public:
  explicit ProfileCredentialsProvider(config::Environment env) : env_(std::move(env)) {}
  Result<Credentials> Get() override;
  std::string Name() const override { return "shared files"; }
  std::string Describe() const override;

 private:
  const config::Environment env_;
  mutable std::mutex mu_;
  std::string described_;  // GUARDED_BY(mu_)
};

// Where STS is for web identity: the stream's region and partition.
struct StsLocation {
  std::string region;             // from the stream ARN; empty: AWS_REGION, AWS_DEFAULT_REGION
  std::string partition = "aws";  // aws-cn → amazonaws.com.cn
};

// AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE (read at every fetch: the
// kubelet rotates it) → STS AssumeRoleWithWebIdentity, an unsigned POST of the
// Query API to https://sts.<region>.amazonaws.com/ (AWS_ENDPOINT_URL_STS, or
// AWS_ENDPOINT_URL, overrides it). Session name AWS_ROLE_SESSION_NAME, default
// "sluice-<unix seconds>".
class WebIdentityCredentialsProvider final : public CredentialsProvider {
 public:
  WebIdentityCredentialsProvider(config::Environment env, StsLocation sts,
                                 TransportFactory transport_factory, const Clock& clock)
      : env_(std::move(env)),
        sts_(std::move(sts)),
        transport_factory_(std::move(transport_factory)),
        clock_(clock) {}
  Result<Credentials> Get() override;
  std::string Name() const override { return "web identity"; }
  std::string Describe() const override;

 private:
  const config::Environment env_;
  const StsLocation sts_;
  const TransportFactory transport_factory_;
  const Clock& clock_;
  mutable std::mutex mu_;
  std::string role_arn_;  // GUARDED_BY(mu_): of the last successful fetch
};

// The container credentials endpoint: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI
// on http://169.254.170.2 (ECS task role), else
// AWS_CONTAINER_CREDENTIALS_FULL_URI (EKS Pod Identity and others), allowed
// only with https or an http host that is loopback, 169.254.170.2,
// 169.254.170.23 or fd00:ec2::23. The Authorization header is the content of
// AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (read at every fetch), else
// AWS_CONTAINER_AUTHORIZATION_TOKEN.
class ContainerCredentialsProvider final : public CredentialsProvider {
 public:
  ContainerCredentialsProvider(config::Environment env, TransportFactory transport_factory)
      : env_(std::move(env)), transport_factory_(std::move(transport_factory)) {}
  Result<Credentials> Get() override;
  std::string Name() const override { return "container"; }
  std::string Describe() const override;

 private:
  const config::Environment env_;
  const TransportFactory transport_factory_;
  mutable std::mutex mu_;
  std::string url_;  // GUARDED_BY(mu_): of the last successful fetch
};

// EC2 instance metadata, IMDSv2 only: PUT /latest/api/token, GET
// /latest/meta-data/iam/security-credentials/ (the role name), GET
// .../<role>. Endpoint http://169.254.169.254, or http://[fd00:ec2::254] with
// AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6, or
// AWS_EC2_METADATA_SERVICE_ENDPOINT. AWS_EC2_METADATA_DISABLED=true turns it
// off (kNotFound, nothing sent).
class ImdsCredentialsProvider final : public CredentialsProvider {
 public:
  ImdsCredentialsProvider(config::Environment env, TransportFactory transport_factory)
      : env_(std::move(env)), transport_factory_(std::move(transport_factory)) {}
  Result<Credentials> Get() override;
  std::string Name() const override { return "EC2 instance metadata"; }
  std::string Describe() const override;

 private:
  const config::Environment env_;
  const TransportFactory transport_factory_;
  mutable std::mutex mu_;
  std::string role_;  // GUARDED_BY(mu_): of the last successful fetch
};

}  // namespace sluice::aws
