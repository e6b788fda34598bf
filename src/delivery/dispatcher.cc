#include "delivery/dispatcher.h"

#include <algorithm>
#include <cassert>

namespace sluice::delivery {

Dispatcher::~Dispatcher() {
  for (auto& [key, group] : groups_) {
    for (Message* m = group.head; m != nullptr;) {
      Message* next = m->next_in_group_;
      delete m;
      m = next;
    }
  }
}

void Dispatcher::Enqueue(std::unique_ptr<Message> message) {
  Group& group = groups_[message->group];
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
    ready_.push_back(&group);
  }
}

std::vector<Message*> Dispatcher::TakeBatch(SteadyTime now, size_t max) {
  // Groups whose backoff is over join the ready queue behind those waiting.
  while (!backoff_.empty() && backoff_.begin()->first <= now) {
    Group* group = backoff_.begin()->second;
    backoff_.erase(backoff_.begin());
    group->state = GroupState::kReady;
    ready_.push_back(group);
  }
  std::vector<Message*> batch;
  batch.reserve(std::min(max, ready_.size()));
  while (batch.size() < max && !ready_.empty()) {
    Group* group = ready_.front();
    ready_.pop_front();
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

std::unique_ptr<Message> Dispatcher::RemoveHead(GroupMap::iterator it) {
  Group& group = it->second;
  std::unique_ptr<Message> owned(group.head);
  group.head = owned->next_in_group_;
  owned->next_in_group_ = nullptr;
  --size_;
  if (group.head == nullptr) {
    groups_.erase(it);
  } else {
    group.state = GroupState::kReady;
    ready_.push_back(&group);
  }
  return owned;
}

std::unique_ptr<Message> Dispatcher::Delivered(Message* message) {
  auto it = GroupOf(message);
  assert(it->second.state == GroupState::kInFlight);
  --in_flight_;
  return RemoveHead(it);
}

std::unique_ptr<Message> Dispatcher::Dropped(Message* message) {
  auto it = GroupOf(message);
  Group& group = it->second;
  if (group.state == GroupState::kInFlight) --in_flight_;
  if (group.state == GroupState::kBackoff) backoff_.erase(group.backoff_it);
  if (group.state == GroupState::kReady) std::erase(ready_, &group);
  return RemoveHead(it);
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
  ready_.push_front(&group);
}

std::optional<SteadyTime> Dispatcher::NextRetryTime() const {
  if (backoff_.empty()) return std::nullopt;
  return backoff_.begin()->first;
}

bool Dispatcher::HasReady(SteadyTime now) const {
  return !ready_.empty() || (!backoff_.empty() && backoff_.begin()->first <= now);
}

}  // namespace sluice::delivery
