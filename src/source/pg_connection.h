// Postgres connection helpers shared by the replication shell and
// `sluice check`: connecting without ever printing the password, turning libpq
// failures into actionable errors, and the catalog checks both need.
//
// Internal to the source module. Every function is blocking and uses the
// connection it is given from the calling thread only.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "config/settings.h"

struct pg_conn;  // libpq's PGconn; libpq-fe.h stays out of this header

namespace sluice::source {

struct PgConnCloser {
  void operator()(pg_conn* conn) const;
};
using PgConn = std::unique_ptr<pg_conn, PgConnCloser>;

enum class ConnectionKind {
  kNormal,       // SQL connection (catalog checks, CREATE PUBLICATION)
  kReplication,  // replication=database (slot commands, START_REPLICATION)
};

// Session options every sluice connection sets: the message encoder relies on
// these text forms of timestamps, intervals, floats and bytea.
inline constexpr const char* kSessionOptions =
    "-c DateStyle=ISO -c TimeZone=UTC -c IntervalStyle=iso_8601 -c extra_float_digits=3 "
    "-c bytea_output=hex";

// A libpq message (which ends with a newline and may span lines) as one
// line, for logs and errors.
std::string LibpqMessage(const char* message);

// "host:port" for messages.
std::string Endpoint(const config::DatabaseSettings& db);

// Connects with PQconnectdbParams (keywords/values; the password never enters
// a conninfo string, a log or an error). Errors, as ClassifyConnectFailure
// (pg_failure.h) sorts libpq's message: kNetwork (unreachable, says host:port
// and libpq's message), kUnavailable (starting up, shutting down, too many
// clients...), kAuth (login refused, or no REPLICATION privilege for
// kReplication), kNotFound (no such database), kConfig (SSL settings),
// kPostgres (anything else the server refused).
Result<PgConn> Connect(const config::DatabaseSettings& db, ConnectionKind kind);

// Rows of a query run with the simple protocol (valid on replication
// connections too). NULL cells are nullopt. `what` names the query in errors,
// which carry the SQLSTATE and the code ClassifyServerError gives it.
using Row = std::vector<std::optional<std::string>>;
Result<std::vector<Row>> Query(pg_conn* conn, const std::string& sql, const std::string& what);

std::string QuoteLiteral(pg_conn* conn, const std::string& text);
std::string QuoteIdentifier(pg_conn* conn, const std::string& name);

// `SHOW wal_level` must be 'logical'; else kConfig (the server's setting, which
// a human must change) saying exactly that.
Status CheckWalLevel(pg_conn* conn);

// The connected role has REPLICATION or is superuser; else kAuth with the
// ALTER ROLE statement that fixes it.
Status CheckReplicationPrivilege(pg_conn* conn, const config::DatabaseSettings& db);

struct SlotInfo {
  std::string plugin;
  std::string slot_type;  // "logical" / "physical"
  std::string database;
  std::optional<int> active_pid;  // set while a walsender streams from it
  std::string confirmed_flush_lsn;
};
// The slot named in `db`, or nullopt if it does not exist.
Result<std::optional<SlotInfo>> FindSlot(pg_conn* conn, const config::DatabaseSettings& db);
// Errors for a slot that exists but cannot be used by sluice (wrong plugin,
// physical, other database): kConfig.
Status ValidateSlot(const SlotInfo& slot, const config::DatabaseSettings& db);

struct PublicationInfo {
  bool all_tables = false;
};
Result<std::optional<PublicationInfo>> FindPublication(pg_conn* conn,
                                                       const config::DatabaseSettings& db);
// Creates the publication FOR ALL TABLES if missing and allowed; kNotFound
// with the fix if missing and not allowed.
Status EnsurePublication(pg_conn* conn, const config::DatabaseSettings& db);

}  // namespace sluice::source
