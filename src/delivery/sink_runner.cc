#include "delivery/sink_runner.h"

#include <algorithm>
#include <utility>

#include "base/log.h"
#include "base/thread_name.h"
#include "delivery/message_store.h"
#include "sink/kinesis/put_records.h"

namespace sluice::delivery {

namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

// How long the pump rests after a pass over the store that loaded nothing.
constexpr milliseconds kPumpIdle{1000};
// How long the store thread waits after a failed store write or read.
constexpr milliseconds kStoreErrorPause{1000};

SinkRunner::Origin OriginOf(const model::Change& change) {
  return {change.txn ? change.txn->commit_lsn.value() : 0, change.commit_idx};
}

// "schema.table" of the message's change into *out, reusing its capacity.
void AssignTableOf(const Message& m, std::string* out) {
  if (!m.change.relation) {
    out->assign("?");
    return;
  }
  out->assign(m.change.relation->schema).append(".").append(m.change.relation->name);
}

std::string TableOf(const Message& m) {
  std::string table;
  AssignTableOf(m, &table);
  return table;
}

}  // namespace

// One PutRecords request of a batch: a batch may span streams (routing).
struct SinkRunner::Request {
  explicit Request(const config::StreamArn& s) : stream(s), builder(stream) {}
  config::StreamArn stream;
  kinesis::PutRecordsBuilder builder;
  std::vector<Message*> sent;
  kinesis::PutRecordsResult result;
};

// Store bookkeeping gathered while outcomes are recorded, applied at once.
struct SinkRunner::StoreWork {
  std::vector<uint64_t> remove;                           // stored messages done with
  std::vector<std::pair<uint64_t, std::string>> advance;  // (id, group): load what follows
  std::vector<StoredAttempt> attempts;                    // stored messages that failed
};

SinkRunner::SinkRunner(SinkRunnerOptions options, kinesis::KinesisClient& client, AckTracker& acks,
                       MemoryBudget& budget, const Clock& clock, std::function<double()> random)
    : options_(std::move(options)),
      client_(client),
      acks_(acks),
      budget_(budget),
      clock_(clock),
      store_(options_.store),
      max_loaded_(options_.max_loaded != 0
                      ? options_.max_loaded
                      : 2 * options_.batch_size * static_cast<size_t>(options_.max_in_flight)),
      random_(std::move(random)),
      store_may_have_(options_.store != nullptr) {
  metrics::Registry* registry = options_.metrics;
  if (registry == nullptr) {
    own_registry_ = std::make_unique<metrics::Registry>();
    registry = own_registry_.get();
  }
  metrics_ = std::make_unique<SinkMetrics>(*registry, options_.sink_name);
  paused_ = !options_.deliver;
}

SinkRunner::~SinkRunner() { Stop(); }

Status SinkRunner::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (started_ || stopping_) return OkStatus();
  started_ = true;
  last_success_ = clock_.Now();
  {
    RecordMakerFactory factory = options_.make_record_maker ? options_.make_record_maker
                                                            : EncodingRecordMakers(options_.encode);
    std::vector<std::unique_ptr<RecordMaker>> makers;
    for (int i = 0; i < options_.max_in_flight; ++i) {
      auto maker = factory();
      if (!maker.ok()) {
        return Error(maker.error().code(),
                     "sink " + options_.sink_name + ": " + maker.error().message());
      }
      makers.push_back(std::move(*maker));
    }
    for (auto& maker : makers) {
      ++active_senders_;
      senders_.emplace_back([this, m = std::move(maker)]() mutable {
        NameThisThread("send:" + options_.sink_name);
        SenderLoop(std::move(m));
      });
    }
  }
  if (store_ != nullptr) {
    store_thread_ = std::thread([this] {
      NameThisThread("store:" + options_.sink_name);
      StoreLoop();
    });
  }
  return OkStatus();
}

void SinkRunner::Enqueue(std::unique_ptr<Message> message) {
  budget_.Charge(message->memory_bytes);
  metrics_->ingested.Increment();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (store_ != nullptr && StoreResidentLocked(message->group)) {
      ToSpillBufferLocked(std::move(message));
      return;  // the store thread writes it on its next tick
    }
    const SteadyTime now = clock_.Now();
    dispatcher_.Enqueue(std::move(message), now);
    // Wake a sender only when one should start a request now: nothing is
    // being sent (a lone change goes out at once), a full batch is ready for
    // another sender, or the busy ones have been at their requests longer
    // than `linger` (a slow stream: do not wait for them). Otherwise a busy
    // or lingering sender takes what accumulated, so requests fill up under
    // load instead of each message waking a thread for a request of its own.
    // A sender already woken takes everything ready (one at a time: a herd
    // of woken senders would split it into small requests).
    if (wake_pending_) return;
    const bool idle = busy_senders_ + lingering_senders_ == 0;
    const bool full = dispatcher_.ready_count() >= options_.batch_size;
    const bool slow = lingering_senders_ == 0 && now - last_take_ >= options_.linger;
    if (!idle && !full && !slow) return;
    wake_pending_ = true;
  }
  senders_cv_.notify_one();
}

bool SinkRunner::Stop(std::chrono::milliseconds deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  if (stopped_) return stop_clean_;
  stopped_ = true;
  stopping_ = true;
  senders_cv_.notify_all();
  stop_clean_ = cv_.wait_for(lock, deadline, [&] { return active_senders_ == 0; });
  if (!stop_clean_) {
    SLUICE_LOG_WARN(
        "sink {}: {} PutRecords request(s) still in flight at the shutdown deadline; abandoning "
        "them (their messages are read again from the slot)",
        options_.sink_name, active_senders_);
  }
  store_stopping_ = true;
  store_cv_.notify_all();
  lock.unlock();
  if (store_thread_.joinable()) store_thread_.join();
  for (auto& t : senders_) {
    if (stop_clean_) {
      t.join();
    } else {
      t.detach();  // the caller ends the process without destroying the runner
    }
  }
  senders_.clear();
  return stop_clean_;
}

bool SinkRunner::WaitUntilEmpty(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] {
    return dispatcher_.size() == 0 && spill_buffer_.empty() && !store_may_have_;
  });
}

SinkStats SinkRunner::Stats() const {
  SinkStats s;
  s.ingested = metrics_->ingested.Value();
  s.delivered = metrics_->delivered.Value();
  s.filtered = metrics_->filtered.Value();
  s.failed_attempts = metrics_->failed.Value();
  s.discarded = metrics_->discarded.Value();
  s.oversize = metrics_->oversize.Value();
  s.requests = metrics_->requests.Value();
  s.request_failures = metrics_->request_failures.Value();
  s.stored = metrics_->stored.Value();
  s.loaded = metrics_->loaded.Value();
  std::lock_guard<std::mutex> lock(mu_);
  s.pending = dispatcher_.size() + spill_buffer_.size();
  s.in_flight = dispatcher_.in_flight();
  s.backing_off = dispatcher_.backing_off();
  return s;
}

// ---- sending ---------------------------------------------------------------

bool SinkRunner::LingerWorthwhileLocked() const {
  // Only new groups can fill a batch (one message per group per request):
  // when messages wait behind their group's head (a few hot rows), waiting
  // would only slow those groups down. Even with nothing ready it lingers:
  // a change arriving right after a request would otherwise wake a sender
  // for a request of its own, one request per change at moderate rates. A
  // change after a quiet spell still goes out at once (no sender lingers).
  return dispatcher_.ready_count() < options_.batch_size && dispatcher_.queued_behind_heads() == 0;
}

void SinkRunner::SenderLoop(std::unique_ptr<RecordMaker> maker) {
  Record record;
  std::vector<Message*> batch;
  bool just_sent = false;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (just_sent) --busy_senders_;
      if (just_sent && options_.linger.count() > 0 && LingerWorthwhileLocked()) {
        // More changes are arriving than this sender just sent: give the
        // batch up to `linger` to fill before the next request.
        ++lingering_senders_;
        senders_cv_.wait_for(lock, options_.linger, [&] {
          return stopping_ || paused_ || dispatcher_.ready_count() >= options_.batch_size;
        });
        --lingering_senders_;
      }
      just_sent = true;
      for (;;) {
        if (stopping_) {
          --active_senders_;
          cv_.notify_all();
          return;
        }
        if (paused_) {
          senders_cv_.wait(lock);
          continue;
        }
        const SteadyTime now = clock_.Now();
        if (now < blocked_until_) {
          senders_cv_.wait_until(lock, blocked_until_);
          continue;
        }
        batch = dispatcher_.TakeBatch(now, options_.batch_size);
        wake_pending_ = false;
        if (!batch.empty()) {
          last_take_ = now;
          // A full batch is still waiting: hand it to another sender.
          if (dispatcher_.ready_count() >= options_.batch_size) {
            wake_pending_ = true;
            senders_cv_.notify_one();
          }
          break;
        }
        if (auto next = dispatcher_.NextRetryTime()) {
          senders_cv_.wait_until(lock, *next);
        } else {
          senders_cv_.wait(lock);
        }
      }
      ++busy_senders_;
    }
    Deliver(batch, *maker, record);
  }
}

void SinkRunner::Deliver(std::vector<Message*>& batch, RecordMaker& maker, Record& record) {
  struct LocalFailure {
    Message* message;
    std::string error;
  };
  std::vector<std::unique_ptr<Request>> requests;
  std::vector<Message*> returned;
  std::vector<Message*> filtered;
  std::vector<LocalFailure> local_failures;

  for (size_t at = 0; at < batch.size(); ++at) {
    Message* m = batch[at];
    Status made = maker.Make(m->change, &record);
    if (!made.ok()) {
      if (m->deliver_count == 0) {
        SLUICE_LOG_WARN("sink {}: message {} ({}, commit_lsn {}, commit_idx {}): {}; retried",
                        options_.sink_name, m->id, TableOf(*m),
                        m->change.txn ? m->change.txn->commit_lsn.ToString() : "?",
                        m->change.commit_idx, made.error().message());
      }
      local_failures.push_back({m, made.error().message()});
      continue;
    }
    if (record.filtered) {
      filtered.push_back(m);
      continue;
    }
    const config::StreamArn& stream = record.stream ? *record.stream : options_.stream;
    const size_t bytes = kinesis::PutRecordsBuilder::RecordBytes(record.data, m->partition_key);
    if (bytes > options_.max_record_bytes) {
      if (m->deliver_count == 0) metrics_->oversize.Increment();
      std::string error = "oversize: record is " + std::to_string(bytes) + " bytes (data " +
                          std::to_string(record.data.size()) + " + partition key " +
                          std::to_string(m->partition_key.size()) +
                          "), over the stream's maximum record size of " +
                          std::to_string(options_.max_record_bytes) +
                          " bytes; not sent (discard it, or shrink it with a transform and "
                          "redeliver it)";
      if (m->deliver_count == 0) {
        SLUICE_LOG_WARN("sink {}: message {} ({}, commit_lsn {}): {}", options_.sink_name, m->id,
                        TableOf(*m), m->change.txn ? m->change.txn->commit_lsn.ToString() : "?",
                        error);
      }
      local_failures.push_back({m, std::move(error)});
      continue;
    }
    Request* request = nullptr;
    for (auto& r : requests) {
      if (r->stream.arn == stream.arn) {
        request = r.get();
        break;
      }
    }
    if (request == nullptr) {
      requests.push_back(std::make_unique<Request>(stream));
      request = requests.back().get();
      // Sized for the rest of the batch going to this stream, like this record.
      request->builder.Reserve(batch.size() - at, record.data, m->partition_key);
    }
    if (!request->builder.Fits(bytes)) {
      returned.push_back(m);
      continue;
    }
    request->builder.Add(record.data, m->partition_key);
    request->sent.push_back(m);
    if (m->deliver_count > 0) metrics_->retried.Increment();
  }

  for (auto& r : requests) {
    if (r->sent.empty()) continue;
    metrics_->requests.Increment();
    const SteadyTime sent_at = clock_.Now();
    r->result = client_.PutRecords(r->stream, r->builder.Finish(), r->sent.size());
    metrics_->put_records_duration.ObserveDuration(clock_.Now() - sent_at);
    if (r->result.failure == kinesis::RequestFailure::kNone &&
        r->result.records.size() != r->sent.size()) {
      // The client guarantees one outcome per record; never index past them.
      r->result.failure = kinesis::RequestFailure::kBadResponse;
      r->result.error_message = "response has " + std::to_string(r->result.records.size()) +
                                " records for a request of " + std::to_string(r->sent.size());
    }
    if (r->result.failure != kinesis::RequestFailure::kNone) {
      metrics_->request_failures.Increment();
      if (r->result.failure == kinesis::RequestFailure::kThrottled) {
        metrics_->throttled.Increment(r->sent.size());
      }
      SLUICE_LOG_WARN("sink {}: PutRecords of {} records to {} failed ({}): {}{}{}",
                      options_.sink_name, r->sent.size(), r->stream.arn,
                      kinesis::RequestFailureName(r->result.failure), r->result.error_code,
                      r->result.error_code.empty() ? "" : ": ", r->result.error_message);
    }
  }

  const SteadyTime now = clock_.Now();
  bool wake_another = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    StoreWork work;
    for (Message* m : returned) dispatcher_.Returned(m);
    for (Message* m : filtered) SucceedLocked(m, now, work);
    for (auto& f : local_failures) FailLocked(f.message, f.error, now, work);
    bool request_failed = false;
    bool any_put = false;
    for (auto& r : requests) {
      const auto& result = r->result;
      if (r->sent.empty()) continue;
      if (result.failure != kinesis::RequestFailure::kNone) {
        // The sink's problem, not the messages': the whole sink backs off
        // (below) and they go back to the front of the queue, keeping the
        // error as their last error without using up a retry.
        request_failed = true;
        std::string error = std::string(kinesis::RequestFailureName(result.failure));
        if (!result.error_code.empty()) error += ": " + result.error_code;
        if (!result.error_message.empty()) error += ": " + result.error_message;
        for (Message* m : r->sent) {
          m->last_error = error;
          dispatcher_.Returned(m);
        }
        last_request_error_ = std::move(error);
        continue;
      }
      for (size_t i = 0; i < r->sent.size(); ++i) {
        auto& rec = r->result.records[i];
        if (rec.ok) {
          any_put = true;
          SucceedLocked(r->sent[i], now, work, &rec, &r->stream);
        } else {
          if (rec.error_code == "ProvisionedThroughputExceededException") {
            metrics_->throttled.Increment();
          }
          FailLocked(r->sent[i], rec.error_code + ": " + rec.error_message, now, work);
        }
      }
    }
    if (any_put) {
      last_success_ = now;
      last_delivered_at_ = clock_.WallNow();
    }
    if (request_failed) {
      // The whole sink backs off: the next request would most likely fail
      // the same way (stream down, network, credentials, throttled).
      ++consecutive_request_failures_;
      RetryPolicy sink_policy = options_.retry;
      sink_policy.cap = std::min(sink_policy.cap, options_.sink_backoff_cap);
      const SteadyTime until = now + sink_policy.Delay(consecutive_request_failures_, random_());
      if (until > blocked_until_) blocked_until_ = until;
    } else if (!requests.empty()) {
      consecutive_request_failures_ = 0;
    }
    if (store_ != nullptr) FinishStoreWorkLocked(work);
    // This sender takes the next batch itself (it stays counted busy until
    // SenderLoop looks for it, so Enqueue wakes no other sender meanwhile);
    // another one is woken only for a full batch beyond that.
    wake_another = !wake_pending_ && dispatcher_.ready_count() >= 2 * options_.batch_size;
    if (wake_another) wake_pending_ = true;
  }
  cv_.notify_all();  // WaitUntilEmpty
  if (wake_another) senders_cv_.notify_one();
}

void SinkRunner::ReleaseLocked(std::unique_ptr<Message> owned) {
  if (owned->stored) --loaded_count_;
  budget_.Release(owned->memory_bytes);
}

void SinkRunner::SucceedLocked(Message* m, SteadyTime now, StoreWork& work,
                               kinesis::RecordOutcome* outcome, const config::StreamArn* stream) {
  const bool filtered = outcome == nullptr;
  if (!filtered) ++m->deliver_count;
  if (m->stored) {
    work.remove.push_back(m->id);
    work.advance.emplace_back(m->id, m->group);
  }
  auto owned = dispatcher_.Delivered(m, now);
  if (filtered) {
    metrics_->filtered.Increment();
  } else {
    metrics_->delivered.Increment();
    const int64_t second =
        std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
    RateBucket& bucket = rate_[static_cast<size_t>(second % (kRateSeconds + 1))];
    if (bucket.second != second) bucket = {second, 0};
    ++bucket.count;
    const WallTime wall = clock_.WallNow();
    const int64_t commit_us = owned->change.txn ? owned->change.txn->commit_time_us : 0;
    if (commit_us > 0) {
      const int64_t now_us =
          std::chrono::duration_cast<std::chrono::microseconds>(wall.time_since_epoch()).count();
      metrics_->end_to_end_latency.Observe(
          static_cast<double>(std::max<int64_t>(0, now_us - commit_us)) / 1e6);
    }
    // Kept for the API's "recently delivered": a ring, overwritten in place.
    if (delivered_ring_.size() < kDeliveredKept) delivered_ring_.emplace_back();
    DeliveredMessage& d = delivered_ring_[delivered_next_];
    delivered_next_ = (delivered_next_ + 1) % kDeliveredKept;
    d.id = owned->id;
    // In place: the ring's strings keep their capacity, so this costs no
    // allocation per delivered message.
    AssignTableOf(*owned, &d.table);
    d.action = owned->change.action;
    d.commit_lsn = owned->change.txn ? owned->change.txn->commit_lsn : Lsn();
    d.commit_time_us = commit_us;
    d.partition_key = owned->partition_key;
    d.deliver_count = owned->deliver_count;
    d.delivered_at = wall;
    d.stream_arn = stream->arn;
    d.shard_id = std::move(outcome->shard_id);
    d.sequence_number = std::move(outcome->sequence_number);
  }
  if (owned->ticket) acks_.Resolve(owned->ticket);
  ReleaseLocked(std::move(owned));
}

void SinkRunner::DropLocked(std::unique_ptr<Message> owned, StoreWork& work) {
  if (owned->stored) {
    work.remove.push_back(owned->id);
    work.advance.emplace_back(owned->id, owned->group);
  }
  metrics_->discarded.Increment();
  if (owned->ticket) acks_.Resolve(owned->ticket);
  ReleaseLocked(std::move(owned));
}

void SinkRunner::FailLocked(Message* m, const std::string& error, SteadyTime now, StoreWork& work) {
  ++m->deliver_count;
  metrics_->failed.Increment();
  m->last_error = error;
  if (options_.retry.Exhausted(m->deliver_count)) {
    SLUICE_LOG_ERROR(
        "sink {}: discarding message {} ({}) after {} attempts (max_retry_count {}): {}",
        options_.sink_name, m->id, TableOf(*m), m->deliver_count, *options_.retry.max_retry_count,
        error);
    DropLocked(dispatcher_.Dropped(m, now), work);
    return;
  }
  const auto delay = options_.retry.Delay(m->deliver_count, random_());
  if (m->stored) {
    // Back to the store; the pump loads it again once due.
    work.attempts.push_back({m->id, m->deliver_count, error, clock_.WallNow() + delay});
    ReleaseLocked(dispatcher_.Dropped(m, now));
    return;
  }
  dispatcher_.Failed(m, now + delay);
}

void SinkRunner::FinishStoreWorkLocked(StoreWork& work) {
  if (!work.attempts.empty()) {
    Status st = store_->RecordAttempts(work.attempts);
    if (!st.ok()) {
      SLUICE_LOG_ERROR("sink {}: recording {} failed attempts in the local store: {}",
                       options_.sink_name, work.attempts.size(), st.error().message());
      // Their old next-attempt times stand: keep the pump from retrying
      // them at once, in a loop, while the store fails.
      store_error_until_ = clock_.Now() + kStoreErrorPause;
    }
  }
  if (work.remove.empty()) return;
  auto removed = store_->Remove(work.remove);
  if (!removed.ok()) {
    // They stay stored and will be delivered again (at least once); their
    // groups wait for that rather than overtake them.
    SLUICE_LOG_ERROR("sink {}: removing {} delivered messages from the local store: {}",
                     options_.sink_name, work.remove.size(), removed.error().message());
    store_error_until_ = clock_.Now() + kStoreErrorPause;
    return;
  }
  // A delivered stored head lets its group go on at once, without waiting
  // for the pump's next pass.
  const SteadyTime now = clock_.Now();
  const WallTime wall = clock_.WallNow();
  for (auto& [id, group] : work.advance) {
    if (loaded_count_ >= max_loaded_) break;
    if (dispatcher_.KindOf(group) != Dispatcher::GroupKind::kNone) continue;
    auto next = store_->NextInGroup(options_.sink_name, group, id);
    if (!next.ok()) {
      SLUICE_LOG_ERROR("sink {}: reading the local store: {}", options_.sink_name,
                       next.error().message());
      break;
    }
    if (next->has_value() && LoadableLocked(**next, wall)) {
      EnqueueLoadedLocked(std::move(**next), now);
    }
  }
}

// ---- the store -------------------------------------------------------------

bool SinkRunner::StoreResidentLocked(const std::string& group) {
  // The common case, on every change: nothing stored, nothing on its way
  // there. (A loaded stored message is still in the store, so it keeps
  // store_may_have_ set.) No group lookup then; the Dispatcher does its own.
  if (!store_may_have_ && pending_groups_.empty()) return false;
  switch (dispatcher_.KindOf(group)) {
    case Dispatcher::GroupKind::kSlot: return false;
    case Dispatcher::GroupKind::kStored: return true;
    case Dispatcher::GroupKind::kNone: break;
  }
  if (pending_groups_.contains(group)) return true;
  if (!store_may_have_) return false;
  auto has = store_->HasGroup(options_.sink_name, group);
  if (!has.ok()) {
    // Unknown: keep the message behind whatever may be stored. Writing it
    // will be retried until the store works again.
    SLUICE_LOG_ERROR("sink {}: reading the local store: {}", options_.sink_name,
                     has.error().message());
    return true;
  }
  return *has;
}

void SinkRunner::ToSpillBufferLocked(std::unique_ptr<Message> m) {
  auto [it, added] = pending_groups_.try_emplace(m->group);
  const Origin origin = OriginOf(m->change);
  if (added || origin < it->second.earliest) it->second.earliest = origin;
  ++it->second.count;
  spill_buffer_.push_back(std::move(m));
}

void SinkRunner::EnqueueLoadedLocked(StoredMessage&& stored, SteadyTime now) {
  auto m = std::make_unique<Message>();
  m->id = stored.id;
  m->change = std::move(stored.change);
  m->group = std::move(stored.group_key);
  m->partition_key = std::move(stored.partition_key);
  m->deliver_count = stored.deliver_count;
  m->last_error = std::move(stored.last_error);
  m->stored = true;
  m->memory_bytes = Dispatcher::MemoryBytes(*m);
  budget_.Charge(m->memory_bytes);
  ++loaded_count_;
  metrics_->loaded.Increment();
  dispatcher_.Enqueue(std::move(m), now);
}

void SinkRunner::StoreLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    if (store_stopping_) {
      // Messages already bound for the store are written, and so are groups
      // whose head failed: they keep their deliver count and last error, and
      // an operator can act on them while sluice is stopped. What else stays
      // in memory is read again from the slot after a restart.
      for (auto& m : dispatcher_.SpillFailed()) ToSpillBufferLocked(std::move(m));
      FlushSpillBuffer(lock);
      return;
    }
    const SteadyTime now = clock_.Now();
    const SteadyTime older_than = now - options_.spill_after;
    bool more = false;  // a full batch was taken: there may be more to spill now
    if (spill_buffer_.size() < options_.store_batch) {
      const size_t room = options_.store_batch - spill_buffer_.size();
      const bool sink_stalled = paused_ || last_success_ <= older_than;
      auto spilled = sink_stalled ? dispatcher_.Spill(older_than, 0, room)
                                  : dispatcher_.SpillBackingOff(older_than, room);
      more = spilled.size() >= room;
      for (auto& m : spilled) ToSpillBufferLocked(std::move(m));
    }
    if (!spill_buffer_.empty()) FlushSpillBuffer(lock);
    if (!paused_ && PumpLocked(clock_.Now())) senders_cv_.notify_all();
    if (more) continue;
    store_cv_.wait_for(lock, options_.store_tick, [&] {
      return store_stopping_ || spill_buffer_.size() >= options_.store_batch;
    });
  }
}

void SinkRunner::FlushSpillBuffer(std::unique_lock<std::mutex>& lock) {
  if (spill_buffer_.empty()) return;
  std::vector<std::unique_ptr<Message>> batch;
  batch.swap(spill_buffer_);
  const SteadyTime now = clock_.Now();
  const WallTime wall = clock_.WallNow();
  lock.unlock();

  std::vector<StoredMessage> rows(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    Message& m = *batch[i];
    StoredMessage& row = rows[i];
    row.id = m.id;
    row.sink = options_.sink_name;
    row.group_key = m.group;
    row.partition_key = m.partition_key;
    row.change = std::move(m.change);
    row.deliver_count = m.deliver_count;
    row.last_error = m.last_error;
    if (m.deliver_count > 0 && m.not_before > now) {
      row.not_before = wall + duration_cast<milliseconds>(m.not_before - now);
    }
    row.created_at = wall;
  }
  auto put = store_->Put(rows);

  lock.lock();
  if (!put.ok()) {
    SLUICE_LOG_ERROR(
        "sink {}: writing {} messages to the local store: {}; they stay in memory and the write "
        "is retried",
        options_.sink_name, batch.size(), put.error().message());
    for (size_t i = 0; i < batch.size(); ++i) batch[i]->change = std::move(rows[i].change);
    // Back in front of anything that arrived meanwhile, in order.
    for (auto& m : spill_buffer_) batch.push_back(std::move(m));
    spill_buffer_.swap(batch);
    store_cv_.wait_for(lock, kStoreErrorPause, [&] { return store_stopping_; });
    return;
  }
  for (auto& m : batch) {
    auto it = pending_groups_.find(m->group);
    if (--it->second.count == 0) pending_groups_.erase(it);
    if (m->ticket) acks_.Resolve(m->ticket);
    budget_.Release(m->memory_bytes);
  }
  metrics_->stored.Increment(batch.size());
  store_may_have_ = true;
  // Their groups' heads may lie behind the pump's cursor (a group whose last
  // stored message was just delivered): start the next pass from the top.
  next_pump_ = SteadyTime{};
  pump_cursor_ = 0;
  SLUICE_LOG_DEBUG("sink {}: wrote {} messages to the local store", options_.sink_name,
                   batch.size());
}

bool SinkRunner::LoadableLocked(const StoredMessage& stored, WallTime wall) const {
  if (stored.not_before > wall) return false;  // backing off
  if (budget_.used() >= budget_.limit()) return false;
  // A message of its group waiting to be written that is earlier than it is
  // a replay: the write recognises and drops it; until then, wait, or the
  // replay would be stored (and put) after this one.
  if (auto it = pending_groups_.find(stored.group_key);
      it != pending_groups_.end() && it->second.earliest < OriginOf(stored.change)) {
    return false;
  }
  // From an earlier run, its transaction not read again yet: a replay of an
  // earlier change of its group may still come (see AckTracker::ReadPosition).
  return !stored.change.txn || stored.change.txn->commit_lsn < acks_.ReadPosition();
}

bool SinkRunner::PumpLocked(SteadyTime now) {
  if (!store_may_have_ || now < next_pump_ || now < blocked_until_) return false;
  if (now < store_error_until_ || loaded_count_ >= max_loaded_) return false;
  // The page also returns heads already loaded (skipped below), so it asks
  // for up to max_loaded_ rather than only the room left.
  const WallTime wall = clock_.WallNow();
  auto page = store_->LoadDueGroupHeads(options_.sink_name, wall, pump_cursor_, max_loaded_);
  if (!page.ok()) {
    SLUICE_LOG_ERROR("sink {}: reading the local store: {}", options_.sink_name,
                     page.error().message());
    next_pump_ = now + kStoreErrorPause;
    return false;
  }
  size_t added = 0;
  bool full = false;
  for (auto& stored : page->messages) {
    if (loaded_count_ >= max_loaded_) {
      full = true;
      break;
    }
    pump_cursor_ = stored.id;
    // A group already here is being delivered; what follows its head is
    // loaded when the head is done.
    if (dispatcher_.KindOf(stored.group_key) != Dispatcher::GroupKind::kNone) continue;
    if (!LoadableLocked(stored, wall)) continue;
    EnqueueLoadedLocked(std::move(stored), now);
    ++added;
  }
  if (!full) pump_cursor_ = page->next_after;
  if (!full && !page->more) {
    pump_cursor_ = 0;
    if (added == 0) {
      next_pump_ = now + kPumpIdle;
      if (loaded_count_ == 0 && spill_buffer_.empty() && pending_groups_.empty()) {
        auto any = store_->LoadPage(options_.sink_name, 0, 1);
        if (any.ok() && any->messages.empty()) {
          store_may_have_ = false;
          cv_.notify_all();  // WaitUntilEmpty
        }
      }
    }
  }
  return added > 0;
}

// ---- operators -------------------------------------------------------------

namespace {

HeldState StoredStateOf(const StoredMessage& m) {
  return m.deliver_count > 0 ? HeldState::kFailed : HeldState::kPending;
}

// `now`: a stored not_before at the epoch (or past) means due now.
HeldMessage HeldFromStored(StoredMessage&& m, bool with_change, WallTime now) {
  HeldMessage h;
  h.id = m.id;
  h.state = StoredStateOf(m);
  h.table = m.change.relation ? m.change.relation->schema + "." + m.change.relation->name : "?";
  h.action = m.change.action;
  if (m.change.txn) {
    h.commit_lsn = m.change.txn->commit_lsn;
    h.commit_time_us = m.change.txn->commit_time_us;
  }
  h.partition_key = std::move(m.partition_key);
  h.deliver_count = m.deliver_count;
  h.last_error = std::move(m.last_error);
  if (m.deliver_count > 0) h.next_attempt_at = std::max(m.not_before, now);
  if (with_change) h.change = std::move(m.change);
  return h;
}

// Operators cannot act on a message whose outcome is not known yet.
Error InFlightError(uint64_t id) {
  return Error(ErrorCode::kUnavailable,
               "message " + std::to_string(id) + " is in flight; try again when its attempt ends");
}

// The store's rows that can be in `state` (nullopt: all).
std::optional<StoredState> StoreFilterFor(std::optional<HeldState> state) {
  if (!state) return StoredState::kAll;
  switch (*state) {
    case HeldState::kPending: return StoredState::kWaiting;
    case HeldState::kFailed: return StoredState::kFailing;
    case HeldState::kInFlight:
    case HeldState::kBackingOff: return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace

HeldMessage SinkRunner::HeldFromMemoryLocked(const Message& m, bool in_flight, SteadyTime now,
                                             WallTime wall) const {
  HeldMessage h;
  h.id = m.id;
  if (in_flight) {
    h.state = HeldState::kInFlight;
  } else if (m.deliver_count > 0) {
    h.state = m.stored ? HeldState::kFailed : HeldState::kBackingOff;
    h.next_attempt_at =
        m.not_before > now ? wall + duration_cast<milliseconds>(m.not_before - now) : wall;
  } else {
    h.state = HeldState::kPending;
  }
  h.table = TableOf(m);
  h.action = m.change.action;
  if (m.change.txn) {
    h.commit_lsn = m.change.txn->commit_lsn;
    h.commit_time_us = m.change.txn->commit_time_us;
  }
  h.partition_key = m.partition_key;
  h.deliver_count = m.deliver_count;
  h.last_error = m.last_error;
  return h;
}

Result<HeldPage> SinkRunner::ListHeld(std::optional<HeldState> state, uint64_t after_id,
                                      size_t limit, bool failing) {
  if (failing) state.reset();
  if (limit == 0) return Error(ErrorCode::kInvalidArgument, "limit must be at least 1");
  // In memory: the `limit` lowest ids above after_id in the state (a bounded
  // max-heap over one pass; nothing else is copied).
  std::vector<HeldMessage> memory;
  std::vector<uint64_t> loaded_ids;  // stored copies held in memory: memory wins
  bool memory_more = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const SteadyTime now = clock_.Now();
    const WallTime wall = clock_.WallNow();
    std::vector<std::pair<uint64_t, const Message*>> heap;
    auto offer = [&](const Message& m, bool in_flight) {
      if (m.stored) loaded_ids.push_back(m.id);
      if (m.id <= after_id) return;
      if (state || failing) {
        HeldState s = in_flight              ? HeldState::kInFlight
                      : m.deliver_count == 0 ? HeldState::kPending
                      : m.stored             ? HeldState::kFailed
                                             : HeldState::kBackingOff;
        if (failing ? (s != HeldState::kBackingOff && s != HeldState::kFailed) : s != *state) {
          return;
        }
      }
      if (heap.size() < limit) {
        heap.emplace_back(m.id, &m);
        std::push_heap(heap.begin(), heap.end());
      } else {
        memory_more = true;
        if (m.id < heap.front().first) {
          std::pop_heap(heap.begin(), heap.end());
          heap.back() = {m.id, &m};
          std::push_heap(heap.begin(), heap.end());
        }
      }
    };
    std::unordered_map<const Message*, bool> flight;
    dispatcher_.ForEachHeld([&](const Message& m, bool in_flight) {
      offer(m, in_flight);
      if (in_flight) flight[&m] = true;
    });
    for (const auto& m : spill_buffer_) offer(*m, false);
    std::sort(heap.begin(), heap.end());
    memory.reserve(heap.size());
    for (auto& [id, m] : heap)
      memory.push_back(HeldFromMemoryLocked(*m, flight.contains(m), now, wall));
  }
  // In the store: its first page of the state, merged by id.
  std::vector<HeldMessage> stored;
  bool store_more = false;
  if (store_ != nullptr) {
    if (auto filter =
            failing ? std::optional<StoredState>(StoredState::kFailing) : StoreFilterFor(state)) {
      SLUICE_ASSIGN_OR_RETURN(StoredPage page,
                              store_->List(options_.sink_name, *filter, after_id, limit));
      store_more = page.more;
      std::sort(loaded_ids.begin(), loaded_ids.end());
      for (auto& row : page.messages) {
        if (std::binary_search(loaded_ids.begin(), loaded_ids.end(), row.id)) continue;
        stored.push_back(HeldFromStored(std::move(row), false, clock_.WallNow()));
      }
    }
  }
  HeldPage out;
  size_t i = 0, j = 0;
  while (out.messages.size() < limit && (i < memory.size() || j < stored.size())) {
    if (j == stored.size() || (i < memory.size() && memory[i].id <= stored[j].id)) {
      if (j < stored.size() && memory[i].id == stored[j].id) ++j;
      out.messages.push_back(std::move(memory[i++]));
    } else {
      out.messages.push_back(std::move(stored[j++]));
    }
  }
  out.more = memory_more || store_more || i < memory.size() || j < stored.size();
  return out;
}

Result<std::optional<HeldMessage>> SinkRunner::GetHeld(uint64_t id) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    const SteadyTime now = clock_.Now();
    const WallTime wall = clock_.WallNow();
    if (auto found = dispatcher_.Find(id)) {
      HeldMessage h = HeldFromMemoryLocked(*found->message, found->in_flight, now, wall);
      h.change = found->message->change;
      return std::optional<HeldMessage>(std::move(h));
    }
    for (const auto& m : spill_buffer_) {
      if (m->id != id) continue;
      HeldMessage h = HeldFromMemoryLocked(*m, false, now, wall);
      h.change = m->change;
      return std::optional<HeldMessage>(std::move(h));
    }
  }
  if (store_ == nullptr) return std::optional<HeldMessage>();
  SLUICE_ASSIGN_OR_RETURN(auto row, store_->Get(options_.sink_name, id));
  if (!row) return std::optional<HeldMessage>();
  return std::optional<HeldMessage>(HeldFromStored(std::move(*row), true, clock_.WallNow()));
}

std::vector<DeliveredMessage> SinkRunner::ListDelivered(uint64_t before_id, size_t limit,
                                                        bool* more) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<DeliveredMessage> out;
  *more = false;
  const size_t n = delivered_ring_.size();
  // Newest first: backwards from the slot before delivered_next_. Ids are
  // not delivered in id order (groups interleave), so filter, then sort.
  std::vector<const DeliveredMessage*> picked;
  for (size_t k = 0; k < n; ++k) {
    const DeliveredMessage& d = delivered_ring_[(delivered_next_ + n - 1 - k) % n];
    if (before_id == 0 || d.id < before_id) picked.push_back(&d);
  }
  std::sort(picked.begin(), picked.end(),
            [](const DeliveredMessage* a, const DeliveredMessage* b) { return a->id > b->id; });
  if (picked.size() > limit) {
    *more = true;
    picked.resize(limit);
  }
  out.reserve(picked.size());
  for (const DeliveredMessage* d : picked) out.push_back(*d);
  return out;
}

std::optional<DeliveredMessage> SinkRunner::GetDelivered(uint64_t id) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const DeliveredMessage& d : delivered_ring_) {
    if (d.id == id) return d;
  }
  return std::nullopt;
}

std::unique_ptr<Message> SinkRunner::TakeFromSpillBufferLocked(uint64_t id) {
  for (auto it = spill_buffer_.begin(); it != spill_buffer_.end(); ++it) {
    if ((*it)->id != id) continue;
    std::unique_ptr<Message> m = std::move(*it);
    spill_buffer_.erase(it);
    auto group = pending_groups_.find(m->group);
    if (--group->second.count == 0) pending_groups_.erase(group);
    return m;
  }
  return nullptr;
}

void SinkRunner::WakeAll() {
  cv_.notify_all();
  senders_cv_.notify_all();
  store_cv_.notify_all();
}

Result<ActionCount> SinkRunner::Redeliver(Selection selection, uint64_t id) {
  if (selection == Selection::kAll) {
    return Error(ErrorCode::kInvalidArgument, "redeliver takes one message or the failed ones");
  }
  ActionCount count;
  bool in_memory = false;
  size_t loaded_skipped = 0;  // in flight, loaded: the store counts their rows too
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (selection == Selection::kOne) {
      if (auto found = dispatcher_.Find(id)) {
        in_memory = true;
        if (found->in_flight) {
          return InFlightError(id);
        }
        if (dispatcher_.RetryNow(found->message)) count.affected = 1;
      } else {
        for (const auto& m : spill_buffer_) in_memory = in_memory || m->id == id;
      }
    } else {
      std::vector<Message*> heads;
      dispatcher_.ForEachHeld([&](const Message& m, bool in_flight) {
        if (m.deliver_count == 0) return;
        if (in_flight) {
          ++count.skipped;
          if (m.stored) ++loaded_skipped;
          return;
        }
        heads.push_back(const_cast<Message*>(&m));
      });
      for (Message* m : heads) {
        if (dispatcher_.RetryNow(m)) ++count.affected;
      }
    }
    blocked_until_ = SteadyTime{};  // an operator asked: try now
  }
  if (store_ != nullptr && !(selection == Selection::kOne && in_memory)) {
    SLUICE_ASSIGN_OR_RETURN(size_t n, selection == Selection::kOne
                                          ? store_->RedeliverNow(options_.sink_name, id)
                                          : store_->RedeliverFailing(options_.sink_name));
    count.affected += n - std::min(n, loaded_skipped);
    if (selection == Selection::kOne && n == 0) {
      SLUICE_ASSIGN_OR_RETURN(auto row, store_->Get(options_.sink_name, id));
      in_memory = row.has_value();
    } else if (selection == Selection::kOne) {
      in_memory = true;
    }
    std::lock_guard<std::mutex> lock(mu_);
    next_pump_ = SteadyTime{};
    pump_cursor_ = 0;
  }
  if (selection == Selection::kOne && !in_memory) {
    return Error(ErrorCode::kNotFound,
                 "sink " + options_.sink_name + " holds no message " + std::to_string(id));
  }
  WakeAll();
  return count;
}

Result<ActionCount> SinkRunner::Discard(Selection selection, uint64_t id) {
  ActionCount count;
  bool found_one = false;
  size_t loaded_counted = 0;   // bulk: loaded messages dropped above
  std::vector<uint64_t> keep;  // bulk: loaded messages in flight, kept in the store
  {
    std::unique_lock<std::mutex> lock(mu_);
    const SteadyTime now = clock_.Now();
    StoreWork work;
    if (selection == Selection::kOne) {
      if (auto found = dispatcher_.Find(id)) {
        if (found->in_flight) {
          return InFlightError(id);
        }
        found_one = true;
        DropLocked(dispatcher_.Remove(found->message, now), work);
        ++count.affected;
      } else if (auto m = TakeFromSpillBufferLocked(id)) {
        found_one = true;
        DropLocked(std::move(m), work);
        ++count.affected;
      }
    } else {
      std::vector<Message*> picked;
      dispatcher_.ForEachHeld([&](const Message& m, bool in_flight) {
        if (selection == Selection::kFailed && m.deliver_count == 0) return;
        if (in_flight) {
          // Left alone, in memory and in the store: its outcome decides.
          if (m.stored) keep.push_back(m.id);
          ++count.skipped;
          return;
        }
        // A loaded message is still in the store, whose discard below
        // matches it too: counted here, not again there.
        if (m.stored) ++loaded_counted;
        picked.push_back(const_cast<Message*>(&m));
      });
      for (Message* m : picked) {
        DropLocked(dispatcher_.Remove(m, now), work);
        ++count.affected;
      }
      std::vector<uint64_t> ids;
      for (const auto& m : spill_buffer_) {
        if (selection == Selection::kAll || m->deliver_count > 0) ids.push_back(m->id);
      }
      for (uint64_t i : ids) {
        DropLocked(TakeFromSpillBufferLocked(i), work);
        ++count.affected;
      }
    }
    if (store_ != nullptr && (selection != Selection::kOne || !found_one)) {
      // In the store. Under mu_, so the pump does not load a message
      // meanwhile, and before the groups of the messages dropped above go on
      // (FinishStoreWorkLocked loads what follows them), so a bulk discard
      // takes those too.
      auto n = selection == Selection::kOne      ? store_->Discard(options_.sink_name, id)
               : selection == Selection::kFailed ? store_->DiscardFailing(options_.sink_name, keep)
                                                 : store_->DiscardAll(options_.sink_name, keep);
      if (!n.ok()) return n.error();
      const size_t fresh = *n - std::min(*n, loaded_counted);
      count.affected += fresh;
      metrics_->discarded.Increment(fresh);
      if (*n > 0) {
        found_one = true;
        next_pump_ = SteadyTime{};
        pump_cursor_ = 0;
      }
    }
    // Stored copies of dropped loaded messages are removed, and their groups
    // go on with what follows in the store.
    if (store_ != nullptr) FinishStoreWorkLocked(work);
  }
  if (selection == Selection::kOne && !found_one) {
    return Error(ErrorCode::kNotFound,
                 "sink " + options_.sink_name + " holds no message " + std::to_string(id));
  }
  WakeAll();
  return count;
}

void SinkRunner::SetPaused(bool paused) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (paused_ == paused) return;
    paused_ = paused;
    if (!paused) last_success_ = clock_.Now();  // paused time is not a stall
  }
  SLUICE_LOG_INFO("sink {}: {}", options_.sink_name, paused ? "paused" : "resumed");
  WakeAll();
}

Result<SinkBacklog> SinkRunner::Backlog() {
  SinkBacklog b;
  std::optional<uint64_t> oldest_id;
  uint64_t loaded_failing_in_flight = 0;
  uint64_t loaded_waiting_in_flight = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    dispatcher_.ForEachHeld([&](const Message& m, bool in_flight) {
      if (m.stored) {
        // Counted with the store, unless in flight: then it is in flight.
        if (in_flight) {
          ++b.in_flight;
          ++(m.deliver_count > 0 ? loaded_failing_in_flight : loaded_waiting_in_flight);
        }
        return;
      }
      if (in_flight) {
        ++b.in_flight;
      } else if (m.deliver_count > 0) {
        ++b.backing_off;
      } else {
        ++b.pending;
      }
    });
    for (const auto& m : spill_buffer_) ++(m->deliver_count > 0 ? b.backing_off : b.pending);
    // Ids increase in commit order: the oldest held message has the lowest.
    auto offer = [&](const Message& m) {
      if (!oldest_id || m.id < *oldest_id) {
        oldest_id = m.id;
        b.oldest_commit_time_us =
            m.change.txn ? std::optional<int64_t>(m.change.txn->commit_time_us) : std::nullopt;
      }
    };
    dispatcher_.ForEachHead(offer);
    if (!spill_buffer_.empty()) offer(*spill_buffer_.front());
  }
  if (store_ != nullptr) {
    SLUICE_ASSIGN_OR_RETURN(StoredCounts counts, store_->Count(options_.sink_name));
    b.failed = counts.failing - std::min(counts.failing, loaded_failing_in_flight);
    const uint64_t waiting = counts.waiting - std::min(counts.waiting, loaded_waiting_in_flight);
    b.pending += waiting;
    b.stored = b.failed + waiting;
    if (b.stored > 0) {
      SLUICE_ASSIGN_OR_RETURN(StoredPage first, store_->LoadPage(options_.sink_name, 0, 1));
      if (!first.messages.empty() && (!oldest_id || first.messages[0].id < *oldest_id) &&
          first.messages[0].change.txn) {
        b.oldest_commit_time_us = first.messages[0].change.txn->commit_time_us;
      }
    }
  }
  return b;
}

double SinkRunner::DeliveredPerSecond() const {
  const int64_t second =
      std::chrono::duration_cast<std::chrono::seconds>(clock_.Now().time_since_epoch()).count();
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t sum = 0;
  for (const RateBucket& b : rate_) {
    if (b.second >= second - kRateSeconds && b.second < second) sum += b.count;
  }
  return static_cast<double>(sum) / kRateSeconds;
}

SinkCondition SinkRunner::Condition() const {
  std::lock_guard<std::mutex> lock(mu_);
  SinkCondition c;
  c.paused = paused_;
  c.requests_failing = consecutive_request_failures_ > 0;
  c.last_request_error = last_request_error_;
  c.last_delivered_at = last_delivered_at_;
  return c;
}

}  // namespace sluice::delivery
