#include "source/replication_source.h"

#include <fmt/format.h>
#include <libpq-fe.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "base/log.h"
#include "source/pg_connection.h"
#include "source/pg_failure.h"
#include "source/replication_protocol.h"

namespace sluice::source {
namespace {

using std::chrono::duration_cast;
using std::chrono::microseconds;
using std::chrono::milliseconds;

std::string OneLine(const char* message) {
  std::string out(message ? message : "");
  for (char& c : out) {
    if (c == '\n') c = ' ';
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

// Classifies a failed START_REPLICATION / streaming result.
Error ResultError(pg_conn* conn, PGresult* res, const std::string& what,
                  const config::DatabaseSettings& db) {
  const char* sqlstate = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  const std::string state = sqlstate ? sqlstate : "";
  std::string message =
      OneLine(res && *PQresultErrorMessage(res) ? PQresultErrorMessage(res) : PQerrorMessage(conn));
  if (message.empty()) message = "the server ended it without an error message";
  if (state == "55006") {  // object_in_use: "replication slot ... is active for PID n"
    return Error(ErrorCode::kUnavailable,
                 fmt::format("replication slot '{}' is in use by another process: {} (another "
                             "sluice, or the previous connection not yet timed out)",
                             db.slot_name, message));
  }
  return Error(ClassifyServerError(state, message, PQstatus(conn) == CONNECTION_BAD),
               fmt::format("{} on {}: {}{}", what, Endpoint(db), message,
                           state.empty() ? "" : fmt::format(" (SQLSTATE {})", state)));
}

// Primary key columns in key order: the position of each column in indkey.
constexpr const char* kPrimaryKeyQuery =
    "SELECT a.attname FROM pg_index i "
    "CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, pos) "
    "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
    "WHERE i.indrelid = $1::oid AND i.indisprimary ORDER BY k.pos";

}  // namespace

// Looks primary keys up in pg_index. The connection is opened on first use,
// kept for the replication session (Close() ends it) and dropped after a
// connection failure so the next lookup reconnects.
class ReplicationSource::CatalogPrimaryKeys final : public PrimaryKeyLookup {
 public:
  // `db` must outlive this object.
  explicit CatalogPrimaryKeys(const config::DatabaseSettings& db) : db_(db) {}

  Result<std::vector<std::string>> PrimaryKeyColumns(uint32_t relation_oid,
                                                     const std::string& schema,
                                                     const std::string& table) override {
    const std::string what =
        fmt::format("looking up the primary key of {}.{} (OID {})", schema, table, relation_oid);
    if (!conn_) {
      Result<PgConn> conn = Connect(db_, ConnectionKind::kNormal);
      if (!conn.ok()) return conn.error().WithContext(what);
      conn_ = std::move(*conn);
    }
    const std::string oid = std::to_string(relation_oid);
    const char* params[] = {oid.c_str()};
    std::unique_ptr<PGresult, decltype(&PQclear)> res(
        PQexecParams(conn_.get(), kPrimaryKeyQuery, 1, nullptr, params, nullptr, nullptr, 0),
        &PQclear);
    if (!res || PQresultStatus(res.get()) != PGRES_TUPLES_OK) {
      const std::string why =
          OneLine(res && *PQresultErrorMessage(res.get()) ? PQresultErrorMessage(res.get())
                                                          : PQerrorMessage(conn_.get()));
      const char* sqlstate = res ? PQresultErrorField(res.get(), PG_DIAG_SQLSTATE) : nullptr;
      const bool lost = PQstatus(conn_.get()) == CONNECTION_BAD;
      if (lost) conn_.reset();
      return Error(ClassifyServerError(sqlstate ? sqlstate : "", why, lost),
                   fmt::format("{} on {}: {}", what, Endpoint(db_), why));
    }
    std::vector<std::string> columns;
    const int rows = PQntuples(res.get());
    columns.reserve(static_cast<size_t>(rows));
    for (int i = 0; i < rows; ++i) columns.emplace_back(PQgetvalue(res.get(), i, 0));
    return columns;
  }

  void Close() { conn_.reset(); }

 private:
  const config::DatabaseSettings& db_;
  PgConn conn_;  // null until the first lookup, and after Close()
};

ReplicationSource::ReplicationSource(config::DatabaseSettings settings, ChangeHandler& handler,
                                     const Clock& clock, ReplicationOptions options)
    : settings_(std::move(settings)),
      handler_(handler),
      clock_(clock),
      options_(options),
      primary_keys_(std::make_unique<CatalogPrimaryKeys>(settings_)),
      assembler_(handler, primary_keys_.get()),
      wake_fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}

ReplicationSource::~ReplicationSource() {
  if (wake_fd_ >= 0) close(wake_fd_);
}

void ReplicationSource::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_.store(true, std::memory_order_release);
  }
  cv_.notify_all();
  if (wake_fd_ >= 0) {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof one);
  }
}

bool ReplicationSource::SleepUnlessStopped(milliseconds d) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, d, [this] { return Stopping(); });
  return !Stopping();
}

Status ReplicationSource::Run() {
  milliseconds backoff = options_.initial_backoff;
  SessionHistory history = SessionHistory::kNeverStreamed;
  while (!Stopping()) {
    bool streamed = false;
    Status st = RunSession(&streamed);
    primary_keys_->Close();  // a new session looks keys up afresh
    if (Stopping()) break;
    if (streamed) {
      history = SessionHistory::kHasStreamed;
      backoff = options_.initial_backoff;
    }
    const Error err = st.ok() ? Error(ErrorCode::kNetwork, "replication stream ended") : st.error();
    if (RecoveryFor(err.code(), history, options_.first_connect) == Recovery::kFail) {
      SLUICE_LOG_ERROR("replication from database '{}' stopped ({}): {}", settings_.name,
                       ErrorCodeName(err.code()), err.message());
      return err;
    }
    SLUICE_LOG_WARN("replication from database '{}' interrupted ({}): {}; reconnecting in {} ms",
                    settings_.name, ErrorCodeName(err.code()), err.message(), backoff.count());
    assembler_.Reset();
    handler_.OnReconnect();
    if (!SleepUnlessStopped(backoff)) break;
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
  return OkStatus();
}

Status ReplicationSource::RunSession(bool* streamed) {
  bool create_slot = false;
  {
    SLUICE_ASSIGN_OR_RETURN(PgConn sql, Connect(settings_, ConnectionKind::kNormal));
    SLUICE_RETURN_IF_ERROR(CheckWalLevel(sql.get()));
    SLUICE_RETURN_IF_ERROR(CheckReplicationPrivilege(sql.get(), settings_));
    SLUICE_RETURN_IF_ERROR(EnsurePublication(sql.get(), settings_));
    SLUICE_ASSIGN_OR_RETURN(std::optional<SlotInfo> slot, FindSlot(sql.get(), settings_));
    if (slot) {
      SLUICE_RETURN_IF_ERROR(ValidateSlot(*slot, settings_));
      if (auto confirmed = Lsn::Parse(slot->confirmed_flush_lsn)) {
        handler_.OnSlotPosition(*confirmed);
      }
      if (slot->active_pid) {
        return Error(ErrorCode::kUnavailable,
                     fmt::format("replication slot '{}' is in use by another process (PID {}): "
                                 "another sluice, or the previous connection not yet timed out",
                                 settings_.slot_name, *slot->active_pid));
      }
    } else if (settings_.slot_create_if_not_exists) {
      create_slot = true;
    } else {
      return Error(ErrorCode::kNotFound,
                   fmt::format("replication slot '{}' does not exist in database '{}': create "
                               "it (SELECT pg_create_logical_replication_slot('{}', "
                               "'pgoutput')) or set slot.create_if_not_exists: true",
                               settings_.slot_name, settings_.database, settings_.slot_name));
    }
  }

  SLUICE_ASSIGN_OR_RETURN(PgConn repl, Connect(settings_, ConnectionKind::kReplication));
  pg_conn* conn = repl.get();
  const std::string slot_ident = QuoteIdentifier(conn, settings_.slot_name);
  if (create_slot) {
    auto created =
        Query(conn, "CREATE_REPLICATION_SLOT " + slot_ident + " LOGICAL pgoutput NOEXPORT_SNAPSHOT",
              "creating replication slot '" + settings_.slot_name + "'");
    if (!created.ok() && created.error().message().find("42710") == std::string::npos) {
      return created.error();  // 42710: created concurrently; use it
    }
    SLUICE_LOG_INFO("created replication slot '{}' in database '{}'", settings_.slot_name,
                    settings_.database);
  }

  const Lsn start = handler_.AcknowledgedLsn();
  const std::string command = fmt::format(
      "START_REPLICATION SLOT {} LOGICAL {} (proto_version '1', publication_names {}, "
      "messages 'true')",
      slot_ident, start.ToString(),
      QuoteLiteral(conn, QuoteIdentifier(conn, settings_.publication_name)));
  {
    std::unique_ptr<PGresult, decltype(&PQclear)> res(PQexec(conn, command.c_str()), &PQclear);
    if (!res || PQresultStatus(res.get()) != PGRES_COPY_BOTH) {
      return ResultError(conn, res.get(), "START_REPLICATION", settings_);
    }
  }
  *streamed = true;
  streaming_.store(true, std::memory_order_relaxed);
  SLUICE_LOG_INFO("streaming slot '{}' of database '{}' from {} (publication '{}')",
                  settings_.slot_name, settings_.name,
                  start.value() == 0 ? std::string("its confirmed position") : start.ToString(),
                  settings_.publication_name);
  Status st = Stream(conn);
  streaming_.store(false, std::memory_order_relaxed);
  return st;
}

Status ReplicationSource::SendStatus(pg_conn* conn, bool* sent) {
  const Lsn ack = handler_.AcknowledgedLsn();
  const int64_t now_us = duration_cast<microseconds>(clock_.WallNow().time_since_epoch()).count();
  const std::string msg = StandbyStatusUpdate(ack, ack, ack, now_us, /*reply_requested=*/false);
  const int put = PQputCopyData(conn, msg.data(), static_cast<int>(msg.size()));
  if (put < 0) {
    return Error(ErrorCode::kNetwork,
                 fmt::format("sending standby status update to {}: {}", Endpoint(settings_),
                             OneLine(PQerrorMessage(conn))));
  }
  *sent = put == 1;  // 0: libpq's buffer is full; retried on the next turn
  if (PQflush(conn) < 0) {
    return Error(ErrorCode::kNetwork, fmt::format("flushing to {}: {}", Endpoint(settings_),
                                                  OneLine(PQerrorMessage(conn))));
  }
  return OkStatus();
}

Status ReplicationSource::HandleCopyData(pg_conn* conn, std::string_view bytes,
                                         SteadyTime* next_status) {
  SLUICE_ASSIGN_OR_RETURN(CopyMessage msg, ParseCopyData(bytes));
  if (auto* x = std::get_if<XLogData>(&msg)) {
    NoteServerWalEnd(x->wal_end);
    Status st = assembler_.Process(x->payload);
    if (!st.ok()) {
      return st.error().WithContext(fmt::format("decoding WAL at {} from slot '{}'",
                                                x->wal_start.ToString(), settings_.slot_name));
    }
    return OkStatus();
  }
  const auto& keepalive = std::get<PrimaryKeepalive>(msg);
  NoteServerWalEnd(keepalive.wal_end);
  if (!assembler_.InTransaction()) handler_.OnIdle(keepalive.wal_end);
  if (keepalive.reply_requested) {
    bool sent = false;
    SLUICE_RETURN_IF_ERROR(SendStatus(conn, &sent));
    if (sent) *next_status = clock_.Now() + options_.status_interval;
  }
  return OkStatus();
}

Status ReplicationSource::Stream(pg_conn* conn) {
  if (PQsetnonblocking(conn, 1) != 0) {
    return Error(ErrorCode::kNetwork, "cannot switch the replication connection to non-blocking");
  }
  SteadyTime next_status = clock_.Now() + options_.status_interval;
  bool pending_output = false;
  // Empty reads since data last came: 0 read the socket again at once, 1 wait
  // coalesce_wait and read, 2 (idle) block in poll() until the socket is readable.
  int empty_reads = 2;
  while (!Stopping()) {
    SteadyTime now = clock_.Now();
    if (now >= next_status) {
      bool sent = false;
      SLUICE_RETURN_IF_ERROR(SendStatus(conn, &sent));
      now = clock_.Now();
      // Not queued (libpq's buffer full): try again shortly, not at once, so
      // a full handler does not turn this loop into a spin.
      next_status = now + (sent ? options_.status_interval : options_.capacity_wait);
    }
    // Backpressure: read nothing more while the handler is full; status
    // updates above keep the connection alive meanwhile.
    const auto until_status =
        std::max(milliseconds(0), duration_cast<milliseconds>(next_status - now));
    if (!handler_.WaitForCapacity(std::min(options_.capacity_wait, until_status))) continue;

    // Drain what libpq holds, a run of messages between clock readings; the
    // handler's capacity is still checked before each one.
    constexpr int kDrainRun = 64;
    int n = 0;
    for (int handled = 0; handled < kDrainRun; ++handled) {
      if (handled > 0 && !handler_.WaitForCapacity(milliseconds(0))) break;
      char* buf = nullptr;
      n = PQgetCopyData(conn, &buf, /*async=*/1);
      if (n <= 0) break;
      empty_reads = 0;
      Status st = HandleCopyData(conn, std::string_view(buf, static_cast<size_t>(n)), &next_status);
      PQfreemem(buf);
      SLUICE_RETURN_IF_ERROR(st);
    }
    if (n > 0) continue;  // a full run, or the handler filled up
    if (n == -2) {
      return Error(ErrorCode::kNetwork,
                   fmt::format("reading the replication stream from {}: {}", Endpoint(settings_),
                               OneLine(PQerrorMessage(conn))));
    }
    if (n == -1) {  // the server ended the COPY: fetch why
      std::unique_ptr<PGresult, decltype(&PQclear)> res(PQgetResult(conn), &PQclear);
      return ResultError(conn, res.get(), "replication stream ended", settings_);
    }

    // Nothing buffered: wait for the socket, Stop(), or the next status update.
    const int flushed = PQflush(conn);
    if (flushed < 0) {
      return Error(ErrorCode::kNetwork, fmt::format("writing to {}: {}", Endpoint(settings_),
                                                    OneLine(PQerrorMessage(conn))));
    }
    pending_output = flushed == 1;
    if (empty_reads < 2 && options_.coalesce_wait.count() > 0) {
      // Data came a moment ago: read again without blocking in poll(); when
      // that finds nothing, let the server's next writes gather for
      // coalesce_wait first (see ReplicationOptions).
      if (empty_reads == 1) {
        const auto ns = duration_cast<std::chrono::nanoseconds>(options_.coalesce_wait).count();
        const timespec wait{static_cast<time_t>(ns / 1'000'000'000),
                            static_cast<long>(ns % 1'000'000'000)};
        pollfd wake = {wake_fd_, POLLIN, 0};  // Stop() ends the wait
        if (ppoll(&wake, 1, &wait, nullptr) < 0 && errno != EINTR) {
          return Error(ErrorCode::kNetwork, fmt::format("ppoll: {}", std::strerror(errno)));
        }
      }
      ++empty_reads;
      if (!PQconsumeInput(conn)) {
        return Error(ErrorCode::kNetwork,
                     fmt::format("reading the replication stream from {}: {}", Endpoint(settings_),
                                 OneLine(PQerrorMessage(conn))));
      }
      continue;
    }
    pollfd fds[2] = {
        {PQsocket(conn), static_cast<short>(POLLIN | (pending_output ? POLLOUT : 0)), 0},
        {wake_fd_, POLLIN, 0}};
    const auto timeout =
        std::max(milliseconds(0), duration_cast<milliseconds>(next_status - clock_.Now()));
    const int ready =
        poll(fds, 2, static_cast<int>(std::min<int64_t>(timeout.count() + 1, 60'000)));
    if (ready < 0 && errno != EINTR) {
      return Error(ErrorCode::kNetwork, fmt::format("poll: {}", std::strerror(errno)));
    }
    if (ready > 0 && (fds[0].revents & (POLLIN | POLLERR | POLLHUP)) && !PQconsumeInput(conn)) {
      return Error(ErrorCode::kNetwork,
                   fmt::format("reading the replication stream from {}: {}", Endpoint(settings_),
                               OneLine(PQerrorMessage(conn))));
    }
  }
  // Stopping: report the final acknowledged position before closing.
  bool sent = false;
  (void)SendStatus(conn, &sent);
  return OkStatus();
}

}  // namespace sluice::source
