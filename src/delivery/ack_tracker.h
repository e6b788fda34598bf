// AckTracker: how far the replication slot may be acknowledged.
//
// At-least-once hinges on this: the slot's confirmed flush LSN may pass a
// transaction only when every message made from it, in every sink, is
// resolved (delivered, filtered out or discarded). Transactions are kept in
// commit order; the acknowledged LSN is the end LSN of the longest fully
// resolved prefix.
//
// Thread safety: all methods are thread-safe. The source thread calls
// Begin/Commit/Idle/AbandonOpen; sender threads call Resolve.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>

#include "base/lsn.h"

namespace sluice::delivery {

class AckTracker;

// One transaction's outstanding message count. Messages hold a shared_ptr:
// the ticket lives as long as any message made from the transaction.
class TxnTicket {
 public:
  explicit TxnTicket(Lsn commit_lsn) : commit_lsn_(commit_lsn) {}
  Lsn commit_lsn() const { return commit_lsn_; }

 private:
  friend class AckTracker;
  const Lsn commit_lsn_;
  Lsn end_lsn_;             // GUARDED_BY(AckTracker::mu_)
  int64_t pending_ = 0;     // GUARDED_BY(AckTracker::mu_)
  bool sealed_ = false;     // GUARDED_BY(AckTracker::mu_): commit seen
  bool abandoned_ = false;  // GUARDED_BY(AckTracker::mu_): stream restarted mid-transaction
};

class AckTracker {
 public:
  explicit AckTracker(Lsn start = Lsn()) : acked_(start) {}

  std::shared_ptr<TxnTicket> Begin(Lsn commit_lsn);
  // One more message made from this transaction is outstanding.
  void AddPending(const std::shared_ptr<TxnTicket>& ticket, int64_t n = 1);
  // `n` messages of this transaction are resolved.
  void Resolve(const std::shared_ptr<TxnTicket>& ticket, int64_t n = 1);
  void Commit(const std::shared_ptr<TxnTicket>& ticket, Lsn end_lsn);
  // The server reports everything before `lsn` was sent and no transaction
  // is open: acknowledge it if nothing is outstanding.
  void Idle(Lsn lsn);
  // The stream restarted inside an open transaction; the server will send it
  // again from the start, so its current ticket no longer holds the slot.
  void AbandonOpen();

  Lsn Acknowledged() const { return Lsn(acked_value_.load(std::memory_order_acquire)); }

  // How far the source has read: every transaction that committed before
  // this LSN has been handed over in this run (the slot's confirmed position
  // at start, then each commit's end LSN and idle positions). Messages an
  // earlier run left in the local store wait until the source has read past
  // their transaction, so that a replay of an earlier change of their group
  // reaches the store (and is recognised there) before they are delivered.
  Lsn ReadPosition() const { return Lsn(read_value_.load(std::memory_order_acquire)); }
  void AdvanceRead(Lsn lsn);
  // Transactions begun but not yet acknowledged.
  size_t OutstandingTransactions() const;

 private:
  void AdvanceLocked();

  mutable std::mutex mu_;
  std::deque<std::shared_ptr<TxnTicket>> txns_;  // GUARDED_BY(mu_), commit order
  Lsn acked_;                                    // GUARDED_BY(mu_)
  std::atomic<uint64_t> acked_value_{acked_.value()};
  std::atomic<uint64_t> read_value_{0};
};

}  // namespace sluice::delivery
