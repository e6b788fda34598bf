// Router: which sink gets which change, and how transactions drive the slot's
// acknowledgement, including across a reconnect of the replication stream.
// Uses real SinkRunners over a FakeKinesis (the delivery seam).
#include "app/router.h"

#include <gtest/gtest.h>

#include "support/fake_kinesis.h"

namespace sluice::app {
namespace {

using std::chrono::milliseconds;
using testing_support::FakeKinesis;

std::shared_ptr<const model::Relation> Table(uint32_t oid, const std::string& name,
                                             bool with_key = true) {
  auto rel = std::make_shared<model::Relation>();
  rel->oid = oid;
  rel->schema = "public";
  rel->name = name;
  rel->columns = {{"id", 23, -1, with_key}, {"v", 25, -1, false}};
  if (with_key) rel->primary_key = {0};
  return rel;
}

config::SinkSettings Sink() {
  config::SinkSettings s;
  s.name = "s";
  s.database = "app";
  std::string why;
  s.destination.stream =
      *config::StreamArn::Parse("arn:aws:kinesis:us-east-1:123456789012:stream/t", &why);
  return s;
}

class RouterTest : public ::testing::Test {
 protected:
  RouterTest() : fake_([](const testing_support::PutEntry&, int) { return std::string(); }) {}

  void Build() {
    delivery::SinkRunnerOptions options;
    options.sink_name = sink_.name;
    options.stream = sink_.destination.stream;
    options.max_in_flight = 2;
    options.retry.initial = milliseconds(1);
    runner_ = std::make_unique<delivery::SinkRunner>(options, fake_, acks_, budget_,
                                                     SystemClock::Instance(), [] { return 0.5; });
    router_ = std::make_unique<Router>(std::vector<RoutedSink>{{&sink_, runner_.get()}}, acks_,
                                       budget_, next_id_);
  }

  void Begin(uint64_t lsn) {
    auto txn = std::make_shared<model::TransactionInfo>();
    txn->commit_lsn = Lsn(lsn);
    txn_ = txn;
    router_->OnBegin(txn_);
    idx_ = 0;
  }
  void Insert(const std::shared_ptr<const model::Relation>& rel, const std::string& id,
              model::Action action = model::Action::kInsert) {
    model::Change c;
    c.action = action;
    c.relation = rel;
    c.txn = txn_;
    c.commit_idx = idx_++;
    c.new_tuple.AddText(id);
    c.new_tuple.AddText("v");
    router_->OnChange(std::move(c));
  }
  void Commit(uint64_t lsn) { router_->OnCommit(Lsn(lsn), Lsn(lsn + 8)); }

  uint64_t Ingested() const { return runner_->Stats().ingested; }
  // Starts delivery and waits until every queued message is delivered.
  void DeliverAll() {
    ASSERT_TRUE(runner_->Start().ok());
    ASSERT_TRUE(runner_->WaitUntilEmpty(std::chrono::seconds(30)));
  }

  config::SinkSettings sink_ = Sink();
  FakeKinesis fake_;
  delivery::AckTracker acks_;
  delivery::MemoryBudget budget_{1 << 24};
  std::atomic<uint64_t> next_id_{0};
  std::unique_ptr<delivery::SinkRunner> runner_;
  std::unique_ptr<Router> router_;
  std::shared_ptr<const model::TransactionInfo> txn_;
  uint32_t idx_ = 0;
};

TEST_F(RouterTest, SlotAdvancesOnlyAfterDelivery) {
  Build();
  auto t = Table(1, "orders");
  Begin(100);
  Insert(t, "1");
  Insert(t, "2");
  Commit(100);
  router_->OnIdle(Lsn(500));
  EXPECT_EQ(router_->AcknowledgedLsn(), Lsn(0)) << "nothing delivered yet";
  DeliverAll();
  EXPECT_EQ(router_->AcknowledgedLsn(), Lsn(108));
  router_->OnIdle(Lsn(500));
  EXPECT_EQ(router_->AcknowledgedLsn(), Lsn(500));
}

TEST_F(RouterTest, IdleInsideATransactionDoesNotAdvance) {
  Build();
  auto t = Table(1, "orders");
  Begin(100);
  Insert(t, "1");
  router_->OnIdle(Lsn(500));
  DeliverAll();
  EXPECT_EQ(router_->AcknowledgedLsn(), Lsn(0)) << "the transaction has not committed";
  Commit(100);
  EXPECT_EQ(router_->AcknowledgedLsn(), Lsn(108));
}

TEST_F(RouterTest, ResentCommittedTransactionsAreSkippedAfterReconnect) {
  Build();
  auto t = Table(1, "orders");
  Begin(100);
  Insert(t, "1");
  Commit(100);
  Begin(200);
  Insert(t, "2");
  Commit(200);
  router_->OnReconnect();
  // Nothing was acknowledged, so the server re-sends both.
  auto t2 = Table(1, "orders");  // a new session announces the relation again
  Begin(100);
  Insert(t2, "1");
  Commit(100);
  Begin(200);
  Insert(t2, "2");
  Commit(200);
  Begin(300);
  Insert(t2, "3");
  Commit(300);
  EXPECT_EQ(Ingested(), 3u);
  DeliverAll();
  EXPECT_EQ(fake_.delivered_.size(), 3u);
  EXPECT_EQ(router_->AcknowledgedLsn(), Lsn(308));
}

TEST_F(RouterTest, ReconnectInsideATransactionResumesWithoutDuplicatesOrLoss) {
  Build();
  auto t = Table(1, "orders");
  Begin(100);
  Insert(t, "1");
  Insert(t, "2");
  router_->OnReconnect();
  Begin(100);  // re-sent from its Begin
  Insert(t, "1");
  Insert(t, "2");
  Insert(t, "3");
  Commit(100);
  EXPECT_EQ(Ingested(), 3u);
  EXPECT_EQ(router_->AcknowledgedLsn(), Lsn(0));
  DeliverAll();
  std::vector<int64_t> idx;
  for (const auto& e : fake_.delivered_) idx.push_back(e.commit_idx);
  std::sort(idx.begin(), idx.end());
  EXPECT_EQ(idx, (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(router_->AcknowledgedLsn(), Lsn(108));
}

TEST_F(RouterTest, TwoReconnectsInsideATransactionStillSkipExactly) {
  Build();
  auto t = Table(1, "orders");
  Begin(100);
  Insert(t, "1");
  router_->OnReconnect();
  Begin(100);
  Insert(t, "1");
  Insert(t, "2");
  router_->OnReconnect();
  Begin(100);
  Insert(t, "1");
  Insert(t, "2");
  Insert(t, "3");
  Commit(100);
  EXPECT_EQ(Ingested(), 3u);
}

TEST_F(RouterTest, ReconnectWhileSkippingTheResentPartKeepsEveryTakenChange) {
  Build();
  auto t = Table(1, "orders");
  Begin(100);
  Insert(t, "1");
  Insert(t, "2");
  Insert(t, "3");
  router_->OnReconnect();
  Begin(100);
  Insert(t, "1");  // cut again after one of the three already-taken changes
  router_->OnReconnect();
  Begin(100);
  Insert(t, "1");
  Insert(t, "2");
  Insert(t, "3");
  Insert(t, "4");
  Commit(100);
  EXPECT_EQ(Ingested(), 4u);
}

TEST_F(RouterTest, UnwantedTablesAndActionsAreNotRoutedButStillAcknowledged) {
  sink_.include_tables = {"public.orders"};
  sink_.action_delete = false;
  Build();
  auto orders = Table(1, "orders");
  auto other = Table(2, "other");
  Begin(100);
  Insert(other, "1");
  Insert(orders, "2", model::Action::kDelete);
  Commit(100);
  EXPECT_EQ(Ingested(), 0u);
  EXPECT_EQ(router_->AcknowledgedLsn(), Lsn(108)) << "a transaction with nothing to deliver";
}

TEST(RouterPlan, SelectsBySchemaTableAndGrouping) {
  auto sink = Sink();
  auto rel = Table(1, "orders");
  EXPECT_TRUE(Router::PlanFor(sink, *rel).wanted);
  EXPECT_TRUE(Router::PlanFor(sink, *rel).grouped);

  sink.exclude_tables = {"public.orders"};
  EXPECT_FALSE(Router::PlanFor(sink, *rel).wanted);
  sink.exclude_tables.clear();
  sink.include_schemas = {"sales"};
  EXPECT_FALSE(Router::PlanFor(sink, *rel).wanted);
  sink.include_schemas.clear();

  EXPECT_FALSE(Router::PlanFor(sink, *Table(2, "log", /*with_key=*/false)).grouped);
  sink.message_grouping = false;
  EXPECT_FALSE(Router::PlanFor(sink, *rel).grouped);
  sink.message_grouping = true;

  sink.tables = {{"public.orders", {"v"}}};
  auto plan = Router::PlanFor(sink, *rel);
  EXPECT_TRUE(plan.grouped);
  EXPECT_EQ(plan.group_columns, (std::vector<int>{1}));
  sink.tables = {{"public.orders", {"missing"}}};
  plan = Router::PlanFor(sink, *rel);
  EXPECT_TRUE(plan.grouped) << "falls back to the primary key";
  EXPECT_TRUE(plan.group_columns.empty());
}

}  // namespace
}  // namespace sluice::app
