#include "delivery/dispatcher.h"

#include <algorithm>
#include <cassert>

namespace sluice::delivery {

template <Dispatcher::Links Dispatcher::Group::*L>
void Dispatcher::GroupList<L>::PushBack(Group* g) {
  (g->*L).prev = last_;
  (g->*L).next = nullptr;
  (last_ != nullptr ? (last_->*L).next : first_) = g;
  last_ = g;
}

template <Dispatcher::Links Dispatcher::Group::*L>
void Dispatcher::GroupList<L>::PushFront(Group* g) {
  (g->*L).prev = nullptr;
  (g->*L).next = first_;
  (first_ != nullptr ? (first_->*L).prev : last_) = g;
  first_ = g;
}

template <Dispatcher::Links Dispatcher::Group::*L>
void Dispatcher::GroupList<L>::Remove(Group* g) {
  Links& links = g->*L;
  (links.prev != nullptr ? (links.prev->*L).next : first_) = links.next;
  (links.next != nullptr ? (links.next->*L).prev : last_) = links.prev;
  links.prev = links.next = nullptr;
}

Dispatcher::~Dispatcher() {
  for (auto& [key, group] : groups_) {
    for (Message* m = group.head; m != nullptr;) {
      Message* next = m->next_in_group_;
      delete m;
      m = next;
    }
  }
}

Dispatcher::GroupMap::iterator Dispatcher::FindOrAddGroup(const std::string& key, bool* created) {
  auto it = groups_.find(key);
  *created = it == groups_.end();
  if (!*created) return it;
  if (spare_nodes_.empty()) return groups_.try_emplace(key).first;
  GroupMap::node_type node = std::move(spare_nodes_.back());
  spare_nodes_.pop_back();
  node.key() = key;  // into the old key's capacity
  node.mapped() = Group{};
  return groups_.insert(std::move(node)).position;
}

void Dispatcher::ForgetGroup(GroupMap::iterator it) {
  if (spare_nodes_.size() < kSpareNodes) {
    spare_nodes_.push_back(groups_.extract(it));
  } else {
    groups_.erase(it);
  }
}

void Dispatcher::Enqueue(std::unique_ptr<Message> message, SteadyTime now) {
  bool created = false;
  auto it = FindOrAddGroup(message->group, &created);
  Group& group = it->second;
  if (created) {
    group.stored = message->stored;
    group.progress = now;
    if (!group.stored) by_progress_.PushBack(&group);
  }
  assert(group.stored == message->stored);
  Message* m = message.release();
  m->next_in_group_ = nullptr;
  if (group.tail != nullptr) {
    group.tail->next_in_group_ = m;
  } else {
    group.head = m;
  }
  group.tail = m;
  ++size_;
  if (group.state == GroupState::kIdle) {
    group.state = GroupState::kReady;
    ready_.PushBack(&group);
    ++ready_count_;
  }
}

std::vector<Message*> Dispatcher::TakeBatch(SteadyTime now, size_t max) {
  // Groups whose backoff is over join the ready queue behind those waiting.
  while (!backoff_.empty() && backoff_.begin()->first <= now) {
    Group* group = backoff_.begin()->second;
    backoff_.erase(backoff_.begin());
    group->state = GroupState::kReady;
    ready_.PushBack(group);
    ++ready_count_;
  }
  std::vector<Message*> batch;
  batch.reserve(std::min(max, ready_count_));
  while (batch.size() < max && !ready_.empty()) {
    Group* group = ready_.front();
    ready_.Remove(group);
    --ready_count_;
    assert(group->state == GroupState::kReady && group->head != nullptr);
    group->state = GroupState::kInFlight;
    batch.push_back(group->head);
    ++in_flight_;
  }
  return batch;
}

Dispatcher::GroupMap::iterator Dispatcher::GroupOf(Message* message) {
  auto it = groups_.find(message->group);
  assert(it != groups_.end());
  assert(it->second.head == message);
  return it;
}

void Dispatcher::Unschedule(Group* group) {
  if (group->state == GroupState::kBackoff) backoff_.erase(group->backoff_it);
  if (group->state == GroupState::kReady) {
    ready_.Remove(group);
    --ready_count_;
  }
  if (group->state == GroupState::kInFlight) --in_flight_;
  group->state = GroupState::kIdle;
}

std::unique_ptr<Message> Dispatcher::RemoveHead(GroupMap::iterator it, SteadyTime now) {
  Group& group = it->second;
  std::unique_ptr<Message> owned(group.head);
  group.head = owned->next_in_group_;
  owned->next_in_group_ = nullptr;
  --size_;
  if (!group.stored) by_progress_.Remove(&group);
  if (group.head == nullptr) {
    ForgetGroup(it);
  } else {
    group.state = GroupState::kReady;
    ready_.PushBack(&group);
    ++ready_count_;
    group.progress = now;
    if (!group.stored) by_progress_.PushBack(&group);
  }
  return owned;
}

std::unique_ptr<Message> Dispatcher::Delivered(Message* message, SteadyTime now) {
  auto it = GroupOf(message);
  assert(it->second.state == GroupState::kInFlight);
  Unschedule(&it->second);
  return RemoveHead(it, now);
}

std::unique_ptr<Message> Dispatcher::Dropped(Message* message, SteadyTime now) {
  auto it = GroupOf(message);
  Unschedule(&it->second);
  return RemoveHead(it, now);
}

void Dispatcher::Failed(Message* message, SteadyTime retry_at) {
  Group& group = GroupOf(message)->second;
  assert(group.state == GroupState::kInFlight);
  --in_flight_;
  message->not_before = retry_at;
  group.state = GroupState::kBackoff;
  group.backoff_it = backoff_.emplace(retry_at, &group);
}

void Dispatcher::Returned(Message* message) {
  Group& group = GroupOf(message)->second;
  assert(group.state == GroupState::kInFlight);
  --in_flight_;
  group.state = GroupState::kReady;
  ready_.PushFront(&group);
  ++ready_count_;
}

size_t Dispatcher::TakeGroup(Group* group, std::vector<std::unique_ptr<Message>>* out) {
  Unschedule(group);
  by_progress_.Remove(group);
  size_t bytes = 0;
  for (Message* m = group->head; m != nullptr;) {
    Message* after = m->next_in_group_;
    m->next_in_group_ = nullptr;
    bytes += m->memory_bytes;
    --size_;
    out->emplace_back(m);
    m = after;
  }
  ForgetGroup(groups_.find(out->back()->group));
  return bytes;
}

std::vector<std::unique_ptr<Message>> Dispatcher::Spill(SteadyTime older_than, size_t min_bytes,
                                                        size_t max_messages) {
  std::vector<std::unique_ptr<Message>> out;
  size_t bytes = 0;
  for (Group* group = by_progress_.front(); group != nullptr && out.size() < max_messages;) {
    if (group->progress > older_than && bytes >= min_bytes) break;
    Group* next = decltype(by_progress_)::Next(group);
    if (group->state != GroupState::kInFlight) bytes += TakeGroup(group, &out);
    group = next;
  }
  return out;
}

std::vector<std::unique_ptr<Message>> Dispatcher::SpillFailed() {
  std::vector<std::unique_ptr<Message>> out;
  for (Group* group = by_progress_.front(); group != nullptr;) {
    Group* next = decltype(by_progress_)::Next(group);
    if (group->state != GroupState::kInFlight && group->head->deliver_count > 0) {
      TakeGroup(group, &out);
    }
    group = next;
  }
  return out;
}

std::vector<std::unique_ptr<Message>> Dispatcher::SpillBackingOff(SteadyTime older_than,
                                                                  size_t max_messages) {
  std::vector<std::unique_ptr<Message>> out;
  for (auto it = backoff_.begin(); it != backoff_.end() && out.size() < max_messages;) {
    Group* group = it->second;
    ++it;  // TakeGroup erases the group's entry
    if (!group->stored && group->progress <= older_than) TakeGroup(group, &out);
  }
  return out;
}

std::optional<Dispatcher::Located> Dispatcher::Find(uint64_t id) {
  for (auto& [key, group] : groups_) {
    bool head = true;
    for (Message* m = group.head; m != nullptr; m = m->next_in_group_) {
      if (m->id == id) {
        return Located{m, head && group.state == GroupState::kInFlight,
                       head && group.state == GroupState::kBackoff};
      }
      head = false;
    }
  }
  return std::nullopt;
}

std::unique_ptr<Message> Dispatcher::Remove(Message* message, SteadyTime now) {
  auto it = groups_.find(message->group);
  assert(it != groups_.end());
  Group& group = it->second;
  if (group.head == message) {
    assert(group.state != GroupState::kInFlight);
    Unschedule(&group);
    return RemoveHead(it, now);
  }
  Message* prev = group.head;
  while (prev->next_in_group_ != message) prev = prev->next_in_group_;
  prev->next_in_group_ = message->next_in_group_;
  if (group.tail == message) group.tail = prev;
  message->next_in_group_ = nullptr;
  --size_;
  return std::unique_ptr<Message>(message);
}

bool Dispatcher::RetryNow(Message* head) {
  auto it = groups_.find(head->group);
  if (it == groups_.end() || it->second.head != head) return false;
  Group& group = it->second;
  if (group.state != GroupState::kBackoff) return false;
  Unschedule(&group);
  head->not_before = SteadyTime{};
  group.state = GroupState::kReady;
  ready_.PushFront(&group);
  ++ready_count_;
  return true;
}

Dispatcher::GroupKind Dispatcher::KindOf(const std::string& group) const {
  auto it = groups_.find(group);
  if (it == groups_.end()) return GroupKind::kNone;
  return it->second.stored ? GroupKind::kStored : GroupKind::kSlot;
}

std::optional<SteadyTime> Dispatcher::NextRetryTime() const {
  if (backoff_.empty()) return std::nullopt;
  return backoff_.begin()->first;
}

bool Dispatcher::HasReady(SteadyTime now) const {
  return !ready_.empty() || (!backoff_.empty() && backoff_.begin()->first <= now);
}

}  // namespace sluice::delivery
