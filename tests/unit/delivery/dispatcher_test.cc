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
  d.Enqueue(Msg(1, "a"));
  d.Enqueue(Msg(2, "a"));
  d.Enqueue(Msg(3, "b"));
  auto batch = d.TakeBatch(kT0, 10);
  EXPECT_EQ(Ids(batch), (std::vector<uint64_t>{1, 3}));
  EXPECT_EQ(d.in_flight(), 2u);
  // Nothing else is eligible while both groups are in flight.
  EXPECT_TRUE(d.TakeBatch(kT0, 10).empty());
}

TEST(Dispatcher, NextMessageOfGroupBecomesEligibleOnlyAfterDelivery) {
  Dispatcher d;
  d.Enqueue(Msg(1, "a"));
  d.Enqueue(Msg(2, "a"));
  auto batch = d.TakeBatch(kT0, 10);
  ASSERT_EQ(Ids(batch), (std::vector<uint64_t>{1}));
  auto done = d.Delivered(batch[0]);
  EXPECT_EQ(done->id, 1u);
  EXPECT_EQ(Ids(d.TakeBatch(kT0, 10)), (std::vector<uint64_t>{2}));
}

TEST(Dispatcher, FailedMessageBlocksOnlyItsGroupUntilRetryTime) {
  Dispatcher d;
  d.Enqueue(Msg(1, "a"));
  d.Enqueue(Msg(2, "a"));
  d.Enqueue(Msg(3, "b"));
  d.Enqueue(Msg(4, "b"));
  auto batch = d.TakeBatch(kT0, 10);
  ASSERT_EQ(Ids(batch), (std::vector<uint64_t>{1, 3}));
  d.Failed(batch[0], kT0 + seconds(5));
  d.Delivered(batch[1]);
  // Group b flows; group a waits behind message 1.
  EXPECT_EQ(Ids(d.TakeBatch(kT0 + seconds(1), 10)), (std::vector<uint64_t>{4}));
  EXPECT_EQ(d.NextRetryTime(), kT0 + seconds(5));
  EXPECT_FALSE(d.HasReady(kT0 + seconds(4)));
  // At the retry time the same message (not 2) is taken again.
  EXPECT_EQ(Ids(d.TakeBatch(kT0 + seconds(5), 10)), (std::vector<uint64_t>{1}));
}

TEST(Dispatcher, BatchRespectsMaximumAndKeepsTheRestReady) {
  Dispatcher d;
  for (uint64_t i = 1; i <= 5; ++i) d.Enqueue(Msg(i, "g" + std::to_string(i)));
  EXPECT_EQ(Ids(d.TakeBatch(kT0, 2)), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(Ids(d.TakeBatch(kT0, 2)), (std::vector<uint64_t>{3, 4}));
  EXPECT_EQ(Ids(d.TakeBatch(kT0, 2)), (std::vector<uint64_t>{5}));
}

TEST(Dispatcher, ReturnedMessageGoesFirstInTheNextBatch) {
  Dispatcher d;
  d.Enqueue(Msg(1, "a"));
  d.Enqueue(Msg(2, "b"));
  d.Enqueue(Msg(3, "c"));
  auto batch = d.TakeBatch(kT0, 2);
  d.Returned(batch[1]);
  EXPECT_EQ(Ids(d.TakeBatch(kT0, 10)), (std::vector<uint64_t>{2, 3}));
}

TEST(Dispatcher, DroppedMessageLetsItsGroupMoveOn) {
  Dispatcher d;
  d.Enqueue(Msg(1, "a"));
  d.Enqueue(Msg(2, "a"));
  auto batch = d.TakeBatch(kT0, 10);
  d.Failed(batch[0], kT0 + seconds(100));
  auto dropped = d.Dropped(batch[0]);
  EXPECT_EQ(dropped->id, 1u);
  EXPECT_EQ(d.backing_off(), 0u);
  EXPECT_EQ(Ids(d.TakeBatch(kT0, 10)), (std::vector<uint64_t>{2}));
}

TEST(Dispatcher, EmptyGroupsAreForgotten) {
  Dispatcher d;
  d.Enqueue(Msg(1, "a"));
  auto batch = d.TakeBatch(kT0, 10);
  d.Delivered(batch[0]);
  EXPECT_EQ(d.size(), 0u);
  EXPECT_EQ(d.group_count(), 0u);
  // A group can come back after being forgotten.
  d.Enqueue(Msg(2, "a"));
  EXPECT_EQ(Ids(d.TakeBatch(kT0, 10)), (std::vector<uint64_t>{2}));
}

TEST(Dispatcher, KeepsCommitOrderWithinEveryGroupUnderRandomOutcomes) {
  Dispatcher d;
  const int kGroups = 7, kPerGroup = 40;
  uint64_t id = 0;
  for (int i = 0; i < kPerGroup; ++i)
    for (int g = 0; g < kGroups; ++g) d.Enqueue(Msg(++id, "g" + std::to_string(g)));
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
        auto owned = d.Delivered(m);
        EXPECT_GT(owned->id, last_delivered[owned->group]) << "group " << owned->group;
        last_delivered[owned->group] = owned->id;
        ++delivered;
      }
    }
  }
  EXPECT_EQ(d.size(), 0u);
}

}  // namespace
}  // namespace sluice::delivery
