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

#include "base/encoding.h"

namespace sluice::delivery {
namespace {

using std::chrono::milliseconds;

struct PutEntry {
  std::string partition_key;
  int64_t commit_idx;  // identifies the message in these tests
};

// Decides the outcome of one record: empty = success, else an error code.
using Script = std::function<std::string(const PutEntry& entry, int attempt)>;

class FakeKinesis final : public kinesis::KinesisClient {
 public:
  explicit FakeKinesis(Script script) : script_(std::move(script)) {}

  Result<kinesis::StreamSummary> DescribeStream(const config::StreamArn&) override {
    kinesis::StreamSummary s;
    s.status = "ACTIVE";
    s.max_record_bytes = 1024 * 1024;
    return s;
  }

  kinesis::PutRecordsResult PutRecords(const config::StreamArn&, const std::string& body,
                                       size_t count) override {
    rapidjson::Document doc;
    doc.Parse(body.c_str());
    EXPECT_FALSE(doc.HasParseError());
    const auto& records = doc["Records"];
    EXPECT_EQ(records.Size(), count);
    kinesis::PutRecordsResult result;
    std::lock_guard<std::mutex> lock(mu_);
    if (network_failures_left_ > 0) {
      --network_failures_left_;
      result.failure = kinesis::RequestFailure::kNetwork;
      result.error_message = "connection reset";
      return result;
    }
    for (const auto& r : records.GetArray()) {
      auto data = Base64Decode(r["Data"].GetString());
      rapidjson::Document msg;
      msg.Parse(data->c_str());
      PutEntry entry{r["PartitionKey"].GetString(), msg["metadata"]["commit_idx"].GetInt64()};
      int attempt = ++attempts_[entry.commit_idx];
      std::string error = script_(entry, attempt);
      kinesis::RecordOutcome outcome;
      outcome.ok = error.empty();
      if (outcome.ok) {
        delivered_.push_back(entry);
        ++delivered_count_[entry.commit_idx];
      } else {
        outcome.error_code = error;
        outcome.error_message = "scripted failure";
      }
      result.records.push_back(outcome);
    }
    cv_.notify_all();
    return result;
  }

  // Waits (bounded, as a guard against hangs) until `n` records succeeded.
  bool WaitDelivered(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(30), [&] { return delivered_.size() >= n; });
  }

  std::mutex mu_;
  std::condition_variable cv_;
  Script script_;
  int network_failures_left_ = 0;
  std::vector<PutEntry> delivered_;
  std::map<int64_t, int> attempts_;
  std::map<int64_t, int> delivered_count_;
};

class SinkRunnerTest : public ::testing::Test {
 protected:
  SinkRunnerTest() {
    auto rel = std::make_shared<model::Relation>();
    rel->oid = 16384;
    rel->schema = "public";
    rel->name = "items";
    rel->columns = {{"id", 23, -1, true}, {"v", 25, -1, false}};
    rel->primary_key = {0};
    relation_ = rel;
    std::string why;
    options_.sink_name = "test-sink";
    options_.stream = *config::StreamArn::Parse(
        "arn:aws:kinesis:us-east-1:123456789012:stream/test", &why);
    options_.batch_size = 10;
    options_.max_in_flight = 3;
    options_.retry.initial = milliseconds(1);
    options_.retry.cap = milliseconds(4);
    options_.encode.database_name = "app";
    options_.encode.consumer_name = "test-sink";
  }

  // One transaction holding `keys.size()` inserts; commit_idx i for keys[i].
  void EnqueueTransaction(SinkRunner& runner, const std::vector<std::string>& keys,
                          uint64_t lsn) {
    auto txn = std::make_shared<model::TransactionInfo>();
    txn->commit_lsn = Lsn(lsn);
    auto ticket = acks_.Begin(txn->commit_lsn);
    acks_.AddPending(ticket, static_cast<int64_t>(keys.size()));
    for (size_t i = 0; i < keys.size(); ++i) {
      auto m = std::make_unique<Message>();
      m->id = ++next_id_;
      m->change.action = model::Action::kInsert;
      m->change.relation = relation_;
      m->change.txn = txn;
      m->change.commit_idx = static_cast<uint32_t>(commit_idx_base_ + i);
      m->change.new_tuple.AddText(keys[i]);
      m->change.new_tuple.AddText("value");
      m->group = "16384/" + keys[i];
      m->partition_key = keys[i];
      m->ticket = ticket;
      m->memory_bytes = 100;
      runner.Enqueue(std::move(m));
    }
    commit_idx_base_ += keys.size();
    acks_.Commit(ticket, Lsn(lsn + 1));
  }

  std::shared_ptr<const model::Relation> relation_;
  SinkRunnerOptions options_;
  AckTracker acks_;
  MemoryBudget budget_{1 << 20};
  uint64_t next_id_ = 0;
  uint32_t commit_idx_base_ = 0;
};

double HalfJitter() { return 0.5; }

TEST_F(SinkRunnerTest, PartialFailureResendsOnlyTheFailedEntries) {
  FakeKinesis fake([](const PutEntry& e, int attempt) {
    return (e.commit_idx % 4 == 1 && attempt == 1) ? "ProvisionedThroughputExceededException"
                                                   : "";
  });
  SinkRunner runner(options_, fake, acks_, budget_, SystemClock::Instance(), HalfJitter);
  runner.Start();
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
  runner.Start();
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
  runner.Start();
  EnqueueTransaction(runner, {"x", "y", "z"}, 500);
  ASSERT_TRUE(fake.WaitDelivered(3));
  runner.Stop();
  EXPECT_EQ(fake.delivered_.size(), 3u);
  EXPECT_EQ(acks_.Acknowledged(), Lsn(501));
}

TEST_F(SinkRunnerTest, OversizeRecordIsNeverSentAndHoldsTheSlot) {
  options_.max_record_bytes = 64;  // every encoded message is larger
  FakeKinesis fake([](const PutEntry&, int) { return std::string(); });
  options_.retry.max_retry_count = 2;  // so the test ends: discarded after 3 attempts
  SinkRunner runner(options_, fake, acks_, budget_, SystemClock::Instance(), HalfJitter);
  runner.Start();
  EnqueueTransaction(runner, {"big"}, 700);
  // The discard after the third attempt is the only way this message leaves.
  ASSERT_TRUE(runner.WaitUntilEmpty(std::chrono::seconds(30)));
  runner.Stop();
  EXPECT_TRUE(fake.delivered_.empty());
  EXPECT_TRUE(fake.attempts_.empty()) << "an oversize record must never reach Kinesis";
  auto stats = runner.Stats();
  EXPECT_EQ(stats.oversize, 3u);
  EXPECT_EQ(stats.discarded, 1u);
}

}  // namespace
}  // namespace sluice::delivery
