// Dispatcher: per-group ordering and batching for one sink (SPEC §3).
//
// Messages of one group are put strictly one at a time in commit order: a
// group's head is "in flight" or "backing off" until its outcome is known,
// and nothing behind it is taken. Other groups keep flowing. Groups become
// ready in the order their heads became eligible, so old messages go first.
//
// Pure data structure: no threads, no clock (time is passed in). Not
// thread-safe; SinkRunner guards it with its mutex.
//
// Memory: a group is one hash-map node; its messages form an intrusive list,
// so a million waiting rows cost a million nodes, not a million deques.
// kOverheadPerMessage is what the caller should add to a message's
// memory_bytes for that bookkeeping.
#pragma once

#include <cstddef>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/clock.h"
#include "delivery/message.h"

namespace sluice::delivery {

class Dispatcher {
 public:
  // Hash-map node, key string and list links per queued message, rounded up.
  static constexpr size_t kOverheadPerMessage = 160;

  Dispatcher() = default;
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // Appends a message behind the others of its group. Takes ownership.
  void Enqueue(std::unique_ptr<Message> message);

  // Takes up to `max` messages, one per eligible group, oldest first, and
  // marks them in flight. Groups whose backoff expired by `now` are eligible.
  std::vector<Message*> TakeBatch(SteadyTime now, size_t max);

  // Outcomes of taken messages.
  // Delivered: removes the message and returns it (the caller resolves it).
  std::unique_ptr<Message> Delivered(Message* message);
  // Failed: the message stays at its group's head until `retry_at`.
  void Failed(Message* message, SteadyTime retry_at);
  // Not attempted (did not fit the request): back to ready, at the front.
  void Returned(Message* message);
  // Dropped for good (retries exhausted, discarded): removed and returned.
  std::unique_ptr<Message> Dropped(Message* message);

  // When the earliest backing-off group becomes eligible, if any.
  std::optional<SteadyTime> NextRetryTime() const;
  bool HasReady(SteadyTime now) const;

  size_t size() const { return size_; }
  size_t in_flight() const { return in_flight_; }
  size_t backing_off() const { return backoff_.size(); }
  size_t group_count() const { return groups_.size(); }

 private:
  enum class GroupState { kIdle, kReady, kInFlight, kBackoff };
  struct Group {
    Message* head = nullptr;  // owned: the list head..tail via next_in_group_
    Message* tail = nullptr;
    GroupState state = GroupState::kIdle;
    std::multimap<SteadyTime, Group*>::iterator backoff_it;
  };
  using GroupMap = std::unordered_map<std::string, Group>;

  GroupMap::iterator GroupOf(Message* message);
  // Unlinks the head (== message), then forgets the group if it is empty or
  // makes it ready for its next message.
  std::unique_ptr<Message> RemoveHead(GroupMap::iterator it);

  GroupMap groups_;  // node-based: Group* are stable
  std::deque<Group*> ready_;
  std::multimap<SteadyTime, Group*> backoff_;
  size_t size_ = 0;
  size_t in_flight_ = 0;
};

}  // namespace sluice::delivery
