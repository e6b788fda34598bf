#include "delivery/retry_policy.h"

#include <algorithm>
#include <cmath>

namespace sluice::delivery {

std::chrono::milliseconds RetryPolicy::Delay(int64_t failures, double unit_random) const {
  if (failures < 1) failures = 1;
  double base = static_cast<double>(initial.count());
  const double cap_ms = static_cast<double>(cap.count());
  // Doubling stops at the cap; avoid overflow for huge failure counts.
  for (int64_t i = 1; i < failures && base < cap_ms; ++i) base *= 2;
  base = std::min(base, cap_ms);
  double factor = 1.0 + jitter * (2.0 * unit_random - 1.0);
  double ms = std::min(base * factor, cap_ms);
  return std::chrono::milliseconds(static_cast<int64_t>(std::llround(ms)));
}

}  // namespace sluice::delivery
