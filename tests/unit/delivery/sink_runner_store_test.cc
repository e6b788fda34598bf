// SinkRunner with the local message store: spilling, per-group blocking
// across memory and store, read-back in pages, paused sinks, and the
// RecordMaker seam (filter, routing, function errors). A real MessageStore in
// a temp dir; Kinesis is the scripted FakeKinesis.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <atomic>
#include <functional>
#include <map>
#include <set>
#include <thread>

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

using runner_testing::Eventually;
using runner_testing::HalfJitter;
using runner_testing::OrderByKey;

class SinkRunnerStoreTest : public runner_testing::SinkRunnerStoreFixture {
 protected:
  SinkRunnerStoreTest() {
    options_.max_in_flight = 2;
    // Failed heads back off long enough to be seen backing off by the store
    // thread.
    options_.retry.initial = milliseconds(50);
    options_.retry.cap = milliseconds(200);
  }
};

TEST_F(SinkRunnerStoreTest, FailingGroupGoesToTheStoreSoTheSlotMovesOnThenDrainsInOrder) {
  std::atomic<bool> fail_a{true};
  FakeKinesis fake([&](const PutEntry& e, int) {
    return (e.partition_key == "a" && fail_a) ? "InternalFailure" : "";
  });
  SinkRunner runner(options_, fake, acks_, budget_, SystemClock::Instance(), HalfJitter);
  ASSERT_TRUE(runner.Start().ok());
  EnqueueTransaction(runner, {"a", "b"}, 100);  // idx 0, 1
  EnqueueTransaction(runner, {"a", "b"}, 110);  // idx 2, 3
  EnqueueTransaction(runner, {"a"}, 120);       // idx 4

  // "b" is delivered; "a" is stored: every transaction is resolved.
  ASSERT_TRUE(Eventually([&] { return acks_.Acknowledged() == Lsn(121); }))
      << "acknowledged " << acks_.Acknowledged().ToString();
  EXPECT_EQ(OrderByKey(fake.delivered_)["b"], (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(StoredCount(), 3u);
  EXPECT_TRUE(OrderByKey(fake.delivered_)["a"].empty());
  auto head = store_->GroupHead("test-sink", "16384/a");
  ASSERT_TRUE(head.ok() && head->has_value());
  EXPECT_GE((*head)->deliver_count, 1);
  EXPECT_NE((*head)->last_error.find("InternalFailure"), std::string::npos);

  fail_a = false;
  ASSERT_TRUE(runner.WaitUntilEmpty(std::chrono::seconds(30)));
  runner.Stop();
  EXPECT_EQ(OrderByKey(fake.delivered_)["a"], (std::vector<int64_t>{0, 2, 4}));
  EXPECT_EQ(StoredCount(), 0u);
  EXPECT_EQ(budget_.used(), 0u);
  EXPECT_GE(runner.Stats().stored, 3u);
}

TEST_F(SinkRunnerStoreTest, NewMessagesOfAStoredGroupQueueBehindItInTheStore) {
  std::atomic<bool> fail_a{true};
  FakeKinesis fake([&](const PutEntry& e, int) {
    return (e.partition_key == "a" && fail_a) ? "ProvisionedThroughputExceededException" : "";
  });
  SinkRunner runner(options_, fake, acks_, budget_, SystemClock::Instance(), HalfJitter);
  ASSERT_TRUE(runner.Start().ok());
  EnqueueTransaction(runner, {"a"}, 100);  // idx 0
  ASSERT_TRUE(Eventually([&] { return StoredCount() == 1; }));
  const int attempts_before = fake.attempts_[0];
  // These must not be tried before idx 0 succeeds: they go straight behind it.
  EnqueueTransaction(runner, {"a"}, 110);  // idx 1
  EnqueueTransaction(runner, {"a"}, 120);  // idx 2
  ASSERT_TRUE(Eventually([&] { return acks_.Acknowledged() == Lsn(121); }));
  EXPECT_EQ(StoredCount(), 3u);
  {
    std::lock_guard<std::mutex> lock(fake.mu_);
    EXPECT_EQ(fake.attempts_.count(1), 0u) << "a later message of the group was tried first";
    EXPECT_EQ(fake.attempts_.count(2), 0u);
  }
  fail_a = false;
  ASSERT_TRUE(runner.WaitUntilEmpty(std::chrono::seconds(30)));
  runner.Stop();
  EXPECT_EQ(OrderByKey(fake.delivered_)["a"], (std::vector<int64_t>{0, 1, 2}));
  EXPECT_GT(fake.attempts_[0], attempts_before)
      << "the head was tried again once its group could go on";
  EXPECT_EQ(fake.attempts_[1], 1);
  EXPECT_EQ(fake.attempts_[2], 1);
}

TEST_F(SinkRunnerStoreTest, StreamDownStoresEveryGroupAndTheBacklogDrainsInOrder) {
  FakeKinesis fake([](const PutEntry&, int) { return std::string(); });
  fake.SetDown(true);
  SinkRunner runner(options_, fake, acks_, budget_, SystemClock::Instance(), HalfJitter);
  ASSERT_TRUE(runner.Start().ok());
  const std::vector<std::string> keys = {"k1", "k2", "k3", "k4", "k5"};
  uint64_t lsn = 1000;
  for (int t = 0; t < 8; ++t) EnqueueTransaction(runner, keys, lsn += 10);
  ASSERT_TRUE(Eventually([&] { return acks_.Acknowledged() == Lsn(lsn + 1); }))
      << "acknowledged " << acks_.Acknowledged().ToString();
  EXPECT_EQ(StoredCount(), 40u);
  EXPECT_EQ(fake.DeliveredSize(), 0u);

  fake.SetDown(false);
  ASSERT_TRUE(runner.WaitUntilEmpty(std::chrono::seconds(30)));
  runner.Stop();
  auto order = OrderByKey(fake.delivered_);
  for (size_t k = 0; k < keys.size(); ++k) {
    std::vector<int64_t> want;
    for (int t = 0; t < 8; ++t) want.push_back(static_cast<int64_t>(t * keys.size() + k));
    EXPECT_EQ(order[keys[k]], want) << keys[k];
  }
  EXPECT_EQ(fake.delivered_.size(), 40u) << "each message put once";
}

TEST_F(SinkRunnerStoreTest, StoredMessagesFromAnEarlierRunComeBackInPagesAndInOrder) {
  // A previous run left 12 messages of group "old" and 6 single-message
  // groups in the store.
  {
    std::vector<StoredMessage> rows;
    auto txn = Txn(50);
    for (uint32_t i = 0; i < 18; ++i) {
      rows.push_back(AsStored(Make(i < 12 ? "old" : "s" + std::to_string(i), idx_++, txn)));
    }
    ASSERT_TRUE(store_->Put(rows).ok());
  }
  options_.max_loaded = 3;  // never more than 3 stored messages in memory
  FakeKinesis fake([](const PutEntry&, int) { return std::string(); });
  SinkRunner runner(options_, fake, acks_, budget_, SystemClock::Instance(), HalfJitter);
  // A new change of group "old" arrives before anything was delivered.
  EnqueueTransaction(runner, {"old", "new"}, 200);  // idx 18, 19
  ASSERT_TRUE(runner.Start().ok());
  ASSERT_TRUE(runner.WaitUntilEmpty(std::chrono::seconds(30)));
  runner.Stop();
  std::vector<int64_t> want_old;
  for (int64_t i = 0; i < 12; ++i) want_old.push_back(i);
  want_old.push_back(18);
  auto order = OrderByKey(fake.delivered_);
  EXPECT_EQ(order["old"], want_old);
  EXPECT_EQ(order["new"], (std::vector<int64_t>{19}));
  EXPECT_EQ(fake.delivered_.size(), 20u);
  EXPECT_EQ(StoredCount(), 0u);
  EXPECT_EQ(acks_.Acknowledged(), Lsn(201));
}

TEST_F(SinkRunnerStoreTest, PausedSinkStoresEverythingAndSendsNothing) {
  options_.deliver = false;
  FakeKinesis fake([](const PutEntry&, int) { return std::string(); });
  SinkRunner runner(options_, fake, acks_, budget_, SystemClock::Instance(), HalfJitter);
  ASSERT_TRUE(runner.Start().ok());
  EnqueueTransaction(runner, {"a", "b", "c"}, 300);
  EnqueueTransaction(runner, {"a"}, 310);
  ASSERT_TRUE(Eventually([&] { return acks_.Acknowledged() == Lsn(311); }));
  runner.Stop();
  EXPECT_EQ(StoredCount(), 4u);
  EXPECT_EQ(fake.requests_, 0);
  EXPECT_EQ(budget_.used(), 0u);
}

TEST_F(SinkRunnerStoreTest, MessagesBoundForTheStoreAreWrittenAtStop) {
  std::atomic<bool> fail{true};
  FakeKinesis fake([&](const PutEntry&, int) { return fail ? "InternalFailure" : ""; });
  options_.spill_after = std::chrono::hours(1);  // only the stored group's arrivals spill
  SinkRunner runner(options_, fake, acks_, budget_, SystemClock::Instance(), HalfJitter);
  // Group "a" has a stored message from an earlier run.
  {
    StoredMessage row = AsStored(Make("a", idx_++, Txn(10)));
    row.deliver_count = 3;
    row.not_before = SystemClock::Instance().WallNow() + std::chrono::hours(1);
    ASSERT_TRUE(store_->Put(std::vector<StoredMessage>{row}).ok());
  }
  acks_.AdvanceRead(Lsn(100));
  ASSERT_TRUE(runner.Start().ok());
  EnqueueTransaction(runner, {"a"}, 400);
  runner.Stop();
  EXPECT_EQ(StoredCount(), 2u);
  EXPECT_EQ(acks_.Acknowledged(), Lsn(401));
  EXPECT_EQ(fake.requests_, 0);
}

TEST_F(SinkRunnerStoreTest, GroupsWhoseHeadFailedAreWrittenAtStopWithTheirError) {
  options_.spill_after = std::chrono::hours(1);  // nothing would be written before stop
  FakeKinesis fake(
      [](const PutEntry& e, int) { return e.partition_key == "bad" ? "InternalFailure" : ""; });
  SinkRunner runner(options_, fake, acks_, budget_, SystemClock::Instance(), HalfJitter);
  ASSERT_TRUE(runner.Start().ok());
  EnqueueTransaction(runner, {"bad", "good"}, 600);  // idx 0, 1
  EnqueueTransaction(runner, {"bad"}, 610);          // idx 2
  ASSERT_TRUE(Eventually([&] { return runner.Stats().failed_attempts >= 1; }));
  ASSERT_TRUE(fake.WaitDelivered(1));
  runner.Stop();
  auto page = store_->LoadPage("test-sink", 0, 10);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->messages.size(), 2u);
  EXPECT_EQ(page->messages[0].change.commit_idx, 0u);
  EXPECT_GE(page->messages[0].deliver_count, 1);
  EXPECT_NE(page->messages[0].last_error.find("InternalFailure"), std::string::npos);
  EXPECT_EQ(page->messages[1].change.commit_idx, 2u);
  EXPECT_EQ(acks_.Acknowledged(), Lsn(611));
}

// A RecordMaker standing in for the functions: by commit_idx % 4,
// 0 is filtered out, 1 is routed to stream "other", 2 fails its first
// attempt with a function error, 3 goes to the sink's stream.
class ScriptedMaker final : public RecordMaker {
 public:
  explicit ScriptedMaker(std::atomic<int>* errors) : errors_(errors) {}
  Status Make(const model::Change& change, Record* record) override {
    record->filtered = false;
    record->stream.reset();
    record->data = "{\"metadata\":{\"commit_idx\":" + std::to_string(change.commit_idx) + "}}";
    switch (change.commit_idx % 4) {
      case 0: record->filtered = true; break;
      case 1: {
        std::string why;
        record->stream =
            config::StreamArn::Parse("arn:aws:kinesis:us-east-1:123456789012:stream/other", &why);
        break;
      }
      case 2:
        if (attempted_.insert(change.commit_idx).second) {
          ++*errors_;
          return Error(ErrorCode::kInvalidArgument,
                       "transform shape: line 3: attempt to index nil");
        }
        break;
    }
    return OkStatus();
  }

 private:
  std::atomic<int>* errors_;
  std::set<uint32_t> attempted_;
};

TEST_F(SinkRunnerStoreTest, RecordMakerFiltersRoutesPerStreamAndFailsOnFunctionErrors) {
  options_.store = nullptr;
  options_.max_in_flight = 1;  // one maker, so "first attempt" is per message
  std::atomic<int> errors{0};
  options_.make_record_maker = [&]() -> Result<std::unique_ptr<RecordMaker>> {
    return std::unique_ptr<RecordMaker>(std::make_unique<ScriptedMaker>(&errors));
  };
  FakeKinesis fake([](const PutEntry&, int) { return std::string(); });
  SinkRunner runner(options_, fake, acks_, budget_, SystemClock::Instance(), HalfJitter);
  ASSERT_TRUE(runner.Start().ok());
  std::vector<std::string> keys;
  for (int i = 0; i < 16; ++i) keys.push_back("k" + std::to_string(i));
  EnqueueTransaction(runner, keys, 500);
  ASSERT_TRUE(runner.WaitUntilEmpty(std::chrono::seconds(30)));
  runner.Stop();
  EXPECT_EQ(acks_.Acknowledged(), Lsn(501));
  std::map<int64_t, std::string> stream_of;
  for (const auto& e : fake.delivered_) {
    EXPECT_TRUE(stream_of.emplace(e.commit_idx, e.stream).second) << "put twice: " << e.commit_idx;
  }
  for (int64_t i = 0; i < 16; ++i) {
    if (i % 4 == 0) {
      EXPECT_EQ(stream_of.count(i), 0u) << "filtered message " << i << " was put";
    } else {
      EXPECT_EQ(stream_of[i], i % 4 == 1 ? "other" : "test") << "message " << i;
    }
  }
  auto stats = runner.Stats();
  EXPECT_EQ(stats.filtered, 4u);
  EXPECT_EQ(stats.delivered, 12u);
  EXPECT_EQ(errors.load(), 4);
  EXPECT_EQ(stats.failed_attempts, 4u);
}

// Routes by commit_idx parity: even to the sink's stream, odd to "other";
// fails every attempt of the commit_idx in `always_fail`.
class ParityMaker final : public RecordMaker {
 public:
  explicit ParityMaker(int64_t always_fail = -1) : always_fail_(always_fail) {}
  Status Make(const model::Change& change, Record* record) override {
    if (static_cast<int64_t>(change.commit_idx) == always_fail_) {
      return Error(ErrorCode::kInvalidArgument,
                   "function 'shape' (transform): shape:2: attempt to index a nil value");
    }
    record->filtered = false;
    record->stream.reset();
    record->data = "{\"metadata\":{\"commit_idx\":" + std::to_string(change.commit_idx) + "}}";
    if (change.commit_idx % 2 == 1) {
      std::string why;
      record->stream =
          config::StreamArn::Parse("arn:aws:kinesis:us-east-1:123456789012:stream/other", &why);
    }
    return OkStatus();
  }

 private:
  const int64_t always_fail_;
};

TEST_F(SinkRunnerStoreTest, OneGroupRoutedOverTwoStreamsIsPutInCommitOrder) {
  options_.store = nullptr;
  options_.make_record_maker = []() -> Result<std::unique_ptr<RecordMaker>> {
    return std::unique_ptr<RecordMaker>(std::make_unique<ParityMaker>());
  };
  // Every other put of the group fails once, so retries interleave with the
  // other stream's requests.
  FakeKinesis fake([](const PutEntry& e, int attempt) {
    return (e.commit_idx % 3 == 0 && attempt == 1) ? "InternalFailure" : "";
  });
  options_.retry.initial = milliseconds(1);
  options_.retry.cap = milliseconds(4);
  SinkRunner runner(options_, fake, acks_, budget_, SystemClock::Instance(), HalfJitter);
  ASSERT_TRUE(runner.Start().ok());
  uint64_t lsn = 700;
  for (int i = 0; i < 12; ++i) EnqueueTransaction(runner, {"a"}, lsn += 10);
  ASSERT_TRUE(runner.WaitUntilEmpty(std::chrono::seconds(30)));
  runner.Stop();
  std::vector<int64_t> order;
  std::vector<std::string> streams;
  for (const auto& e : fake.delivered_) {
    order.push_back(e.commit_idx);
    streams.push_back(e.stream);
  }
  std::vector<int64_t> want;
  for (int64_t i = 0; i < 12; ++i) want.push_back(i);
  EXPECT_EQ(order, want) << "one group's messages, across two streams, in commit order";
  for (size_t i = 0; i < streams.size(); ++i) {
    EXPECT_EQ(streams[i], i % 2 == 1 ? "other" : "test") << "message " << i;
  }
}

TEST_F(SinkRunnerStoreTest, AFunctionErrorIsKeptAsTheMessagesLastError) {
  options_.make_record_maker = []() -> Result<std::unique_ptr<RecordMaker>> {
    return std::unique_ptr<RecordMaker>(std::make_unique<ParityMaker>(/*always_fail=*/0));
  };
  FakeKinesis fake([](const PutEntry&, int) { return std::string(); });
  SinkRunner runner(options_, fake, acks_, budget_, SystemClock::Instance(), HalfJitter);
  ASSERT_TRUE(runner.Start().ok());
  EnqueueTransaction(runner, {"a", "b"}, 800);  // idx 0 fails in the function, idx 1 flows
  ASSERT_TRUE(Eventually([&] { return acks_.Acknowledged() == Lsn(801); }));
  runner.Stop();
  auto head = store_->GroupHead("test-sink", "16384/a");
  ASSERT_TRUE(head.ok() && head->has_value());
  EXPECT_GE((*head)->deliver_count, 1);
  EXPECT_EQ((*head)->last_error,
            "function 'shape' (transform): shape:2: attempt to index a nil value");
  EXPECT_EQ(OrderByKey(fake.delivered_)["b"], (std::vector<int64_t>{1}));
  EXPECT_TRUE(OrderByKey(fake.delivered_)["a"].empty());
}

}  // namespace
}  // namespace sluice::delivery
