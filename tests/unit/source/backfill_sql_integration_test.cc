// Integration tests of the backfill SQL (source/backfill_sql.h) against a real
// PostgreSQL 15 started by pg_server.sh on port 25220
// (SLUICE_ITEST_PG_PORT=<base> moves it to base+10, beside
// source_integration_test's base..base+2). Label `integration`.
//
// Keyset paging is checked against the table's full contents: every row is
// reached exactly once, in key order, across pages of 3. Row text is checked
// against what pgoutput sends for the same row (decoded from
// pg_logical_slot_get_binary_changes) and against the message JSON.
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "model/encoder.h"
#include "source/backfill_sql.h"
#include "source/pg_connection.h"
#include "source/pgoutput.h"

namespace sluice::source {
namespace {

int Port() {
  const char* env = std::getenv("SLUICE_ITEST_PG_PORT");
  return (env != nullptr && *env != '\0' ? std::atoi(env) : 25210) + 10;
}

std::string& TempRoot() {
  static std::string root;
  return root;
}

std::string ServerScript() {
  return std::string(SLUICE_SOURCE_DIR) + "/tests/unit/source/pg_server.sh";
}

config::DatabaseSettings Settings() {
  config::DatabaseSettings db;
  db.name = "itest";
  db.host = "127.0.0.1";
  db.port = Port();
  db.database = "postgres";
  db.username = "postgres";
  return db;
}

// Runs SQL as the superuser on its own connection; rows as text ("" for
// NULL is never needed here).
std::vector<std::vector<std::string>> Sql(const std::string& sql) {
  std::vector<std::vector<std::string>> rows;
  const std::string conninfo =
      "host=127.0.0.1 port=" + std::to_string(Port()) + " user=postgres dbname=postgres";
  PGconn* c = PQconnectdb(conninfo.c_str());
  EXPECT_EQ(PQstatus(c), CONNECTION_OK) << PQerrorMessage(c);
  PGresult* r = PQexec(c, sql.c_str());
  const auto st = PQresultStatus(r);
  EXPECT_TRUE(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) << sql << ": " << PQerrorMessage(c);
  for (int i = 0; st == PGRES_TUPLES_OK && i < PQntuples(r); ++i) {
    std::vector<std::string> row;
    for (int j = 0; j < PQnfields(r); ++j) {
      row.push_back(PQgetisnull(r, i, j) ? "<null>" : PQgetvalue(r, i, j));
    }
    rows.push_back(std::move(row));
  }
  PQclear(r);
  PQfinish(c);
  return rows;
}

std::string RowText(const model::Tuple& t) {
  std::string out;
  for (size_t i = 0; i < t.size(); ++i) {
    if (i > 0) out += "|";
    out += t.kind(i) == model::ValueKind::kText ? std::string(t.text(i)) : "<null>";
  }
  return out;
}

std::vector<std::string> Joined(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::string> out;
  for (const auto& row : rows) {
    std::string s;
    for (size_t i = 0; i < row.size(); ++i) s += (i ? "|" : "") + row[i];
    out.push_back(s);
  }
  return out;
}

struct Pages {
  std::vector<std::string> rows;  // RowText of every row, in the order read
  std::vector<size_t> sizes;      // rows per page, the final empty page included
};

class BackfillSql : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/sluice-backfill-itest.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    TempRoot() = tmpl;
    ASSERT_EQ(std::system(("chmod 755 " + TempRoot()).c_str()), 0);
    const std::string cmd =
        ServerScript() + " start " + TempRoot() + "/pg " + std::to_string(Port()) + " logical";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  }
  static void TearDownTestSuite() {
    std::system((ServerScript() + " stop " + TempRoot() + "/pg").c_str());
    std::system(("rm -rf " + TempRoot()).c_str());
  }

  void SetUp() override {
    auto conn = Connect(Settings(), ConnectionKind::kNormal);
    ASSERT_TRUE(conn.ok()) << conn.error().message();
    conn_ = std::move(conn).value();
    ASSERT_TRUE(PrepareBackfillSession(conn_.get()).ok());
  }

  BackfillTable Describe(const std::string& name, const std::string& sort_column = "") {
    auto table = DescribeBackfillTable(conn_.get(), name, sort_column);
    EXPECT_TRUE(table.ok()) << table.error().message();
    return table.ok() ? std::move(table).value() : BackfillTable{};
  }

  // Reads the whole table in pages of `page_size`, each after the last.
  Pages ReadAll(const BackfillTable& table, size_t page_size,
                const std::optional<std::string>& start = std::nullopt) {
    Pages pages;
    std::vector<KeyValue> after;
    for (int i = 0; i < 1000; ++i) {  // a bound, far above any table here
      auto page = ReadBackfillPage(conn_.get(), table, after, start, page_size);
      EXPECT_TRUE(page.ok()) << page.error().message();
      if (!page.ok()) break;
      pages.sizes.push_back(page->rows.size());
      if (page->rows.empty()) {
        EXPECT_TRUE(page->last_key.empty());
        break;
      }
      for (const model::Tuple& row : page->rows) pages.rows.push_back(RowText(row));
      after = page->last_key;
    }
    return pages;
  }

  PgConn conn_;
};

TEST_F(BackfillSql, CompositePrimaryKeyPagesReachEveryRowOnceInKeyOrder) {
  Sql("CREATE TABLE bf_composite (id int, tenant text, note text, PRIMARY KEY (tenant, id))");
  Sql("INSERT INTO bf_composite VALUES (2, 'b', 'x'), (1, 'b', 'y'), (1, 'a', NULL), "
      "(3, 'a', 'z'), (2, 'a', 'w'), (10, 'c', 'v'), (9, 'c', 'u'), (1, 'c', 't'), "
      "(4, 'b', 's'), (5, 'a', 'r')");
  BackfillTable table = Describe("public.bf_composite");
  ASSERT_TRUE(table.relation);
  EXPECT_EQ(table.relation->primary_key, (std::vector<int>{1, 0}));  // key order, not column order
  EXPECT_EQ(table.key_columns, (std::vector<int>{1, 0}));
  EXPECT_FALSE(table.by_ctid);
  EXPECT_TRUE(table.relation->columns[0].is_key);
  EXPECT_TRUE(table.relation->columns[1].is_key);
  EXPECT_FALSE(table.relation->columns[2].is_key);

  Pages pages = ReadAll(table, 3);
  EXPECT_EQ(pages.sizes, (std::vector<size_t>{3, 3, 3, 1, 0}));
  EXPECT_EQ(pages.rows, Joined(Sql("SELECT id, tenant, coalesce(note, '<null>') FROM "
                                   "bf_composite ORDER BY tenant, id")));
}

TEST_F(BackfillSql, ReplicaIdentityIndexKeysReadsLikeTheStreamInColumnOrder) {
  // pgoutput flags the identity index's columns and the assembler keys the
  // table by them in column order: reads must use the same key.
  Sql("CREATE TABLE bf_ri (a int NOT NULL, b text NOT NULL, v int, PRIMARY KEY (b, a))");
  Sql("ALTER TABLE bf_ri REPLICA IDENTITY USING INDEX bf_ri_pkey");
  Sql("INSERT INTO bf_ri SELECT i % 3, 'k' || (i % 4), i FROM generate_series(1, 12) i");
  BackfillTable table = Describe("public.bf_ri");
  ASSERT_TRUE(table.relation);
  EXPECT_EQ(table.relation->primary_key, (std::vector<int>{0, 1}));
  Pages pages = ReadAll(table, 5);
  EXPECT_EQ(pages.rows, Joined(Sql("SELECT a, b, v FROM bf_ri ORDER BY a, b")));
}

TEST_F(BackfillSql, LastKeyIsTheLastRowsKeyInKeysetOrder) {
  Sql("CREATE TABLE bf_lastkey (id int, tenant text, PRIMARY KEY (tenant, id))");
  Sql("INSERT INTO bf_lastkey VALUES (1, 'a'), (2, 'a'), (1, 'b')");
  BackfillTable table = Describe("public.bf_lastkey");
  auto page = ReadBackfillPage(conn_.get(), table, {}, std::nullopt, 2);
  ASSERT_TRUE(page.ok()) << page.error().message();
  EXPECT_EQ(page->last_key, (std::vector<KeyValue>{"a", "2"}));
  page = ReadBackfillPage(conn_.get(), table, page->last_key, std::nullopt, 2);
  ASSERT_TRUE(page.ok()) << page.error().message();
  ASSERT_EQ(page->rows.size(), 1u);
  EXPECT_EQ(RowText(page->rows[0]), "1|b");
}

TEST_F(BackfillSql, SortColumnWithDuplicatesAndNullsReachesEveryRowOnce) {
  Sql("CREATE TABLE bf_sorted (id int PRIMARY KEY, grp int)");
  // Duplicates of one sort value span pages, and so do the NULLs.
  Sql("INSERT INTO bf_sorted VALUES (1, 5), (2, NULL), (3, 5), (4, 1), (5, 5), (6, NULL), "
      "(7, 5), (8, NULL), (9, 2), (10, NULL), (11, 5), (12, NULL), (13, 1)");
  BackfillTable table = Describe("public.bf_sorted", "grp");
  EXPECT_EQ(table.key_columns, (std::vector<int>{1, 0}));
  EXPECT_FALSE(table.by_ctid);

  const auto expected =
      Joined(Sql("SELECT id, coalesce(grp::text, '<null>') FROM bf_sorted ORDER BY grp NULLS "
                 "LAST, id"));
  for (size_t page_size : {1, 2, 3, 4, 5, 13, 100}) {
    Pages pages = ReadAll(table, page_size);
    EXPECT_EQ(pages.rows, expected) << "pages of " << page_size;
  }
}

TEST_F(BackfillSql, SortColumnThatIsThePrimaryKeyIsNotRepeated) {
  Sql("CREATE TABLE bf_sort_pk (id int PRIMARY KEY, v text)");
  Sql("INSERT INTO bf_sort_pk SELECT g, 'v' || g FROM generate_series(1, 7) g");
  BackfillTable table = Describe("public.bf_sort_pk", "id");
  EXPECT_EQ(table.key_columns, (std::vector<int>{0}));
  EXPECT_EQ(ReadAll(table, 3).rows.size(), 7u);
}

TEST_F(BackfillSql, NoPrimaryKeyIsRefusedWithoutSortColumn) {
  Sql("CREATE TABLE bf_nopk (v text, at int)");
  auto table = DescribeBackfillTable(conn_.get(), "public.bf_nopk", "");
  ASSERT_FALSE(table.ok());
  EXPECT_EQ(table.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(table.error().message(),
            "public.bf_nopk has no primary key: give a sort_column to backfill it");
}

TEST_F(BackfillSql, NoPrimaryKeyWithSortColumnPagesByCtidReachingEveryRowOnce) {
  Sql("CREATE TABLE bf_heap (v text, at int)");
  // Whole duplicate rows, duplicate sort values and NULLs: only the ctid
  // tells them apart.
  Sql("INSERT INTO bf_heap VALUES ('a', 1), ('a', 1), ('a', 1), ('b', NULL), ('b', NULL), "
      "('c', 2), ('d', 1), ('e', NULL), ('f', 3), ('f', 3), ('g', 0)");
  Sql("DELETE FROM bf_heap WHERE v = 'd'");  // a hole in the heap
  BackfillTable table = Describe("public.bf_heap", "at");
  EXPECT_TRUE(table.by_ctid);
  EXPECT_EQ(table.key_columns, (std::vector<int>{1}));
  EXPECT_TRUE(table.relation->primary_key.empty());

  const auto expected = Joined(
      Sql("SELECT v, coalesce(at::text, '<null>') FROM bf_heap ORDER BY at NULLS LAST, ctid"));
  ASSERT_EQ(expected.size(), 10u);
  for (size_t page_size : {1, 2, 3, 10}) {
    Pages pages = ReadAll(table, page_size);
    EXPECT_EQ(pages.rows, expected) << "pages of " << page_size;
  }
  auto page = ReadBackfillPage(conn_.get(), table, {}, std::nullopt, 2);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->last_key.size(), 2u);  // the sort value, then the ctid
  EXPECT_EQ(page->last_key[0], "1");     // rows (g, 0) and (a, 1)
  EXPECT_EQ(page->last_key[1]->front(), '(');
}

TEST_F(BackfillSql, StartPositionSkipsEarlierRowsAndNulls) {
  Sql("CREATE TABLE bf_events (id bigint PRIMARY KEY, created_at timestamptz)");
  Sql("INSERT INTO bf_events VALUES (1, '2025-12-31 23:59:59.999999+00'), "
      "(2, '2026-01-01 00:00:00+00'), (3, '2026-03-01 00:00:00+00'), (4, NULL), "
      "(5, '2026-01-01 00:00:00+00'), (6, '2025-06-01 00:00:00+00'), "
      "(7, '2026-02-01 00:00:00+00'), (8, '2026-01-15 00:00:00+00')");
  BackfillTable table = Describe("public.bf_events", "created_at");
  Pages pages = ReadAll(table, 3, "2026-01-01");
  EXPECT_EQ(pages.rows,
            (std::vector<std::string>{"2|2026-01-01 00:00:00+00", "5|2026-01-01 00:00:00+00",
                                      "8|2026-01-15 00:00:00+00", "7|2026-02-01 00:00:00+00",
                                      "3|2026-03-01 00:00:00+00"}));
  EXPECT_EQ(pages.sizes, (std::vector<size_t>{3, 2, 0}));
}

TEST_F(BackfillSql, BadStartPositionIsAPostgresErrorNamingTheTable) {
  Sql("CREATE TABLE bf_badstart (id int PRIMARY KEY, at date)");
  BackfillTable table = Describe("public.bf_badstart", "at");
  auto page = ReadBackfillPage(conn_.get(), table, {}, std::string("yesterday-ish"), 3);
  ASSERT_FALSE(page.ok());
  EXPECT_EQ(page.error().code(), ErrorCode::kPostgres);
  EXPECT_NE(page.error().message().find("public.bf_badstart"), std::string::npos)
      << page.error().message();
  EXPECT_NE(page.error().message().find("yesterday-ish"), std::string::npos)
      << page.error().message();
}

TEST_F(BackfillSql, EmptyTableGivesAnEmptyPage) {
  Sql("CREATE TABLE bf_empty (id int PRIMARY KEY)");
  BackfillTable table = Describe("public.bf_empty");
  auto page = ReadBackfillPage(conn_.get(), table, {}, std::nullopt, 1000);
  ASSERT_TRUE(page.ok()) << page.error().message();
  EXPECT_TRUE(page->rows.empty());
  EXPECT_TRUE(page->last_key.empty());
  auto rows = EstimateRows(conn_.get(), table);
  ASSERT_TRUE(rows.ok()) << rows.error().message();
  EXPECT_EQ(*rows, 0u);
}

TEST_F(BackfillSql, RowsHaveTheTextPgoutputSendsAndEncodeAsTheEncoderExpects) {
  Sql("CREATE TABLE bf_types (id int PRIMARY KEY, amount numeric(12,4), big numeric, "
      "at timestamptz, day date, span interval, ratio float8, flag bool, raw bytea, "
      "doc jsonb, nums int[], words text[], quote text, nothing text, code char(4), "
      "u uuid)");
  Sql("CREATE PUBLICATION bf_types_pub FOR TABLE bf_types");
  Sql("SELECT pg_create_logical_replication_slot('bf_types_slot', 'pgoutput')");
  Sql("INSERT INTO bf_types VALUES (1, 12.5, 123456789012345678901234567890.000001, "
      "'2026-11-27 10:00:00.123456+02', '2026-02-28', '1 year 2 mons 3 days 04:05:06.5', "
      "0.1, true, '\\x00ff10'::bytea, '{\"b\": [1, 2.50, null], \"a\": \"x\"}', "
      "'{1,NULL,3}', '{\"a b\",c,\"\\\"q\\\"\"}', 'it''s \"quoted\" \\ back', NULL, 'ab', "
      "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11')");

  BackfillTable table = Describe("public.bf_types");
  auto page = ReadBackfillPage(conn_.get(), table, {}, std::nullopt, 10);
  ASSERT_TRUE(page.ok()) << page.error().message();
  ASSERT_EQ(page->rows.size(), 1u);
  const model::Tuple& row = page->rows[0];
  ASSERT_EQ(row.size(), 16u);

  // What pgoutput sends for the same row, decoded by the session with sluice's
  // settings (the SQL decoding functions run the output functions in the
  // calling session, as the walsender does in its own).
  auto decoder = Connect(Settings(), ConnectionKind::kNormal);
  ASSERT_TRUE(decoder.ok());
  ASSERT_TRUE(PrepareBackfillSession(decoder->get()).ok());
  auto changes = Query(decoder->get(),
                       "SELECT encode(data, 'hex') FROM pg_logical_slot_get_binary_changes("
                       "'bf_types_slot', NULL, NULL, 'proto_version', '1', "
                       "'publication_names', 'bf_types_pub')",
                       "decoding");
  ASSERT_TRUE(changes.ok()) << changes.error().message();
  std::optional<model::Tuple> streamed;
  for (const Row& r : *changes) {
    std::string bytes;
    const std::string& hex = *r[0];
    for (size_t i = 0; i + 1 < hex.size(); i += 2) {
      bytes.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
    }
    auto message = pgoutput::Decode(bytes);
    ASSERT_TRUE(message.ok()) << message.error().message();
    if (auto* insert = std::get_if<pgoutput::InsertMessage>(&*message)) {
      streamed = std::move(insert->new_tuple);
    }
  }
  Sql("SELECT pg_drop_replication_slot('bf_types_slot')");
  ASSERT_TRUE(streamed.has_value());
  ASSERT_EQ(streamed->size(), row.size());
  for (size_t i = 0; i < row.size(); ++i) {
    EXPECT_EQ(row.kind(i), streamed->kind(i)) << table.relation->columns[i].name;
    EXPECT_EQ(row.text(i), streamed->text(i)) << table.relation->columns[i].name;
  }

  // And as a read message.
  model::Change change;
  change.action = model::Action::kRead;
  change.relation = table.relation;
  change.backfill_id = 9;
  change.new_tuple = row;
  std::string json;
  model::EncodeMessage(change, model::EncodeOptions{"postgres", "sink"}, &json);
  EXPECT_EQ(json.substr(0, json.find(",\"changes\"")),
            R"({"record":{"id":1,"amount":12.5000,"big":123456789012345678901234567890.000001,)"
            R"("at":"2026-11-27T08:00:00.123456Z","day":"2026-02-28",)"
            R"("span":{"months":14,"days":3,"microseconds":14706500000},)"
            R"("ratio":0.1,"flag":true,"raw":"\\x00ff10",)"
            R"("doc":{"a": "x", "b": [1, 2.50, null]},"nums":[1,null,3],)"
            R"("words":["a b","c","\"q\""],"quote":"it's \"quoted\" \\ back","nothing":null,)"
            R"("code":"ab  ","u":"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"})");
  EXPECT_NE(json.find(R"("changes":null,"action":"read")"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("idempotency_key":"OTox","record_pks":["1"])"), std::string::npos)
      << json;  // base64("9:1")
}

TEST_F(BackfillSql, GeneratedAndDroppedColumnsAreExcluded) {
  Sql("CREATE TABLE bf_gen (id int PRIMARY KEY, a int, gone int, g int GENERATED ALWAYS AS "
      "(a * 2) STORED, b text)");
  Sql("ALTER TABLE bf_gen DROP COLUMN gone");
  Sql("INSERT INTO bf_gen (id, a, b) VALUES (1, 21, 'x')");
  BackfillTable table = Describe("public.bf_gen");
  ASSERT_EQ(table.relation->columns.size(), 3u);
  EXPECT_EQ(table.relation->columns[0].name, "id");
  EXPECT_EQ(table.relation->columns[1].name, "a");
  EXPECT_EQ(table.relation->columns[2].name, "b");
  EXPECT_EQ(table.relation->columns[1].type_oid, 23u);  // int4
  auto page = ReadBackfillPage(conn_.get(), table, {}, std::nullopt, 10);
  ASSERT_TRUE(page.ok()) << page.error().message();
  ASSERT_EQ(page->rows.size(), 1u);
  EXPECT_EQ(RowText(page->rows[0]), "1|21|x");

  auto by_generated = DescribeBackfillTable(conn_.get(), "public.bf_gen", "g");
  ASSERT_FALSE(by_generated.ok());
  EXPECT_EQ(by_generated.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(by_generated.error().message().find("public.bf_gen has no column \"g\""),
            std::string::npos)
      << by_generated.error().message();
}

TEST_F(BackfillSql, DescribeReadsTypesModifiersAndReplicaIdentity) {
  Sql("CREATE TABLE bf_meta (id bigint PRIMARY KEY, name varchar(10), price numeric(8,2))");
  Sql("ALTER TABLE bf_meta REPLICA IDENTITY FULL");
  BackfillTable table = Describe("public.bf_meta");
  const model::Relation& r = *table.relation;
  EXPECT_EQ(r.schema, "public");
  EXPECT_EQ(r.name, "bf_meta");
  EXPECT_EQ(std::to_string(r.oid), Sql("SELECT 'bf_meta'::regclass::oid")[0][0]);
  EXPECT_EQ(r.replica_identity, model::ReplicaIdentity::kFull);
  ASSERT_EQ(r.columns.size(), 3u);
  EXPECT_EQ(r.columns[0].type_oid, 20u);      // int8
  EXPECT_EQ(r.columns[1].type_modifier, 14);  // varchar(10): 10 + 4
  EXPECT_EQ(r.columns[2].type_modifier, (8 << 16 | 2) + 4);
  EXPECT_EQ(r.primary_key, (std::vector<int>{0}));
  EXPECT_TRUE(r.columns[0].is_key);
  EXPECT_FALSE(r.columns[1].is_key);  // the primary key, not FULL's every column
  // A table name without a schema is in public.
  EXPECT_EQ(Describe("bf_meta").relation->oid, r.oid);
}

TEST_F(BackfillSql, QuotedAndUnusualNamesWork) {
  Sql(R"(CREATE SCHEMA "My S")");
  Sql(R"(CREATE TABLE "My S"."Odd ""T"".x" ("Key Col" int PRIMARY KEY, "select" text))");
  Sql(R"(INSERT INTO "My S"."Odd ""T"".x" SELECT g, 'v' || g FROM generate_series(1, 5) g)");
  BackfillTable quoted = Describe(R"("My S"."Odd ""T"".x")");
  ASSERT_TRUE(quoted.relation);
  EXPECT_EQ(quoted.relation->schema, "My S");
  EXPECT_EQ(quoted.relation->name, "Odd \"T\".x");
  EXPECT_EQ(ReadAll(quoted, 2).rows,
            (std::vector<std::string>{"1|v1", "2|v2", "3|v3", "4|v4", "5|v5"}));
  // As Relation::QualifiedName writes it (what config and the API use).
  BackfillTable plain = Describe(quoted.relation->QualifiedName(), "select");
  ASSERT_TRUE(plain.relation);
  EXPECT_EQ(plain.relation->oid, quoted.relation->oid);
  EXPECT_EQ(ReadAll(plain, 2).rows.size(), 5u);
}

TEST_F(BackfillSql, MissingTableOrSortColumnIsNotFoundNamingIt) {
  auto table = DescribeBackfillTable(conn_.get(), "public.bf_nope", "");
  ASSERT_FALSE(table.ok());
  EXPECT_EQ(table.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(table.error().message(), "table public.bf_nope does not exist");

  Sql("CREATE TABLE bf_has (id int PRIMARY KEY)");
  table = DescribeBackfillTable(conn_.get(), "public.bf_has", "missing");
  ASSERT_FALSE(table.ok());
  EXPECT_EQ(table.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(table.error().message().find("public.bf_has has no column \"missing\""),
            std::string::npos)
      << table.error().message();

  Sql("CREATE VIEW bf_view AS SELECT 1 AS id");
  table = DescribeBackfillTable(conn_.get(), "public.bf_view", "");
  ASSERT_FALSE(table.ok());
  EXPECT_EQ(table.error().code(), ErrorCode::kNotFound);
}

TEST_F(BackfillSql, MalformedTableNameIsInvalidArgument) {
  for (const std::string name : {R"("unterminated.t)", "public.", ".t", R"("a"b.t)", ""}) {
    auto table = DescribeBackfillTable(conn_.get(), name, "");
    ASSERT_FALSE(table.ok()) << name;
    EXPECT_EQ(table.error().code(), ErrorCode::kInvalidArgument) << name;
    EXPECT_NE(table.error().message().find("'" + name + "'"), std::string::npos)
        << table.error().message();
  }
}

TEST_F(BackfillSql, DroppedTableFailsThePageNamingIt) {
  Sql("CREATE TABLE bf_dropped (id int PRIMARY KEY)");
  BackfillTable table = Describe("public.bf_dropped");
  Sql("DROP TABLE bf_dropped");
  auto page = ReadBackfillPage(conn_.get(), table, {}, std::nullopt, 3);
  ASSERT_FALSE(page.ok());
  EXPECT_NE(page.error().message().find("public.bf_dropped"), std::string::npos)
      << page.error().message();
  EXPECT_EQ(page.error().code(), ErrorCode::kNotFound);
  auto rows = EstimateRows(conn_.get(), table);
  ASSERT_FALSE(rows.ok());
  EXPECT_EQ(rows.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(rows.error().message().find("public.bf_dropped"), std::string::npos);
}

// A page read cut off by statement_timeout is a timeout (the manager then
// reads smaller pages), not a server error that fails the backfill.
TEST_F(BackfillSql, StatementTimeoutIsATimeout) {
  Sql("CREATE TABLE bf_locked (id int PRIMARY KEY)");
  BackfillTable table = Describe("public.bf_locked");
  auto locker = Connect(Settings(), ConnectionKind::kNormal);
  ASSERT_TRUE(locker.ok()) << locker.error().message();
  PQclear(PQexec(locker->get(), "BEGIN; LOCK TABLE bf_locked IN ACCESS EXCLUSIVE MODE"));
  PQclear(PQexec(conn_.get(), "SET statement_timeout = '200ms'"));
  auto page = ReadBackfillPage(conn_.get(), table, {}, std::nullopt, 3);
  PQclear(PQexec(conn_.get(), "RESET statement_timeout"));
  PQclear(PQexec(locker->get(), "ROLLBACK"));
  ASSERT_FALSE(page.ok());
  EXPECT_EQ(page.error().code(), ErrorCode::kTimeout) << page.error().message();
}

TEST_F(BackfillSql, EmitBackfillWatermarkReturnsTheMessagesLsn) {
  Sql("SELECT pg_create_logical_replication_slot('bf_marks', 'test_decoding')");
  const std::string content = R"({"backfill":7,"run":"r","page":0,"mark":"low","table_oid":1})";
  auto lsn = EmitBackfillWatermark(conn_.get(), content);
  ASSERT_TRUE(lsn.ok()) << lsn.error().message();
  EXPECT_FALSE(lsn->IsZero());
  const auto decoded =
      Sql("SELECT lsn, data FROM pg_logical_slot_get_changes('bf_marks', NULL, "
          "NULL) WHERE data LIKE 'message:%'");
  Sql("SELECT pg_drop_replication_slot('bf_marks')");
  ASSERT_EQ(decoded.size(), 1u);
  EXPECT_EQ(decoded[0][0], lsn->ToString());
  EXPECT_EQ(decoded[0][1], "message: transactional: 1 prefix: sluice:backfill, sz: " +
                               std::to_string(content.size()) + " content:" + content);
}

TEST_F(BackfillSql, EmitBackfillWatermarkRefusesAnOpenTransaction) {
  ASSERT_TRUE(Query(conn_.get(), "BEGIN", "begin").ok());
  auto lsn = EmitBackfillWatermark(conn_.get(), "{}");
  EXPECT_FALSE(lsn.ok());
  ASSERT_TRUE(Query(conn_.get(), "ROLLBACK", "rollback").ok());
  EXPECT_TRUE(EmitBackfillWatermark(conn_.get(), "{}").ok());
}

TEST_F(BackfillSql, EstimateRowsCountsANeverAnalyzedTableThenUsesTheStatistics) {
  Sql("CREATE TABLE bf_count (id int PRIMARY KEY)");
  Sql("INSERT INTO bf_count SELECT generate_series(1, 25)");
  BackfillTable table = Describe("public.bf_count");
  auto rows = EstimateRows(conn_.get(), table);
  ASSERT_TRUE(rows.ok()) << rows.error().message();
  EXPECT_EQ(*rows, 25u);  // count(*): reltuples is -1
  Sql("INSERT INTO bf_count SELECT generate_series(26, 40)");
  Sql("ANALYZE bf_count");
  rows = EstimateRows(conn_.get(), table);
  ASSERT_TRUE(rows.ok()) << rows.error().message();
  EXPECT_EQ(*rows, 40u);  // reltuples after ANALYZE of a small table is exact
}

TEST_F(BackfillSql, PublishedTablesListsThePublicationsTablesByName) {
  Sql(R"(CREATE SCHEMA "Pub S")");
  Sql(R"(CREATE TABLE "Pub S"."T 1" (id int PRIMARY KEY))");
  Sql("CREATE TABLE bf_pub_b (id int PRIMARY KEY)");
  Sql("CREATE TABLE bf_pub_a (id int PRIMARY KEY)");
  Sql("CREATE TABLE bf_pub_unlisted (id int PRIMARY KEY)");
  Sql(R"(CREATE PUBLICATION bf_pub FOR TABLE bf_pub_b, bf_pub_a, "Pub S"."T 1")");
  auto tables = PublishedTables(conn_.get(), "bf_pub");
  ASSERT_TRUE(tables.ok()) << tables.error().message();
  EXPECT_EQ(*tables, (std::vector<std::string>{"Pub S.T 1", "public.bf_pub_a", "public.bf_pub_b"}));

  Sql("CREATE PUBLICATION bf_pub_empty");
  tables = PublishedTables(conn_.get(), "bf_pub_empty");
  ASSERT_TRUE(tables.ok()) << tables.error().message();
  EXPECT_TRUE(tables->empty());

  tables = PublishedTables(conn_.get(), "bf_no_such_pub");
  ASSERT_FALSE(tables.ok());
  EXPECT_EQ(tables.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(tables.error().message().find("bf_no_such_pub"), std::string::npos);
}

}  // namespace
}  // namespace sluice::source
