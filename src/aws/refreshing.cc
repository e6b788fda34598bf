#include "aws/refreshing.h"

#include <random>
#include <utility>

#include "aws/credential_parsing.h"
#include "base/log.h"

namespace sluice::aws {

RefreshingCredentialsProvider::RefreshingCredentialsProvider(
    std::unique_ptr<CredentialsProvider> inner, const Clock& clock, RefreshOptions options)
    : inner_(std::move(inner)), clock_(clock), options_(std::move(options)) {
  jitter_ = options_.jitter;
  if (!jitter_) {
    jitter_ = [engine = std::minstd_rand(std::random_device{}())]() mutable {
      return std::uniform_real_distribution<double>(0.0, 1.0)(engine);
    };
  }
}

bool RefreshingCredentialsProvider::Fresh(WallTime now) const {
  if (!cached_ || rejected_) return false;
  return !cached_->expiration || now < *cached_->expiration - options_.refresh_before;
}

bool RefreshingCredentialsProvider::Usable(WallTime now) const {
  if (!cached_ || rejected_) return false;
  return !cached_->expiration || now < *cached_->expiration - options_.min_validity;
}

Result<Credentials> RefreshingCredentialsProvider::Current(WallTime now) const {
  if (Usable(now)) return *cached_;
  if (last_error_) return *last_error_;
  return Error(ErrorCode::kAuth, inner_->Describe() + ": the cached credentials expired");
}

bool RefreshingCredentialsProvider::MayFetch(SteadyTime now, bool usable) const {
  if (!last_error_) return true;
  const auto pause = usable ? backoff_ : options_.retry_interval;
  return now >= failed_at_ + pause;
}

std::chrono::milliseconds RefreshingCredentialsProvider::RenewalBackoff() {
  const auto min =
      std::chrono::duration_cast<std::chrono::milliseconds>(options_.renewal_backoff_min);
  const auto max =
      std::chrono::duration_cast<std::chrono::milliseconds>(options_.renewal_backoff_max);
  if (max <= min) return min;
  double j = jitter_();
  if (!(j >= 0.0)) j = 0.0;  // also NaN
  if (j >= 1.0) j = 1.0;
  return min + std::chrono::milliseconds(static_cast<int64_t>(double((max - min).count()) * j));
}

Result<Credentials> RefreshingCredentialsProvider::Get() {
  std::unique_lock<std::mutex> lock(mu_);
  WallTime now = clock_.WallNow();
  if (Fresh(now)) return *cached_;
  const bool usable = Usable(now);
  if (fetching_) {
    if (usable) return *cached_;  // the fetching caller renews them
    const uint64_t seen = fetch_count_;
    fetch_done_.wait(lock, [&] { return fetch_count_ != seen; });
    return Current(clock_.WallNow());
  }
  if (!MayFetch(clock_.Now(), usable)) return Current(now);

  fetching_ = true;
  lock.unlock();
  Result<Credentials> fetched = inner_->Get();
  lock.lock();
  fetching_ = false;
  ++fetch_count_;
  now = clock_.WallNow();

  std::optional<Error> failure;
  if (!fetched.ok()) {
    failure = fetched.error();
  } else if (fetched->expiration && now >= *fetched->expiration - options_.min_validity) {
    failure = Error(ErrorCode::kAuth, inner_->Describe() + ": the credentials fetched expire at " +
                                          FormatIso8601(*fetched->expiration) + ", within " +
                                          std::to_string(options_.min_validity.count()) + " s");
  }
  if (!failure) {
    cached_ = std::move(fetched).value();
    rejected_ = false;
    last_error_.reset();
  } else {
    last_error_ = *failure;
    failed_at_ = clock_.Now();
    backoff_ = RenewalBackoff();
    if (Usable(now)) {
      // Once per backoff period: no renewal is tried again before it ends.
      SLUICE_LOG_WARN(
          "AWS credentials from {}: renewal failed, still using the current ones (they expire at "
          "{}; next attempt in {} s): {}",
          inner_->Describe(), FormatIso8601(*cached_->expiration),
          std::chrono::duration_cast<std::chrono::seconds>(backoff_).count(), failure->message());
    }
  }
  Result<Credentials> outcome = Current(now);
  fetch_done_.notify_all();
  return outcome;
}

void RefreshingCredentialsProvider::Invalidate(const std::string& access_key_id) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!cached_ || cached_->access_key_id != access_key_id) return;
    rejected_ = true;
  }
  inner_->Invalidate(access_key_id);
}

}  // namespace sluice::aws
