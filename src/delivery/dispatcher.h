// Dispatcher: per-group ordering and batching for one sink (SPEC §3).
//
// Messages of one group are put strictly one at a time in commit order: a
// group's head is "in flight" or "backing off" until its outcome is known,
// and nothing behind it is taken. Other groups keep flowing. Groups become
// ready in the order their heads became eligible, so old messages go first.
//
// Pure data structure: no threads, no clock (time is passed in). Not
// thread-safe; SinkRunner guards it with its mutex.
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
    std::string key;
    std::deque<std::unique_ptr<Message>> queue;
    GroupState state = GroupState::kIdle;
    std::multimap<SteadyTime, Group*>::iterator backoff_it;
  };

  Group& GroupOf(Message* message);
  std::unique_ptr<Message> PopHead(Group& group, Message* message);
  void AfterHeadRemoved(Group& group);

  std::unordered_map<std::string, Group> groups_;  // node-based: Group* are stable
  std::deque<Group*> ready_;
  std::multimap<SteadyTime, Group*> backoff_;
  size_t size_ = 0;
  size_t in_flight_ = 0;
};

}  // namespace sluice::delivery
