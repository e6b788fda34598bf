#include "delivery/ack_tracker.h"

#include <gtest/gtest.h>

namespace sluice::delivery {
namespace {

TEST(AckTracker, AdvancesOnlyPastFullyResolvedTransactions) {
  AckTracker acks(Lsn(10));
  auto t1 = acks.Begin(Lsn(100));
  acks.AddPending(t1, 2);
  acks.Commit(t1, Lsn(110));
  EXPECT_EQ(acks.Acknowledged(), Lsn(10));
  acks.Resolve(t1);
  EXPECT_EQ(acks.Acknowledged(), Lsn(10));
  acks.Resolve(t1);
  EXPECT_EQ(acks.Acknowledged(), Lsn(110));
}

TEST(AckTracker, LaterTransactionDoesNotPassAnEarlierPendingOne) {
  AckTracker acks;
  auto t1 = acks.Begin(Lsn(100));
  acks.AddPending(t1);
  acks.Commit(t1, Lsn(110));
  auto t2 = acks.Begin(Lsn(200));
  acks.AddPending(t2);
  acks.Commit(t2, Lsn(210));
  acks.Resolve(t2);
  EXPECT_EQ(acks.Acknowledged(), Lsn(0));
  acks.Resolve(t1);
  EXPECT_EQ(acks.Acknowledged(), Lsn(210));
}

TEST(AckTracker, UncommittedTransactionHoldsTheSlotEvenWhenResolved) {
  AckTracker acks;
  auto t1 = acks.Begin(Lsn(100));
  acks.AddPending(t1);
  acks.Resolve(t1);
  EXPECT_EQ(acks.Acknowledged(), Lsn(0));
  acks.Commit(t1, Lsn(120));
  EXPECT_EQ(acks.Acknowledged(), Lsn(120));
}

TEST(AckTracker, TransactionWithNoMessagesIsAcknowledgedAtCommit) {
  AckTracker acks;
  auto t1 = acks.Begin(Lsn(100));
  acks.Commit(t1, Lsn(130));
  EXPECT_EQ(acks.Acknowledged(), Lsn(130));
}

TEST(AckTracker, IdleAdvancesOnlyWhenNothingIsOutstanding) {
  AckTracker acks;
  auto t1 = acks.Begin(Lsn(100));
  acks.AddPending(t1);
  acks.Commit(t1, Lsn(110));
  acks.Idle(Lsn(500));
  EXPECT_EQ(acks.Acknowledged(), Lsn(0));
  acks.Resolve(t1);
  EXPECT_EQ(acks.Acknowledged(), Lsn(110));
  acks.Idle(Lsn(500));
  EXPECT_EQ(acks.Acknowledged(), Lsn(500));
  acks.Idle(Lsn(400));  // never moves backwards
  EXPECT_EQ(acks.Acknowledged(), Lsn(500));
}

TEST(AckTracker, AbandonedOpenTransactionNoLongerHoldsTheSlot) {
  AckTracker acks;
  auto t1 = acks.Begin(Lsn(100));
  acks.AddPending(t1);
  acks.Commit(t1, Lsn(110));
  acks.Resolve(t1);
  auto open = acks.Begin(Lsn(200));
  acks.AddPending(open);
  acks.AbandonOpen();
  EXPECT_EQ(acks.OutstandingTransactions(), 0u);
  // The replayed transaction gets a new ticket and must resolve on its own.
  auto replay = acks.Begin(Lsn(200));
  acks.AddPending(replay);
  acks.Commit(replay, Lsn(210));
  acks.Resolve(open);  // late outcome of the abandoned copy: harmless
  EXPECT_EQ(acks.Acknowledged(), Lsn(110));
  acks.Resolve(replay);
  EXPECT_EQ(acks.Acknowledged(), Lsn(210));
}

TEST(AckTracker, ReadPositionFollowsCommitsIdleAndTheSlotAndNeverGoesBack) {
  AckTracker acks;
  EXPECT_EQ(acks.ReadPosition(), Lsn(0));
  acks.AdvanceRead(Lsn(500));  // the slot's confirmed position at start
  EXPECT_EQ(acks.ReadPosition(), Lsn(500));
  auto t = acks.Begin(Lsn(600));
  acks.AddPending(t);
  EXPECT_EQ(acks.ReadPosition(), Lsn(500)) << "a transaction counts once its commit is seen";
  acks.Commit(t, Lsn(610));
  EXPECT_EQ(acks.ReadPosition(), Lsn(610));
  EXPECT_EQ(acks.Acknowledged(), Lsn(0)) << "read is not acknowledged";
  acks.Idle(Lsn(700));
  EXPECT_EQ(acks.ReadPosition(), Lsn(700));
  acks.AdvanceRead(Lsn(650));
  EXPECT_EQ(acks.ReadPosition(), Lsn(700));
}

}  // namespace
}  // namespace sluice::delivery
