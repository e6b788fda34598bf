#include "source/pg_connection.h"

#include <fmt/format.h>
#include <libpq-fe.h>

#include <deque>
#include <string>
#include <string_view>

#include "source/pg_failure.h"

namespace sluice::source {

std::string LibpqMessage(const char* message) {
  std::string out;
  for (const char* p = message ? message : ""; *p; ++p) {
    if (*p == '\n') {
      if (p[1] != '\0') out += "; ";
    } else {
      out += *p;
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}
namespace {

bool Contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

}  // namespace

void PgConnCloser::operator()(pg_conn* conn) const { PQfinish(conn); }

std::string Endpoint(const config::DatabaseSettings& db) {
  return fmt::format("{}:{}", db.host, db.port);
}

Result<PgConn> Connect(const config::DatabaseSettings& db, ConnectionKind kind) {
  const std::string port = std::to_string(db.port);
  std::vector<const char*> keys;
  std::vector<const char*> values;
  std::deque<std::string> storage;  // keeps every value alive until connect returns
  auto add = [&](const char* k, std::string v) {
    if (v.empty()) return;
    keys.push_back(k);
    values.push_back(storage.emplace_back(std::move(v)).c_str());
  };
  add("host", db.host);
  add("port", port);
  add("dbname", db.database);
  add("user", db.username);
  add("password", db.password.Reveal());  // audited: handed to libpq only
  add("sslmode", db.sslmode);
  add("application_name", std::string("sluice"));
  add("connect_timeout", std::string("10"));
  add("options", std::string(kSessionOptions));
  if (kind == ConnectionKind::kReplication) add("replication", std::string("database"));
  keys.push_back(nullptr);
  values.push_back(nullptr);

  PgConn conn(PQconnectdbParams(keys.data(), values.data(), /*expand_dbname=*/0));
  if (!conn) return Error(ErrorCode::kInternal, "libpq could not allocate a connection");
  if (PQstatus(conn.get()) == CONNECTION_OK) return conn;

  const char* raw = PQerrorMessage(conn.get());
  const std::string why = LibpqMessage(raw);
  const std::string where = fmt::format("Postgres at {} (database '{}', user '{}')", Endpoint(db),
                                        db.database, db.username);
  switch (const ErrorCode code = ClassifyConnectFailure(raw ? raw : "")) {
    case ErrorCode::kAuth:
      if (Contains(why, "replication role") || Contains(why, "start WAL sender") ||
          Contains(why, "start walsender")) {
        return Error(code,
                     fmt::format("{}: user '{}' lacks the REPLICATION privilege needed for "
                                 "logical replication; run ALTER ROLE \"{}\" WITH REPLICATION ({})",
                                 where, db.username, db.username, why));
      }
      return Error(code, fmt::format("cannot log in to {}: {}", where, why));
    case ErrorCode::kNetwork:
      return Error(code, fmt::format("cannot connect to {}: {}", where, why));
    case ErrorCode::kUnavailable:
      return Error(code, fmt::format("{} cannot accept the connection now: {}", where, why));
    default: return Error(code, fmt::format("{} refused the connection: {}", where, why));
  }
}

Result<std::vector<Row>> Query(pg_conn* conn, const std::string& sql, const std::string& what) {
  std::unique_ptr<PGresult, decltype(&PQclear)> res(PQexec(conn, sql.c_str()), &PQclear);
  const ExecStatusType st = res ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
  if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
    const char* sqlstate = res ? PQresultErrorField(res.get(), PG_DIAG_SQLSTATE) : nullptr;
    const std::string why = LibpqMessage(PQerrorMessage(conn));
    const ErrorCode code =
        ClassifyServerError(sqlstate ? sqlstate : "", why, PQstatus(conn) == CONNECTION_BAD);
    return Error(code, fmt::format("{} failed: {}{}", what, why,
                                   sqlstate ? fmt::format(" (SQLSTATE {})", sqlstate) : ""));
  }
  std::vector<Row> rows;
  const int n = PQntuples(res.get());
  const int cols = PQnfields(res.get());
  rows.reserve(n);
  for (int r = 0; r < n; ++r) {
    Row row;
    row.reserve(cols);
    for (int c = 0; c < cols; ++c) {
      if (PQgetisnull(res.get(), r, c)) {
        row.emplace_back(std::nullopt);
      } else {
        row.emplace_back(std::string(PQgetvalue(res.get(), r, c),
                                     static_cast<size_t>(PQgetlength(res.get(), r, c))));
      }
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

std::string QuoteLiteral(pg_conn* conn, const std::string& text) {
  char* q = PQescapeLiteral(conn, text.data(), text.size());
  if (!q) return "''";
  std::string out(q);
  PQfreemem(q);
  return out;
}

std::string QuoteIdentifier(pg_conn* conn, const std::string& name) {
  char* q = PQescapeIdentifier(conn, name.data(), name.size());
  if (!q) return "\"\"";
  std::string out(q);
  PQfreemem(q);
  return out;
}

Status CheckWalLevel(pg_conn* conn) {
  SLUICE_ASSIGN_OR_RETURN(auto rows, Query(conn, "SHOW wal_level", "SHOW wal_level"));
  const std::string level = rows.empty() || !rows[0][0] ? "" : *rows[0][0];
  if (level == "logical") return OkStatus();
  return Error(ErrorCode::kConfig,
               fmt::format("wal_level is '{}' but must be 'logical' for logical replication: set "
                           "wal_level = logical in postgresql.conf (or ALTER SYSTEM SET wal_level "
                           "= logical) and restart Postgres",
                           level));
}

Status CheckReplicationPrivilege(pg_conn* conn, const config::DatabaseSettings& db) {
  SLUICE_ASSIGN_OR_RETURN(auto rows,
                          Query(conn,
                                "SELECT rolreplication OR rolsuper, current_user FROM pg_roles "
                                "WHERE rolname = current_user",
                                "reading the role's REPLICATION privilege"));
  if (!rows.empty() && rows[0][0] && *rows[0][0] == "t") return OkStatus();
  const std::string user = !rows.empty() && rows[0][1] ? *rows[0][1] : db.username;
  return Error(ErrorCode::kAuth,
               fmt::format("user '{}' lacks the REPLICATION privilege needed for logical "
                           "replication; run ALTER ROLE {} WITH REPLICATION",
                           user, QuoteIdentifier(conn, user)));
}

Result<std::optional<SlotInfo>> FindSlot(pg_conn* conn, const config::DatabaseSettings& db) {
  SLUICE_ASSIGN_OR_RETURN(
      auto rows, Query(conn,
                       "SELECT plugin, slot_type, database, active_pid, confirmed_flush_lsn "
                       "FROM pg_replication_slots WHERE slot_name = " +
                           QuoteLiteral(conn, db.slot_name),
                       "looking up replication slot '" + db.slot_name + "'"));
  if (rows.empty()) return std::optional<SlotInfo>();
  SlotInfo s;
  const Row& r = rows[0];
  s.plugin = r[0].value_or("");
  s.slot_type = r[1].value_or("");
  s.database = r[2].value_or("");
  if (r[3]) s.active_pid = std::atoi(r[3]->c_str());
  s.confirmed_flush_lsn = r[4].value_or("");
  return std::optional<SlotInfo>(std::move(s));
}

Status ValidateSlot(const SlotInfo& slot, const config::DatabaseSettings& db) {
  if (slot.slot_type != "logical") {
    return Error(ErrorCode::kConfig,
                 fmt::format("replication slot '{}' is a {} slot; sluice needs a logical slot "
                             "using the pgoutput plugin",
                             db.slot_name, slot.slot_type));
  }
  if (slot.plugin != "pgoutput") {
    return Error(ErrorCode::kConfig,
                 fmt::format("replication slot '{}' uses output plugin '{}'; sluice needs "
                             "'pgoutput' (drop the slot or choose another slot name)",
                             db.slot_name, slot.plugin));
  }
  if (!db.database.empty() && slot.database != db.database) {
    return Error(ErrorCode::kConfig,
                 fmt::format("replication slot '{}' belongs to database '{}', not '{}'",
                             db.slot_name, slot.database, db.database));
  }
  return OkStatus();
}

Result<std::optional<PublicationInfo>> FindPublication(pg_conn* conn,
                                                       const config::DatabaseSettings& db) {
  SLUICE_ASSIGN_OR_RETURN(auto rows,
                          Query(conn,
                                "SELECT puballtables FROM pg_publication WHERE pubname = " +
                                    QuoteLiteral(conn, db.publication_name),
                                "looking up publication '" + db.publication_name + "'"));
  if (rows.empty()) return std::optional<PublicationInfo>();
  PublicationInfo p;
  p.all_tables = rows[0][0] && *rows[0][0] == "t";
  return std::optional<PublicationInfo>(p);
}

Status EnsurePublication(pg_conn* conn, const config::DatabaseSettings& db) {
  SLUICE_ASSIGN_OR_RETURN(auto pub, FindPublication(conn, db));
  if (pub) return OkStatus();
  if (!db.publication_create_if_not_exists) {
    return Error(
        ErrorCode::kNotFound,
        fmt::format("publication '{}' does not exist in database '{}': create it "
                    "(CREATE PUBLICATION {} FOR ALL TABLES) or set "
                    "publication.create_if_not_exists: true",
                    db.publication_name, db.database, QuoteIdentifier(conn, db.publication_name)));
  }
  SLUICE_RETURN_IF_ERROR(Query(
      conn, "CREATE PUBLICATION " + QuoteIdentifier(conn, db.publication_name) + " FOR ALL TABLES",
      "creating publication '" + db.publication_name + "'"));
  return OkStatus();
}

}  // namespace sluice::source
