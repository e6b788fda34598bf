// SinkRunner: delivers one sink's messages to Kinesis (SPEC §3–§4).
//
// The source thread enqueues messages; `max_in_flight` sender threads take
// batches from the Dispatcher (one message per group), make each message's
// record at send time (RecordMaker: functions and encoding, so a changed
// function or config applies to waiting messages), put them with PutRecords
// (one request per stream), and record each record's outcome by index:
// delivered messages resolve their transaction ticket and free memory; failed
// ones back off per the RetryPolicy while the rest of their group waits.
//
// With a local store (options.store), messages that cannot be delivered soon
// leave memory: a store thread writes whole groups that made no progress for
// `spill_after` while their head is failing (backing off), and, when the sink
// has put nothing for `spill_after` (stream down, credentials refused) or is
// paused, every group that made no progress for that long. A healthy but
// busy sink keeps its messages in memory (a full memory budget pauses
// reading instead). Once written, they are resolved for the AckTracker, so
// the slot keeps advancing. A group that has messages in the store is
// "store-resident": its new messages go to the store too, behind the others,
// until the store holds none of it. The store thread loads due group heads
// back in pages (never the whole store), senders deliver them like any other
// message, remove them from the store once delivered, and load the next
// message of that group at once. After a restart, a stored message is loaded
// only once the source has read past its transaction again (and no earlier
// change of its group waits to be written), so replays of earlier changes
// reach the store first, where they are recognised and dropped.
// Request-level failures (network, 5xx, throttling, credentials) pause the
// whole sink with backoff without counting as a message's attempt;
// per-record failures back off only their group.
//
// Operators (the API) see and act on what the runner holds: held messages by
// state (in memory and in the store, merged by id), the last kDeliveredKept
// delivered ones, redeliver/discard one or many, pause/resume. A message in
// flight cannot be acted on until its outcome is known.
//
// Thread safety: every public method may be called from any thread.
// Store calls made while deciding where a message goes are made under the
// runner's mutex, so no message can overtake another of its group between
// memory and store.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "config/settings.h"
#include "delivery/ack_tracker.h"
#include "delivery/dispatcher.h"
#include "delivery/memory_budget.h"
#include "delivery/record_maker.h"
#include "delivery/retry_policy.h"
#include "delivery/sink_metrics.h"
#include "model/encoder.h"
#include "sink/kinesis/client.h"

namespace sluice::delivery {

class MessageStore;
struct StoredMessage;

struct SinkRunnerOptions {
  std::string sink_name;
  config::StreamArn stream;
  size_t batch_size = 100;
  int max_in_flight = 8;
  size_t max_record_bytes = 1024 * 1024;  // from DescribeStreamSummary
  RetryPolicy retry;
  model::EncodeOptions encode;
  // Makes each sender's RecordMaker; empty: encoding only (with `encode`).
  RecordMakerFactory make_record_maker;
  // False: the sink starts paused (config status: paused); SetPaused changes it.
  bool deliver = true;

  // The local store, shared by sinks; null: everything stays in memory.
  MessageStore* store = nullptr;
  // A group that made no progress for this long is written to the store.
  std::chrono::milliseconds spill_after{10000};
  // Messages per store write, and most stored messages loaded at once
  // (0: 2 × batch_size × max_in_flight).
  size_t store_batch = 2000;
  size_t max_loaded = 0;
  // How long a sender that just finished a request waits for a fuller
  // batch before the next one, while changes keep arriving in new groups
  // (fewer requests under load; at most this much added latency). 0: it
  // takes what is ready at once.
  std::chrono::milliseconds linger{0};
  // Longest pause of the whole sink after request-level failures (it backs
  // off like a message, 1 s doubling, but probes the stream at least this
  // often so delivery resumes soon after an outage ends).
  std::chrono::milliseconds sink_backoff_cap{10000};
  // How often the store thread looks at ages and memory.
  std::chrono::milliseconds store_tick{100};
  // Where the sink's metrics are registered; null: a registry of its own.
  metrics::Registry* metrics = nullptr;
};

struct SinkStats {
  uint64_t ingested = 0;
  uint64_t delivered = 0;
  uint64_t filtered = 0;
  uint64_t failed_attempts = 0;
  uint64_t discarded = 0;
  uint64_t oversize = 0;
  uint64_t requests = 0;
  uint64_t request_failures = 0;
  uint64_t stored = 0;  // messages written to the local store
  uint64_t loaded = 0;  // messages loaded back from it
  size_t pending = 0;   // held in memory, including in flight
  size_t in_flight = 0;
  size_t backing_off = 0;
};

// A held message as operators see it (exactly one state, docs/api.md).
enum class HeldState {
  kPending,     // never attempted (or returned untried), waiting its turn
  kInFlight,    // in a PutRecords request now
  kBackingOff,  // its last attempt failed; in memory, retried at next_attempt_at
  kFailed,      // its last attempt failed; in the local store, retried on schedule
};

struct HeldMessage {
  uint64_t id = 0;
  HeldState state = HeldState::kPending;
  std::string table;  // schema.table
  model::Action action = model::Action::kInsert;
  Lsn commit_lsn;
  int64_t commit_time_us = 0;
  std::string partition_key;
  int64_t deliver_count = 0;
  std::string last_error;
  std::optional<WallTime> next_attempt_at;
  std::optional<model::Change> change;  // GetHeld only
};

struct HeldPage {
  std::vector<HeldMessage> messages;  // increasing id
  bool more = false;
};

// What is kept of a delivered message (the last kDeliveredKept).
struct DeliveredMessage {
  uint64_t id = 0;
  std::string table;
  model::Action action = model::Action::kInsert;
  Lsn commit_lsn;
  int64_t commit_time_us = 0;
  std::string partition_key;
  int64_t deliver_count = 0;
  WallTime delivered_at{};
  std::string stream_arn;
  std::string shard_id;
  std::string sequence_number;
};

struct SinkBacklog {
  uint64_t pending = 0;
  uint64_t in_flight = 0;
  uint64_t backing_off = 0;
  uint64_t failed = 0;
  uint64_t stored = 0;
  std::optional<int64_t> oldest_commit_time_us;  // of the oldest held message
};

// Why a sink may not be healthy.
struct SinkCondition {
  bool paused = false;
  bool requests_failing = false;   // the last request(s) failed as a whole
  std::string last_request_error;  // of the last failed request
  std::optional<WallTime> last_delivered_at;
};

enum class Selection { kOne, kFailed, kAll };

struct ActionCount {
  uint64_t affected = 0;
  uint64_t skipped = 0;  // in flight, left alone
};

class SinkRunner {
 public:
  static constexpr size_t kDeliveredKept = 1000;

  // (commit LSN, commit_idx): a change's place in commit order.
  using Origin = std::pair<uint64_t, uint32_t>;

  // `client`, `acks`, `budget`, `clock` (and options.store) must outlive the
  // runner. `random` returns uniform draws in [0, 1) for retry jitter.
  SinkRunner(SinkRunnerOptions options, kinesis::KinesisClient& client, AckTracker& acks,
             MemoryBudget& budget, const Clock& clock, std::function<double()> random);
  ~SinkRunner();

  SinkRunner(const SinkRunner&) = delete;
  SinkRunner& operator=(const SinkRunner&) = delete;

  // Starts the sender threads (they wait while the sink is paused, so a
  // resume can send) and the store thread. Fails if a RecordMaker cannot be
  // made.
  Status Start();
  // Hands a message over; its memory is charged to the budget now.
  void Enqueue(std::unique_ptr<Message> message);
  // Stops taking new batches and waits up to `deadline` for in-flight
  // requests; then writes messages already bound for the store and stops.
  // Returns false if some request was still in flight at the deadline: its
  // thread is left running and the caller must end the process without
  // destroying the runner. Idempotent.
  bool Stop(std::chrono::milliseconds deadline = std::chrono::minutes(10));

  // Blocks until no message is held in memory or in the store (all
  // delivered, filtered or dropped), or `timeout` passed; returns whether so.
  bool WaitUntilEmpty(std::chrono::milliseconds timeout);

  SinkStats Stats() const;
  const SinkRunnerOptions& options() const { return options_; }
  const SinkMetrics& metrics() const { return *metrics_; }

  // ---- operators (the API) ----
  // Held messages with id > after_id, one state or all, increasing id.
  // failing: backing off or failed (`state` is then ignored).
  Result<HeldPage> ListHeld(std::optional<HeldState> state, uint64_t after_id, size_t limit,
                            bool failing = false);
  // One held message with its change; nullopt if the sink holds no such id.
  Result<std::optional<HeldMessage>> GetHeld(uint64_t id);
  // Delivered messages with id < before_id (0: from the newest), newest first.
  std::vector<DeliveredMessage> ListDelivered(uint64_t before_id, size_t limit, bool* more) const;
  std::optional<DeliveredMessage> GetDelivered(uint64_t id) const;
  // Redeliver: make the selection due now (deliver counts kept). Discard:
  // drop it for good; its groups go on. kOne: kNotFound for an unknown id,
  // kUnavailable for a message in flight. kAll is for Discard only.
  Result<ActionCount> Redeliver(Selection selection, uint64_t id);
  Result<ActionCount> Discard(Selection selection, uint64_t id);
  // Paused: nothing is sent (requests in flight finish); messages collect and
  // go to the store after spill_after. Resumed: sending starts again.
  void SetPaused(bool paused);
  Result<SinkBacklog> Backlog();
  SinkCondition Condition() const;
  // Messages delivered per second over the last 10 whole seconds.
  double DeliveredPerSecond() const;

 private:
  struct Request;
  struct StoreWork;

  void SenderLoop(std::unique_ptr<RecordMaker> maker);
  // After an operator action (redeliver, discard, pause): every waiting
  // thread looks at the sink again.
  void WakeAll();
  // Whether a sender that just sent should wait for more changes first.
  bool LingerWorthwhileLocked() const;
  // Makes records, sends them and records outcomes for one batch. Called
  // without mu_.
  void Deliver(std::vector<Message*>& batch, RecordMaker& maker, Record& record);
  // Outcomes; called with mu_ held.
  // `outcome` and `stream`: what Kinesis said of a put record (null: filtered).
  void SucceedLocked(Message* m, SteadyTime now, StoreWork& work,
                     kinesis::RecordOutcome* outcome = nullptr,
                     const config::StreamArn* stream = nullptr);
  // Drops a message taken out of the dispatcher or the spill buffer for good.
  void DropLocked(std::unique_ptr<Message> owned, StoreWork& work);
  // Removes a spill-buffer message by id; null if none.
  std::unique_ptr<Message> TakeFromSpillBufferLocked(uint64_t id);
  HeldMessage HeldFromMemoryLocked(const Message& m, bool in_flight, SteadyTime now,
                                   WallTime wall) const;
  void FailLocked(Message* m, const std::string& error, SteadyTime now, StoreWork& work);
  void FinishStoreWorkLocked(StoreWork& work);
  void ReleaseLocked(std::unique_ptr<Message> owned);

  // Where a new message goes: behind stored messages of its group?
  bool StoreResidentLocked(const std::string& group);
  void ToSpillBufferLocked(std::unique_ptr<Message> m);
  void EnqueueLoadedLocked(StoredMessage&& stored, SteadyTime now);

  void StoreLoop();
  // Writes the spill buffer; takes and returns with `lock` held.
  void FlushSpillBuffer(std::unique_lock<std::mutex>& lock);
  // Loads due group heads from the store; true if it loaded any.
  bool PumpLocked(SteadyTime now);
  // Whether a stored message may be loaded now: due, memory below the
  // budget, and its transaction read in this run.
  bool LoadableLocked(const StoredMessage& stored, WallTime wall) const;

  const SinkRunnerOptions options_;
  kinesis::KinesisClient& client_;
  AckTracker& acks_;
  MemoryBudget& budget_;
  const Clock& clock_;
  MessageStore* const store_;
  const size_t max_loaded_;

  mutable std::mutex mu_;
  std::condition_variable cv_;          // Stop, WaitUntilEmpty
  std::condition_variable senders_cv_;  // idle senders: work, pause, stop
  std::condition_variable store_cv_;    // the store thread
  std::function<double()> random_;      // GUARDED_BY(mu_)
  Dispatcher dispatcher_;               // GUARDED_BY(mu_)
  bool stopping_ = false;               // GUARDED_BY(mu_)
  bool store_stopping_ = false;         // GUARDED_BY(mu_)
  int active_senders_ = 0;              // GUARDED_BY(mu_)
  // Senders between taking a batch and recording its outcomes, and whether
  // an idle sender was woken and has not looked for work yet (Enqueue wakes
  // one only when none is busy, lingering or woken, a full batch is ready,
  // or no batch was taken for `linger`).
  int busy_senders_ = 0;       // GUARDED_BY(mu_)
  int lingering_senders_ = 0;  // GUARDED_BY(mu_): waiting for a fuller batch
  SteadyTime last_take_{};     // GUARDED_BY(mu_): a sender last took a batch
  bool wake_pending_ = false;  // GUARDED_BY(mu_)
  // Request-level failures pause the sink until then.
  SteadyTime blocked_until_{};                // GUARDED_BY(mu_)
  int64_t consecutive_request_failures_ = 0;  // GUARDED_BY(mu_)
  SteadyTime last_success_{};                 // GUARDED_BY(mu_): a record was put

  // Messages bound for the store and not yet written (in order), and how many
  // of each group are in it or being written.
  std::vector<std::unique_ptr<Message>> spill_buffer_;  // GUARDED_BY(mu_)
  struct Pending {
    size_t count = 0;
    Origin earliest;  // of the messages counted: a replay is earlier than the stored head
  };
  std::unordered_map<std::string, Pending> pending_groups_;  // GUARDED_BY(mu_)
  bool store_may_have_ = false;     // GUARDED_BY(mu_): the store may hold this sink's messages
  uint64_t pump_cursor_ = 0;        // GUARDED_BY(mu_)
  SteadyTime next_pump_{};          // GUARDED_BY(mu_)
  SteadyTime store_error_until_{};  // GUARDED_BY(mu_): the pump rests after a store error
  size_t loaded_count_ = 0;         // GUARDED_BY(mu_): stored messages in the dispatcher

  std::vector<std::thread> senders_;
  std::thread store_thread_;
  bool paused_ = false;                        // GUARDED_BY(mu_)
  std::string last_request_error_;             // GUARDED_BY(mu_)
  std::optional<WallTime> last_delivered_at_;  // GUARDED_BY(mu_)
  // The last kDeliveredKept delivered messages, a ring from delivered_next_.
  std::vector<DeliveredMessage> delivered_ring_;  // GUARDED_BY(mu_)
  size_t delivered_next_ = 0;                     // GUARDED_BY(mu_)
  // Deliveries per second of the steady clock, the last kRateSeconds + 1.
  static constexpr int64_t kRateSeconds = 10;
  struct RateBucket {
    int64_t second = -1;
    uint64_t count = 0;
  };
  std::array<RateBucket, kRateSeconds + 1> rate_{};  // GUARDED_BY(mu_)
  bool started_ = false;                             // GUARDED_BY(mu_)
  bool stopped_ = false;                             // GUARDED_BY(mu_)
  bool stop_clean_ = true;

  std::unique_ptr<metrics::Registry> own_registry_;  // when options.metrics is null
  std::unique_ptr<SinkMetrics> metrics_;
};

}  // namespace sluice::delivery
