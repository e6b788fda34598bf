// MemoryBudget: bytes of messages held in memory, all sinks together
// (`max_memory_mb`). When it is full the source stops reading the slot until
// deliveries free room. Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>

namespace sluice::delivery {

class MemoryBudget {
 public:
  explicit MemoryBudget(size_t limit_bytes) : limit_(limit_bytes) {}

  void Charge(size_t bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    used_ += bytes;
  }
  void Release(size_t bytes) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      used_ = bytes > used_ ? 0 : used_ - bytes;
      if (used_ >= limit_) return;
    }
    cv_.notify_all();
  }
  // True once usage is below the limit; false if still full after `timeout`.
  bool WaitBelowLimit(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return used_ < limit_; });
  }
  size_t used() const {
    std::lock_guard<std::mutex> lock(mu_);
    return used_;
  }
  size_t limit() const { return limit_; }

 private:
  const size_t limit_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  size_t used_ = 0;  // GUARDED_BY(mu_)
};

}  // namespace sluice::delivery
