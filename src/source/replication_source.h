// ReplicationSource: the libpq shell around the pure decoder. It owns one
// logical replication connection to one database and streams its slot into a
// ChangeHandler until Stop().
//
// Per connection it: checks wal_level and the REPLICATION privilege, ensures
// the publication (normal connection) and the slot (creating them only when
// the config allows), then runs START_REPLICATION from
// handler.AcknowledgedLsn() with pgoutput proto_version 1 and messages on.
// While streaming it answers keepalives that request a reply, sends a standby
// status update every status_interval carrying handler.AcknowledgedLsn() as
// write/flush/apply (never anything not acknowledged), reports idle positions
// via OnIdle, and asks handler.WaitForCapacity() before reading more.
//
// For REPLICA IDENTITY FULL and NOTHING tables it looks up the primary key in
// pg_index over a second, normal connection, opened on the first such
// Relation message and kept until the session ends (see PrimaryKeyLookup).
//
// When a session ends in error it logs the reason and the delay, calls
// handler.OnReconnect(), waits (initial_backoff doubling to max_backoff) and
// starts again from AcknowledgedLsn(). Which errors are retried is
// RecoveryFor (pg_failure.h): once a START_REPLICATION has succeeded, every
// error except those a human must fix (login or privilege refused, missing
// database/slot/publication that may not be created, wal_level, undecodable
// data); before that, only temporary server states (starting up, shutting
// down, too many clients, slot in use), so a wrong or absent database fails
// at once. A primary key lookup that fails (see ChangeAssembler) ends the
// session like a dropped connection.
//
// Threading: Run() blocks the calling thread, which is the only thread that
// calls into the handler. Stop() may be called from any thread; Run() returns
// within about capacity_wait (or a connect attempt's timeout, 10 s at most).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>

#include "base/clock.h"
#include "base/result.h"
#include "config/settings.h"
#include "source/change_assembler.h"
#include "source/change_handler.h"
#include "source/pg_failure.h"

struct pg_conn;

namespace sluice::source {

struct ReplicationOptions {
  std::chrono::milliseconds status_interval{10'000};
  std::chrono::milliseconds initial_backoff{1'000};
  std::chrono::milliseconds max_backoff{30'000};
  // Longest single WaitForCapacity call, bounding how late Stop() is noticed.
  std::chrono::milliseconds capacity_wait{100};
  // Read coalescing. A walsender writes each message (begin, change, commit)
  // to the socket separately, so a reader that wakes per write spends more on
  // waking than on the messages. After data, the source reads the socket
  // again at once; when that finds nothing it waits coalesce_wait (or until
  // Stop()) and reads once more, and only then blocks in poll(). A steady
  // stream is read without pause; a trickle is read in gulps. Adds at most
  // coalesce_wait to a change's latency; zero turns it off.
  std::chrono::microseconds coalesce_wait{1'000};
  FirstConnect first_connect = FirstConnect::kFailFast;
};

class ReplicationSource {
 public:
  // `handler` and `clock` must outlive this object.
  ReplicationSource(config::DatabaseSettings settings, ChangeHandler& handler, const Clock& clock,
                    ReplicationOptions options = {});
  ~ReplicationSource();
  ReplicationSource(const ReplicationSource&) = delete;
  ReplicationSource& operator=(const ReplicationSource&) = delete;

  // Streams until Stop(); returns OK after Stop(), or the error that ended it.
  Status Run();
  // Thread-safe; idempotent.
  void Stop();

  // For the API and metrics (any thread): the server's end of WAL from its
  // last message (0 before the first), and whether a replication stream is
  // running now.
  Lsn ServerWalEnd() const { return Lsn(server_wal_end_.load(std::memory_order_relaxed)); }
  bool streaming() const { return streaming_.load(std::memory_order_relaxed); }

 private:
  // One connection's life. `*streamed` is set once START_REPLICATION succeeded.
  Status RunSession(bool* streamed);
  Status Stream(pg_conn* conn);
  Status HandleCopyData(pg_conn* conn, std::string_view bytes, SteadyTime* next_status);
  Status SendStatus(pg_conn* conn, bool* sent);
  // Waits `d` or until Stop(); returns false if stopped.
  bool SleepUnlessStopped(std::chrono::milliseconds d);
  bool Stopping() const { return stop_.load(std::memory_order_acquire); }
  void NoteServerWalEnd(Lsn lsn) {
    if (lsn.value() > server_wal_end_.load(std::memory_order_relaxed)) {
      server_wal_end_.store(lsn.value(), std::memory_order_relaxed);
    }
  }

  class CatalogPrimaryKeys;  // PrimaryKeyLookup over a normal connection

  const config::DatabaseSettings settings_;
  ChangeHandler& handler_;
  const Clock& clock_;
  const ReplicationOptions options_;
  // Both used by the Run() thread only; primary_keys_ is declared first
  // because assembler_ points at it.
  std::unique_ptr<CatalogPrimaryKeys> primary_keys_;
  ChangeAssembler assembler_;

  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> server_wal_end_{0};
  std::atomic<bool> streaming_{false};
  int wake_fd_ = -1;  // eventfd: Stop() wakes a poll() in Stream()
  std::mutex mu_;
  std::condition_variable cv_;  // with mu_: Stop() wakes the backoff sleep
};

}  // namespace sluice::source
