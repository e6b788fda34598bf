// SinkRunner edge cases found in review: replays across a restart with the
// local store, max_retry_count against request-level failures and against a
// stored head, memory accounting across spill/load/discard. A real
// MessageStore in a temp dir; Kinesis is FakeKinesis.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "delivery/message_store.h"
#include "delivery/sink_runner.h"
#include "sink_runner_fixture.h"
#include "support/fake_kinesis.h"
#include "support/temp_dir.h"

namespace sluice::delivery {
namespace {

using std::chrono::milliseconds;
using testing_support::FakeKinesis;
using testing_support::PutEntry;

using runner_testing::HalfJitter;
using runner_testing::OrderByKey;

class SinkRunnerReviewTest : public runner_testing::SinkRunnerStoreFixture {
 protected:
  SinkRunnerReviewTest() {
    options_.max_in_flight = 2;
    options_.retry.initial = milliseconds(20);
    options_.retry.cap = milliseconds(80);
    options_.sink_backoff_cap = milliseconds(80);
  }
};

// An earlier run stored key "a"'s change (lsn 110, idx 1) after delivering
// its previous change (lsn 100, idx 0) straight from memory, then was killed
// before the slot's status update: Postgres replays both. The replayed idx 0
// must not be put after idx 1 (its stored successor).
TEST_F(SinkRunnerReviewTest, ReplayedChangeIsNeverPutAfterALaterStoredChangeOfItsGroup) {
  StoreEarlier("a", 110, 1);
  FakeKinesis fake([](const PutEntry&, int) { return std::string(); });
  SinkRunner runner(options_, fake, acks_, budget_, SystemClock::Instance(), HalfJitter);
  EnqueueOne(runner, "a", 100, 0);  // the replay, in commit order
  EnqueueOne(runner, "a", 110, 1);
  ASSERT_TRUE(runner.Start().ok());
  ASSERT_TRUE(runner.WaitUntilEmpty(std::chrono::seconds(30)));
  runner.Stop();
  const auto order = OrderByKey(fake.delivered_)["a"];
  EXPECT_TRUE(std::is_sorted(order.begin(), order.end()))
      << "key a was put in the order " << testing::PrintToString(order);
  EXPECT_EQ(acks_.Acknowledged(), Lsn(111));
}

// Request-level failures (network, 5xx) are a sink's problem, not the
// message's: they must not use up a message's max_retry_count and discard it.
TEST_F(SinkRunnerReviewTest, RequestLevelFailuresDoNotDiscardAMessageUnderMaxRetryCount) {
  options_.store = nullptr;
  options_.retry.max_retry_count = 1;
  FakeKinesis fake([](const PutEntry&, int) { return std::string(); });
  fake.network_failures_left_ = 3;  // a short network blip
  SinkRunner runner(options_, fake, acks_, budget_, SystemClock::Instance(), HalfJitter);
  ASSERT_TRUE(runner.Start().ok());
  EnqueueOne(runner, "a", 100, 0);
  ASSERT_TRUE(runner.WaitUntilEmpty(std::chrono::seconds(30)));
  runner.Stop();
  EXPECT_EQ(runner.Stats().discarded, 0u);
  EXPECT_EQ(fake.delivered_.size(), 1u) << "the message was dropped after a network blip";
}

// A stored head that exhausts max_retry_count is discarded and removed from
// the store; the rest of its group follows in order, each put once; memory
// and store are balanced.
TEST_F(SinkRunnerReviewTest, StoredHeadExhaustingRetriesIsDroppedAndItsGroupFollowsInOrder) {
  options_.retry.max_retry_count = 1;
  StoreEarlier("a", 100, 0);
  StoreEarlier("a", 110, 1);
  StoreEarlier("a", 120, 2);
  StoreEarlier("b", 130, 3);
  acks_.AdvanceRead(Lsn(1000));  // the slot's position: the earlier run read past them
  FakeKinesis fake(
      [](const PutEntry& e, int) { return e.commit_idx == 0 ? "InternalFailure" : ""; });
  SinkRunner runner(options_, fake, acks_, budget_, SystemClock::Instance(), HalfJitter);
  ASSERT_TRUE(runner.Start().ok());
  ASSERT_TRUE(runner.WaitUntilEmpty(std::chrono::seconds(30)));
  runner.Stop();
  EXPECT_EQ(fake.attempts_[0], 2);
  EXPECT_EQ(OrderByKey(fake.delivered_)["a"], (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(fake.attempts_[1], 1);
  EXPECT_EQ(fake.attempts_[2], 1);
  EXPECT_EQ(runner.Stats().discarded, 1u);
  EXPECT_EQ(StoredCount(), 0u);
  EXPECT_EQ(budget_.used(), 0u);
}

// Slot messages of a group spilled while backing off, then a restart-free
// drain: every message is charged and released exactly once (budget back to
// zero) whether it was delivered from memory, written, loaded or discarded.
TEST_F(SinkRunnerReviewTest, MemoryBudgetReturnsToZeroAcrossSpillLoadAndDiscard) {
  options_.retry.max_retry_count = 3;
  std::atomic<bool> fail{true};
  FakeKinesis fake([&](const PutEntry& e, int) {
    if (e.commit_idx == 5) return std::string("InternalFailure");  // always: discarded
    return (e.partition_key == "a" && fail) ? std::string("InternalFailure") : std::string();
  });
  SinkRunner runner(options_, fake, acks_, budget_, SystemClock::Instance(), HalfJitter);
  ASSERT_TRUE(runner.Start().ok());
  for (uint32_t i = 0; i < 5; ++i) EnqueueOne(runner, i % 2 ? "b" : "a", 100 + 10 * i, i);
  EnqueueOne(runner, "c", 200, 5);
  EnqueueOne(runner, "c", 210, 6);
  // "a" keeps failing until it was stored; then it recovers.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (runner.Stats().stored == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(milliseconds(2));
  fail = false;
  ASSERT_TRUE(runner.WaitUntilEmpty(std::chrono::seconds(30)));
  runner.Stop();
  auto order = OrderByKey(fake.delivered_);
  EXPECT_EQ(order["a"], (std::vector<int64_t>{0, 2, 4}));
  EXPECT_EQ(order["b"], (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(order["c"], (std::vector<int64_t>{6}));
  EXPECT_EQ(budget_.used(), 0u);
  EXPECT_EQ(StoredCount(), 0u);
  EXPECT_EQ(acks_.Acknowledged(), Lsn(211));
}

}  // namespace
}  // namespace sluice::delivery
