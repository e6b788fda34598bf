#include "source/database_check.h"

#include <fmt/format.h>

#include <optional>

#include "source/pg_connection.h"

namespace sluice::source {
namespace {

class Findings {
 public:
  explicit Findings(std::vector<Finding>* out) : out_(out) {}
  void Ok(std::string m) { out_->push_back({Severity::kOk, std::move(m)}); }
  void Warn(std::string m) { out_->push_back({Severity::kWarning, std::move(m)}); }
  void Fail(const Error& e) {
    out_->push_back({Severity::kError, e.message()});
    if (!first_error_) first_error_ = e;
  }
  Status Result() const { return first_error_ ? Status(*first_error_) : OkStatus(); }

 private:
  std::vector<Finding>* out_;
  std::optional<Error> first_error_;
};

void CheckTable(pg_conn* conn, const std::string& table, const std::optional<PublicationInfo>& pub,
                const config::DatabaseSettings& db, Findings& f) {
  const size_t dot = table.find('.');
  const std::string schema = dot == std::string::npos ? "public" : table.substr(0, dot);
  const std::string name = dot == std::string::npos ? table : table.substr(dot + 1);
  auto rows = Query(conn,
                    "SELECT c.relreplident, EXISTS (SELECT 1 FROM pg_index i WHERE "
                    "i.indrelid = c.oid AND i.indisprimary) FROM pg_class c JOIN pg_namespace n "
                    "ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') AND n.nspname = " +
                        QuoteLiteral(conn, schema) + " AND c.relname = " + QuoteLiteral(conn, name),
                    "reading the replica identity of " + table);
  if (!rows.ok()) return f.Fail(rows.error());
  if (rows->empty()) {
    return f.Fail(
        Error(ErrorCode::kNotFound,
              fmt::format("table {} does not exist in database '{}'", table, db.database)));
  }
  const std::string ident = (*rows)[0][0].value_or("d");
  const bool has_pk = (*rows)[0][1].value_or("f") == "t";
  if (ident == "n") {
    f.Warn(
        fmt::format("table {} has REPLICA IDENTITY NOTHING: its updates and deletes carry no "
                    "old values and no key; run ALTER TABLE {} REPLICA IDENTITY FULL (or "
                    "DEFAULT with a primary key)",
                    table, table));
  } else if (ident == "d" && !has_pk) {
    f.Warn(
        fmt::format("table {} has no primary key and REPLICA IDENTITY DEFAULT: Postgres "
                    "refuses UPDATE and DELETE on it while it is published, and its "
                    "messages have no key; add a primary key or set REPLICA IDENTITY FULL",
                    table));
  } else {
    const char* label = ident == "f" ? "FULL" : ident == "i" ? "USING INDEX" : "DEFAULT";
    f.Ok(fmt::format("table {}: REPLICA IDENTITY {}{}", table, label,
                     ident == "f" ? " (updates carry old values in `changes`)" : ""));
  }
  if (pub && !pub->all_tables) {
    auto in_pub = Query(conn,
                        "SELECT 1 FROM pg_publication_tables WHERE pubname = " +
                            QuoteLiteral(conn, db.publication_name) +
                            " AND schemaname = " + QuoteLiteral(conn, schema) +
                            " AND tablename = " + QuoteLiteral(conn, name),
                        "reading publication tables");
    if (!in_pub.ok()) return f.Fail(in_pub.error());
    if (in_pub->empty()) {
      f.Warn(
          fmt::format("table {} is not in publication '{}': its changes will not be "
                      "streamed (ALTER PUBLICATION {} ADD TABLE {})",
                      table, db.publication_name, db.publication_name, table));
    }
  }
}

}  // namespace

const char* SeverityName(Severity severity) {
  switch (severity) {
    case Severity::kOk: return "ok";
    case Severity::kWarning: return "warning";
    case Severity::kError: return "error";
  }
  return "unknown";
}

Status CheckDatabase(const config::DatabaseSettings& db, const std::vector<std::string>& tables,
                     std::vector<Finding>* findings) {
  Findings f(findings);
  auto conn = Connect(db, ConnectionKind::kNormal);
  if (!conn.ok()) {
    f.Fail(conn.error());
    return f.Result();
  }
  f.Ok(
      fmt::format("connected to {} database '{}' as '{}'", Endpoint(db), db.database, db.username));
  pg_conn* c = conn->get();

  if (Status st = CheckWalLevel(c); st.ok()) {
    f.Ok("wal_level is 'logical'");
  } else {
    f.Fail(st.error());
  }
  if (Status st = CheckReplicationPrivilege(c, db); st.ok()) {
    f.Ok("the user may start logical replication (REPLICATION or superuser)");
  } else {
    f.Fail(st.error());
  }

  auto slot = FindSlot(c, db);
  if (!slot.ok()) {
    f.Fail(slot.error());
  } else if (!*slot) {
    if (db.slot_create_if_not_exists) {
      f.Ok(fmt::format("replication slot '{}' does not exist yet and will be created",
                       db.slot_name));
    } else {
      f.Fail(Error(ErrorCode::kNotFound,
                   fmt::format("replication slot '{}' does not exist: create it (SELECT "
                               "pg_create_logical_replication_slot('{}', 'pgoutput')) or set "
                               "slot.create_if_not_exists: true",
                               db.slot_name, db.slot_name)));
    }
  } else if (Status st = ValidateSlot(**slot, db); !st.ok()) {
    f.Fail(st.error());
  } else if ((*slot)->active_pid) {
    f.Warn(
        fmt::format("replication slot '{}' exists but is in use by process {} (another "
                    "sluice?)",
                    db.slot_name, *(*slot)->active_pid));
  } else {
    f.Ok(fmt::format("replication slot '{}' exists (pgoutput, confirmed flush {})", db.slot_name,
                     (*slot)->confirmed_flush_lsn));
  }

  auto pub = FindPublication(c, db);
  std::optional<PublicationInfo> pub_info;
  if (!pub.ok()) {
    f.Fail(pub.error());
  } else if (!*pub) {
    if (db.publication_create_if_not_exists) {
      f.Ok(fmt::format("publication '{}' does not exist yet and will be created FOR ALL TABLES",
                       db.publication_name));
    } else {
      f.Fail(Error(ErrorCode::kNotFound,
                   fmt::format("publication '{}' does not exist: create it (CREATE PUBLICATION "
                               "{} FOR ALL TABLES) or set publication.create_if_not_exists: true",
                               db.publication_name, db.publication_name)));
    }
  } else {
    pub_info = **pub;
    f.Ok(fmt::format("publication '{}' exists{}", db.publication_name,
                     pub_info->all_tables ? " (FOR ALL TABLES)" : ""));
  }

  for (const std::string& table : tables) CheckTable(c, table, pub_info, db, f);
  return f.Result();
}

Status CheckDatabase(const config::DatabaseSettings& db, const std::vector<std::string>& tables,
                     std::vector<std::string>* findings) {
  std::vector<Finding> detailed;
  Status st = CheckDatabase(db, tables, &detailed);
  for (const Finding& f : detailed) {
    findings->push_back(std::string(SeverityName(f.severity)) + ": " + f.message);
  }
  return st;
}

}  // namespace sluice::source
