// Clock: the seam for time. Production uses SystemClock; tests advance a
// FakeClock (tests/support/fake_clock.h) instead of sleeping.
#pragma once

#include <chrono>

namespace sluice {

using SteadyTime = std::chrono::steady_clock::time_point;
using WallTime = std::chrono::system_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic time, for deadlines and backoff.
  virtual SteadyTime Now() const = 0;
  // Wall-clock time, for signatures and timestamps shown to people.
  virtual WallTime WallNow() const = 0;
};

class SystemClock final : public Clock {
 public:
  SteadyTime Now() const override { return std::chrono::steady_clock::now(); }
  WallTime WallNow() const override { return std::chrono::system_clock::now(); }
  // Process-wide instance; thread-safe (stateless).
  static const Clock& Instance();
};

}  // namespace sluice
