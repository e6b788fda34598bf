// SinkRunner against a fake KinesisClient (the seam): the fake decodes each
// PutRecords body and answers per record from a script, so these tests see
// exactly which messages were put, how often and in what order.
#include "delivery/sink_runner.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>

#include "sink_runner_fixture.h"
#include "support/fake_kinesis.h"

namespace sluice::delivery {
namespace {

using testing_support::FakeKinesis;
using testing_support::PutEntry;

using std::chrono::milliseconds;

class SinkRunnerTest : public runner_testing::SinkRunnerFixture {
 protected:
  SinkRunnerTest() {
    options_.max_in_flight = 3;
    options_.retry.initial = milliseconds(1);
    options_.retry.cap = milliseconds(4);
  }
};

using runner_testing::HalfJitter;

TEST_F(SinkRunnerTest, PartialFailureResendsOnlyTheFailedEntries) {
  FakeKinesis fake([](const PutEntry& e, int attempt) {
    return (e.commit_idx % 4 == 1 && attempt == 1) ? "ProvisionedThroughputExceededException" : "";
  });
  SinkRunner runner(options_, fake, acks_, budget_, SystemClock::Instance(), HalfJitter);
  ASSERT_TRUE(runner.Start().ok());
  std::vector<std::string> keys;
  for (int i = 0; i < 40; ++i) keys.push_back(std::to_string(i));
  EnqueueTransaction(runner, keys, 1000);
  ASSERT_TRUE(fake.WaitDelivered(40));
  runner.Stop();
  for (int i = 0; i < 40; ++i) {
    EXPECT_EQ(fake.delivered_count_[i], 1) << "message " << i << " put successfully once";
    EXPECT_EQ(fake.attempts_[i], i % 4 == 1 ? 2 : 1) << "message " << i;
  }
  EXPECT_EQ(acks_.Acknowledged(), Lsn(1001));
  EXPECT_EQ(budget_.used(), 0u);
  auto stats = runner.Stats();
  EXPECT_EQ(stats.delivered, 40u);
  EXPECT_EQ(stats.failed_attempts, 10u);
}

TEST_F(SinkRunnerTest, FailingMessageBlocksOnlyItsGroupAndOrderHolds) {
  // Key "a" gets 6 changes; its first fails three times. Key "b" flows.
  FakeKinesis fake([](const PutEntry& e, int attempt) {
    return (e.commit_idx == 0 && attempt <= 3) ? "InternalFailure" : "";
  });
  SinkRunner runner(options_, fake, acks_, budget_, SystemClock::Instance(), HalfJitter);
  ASSERT_TRUE(runner.Start().ok());
  uint64_t lsn = 100;
  for (int i = 0; i < 6; ++i) EnqueueTransaction(runner, {"a", "b"}, lsn += 10);
  ASSERT_TRUE(fake.WaitDelivered(12));
  runner.Stop();
  std::map<std::string, std::vector<int64_t>> order;
  for (const auto& e : fake.delivered_) order[e.partition_key].push_back(e.commit_idx);
  EXPECT_EQ(order["a"], (std::vector<int64_t>{0, 2, 4, 6, 8, 10}));
  EXPECT_EQ(order["b"], (std::vector<int64_t>{1, 3, 5, 7, 9, 11}));
  EXPECT_EQ(fake.attempts_[0], 4);
  EXPECT_EQ(acks_.Acknowledged(), Lsn(161));
}

TEST_F(SinkRunnerTest, RequestFailureRetriesTheWholeBatchWithoutLosingAny) {
  FakeKinesis fake([](const PutEntry&, int) { return std::string(); });
  fake.network_failures_left_ = 2;
  SinkRunner runner(options_, fake, acks_, budget_, SystemClock::Instance(), HalfJitter);
  ASSERT_TRUE(runner.Start().ok());
  EnqueueTransaction(runner, {"x", "y", "z"}, 500);
  ASSERT_TRUE(fake.WaitDelivered(3));
  runner.Stop();
  EXPECT_EQ(fake.delivered_.size(), 3u);
  EXPECT_EQ(acks_.Acknowledged(), Lsn(501));
}

TEST_F(SinkRunnerTest, OversizeRecordIsNeverSentAndFailsEachAttemptLocally) {
  options_.max_record_bytes = 64;  // every encoded message is larger
  FakeKinesis fake([](const PutEntry&, int) { return std::string(); });
  options_.retry.max_retry_count = 2;  // so the test ends: discarded after 3 attempts
  SinkRunner runner(options_, fake, acks_, budget_, SystemClock::Instance(), HalfJitter);
  ASSERT_TRUE(runner.Start().ok());
  EnqueueTransaction(runner, {"big"}, 700);
  // The discard after the third attempt is the only way this message leaves.
  ASSERT_TRUE(runner.WaitUntilEmpty(std::chrono::seconds(30)));
  runner.Stop();
  EXPECT_TRUE(fake.delivered_.empty());
  EXPECT_TRUE(fake.attempts_.empty()) << "an oversize record must never reach Kinesis";
  auto stats = runner.Stats();
  EXPECT_EQ(stats.oversize, 1u) << "counted once per message, not per attempt";
  EXPECT_EQ(stats.failed_attempts, 3u);
  EXPECT_EQ(stats.discarded, 1u);
}

}  // namespace
}  // namespace sluice::delivery
