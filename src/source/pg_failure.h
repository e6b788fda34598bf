// What a Postgres failure means for a replication source that must run for
// months: pure functions from what libpq reports to an ErrorCode, and the
// retry policy ReplicationSource::Run applies to those codes.
//
// Why: servers restart, fail over, hit connection limits and shut sessions
// down; none of that may stop the service once it has streamed. Only failures
// a human must fix (credentials, privileges, missing objects, server settings,
// undecodable data) end it. The first connection of a run is stricter, so a
// service started against a wrong or absent database fails at once.
//
// The codes the classifiers return, and what they mean here:
//   kNetwork      no server answered, or the connection was lost (class 08)
//   kUnavailable  the server answered but cannot serve now: starting up,
//                 shutting down, in recovery (57P03), too many clients and
//                 other resource limits (53000-53300), administrator or crash
//                 shutdown (57P01, 57P02), statement cancelled (57014),
//                 replication slot in use (55006), serialization or deadlock
//                 (class 40), logical decoding on a standby (failover)
//   kAuth         login or privilege refused (class 28, 42501)
//   kNotFound     database, slot or publication missing (3D000, 42704)
//   kConfig       server state a human must change: wal_level below logical,
//                 invalidated slot, feature not supported (0A000)
//   kPostgres     any other error the server reported
//
// Connection failures carry no SQLSTATE in libpq, so ClassifyConnectFailure
// matches Postgres's (English) message texts; a FATAL it does not recognise
// is kPostgres, which is retried once the source has streamed.
#pragma once

#include <string_view>

#include "base/result.h"

namespace sluice::source {

// A failed PQconnectdb*: `message` is PQerrorMessage (any number of lines).
ErrorCode ClassifyConnectFailure(std::string_view message);

// A failed query or replication command on an open connection. `sqlstate` is
// PQresultErrorField(PG_DIAG_SQLSTATE) ("" if none), `message` the error text,
// `connection_lost` whether PQstatus is CONNECTION_BAD afterwards.
ErrorCode ClassifyServerError(std::string_view sqlstate, std::string_view message,
                              bool connection_lost);

// What Run() does when the very first connection attempt fails to reach the
// database (later drops are always retried).
enum class FirstConnect {
  kFailFast,  // return the error (a service started against a wrong address)
  kRetry,     // keep retrying with backoff
};

enum class SessionHistory {
  kNeverStreamed,  // no START_REPLICATION of this run has succeeded yet
  kHasStreamed,    // at least one has
};

enum class Recovery {
  kRetry,  // log, back off, reconnect
  kFail,   // Run() returns the error
};

// The retry policy for an error that ended a replication session:
// - kUnavailable and kTimeout are always retried;
// - kAuth, kNotFound, kConfig, kProtocol (undecodable stream) and every other
//   code not named here need a human and are never retried;
// - kNetwork is retried once the source has streamed, or with
//   FirstConnect::kRetry; before that it fails (nothing is there);
// - kPostgres is retried once the source has streamed, and fails before.
Recovery RecoveryFor(ErrorCode code, SessionHistory history, FirstConnect first_connect);

}  // namespace sluice::source
