#include "source/backfill_sql.h"

#include <fmt/format.h>
#include <libpq-fe.h>

#include <algorithm>
#include <cstdlib>
#include <string_view>
#include <utility>

#include "source/change_handler.h"
#include "source/pg_connection.h"
#include "source/pg_failure.h"

namespace sluice::source {
namespace {

using PgResult = std::unique_ptr<PGresult, decltype(&PQclear)>;

constexpr Oid kTidOid = 27;  // pg_type.oid of tid (ctid)

// A text parameter of a statement: its value (nullopt is NULL) and the type
// the server parses it as (0: inferred from the statement). A key value is
// typed as its column, so comparisons are the column type's own, with no
// cast that could round or truncate (a type oid carries no modifier).
struct Param {
  Param(std::string v) : value(std::move(v)) {}  // NOLINT: terse argument lists
  Param(std::optional<std::string> v, Oid t) : value(std::move(v)), type(t) {}

  std::optional<std::string> value;
  Oid type = 0;
};

// Runs `sql` with text parameters and text results (the types' output
// functions: the text pgoutput sends). `what` names the statement and its
// table in errors, which carry the server's message, the SQLSTATE and the
// code ClassifyServerError gives it.
Result<PgResult> Exec(pg_conn* conn, const std::string& sql, const std::vector<Param>& params,
                      const std::string& what) {
  std::vector<Oid> types;
  std::vector<const char*> values;
  types.reserve(params.size());
  values.reserve(params.size());
  for (const Param& p : params) {
    types.push_back(p.type);
    values.push_back(p.value ? p.value->c_str() : nullptr);
  }
  PgResult res(PQexecParams(conn, sql.c_str(), static_cast<int>(params.size()), types.data(),
                            values.data(), /*paramLengths=*/nullptr, /*paramFormats=*/nullptr,
                            /*resultFormat=*/0),
               &PQclear);
  const ExecStatusType st = res ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
  if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) return res;
  const char* sqlstate = res ? PQresultErrorField(res.get(), PG_DIAG_SQLSTATE) : nullptr;
  const std::string why = LibpqMessage(PQerrorMessage(conn));
  const std::string_view state = sqlstate ? sqlstate : "";
  // undefined_table / undefined_column: dropped or renamed since described;
  // query_canceled by statement_timeout: the statement took too long.
  const ErrorCode code = state == "42P01" || state == "42703" ? ErrorCode::kNotFound
                         : state == "57014"
                             ? ErrorCode::kTimeout
                             : ClassifyServerError(state, why, PQstatus(conn) == CONNECTION_BAD);
  return Error(code, fmt::format("{} failed: {}{}", what, why,
                                 sqlstate ? fmt::format(" (SQLSTATE {})", sqlstate) : ""));
}

std::optional<std::string> Cell(const PGresult* res, int row, int col) {
  if (PQgetisnull(res, row, col)) return std::nullopt;
  return std::string(PQgetvalue(res, row, col), static_cast<size_t>(PQgetlength(res, row, col)));
}

// "schema.table" → (schema, table). Each part is either written as is (the
// catalog's exact spelling, as Relation::QualifiedName gives it) or in double
// quotes with "" for a quote; the first dot outside quotes separates them,
// so an unquoted table part may itself contain dots. Without a dot the
// schema is "public".
Result<std::pair<std::string, std::string>> SplitQualifiedName(const std::string& qualified) {
  auto bad = [&](const char* why) {
    return Error(ErrorCode::kInvalidArgument,
                 fmt::format("table name '{}' is not \"schema.table\": {}", qualified, why));
  };
  std::vector<std::string> parts(1);
  bool quoted_part = false;
  for (size_t i = 0; i < qualified.size(); ++i) {
    const char c = qualified[i];
    std::string& part = parts.back();
    if (c == '"' && part.empty() && !quoted_part) {
      // A quoted part: up to the closing quote, which must end the part.
      quoted_part = true;
      size_t j = i + 1;
      for (;; ++j) {
        if (j >= qualified.size()) return bad("unterminated quoted name");
        if (qualified[j] == '"') {
          if (j + 1 < qualified.size() && qualified[j + 1] == '"') {
            part.push_back('"');
            ++j;
            continue;
          }
          break;
        }
        part.push_back(qualified[j]);
      }
      i = j;
      if (i + 1 < qualified.size() && qualified[i + 1] != '.') {
        return bad("text after a quoted name");
      }
      if (part.empty()) return bad("empty quoted name");
    } else if (c == '.' && parts.size() == 1) {
      if (part.empty()) return bad("empty schema");
      parts.emplace_back();
      quoted_part = false;
    } else {
      if (quoted_part) return bad("text after a quoted name");
      part.push_back(c);
    }
  }
  if (parts.back().empty()) return bad("empty table name");
  if (parts.size() == 1) return std::make_pair(std::string("public"), std::move(parts[0]));
  return std::make_pair(std::move(parts[0]), std::move(parts[1]));
}

}  // namespace

Status PrepareBackfillSession(pg_conn* conn) {
  // The same settings as every sluice connection (kSessionOptions: "-c
  // name=value" pairs), so that rows read here have the text forms the
  // replication stream gives them.
  std::string sql;
  std::string_view options = kSessionOptions;
  while (!options.empty()) {
    const size_t start = options.find("-c ");
    if (start == std::string_view::npos) break;
    options.remove_prefix(start + 3);
    const size_t end = options.find(' ');
    const std::string_view setting = options.substr(0, end);
    options.remove_prefix(end == std::string_view::npos ? options.size() : end);
    const size_t eq = setting.find('=');
    if (eq == std::string_view::npos) continue;
    sql += fmt::format("SET {} = {}; ", setting.substr(0, eq),
                       QuoteLiteral(conn, std::string(setting.substr(eq + 1))));
  }
  SLUICE_RETURN_IF_ERROR(Query(conn, sql, "setting up the backfill session"));
  return OkStatus();
}

Result<BackfillTable> DescribeBackfillTable(pg_conn* conn, const std::string& qualified_name,
                                            const std::string& sort_column) {
  SLUICE_ASSIGN_OR_RETURN(auto names, SplitQualifiedName(qualified_name));
  const auto& [schema, table] = names;
  const std::string display = schema + "." + table;

  SLUICE_ASSIGN_OR_RETURN(
      PgResult found, Exec(conn,
                           "SELECT c.oid, c.relreplident FROM pg_catalog.pg_class c "
                           "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                           "WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')",
                           {schema, table}, "looking up table " + display));
  if (PQntuples(found.get()) == 0) {
    return Error(ErrorCode::kNotFound, fmt::format("table {} does not exist", display));
  }
  auto relation = std::make_shared<model::Relation>();
  relation->schema = schema;
  relation->name = table;
  relation->oid = static_cast<uint32_t>(std::strtoul(PQgetvalue(found.get(), 0, 0), nullptr, 10));
  const char identity = PQgetvalue(found.get(), 0, 1)[0];
  relation->replica_identity = identity == 'n'   ? model::ReplicaIdentity::kNothing
                               : identity == 'f' ? model::ReplicaIdentity::kFull
                               : identity == 'i' ? model::ReplicaIdentity::kIndex
                                                 : model::ReplicaIdentity::kDefault;
  const std::string oid = std::to_string(relation->oid);

  // The columns pgoutput publishes: not dropped, not generated.
  SLUICE_ASSIGN_OR_RETURN(
      PgResult columns,
      Exec(conn,
           "SELECT attname, atttypid, atttypmod FROM pg_catalog.pg_attribute "
           "WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped AND attgenerated = '' "
           "ORDER BY attnum",
           {oid}, "reading the columns of table " + display));
  for (int r = 0; r < PQntuples(columns.get()); ++r) {
    model::Column column;
    column.name = PQgetvalue(columns.get(), r, 0);
    column.type_oid =
        static_cast<uint32_t>(std::strtoul(PQgetvalue(columns.get(), r, 1), nullptr, 10));
    column.type_modifier =
        static_cast<int32_t>(std::strtol(PQgetvalue(columns.get(), r, 2), nullptr, 10));
    relation->columns.push_back(std::move(column));
  }
  auto index_of = [&](const std::string& name) -> int {
    for (size_t i = 0; i < relation->columns.size(); ++i) {
      if (relation->columns[i].name == name) return static_cast<int>(i);
    }
    return -1;
  };

  SLUICE_ASSIGN_OR_RETURN(
      PgResult key,
      Exec(conn,
           "SELECT a.attname FROM pg_catalog.pg_index i "
           "CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) "
           "JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
           "WHERE i.indrelid = $1 AND i.indisprimary ORDER BY k.ord",
           {oid}, "reading the primary key of table " + display));
  for (int r = 0; r < PQntuples(key.get()); ++r) {
    const int index = index_of(PQgetvalue(key.get(), r, 0));
    if (index < 0) {
      // A generated key column is not published: rows could not be keyed
      // the way the stream keys them, so the table counts as keyless.
      relation->primary_key.clear();
      break;
    }
    relation->primary_key.push_back(index);
  }
  if (relation->replica_identity == model::ReplicaIdentity::kIndex) {
    // The stream keys such a table by its replica identity index, in column
    // order (ChangeAssembler::PrimaryKeyOf): key reads the same way, so a
    // read and the row's live changes share a group and a window key.
    SLUICE_ASSIGN_OR_RETURN(PgResult ident,
                            Exec(conn,
                                 "SELECT a.attname FROM pg_catalog.pg_index i "
                                 "JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid "
                                 "AND a.attnum = ANY (i.indkey) "
                                 "WHERE i.indrelid = $1 AND i.indisreplident ORDER BY a.attnum",
                                 {oid}, "reading the replica identity index of table " + display));
    std::vector<int> ident_key;
    for (int r = 0; r < PQntuples(ident.get()); ++r) {
      const int index = index_of(PQgetvalue(ident.get(), r, 0));
      if (index < 0) {
        ident_key.clear();
        break;
      }
      ident_key.push_back(index);
    }
    if (!ident_key.empty()) relation->primary_key = std::move(ident_key);
  }
  for (int index : relation->primary_key) relation->columns[index].is_key = true;

  BackfillTable out;
  out.sort_column = sort_column;
  if (!sort_column.empty()) {
    const int index = index_of(sort_column);
    if (index < 0) {
      return Error(ErrorCode::kNotFound,
                   fmt::format("table {} has no column \"{}\" to sort the backfill by (generated "
                               "columns are not published)",
                               display, sort_column));
    }
    out.key_columns.push_back(index);
  }
  if (relation->primary_key.empty()) {
    if (sort_column.empty()) {
      return Error(
          ErrorCode::kInvalidArgument,
          fmt::format("{} has no primary key: give a sort_column to backfill it", display));
    }
    out.by_ctid = true;
  }
  for (int index : relation->primary_key) {
    if (std::find(out.key_columns.begin(), out.key_columns.end(), index) == out.key_columns.end()) {
      out.key_columns.push_back(index);
    }
  }
  out.relation = std::move(relation);
  return out;
}

namespace {

std::string Join(const std::vector<std::string>& items, size_t from, size_t to,
                 const std::string& separator) {
  std::string out;
  for (size_t i = from; i < to; ++i) {
    if (i > from) out += separator;
    out += items[i];
  }
  return out;
}

}  // namespace

Result<BackfillPage> ReadBackfillPage(pg_conn* conn, const BackfillTable& table,
                                      const std::vector<KeyValue>& after,
                                      const std::optional<std::string>& start_position,
                                      size_t limit) {
  if (!table.relation) {
    return Error(ErrorCode::kInvalidArgument, "backfill page of a table never described");
  }
  const model::Relation& relation = *table.relation;
  const std::string display = relation.QualifiedName();
  const size_t key_size = table.key_columns.size() + (table.by_ctid ? 1 : 0);
  if (!after.empty() && after.size() != key_size) {
    return Error(ErrorCode::kInvalidArgument,
                 fmt::format("backfill of {}: the last key has {} values, the keyset has {}",
                             display, after.size(), key_size));
  }
  if (key_size == 0) {
    return Error(ErrorCode::kInvalidArgument,
                 fmt::format("backfill of {}: no key to page by", display));
  }
  BackfillPage page;
  if (limit == 0) return page;

  // The key columns, quoted, and their types (ctid last).
  std::vector<std::string> keys;
  std::vector<Oid> types;
  for (int index : table.key_columns) {
    const model::Column& column = relation.columns[static_cast<size_t>(index)];
    keys.push_back(QuoteIdentifier(conn, column.name));
    types.push_back(column.type_oid);
  }
  if (table.by_ctid) {
    keys.push_back("ctid");
    types.push_back(kTidOid);
  }

  std::string select;
  for (const model::Column& column : relation.columns) {
    if (!select.empty()) select += ", ";
    select += QuoteIdentifier(conn, column.name);
  }
  if (table.by_ctid) select += select.empty() ? "ctid" : ", ctid";
  const std::string from =
      QuoteIdentifier(conn, relation.schema) + "." + QuoteIdentifier(conn, relation.name);

  std::vector<Param> params;
  auto param = [&](std::optional<std::string> value, Oid type) {
    params.emplace_back(std::move(value), type);
    return fmt::format("${}", params.size());
  };
  // "(k_from, ...) > ($i, ...)" over keys[from, size), each $i typed as its key.
  auto after_condition = [&](size_t from) {
    std::vector<std::string> values;
    for (size_t i = from; i < keys.size(); ++i) values.push_back(param(after[i], types[i]));
    return "(" + Join(keys, from, keys.size(), ", ") + ") > (" +
           Join(values, 0, values.size(), ", ") + ")";
  };
  const bool sorted = !table.sort_column.empty();
  // ORDER BY: the sort column's NULLs last; the rest is never NULL.
  std::string order = keys[0] + (sorted ? " NULLS LAST" : "");
  if (keys.size() > 1) order += ", " + Join(keys, 1, keys.size(), ", ");
  std::string start;
  if (sorted && start_position) start = keys[0] + " >= " + param(*start_position, types[0]);
  const std::string limit_text = std::to_string(limit);

  std::string sql;
  if (after.empty()) {
    // First page.
    sql = fmt::format("SELECT {} FROM {}{} ORDER BY {} LIMIT {}", select, from,
                      start.empty() ? "" : " WHERE " + start, order, limit_text);
  } else if (!sorted) {
    sql = fmt::format("SELECT {} FROM {} WHERE {} ORDER BY {} LIMIT {}", select, from,
                      after_condition(0), order, limit_text);
  } else if (!after[0]) {
    // Already among the rows whose sort column is NULL: page by the rest.
    // (With start_position there are none: NULL is not >= it.)
    const std::string rest = keys.size() > 1 ? " AND " + after_condition(1) : "";
    sql = fmt::format("SELECT {} FROM {} WHERE {} IS NULL{}{} ORDER BY {} LIMIT {}", select, from,
                      keys[0], rest, start.empty() ? "" : " AND " + start, order, limit_text);
  } else if (!start.empty()) {
    // A row comparison is never true for a NULL sort column, and
    // start_position excludes those rows anyway.
    sql = fmt::format("SELECT {} FROM {} WHERE {} AND {} ORDER BY {} LIMIT {}", select, from,
                      after_condition(0), start, order, limit_text);
  } else {
    // The rows after the last key, then those with a NULL sort column (which
    // the row comparison never reaches): two index-friendly branches, merged
    // in key order.
    const std::string rest_order = keys.size() > 1 ? Join(keys, 1, keys.size(), ", ") : "";
    sql = fmt::format(
        "SELECT {sel} FROM ("
        "(SELECT {sel} FROM {from} WHERE {cond} ORDER BY {order} LIMIT {limit}) "
        "UNION ALL "
        "(SELECT {sel} FROM {from} WHERE {first} IS NULL{rest_order} LIMIT {limit})"
        ") AS page ORDER BY {order} LIMIT {limit}",
        fmt::arg("sel", select), fmt::arg("from", from), fmt::arg("cond", after_condition(0)),
        fmt::arg("order", order), fmt::arg("limit", limit_text), fmt::arg("first", keys[0]),
        fmt::arg("rest_order", rest_order.empty() ? "" : " ORDER BY " + rest_order));
  }

  SLUICE_ASSIGN_OR_RETURN(PgResult rows,
                          Exec(conn, sql, params, "reading a backfill page of table " + display));
  const int n = PQntuples(rows.get());
  const int columns = static_cast<int>(relation.columns.size());
  if (PQnfields(rows.get()) != columns + (table.by_ctid ? 1 : 0)) {
    return Error(ErrorCode::kInternal,
                 fmt::format("backfill page of table {}: {} columns returned, {} expected", display,
                             PQnfields(rows.get()), columns + (table.by_ctid ? 1 : 0)));
  }
  page.rows.reserve(static_cast<size_t>(n));
  for (int r = 0; r < n; ++r) {
    model::Tuple tuple;
    size_t bytes = 0;
    for (int c = 0; c < columns; ++c) bytes += static_cast<size_t>(PQgetlength(rows.get(), r, c));
    tuple.Reserve(static_cast<size_t>(columns), bytes);
    for (int c = 0; c < columns; ++c) {
      if (PQgetisnull(rows.get(), r, c)) {
        tuple.AddNull();
      } else {
        tuple.AddText(std::string_view(PQgetvalue(rows.get(), r, c),
                                       static_cast<size_t>(PQgetlength(rows.get(), r, c))));
      }
    }
    page.rows.push_back(std::move(tuple));
  }
  if (n > 0) {
    for (int index : table.key_columns) page.last_key.push_back(Cell(rows.get(), n - 1, index));
    if (table.by_ctid) page.last_key.push_back(Cell(rows.get(), n - 1, columns));
  }
  return page;
}

Result<Lsn> EmitBackfillWatermark(pg_conn* conn, const std::string& content) {
  if (PQtransactionStatus(conn) != PQTRANS_IDLE) {
    // Inside an open transaction the message would commit (or roll back)
    // with it, out of the order the watermark protocol needs.
    return Error(ErrorCode::kInternal,
                 "a backfill watermark needs its own transaction, but the connection has one "
                 "open");
  }
  SLUICE_ASSIGN_OR_RETURN(
      PgResult res,
      Exec(conn, "SELECT pg_catalog.pg_logical_emit_message(true, $1, $2)",
           {std::string(kBackfillWatermarkPrefix), content}, "emitting a backfill watermark"));
  const std::string text = PQntuples(res.get()) == 1 ? PQgetvalue(res.get(), 0, 0) : "";
  std::optional<Lsn> lsn = Lsn::Parse(text);
  if (!lsn) {
    return Error(ErrorCode::kProtocol,
                 fmt::format("pg_logical_emit_message returned '{}', not an LSN", text));
  }
  return *lsn;
}

Result<uint64_t> EstimateRows(pg_conn* conn, const BackfillTable& table) {
  if (!table.relation) {
    return Error(ErrorCode::kInvalidArgument, "row estimate of a table never described");
  }
  const std::string display = table.relation->QualifiedName();
  SLUICE_ASSIGN_OR_RETURN(
      PgResult res,
      Exec(conn, "SELECT reltuples::float8 FROM pg_catalog.pg_class WHERE oid = $1",
           {std::to_string(table.relation->oid)}, "estimating the rows of table " + display));
  if (PQntuples(res.get()) == 0) {
    return Error(ErrorCode::kNotFound, fmt::format("table {} no longer exists", display));
  }
  const double reltuples = std::strtod(PQgetvalue(res.get(), 0, 0), nullptr);
  if (reltuples >= 0) return static_cast<uint64_t>(reltuples + 0.5);
  // Never analyzed (or vacuumed): count.
  SLUICE_ASSIGN_OR_RETURN(
      PgResult count, Exec(conn,
                           "SELECT count(*) FROM " + QuoteIdentifier(conn, table.relation->schema) +
                               "." + QuoteIdentifier(conn, table.relation->name),
                           {}, "counting the rows of table " + display));
  return static_cast<uint64_t>(std::strtoull(PQgetvalue(count.get(), 0, 0), nullptr, 10));
}

Result<std::vector<std::string>> PublishedTables(pg_conn* conn, const std::string& publication) {
  const std::string what = "listing the tables of publication '" + publication + "'";
  SLUICE_ASSIGN_OR_RETURN(PgResult exists,
                          Exec(conn, "SELECT 1 FROM pg_catalog.pg_publication WHERE pubname = $1",
                               {publication}, what));
  if (PQntuples(exists.get()) == 0) {
    return Error(ErrorCode::kNotFound, fmt::format("publication '{}' does not exist", publication));
  }
  SLUICE_ASSIGN_OR_RETURN(PgResult res,
                          Exec(conn,
                               "SELECT schemaname, tablename FROM pg_catalog.pg_publication_tables "
                               "WHERE pubname = $1 ORDER BY schemaname, tablename",
                               {publication}, what));
  std::vector<std::string> tables;
  for (int r = 0; r < PQntuples(res.get()); ++r) {
    tables.push_back(std::string(PQgetvalue(res.get(), r, 0)) + "." + PQgetvalue(res.get(), r, 1));
  }
  return tables;
}

}  // namespace sluice::source
