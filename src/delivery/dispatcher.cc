#include "delivery/dispatcher.h"

#include <cassert>

namespace sluice::delivery {

void Dispatcher::Enqueue(std::unique_ptr<Message> message) {
  auto [it, inserted] = groups_.try_emplace(message->group);
  Group& group = it->second;
  if (inserted) group.key = message->group;
  group.queue.push_back(std::move(message));
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
    assert(group->state == GroupState::kReady && !group->queue.empty());
    group->state = GroupState::kInFlight;
    batch.push_back(group->queue.front().get());
    ++in_flight_;
  }
  return batch;
}

Dispatcher::Group& Dispatcher::GroupOf(Message* message) {
  auto it = groups_.find(message->group);
  assert(it != groups_.end());
  assert(!it->second.queue.empty() && it->second.queue.front().get() == message);
  return it->second;
}

std::unique_ptr<Message> Dispatcher::PopHead(Group& group, Message* message) {
  std::unique_ptr<Message> owned = std::move(group.queue.front());
  group.queue.pop_front();
  --size_;
  return owned;
}

void Dispatcher::AfterHeadRemoved(Group& group) {
  if (group.queue.empty()) {
    groups_.erase(group.key);  // `group` is dangling after this line
    return;
  }
  group.state = GroupState::kReady;
  ready_.push_back(&group);
}

std::unique_ptr<Message> Dispatcher::Delivered(Message* message) {
  Group& group = GroupOf(message);
  assert(group.state == GroupState::kInFlight);
  --in_flight_;
  auto owned = PopHead(group, message);
  AfterHeadRemoved(group);
  return owned;
}

std::unique_ptr<Message> Dispatcher::Dropped(Message* message) {
  Group& group = GroupOf(message);
  if (group.state == GroupState::kInFlight) --in_flight_;
  if (group.state == GroupState::kBackoff) backoff_.erase(group.backoff_it);
  if (group.state == GroupState::kReady) std::erase(ready_, &group);
  auto owned = PopHead(group, message);
  AfterHeadRemoved(group);
  return owned;
}

void Dispatcher::Failed(Message* message, SteadyTime retry_at) {
  Group& group = GroupOf(message);
  assert(group.state == GroupState::kInFlight);
  --in_flight_;
  message->not_before = retry_at;
  group.state = GroupState::kBackoff;
  group.backoff_it = backoff_.emplace(retry_at, &group);
}

void Dispatcher::Returned(Message* message) {
  Group& group = GroupOf(message);
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
