// SinkRunner: delivers one sink's messages to Kinesis.
//
// The source thread enqueues messages; `max_in_flight` sender threads take
// batches from the Dispatcher (one message per group), encode them at send
// time (so a changed function or config applies to waiting messages), put
// them with PutRecords, and record each record's outcome by index: delivered
// messages resolve their transaction ticket and free memory; failed ones back
// off per the RetryPolicy while the rest of their group waits.
//
// Thread safety: Enqueue, Stats and Stop may be called from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "config/settings.h"
#include "delivery/ack_tracker.h"
#include "delivery/dispatcher.h"
#include "delivery/memory_budget.h"
#include "delivery/retry_policy.h"
#include "model/encoder.h"
#include "sink/kinesis/client.h"

namespace sluice::delivery {

struct SinkRunnerOptions {
  std::string sink_name;
  config::StreamArn stream;
  size_t batch_size = 100;
  int max_in_flight = 8;
  size_t max_record_bytes = 1024 * 1024;  // from DescribeStreamSummary
  RetryPolicy retry;
  model::EncodeOptions encode;
};

struct SinkStats {
  uint64_t ingested = 0;
  uint64_t delivered = 0;
  uint64_t failed_attempts = 0;
  uint64_t discarded = 0;
  uint64_t oversize = 0;
  uint64_t requests = 0;
  size_t pending = 0;  // held in memory, including in flight
  size_t in_flight = 0;
  size_t backing_off = 0;
};

class SinkRunner {
 public:
  // `client`, `acks`, `budget` and `clock` must outlive the runner.
  // `random` returns uniform draws in [0, 1) for retry jitter.
  SinkRunner(SinkRunnerOptions options, kinesis::KinesisClient& client, AckTracker& acks,
             MemoryBudget& budget, const Clock& clock, std::function<double()> random);
  ~SinkRunner();

  SinkRunner(const SinkRunner&) = delete;
  SinkRunner& operator=(const SinkRunner&) = delete;

  void Start();
  // Hands a message over; its memory is charged to the budget now.
  void Enqueue(std::unique_ptr<Message> message);
  // Stops taking new batches, lets in-flight requests finish (each is bounded
  // by the request timeout) and joins the sender threads. Idempotent.
  void Stop();

  // Blocks until no message is held (all delivered or dropped), or `timeout`
  // passed; returns whether it is empty.
  bool WaitUntilEmpty(std::chrono::milliseconds timeout);

  SinkStats Stats() const;
  const SinkRunnerOptions& options() const { return options_; }

 private:
  void SenderLoop();
  // Encodes, sends and records outcomes for one batch. Called without mu_.
  void Deliver(std::vector<Message*>& batch, std::string& scratch);
  void Complete(Message* message, bool ok, const std::string& error, SteadyTime now);

  const SinkRunnerOptions options_;
  kinesis::KinesisClient& client_;
  AckTracker& acks_;
  MemoryBudget& budget_;
  const Clock& clock_;
  std::function<double()> random_;  // GUARDED_BY(mu_)

  mutable std::mutex mu_;
  std::condition_variable cv_;
  Dispatcher dispatcher_;  // GUARDED_BY(mu_)
  bool stopping_ = false;  // GUARDED_BY(mu_)
  std::vector<std::thread> senders_;

  std::atomic<uint64_t> ingested_{0};
  std::atomic<uint64_t> delivered_{0};
  std::atomic<uint64_t> failed_attempts_{0};
  std::atomic<uint64_t> discarded_{0};
  std::atomic<uint64_t> oversize_{0};
  std::atomic<uint64_t> requests_{0};
};

}  // namespace sluice::delivery
