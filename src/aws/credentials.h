// AWS credentials and the provider seam. Static keys now; the full chain
// (environment, profile, web identity, container, IMDSv2) plugs in behind
// CredentialsProvider.
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
  // Called after AWS rejected the current credentials (ExpiredToken,
  // UnrecognizedClientException): drop any cache so the next Get() refetches.
  virtual void Invalidate() {}
  // Names the provider in errors ("static keys", "environment", ...).
  virtual std::string Name() const = 0;
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
