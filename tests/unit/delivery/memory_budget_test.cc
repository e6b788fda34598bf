#include "delivery/memory_budget.h"

#include <gtest/gtest.h>

namespace sluice::delivery {
namespace {

using std::chrono::milliseconds;

TEST(MemoryBudget, ReportsFullUntilReleasedBelowTheLimit) {
  MemoryBudget budget(100);
  EXPECT_TRUE(budget.WaitBelowLimit(milliseconds(0)));
  budget.Charge(60);
  budget.Charge(60);
  EXPECT_EQ(budget.used(), 120u);
  EXPECT_FALSE(budget.WaitBelowLimit(milliseconds(0)));
  budget.Release(20);
  EXPECT_FALSE(budget.WaitBelowLimit(milliseconds(0))) << "exactly at the limit is full";
  budget.Release(1);
  EXPECT_TRUE(budget.WaitBelowLimit(milliseconds(0)));
}

}  // namespace
}  // namespace sluice::delivery
