// Retry timing (SPEC §4): exponential backoff from 1 s, doubling, ±15% jitter,
// capped at 3 minutes. Pure: the jitter draw is passed in.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

namespace sluice::delivery {

struct RetryPolicy {
  std::chrono::milliseconds initial{1000};
  std::chrono::milliseconds cap{180000};
  double jitter = 0.15;
  std::optional<int64_t> max_retry_count;  // nullopt: forever

  // Delay before attempt number `failures + 1`, after `failures` (>= 1)
  // failed attempts. `unit_random` is a uniform draw in [0, 1).
  std::chrono::milliseconds Delay(int64_t failures, double unit_random) const;

  // True when a message that failed `failures` times must not be retried.
  bool Exhausted(int64_t failures) const {
    return max_retry_count.has_value() && failures > *max_retry_count;
  }
};

}  // namespace sluice::delivery
