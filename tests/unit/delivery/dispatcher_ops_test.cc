// Dispatcher operator actions (the API): finding a held message and its
// state, removing one from anywhere in its group, retrying a backing-off
// group now, and the visitors listings are built from.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "delivery/dispatcher.h"

namespace sluice::delivery {
namespace {

using std::chrono::hours;
using std::chrono::seconds;

const SteadyTime kT0{};

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

std::vector<uint64_t> Sorted(std::vector<uint64_t> ids) {
  std::sort(ids.begin(), ids.end());
  return ids;
}

// Takes and delivers every message that is ready now, batch after batch, and
// returns their ids in delivery order.
std::vector<uint64_t> DrainReady(Dispatcher& d, SteadyTime now) {
  std::vector<uint64_t> order;
  for (auto batch = d.TakeBatch(now, 100); !batch.empty(); batch = d.TakeBatch(now, 100)) {
    for (Message* m : batch) order.push_back(d.Delivered(m, now)->id);
  }
  return order;
}

Message* Located(Dispatcher& d, uint64_t id) {
  auto found = d.Find(id);
  return found ? found->message : nullptr;
}

TEST(DispatcherOps, FindTellsWhetherAMessageIsInFlightOrBackingOff) {
  Dispatcher d;
  d.Enqueue(Msg(1, "a"), kT0);
  d.Enqueue(Msg(2, "a"), kT0);
  d.Enqueue(Msg(3, "b"), kT0);

  auto waiting = d.Find(1);
  ASSERT_TRUE(waiting.has_value());
  EXPECT_EQ(waiting->message->id, 1u);
  EXPECT_FALSE(waiting->in_flight);
  EXPECT_FALSE(waiting->backing_off);

  auto batch = d.TakeBatch(kT0, 10);
  ASSERT_EQ(Ids(batch), (std::vector<uint64_t>{1, 3}));
  EXPECT_TRUE(d.Find(1)->in_flight);
  EXPECT_TRUE(d.Find(3)->in_flight);
  // Behind an in-flight head: neither in flight nor backing off.
  EXPECT_FALSE(d.Find(2)->in_flight);
  EXPECT_FALSE(d.Find(2)->backing_off);

  d.Failed(batch[0], kT0 + seconds(30));
  auto failed = d.Find(1);
  ASSERT_TRUE(failed.has_value());
  EXPECT_FALSE(failed->in_flight);
  EXPECT_TRUE(failed->backing_off);
  EXPECT_FALSE(d.Find(2)->backing_off) << "only the head backs off";

  d.Delivered(batch[1], kT0);
  EXPECT_FALSE(d.Find(3).has_value()) << "a delivered message is no longer held";
  EXPECT_FALSE(d.Find(99).has_value());
}

TEST(DispatcherOps, RemovingAReadyHeadLetsTheNextMessageOfItsGroupGo) {
  Dispatcher d;
  d.Enqueue(Msg(1, "a"), kT0);
  d.Enqueue(Msg(2, "a"), kT0);
  d.Enqueue(Msg(3, "b"), kT0);
  auto removed = d.Remove(Located(d, 1), kT0);
  ASSERT_NE(removed, nullptr);
  EXPECT_EQ(removed->id, 1u);
  EXPECT_EQ(d.size(), 2u);
  EXPECT_EQ(Sorted(Ids(d.TakeBatch(kT0, 10))), (std::vector<uint64_t>{2, 3}));
  EXPECT_EQ(d.in_flight(), 2u);
}

TEST(DispatcherOps, RemovingABackingOffHeadMakesTheNextMessageReadyAtOnce) {
  Dispatcher d;
  d.Enqueue(Msg(1, "a"), kT0);
  d.Enqueue(Msg(2, "a"), kT0);
  auto batch = d.TakeBatch(kT0, 10);
  ASSERT_EQ(Ids(batch), (std::vector<uint64_t>{1}));
  d.Failed(batch[0], kT0 + hours(1));
  ASSERT_TRUE(d.TakeBatch(kT0, 10).empty());

  auto removed = d.Remove(Located(d, 1), kT0 + seconds(1));
  EXPECT_EQ(removed->id, 1u);
  EXPECT_EQ(d.backing_off(), 0u);
  EXPECT_FALSE(d.NextRetryTime().has_value()) << "the removed head's retry time is forgotten";
  EXPECT_TRUE(d.HasReady(kT0 + seconds(1)));
  EXPECT_EQ(Ids(d.TakeBatch(kT0 + seconds(1), 10)), (std::vector<uint64_t>{2}));
}

TEST(DispatcherOps, RemovingTheLastMessageOfAGroupForgetsTheGroup) {
  Dispatcher d;
  d.Enqueue(Msg(1, "a"), kT0);
  d.Remove(Located(d, 1), kT0);
  EXPECT_EQ(d.size(), 0u);
  EXPECT_EQ(d.group_count(), 0u);
  EXPECT_EQ(d.KindOf("a"), Dispatcher::GroupKind::kNone);
  EXPECT_FALSE(d.HasReady(kT0));
  EXPECT_TRUE(d.TakeBatch(kT0, 10).empty());
  // The group starts afresh.
  d.Enqueue(Msg(2, "a"), kT0);
  EXPECT_EQ(Ids(d.TakeBatch(kT0, 10)), (std::vector<uint64_t>{2}));
}

TEST(DispatcherOps, RemovingFromTheMiddleAndTheTailKeepsTheRestInOrder) {
  Dispatcher d;
  for (uint64_t id = 1; id <= 4; ++id) d.Enqueue(Msg(id, "a"), kT0);
  EXPECT_EQ(d.Remove(Located(d, 3), kT0)->id, 3u);  // middle
  EXPECT_EQ(d.size(), 3u);
  EXPECT_EQ(d.Remove(Located(d, 4), kT0)->id, 4u);  // tail
  EXPECT_EQ(d.size(), 2u);
  // A new message goes behind the new tail (2), not behind a removed one.
  d.Enqueue(Msg(5, "a"), kT0);
  EXPECT_EQ(d.size(), 3u);
  std::vector<uint64_t> held;
  d.ForEachHeld([&](const Message& m, bool) { held.push_back(m.id); });
  EXPECT_EQ(held, (std::vector<uint64_t>{1, 2, 5}));
  EXPECT_EQ(DrainReady(d, kT0), (std::vector<uint64_t>{1, 2, 5}));
  EXPECT_EQ(d.size(), 0u);
}

TEST(DispatcherOps, RemovingBehindAnInFlightHeadLeavesTheHeadInFlight) {
  Dispatcher d;
  d.Enqueue(Msg(1, "a"), kT0);
  d.Enqueue(Msg(2, "a"), kT0);
  d.Enqueue(Msg(3, "a"), kT0);
  auto batch = d.TakeBatch(kT0, 10);
  ASSERT_EQ(Ids(batch), (std::vector<uint64_t>{1}));
  EXPECT_EQ(d.Remove(Located(d, 2), kT0)->id, 2u);
  EXPECT_EQ(d.in_flight(), 1u);
  EXPECT_TRUE(d.Find(1)->in_flight);
  EXPECT_TRUE(d.TakeBatch(kT0, 10).empty()) << "the group still waits for its head";
  d.Delivered(batch[0], kT0);
  EXPECT_EQ(DrainReady(d, kT0), (std::vector<uint64_t>{3}));
}

TEST(DispatcherOps, SpillAfterARemovalTakesWhatIsLeftOfTheGroupInOrder) {
  Dispatcher d;
  for (uint64_t id = 1; id <= 3; ++id) d.Enqueue(Msg(id, "a"), kT0);
  d.Enqueue(Msg(4, "b"), kT0);
  d.Remove(Located(d, 1), kT0);
  d.Remove(Located(d, 4), kT0);
  auto spilled = d.Spill(kT0 + seconds(1), 0, 100);
  std::vector<uint64_t> ids;
  for (auto& m : spilled) ids.push_back(m->id);
  EXPECT_EQ(ids, (std::vector<uint64_t>{2, 3}));
  EXPECT_EQ(d.size(), 0u);
  EXPECT_EQ(d.group_count(), 0u);
}

TEST(DispatcherOps, RetryNowMakesABackingOffGroupEligibleBeforeItsTime) {
  Dispatcher d;
  d.Enqueue(Msg(1, "a"), kT0);
  d.Enqueue(Msg(2, "a"), kT0);
  auto batch = d.TakeBatch(kT0, 10);
  d.Failed(batch[0], kT0 + hours(1));
  ASSERT_FALSE(d.HasReady(kT0 + seconds(1)));

  EXPECT_TRUE(d.RetryNow(Located(d, 1)));
  EXPECT_EQ(d.backing_off(), 0u);
  EXPECT_FALSE(d.NextRetryTime().has_value());
  EXPECT_TRUE(d.HasReady(kT0 + seconds(1)));
  EXPECT_EQ(Located(d, 1)->not_before, SteadyTime{}) << "no retry time left";
  // The same head (not the message behind it) is taken again, long before
  // its retry time.
  EXPECT_EQ(Ids(d.TakeBatch(kT0 + seconds(1), 10)), (std::vector<uint64_t>{1}));
}

TEST(DispatcherOps, RetriedHeadGoesBeforeGroupsThatBecameReadyLater) {
  Dispatcher d;
  d.Enqueue(Msg(1, "a"), kT0);
  auto batch = d.TakeBatch(kT0, 10);
  d.Failed(batch[0], kT0 + hours(1));
  d.Enqueue(Msg(2, "b"), kT0);
  ASSERT_TRUE(d.RetryNow(Located(d, 1)));
  EXPECT_EQ(Ids(d.TakeBatch(kT0, 1)), (std::vector<uint64_t>{1}));
  EXPECT_EQ(Ids(d.TakeBatch(kT0, 1)), (std::vector<uint64_t>{2}));
}

TEST(DispatcherOps, RetryNowIsFalseForAMessageThatIsNotBackingOff) {
  Dispatcher d;
  d.Enqueue(Msg(1, "a"), kT0);
  d.Enqueue(Msg(2, "a"), kT0);
  d.Enqueue(Msg(3, "b"), kT0);
  EXPECT_FALSE(d.RetryNow(Located(d, 1))) << "ready";
  EXPECT_FALSE(d.RetryNow(Located(d, 2))) << "not a head";
  auto batch = d.TakeBatch(kT0, 10);
  ASSERT_EQ(Ids(batch), (std::vector<uint64_t>{1, 3}));
  EXPECT_FALSE(d.RetryNow(Located(d, 1))) << "in flight";
  EXPECT_EQ(d.in_flight(), 2u);
  d.Failed(batch[0], kT0 + hours(1));
  EXPECT_FALSE(d.RetryNow(Located(d, 2))) << "behind a backing-off head";
  EXPECT_EQ(d.backing_off(), 1u);
  EXPECT_FALSE(d.HasReady(kT0));
}

TEST(DispatcherOps, ForEachHeldFlagsOnlyTakenHeadsAndForEachHeadVisitsOnePerGroup) {
  Dispatcher d;
  d.Enqueue(Msg(1, "a"), kT0);
  d.Enqueue(Msg(2, "a"), kT0);
  d.Enqueue(Msg(3, "b"), kT0);
  d.Enqueue(Msg(4, "c"), kT0);
  auto batch = d.TakeBatch(kT0, 2);  // 1 and 3
  ASSERT_EQ(Ids(batch), (std::vector<uint64_t>{1, 3}));
  d.Failed(batch[1], kT0 + hours(1));  // 3 backs off: not in flight

  std::vector<uint64_t> in_flight, waiting;
  d.ForEachHeld(
      [&](const Message& m, bool flying) { (flying ? in_flight : waiting).push_back(m.id); });
  EXPECT_EQ(Sorted(in_flight), (std::vector<uint64_t>{1}));
  EXPECT_EQ(Sorted(waiting), (std::vector<uint64_t>{2, 3, 4}));

  std::vector<uint64_t> heads;
  d.ForEachHead([&](const Message& m) { heads.push_back(m.id); });
  EXPECT_EQ(Sorted(heads), (std::vector<uint64_t>{1, 3, 4}));
}

}  // namespace
}  // namespace sluice::delivery
