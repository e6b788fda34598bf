#include "delivery/ack_tracker.h"

namespace sluice::delivery {

std::shared_ptr<TxnTicket> AckTracker::Begin(Lsn commit_lsn) {
  auto ticket = std::make_shared<TxnTicket>(commit_lsn);
  std::lock_guard<std::mutex> lock(mu_);
  txns_.push_back(ticket);
  return ticket;
}

void AckTracker::AddPending(const std::shared_ptr<TxnTicket>& ticket, int64_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  ticket->pending_ += n;
}

void AckTracker::Resolve(const std::shared_ptr<TxnTicket>& ticket, int64_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  ticket->pending_ -= n;
  if (ticket->pending_ == 0 && !txns_.empty() && txns_.front() == ticket) AdvanceLocked();
}

void AckTracker::AdvanceRead(Lsn lsn) {
  uint64_t seen = read_value_.load(std::memory_order_relaxed);
  while (lsn.value() > seen &&
         !read_value_.compare_exchange_weak(seen, lsn.value(), std::memory_order_release)) {
  }
}

void AckTracker::Commit(const std::shared_ptr<TxnTicket>& ticket, Lsn end_lsn) {
  AdvanceRead(end_lsn);
  std::lock_guard<std::mutex> lock(mu_);
  ticket->end_lsn_ = end_lsn;
  ticket->sealed_ = true;
  AdvanceLocked();
}

void AckTracker::Idle(Lsn lsn) {
  AdvanceRead(lsn);
  std::lock_guard<std::mutex> lock(mu_);
  AdvanceLocked();
  if (txns_.empty() && lsn > acked_) {
    acked_ = lsn;
    acked_value_.store(acked_.value(), std::memory_order_release);
  }
}

void AckTracker::AbandonOpen() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = txns_.begin(); it != txns_.end();) {
    if (!(*it)->sealed_) {
      (*it)->abandoned_ = true;
      it = txns_.erase(it);
    } else {
      ++it;
    }
  }
  AdvanceLocked();
}

size_t AckTracker::OutstandingTransactions() const {
  std::lock_guard<std::mutex> lock(mu_);
  return txns_.size();
}

void AckTracker::AdvanceLocked() {
  bool moved = false;
  while (!txns_.empty()) {
    const auto& front = txns_.front();
    if (!front->sealed_ || front->pending_ > 0) break;
    if (front->end_lsn_ > acked_) acked_ = front->end_lsn_;
    txns_.pop_front();
    moved = true;
  }
  if (moved) acked_value_.store(acked_.value(), std::memory_order_release);
}

}  // namespace sluice::delivery
