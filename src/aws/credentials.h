// AWS credentials and the provider seam: static keys here; the default chain
// (environment, shared files, web identity, container, IMDSv2) is in
// providers.h and chain.h, the refreshing cache in refreshing.h.
#pragma once

#include <optional>
#include <string>

#include "base/clock.h"
#include "base/result.h"
#include "base/secret.h"

namespace sluice::aws {

struct Credentials {
  std::string access_key_id;
  Secret secret_access_key;
  Secret session_token;                // empty for long-term keys
  std::optional<WallTime> expiration;  // temporary credentials only
};

// Thread-safe: called from every sender thread.
class CredentialsProvider {
 public:
  virtual ~CredentialsProvider() = default;
  virtual Result<Credentials> Get() = 0;
  // Called after AWS rejected the credentials whose key id is
  // `access_key_id` (ExpiredToken, UnrecognizedClientException): a cache that
  // holds exactly those drops them so the next Get() refetches. A rejection of
  // other credentials (a late answer to a request signed before a renewal) is
  // ignored, so it cannot throw away fresh ones.
  virtual void Invalidate(const std::string& access_key_id) {}
  // Names the provider in errors ("static keys", "environment", ...).
  virtual std::string Name() const = 0;
  // Where the credentials of the last successful Get() came from, for people
  // ("web identity (role arn:aws:iam::...)"); Name() when there is no more to
  // say. Never a secret.
  virtual std::string Describe() const { return Name(); }
};

class StaticCredentialsProvider final : public CredentialsProvider {
 public:
  explicit StaticCredentialsProvider(Credentials credentials)
      : credentials_(std::move(credentials)) {}
  Result<Credentials> Get() override { return credentials_; }
  std::string Name() const override { return "static keys"; }

 private:
  const Credentials credentials_;
};

}  // namespace sluice::aws
