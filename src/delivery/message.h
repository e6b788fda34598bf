// Message: one change on its way to one sink, with its delivery state.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "base/clock.h"
#include "delivery/ack_tracker.h"
#include "model/change.h"

namespace sluice::delivery {

struct Message {
  uint64_t id = 0;  // unique within the process, increasing in commit order
  model::Change change;
  // Ordering group: "<table oid>/<group key>"; messages of one group are put
  // one at a time in commit order. Ungrouped messages get a unique group.
  std::string group;
  std::string partition_key;
  // The transaction this message holds back in the AckTracker; null for a
  // message loaded from the local store (it no longer holds the slot).
  std::shared_ptr<TxnTicket> ticket;
  // Loaded from the local store: its durable copy there is removed once it is
  // delivered or discarded.
  bool stored = false;

  int64_t deliver_count = 0;  // attempts that reached Kinesis or failed locally
  std::string last_error;     // Kinesis error code and message, or local reason
  SteadyTime not_before{};    // earliest next attempt while backing off (memory)
  size_t memory_bytes = 0;    // charged to the MemoryBudget while held

 private:
  friend class Dispatcher;
  Message* next_in_group_ = nullptr;  // owned by the Dispatcher while queued
};

}  // namespace sluice::delivery
