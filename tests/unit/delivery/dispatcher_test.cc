#include "delivery/dispatcher.h"

#include <gtest/gtest.h>

namespace sluice::delivery {
namespace {

using std::chrono::seconds;

std::unique_ptr<Message> Msg(uint64_t id, const std::string& group) {
  auto m = std::make_unique<Message>();
  m->id = id;
  m->group = group;
  return m;
}

std::vector<uint64_t> Ids(const std::vector<Message*>& batch) {
  std::vector<uint64_t> ids;
  for (auto* m : batch) ids.push_back(m->id);
  return ids;
}

const SteadyTime kT0{};

TEST(Dispatcher, TakesOneMessagePerGroupInArrivalOrder) {
  Dispatcher d;
  d.Enqueue(Msg(1, "a"), kT0);
  d.Enqueue(Msg(2, "a"), kT0);
  d.Enqueue(Msg(3, "b"), kT0);
  auto batch = d.TakeBatch(kT0, 10);
  EXPECT_EQ(Ids(batch), (std::vector<uint64_t>{1, 3}));
  EXPECT_EQ(d.in_flight(), 2u);
  // Nothing else is eligible while both groups are in flight.
  EXPECT_TRUE(d.TakeBatch(kT0, 10).empty());
}

TEST(Dispatcher, NextMessageOfGroupBecomesEligibleOnlyAfterDelivery) {
  Dispatcher d;
  d.Enqueue(Msg(1, "a"), kT0);
  d.Enqueue(Msg(2, "a"), kT0);
  auto batch = d.TakeBatch(kT0, 10);
  ASSERT_EQ(Ids(batch), (std::vector<uint64_t>{1}));
  auto done = d.Delivered(batch[0], kT0);
  EXPECT_EQ(done->id, 1u);
  EXPECT_EQ(Ids(d.TakeBatch(kT0, 10)), (std::vector<uint64_t>{2}));
}

// A finished group's map node is reused for the next new group: the new
// group must start idle and empty, with nothing of the old one's state (a
// longer key first, so the reused key string shrinks).
TEST(Dispatcher, AGroupMadeFromAForgottenOnesNodeStartsFresh) {
  Dispatcher d;
  d.Enqueue(Msg(1, "public.orders:a-long-key-that-is-not-inline"), kT0);
  auto first = d.TakeBatch(kT0, 10);
  ASSERT_EQ(Ids(first), (std::vector<uint64_t>{1}));
  d.Failed(first[0], kT0 + seconds(5));
  ASSERT_EQ(Ids(d.TakeBatch(kT0 + seconds(5), 10)), (std::vector<uint64_t>{1}));
  d.Delivered(first[0], kT0 + seconds(5));
  EXPECT_EQ(d.group_count(), 0u);
  EXPECT_FALSE(d.NextRetryTime().has_value());

  d.Enqueue(Msg(2, "b"), kT0 + seconds(6));
  d.Enqueue(Msg(3, "b"), kT0 + seconds(6));
  d.Enqueue(Msg(4, "public.orders:a-long-key-that-is-not-inline"), kT0 + seconds(6));
  EXPECT_EQ(d.group_count(), 2u);
  EXPECT_EQ(d.size(), 3u);
  auto batch = d.TakeBatch(kT0 + seconds(6), 10);
  EXPECT_EQ(Ids(batch), (std::vector<uint64_t>{2, 4}));
  EXPECT_EQ(batch[0]->group, "b");
  d.Delivered(batch[0], kT0 + seconds(6));
  EXPECT_EQ(Ids(d.TakeBatch(kT0 + seconds(6), 10)), (std::vector<uint64_t>{3}));
}

TEST(Dispatcher, FailedMessageBlocksOnlyItsGroupUntilRetryTime) {
  Dispatcher d;
  d.Enqueue(Msg(1, "a"), kT0);
  d.Enqueue(Msg(2, "a"), kT0);
  d.Enqueue(Msg(3, "b"), kT0);
  d.Enqueue(Msg(4, "b"), kT0);
  auto batch = d.TakeBatch(kT0, 10);
  ASSERT_EQ(Ids(batch), (std::vector<uint64_t>{1, 3}));
  d.Failed(batch[0], kT0 + seconds(5));
  d.Delivered(batch[1], kT0);
  // Group b flows; group a waits behind message 1.
  EXPECT_EQ(Ids(d.TakeBatch(kT0 + seconds(1), 10)), (std::vector<uint64_t>{4}));
  EXPECT_EQ(d.NextRetryTime(), kT0 + seconds(5));
  EXPECT_FALSE(d.HasReady(kT0 + seconds(4)));
  // At the retry time the same message (not 2) is taken again.
  EXPECT_EQ(Ids(d.TakeBatch(kT0 + seconds(5), 10)), (std::vector<uint64_t>{1}));
}

TEST(Dispatcher, BatchRespectsMaximumAndKeepsTheRestReady) {
  Dispatcher d;
  for (uint64_t i = 1; i <= 5; ++i) d.Enqueue(Msg(i, "g" + std::to_string(i)), kT0);
  EXPECT_EQ(Ids(d.TakeBatch(kT0, 2)), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(Ids(d.TakeBatch(kT0, 2)), (std::vector<uint64_t>{3, 4}));
  EXPECT_EQ(Ids(d.TakeBatch(kT0, 2)), (std::vector<uint64_t>{5}));
}

TEST(Dispatcher, ReturnedMessageGoesFirstInTheNextBatch) {
  Dispatcher d;
  d.Enqueue(Msg(1, "a"), kT0);
  d.Enqueue(Msg(2, "b"), kT0);
  d.Enqueue(Msg(3, "c"), kT0);
  auto batch = d.TakeBatch(kT0, 2);
  d.Returned(batch[1]);
  EXPECT_EQ(Ids(d.TakeBatch(kT0, 10)), (std::vector<uint64_t>{2, 3}));
}

TEST(Dispatcher, DroppedMessageLetsItsGroupMoveOn) {
  Dispatcher d;
  d.Enqueue(Msg(1, "a"), kT0);
  d.Enqueue(Msg(2, "a"), kT0);
  auto batch = d.TakeBatch(kT0, 10);
  d.Failed(batch[0], kT0 + seconds(100));
  auto dropped = d.Dropped(batch[0], kT0);
  EXPECT_EQ(dropped->id, 1u);
  EXPECT_EQ(d.backing_off(), 0u);
  EXPECT_EQ(Ids(d.TakeBatch(kT0, 10)), (std::vector<uint64_t>{2}));
}

TEST(Dispatcher, EmptyGroupsAreForgotten) {
  Dispatcher d;
  d.Enqueue(Msg(1, "a"), kT0);
  auto batch = d.TakeBatch(kT0, 10);
  d.Delivered(batch[0], kT0);
  EXPECT_EQ(d.size(), 0u);
  EXPECT_EQ(d.group_count(), 0u);
  // A group can come back after being forgotten.
  d.Enqueue(Msg(2, "a"), kT0);
  EXPECT_EQ(Ids(d.TakeBatch(kT0, 10)), (std::vector<uint64_t>{2}));
}

TEST(Dispatcher, KeepsCommitOrderWithinEveryGroupUnderRandomOutcomes) {
  Dispatcher d;
  const int kGroups = 7, kPerGroup = 40;
  uint64_t id = 0;
  for (int i = 0; i < kPerGroup; ++i)
    for (int g = 0; g < kGroups; ++g) d.Enqueue(Msg(++id, "g" + std::to_string(g)), kT0);
  std::map<std::string, uint64_t> last_delivered;
  SteadyTime now = kT0;
  uint32_t rng = 12345;
  size_t delivered = 0;
  while (delivered < id) {
    now += seconds(1);
    auto batch = d.TakeBatch(now, 5);
    for (auto* m : batch) {
      rng = rng * 1103515245 + 12345;
      if ((rng >> 16) % 3 == 0) {
        d.Failed(m, now + seconds(2));
      } else {
        auto owned = d.Delivered(m, now);
        EXPECT_GT(owned->id, last_delivered[owned->group]) << "group " << owned->group;
        last_delivered[owned->group] = owned->id;
        ++delivered;
      }
    }
  }
  EXPECT_EQ(d.size(), 0u);
}

std::vector<uint64_t> Ids(const std::vector<std::unique_ptr<Message>>& messages) {
  std::vector<uint64_t> ids;
  for (const auto& m : messages) ids.push_back(m->id);
  return ids;
}

TEST(Dispatcher, SpillTakesWholeGroupsWithoutProgressOldestFirst) {
  Dispatcher d;
  d.Enqueue(Msg(1, "a"), kT0);
  d.Enqueue(Msg(2, "b"), kT0 + seconds(1));
  d.Enqueue(Msg(3, "a"), kT0 + seconds(2));
  d.Enqueue(Msg(4, "c"), kT0 + seconds(5));
  // "a" and "b" have made no progress since t=1; "c" is younger.
  auto spilled = d.Spill(kT0 + seconds(1), 0, 100);
  EXPECT_EQ(Ids(spilled), (std::vector<uint64_t>{1, 3, 2}));
  EXPECT_EQ(d.size(), 1u);
  EXPECT_EQ(d.KindOf("a"), Dispatcher::GroupKind::kNone);
  EXPECT_EQ(d.KindOf("c"), Dispatcher::GroupKind::kSlot);
  EXPECT_EQ(Ids(d.TakeBatch(kT0 + seconds(6), 10)), (std::vector<uint64_t>{4}));
}

// Spilled groups' nodes are reused too: a stored group made from a spilled
// slot group's node is a stored group, and is not spilled with slot groups.
TEST(Dispatcher, GroupsMadeFromSpilledGroupsNodesKeepTheirOwnKind) {
  Dispatcher d;
  d.Enqueue(Msg(1, "a"), kT0);
  d.Enqueue(Msg(2, "a"), kT0);
  d.Enqueue(Msg(3, "b"), kT0);
  ASSERT_EQ(Ids(d.Spill(kT0 + seconds(1), 0, 100)), (std::vector<uint64_t>{1, 2, 3}));
  auto stored = Msg(4, "s");
  stored->stored = true;
  d.Enqueue(std::move(stored), kT0 + seconds(2));
  d.Enqueue(Msg(5, "a"), kT0 + seconds(2));
  EXPECT_EQ(d.KindOf("s"), Dispatcher::GroupKind::kStored);
  EXPECT_EQ(d.KindOf("a"), Dispatcher::GroupKind::kSlot);
  EXPECT_EQ(d.KindOf("b"), Dispatcher::GroupKind::kNone);
  EXPECT_EQ(Ids(d.Spill(kT0 + seconds(9), 0, 100)), (std::vector<uint64_t>{5}));
  EXPECT_EQ(Ids(d.TakeBatch(kT0 + seconds(9), 10)), (std::vector<uint64_t>{4}));
}

TEST(Dispatcher, SpillNeverTakesAGroupInFlightNorStoredOnes) {
  Dispatcher d;
  d.Enqueue(Msg(1, "a"), kT0);
  d.Enqueue(Msg(2, "a"), kT0);
  auto stored = Msg(3, "s");
  stored->stored = true;
  d.Enqueue(std::move(stored), kT0);
  auto batch = d.TakeBatch(kT0, 1);  // "a" in flight
  ASSERT_EQ(Ids(batch), (std::vector<uint64_t>{1}));
  EXPECT_TRUE(d.Spill(kT0 + seconds(9), 1 << 20, 100).empty());
  EXPECT_EQ(d.KindOf("s"), Dispatcher::GroupKind::kStored);
  // Once its head is delivered, the group counts as having progressed now.
  d.Delivered(batch[0], kT0 + seconds(10));
  EXPECT_TRUE(d.Spill(kT0 + seconds(9), 0, 100).empty());
  EXPECT_EQ(Ids(d.Spill(kT0 + seconds(10), 0, 100)), (std::vector<uint64_t>{2}));
}

TEST(Dispatcher, SpillTakesBackingOffGroupsAndForgetsTheirRetry) {
  Dispatcher d;
  d.Enqueue(Msg(1, "a"), kT0);
  d.Enqueue(Msg(2, "a"), kT0);
  auto batch = d.TakeBatch(kT0, 10);
  d.Failed(batch[0], kT0 + seconds(30));
  EXPECT_EQ(d.backing_off(), 1u);
  EXPECT_EQ(Ids(d.Spill(kT0, 0, 100)), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(d.backing_off(), 0u);
  EXPECT_FALSE(d.NextRetryTime().has_value());
  EXPECT_EQ(d.size(), 0u);
}

TEST(Dispatcher, SpillForMemoryTakesOldestGroupsUntilEnoughBytes) {
  Dispatcher d;
  for (uint64_t i = 1; i <= 4; ++i) {
    auto m = Msg(i, "g" + std::to_string(i));
    m->memory_bytes = 100;
    d.Enqueue(std::move(m), kT0 + seconds(static_cast<int>(i)));
  }
  // Nothing is old enough, but 250 bytes are wanted: three groups go.
  EXPECT_EQ(Ids(d.Spill(kT0, 250, 100)), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(d.size(), 1u);
}

TEST(Dispatcher, ReadyGroupsStayInOrderAfterSpillingFromTheMiddle) {
  Dispatcher d;
  d.Enqueue(Msg(1, "a"), kT0);
  d.Enqueue(Msg(2, "b"), kT0);
  d.Enqueue(Msg(3, "c"), kT0 + seconds(2));
  d.Enqueue(Msg(4, "d"), kT0 + seconds(2));
  auto batch = d.TakeBatch(kT0, 1);  // "a" in flight, then returned to the front
  EXPECT_EQ(Ids(d.Spill(kT0, 0, 100)), (std::vector<uint64_t>{2}));
  d.Returned(batch[0]);
  EXPECT_EQ(Ids(d.TakeBatch(kT0, 10)), (std::vector<uint64_t>{1, 3, 4}));
}

TEST(Dispatcher, SpillFailedTakesGroupsWhoseHeadFailedWhateverTheirAge) {
  Dispatcher d;
  d.Enqueue(Msg(1, "a"), kT0);
  d.Enqueue(Msg(2, "a"), kT0);
  d.Enqueue(Msg(3, "b"), kT0);
  d.Enqueue(Msg(4, "c"), kT0);
  auto batch = d.TakeBatch(kT0, 10);  // a, b, c in flight
  batch[0]->deliver_count = 1;
  d.Failed(batch[0], kT0 + seconds(60));  // "a" backs off
  batch[1]->deliver_count = 1;
  d.Returned(batch[1]);  // "b" failed once and is ready again; "c" stays in flight
  EXPECT_EQ(Ids(d.SpillFailed()), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(d.size(), 1u);
  EXPECT_EQ(d.KindOf("c"), Dispatcher::GroupKind::kSlot);
}

}  // namespace
}  // namespace sluice::delivery
