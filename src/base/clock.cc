#include "base/clock.h"

namespace sluice {

const Clock& SystemClock::Instance() {
  static const SystemClock clock;
  return clock;
}

}  // namespace sluice
