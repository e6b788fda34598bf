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
//
// Spilling (SPEC §4): groups of messages read from the slot are also kept in
// order of their last progress (created, or head delivered/dropped). Spill()
// takes whole groups from the front of that order, oldest progress first, so
// the SinkRunner can write them to the local store. A group with a message in
// flight is never spilled (its outcome decides what comes next). Groups of
// messages loaded back from the store (Message::stored) are not spilled: they
// are already there.
#pragma once

#include <cstddef>
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

  // What a held message costs: itself, its change, its keys and bookkeeping.
  static size_t MemoryBytes(const Message& m) {
    return sizeof(Message) + m.change.ByteSize() + 2 * m.group.size() + m.partition_key.size() +
           kOverheadPerMessage;
  }

  Dispatcher() = default;
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // Appends a message behind the others of its group. Takes ownership. A
  // group holds either messages from the slot or messages loaded from the
  // store (Message::stored), never both: the caller keeps them apart.
  void Enqueue(std::unique_ptr<Message> message, SteadyTime now);

  // Takes up to `max` messages, one per eligible group, oldest first, and
  // marks them in flight. Groups whose backoff expired by `now` are eligible.
  std::vector<Message*> TakeBatch(SteadyTime now, size_t max);

  // Outcomes of taken messages.
  // Delivered: removes the message and returns it (the caller resolves it).
  std::unique_ptr<Message> Delivered(Message* message, SteadyTime now);
  // Failed: the message stays at its group's head until `retry_at`.
  void Failed(Message* message, SteadyTime retry_at);
  // Not attempted (did not fit the request): back to ready, at the front.
  void Returned(Message* message);
  // Dropped for good (retries exhausted, discarded): removed and returned.
  std::unique_ptr<Message> Dropped(Message* message, SteadyTime now);

  // Removes whole groups of slot messages (not in flight, not stored), from
  // the one with the oldest progress, while a group's progress is at or
  // before `older_than` or fewer than `min_bytes` (memory_bytes) were taken,
  // up to about `max_messages` (a group is never split). Returns them in group
  // order, each group's messages in commit order.
  std::vector<std::unique_ptr<Message>> Spill(SteadyTime older_than, size_t min_bytes,
                                              size_t max_messages);
  // Every slot group not in flight whose head has failed at least once.
  std::vector<std::unique_ptr<Message>> SpillFailed();
  // Like Spill, but only groups backing off (their head failed).
  std::vector<std::unique_ptr<Message>> SpillBackingOff(SteadyTime older_than, size_t max_messages);

  // Whether a group has messages here, and if so whether they are stored ones.
  enum class GroupKind { kNone, kSlot, kStored };
  GroupKind KindOf(const std::string& group) const;

  // Visits every held message (for listings and shutdown), in no set order.
  template <typename F>
  void ForEach(F&& f) const {
    for (const auto& [key, group] : groups_)
      for (const Message* m = group.head; m != nullptr; m = m->next_in_group_) f(*m);
  }
  // Visits every held message with whether it is in flight now.
  template <typename F>
  void ForEachHeld(F&& f) const {
    for (const auto& [key, group] : groups_) {
      bool head = true;
      for (const Message* m = group.head; m != nullptr; m = m->next_in_group_) {
        f(*m, head && group.state == GroupState::kInFlight);
        head = false;
      }
    }
  }
  // Visits the head of every group (the oldest message of each).
  template <typename F>
  void ForEachHead(F&& f) const {
    for (const auto& [key, group] : groups_) f(*group.head);
  }

  // Operator actions (the API). O(held messages) to find a message by id.
  struct Located {
    Message* message = nullptr;
    bool in_flight = false;
    bool backing_off = false;  // the head of a group waiting for its retry time
  };
  std::optional<Located> Find(uint64_t id);
  // Removes a message that is not in flight from anywhere in its group and
  // returns it; the group goes on with the next one (made ready if it was
  // the head).
  std::unique_ptr<Message> Remove(Message* message, SteadyTime now);
  // A backing-off head becomes eligible now; false if it was not backing off.
  bool RetryNow(Message* head);

  // When the earliest backing-off group becomes eligible, if any.
  std::optional<SteadyTime> NextRetryTime() const;
  bool HasReady(SteadyTime now) const;

  size_t size() const { return size_; }
  // Groups ready to be taken now (not counting backoffs that expired).
  size_t ready_count() const { return ready_count_; }
  // Messages waiting behind their group's head.
  size_t queued_behind_heads() const { return size_ - groups_.size(); }
  size_t in_flight() const { return in_flight_; }
  size_t backing_off() const { return backoff_.size(); }
  size_t group_count() const { return groups_.size(); }

 private:
  enum class GroupState { kIdle, kReady, kInFlight, kBackoff };
  struct Group;
  struct Links {
    Group* prev = nullptr;
    Group* next = nullptr;
  };
  // An intrusive doubly-linked list of groups through one of their Links:
  // O(1) removal from the middle (spilling, dropping), no allocation.
  template <Links Group::*L>
  class GroupList {
   public:
    Group* front() const { return first_; }
    bool empty() const { return first_ == nullptr; }
    void PushBack(Group* g);
    void PushFront(Group* g);
    void Remove(Group* g);
    static Group* Next(const Group* g) { return (g->*L).next; }

   private:
    Group* first_ = nullptr;
    Group* last_ = nullptr;
  };
  struct Group {
    Message* head = nullptr;  // owned: the list head..tail via next_in_group_
    Message* tail = nullptr;
    GroupState state = GroupState::kIdle;
    std::multimap<SteadyTime, Group*>::iterator backoff_it;
    bool stored = false;    // holds messages loaded from the store
    SteadyTime progress{};  // created, or head last removed
    Links ready;            // in ready_ while kReady
    Links age;              // in by_progress_ (slot groups only)
  };
  using GroupMap = std::unordered_map<std::string, Group>;

  GroupMap::iterator GroupOf(Message* message);
  // The group of `key`, new (idle, empty) when there is none; `created` says which.
  GroupMap::iterator FindOrAddGroup(const std::string& key, bool* created);
  // Drops a group from the map, keeping its node for a later group.
  void ForgetGroup(GroupMap::iterator it);
  // Unlinks the head (== message), then forgets the group if it is empty or
  // makes it ready for its next message.
  std::unique_ptr<Message> RemoveHead(GroupMap::iterator it, SteadyTime now);
  // Takes a group out of the ready queue or the backoff map, if in one.
  void Unschedule(Group* group);
  // Moves every message of a slot group not in flight to `out`; forgets it.
  size_t TakeGroup(Group* group, std::vector<std::unique_ptr<Message>>* out);

  GroupMap groups_;  // node-based: Group* are stable
  // Map nodes of forgotten groups, reused for new ones: when keys rarely
  // repeat a group lives for one message, and its node and key string would
  // otherwise be allocated and freed per message.
  std::vector<GroupMap::node_type> spare_nodes_;
  static constexpr size_t kSpareNodes = 1024;
  GroupList<&Group::ready> ready_;
  size_t ready_count_ = 0;
  std::multimap<SteadyTime, Group*> backoff_;
  GroupList<&Group::age> by_progress_;  // slot groups, oldest progress first
  size_t size_ = 0;
  size_t in_flight_ = 0;
};

}  // namespace sluice::delivery
