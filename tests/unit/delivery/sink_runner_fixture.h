// Shared setup of the SinkRunner tests: a two-column table `items`, a sink
// options skeleton, the AckTracker and memory budget, messages made as the
// Router would make them, and (SinkRunnerStoreFixture) a real MessageStore in
// a temp dir. Kinesis is the scripted FakeKinesis in each test.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "delivery/message_store.h"
#include "delivery/sink_runner.h"
#include "support/fake_kinesis.h"
#include "support/temp_dir.h"

namespace sluice::delivery::runner_testing {

inline double HalfJitter() { return 0.5; }

// Polls `done` until it holds or 30 s pass (a guard against hangs, not a
// timing assertion).
inline bool Eventually(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

// commit_idx of the put entries, per partition key, in put order.
inline std::map<std::string, std::vector<int64_t>> OrderByKey(
    const std::vector<testing_support::PutEntry>& entries) {
  std::map<std::string, std::vector<int64_t>> order;
  for (const auto& e : entries) order[e.partition_key].push_back(e.commit_idx);
  return order;
}

class SinkRunnerFixture : public ::testing::Test {
 protected:
  SinkRunnerFixture() {
    auto rel = std::make_shared<model::Relation>();
    rel->oid = 16384;
    rel->schema = "public";
    rel->name = "items";
    rel->columns = {{"id", 23, -1, true}, {"v", 25, -1, false}};
    rel->primary_key = {0};
    relation_ = rel;
    std::string why;
    options_.sink_name = "test-sink";
    options_.stream =
        *config::StreamArn::Parse("arn:aws:kinesis:us-east-1:123456789012:stream/test", &why);
    options_.batch_size = 10;
    options_.encode.database_name = "app";
    options_.encode.consumer_name = "test-sink";
  }

  static std::shared_ptr<model::TransactionInfo> Txn(uint64_t lsn) {
    auto txn = std::make_shared<model::TransactionInfo>();
    txn->commit_lsn = Lsn(lsn);
    return txn;
  }

  // An insert of row `key` with commit_idx `idx`, grouped and keyed by `key`,
  // charged 100 bytes; no ticket.
  std::unique_ptr<Message> Make(const std::string& key, uint32_t idx,
                                const std::shared_ptr<model::TransactionInfo>& txn) {
    auto m = std::make_unique<Message>();
    m->id = ++next_id_;
    m->change.action = model::Action::kInsert;
    m->change.relation = relation_;
    m->change.txn = txn;
    m->change.commit_idx = idx;
    m->change.new_tuple.AddText(key);
    m->change.new_tuple.AddText("value");
    m->group = "16384/" + key;
    m->partition_key = key;
    m->memory_bytes = 100;
    return m;
  }

  // One transaction holding one insert per key, committed at lsn (end lsn + 1);
  // commit_idx counts on across transactions so it identifies each message.
  void EnqueueTransaction(SinkRunner& runner, const std::vector<std::string>& keys, uint64_t lsn) {
    auto txn = Txn(lsn);
    auto ticket = acks_.Begin(txn->commit_lsn);
    acks_.AddPending(ticket, static_cast<int64_t>(keys.size()));
    for (const auto& key : keys) {
      auto m = Make(key, idx_++, txn);
      m->ticket = ticket;
      runner.Enqueue(std::move(m));
    }
    acks_.Commit(ticket, Lsn(lsn + 1));
  }

  // A one-change transaction with a chosen commit_idx (replays, restarts).
  void EnqueueOne(SinkRunner& runner, const std::string& key, uint64_t lsn, uint32_t idx) {
    auto m = Make(key, idx, Txn(lsn));
    auto ticket = acks_.Begin(Lsn(lsn));
    acks_.AddPending(ticket, 1);
    m->ticket = ticket;
    runner.Enqueue(std::move(m));
    acks_.Commit(ticket, Lsn(lsn + 1));
  }

  std::shared_ptr<const model::Relation> relation_;
  SinkRunnerOptions options_;
  AckTracker acks_;
  MemoryBudget budget_{1 << 20};
  uint64_t next_id_ = 0;
  uint32_t idx_ = 0;
};

class SinkRunnerStoreFixture : public SinkRunnerFixture {
 protected:
  SinkRunnerStoreFixture() {
    auto store = MessageStore::Open({dir_.path(), StoreSync::kNormal, StoreIntegrityCheck::kNone});
    EXPECT_TRUE(store.ok()) << store.error().message();
    store_ = std::move(store).value();
    options_.store = store_.get();
    // The store thread runs often and spills groups idle for a few ms.
    options_.spill_after = std::chrono::milliseconds(10);
    options_.store_tick = std::chrono::milliseconds(5);
  }

  // A message as an earlier run left it in the store.
  StoredMessage AsStored(std::unique_ptr<Message> m) {
    StoredMessage row;
    row.id = m->id;
    row.sink = options_.sink_name;
    row.group_key = m->group;
    row.partition_key = m->partition_key;
    row.change = std::move(m->change);
    return row;
  }
  void StoreEarlier(const std::string& key, uint64_t lsn, uint32_t idx) {
    ASSERT_TRUE(store_->Put(std::vector<StoredMessage>{AsStored(Make(key, idx, Txn(lsn)))}).ok());
  }

  uint64_t StoredCount() {
    auto page = store_->LoadPage(options_.sink_name, 0, 1000);
    EXPECT_TRUE(page.ok());
    return page.ok() ? page->messages.size() : 0;
  }

  testing_support::TempDir dir_;
  std::unique_ptr<MessageStore> store_;
};

}  // namespace sluice::delivery::runner_testing
