#include "delivery/sink_runner.h"

#include <utility>

#include "base/log.h"
#include "sink/kinesis/put_records.h"

namespace sluice::delivery {

SinkRunner::SinkRunner(SinkRunnerOptions options, kinesis::KinesisClient& client, AckTracker& acks,
                       MemoryBudget& budget, const Clock& clock, std::function<double()> random)
    : options_(std::move(options)),
      client_(client),
      acks_(acks),
      budget_(budget),
      clock_(clock),
      random_(std::move(random)) {}

SinkRunner::~SinkRunner() { Stop(); }

void SinkRunner::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!senders_.empty() || stopping_) return;
  for (int i = 0; i < options_.max_in_flight; ++i) senders_.emplace_back([this] { SenderLoop(); });
}

void SinkRunner::Enqueue(std::unique_ptr<Message> message) {
  budget_.Charge(message->memory_bytes);
  ingested_.fetch_add(1, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(mu_);
    dispatcher_.Enqueue(std::move(message));
  }
  cv_.notify_one();
}

void SinkRunner::Stop() {
  std::vector<std::thread> senders;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    senders.swap(senders_);
  }
  cv_.notify_all();
  for (auto& t : senders) t.join();
}

bool SinkRunner::WaitUntilEmpty(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return dispatcher_.size() == 0; });
}

SinkStats SinkRunner::Stats() const {
  SinkStats s;
  s.ingested = ingested_.load(std::memory_order_relaxed);
  s.delivered = delivered_.load(std::memory_order_relaxed);
  s.failed_attempts = failed_attempts_.load(std::memory_order_relaxed);
  s.discarded = discarded_.load(std::memory_order_relaxed);
  s.oversize = oversize_.load(std::memory_order_relaxed);
  s.requests = requests_.load(std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(mu_);
  s.pending = dispatcher_.size();
  s.in_flight = dispatcher_.in_flight();
  s.backing_off = dispatcher_.backing_off();
  return s;
}

void SinkRunner::SenderLoop() {
  std::string scratch;
  std::vector<Message*> batch;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      for (;;) {
        if (stopping_) return;
        batch = dispatcher_.TakeBatch(clock_.Now(), options_.batch_size);
        if (!batch.empty()) break;
        if (auto next = dispatcher_.NextRetryTime()) {
          cv_.wait_until(lock, *next);
        } else {
          cv_.wait(lock);
        }
      }
    }
    Deliver(batch, scratch);
  }
}

void SinkRunner::Deliver(std::vector<Message*>& batch, std::string& scratch) {
  struct LocalFailure {
    Message* message;
    std::string error;
  };
  kinesis::PutRecordsBuilder builder(options_.stream);
  std::vector<Message*> sent;
  std::vector<Message*> returned;
  std::vector<LocalFailure> local_failures;
  sent.reserve(batch.size());

  for (Message* m : batch) {
    scratch.clear();
    model::EncodeMessage(m->change, options_.encode, &scratch);
    const size_t bytes = kinesis::PutRecordsBuilder::RecordBytes(scratch, m->partition_key);
    if (bytes > options_.max_record_bytes) {
      oversize_.fetch_add(1, std::memory_order_relaxed);
      std::string error = "oversize: record is " + std::to_string(bytes) + " bytes (data " +
                          std::to_string(scratch.size()) + " + partition key " +
                          std::to_string(m->partition_key.size()) +
                          "), over the stream's maximum record size of " +
                          std::to_string(options_.max_record_bytes) + " bytes; not sent";
      if (m->deliver_count == 0) {
        SLUICE_LOG_WARN("sink {}: message {} ({}.{}, commit_lsn {}): {}", options_.sink_name, m->id,
                        m->change.relation ? m->change.relation->schema : "",
                        m->change.relation ? m->change.relation->name : "",
                        m->change.txn ? m->change.txn->commit_lsn.value() : 0, error);
      }
      local_failures.push_back({m, std::move(error)});
      continue;
    }
    if (!builder.Fits(bytes)) {
      returned.push_back(m);
      continue;
    }
    builder.Add(scratch, m->partition_key);
    sent.push_back(m);
  }

  kinesis::PutRecordsResult result;
  if (!sent.empty()) {
    requests_.fetch_add(1, std::memory_order_relaxed);
    result = client_.PutRecords(options_.stream, builder.Finish(), sent.size());
    if (result.failure != kinesis::RequestFailure::kNone) {
      SLUICE_LOG_WARN("sink {}: PutRecords of {} records to {} failed ({}): {}{}{}",
                      options_.sink_name, sent.size(), options_.stream.arn,
                      kinesis::RequestFailureName(result.failure), result.error_code,
                      result.error_code.empty() ? "" : ": ", result.error_message);
    }
  }

  const SteadyTime now = clock_.Now();
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (Message* m : returned) dispatcher_.Returned(m);
    for (auto& f : local_failures) Complete(f.message, false, f.error, now);
    if (result.failure == kinesis::RequestFailure::kNone && result.records.size() != sent.size()) {
      // The client guarantees one outcome per record; never index past them.
      result.failure = kinesis::RequestFailure::kBadResponse;
      result.error_message = "response has " + std::to_string(result.records.size()) +
                             " records for a request of " + std::to_string(sent.size());
    }
    if (result.failure != kinesis::RequestFailure::kNone) {
      std::string error = std::string(kinesis::RequestFailureName(result.failure));
      if (!result.error_code.empty()) error += ": " + result.error_code;
      if (!result.error_message.empty()) error += ": " + result.error_message;
      for (Message* m : sent) Complete(m, false, error, now);
    } else {
      for (size_t i = 0; i < sent.size(); ++i) {
        const auto& r = result.records[i];
        Complete(sent[i], r.ok, r.ok ? std::string() : r.error_code + ": " + r.error_message, now);
      }
    }
  }
  cv_.notify_all();
}

// Called with mu_ held.
void SinkRunner::Complete(Message* m, bool ok, const std::string& error, SteadyTime now) {
  ++m->deliver_count;
  if (ok) {
    auto owned = dispatcher_.Delivered(m);
    delivered_.fetch_add(1, std::memory_order_relaxed);
    acks_.Resolve(owned->ticket);
    budget_.Release(owned->memory_bytes);
    return;
  }
  failed_attempts_.fetch_add(1, std::memory_order_relaxed);
  m->last_error = error;
  if (options_.retry.Exhausted(m->deliver_count)) {
    SLUICE_LOG_ERROR("sink {}: discarding message {} after {} attempts (max_retry_count {}): {}",
                     options_.sink_name, m->id, m->deliver_count, *options_.retry.max_retry_count,
                     error);
    auto owned = dispatcher_.Dropped(m);
    discarded_.fetch_add(1, std::memory_order_relaxed);
    acks_.Resolve(owned->ticket);
    budget_.Release(owned->memory_bytes);
    return;
  }
  auto delay = options_.retry.Delay(m->deliver_count, random_());
  dispatcher_.Failed(m, now + delay);
}

}  // namespace sluice::delivery
