#include "delivery/sink_runner.h"

#include <algorithm>
#include <utility>

#include "base/log.h"
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

std::string TableOf(const Message& m) {
  if (!m.change.relation) return "?";
  return m.change.relation->schema + "." + m.change.relation->name;
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
      store_may_have_(options_.store != nullptr) {}

SinkRunner::~SinkRunner() { Stop(); }

Status SinkRunner::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (started_ || stopping_) return OkStatus();
  started_ = true;
  last_success_ = clock_.Now();
  if (options_.deliver) {
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
      senders_.emplace_back([this, m = std::move(maker)]() mutable { SenderLoop(std::move(m)); });
    }
  }
  if (store_ != nullptr) store_thread_ = std::thread([this] { StoreLoop(); });
  return OkStatus();
}

void SinkRunner::Enqueue(std::unique_ptr<Message> message) {
  budget_.Charge(message->memory_bytes);
  ingested_.fetch_add(1, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (store_ != nullptr && StoreResidentLocked(message->group)) {
      ToSpillBufferLocked(std::move(message));
      return;  // the store thread writes it on its next tick
    }
    dispatcher_.Enqueue(std::move(message), clock_.Now());
  }
  cv_.notify_one();
}

bool SinkRunner::Stop(std::chrono::milliseconds deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  if (stopped_) return stop_clean_;
  stopped_ = true;
  stopping_ = true;
  cv_.notify_all();
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
  s.ingested = ingested_.load(std::memory_order_relaxed);
  s.delivered = delivered_.load(std::memory_order_relaxed);
  s.filtered = filtered_.load(std::memory_order_relaxed);
  s.failed_attempts = failed_attempts_.load(std::memory_order_relaxed);
  s.discarded = discarded_.load(std::memory_order_relaxed);
  s.oversize = oversize_.load(std::memory_order_relaxed);
  s.requests = requests_.load(std::memory_order_relaxed);
  s.request_failures = request_failures_.load(std::memory_order_relaxed);
  s.stored = stored_.load(std::memory_order_relaxed);
  s.loaded = loaded_.load(std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(mu_);
  s.pending = dispatcher_.size() + spill_buffer_.size();
  s.in_flight = dispatcher_.in_flight();
  s.backing_off = dispatcher_.backing_off();
  return s;
}

// ---- sending ---------------------------------------------------------------

void SinkRunner::SenderLoop(std::unique_ptr<RecordMaker> maker) {
  Record record;
  std::vector<Message*> batch;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      for (;;) {
        if (stopping_) {
          --active_senders_;
          cv_.notify_all();
          return;
        }
        const SteadyTime now = clock_.Now();
        if (now < blocked_until_) {
          cv_.wait_until(lock, blocked_until_);
          continue;
        }
        batch = dispatcher_.TakeBatch(now, options_.batch_size);
        if (!batch.empty()) break;
        if (auto next = dispatcher_.NextRetryTime()) {
          cv_.wait_until(lock, *next);
        } else {
          cv_.wait(lock);
        }
      }
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

  for (Message* m : batch) {
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
      if (m->deliver_count == 0) oversize_.fetch_add(1, std::memory_order_relaxed);
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
    }
    if (!request->builder.Fits(bytes)) {
      returned.push_back(m);
      continue;
    }
    request->builder.Add(record.data, m->partition_key);
    request->sent.push_back(m);
  }

  for (auto& r : requests) {
    if (r->sent.empty()) continue;
    requests_.fetch_add(1, std::memory_order_relaxed);
    r->result = client_.PutRecords(r->stream, r->builder.Finish(), r->sent.size());
    if (r->result.failure == kinesis::RequestFailure::kNone &&
        r->result.records.size() != r->sent.size()) {
      // The client guarantees one outcome per record; never index past them.
      r->result.failure = kinesis::RequestFailure::kBadResponse;
      r->result.error_message = "response has " + std::to_string(r->result.records.size()) +
                                " records for a request of " + std::to_string(r->sent.size());
    }
    if (r->result.failure != kinesis::RequestFailure::kNone) {
      request_failures_.fetch_add(1, std::memory_order_relaxed);
      SLUICE_LOG_WARN("sink {}: PutRecords of {} records to {} failed ({}): {}{}{}",
                      options_.sink_name, r->sent.size(), r->stream.arn,
                      kinesis::RequestFailureName(r->result.failure), r->result.error_code,
                      r->result.error_code.empty() ? "" : ": ", r->result.error_message);
    }
  }

  const SteadyTime now = clock_.Now();
  {
    std::lock_guard<std::mutex> lock(mu_);
    StoreWork work;
    for (Message* m : returned) dispatcher_.Returned(m);
    for (Message* m : filtered) SucceedLocked(m, /*filtered=*/true, now, work);
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
        continue;
      }
      for (size_t i = 0; i < r->sent.size(); ++i) {
        const auto& rec = result.records[i];
        if (rec.ok) {
          any_put = true;
          SucceedLocked(r->sent[i], /*filtered=*/false, now, work);
        } else {
          FailLocked(r->sent[i], rec.error_code + ": " + rec.error_message, now, work);
        }
      }
    }
    if (any_put) last_success_ = now;
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
  }
  cv_.notify_all();
}

void SinkRunner::ReleaseLocked(std::unique_ptr<Message> owned) {
  if (owned->stored) --loaded_count_;
  budget_.Release(owned->memory_bytes);
}

void SinkRunner::SucceedLocked(Message* m, bool filtered, SteadyTime now, StoreWork& work) {
  if (!filtered) ++m->deliver_count;
  if (m->stored) {
    work.remove.push_back(m->id);
    work.advance.emplace_back(m->id, m->group);
  }
  auto owned = dispatcher_.Delivered(m, now);
  (filtered ? filtered_ : delivered_).fetch_add(1, std::memory_order_relaxed);
  if (owned->ticket) acks_.Resolve(owned->ticket);
  ReleaseLocked(std::move(owned));
}

void SinkRunner::FailLocked(Message* m, const std::string& error, SteadyTime now, StoreWork& work) {
  ++m->deliver_count;
  failed_attempts_.fetch_add(1, std::memory_order_relaxed);
  m->last_error = error;
  if (options_.retry.Exhausted(m->deliver_count)) {
    SLUICE_LOG_ERROR(
        "sink {}: discarding message {} ({}) after {} attempts (max_retry_count {}): {}",
        options_.sink_name, m->id, TableOf(*m), m->deliver_count, *options_.retry.max_retry_count,
        error);
    if (m->stored) {
      work.remove.push_back(m->id);
      work.advance.emplace_back(m->id, m->group);
    }
    auto owned = dispatcher_.Dropped(m, now);
    discarded_.fetch_add(1, std::memory_order_relaxed);
    if (owned->ticket) acks_.Resolve(owned->ticket);
    ReleaseLocked(std::move(owned));
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
  loaded_.fetch_add(1, std::memory_order_relaxed);
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
      const bool sink_stalled = !options_.deliver || last_success_ <= older_than;
      auto spilled = sink_stalled ? dispatcher_.Spill(older_than, 0, room)
                                  : dispatcher_.SpillBackingOff(older_than, room);
      more = spilled.size() >= room;
      for (auto& m : spilled) ToSpillBufferLocked(std::move(m));
    }
    if (!spill_buffer_.empty()) FlushSpillBuffer(lock);
    if (options_.deliver && PumpLocked(clock_.Now())) cv_.notify_all();
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
  stored_.fetch_add(batch.size(), std::memory_order_relaxed);
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

}  // namespace sluice::delivery
