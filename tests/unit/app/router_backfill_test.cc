// Router and backfill watermarks (docs/backfill.md): a page's rows are
// enqueued at its high watermark as reads of that transaction, except rows
// whose key changed between its low and high watermark (the live change
// wins); the page's end LSN is reported at the commit.
#include <gtest/gtest.h>

#include "app/backfill_pages.h"
#include "app/router.h"
#include "support/fake_kinesis.h"

namespace sluice::app {
namespace {

using testing_support::FakeKinesis;

constexpr uint32_t kOid = 42;
constexpr uint64_t kBackfill = 7;

std::shared_ptr<const model::Relation> Table() {
  auto rel = std::make_shared<model::Relation>();
  rel->oid = kOid;
  rel->schema = "public";
  rel->name = "items";
  rel->columns = {{"id", 23, -1, true}, {"v", 25, -1, false}};
  rel->primary_key = {0};
  return rel;
}

model::Tuple Row(const std::string& id) {
  model::Tuple t;
  t.AddText(id);
  t.AddText("v" + id);
  return t;
}

class RouterBackfillTest : public ::testing::Test {
 protected:
  RouterBackfillTest()
      : fake_([](const testing_support::PutEntry&, int) { return std::string(); }),
        pages_("run-a") {
    sink_.name = "s";
    sink_.database = "app";
    std::string why;
    sink_.destination.stream =
        *config::StreamArn::Parse("arn:aws:kinesis:us-east-1:123456789012:stream/t", &why);
    delivery::SinkRunnerOptions options;
    options.sink_name = sink_.name;
    options.stream = sink_.destination.stream;
    // Never started: what the router enqueued stays listed as pending.
    runner_ = std::make_unique<delivery::SinkRunner>(options, fake_, acks_, budget_,
                                                     SystemClock::Instance(), [] { return 0.5; });
    router_ = std::make_unique<Router>(std::vector<RoutedSink>{{&sink_, runner_.get()}}, acks_,
                                       budget_, next_id_, &pages_);
  }

  void Begin(uint64_t lsn) {
    auto txn = std::make_shared<model::TransactionInfo>();
    txn->commit_lsn = Lsn(lsn);
    txn->commit_time_us = 1'000'000;
    txn_ = txn;
    router_->OnBegin(txn_);
    idx_ = 0;
  }
  void Commit(uint64_t lsn) { router_->OnCommit(Lsn(lsn), Lsn(lsn + 8)); }
  void Change(const std::string& id, model::Action action = model::Action::kUpdate) {
    model::Change c;
    c.action = action;
    c.relation = table_;
    c.txn = txn_;
    c.commit_idx = idx_++;
    if (action != model::Action::kTruncate) c.new_tuple = Row(id);
    router_->OnChange(std::move(c));
  }
  // A watermark in a transaction of its own at `lsn`.
  void Mark(uint64_t lsn, uint64_t page, bool high, const std::string& run = "run-a") {
    Begin(lsn);
    router_->OnBackfillWatermark(WatermarkContent(Watermark{kBackfill, run, page, high, kOid}));
    Commit(lsn);
  }
  void PutPage(uint64_t page, std::vector<std::string> ids) {
    PageRows rows{kBackfill, page, "s", table_, {}};
    for (const auto& id : ids) rows.rows.push_back(Row(id));
    pages_.Put(std::move(rows));
  }
  // (partition key, action) of every held message, in id order.
  std::vector<std::pair<std::string, model::Action>> Held() {
    std::vector<std::pair<std::string, model::Action>> out;
    auto page = runner_->ListHeld(std::nullopt, 0, 1000);
    EXPECT_TRUE(page.ok());
    for (const auto& m : page->messages) out.emplace_back(m.partition_key, m.action);
    return out;
  }

  config::SinkSettings sink_;
  FakeKinesis fake_;
  delivery::AckTracker acks_;
  delivery::MemoryBudget budget_{1 << 24};
  std::atomic<uint64_t> next_id_{0};
  BackfillPages pages_;
  std::unique_ptr<delivery::SinkRunner> runner_;
  std::unique_ptr<Router> router_;
  std::shared_ptr<const model::Relation> table_ = Table();
  std::shared_ptr<const model::TransactionInfo> txn_;
  uint32_t idx_ = 0;
};

using A = model::Action;

TEST_F(RouterBackfillTest, RowsChangedInsideTheWindowAreDroppedOthersAreReadAtTheHighWatermark) {
  Begin(100);
  Change("1");  // before the low watermark: sent first, the read follows it
  Commit(100);
  Mark(200, 1, /*high=*/false);
  Begin(300);
  Change("2");  // inside the window: the live change wins
  Commit(300);
  PutPage(1, {"1", "2", "3"});
  Mark(400, 1, /*high=*/true);
  Begin(500);
  Change("3");  // after the high watermark: after the read
  Commit(500);
  EXPECT_EQ(Held(), (std::vector<std::pair<std::string, A>>{{"1", A::kUpdate},
                                                            {"2", A::kUpdate},
                                                            {"1", A::kRead},
                                                            {"3", A::kRead},
                                                            {"3", A::kUpdate}}));
  auto emitted = pages_.EmissionOf(kBackfill, 1);
  ASSERT_TRUE(emitted.has_value());
  EXPECT_EQ(emitted->end_lsn, Lsn(408));
  EXPECT_EQ(emitted->reads, 2u);
  EXPECT_FALSE(emitted->redo);
}

TEST_F(RouterBackfillTest, AChangeTheSinkDoesNotTakeDoesNotDropTheRead) {
  // actions: [insert]: the live update of row 2 is not sent to this sink, so
  // its read must be, or the sink would never get row 2.
  sink_.action_update = false;
  Mark(200, 1, false);
  Begin(300);
  Change("2");
  Commit(300);
  PutPage(1, {"1", "2"});
  Mark(400, 1, true);
  EXPECT_EQ(Held(), (std::vector<std::pair<std::string, A>>{{"1", A::kRead}, {"2", A::kRead}}));
}

TEST_F(RouterBackfillTest, ReadsCarryTheBackfillIdAndTheWatermarkTransaction) {
  Mark(200, 1, false);
  PutPage(1, {"1", "2"});
  Mark(400, 1, true);
  auto held = runner_->ListHeld(std::nullopt, 0, 10);
  ASSERT_TRUE(held.ok());
  ASSERT_EQ(held->messages.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    auto m = runner_->GetHeld(held->messages[i].id);
    ASSERT_TRUE(m.ok() && m->has_value());
    const model::Change& c = *(*m)->change;
    EXPECT_EQ(c.action, A::kRead);
    EXPECT_EQ(c.backfill_id, kBackfill);
    EXPECT_EQ(c.txn->commit_lsn, Lsn(400));
    EXPECT_EQ(c.commit_idx, i);
  }
  // The same group as the row's live changes: "<oid>/<key>".
  EXPECT_EQ(held->messages[0].partition_key, "1");
}

TEST_F(RouterBackfillTest, DeletesAndKeyChangesInTheWindowDropTheRow) {
  Mark(200, 1, false);
  Begin(300);
  Change("1", A::kDelete);
  model::Change moved;  // key 2 becomes key 9: both keys changed
  moved.action = A::kUpdate;
  moved.relation = table_;
  moved.txn = txn_;
  moved.commit_idx = idx_++;
  moved.new_tuple = Row("9");
  moved.old_tuple = Row("2");
  router_->OnChange(std::move(moved));
  Commit(300);
  PutPage(1, {"1", "2", "3"});
  Mark(400, 1, true);
  EXPECT_EQ(Held(), (std::vector<std::pair<std::string, A>>{
                        {"1", A::kDelete}, {"9", A::kUpdate}, {"3", A::kRead}}));
}

TEST_F(RouterBackfillTest, ATruncateInTheWindowDropsThePage) {
  Mark(200, 1, false);
  Begin(300);
  Change("", A::kTruncate);
  Commit(300);
  PutPage(1, {"1", "2"});
  Mark(400, 1, true);
  EXPECT_EQ(Held().size(), 1u) << "only the truncate";
  auto emitted = pages_.EmissionOf(kBackfill, 1);
  ASSERT_TRUE(emitted.has_value());
  EXPECT_EQ(emitted->reads, 0u);
}

TEST_F(RouterBackfillTest, AnotherRunsWatermarksAreIgnored) {
  PutPage(1, {"1"});
  Mark(200, 1, false, "run-b");
  Mark(400, 1, true, "run-b");
  EXPECT_TRUE(Held().empty());
  EXPECT_FALSE(pages_.EmissionOf(kBackfill, 1).has_value());
  EXPECT_TRUE(pages_.Take(kBackfill, 1).has_value()) << "this run's page is still waiting";
}

TEST_F(RouterBackfillTest, AHighWatermarkWithoutItsLowOneAsksForThePageAgain) {
  PutPage(1, {"1", "2"});
  Mark(400, 1, true);
  EXPECT_TRUE(Held().empty()) << "which rows changed is unknown: none is sent";
  auto emitted = pages_.EmissionOf(kBackfill, 1);
  ASSERT_TRUE(emitted.has_value());
  EXPECT_TRUE(emitted->redo);
}

TEST_F(RouterBackfillTest, TheSlotPassesTheHighWatermarkOnlyOnceItsReadsAreResolved) {
  Mark(200, 1, false);
  PutPage(1, {"1"});
  Mark(400, 1, true);
  router_->OnIdle(Lsn(1000));
  EXPECT_LT(router_->AcknowledgedLsn(), Lsn(408)) << "the read is not delivered yet";
  ASSERT_TRUE(runner_->Start().ok());
  ASSERT_TRUE(runner_->WaitUntilEmpty(std::chrono::seconds(30)));
  EXPECT_GE(router_->AcknowledgedLsn(), Lsn(408));
}

TEST(WatermarkContentTest, RoundTripsAndRejectsMalformedContent) {
  Watermark w{12, "abc", 3, true, 99};
  auto back = ParseWatermark(WatermarkContent(w));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->backfill_id, 12u);
  EXPECT_EQ(back->run, "abc");
  EXPECT_EQ(back->page, 3u);
  EXPECT_TRUE(back->high);
  EXPECT_EQ(back->table_oid, 99u);
  for (const char* bad :
       {"", "{}", "[1]", R"({"backfill":1,"run":"a","page":1,"mark":"mid","table_oid":1})",
        R"({"backfill":-1,"run":"a","page":1,"mark":"low","table_oid":1})",
        R"({"backfill":1,"run":"a","page":1,"mark":"low","table_oid":5000000000})"}) {
    EXPECT_FALSE(ParseWatermark(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace sluice::app
