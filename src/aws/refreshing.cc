#include "aws/refreshing.h"

#include <utility>

#include "aws/credential_parsing.h"
#include "base/log.h"

namespace sluice::aws {

RefreshingCredentialsProvider::RefreshingCredentialsProvider(
    std::unique_ptr<CredentialsProvider> inner, const Clock& clock, RefreshOptions options)
    : inner_(std::move(inner)), clock_(clock), options_(options) {}

bool RefreshingCredentialsProvider::Fresh(WallTime now) const {
  if (!cached_ || rejected_) return false;
  return !cached_->expiration || now < *cached_->expiration - options_.refresh_before;
}

bool RefreshingCredentialsProvider::Usable(WallTime now) const {
  if (!cached_ || rejected_) return false;
  return !cached_->expiration || now < *cached_->expiration - options_.min_validity;
}

Result<Credentials> RefreshingCredentialsProvider::Get() {
  std::unique_lock<std::mutex> lock(mu_);
  if (Fresh(clock_.WallNow())) return *cached_;
  if (fetching_) {
    if (Usable(clock_.WallNow())) return *cached_;  // the fetching caller renews them
    const uint64_t seen = fetch_count_;
    fetch_done_.wait(lock, [&] { return fetch_count_ != seen; });
    if (Usable(clock_.WallNow())) return *cached_;
    if (last_error_) return *last_error_;
    return Error(ErrorCode::kAuth, inner_->Name() + ": fetched credentials expire within " +
                                       std::to_string(options_.min_validity.count()) + " s");
  }

  fetching_ = true;
  lock.unlock();
  Result<Credentials> fetched = inner_->Get();
  lock.lock();
  fetching_ = false;
  ++fetch_count_;
  fetch_done_.notify_all();
  if (fetched.ok()) {
    cached_ = fetched.value();
    rejected_ = false;
    last_error_.reset();
    return fetched;
  }
  last_error_ = fetched.error();
  if (Usable(clock_.WallNow())) {
    SLUICE_LOG_WARN(
        "AWS credentials from {}: renewal failed, still using the current ones (they expire at "
        "{}): {}",
        inner_->Describe(), FormatIso8601(*cached_->expiration), fetched.error().message());
    return *cached_;
  }
  return fetched;
}

void RefreshingCredentialsProvider::Invalidate() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    rejected_ = true;
  }
  inner_->Invalidate();
}

}  // namespace sluice::aws
