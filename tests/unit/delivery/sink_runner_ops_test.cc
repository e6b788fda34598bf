// SinkRunner operator methods (the API, docs/api.md): held messages by state
// across memory and the local store, the ring of delivered messages,
// redeliver, discard, pause/resume, backlog, condition and metrics.
//
// Deterministic without sleeping: a FakeClock drives backoff and spilling
// (retries are an hour away, so nothing is retried unless an operator asks),
// a gate in the FakeKinesis holds a request in flight, and the tests wait for
// conditions (Eventually, FakeKinesis::WaitDelivered), never for time.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "delivery/message_store.h"
#include "delivery/sink_runner.h"
#include "sink_runner_fixture.h"
#include "support/fake_clock.h"
#include "support/fake_kinesis.h"

namespace sluice::delivery {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using testing_support::FakeClock;
using testing_support::FakeKinesis;
using testing_support::PutEntry;

using runner_testing::Eventually;
using runner_testing::HalfJitter;

constexpr const char* kShard = "shardId-000000000007";

// Holds every PutRecords request while closed (FakeKinesis::before_put_).
class PutGate {
 public:
  std::function<void()> Hook() {
    return [this] {
      std::unique_lock<std::mutex> lock(mu_);
      ++waiting_;
      cv_.notify_all();
      cv_.wait(lock, [&] { return open_; });
      --waiting_;
    };
  }
  void Close() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = false;
  }
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  // Waits (bounded, a guard against hangs) until `n` requests are held.
  bool WaitHeld(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(30), [&] { return waiting_ >= n; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = true;
  int waiting_ = 0;
};

// Answers like FakeKinesis and gives each put record a shard and a sequence
// number: the n-th record put (FakeKinesis::delivered_[n - 1]) gets "n".
class NumberingKinesis final : public kinesis::KinesisClient {
 public:
  explicit NumberingKinesis(FakeKinesis& inner) : inner_(inner) {}
  Result<kinesis::StreamSummary> DescribeStream(const config::StreamArn& stream) override {
    return inner_.DescribeStream(stream);
  }
  kinesis::PutRecordsResult PutRecords(const config::StreamArn& stream, const std::string& body,
                                       size_t count) override {
    auto result = inner_.PutRecords(stream, body, count);
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& r : result.records) {
      if (!r.ok) continue;
      r.shard_id = kShard;
      r.sequence_number = std::to_string(++sequence_);
    }
    return result;
  }

 private:
  FakeKinesis& inner_;
  std::mutex mu_;
  uint64_t sequence_ = 0;
};

std::vector<uint64_t> IdsOf(const std::vector<HeldMessage>& messages) {
  std::vector<uint64_t> ids;
  for (const auto& m : messages) ids.push_back(m.id);
  return ids;
}

std::vector<uint64_t> Range(uint64_t first, uint64_t last) {
  std::vector<uint64_t> ids;
  for (uint64_t id = first; id <= last; ++id) ids.push_back(id);
  return ids;
}

class SinkRunnerOpsTest : public runner_testing::SinkRunnerStoreFixture {
 protected:
  enum class Outcome { kSucceeds, kFails };

  SinkRunnerOpsTest() {
    // The fake steady clock starts at the real one, so the deadlines the
    // runner's threads wait for (an hour or more away) lie in the future:
    // they sleep until woken instead of spinning.
    clock_.Advance(std::chrono::steady_clock::now().time_since_epoch());
    options_.max_in_flight = 1;
    options_.retry.initial = hours(1);
    options_.retry.cap = hours(2);
    options_.sink_backoff_cap = hours(2);
    options_.spill_after = minutes(1);
  }
  ~SinkRunnerOpsTest() override {
    gate_.Open();
    if (runner_) runner_->Stop();
  }

  // Builds the runner (not started) over a FakeKinesis that fails the
  // messages enqueued with Outcome::kFails (with fail_code_).
  SinkRunner& MakeRunner() {
    fake_ = std::make_unique<FakeKinesis>([this](const PutEntry& e, int) {
      std::lock_guard<std::mutex> lock(failing_mu_);
      return failing_.contains(e.commit_idx) ? fail_code_ : std::string();
    });
    fake_->before_put_ = gate_.Hook();
    kinesis_ = std::make_unique<NumberingKinesis>(*fake_);
    runner_ = std::make_unique<SinkRunner>(options_, *kinesis_, acks_, budget_, clock_, HalfJitter);
    return *runner_;
  }
  Result<ActionCount> DiscardWhileMessage1IsInFlight(Selection selection);
  SinkRunner& StartRunner() {
    MakeRunner();
    EXPECT_TRUE(runner_->Start().ok());
    return *runner_;
  }

  // Enqueues a one-change transaction of row `key` (group and partition key
  // `key`), committed 2 s before the fake wall clock's now; returns its id.
  // Its commit_idx is id - 1.
  uint64_t Enqueue(const std::string& key, Outcome outcome = Outcome::kSucceeds) {
    lsn_ += 10;
    auto txn = Txn(lsn_);
    txn->commit_time_us = WallMicros() - 2'000'000;
    const uint32_t idx = idx_++;
    if (outcome == Outcome::kFails) {
      std::lock_guard<std::mutex> lock(failing_mu_);
      failing_.insert(idx);
    }
    auto m = Make(key, idx, txn);
    const uint64_t id = m->id;
    commit_time_us_[id] = txn->commit_time_us;
    auto ticket = acks_.Begin(txn->commit_lsn);
    acks_.AddPending(ticket, 1);
    m->ticket = ticket;
    runner_->Enqueue(std::move(m));
    acks_.Commit(ticket, Lsn(lsn_ + 1));
    return id;
  }
  // The slot position once every enqueued transaction is resolved.
  Lsn AllResolved() const { return Lsn(lsn_ + 1); }

  int64_t WallMicros() const {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               clock_.WallNow().time_since_epoch())
        .count();
  }

  // Past spill_after: the store thread writes groups that made no progress.
  void LetGroupsGoStale() { clock_.Advance(minutes(2)); }

  HeldPage List(std::optional<HeldState> state = std::nullopt, uint64_t after_id = 0,
                size_t limit = 100) {
    auto page = runner_->ListHeld(state, after_id, limit);
    EXPECT_TRUE(page.ok()) << page.error().message();
    return page.ok() ? *page : HeldPage{};
  }
  std::vector<uint64_t> ListIds(std::optional<HeldState> state = std::nullopt) {
    return IdsOf(List(state).messages);
  }
  // Every held id, page by page of `limit`, checking each page's size and
  // `more`.
  std::vector<uint64_t> AllPages(size_t limit, std::optional<HeldState> state = std::nullopt) {
    std::vector<uint64_t> ids;
    uint64_t after = 0;
    for (int pages = 0; pages < 1000; ++pages) {
      HeldPage page = List(state, after, limit);
      EXPECT_LE(page.messages.size(), limit);
      for (const auto& m : page.messages) ids.push_back(m.id);
      if (!page.more) break;
      EXPECT_EQ(page.messages.size(), limit) << "a page that is not the last is full";
      if (page.messages.empty()) break;
      after = page.messages.back().id;
    }
    return ids;
  }
  HeldMessage Get(uint64_t id) {
    auto held = runner_->GetHeld(id);
    EXPECT_TRUE(held.ok()) << held.error().message();
    if (!held.ok() || !held->has_value()) {
      ADD_FAILURE() << "message " << id << " is not held";
      return HeldMessage{};
    }
    return **held;
  }
  SinkBacklog Backlog() {
    auto backlog = runner_->Backlog();
    EXPECT_TRUE(backlog.ok()) << backlog.error().message();
    return backlog.ok() ? *backlog : SinkBacklog{};
  }

  // Waits until the runner holds nothing. After a pass over the store that
  // loaded nothing, the store thread rests a second of (fake) time before
  // it looks again, so the clock moves on a second between waits.
  bool Drained() {
    for (int i = 0; i < 1500; ++i) {
      if (runner_->WaitUntilEmpty(std::chrono::milliseconds(20))) return true;
      clock_.Advance(std::chrono::seconds(1));
    }
    return false;
  }
  int Attempts(int64_t commit_idx) {
    std::lock_guard<std::mutex> lock(fake_->mu_);
    auto it = fake_->attempts_.find(commit_idx);
    return it == fake_->attempts_.end() ? 0 : it->second;
  }
  int Requests() {
    std::lock_guard<std::mutex> lock(fake_->mu_);
    return fake_->requests_;
  }

  bool WaitStored(uint64_t n) {
    return Eventually([&] { return StoredCount() == n; });
  }
  bool WaitBackingOff(size_t n) {
    return Eventually([&] { return runner_->Stats().backing_off == n; });
  }

  // One held message in each state (ids in enqueue order):
  //   failed        "f", failed then written to the store
  //   backing_off   "b", failed, in memory
  //   in_flight     "x", its request held by the gate
  //   behind        "b" again, pending behind the backing-off head
  //   stored        "f" again, pending in the store behind the failed head
  //   pending       "p", pending in memory (the only sender is busy)
  struct OneOfEach {
    uint64_t failed, backing_off, in_flight, behind, stored, pending;
  };
  OneOfEach HoldOneOfEachState() {
    OneOfEach ids{};
    StartRunner();
    ids.failed = Enqueue("f", Outcome::kFails);
    EXPECT_TRUE(WaitBackingOff(1));
    LetGroupsGoStale();
    EXPECT_TRUE(WaitStored(1));
    ids.backing_off = Enqueue("b", Outcome::kFails);
    EXPECT_TRUE(WaitBackingOff(1));
    gate_.Close();
    ids.in_flight = Enqueue("x");
    EXPECT_TRUE(gate_.WaitHeld(1));
    ids.behind = Enqueue("b");
    ids.stored = Enqueue("f");  // its group is in the store: it goes there too
    EXPECT_TRUE(WaitStored(2));
    ids.pending = Enqueue("p");
    return ids;
  }

  FakeClock clock_;
  PutGate gate_;
  std::mutex failing_mu_;
  std::set<int64_t> failing_;  // GUARDED_BY(failing_mu_): commit_idx that fail
  std::string fail_code_ = "InternalFailure";
  std::map<uint64_t, int64_t> commit_time_us_;
  uint64_t lsn_ = 1000;
  std::unique_ptr<FakeKinesis> fake_;
  std::unique_ptr<NumberingKinesis> kinesis_;
  std::unique_ptr<SinkRunner> runner_;  // last: goes first
};

// ---- listing held messages --------------------------------------------------

TEST_F(SinkRunnerOpsTest, ListHeldShowsEachMessageInExactlyOneState) {
  const OneOfEach ids = HoldOneOfEachState();
  HeldPage all = List();
  ASSERT_EQ(IdsOf(all.messages), Range(1, 6));
  EXPECT_FALSE(all.more);
  const std::vector<HeldState> want = {HeldState::kFailed,   HeldState::kBackingOff,
                                       HeldState::kInFlight, HeldState::kPending,
                                       HeldState::kPending,  HeldState::kPending};
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(all.messages[i].state, want[i]) << "message " << all.messages[i].id;
  }
  EXPECT_EQ(ListIds(HeldState::kFailed), (std::vector<uint64_t>{ids.failed}));
  EXPECT_EQ(ListIds(HeldState::kBackingOff), (std::vector<uint64_t>{ids.backing_off}));
  EXPECT_EQ(ListIds(HeldState::kInFlight), (std::vector<uint64_t>{ids.in_flight}));
  EXPECT_EQ(ListIds(HeldState::kPending),
            (std::vector<uint64_t>{ids.behind, ids.stored, ids.pending}));

  // What a listing says of each message.
  const HeldMessage& failed = all.messages[0];
  EXPECT_EQ(failed.table, "public.items");
  EXPECT_EQ(failed.partition_key, "f");
  EXPECT_EQ(failed.deliver_count, 1);
  EXPECT_NE(failed.last_error.find("InternalFailure"), std::string::npos) << failed.last_error;
  ASSERT_TRUE(failed.next_attempt_at.has_value());
  EXPECT_GT(*failed.next_attempt_at, clock_.WallNow()) << "retried on schedule, an hour out";
  EXPECT_EQ(failed.commit_time_us, commit_time_us_[ids.failed]);
  const HeldMessage& backing_off = all.messages[1];
  EXPECT_EQ(backing_off.deliver_count, 1);
  ASSERT_TRUE(backing_off.next_attempt_at.has_value());
  EXPECT_GT(*backing_off.next_attempt_at, clock_.WallNow());
  EXPECT_FALSE(all.messages[3].next_attempt_at.has_value()) << "pending: no next attempt";
  EXPECT_EQ(all.messages[3].deliver_count, 0);
}

TEST_F(SinkRunnerOpsTest, GetHeldReturnsTheMessageWithItsChangeWhereverItIs) {
  const OneOfEach ids = HoldOneOfEachState();
  for (uint64_t id : {ids.failed, ids.backing_off, ids.in_flight, ids.stored, ids.pending}) {
    HeldMessage held = Get(id);
    EXPECT_EQ(held.id, id);
    ASSERT_TRUE(held.change.has_value()) << "message " << id;
    EXPECT_EQ(held.change->commit_idx, id - 1) << "the change of message " << id;
    ASSERT_NE(held.change->relation, nullptr);
    EXPECT_EQ(held.change->relation->name, "items");
  }
  EXPECT_EQ(Get(ids.failed).state, HeldState::kFailed);
  EXPECT_EQ(Get(ids.backing_off).state, HeldState::kBackingOff);
  EXPECT_EQ(Get(ids.in_flight).state, HeldState::kInFlight);
  EXPECT_EQ(Get(ids.stored).state, HeldState::kPending);
  auto none = runner_->GetHeld(999);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
}

TEST_F(SinkRunnerOpsTest, ListHeldPagesAcrossMemoryAndStoreWithoutDuplicatesOrGaps) {
  StartRunner();
  runner_->SetPaused(true);
  for (const char* key : {"a", "b", "c", "d"}) Enqueue(key);  // 1-4
  LetGroupsGoStale();
  ASSERT_TRUE(WaitStored(4));
  // Ids alternate between memory (new groups) and the store (stored groups).
  Enqueue("e");  // 5, memory
  Enqueue("a");  // 6, store
  Enqueue("f");  // 7, memory
  Enqueue("b");  // 8, store
  Enqueue("g");  // 9, memory
  ASSERT_TRUE(WaitStored(6));
  ASSERT_EQ(runner_->Stats().pending, 3u) << "5, 7 and 9 stay in memory";

  for (size_t limit : {1, 2, 3, 4, 8, 9, 50}) {
    EXPECT_EQ(AllPages(limit), Range(1, 9)) << "limit " << limit;
    EXPECT_EQ(AllPages(limit, HeldState::kPending), Range(1, 9)) << "limit " << limit;
  }
  HeldPage first = List(std::nullopt, 0, 4);
  EXPECT_EQ(IdsOf(first.messages), Range(1, 4));
  EXPECT_TRUE(first.more);
  HeldPage last = List(std::nullopt, 8, 4);
  EXPECT_EQ(IdsOf(last.messages), (std::vector<uint64_t>{9}));
  EXPECT_FALSE(last.more);
  HeldPage past = List(std::nullopt, 9, 4);
  EXPECT_TRUE(past.messages.empty());
  EXPECT_FALSE(past.more);
  HeldPage failed = List(HeldState::kFailed, 0, 4);
  EXPECT_TRUE(failed.messages.empty());
  EXPECT_FALSE(failed.more);
  auto zero = runner_->ListHeld(std::nullopt, 0, 0);
  ASSERT_FALSE(zero.ok()) << "a limit of 0 is refused, not a crash";
  EXPECT_EQ(zero.error().code(), ErrorCode::kInvalidArgument);
}

// ---- delivered ----------------------------------------------------------------

TEST_F(SinkRunnerOpsTest, DeliveredRingKeepsTheNewestThousandNewestFirstWithWhereTheyWent) {
  options_.store = nullptr;
  options_.batch_size = 500;
  StartRunner();
  std::vector<std::string> keys;
  for (int i = 0; i < 1005; ++i) keys.push_back("k" + std::to_string(i));
  EnqueueTransaction(*runner_, keys, 5000);  // ids 1..1005, commit_idx id - 1
  ASSERT_TRUE(fake_->WaitDelivered(1005));
  ASSERT_TRUE(Drained());

  bool more = true;
  auto all = runner_->ListDelivered(0, 5000, &more);
  EXPECT_FALSE(more);
  std::vector<uint64_t> ids;
  for (const auto& d : all) ids.push_back(d.id);
  std::vector<uint64_t> want;
  for (uint64_t id = 1005; id >= 6; --id) want.push_back(id);
  EXPECT_EQ(ids, want) << "the newest 1000, newest first";
  EXPECT_FALSE(runner_->GetDelivered(5).has_value()) << "older than the last 1000";
  EXPECT_TRUE(runner_->GetDelivered(6).has_value());

  // Pages of 300 by before_id cover the same, without overlap.
  std::vector<uint64_t> paged;
  uint64_t before = 0;
  for (int pages = 0; pages < 10; ++pages) {
    auto page = runner_->ListDelivered(before, 300, &more);
    EXPECT_LE(page.size(), 300u);
    for (const auto& d : page) paged.push_back(d.id);
    if (!more) break;
    EXPECT_EQ(page.size(), 300u);
    before = page.back().id;
  }
  EXPECT_EQ(paged, want);
  auto three = runner_->ListDelivered(1000, 3, &more);
  ASSERT_EQ(three.size(), 3u);
  EXPECT_EQ(three[0].id, 999u);
  EXPECT_EQ(three[2].id, 997u);
  EXPECT_TRUE(more);

  // Each kept message says where Kinesis put it: the sequence number the fake
  // gave the n-th record put is "n".
  std::lock_guard<std::mutex> lock(fake_->mu_);
  ASSERT_EQ(fake_->delivered_.size(), 1005u);
  for (size_t n = 0; n < fake_->delivered_.size(); ++n) {
    const uint64_t id = static_cast<uint64_t>(fake_->delivered_[n].commit_idx) + 1;
    if (id < 6) continue;
    auto d = runner_->GetDelivered(id);
    ASSERT_TRUE(d.has_value()) << id;
    EXPECT_EQ(d->sequence_number, std::to_string(n + 1)) << id;
    EXPECT_EQ(d->shard_id, kShard);
    EXPECT_EQ(d->stream_arn, options_.stream.arn);
    EXPECT_EQ(d->partition_key, "k" + std::to_string(id - 1));
    EXPECT_EQ(d->table, "public.items");
    EXPECT_EQ(d->action, model::Action::kInsert);
    EXPECT_EQ(d->commit_lsn, Lsn(5000));
    EXPECT_EQ(d->deliver_count, 1);
    EXPECT_EQ(d->delivered_at, clock_.WallNow());
  }
}

// ---- redeliver ------------------------------------------------------------------

TEST_F(SinkRunnerOpsTest, RedeliverPutsABackingOffMessageBeforeItsBackoffEnds) {
  options_.store = nullptr;
  StartRunner();
  const uint64_t head = Enqueue("a", Outcome::kFails);
  const uint64_t behind = Enqueue("a");
  ASSERT_TRUE(WaitBackingOff(1));
  clock_.Advance(minutes(10));  // far less than the hour of backoff
  EXPECT_EQ(List(HeldState::kBackingOff).messages.size(), 1u);

  auto pending = runner_->Redeliver(Selection::kOne, behind);
  ASSERT_TRUE(pending.ok()) << pending.error().message();
  EXPECT_EQ(pending->affected, 0u) << "a pending message is due already";

  {
    std::lock_guard<std::mutex> lock(failing_mu_);
    failing_.clear();
  }
  auto redone = runner_->Redeliver(Selection::kOne, head);
  ASSERT_TRUE(redone.ok()) << redone.error().message();
  EXPECT_EQ(redone->affected, 1u);
  ASSERT_TRUE(fake_->WaitDelivered(2));
  ASSERT_TRUE(Drained());
  EXPECT_EQ(runner_->Stats().delivered, 2u);
  EXPECT_EQ(Attempts(0), 2) << "the head was put again";
  EXPECT_EQ(runner_->GetDelivered(head)->deliver_count, 2) << "its deliver count was kept";
  EXPECT_EQ(acks_.Acknowledged(), AllResolved());
}

TEST_F(SinkRunnerOpsTest, RedeliverLoadsAStoredFailedMessageAndPutsIt) {
  StartRunner();
  const uint64_t id = Enqueue("a", Outcome::kFails);
  ASSERT_TRUE(WaitBackingOff(1));
  LetGroupsGoStale();
  ASSERT_TRUE(WaitStored(1));
  ASSERT_EQ(ListIds(HeldState::kFailed), (std::vector<uint64_t>{id}));
  {
    std::lock_guard<std::mutex> lock(failing_mu_);
    failing_.clear();
  }
  auto redone = runner_->Redeliver(Selection::kOne, id);
  ASSERT_TRUE(redone.ok()) << redone.error().message();
  EXPECT_EQ(redone->affected, 1u);
  ASSERT_TRUE(fake_->WaitDelivered(1));
  ASSERT_TRUE(Drained());
  EXPECT_EQ(StoredCount(), 0u);
  EXPECT_GE(runner_->Stats().loaded, 1u);
  EXPECT_TRUE(runner_->GetDelivered(id).has_value());
}

TEST_F(SinkRunnerOpsTest, RedeliverFailedMakesEveryFailingMessageDue) {
  StartRunner();
  const uint64_t stored = Enqueue("s", Outcome::kFails);
  ASSERT_TRUE(WaitBackingOff(1));
  LetGroupsGoStale();
  ASSERT_TRUE(WaitStored(1));
  const uint64_t memory = Enqueue("m", Outcome::kFails);
  ASSERT_TRUE(WaitBackingOff(1));
  {
    std::lock_guard<std::mutex> lock(failing_mu_);
    failing_.clear();
  }
  auto redone = runner_->Redeliver(Selection::kFailed, 0);
  ASSERT_TRUE(redone.ok()) << redone.error().message();
  EXPECT_EQ(redone->affected, 2u);
  EXPECT_EQ(redone->skipped, 0u);
  ASSERT_TRUE(Drained());
  EXPECT_TRUE(runner_->GetDelivered(stored).has_value());
  EXPECT_TRUE(runner_->GetDelivered(memory).has_value());
}

TEST_F(SinkRunnerOpsTest, ActingOnAnUnknownIdIsNotFound) {
  StartRunner();
  Enqueue("a");
  ASSERT_TRUE(Drained());  // delivered, as far as the runner is concerned
  for (uint64_t id : {uint64_t{1} /* delivered */, uint64_t{42}}) {
    auto redone = runner_->Redeliver(Selection::kOne, id);
    ASSERT_FALSE(redone.ok());
    EXPECT_EQ(redone.error().code(), ErrorCode::kNotFound) << redone.error().message();
    auto dropped = runner_->Discard(Selection::kOne, id);
    ASSERT_FALSE(dropped.ok());
    EXPECT_EQ(dropped.error().code(), ErrorCode::kNotFound) << dropped.error().message();
  }
  EXPECT_EQ(runner_->Stats().discarded, 0u);
}

TEST_F(SinkRunnerOpsTest, ActingOnAMessageInFlightIsRefusedAndBulkActionsSkipIt) {
  StartRunner();
  gate_.Close();
  const uint64_t id = Enqueue("a");
  ASSERT_TRUE(gate_.WaitHeld(1));
  auto redone = runner_->Redeliver(Selection::kOne, id);
  ASSERT_FALSE(redone.ok());
  EXPECT_EQ(redone.error().code(), ErrorCode::kUnavailable);
  auto dropped = runner_->Discard(Selection::kOne, id);
  ASSERT_FALSE(dropped.ok());
  EXPECT_EQ(dropped.error().code(), ErrorCode::kUnavailable);
  auto all = runner_->Discard(Selection::kAll, 0);
  ASSERT_TRUE(all.ok()) << all.error().message();
  EXPECT_EQ(all->affected, 0u);
  EXPECT_EQ(all->skipped, 1u);

  gate_.Open();
  ASSERT_TRUE(Drained());
  EXPECT_TRUE(runner_->GetDelivered(id).has_value()) << "left alone, then delivered";
  EXPECT_EQ(runner_->Stats().discarded, 0u);
}

TEST_F(SinkRunnerOpsTest, RedeliverFailedCountsAFailingMessageInFlightAsSkipped) {
  options_.store = nullptr;
  StartRunner();
  const uint64_t id = Enqueue("a", Outcome::kFails);
  ASSERT_TRUE(WaitBackingOff(1));
  gate_.Close();
  ASSERT_TRUE(runner_->Redeliver(Selection::kOne, id).ok());
  ASSERT_TRUE(gate_.WaitHeld(1));  // its second attempt is in flight
  auto redone = runner_->Redeliver(Selection::kFailed, 0);
  ASSERT_TRUE(redone.ok()) << redone.error().message();
  EXPECT_EQ(redone->affected, 0u);
  EXPECT_EQ(redone->skipped, 1u);
}

// ---- discard ----------------------------------------------------------------------

TEST_F(SinkRunnerOpsTest, DiscardingAFailingHeadLetsItsGroupGoOnAndResolvesItsTransaction) {
  options_.store = nullptr;
  StartRunner();
  const uint64_t head = Enqueue("a", Outcome::kFails);
  const uint64_t next = Enqueue("a");
  ASSERT_TRUE(WaitBackingOff(1));
  EXPECT_LT(acks_.Acknowledged(), AllResolved());

  auto dropped = runner_->Discard(Selection::kOne, head);
  ASSERT_TRUE(dropped.ok()) << dropped.error().message();
  EXPECT_EQ(dropped->affected, 1u);
  ASSERT_TRUE(fake_->WaitDelivered(1));
  ASSERT_TRUE(Drained());
  EXPECT_TRUE(runner_->GetDelivered(next).has_value());
  EXPECT_EQ(Attempts(0), 1) << "the discarded head was not put again";
  EXPECT_EQ(acks_.Acknowledged(), AllResolved()) << "both transactions are resolved";
  EXPECT_EQ(runner_->Stats().discarded, 1u);
  EXPECT_EQ(runner_->metrics().discarded.Value(), 1u);
  EXPECT_EQ(budget_.used(), 0u);
}

TEST_F(SinkRunnerOpsTest, DiscardingAMessageBehindTheHeadKeepsTheRestOfItsGroupInOrder) {
  options_.store = nullptr;
  StartRunner();
  const uint64_t head = Enqueue("a", Outcome::kFails);
  const uint64_t middle = Enqueue("a");
  const uint64_t tail = Enqueue("a");
  ASSERT_TRUE(WaitBackingOff(1));
  auto dropped = runner_->Discard(Selection::kOne, middle);
  ASSERT_TRUE(dropped.ok()) << dropped.error().message();
  EXPECT_EQ(ListIds(), (std::vector<uint64_t>{head, tail}));
  {
    std::lock_guard<std::mutex> lock(failing_mu_);
    failing_.clear();
  }
  ASSERT_TRUE(runner_->Redeliver(Selection::kOne, head).ok());
  ASSERT_TRUE(Drained());
  std::lock_guard<std::mutex> lock(fake_->mu_);
  std::vector<int64_t> order;
  for (const auto& e : fake_->delivered_) order.push_back(e.commit_idx);
  EXPECT_EQ(order, (std::vector<int64_t>{0, 2}));
  EXPECT_EQ(acks_.Acknowledged(), AllResolved());
}

TEST_F(SinkRunnerOpsTest, DiscardFailedDropsFailingMessagesAndLeavesPendingOnesAlone) {
  const OneOfEach ids = HoldOneOfEachState();
  auto dropped = runner_->Discard(Selection::kFailed, 0);
  ASSERT_TRUE(dropped.ok()) << dropped.error().message();
  EXPECT_EQ(dropped->affected, 2u) << "the failed one in the store and the backing-off one";
  EXPECT_EQ(dropped->skipped, 0u) << "the message in flight has not failed";
  EXPECT_EQ(runner_->Stats().discarded, 2u);
  auto left = ListIds();
  EXPECT_EQ(left, (std::vector<uint64_t>{ids.in_flight, ids.behind, ids.stored, ids.pending}));

  gate_.Open();
  ASSERT_TRUE(Drained());
  for (uint64_t id : {ids.in_flight, ids.behind, ids.stored, ids.pending}) {
    EXPECT_TRUE(runner_->GetDelivered(id).has_value()) << "message " << id;
  }
  EXPECT_FALSE(runner_->GetDelivered(ids.failed).has_value());
  EXPECT_FALSE(runner_->GetDelivered(ids.backing_off).has_value());
  EXPECT_EQ(StoredCount(), 0u);
  EXPECT_EQ(acks_.Acknowledged(), AllResolved());
}

TEST_F(SinkRunnerOpsTest, DiscardAllDropsEveryMessageInMemoryAndInTheStore) {
  StartRunner();
  runner_->SetPaused(true);
  for (const char* key : {"a", "b", "c"}) Enqueue(key);
  LetGroupsGoStale();
  ASSERT_TRUE(WaitStored(3));
  Enqueue("a");  // to the store, behind its group
  Enqueue("d");
  Enqueue("d");
  ASSERT_TRUE(WaitStored(4));
  ASSERT_EQ(List().messages.size(), 6u);

  auto dropped = runner_->Discard(Selection::kAll, 0);
  ASSERT_TRUE(dropped.ok()) << dropped.error().message();
  EXPECT_EQ(dropped->affected, 6u);
  EXPECT_EQ(dropped->skipped, 0u);
  EXPECT_TRUE(List().messages.empty());
  EXPECT_EQ(StoredCount(), 0u);
  EXPECT_EQ(runner_->Stats().discarded, 6u);
  SinkBacklog backlog = Backlog();
  EXPECT_EQ(backlog.pending + backlog.in_flight + backlog.backing_off + backlog.failed, 0u);
  EXPECT_FALSE(backlog.oldest_commit_time_us.has_value());
  EXPECT_EQ(acks_.Acknowledged(), AllResolved());
  EXPECT_EQ(budget_.used(), 0u);
  runner_->SetPaused(false);
  EXPECT_TRUE(Drained());
  EXPECT_EQ(Requests(), 0) << "nothing was left to put";
}

// A stored message loaded into memory is still in the store until it is
// delivered: a bulk discard must count it once.
TEST_F(SinkRunnerOpsTest, DiscardAllCountsALoadedStoredMessageOnce) {
  options_.batch_size = 1;
  const uint32_t stored_idx = idx_++;
  StoreEarlier("s", 50, stored_idx);  // id 1
  acks_.AdvanceRead(Lsn(lsn_));       // read past it: it may be loaded
  MakeRunner();
  gate_.Close();
  const uint64_t flying = Enqueue("x");  // first in line: taken, then held
  ASSERT_TRUE(runner_->Start().ok());
  ASSERT_TRUE(gate_.WaitHeld(1));
  ASSERT_TRUE(Eventually([&] { return runner_->Stats().loaded == 1; }));
  EXPECT_EQ(IdsOf(List().messages), (std::vector<uint64_t>{1, flying}))
      << "the loaded message is listed once";

  auto dropped = runner_->Discard(Selection::kAll, 0);
  ASSERT_TRUE(dropped.ok()) << dropped.error().message();
  EXPECT_EQ(dropped->affected, 1u);
  EXPECT_EQ(dropped->skipped, 1u);
  EXPECT_EQ(runner_->Stats().discarded, 1u);
  EXPECT_EQ(StoredCount(), 0u);

  gate_.Open();
  ASSERT_TRUE(Drained());
  EXPECT_EQ(Attempts(stored_idx), 0) << "the discarded message was put";
}

TEST_F(SinkRunnerOpsTest, DiscardFailedCountsALoadedFailingMessageOnce) {
  options_.batch_size = 1;
  const uint32_t stored_idx = idx_++;
  {
    StoredMessage row = AsStored(Make("s", stored_idx, Txn(50)));  // id 1
    row.deliver_count = 2;
    row.last_error = "InternalFailure: scripted failure";
    ASSERT_TRUE(store_->Put(std::vector<StoredMessage>{row}).ok());  // due now
  }
  acks_.AdvanceRead(Lsn(lsn_));
  MakeRunner();
  gate_.Close();
  Enqueue("x");
  ASSERT_TRUE(runner_->Start().ok());
  ASSERT_TRUE(gate_.WaitHeld(1));
  ASSERT_TRUE(Eventually([&] { return runner_->Stats().loaded == 1; }));
  EXPECT_EQ(ListIds(HeldState::kFailed), (std::vector<uint64_t>{1}));

  auto dropped = runner_->Discard(Selection::kFailed, 0);
  ASSERT_TRUE(dropped.ok()) << dropped.error().message();
  EXPECT_EQ(dropped->affected, 1u);
  EXPECT_EQ(runner_->Stats().discarded, 1u);
  EXPECT_EQ(StoredCount(), 0u);
}

// ---- pause ------------------------------------------------------------------------

TEST_F(SinkRunnerOpsTest, PausedSinkPutsNothingStoresWhatWaitsAndDeliversItOnResume) {
  StartRunner();
  runner_->SetPaused(true);
  EXPECT_TRUE(runner_->Condition().paused);
  const uint64_t a = Enqueue("a");
  const uint64_t b = Enqueue("b");
  EXPECT_EQ(ListIds(HeldState::kPending), (std::vector<uint64_t>{a, b}));
  LetGroupsGoStale();
  ASSERT_TRUE(WaitStored(2));
  EXPECT_EQ(Requests(), 0);
  EXPECT_EQ(ListIds(HeldState::kPending), (std::vector<uint64_t>{a, b})) << "listed from the store";
  EXPECT_EQ(acks_.Acknowledged(), AllResolved()) << "stored: the slot moves on";

  runner_->SetPaused(false);
  EXPECT_FALSE(runner_->Condition().paused);
  ASSERT_TRUE(fake_->WaitDelivered(2));
  ASSERT_TRUE(Drained());
  EXPECT_EQ(StoredCount(), 0u);
  EXPECT_TRUE(ListIds().empty());
}

TEST_F(SinkRunnerOpsTest, PausedSinkWithoutAStoreKeepsMessagesPendingUntilResumed) {
  options_.store = nullptr;
  StartRunner();
  const uint64_t first = Enqueue("a");
  ASSERT_TRUE(fake_->WaitDelivered(1));
  runner_->SetPaused(true);
  const uint64_t held = Enqueue("a");
  // A redeliver wakes the senders: paused, they must still put nothing.
  ASSERT_TRUE(runner_->Redeliver(Selection::kFailed, 0).ok());
  EXPECT_EQ(ListIds(HeldState::kPending), (std::vector<uint64_t>{held}));
  EXPECT_EQ(fake_->DeliveredSize(), 1u);
  runner_->SetPaused(false);
  ASSERT_TRUE(Drained());
  EXPECT_TRUE(runner_->GetDelivered(first).has_value());
  EXPECT_TRUE(runner_->GetDelivered(held).has_value());
}

// ---- backlog, condition, metrics ------------------------------------------------------

TEST_F(SinkRunnerOpsTest, BacklogCountsEveryStateIncludingTheStore) {
  const OneOfEach ids = HoldOneOfEachState();
  SinkBacklog b = Backlog();
  EXPECT_EQ(b.pending, 3u);
  EXPECT_EQ(b.in_flight, 1u);
  EXPECT_EQ(b.backing_off, 1u);
  EXPECT_EQ(b.failed, 1u);
  EXPECT_EQ(b.stored, 2u);
  EXPECT_EQ(b.oldest_commit_time_us, commit_time_us_[ids.failed]) << "the stored head is oldest";
}

TEST_F(SinkRunnerOpsTest, BacklogCountsALoadedMessageInFlightAsInFlight) {
  StoreEarlier("s", 50, idx_++);  // id 1
  acks_.AdvanceRead(Lsn(lsn_));
  MakeRunner();
  gate_.Close();
  ASSERT_TRUE(runner_->Start().ok());
  ASSERT_TRUE(gate_.WaitHeld(1));
  EXPECT_EQ(ListIds(HeldState::kInFlight), (std::vector<uint64_t>{1}));
  SinkBacklog b = Backlog();
  EXPECT_EQ(b.in_flight, 1u);
  EXPECT_EQ(b.pending, 0u) << "counted once, in its one state";
  EXPECT_EQ(b.failed, 0u);
}

TEST_F(SinkRunnerOpsTest, ConditionReportsFailingRequestsUntilARequestSucceeds) {
  options_.store = nullptr;
  StartRunner();
  EXPECT_FALSE(runner_->Condition().requests_failing);
  EXPECT_FALSE(runner_->Condition().last_delivered_at.has_value());
  fake_->SetDown(true);
  Enqueue("a");
  ASSERT_TRUE(Eventually([&] { return runner_->Condition().requests_failing; }));
  SinkCondition down = runner_->Condition();
  EXPECT_NE(down.last_request_error.find("connection reset"), std::string::npos)
      << down.last_request_error;
  EXPECT_EQ(runner_->Stats().request_failures, 1u);
  EXPECT_EQ(List(HeldState::kPending).messages.size(), 1u)
      << "a request-level failure is not the message's attempt";

  fake_->SetDown(false);
  clock_.Advance(hours(3));  // past the sink's backoff
  Enqueue("b");              // wakes the sender
  ASSERT_TRUE(fake_->WaitDelivered(2));
  ASSERT_TRUE(Drained());
  SinkCondition up = runner_->Condition();
  EXPECT_FALSE(up.requests_failing);
  EXPECT_EQ(up.last_delivered_at, clock_.WallNow());
}

TEST_F(SinkRunnerOpsTest, MetricsCountDeliveredFailedRetriedThrottledAndLatency) {
  options_.store = nullptr;
  fail_code_ = "ProvisionedThroughputExceededException";
  StartRunner();
  const uint64_t throttled = Enqueue("a", Outcome::kFails);
  Enqueue("b");
  ASSERT_TRUE(WaitBackingOff(1));
  ASSERT_TRUE(fake_->WaitDelivered(1));
  {
    std::lock_guard<std::mutex> lock(failing_mu_);
    failing_.clear();
  }
  ASSERT_TRUE(runner_->Redeliver(Selection::kOne, throttled).ok());
  ASSERT_TRUE(fake_->WaitDelivered(2));
  ASSERT_TRUE(Drained());

  const SinkMetrics& m = runner_->metrics();
  EXPECT_EQ(m.ingested.Value(), 2u);
  EXPECT_EQ(m.delivered.Value(), 2u);
  EXPECT_EQ(m.failed.Value(), 1u);
  EXPECT_EQ(m.retried.Value(), 1u);
  EXPECT_EQ(m.throttled.Value(), 1u);
  // Each delivered message was committed 2 s (fake time) before it was put.
  auto latency = m.end_to_end_latency.Read();
  EXPECT_EQ(latency.count, 2u);
  EXPECT_DOUBLE_EQ(latency.sum, 4.0);
  // Bounds ..., 1, 2.5, ...: both in the 2.5 s bucket, none at or below 1 s.
  EXPECT_EQ(latency.cumulative_counts[7], 0u);
  EXPECT_EQ(latency.cumulative_counts[8], 2u);
  EXPECT_EQ(m.put_records_duration.Read().count, m.requests.Value());
  EXPECT_GE(m.requests.Value(), 2u);
}

TEST_F(SinkRunnerOpsTest, DeliveredPerSecondCountsTheLastTenWholeSeconds) {
  options_.store = nullptr;
  StartRunner();
  for (int i = 0; i < 20; ++i) Enqueue("k" + std::to_string(i));
  // Without a store nothing moves the fake clock: all 20 in one second.
  ASSERT_TRUE(runner_->WaitUntilEmpty(std::chrono::seconds(60)));
  // The current second is not whole yet: nothing counts until it is.
  EXPECT_EQ(runner_->DeliveredPerSecond(), 0.0);
  clock_.Advance(std::chrono::seconds(1));
  EXPECT_DOUBLE_EQ(runner_->DeliveredPerSecond(), 2.0);  // 20 over 10 s
  clock_.Advance(std::chrono::seconds(10));
  EXPECT_EQ(runner_->DeliveredPerSecond(), 0.0);  // out of the window
}

// Starts the runner on the stored message 1, holds it in flight (its put is
// gated), then discards `selection` in bulk.
Result<ActionCount> SinkRunnerOpsTest::DiscardWhileMessage1IsInFlight(Selection selection) {
  acks_.AdvanceRead(Lsn(lsn_));
  MakeRunner();
  gate_.Close();
  EXPECT_TRUE(runner_->Start().ok());
  EXPECT_TRUE(gate_.WaitHeld(1));
  EXPECT_EQ(ListIds(HeldState::kInFlight), (std::vector<uint64_t>{1}));
  return runner_->Discard(selection, 0);
}

TEST_F(SinkRunnerOpsTest, BulkDiscardKeepsTheStoreRowOfALoadedMessageInFlight) {
  StoreEarlier("s", 50, idx_++);  // id 1
  auto dropped = DiscardWhileMessage1IsInFlight(Selection::kAll);
  ASSERT_TRUE(dropped.ok());
  EXPECT_EQ(dropped->affected, 0u);
  EXPECT_EQ(dropped->skipped, 1u);
  EXPECT_EQ(StoredCount(), 1u) << "in flight: its row stays until its outcome";
  EXPECT_EQ(runner_->Stats().discarded, 0u);
  gate_.Open();
  ASSERT_TRUE(Drained());
  EXPECT_TRUE(runner_->GetDelivered(1).has_value());
  EXPECT_EQ(StoredCount(), 0u);
}

TEST_F(SinkRunnerOpsTest, DiscardFailedKeepsTheStoreRowOfALoadedFailingMessageInFlight) {
  options_.batch_size = 1;
  {
    StoredMessage row = AsStored(Make("s", idx_++, Txn(50)));  // id 1
    row.deliver_count = 2;
    row.last_error = "InternalFailure: scripted failure";
    ASSERT_TRUE(store_->Put(std::vector<StoredMessage>{row}).ok());
  }
  auto dropped = DiscardWhileMessage1IsInFlight(Selection::kFailed);
  ASSERT_TRUE(dropped.ok());
  EXPECT_EQ(dropped->affected, 0u);
  EXPECT_EQ(dropped->skipped, 1u);
  EXPECT_EQ(StoredCount(), 1u);
}

TEST_F(SinkRunnerOpsTest, ARedeliveredStoredMessageIsDueNowNotAtTheEpoch) {
  {
    StoredMessage row = AsStored(Make("s", idx_++, Txn(50)));  // id 1
    row.deliver_count = 2;
    row.last_error = "x";
    row.not_before = WallTime{};
    ASSERT_TRUE(store_->Put(std::vector<StoredMessage>{row}).ok());
  }
  MakeRunner();  // not started: nothing is loaded
  HeldPage page = List();
  ASSERT_EQ(page.messages.size(), 1u);
  ASSERT_TRUE(page.messages[0].next_attempt_at.has_value());
  EXPECT_GE(*page.messages[0].next_attempt_at, clock_.WallNow());
  EXPECT_GE(*Get(1).next_attempt_at, clock_.WallNow());
}

TEST_F(SinkRunnerOpsTest, FailingListsBackingOffAndFailed) {
  const OneOfEach ids = HoldOneOfEachState();
  auto page = runner_->ListHeld(std::nullopt, 0, 100, true);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(IdsOf(page->messages), (std::vector<uint64_t>{ids.failed, ids.backing_off}));
  auto paged = runner_->ListHeld(HeldState::kPending, 0, 1, true);
  ASSERT_TRUE(paged.ok());
  EXPECT_EQ(IdsOf(paged->messages), (std::vector<uint64_t>{ids.failed}));
  EXPECT_TRUE(paged->more);
}

}  // namespace
}  // namespace sluice::delivery
