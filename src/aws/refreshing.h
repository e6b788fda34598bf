// RefreshingCredentialsProvider: caches what another provider fetched and
// renews temporary credentials before they expire.
//
// Why: the chain's providers make an HTTP round trip per fetch (STS, the
// container agent, IMDS); senders call Get() for every request, and an ECS
// task role or IRSA session lasts hours. Without renewal the process keeps
// using credentials until AWS says ExpiredToken (Sequin's failure mode).
//
// Policy (expiry against the Clock's WallNow(), backoff against its Now()):
//   - credentials without an expiration are kept until they are rejected;
//   - "usable" credentials are valid for more than `min_validity` and not
//     rejected; nothing else is ever handed out, to any caller;
//   - temporary credentials are renewed by the first Get() within
//     `refresh_before` of their expiration; while that fetch runs, other
//     callers keep getting the current credentials if they are usable, and
//     otherwise wait for the fetch, so concurrent Get()s cause one fetch;
//   - the caller that ran a fetch and the callers that waited for it get the
//     same outcome: the cached credentials if they are usable, else the
//     fetch's error (fetched credentials that are not usable count as a
//     failed fetch and are not cached);
//   - a failed renewal while the current credentials are still usable logs
//     one warning naming the provider and keeps them; no fetch is made for a
//     backoff of `renewal_backoff_min`..`renewal_backoff_max` (jittered) after
//     it, so Get()s inside the window neither wait nor log;
//   - when nothing usable is cached, a Get() fetches on demand, but at most
//     once per `retry_interval` after a failed fetch: in between it returns
//     that fetch's error;
//   - Invalidate(id) (AWS rejected the credentials with key id `id`) marks
//     the cached credentials rejected only if they are those: the next Get()
//     fetches and the rejected ones are not handed out again. A late
//     rejection of credentials that were already renewed is ignored.
//
// Thread-safe. Describe() and Name() are the inner provider's.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>

#include "aws/credentials.h"
#include "base/clock.h"

namespace sluice::aws {

struct RefreshOptions {
  std::chrono::seconds refresh_before{std::chrono::minutes(5)};
  std::chrono::seconds min_validity{std::chrono::minutes(1)};
  // Pause after a failed renewal while the current credentials are usable.
  std::chrono::seconds renewal_backoff_min{10};
  std::chrono::seconds renewal_backoff_max{30};
  // Least time between on-demand fetches after a failure, when nothing usable
  // is cached.
  std::chrono::milliseconds retry_interval{1000};
  // Where in [renewal_backoff_min, renewal_backoff_max] a backoff falls: a
  // value in [0, 1). Empty: a pseudo-random number (tests pass a constant).
  // Called with the provider's lock held.
  std::function<double()> jitter;
};

class RefreshingCredentialsProvider final : public CredentialsProvider {
 public:
  // `clock` must outlive the provider.
  RefreshingCredentialsProvider(std::unique_ptr<CredentialsProvider> inner, const Clock& clock,
                                RefreshOptions options = {});

  Result<Credentials> Get() override;
  void Invalidate(const std::string& access_key_id) override;
  std::string Name() const override { return inner_->Name(); }
  std::string Describe() const override { return inner_->Describe(); }

 private:
  bool Fresh(WallTime now) const;   // REQUIRES(mu_)
  bool Usable(WallTime now) const;  // REQUIRES(mu_)
  // The usable cached credentials, else the last fetch's error.
  Result<Credentials> Current(WallTime now) const;  // REQUIRES(mu_)
  // Whether a fetch may start now (no backoff in force).
  bool MayFetch(SteadyTime now, bool usable) const;  // REQUIRES(mu_)
  std::chrono::milliseconds RenewalBackoff();        // REQUIRES(mu_)

  const std::unique_ptr<CredentialsProvider> inner_;
  const Clock& clock_;
  const RefreshOptions options_;

  std::mutex mu_;
  std::condition_variable fetch_done_;
  std::function<double()> jitter_;        // GUARDED_BY(mu_)
  std::optional<Credentials> cached_;     // GUARDED_BY(mu_): always usable when fetched
  bool rejected_ = false;                 // GUARDED_BY(mu_): Invalidate() named cached_
  bool fetching_ = false;                 // GUARDED_BY(mu_)
  uint64_t fetch_count_ = 0;              // GUARDED_BY(mu_): completed fetches
  std::optional<Error> last_error_;       // GUARDED_BY(mu_): of the last fetch, if it failed
  SteadyTime failed_at_{};                // GUARDED_BY(mu_): when; valid with last_error_
  std::chrono::milliseconds backoff_{0};  // GUARDED_BY(mu_): renewal pause after it
};

}  // namespace sluice::aws
