// RefreshingCredentialsProvider: caches what another provider fetched and
// renews temporary credentials before they expire.
//
// Why: the chain's providers make an HTTP round trip per fetch (STS, the
// container agent, IMDS); senders call Get() for every request, and an ECS
// task role or IRSA session lasts hours. Without renewal the process keeps
// using credentials until AWS says ExpiredToken (Sequin's failure mode).
//
// Policy (times from the Clock seam, WallNow()):
//   - credentials without an expiration are kept until Invalidate();
//   - temporary credentials are renewed by the first Get() within
//     `refresh_before` of their expiration; while that fetch runs, other
//     callers keep getting the current credentials as long as they are valid
//     for more than `min_validity`, so only one caller waits and concurrent
//     Get()s cause one fetch;
//   - credentials that expire within `min_validity` are never handed out:
//     callers wait for the fetch;
//   - Invalidate() (AWS rejected them) makes the next Get() fetch, and the
//     rejected credentials are not handed out again;
//   - a failed renewal while the current credentials are still valid logs a
//     warning naming the provider and keeps them; the next Get() tries again.
//
// Thread-safe. Describe() and Name() are the inner provider's.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>

#include "aws/credentials.h"
#include "base/clock.h"

namespace sluice::aws {

struct RefreshOptions {
  std::chrono::seconds refresh_before{std::chrono::minutes(5)};
  std::chrono::seconds min_validity{std::chrono::minutes(1)};
};

class RefreshingCredentialsProvider final : public CredentialsProvider {
 public:
  // `clock` must outlive the provider.
  RefreshingCredentialsProvider(std::unique_ptr<CredentialsProvider> inner, const Clock& clock,
                                RefreshOptions options = {});

  Result<Credentials> Get() override;
  void Invalidate() override;
  std::string Name() const override { return inner_->Name(); }
  std::string Describe() const override { return inner_->Describe(); }

 private:
  bool Fresh(WallTime now) const;   // REQUIRES(mu_)
  bool Usable(WallTime now) const;  // REQUIRES(mu_)

  const std::unique_ptr<CredentialsProvider> inner_;
  const Clock& clock_;
  const RefreshOptions options_;

  std::mutex mu_;
  std::condition_variable fetch_done_;
  std::optional<Credentials> cached_;  // GUARDED_BY(mu_)
  bool rejected_ = false;              // GUARDED_BY(mu_): Invalidate() since the last fetch
  bool fetching_ = false;              // GUARDED_BY(mu_)
  uint64_t fetch_count_ = 0;           // GUARDED_BY(mu_): completed fetches
  std::optional<Error> last_error_;    // GUARDED_BY(mu_): of the last fetch, if it failed
};

}  // namespace sluice::aws
