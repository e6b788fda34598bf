// Control: what the HTTP API (api/server.h) asks of a running sluice.
//
// Why a seam: the server only parses requests, checks the token and renders
// JSON; everything it reports or changes comes through this interface. The
// service implements it over its SinkRunners, the local store and the
// sources (app/service_control.h); the API's tests implement it with a fake,
// so every endpoint is tested without Postgres or Kinesis.
//
// Message states (exactly one per message, docs/api.md):
//   pending      never attempted, waiting for its turn (in memory or store)
//   in_flight    in a PutRecords request now
//   backing_off  its last attempt failed; retried at next_attempt_at, in memory
//   failed       its last attempt failed and it has been failing long enough
//                to be moved to the local store; still retried on schedule
//   delivered    acknowledged by Kinesis: the last 1000 per sink, in memory
// A bulk action on "failed" acts on every message whose last attempt failed
// (backing_off and failed).
//
// Thread safety: every method may be called from any thread, concurrently.
// Errors are values: kNotFound for an unknown sink or message id (404),
// kUnavailable for acting on a message in flight (409: try again),
// kInvalidArgument for a malformed cursor (400), kIo/kInternal for the
// store (500).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/result.h"

namespace sluice::api {

enum class MessageState { kPending, kInFlight, kBackingOff, kFailed, kDelivered };

// "pending", "in_flight", "backing_off", "failed", "delivered".
const char* MessageStateName(MessageState state);
std::optional<MessageState> ParseMessageState(std::string_view text);

struct SinkCounts {
  uint64_t ingested = 0;         // messages made from replicated changes
  uint64_t delivered = 0;        // acknowledged by Kinesis
  uint64_t failed_attempts = 0;  // failed attempts (per message, per attempt)
  uint64_t filtered = 0;         // dropped by the sink's filter function
  uint64_t discarded = 0;        // discarded by an operator or after max_retry_count
  uint64_t oversize = 0;         // messages over the stream's record size (once each)
  uint64_t throttled = 0;        // records refused for throughput
};

// How many messages the sink holds now, by state.
struct SinkBacklog {
  uint64_t pending = 0;
  uint64_t in_flight = 0;
  uint64_t backing_off = 0;
  uint64_t failed = 0;
  uint64_t stored = 0;  // of the above, in the local store
};

enum class SinkHealth {
  kHealthy,   // delivering, or idle with nothing waiting
  kDegraded,  // some messages are failing; others flow
  kFailing,   // requests to Kinesis fail as a whole; the sink is backing off
  kPaused,    // paused by an operator or the config
};
// "healthy", "degraded", "failing", "paused".
const char* SinkHealthName(SinkHealth health);

struct SinkSummary {
  std::string name;
  std::string database;
  std::string stream_arn;
  bool paused = false;
  SinkHealth health = SinkHealth::kHealthy;
  std::string health_reason;  // empty when healthy: why it is not
  uint64_t lag_bytes = 0;     // WAL the database keeps for this sink's slot
  SinkCounts counts;
  SinkBacklog backlog;
  double delivered_per_second = 0;  // over the last 10 seconds
  std::optional<WallTime> oldest_waiting_committed_at;
  std::optional<WallTime> last_delivered_at;
};

// One message in a listing.
struct MessageSummary {
  uint64_t id = 0;
  MessageState state = MessageState::kPending;
  std::string table;   // schema.table
  std::string action;  // insert | update | delete | read
  std::string commit_lsn;
  std::optional<WallTime> committed_at;
  std::string partition_key;
  int64_t deliver_count = 0;
  std::string last_error;                   // empty when none
  std::optional<WallTime> next_attempt_at;  // backing_off, failed
  std::optional<WallTime> delivered_at;     // delivered
  std::string stream_arn;                   // delivered: where it went
  std::string shard_id;                     // delivered
  std::string sequence_number;              // delivered
};

// One message with its content.
struct MessageDetail {
  MessageSummary summary;
  // The change as the JSON message sluice makes before functions (the raw
  // change); empty for delivered messages (only their summary is kept).
  std::string change_json;
  // The record as it would be put now, after the sink's functions: its data
  // (JSON text), stream and whether the filter drops it. If the functions
  // fail, payload_error says why and the other fields are empty.
  std::string payload_json;
  std::string payload_stream_arn;
  bool payload_filtered = false;
  std::string payload_error;
};

struct MessageQuery {
  // nullopt: every message the sink holds (all states but delivered).
  std::optional<MessageState> state;
  // "failing": every message whose last attempt failed (backing_off and
  // failed); `state` is then nullopt.
  bool failing = false;
  // Opaque cursor from the previous page's next_cursor; empty: first page.
  std::string cursor;
  size_t limit = 50;  // 1..1000, checked by the server
};

struct MessagePage {
  std::vector<MessageSummary> messages;
  std::string next_cursor;  // empty on the last page
};

enum class Selection {
  kOne,     // the message `id`
  kFailed,  // every message whose last attempt failed (backing_off, failed)
  kAll,     // every message the sink holds, except those in flight
};

struct ActionResult {
  uint64_t affected = 0;  // messages redelivered or discarded
  uint64_t skipped = 0;   // in flight at the time (bulk actions), left alone
};

// A backfill (docs/backfill.md).
enum class BackfillState { kRunning, kDone, kCancelled, kFailed };
// "running", "done", "cancelled", "failed".
const char* BackfillStateName(BackfillState state);

struct BackfillInfo {
  uint64_t id = 0;
  std::string sink;
  std::string table;                          // schema.table
  std::string sort_column;                    // empty: by primary key
  std::optional<std::string> start_position;  // with sort_column
  std::string origin;                         // "config" (initial_backfill) | "api"
  BackfillState state = BackfillState::kRunning;
  uint64_t rows_done = 0;             // rows of completed pages
  uint64_t rows_estimate = 0;         // the table's estimated row count at start
  double rows_per_second = 0;         // over the last pages
  std::optional<double> eta_seconds;  // running, with a rate
  size_t page_size = 0;               // rows per page now
  bool waiting = false;               // held back: the sink's backlog is large
  std::optional<WallTime> started_at;
  std::optional<WallTime> finished_at;
  std::string error;  // failed: why
};

struct BackfillRequest {
  std::string table;  // schema.table, one of the sink's tables
  std::string sort_column;
  std::optional<std::string> start_position;
};

// Liveness is implied by answering; readiness lists what is not ready.
struct Readiness {
  bool ready = false;
  std::vector<std::string> reasons;  // empty when ready, e.g. "database main: connecting"
};

class Control {
 public:
  virtual ~Control() = default;

  // Every running sink (active or paused), in config order.
  virtual std::vector<SinkSummary> Sinks() = 0;
  virtual Result<SinkSummary> Sink(std::string_view name) = 0;

  // Messages of one state (or all held), ordered by id: increasing, except
  // delivered, which is newest first.
  virtual Result<MessagePage> Messages(std::string_view sink, const MessageQuery& query) = 0;
  virtual Result<MessageDetail> Message(std::string_view sink, uint64_t id) = 0;

  // Redeliver: make the selected messages due now (their deliver counts are
  // kept). Discard: drop them for good; their groups move on. A message in
  // flight cannot be acted on: kOne returns kUnavailable, bulk actions count
  // it in `skipped`.
  virtual Result<ActionResult> Redeliver(std::string_view sink, Selection selection,
                                         uint64_t id) = 0;
  virtual Result<ActionResult> Discard(std::string_view sink, Selection selection, uint64_t id) = 0;

  // Pause: stop sending (messages collect, and move to the local store);
  // requests in flight finish. Resume: send again. Idempotent. A pause lasts
  // until resumed or until sluice restarts (the config's status applies then).
  virtual Status Pause(std::string_view sink) = 0;
  virtual Status Resume(std::string_view sink) = 0;

  // Backfills of a sink, newest first. Start: kInvalidArgument when the
  // table is not one of the sink's or cannot be backfilled (no primary key
  // and no sort column, unknown column), kUnavailable when a backfill of that
  // table is running already. Cancel: kNotFound for an unknown id; cancelling
  // a finished backfill changes nothing and returns it.
  virtual Result<std::vector<BackfillInfo>> Backfills(std::string_view sink) = 0;
  virtual Result<BackfillInfo> StartBackfill(std::string_view sink,
                                             const BackfillRequest& request) = 0;
  virtual Result<BackfillInfo> CancelBackfill(std::string_view sink, uint64_t id) = 0;

  // The Prometheus text exposition of every metric (version 0.0.4).
  virtual std::string MetricsText() = 0;
  virtual Readiness Ready() = 0;
};

}  // namespace sluice::api
