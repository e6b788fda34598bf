#include "app/service_control.h"

#include <algorithm>
#include <charconv>

#include "metrics/prometheus.h"
#include "model/encoder.h"

namespace sluice::app {

namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

constexpr auto kBacklogCacheFor = std::chrono::seconds(1);

api::MessageState StateName(delivery::HeldState s) {
  switch (s) {
    case delivery::HeldState::kPending: return api::MessageState::kPending;
    case delivery::HeldState::kInFlight: return api::MessageState::kInFlight;
    case delivery::HeldState::kBackingOff: return api::MessageState::kBackingOff;
    case delivery::HeldState::kFailed: return api::MessageState::kFailed;
  }
  return api::MessageState::kPending;
}

std::optional<WallTime> CommitTime(int64_t commit_time_us) {
  if (commit_time_us <= 0) return std::nullopt;
  return WallTime(
      std::chrono::duration_cast<WallTime::duration>(std::chrono::microseconds(commit_time_us)));
}

api::MessageSummary FromHeld(const delivery::HeldMessage& h) {
  api::MessageSummary m;
  m.id = h.id;
  m.state = StateName(h.state);
  m.table = h.table;
  m.action = model::ActionName(h.action);
  m.commit_lsn = h.commit_lsn.ToString();
  m.committed_at = CommitTime(h.commit_time_us);
  m.partition_key = h.partition_key;
  m.deliver_count = h.deliver_count;
  m.last_error = h.last_error;
  m.next_attempt_at = h.next_attempt_at;
  return m;
}

api::MessageSummary FromDelivered(const delivery::DeliveredMessage& d) {
  api::MessageSummary m;
  m.id = d.id;
  m.state = api::MessageState::kDelivered;
  m.table = d.table;
  m.action = model::ActionName(d.action);
  m.commit_lsn = d.commit_lsn.ToString();
  m.committed_at = CommitTime(d.commit_time_us);
  m.partition_key = d.partition_key;
  m.deliver_count = d.deliver_count;
  m.delivered_at = d.delivered_at;
  m.stream_arn = d.stream_arn;
  m.shard_id = d.shard_id;
  m.sequence_number = d.sequence_number;
  return m;
}

delivery::Selection ToDelivery(api::Selection s) {
  switch (s) {
    case api::Selection::kOne: return delivery::Selection::kOne;
    case api::Selection::kFailed: return delivery::Selection::kFailed;
    case api::Selection::kAll: return delivery::Selection::kAll;
  }
  return delivery::Selection::kOne;
}

Result<uint64_t> ParseCursor(const std::string& cursor) {
  if (cursor.empty()) return uint64_t{0};
  uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(cursor.data(), cursor.data() + cursor.size(), value);
  if (ec != std::errc() || ptr != cursor.data() + cursor.size() || value == 0) {
    return Error(ErrorCode::kInvalidArgument,
                 "cursor must be the next_cursor of an earlier page, got \"" + cursor + "\"");
  }
  return value;
}

}  // namespace

struct ServiceControl::Entry {
  ControlledSink sink;
  std::string name;

  std::mutex mu;
  delivery::SinkBacklog backlog;  // GUARDED_BY(mu)
  SteadyTime backlog_at{};        // GUARDED_BY(mu)
  bool backlog_valid = false;     // GUARDED_BY(mu)

  // The payload preview's own RecordMaker (functions are single-threaded).
  std::mutex preview_mu;
  std::unique_ptr<delivery::RecordMaker> preview;  // GUARDED_BY(preview_mu)
};

ServiceControl::ServiceControl(std::vector<ControlledSink> sinks, metrics::Registry& registry,
                               const Clock& clock)
    : registry_(registry), clock_(clock) {
  for (auto& s : sinks) {
    auto e = std::make_unique<Entry>();
    e->name = s.runner->options().sink_name;
    e->sink = s;
    entries_.push_back(std::move(e));
  }
  auto& in_flight = registry_.AddGauge("sluice_messages_in_flight",
                                       "Messages in PutRecords requests now.", {"sink"});
  auto& waiting = registry_.AddGauge(
      "sluice_messages_waiting",
      "Messages not yet resolved and not in flight, in memory or in the local store.", {"sink"});
  auto& oldest =
      registry_.AddGauge("sluice_oldest_waiting_message_age_seconds",
                         "Now minus the commit time of the oldest waiting message.", {"sink"});
  auto& lag = registry_.AddGauge(
      "sluice_replication_lag_bytes",
      "The server's WAL end minus the position sluice acknowledged for its slot.", {"database"});
  std::vector<std::string> databases;
  for (auto& e : entries_) {
    Entry* raw = e.get();
    in_flight.AddCallback({raw->name},
                          [this, raw] { return static_cast<double>(BacklogOf(*raw).in_flight); });
    waiting.AddCallback({raw->name}, [this, raw] {
      auto b = BacklogOf(*raw);
      return static_cast<double>(b.pending + b.backing_off + b.failed);
    });
    oldest.AddCallback({raw->name}, [this, raw] {
      auto b = BacklogOf(*raw);
      auto at = b.oldest_commit_time_us ? CommitTime(*b.oldest_commit_time_us) : std::nullopt;
      if (!at) return 0.0;
      return std::max(0.0, std::chrono::duration<double>(clock_.WallNow() - *at).count());
    });
    if (std::find(databases.begin(), databases.end(), raw->sink.database) == databases.end()) {
      databases.push_back(raw->sink.database);
      lag.AddCallback({raw->sink.database},
                      [this, raw] { return static_cast<double>(LagBytes(*raw)); });
    }
  }
}

ServiceControl::~ServiceControl() = default;

ServiceControl::Entry* ServiceControl::Find(std::string_view name) {
  for (auto& e : entries_) {
    if (e->name == name) return e.get();
  }
  return nullptr;
}

Result<ServiceControl::Entry*> ServiceControl::FindOrError(std::string_view name) {
  if (Entry* e = Find(name)) return e;
  return Error(ErrorCode::kNotFound,
               "sink \"" + std::string(name) + "\" is not configured or not running");
}

uint64_t ServiceControl::LagBytes(const Entry& e) const {
  if (e.sink.source == nullptr || e.sink.acks == nullptr) return 0;
  const uint64_t end = e.sink.source->ServerWalEnd().value();
  const uint64_t acked = e.sink.acks->Acknowledged().value();
  return end > acked ? end - acked : 0;
}

delivery::SinkBacklog ServiceControl::BacklogOf(Entry& e, bool fresh) {
  const SteadyTime now = clock_.Now();
  if (!fresh) {
    std::lock_guard<std::mutex> lock(e.mu);
    if (e.backlog_valid && now - e.backlog_at < kBacklogCacheFor) return e.backlog;
  }
  auto backlog = e.sink.runner->Backlog();
  std::lock_guard<std::mutex> lock(e.mu);
  if (backlog.ok()) {
    e.backlog = *backlog;
    e.backlog_at = now;
    e.backlog_valid = true;
  }
  return e.backlog;
}

api::SinkSummary ServiceControl::Summarize(Entry& e) {
  delivery::SinkRunner& runner = *e.sink.runner;
  const delivery::SinkStats stats = runner.Stats();
  const delivery::SinkCondition condition = runner.Condition();
  api::SinkSummary s;
  s.name = e.name;
  s.database = e.sink.database;
  s.stream_arn = runner.options().stream.arn;
  s.paused = condition.paused;
  s.lag_bytes = LagBytes(e);
  s.counts.ingested = stats.ingested;
  s.counts.delivered = stats.delivered;
  s.counts.failed_attempts = stats.failed_attempts;
  s.counts.filtered = stats.filtered;
  s.counts.discarded = stats.discarded;
  s.counts.oversize = stats.oversize;
  s.counts.throttled = runner.metrics().throttled.Value();
  s.last_delivered_at = condition.last_delivered_at;
  s.delivered_per_second = runner.DeliveredPerSecond();

  // Fresh for a summary (the cache serves scrapes).
  const delivery::SinkBacklog b = BacklogOf(e, /*fresh=*/true);
  s.backlog.pending = b.pending;
  s.backlog.in_flight = b.in_flight;
  s.backlog.backing_off = b.backing_off;
  s.backlog.failed = b.failed;
  s.backlog.stored = b.stored;
  if (b.oldest_commit_time_us) s.oldest_waiting_committed_at = CommitTime(*b.oldest_commit_time_us);

  const uint64_t failing = b.backing_off + b.failed;
  if (condition.paused) {
    s.health = api::SinkHealth::kPaused;
    s.health_reason = "paused: nothing is sent; changes collect in the local store";
  } else if (condition.requests_failing) {
    s.health = api::SinkHealth::kFailing;
    s.health_reason = "requests to Kinesis fail; retrying: " + condition.last_request_error;
  } else if (failing > 0) {
    s.health = api::SinkHealth::kDegraded;
    s.health_reason =
        std::to_string(failing) + (failing == 1 ? " message is" : " messages are") + " failing";
    for (auto state : {delivery::HeldState::kBackingOff, delivery::HeldState::kFailed}) {
      auto first = runner.ListHeld(state, 0, 1);
      if (first.ok() && !first->messages.empty()) {
        s.health_reason += "; message " + std::to_string(first->messages[0].id) + ": " +
                           first->messages[0].last_error;
        break;
      }
    }
  }
  return s;
}

std::vector<api::SinkSummary> ServiceControl::Sinks() {
  std::vector<api::SinkSummary> out;
  for (auto& e : entries_) out.push_back(Summarize(*e));
  return out;
}

Result<api::SinkSummary> ServiceControl::Sink(std::string_view name) {
  SLUICE_ASSIGN_OR_RETURN(Entry * e, FindOrError(name));
  return Summarize(*e);
}

Result<api::MessagePage> ServiceControl::Messages(std::string_view sink,
                                                  const api::MessageQuery& query) {
  SLUICE_ASSIGN_OR_RETURN(Entry * e, FindOrError(sink));
  SLUICE_ASSIGN_OR_RETURN(uint64_t cursor, ParseCursor(query.cursor));
  api::MessagePage page;
  if (query.state == api::MessageState::kDelivered) {
    bool more = false;
    auto delivered = e->sink.runner->ListDelivered(cursor, query.limit, &more);
    for (const auto& d : delivered) page.messages.push_back(FromDelivered(d));
    if (more && !page.messages.empty()) page.next_cursor = std::to_string(page.messages.back().id);
    return page;
  }
  std::optional<delivery::HeldState> state;
  if (query.state) {
    switch (*query.state) {
      case api::MessageState::kPending: state = delivery::HeldState::kPending; break;
      case api::MessageState::kInFlight: state = delivery::HeldState::kInFlight; break;
      case api::MessageState::kBackingOff: state = delivery::HeldState::kBackingOff; break;
      case api::MessageState::kFailed: state = delivery::HeldState::kFailed; break;
      case api::MessageState::kDelivered: break;
    }
  }
  SLUICE_ASSIGN_OR_RETURN(auto held,
                          e->sink.runner->ListHeld(state, cursor, query.limit, query.failing));
  for (const auto& h : held.messages) page.messages.push_back(FromHeld(h));
  if (held.more && !page.messages.empty())
    page.next_cursor = std::to_string(page.messages.back().id);
  return page;
}

Result<api::MessageDetail> ServiceControl::Message(std::string_view sink, uint64_t id) {
  SLUICE_ASSIGN_OR_RETURN(Entry * e, FindOrError(sink));
  delivery::SinkRunner& runner = *e->sink.runner;
  SLUICE_ASSIGN_OR_RETURN(auto held, runner.GetHeld(id));
  api::MessageDetail detail;
  if (!held) {
    if (auto d = runner.GetDelivered(id)) {
      detail.summary = FromDelivered(*d);
      return detail;
    }
    return Error(ErrorCode::kNotFound,
                 "sink \"" + e->name + "\" holds no message " + std::to_string(id) +
                     " (it may have been delivered more than 1000 messages ago, or discarded)");
  }
  detail.summary = FromHeld(*held);
  const model::Change& change = *held->change;
  model::EncodeMessage(change, runner.options().encode, &detail.change_json);

  std::lock_guard<std::mutex> lock(e->preview_mu);
  if (!e->preview) {
    const auto& options = runner.options();
    delivery::RecordMakerFactory factory = options.make_record_maker
                                               ? options.make_record_maker
                                               : delivery::EncodingRecordMakers(options.encode);
    auto maker = factory();
    if (!maker.ok()) {
      detail.payload_error = maker.error().message();
      return detail;
    }
    e->preview = std::move(*maker);
  }
  delivery::Record record;
  Status made = e->preview->Make(change, &record);
  if (!made.ok()) {
    detail.payload_error = made.error().message();
    return detail;
  }
  detail.payload_filtered = record.filtered;
  detail.payload_stream_arn = record.stream ? record.stream->arn : runner.options().stream.arn;
  if (!record.filtered) detail.payload_json = std::move(record.data);
  return detail;
}

Result<api::ActionResult> ServiceControl::Redeliver(std::string_view sink, api::Selection selection,
                                                    uint64_t id) {
  SLUICE_ASSIGN_OR_RETURN(Entry * e, FindOrError(sink));
  SLUICE_ASSIGN_OR_RETURN(auto n, e->sink.runner->Redeliver(ToDelivery(selection), id));
  return api::ActionResult{n.affected, n.skipped};
}

Result<api::ActionResult> ServiceControl::Discard(std::string_view sink, api::Selection selection,
                                                  uint64_t id) {
  SLUICE_ASSIGN_OR_RETURN(Entry * e, FindOrError(sink));
  SLUICE_ASSIGN_OR_RETURN(auto n, e->sink.runner->Discard(ToDelivery(selection), id));
  return api::ActionResult{n.affected, n.skipped};
}

Status ServiceControl::Pause(std::string_view sink) {
  SLUICE_ASSIGN_OR_RETURN(Entry * e, FindOrError(sink));
  e->sink.runner->SetPaused(true);
  return OkStatus();
}

Status ServiceControl::Resume(std::string_view sink) {
  SLUICE_ASSIGN_OR_RETURN(Entry * e, FindOrError(sink));
  e->sink.runner->SetPaused(false);
  return OkStatus();
}

Result<std::vector<api::BackfillInfo>> ServiceControl::Backfills(std::string_view sink) {
  SLUICE_ASSIGN_OR_RETURN(Entry * e, FindOrError(sink));
  if (e->sink.backfills == nullptr) return std::vector<api::BackfillInfo>{};
  return e->sink.backfills->List(e->name);
}

Result<api::BackfillInfo> ServiceControl::StartBackfill(std::string_view sink,
                                                        const api::BackfillRequest& request) {
  SLUICE_ASSIGN_OR_RETURN(Entry * e, FindOrError(sink));
  if (e->sink.backfills == nullptr) {
    return Error(ErrorCode::kUnavailable, "sink \"" + e->name + "\" cannot backfill");
  }
  return e->sink.backfills->StartBackfill(e->name, request);
}

Result<api::BackfillInfo> ServiceControl::CancelBackfill(std::string_view sink, uint64_t id) {
  SLUICE_ASSIGN_OR_RETURN(Entry * e, FindOrError(sink));
  if (e->sink.backfills == nullptr) {
    return Error(ErrorCode::kNotFound,
                 "sink \"" + e->name + "\" has no backfill " + std::to_string(id));
  }
  return e->sink.backfills->Cancel(e->name, id);
}

std::string ServiceControl::MetricsText() { return metrics::RenderPrometheusText(registry_); }

api::Readiness ServiceControl::Ready() {
  api::Readiness r;
  std::vector<const source::ReplicationSource*> seen;
  for (auto& e : entries_) {
    const auto* src = e->sink.source;
    if (src == nullptr || std::find(seen.begin(), seen.end(), src) != seen.end()) continue;
    seen.push_back(src);
    if (!src->streaming()) {
      r.reasons.push_back("database " + e->sink.database +
                          ": replication stream not running (connecting or reconnecting)");
    }
  }
  r.ready = r.reasons.empty();
  return r;
}

}  // namespace sluice::app
