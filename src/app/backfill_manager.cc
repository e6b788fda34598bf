#include "app/backfill_manager.h"

#include <openssl/rand.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <deque>
#include <optional>

#include "app/router.h"
#include "base/log.h"
#include "base/thread_name.h"
#include "source/backfill_sql.h"
#include "source/pg_connection.h"

namespace sluice::app {

namespace {

using std::chrono::milliseconds;

constexpr size_t kFirstPageSize = 1000;
constexpr size_t kMinPageSize = 100;
constexpr size_t kMaxPageSize = 10000;
constexpr milliseconds kTargetQueryTime{250};
constexpr auto kRateWindow = std::chrono::seconds(10);
constexpr milliseconds kIdleWait{200};
constexpr milliseconds kBusyWait{10};

std::string RunId() {
  unsigned char bytes[8];
  if (RAND_bytes(bytes, sizeof bytes) != 1) return "run";
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

std::string KeyJson(const std::vector<source::KeyValue>& key) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> out(buffer);
  out.StartArray();
  for (const auto& v : key) {
    if (v) {
      out.String(v->data(), static_cast<rapidjson::SizeType>(v->size()));
    } else {
      out.Null();
    }
  }
  out.EndArray();
  return std::string(buffer.GetString(), buffer.GetSize());
}

std::optional<std::vector<source::KeyValue>> ParseKeyJson(const std::string& text) {
  if (text.empty()) return std::vector<source::KeyValue>{};
  rapidjson::Document doc;
  doc.Parse(text.data(), text.size());
  if (doc.HasParseError() || !doc.IsArray()) return std::nullopt;
  std::vector<source::KeyValue> key;
  for (const auto& v : doc.GetArray()) {
    if (v.IsNull()) {
      key.emplace_back(std::nullopt);
    } else if (v.IsString()) {
      key.emplace_back(std::string(v.GetString(), v.GetStringLength()));
    } else {
      return std::nullopt;
    }
  }
  return key;
}

api::BackfillState StateOf(const std::string& s) {
  if (s == "done") return api::BackfillState::kDone;
  if (s == "cancelled") return api::BackfillState::kCancelled;
  if (s == "failed") return api::BackfillState::kFailed;
  return api::BackfillState::kRunning;
}

// Whether the sink takes this table (its include/exclude lists).
bool SinkTakes(const config::SinkSettings& sink, const std::string& qualified) {
  const auto dot = qualified.find('.');
  if (dot == std::string::npos) return false;
  model::Relation rel;
  rel.schema = qualified.substr(0, dot);
  rel.name = qualified.substr(dot + 1);
  return Router::PlanFor(sink, rel).wanted;
}

}  // namespace

struct BackfillManager::Connection {
  source::PgConn conn;
};

struct BackfillManager::Job {
  delivery::BackfillRecord record;  // GUARDED_BY(mu_) for readers; written by the thread
  const Sink* sink = nullptr;
  std::optional<source::BackfillTable> table;  // thread only
  std::vector<source::KeyValue> next_after;    // thread only: read after this key
  bool reading_done = false;                   // thread only
  uint64_t next_page = 1;                      // thread only
  struct Outstanding {
    uint64_t page = 0;
    std::vector<source::KeyValue> after;     // the key it was read after
    std::vector<source::KeyValue> last_key;  // its last row's key
    uint64_t rows = 0;
    std::optional<BackfillPages::Emission> emission;
  };
  std::deque<Outstanding> outstanding;                  // thread only
  size_t page_size = kFirstPageSize;                    // GUARDED_BY(mu_)
  bool waiting = false;                                 // GUARDED_BY(mu_)
  bool cancelled = false;                               // GUARDED_BY(mu_)
  std::deque<std::pair<SteadyTime, uint64_t>> samples;  // GUARDED_BY(mu_): (when, rows_done)
  SteadyTime retry_at{};                                // thread only
  int failures = 0;                                     // thread only
};

BackfillManager::BackfillManager(const config::DatabaseSettings& db, std::vector<Sink> sinks,
                                 delivery::MessageStore& store, delivery::AckTracker& acks,
                                 delivery::MemoryBudget& budget, const Clock& clock,
                                 std::function<bool()> source_streaming)
    : db_(db),
      sinks_(std::move(sinks)),
      store_(store),
      acks_(acks),
      budget_(budget),
      clock_(clock),
      pages_(RunId()),
      source_streaming_(std::move(source_streaming)),
      conn_(std::make_unique<Connection>()) {}

BackfillManager::~BackfillManager() { Stop(); }

const BackfillManager::Sink* BackfillManager::FindSink(std::string_view name) const {
  for (const Sink& s : sinks_) {
    if (s.settings->name == name) return &s;
  }
  return nullptr;
}

bool BackfillManager::HasSink(std::string_view sink) const { return FindSink(sink) != nullptr; }

Status BackfillManager::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  for (const Sink& sink : sinks_) {
    SLUICE_ASSIGN_OR_RETURN(auto records, store_.Backfills(sink.settings->name));
    for (auto& record : records) {
      if (record.state != "running") continue;
      auto job = std::make_unique<Job>();
      job->sink = &sink;
      auto key = ParseKeyJson(record.last_key);
      if (!key) {
        return Error(ErrorCode::kIo, "backfill " + std::to_string(record.id) +
                                         " in the local store has a malformed last_key");
      }
      job->next_after = std::move(*key);
      SLUICE_LOG_INFO("sink {}: backfill {} of {} resumes after {} rows", sink.settings->name,
                      record.id, record.table, record.rows_done);
      job->record = std::move(record);
      jobs_.push_back(std::move(job));
    }
  }
  thread_ = std::thread([this] {
    NameThisThread("backfill:" + db_.name);
    Run();
  });
  return OkStatus();
}

void BackfillManager::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

api::BackfillInfo BackfillManager::InfoOf(const delivery::BackfillRecord& r, const Job* job) const {
  api::BackfillInfo info;
  info.id = r.id;
  info.sink = r.sink;
  info.table = r.table;
  info.sort_column = r.sort_column;
  info.start_position = r.start_position;
  info.origin = r.origin;
  info.state = StateOf(r.state);
  info.rows_done = r.rows_done;
  info.rows_estimate = r.rows_estimate;
  info.started_at = r.created_at;
  info.finished_at = r.finished_at;
  info.error = r.error;
  if (job != nullptr) {
    info.page_size = job->page_size;
    info.waiting = job->waiting;
    if (job->samples.size() >= 2) {
      const auto& [t0, n0] = job->samples.front();
      const auto& [t1, n1] = job->samples.back();
      const double seconds = std::chrono::duration<double>(t1 - t0).count();
      if (seconds > 0) info.rows_per_second = static_cast<double>(n1 - n0) / seconds;
    }
    if (info.rows_per_second > 0 && r.rows_estimate > r.rows_done) {
      info.eta_seconds = static_cast<double>(r.rows_estimate - r.rows_done) / info.rows_per_second;
    } else if (info.rows_per_second > 0) {
      info.eta_seconds = 0;
    }
  }
  return info;
}

Result<std::vector<api::BackfillInfo>> BackfillManager::List(std::string_view sink) {
  SLUICE_ASSIGN_OR_RETURN(auto records, store_.Backfills(sink));
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<api::BackfillInfo> out;
  for (const auto& stored : records) {
    const Job* job = nullptr;
    for (const auto& j : jobs_) {
      if (j->record.id == stored.id) job = j.get();
    }
    // The running job's record is ahead of (or equal to) the stored one.
    out.push_back(job != nullptr ? InfoOf(job->record, job) : InfoOf(stored, nullptr));
  }
  return out;
}

Result<api::BackfillInfo> BackfillManager::StartBackfill(std::string_view sink_name,
                                                         const api::BackfillRequest& request) {
  const Sink* sink = FindSink(sink_name);
  if (sink == nullptr) {
    return Error(ErrorCode::kNotFound,
                 "sink \"" + std::string(sink_name) + "\" is not configured or not running");
  }
  if (!SinkTakes(*sink->settings, request.table)) {
    return Error(ErrorCode::kInvalidArgument,
                 "table \"" + request.table + "\" is not one of sink " + sink->settings->name +
                     "'s tables (its source include/exclude lists); give it as schema.table");
  }
  if (request.start_position && request.sort_column.empty()) {
    return Error(ErrorCode::kInvalidArgument, "start_position needs a sort_column");
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& j : jobs_) {
      if (j->sink == sink && j->record.table == request.table && !j->cancelled) {
        return Error(ErrorCode::kUnavailable, "backfill " + std::to_string(j->record.id) + " of " +
                                                  request.table + " is running already");
      }
    }
  }
  // Checked now, so a table that cannot be backfilled is refused at once.
  {
    SLUICE_ASSIGN_OR_RETURN(source::PgConn conn,
                            source::Connect(db_, source::ConnectionKind::kNormal));
    auto table = source::DescribeBackfillTable(conn.get(), request.table, request.sort_column);
    if (!table.ok()) {
      const ErrorCode code = table.error().code() == ErrorCode::kNotFound
                                 ? ErrorCode::kInvalidArgument
                                 : table.error().code();
      return Error(code, table.error().message());
    }
  }
  delivery::BackfillRecord record;
  record.sink = sink->settings->name;
  record.table = request.table;
  record.sort_column = request.sort_column;
  record.start_position = request.start_position;
  record.origin = "api";
  record.state = "running";
  record.created_at = record.updated_at = clock_.WallNow();
  SLUICE_ASSIGN_OR_RETURN(record.id, store_.CreateBackfill(record));
  SLUICE_LOG_INFO("sink {}: backfill {} of {} started", record.sink, record.id, record.table);
  auto job = std::make_unique<Job>();
  job->sink = sink;
  job->record = record;
  api::BackfillInfo info;
  {
    std::lock_guard<std::mutex> lock(mu_);
    info = InfoOf(job->record, job.get());
    jobs_.push_back(std::move(job));
  }
  cv_.notify_all();
  return info;
}

Result<api::BackfillInfo> BackfillManager::Cancel(std::string_view sink, uint64_t id) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& j : jobs_) {
      if (j->record.id != id || j->record.sink != sink) continue;
      if (!j->cancelled) {
        j->cancelled = true;
        j->record.state = "cancelled";
        j->record.finished_at = j->record.updated_at = clock_.WallNow();
        Status st = store_.UpdateBackfill(j->record);
        if (!st.ok()) return st.error();
        SLUICE_LOG_INFO("sink {}: backfill {} of {} cancelled after {} rows", sink, id,
                        j->record.table, j->record.rows_done);
      }
      cv_.notify_all();
      return InfoOf(j->record, j.get());
    }
  }
  SLUICE_ASSIGN_OR_RETURN(auto records, store_.Backfills(sink));
  for (const auto& r : records) {
    if (r.id == id) return InfoOf(r, nullptr);  // finished: nothing to cancel
  }
  return Error(ErrorCode::kNotFound,
               "sink \"" + std::string(sink) + "\" has no backfill " + std::to_string(id));
}

void BackfillManager::Persist(Job& job) {
  job.record.updated_at = clock_.WallNow();
  Status st = store_.UpdateBackfill(job.record);
  if (!st.ok()) {
    SLUICE_LOG_ERROR("backfill {}: recording progress in the local store: {}", job.record.id,
                     st.error().message());
  }
}

void BackfillManager::Fail(Job& job, const std::string& error) {
  SLUICE_LOG_ERROR("sink {}: backfill {} of {} failed: {}", job.record.sink, job.record.id,
                   job.record.table, error);
  std::lock_guard<std::mutex> lock(mu_);
  job.record.state = "failed";
  job.record.error = error;
  job.record.finished_at = clock_.WallNow();
  Persist(job);
}

bool BackfillManager::RecordInitialBackfills() {
  bool complete = true;
  for (const Sink& sink : sinks_) {
    const config::SinkSettings& s = *sink.settings;
    if (!s.initial_backfill_all_tables && s.initial_backfill.empty()) continue;
    std::vector<config::BackfillSpec> specs = s.initial_backfill;
    if (s.initial_backfill_all_tables) {
      auto tables = source::PublishedTables(conn_->conn.get(), db_.publication_name);
      if (!tables.ok()) {
        SLUICE_LOG_ERROR("sink {}: initial_backfill: listing the publication's tables: {}", s.name,
                         tables.error().message());
        complete = false;  // tried again on the next pass
        continue;
      }
      for (const auto& t : *tables) {
        if (SinkTakes(s, t)) specs.push_back(config::BackfillSpec{t, "", std::nullopt, 0});
      }
    }
    auto existing = store_.Backfills(s.name);
    if (!existing.ok()) {
      SLUICE_LOG_ERROR("sink {}: initial_backfill: {}", s.name, existing.error().message());
      complete = false;
      continue;
    }
    for (const auto& spec : specs) {
      const bool recorded = std::any_of(existing->begin(), existing->end(), [&](const auto& r) {
        return r.origin == "config" && r.table == spec.table;
      });
      if (recorded) continue;
      delivery::BackfillRecord record;
      record.sink = s.name;
      record.table = spec.table;
      record.sort_column = spec.sort_column;
      record.start_position = spec.start_position;
      record.origin = "config";
      record.state = "running";
      record.created_at = record.updated_at = clock_.WallNow();
      auto id = store_.CreateBackfill(record);
      if (!id.ok()) {
        SLUICE_LOG_ERROR("sink {}: initial_backfill of {}: {}", s.name, spec.table,
                         id.error().message());
        complete = false;
        continue;
      }
      record.id = *id;
      SLUICE_LOG_INFO("sink {}: initial backfill {} of {} started", s.name, record.id,
                      record.table);
      auto job = std::make_unique<Job>();
      job->sink = &sink;
      job->record = std::move(record);
      std::lock_guard<std::mutex> lock(mu_);
      jobs_.push_back(std::move(job));
    }
  }
  return complete;
}

void BackfillManager::Run() {
  milliseconds reconnect_backoff{500};
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
    }
    if (source_streaming_ && !source_streaming_()) {
      // Not yet (or not now): watermarks would not be seen by the router.
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, milliseconds(100), [&] { return stopping_; });
      continue;
    }
    const bool need_db = !initial_recorded_ || [&] {
      std::lock_guard<std::mutex> lock(mu_);
      return !jobs_.empty();
    }();
    if (need_db && !conn_->conn) {
      auto conn = source::Connect(db_, source::ConnectionKind::kNormal);
      if (!conn.ok()) {
        SLUICE_LOG_WARN("database {}: backfills wait for a connection: {}", db_.name,
                        conn.error().message());
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait_for(lock, reconnect_backoff, [&] { return stopping_; });
        reconnect_backoff = std::min(reconnect_backoff * 2, milliseconds(30000));
        continue;
      }
      conn_->conn = std::move(*conn);
      reconnect_backoff = milliseconds(500);
    }
    if (!initial_recorded_ && conn_->conn) {
      initial_recorded_ = RecordInitialBackfills();
    }
    std::vector<Job*> jobs;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto& j : jobs_) jobs.push_back(j.get());
    }
    bool busy = false;
    for (Job* job : jobs) busy = Step(*job) || busy;
    // Drop finished jobs (done, failed, cancelled; a cancelled job's pages
    // already read are still emitted by the router).
    bool any_running = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      std::erase_if(jobs_,
                    [](const std::unique_ptr<Job>& j) { return j->record.state != "running"; });
      any_running = !jobs_.empty();
    }
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, busy ? milliseconds(0) : (any_running ? kBusyWait : kIdleWait),
                 [&] { return stopping_; });
  }
}

bool BackfillManager::Step(Job& job) {
  bool busy = false;
  {
    // The rate counts from the job's first step.
    std::lock_guard<std::mutex> lock(mu_);
    if (job.samples.empty()) job.samples.emplace_back(clock_.Now(), job.record.rows_done);
  }
  // 1. Completions, in page order: emitted, and acknowledged past its end.
  while (!job.outstanding.empty()) {
    auto& front = job.outstanding.front();
    if (!front.emission) front.emission = pages_.EmissionOf(job.record.id, front.page);
    if (!front.emission) break;
    if (front.emission->redo) {
      // The router could not tell which rows changed in the window: read
      // again from before this page (later pages too, so progress never
      // passes rows that were not sent).
      SLUICE_LOG_WARN("backfill {}: page {} is read again (its low watermark was not seen)",
                      job.record.id, front.page);
      job.next_after = front.after;
      job.reading_done = false;
      for (auto& o : job.outstanding) pages_.Forget(job.record.id, o.page);
      job.outstanding.clear();
      busy = true;
      break;
    }
    if (acks_.Acknowledged() < front.emission->end_lsn) break;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (job.cancelled) break;
      job.record.rows_done += front.rows;
      if (!front.last_key.empty()) job.record.last_key = KeyJson(front.last_key);
      job.samples.emplace_back(clock_.Now(), job.record.rows_done);
      while (job.samples.size() > 2 && clock_.Now() - job.samples[1].first > kRateWindow) {
        job.samples.pop_front();
      }
      job.outstanding.pop_front();
      if (job.outstanding.empty() && job.reading_done && job.record.state == "running") {
        job.record.state = "done";
        job.record.finished_at = clock_.WallNow();
        SLUICE_LOG_INFO("sink {}: backfill {} of {} done: {} rows", job.record.sink, job.record.id,
                        job.record.table, job.record.rows_done);
      }
      Persist(job);
    }
    busy = true;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (job.cancelled || job.record.state != "running") return busy;
  }
  if (job.reading_done) return busy;
  if (job.outstanding.size() >= kMaxOutstandingPages) return busy;
  if (clock_.Now() < job.retry_at) return busy;
  // Backpressure: live changes come first, and a sink that cannot deliver
  // (its backlog in memory and in the local store) gets no more reads.
  bool full =
      job.sink->runner->Stats().pending > kMaxSinkBacklog || budget_.used() > budget_.limit() / 2;
  if (!full) {
    auto backlog = job.sink->runner->Backlog();
    full = backlog.ok() &&
           backlog->pending + backlog->backing_off + backlog->failed + backlog->in_flight >
               kMaxSinkBacklog;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    job.waiting = full;
  }
  if (full) {
    job.retry_at = clock_.Now() + milliseconds(200);  // look again soon, not at once
    return busy;
  }
  return ReadPage(job) || busy;
}

namespace {

// Worth trying again: a lost connection, a busy or restarting server, a
// statement timeout, a deadlock, a lock timeout.
bool Transient(const Error& e) {
  return e.code() == ErrorCode::kNetwork || e.code() == ErrorCode::kUnavailable ||
         e.code() == ErrorCode::kTimeout;
}

}  // namespace

bool BackfillManager::ReadPage(Job& job) {
  pg_conn* conn = conn_->conn.get();
  auto retry_later = [&](const Error& e) {
    // A lost connection or a busy server: reconnect and try this page again.
    ++job.failures;
    job.retry_at = clock_.Now() + std::min(milliseconds(500) * job.failures, milliseconds(30000));
    SLUICE_LOG_WARN("backfill {} of {}: {}; retrying", job.record.id, job.record.table,
                    e.message());
    conn_->conn.reset();
    return true;
  };
  if (conn == nullptr) return false;
  if (!job.table) {
    auto table = source::DescribeBackfillTable(conn, job.record.table, job.record.sort_column);
    if (!table.ok()) {
      if (Transient(table.error())) return retry_later(table.error());
      Fail(job, table.error().message());
      return true;
    }
    job.table = std::move(*table);
    if (job.record.rows_estimate == 0) {
      auto estimate = source::EstimateRows(conn, *job.table);
      if (estimate.ok()) {
        std::lock_guard<std::mutex> lock(mu_);
        job.record.rows_estimate = *estimate;
        Persist(job);
      }
    }
  }
  const uint64_t page = job.next_page;
  Watermark w{job.record.id, pages_.run(), page, false, job.table->relation->oid};
  auto low = source::EmitBackfillWatermark(conn, WatermarkContent(w));
  if (!low.ok()) return retry_later(low.error());
  size_t limit;
  {
    std::lock_guard<std::mutex> lock(mu_);
    limit = job.page_size;
  }
  const SteadyTime started = clock_.Now();
  auto rows =
      source::ReadBackfillPage(conn, *job.table, job.next_after, job.record.start_position, limit);
  if (!rows.ok()) {
    const Error& e = rows.error();
    // A column (or the table) gone since the table was described: describe
    // it again and read this page again (its low watermark then repeats,
    // which the router ignores); a dropped table then fails there.
    if (e.code() == ErrorCode::kNotFound && job.failures < 3) {
      job.table.reset();
      return retry_later(e);
    }
    if (e.code() == ErrorCode::kTimeout) {  // statement_timeout: smaller pages
      std::lock_guard<std::mutex> lock(mu_);
      job.page_size = std::max(kMinPageSize, job.page_size / 4);
    }
    if (Transient(e)) return retry_later(e);
    // Close the page's window in the router (it records changed keys until
    // it sees the high watermark); nothing is read for it.
    w.high = true;
    (void)source::EmitBackfillWatermark(conn, WatermarkContent(w));
    Fail(job, e.message());
    return true;
  }
  const auto took = clock_.Now() - started;
  const size_t count = rows->rows.size();
  std::vector<source::KeyValue> last_key = rows->last_key;
  pages_.Put(
      PageRows{job.record.id, page, job.record.sink, job.table->relation, std::move(rows->rows)});
  w.high = true;
  auto high = source::EmitBackfillWatermark(conn, WatermarkContent(w));
  if (!high.ok()) {
    pages_.Forget(job.record.id, page);
    return retry_later(high.error());  // the same page number again: its low is a duplicate
  }
  job.failures = 0;
  job.outstanding.push_back({page, job.next_after, last_key, count, std::nullopt});
  if (!last_key.empty()) job.next_after = std::move(last_key);
  ++job.next_page;
  if (count < limit) job.reading_done = true;
  {
    // Page size follows the query time.
    std::lock_guard<std::mutex> lock(mu_);
    if (took < kTargetQueryTime / 2 && count == limit) {
      job.page_size = std::min(kMaxPageSize, job.page_size * 2);
    } else if (took > kTargetQueryTime) {
      job.page_size = std::max(kMinPageSize, job.page_size / 2);
    }
  }
  return true;
}

}  // namespace sluice::app
