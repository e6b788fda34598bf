// MemoryBudget: bytes of messages held in memory, all sinks together
// (`max_memory_mb`). When it is full the source stops reading the slot until
// deliveries free room. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>

namespace sluice::delivery {

class MemoryBudget {
 public:
  explicit MemoryBudget(size_t limit_bytes) : limit_(limit_bytes) {}

  void Charge(size_t bytes) { used_.fetch_add(bytes, std::memory_order_relaxed); }
  void Release(size_t bytes) {
    const size_t before = used_.fetch_sub(bytes, std::memory_order_release);
    // Wake a waiting source only when this release crossed below the limit.
    if (before >= limit_ && before - bytes < limit_) {
      std::lock_guard<std::mutex> lock(mu_);
      cv_.notify_all();
    }
  }
  // True once usage is below the limit; false if still full after `timeout`.
  // Cheap when there is room: the source calls it before every message.
  bool WaitBelowLimit(std::chrono::milliseconds timeout) {
    if (used() < limit_) return true;
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return used() < limit_; });
  }
  size_t used() const { return used_.load(std::memory_order_acquire); }
  size_t limit() const { return limit_; }

 private:
  const size_t limit_;
  std::mutex mu_;  // only for waiting on cv_
  std::condition_variable cv_;
  std::atomic<size_t> used_{0};
};

}  // namespace sluice::delivery
