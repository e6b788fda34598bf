// FakeClock: a Clock that moves only when a test advances it, so expiry and
// refresh are tested without sleeping. Thread-safe.
#pragma once

#include <chrono>
#include <mutex>

#include "base/clock.h"

namespace sluice::testing_support {

class FakeClock final : public Clock {
 public:
  explicit FakeClock(WallTime wall = WallTime{std::chrono::hours(24 * 365 * 54)}) : wall_(wall) {}

  SteadyTime Now() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return steady_;
  }
  WallTime WallNow() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return wall_;
  }
  // Moves both clocks forward.
  void Advance(std::chrono::nanoseconds by) {
    std::lock_guard<std::mutex> lock(mu_);
    steady_ += by;
    wall_ += std::chrono::duration_cast<WallTime::duration>(by);
  }

 private:
  mutable std::mutex mu_;
  SteadyTime steady_{};  // GUARDED_BY(mu_)
  WallTime wall_;        // GUARDED_BY(mu_)
};

}  // namespace sluice::testing_support
