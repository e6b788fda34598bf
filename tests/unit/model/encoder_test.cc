// Whole-message golden tests for EncodeMessage (SPEC §2). Every produced
// message is also parsed with RapidJSON.

#include "model/encoder.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <string>

#include "base/encoding.h"
#include "json_check.h"
#include "model_fixtures.h"

namespace sluice::model {
namespace {

using testing::IsValidJson;
using testing::MakeChange;
using testing::OrdersRelation;
using testing::PaidOrder;
using testing::V;

EncodeOptions Options(TimestampStyle style = TimestampStyle::kIso8601) {
  return EncodeOptions{"app", "kinesis-sink", style};
}

std::string Encode(const Change& change, const EncodeOptions& options = Options()) {
  std::string out;
  EncodeMessage(change, options, &out);
  EXPECT_TRUE(IsValidJson(out));
  return out;
}

// The metadata object of a public.orders change in the test transaction.
std::string OrdersMetadata(const std::string& record_pks, const std::string& annotations = "null",
                           const std::string& idempotency_key = "MjQwMjMxMjg6MA==",
                           int commit_idx = 0) {
  return R"("metadata":{"table_schema":"public","table_name":"orders",)"
         R"("commit_timestamp":"2026-11-27T10:00:00.123456Z","commit_lsn":24023128,)"
         R"("commit_idx":)" +
         std::to_string(commit_idx) + R"(,"idempotency_key":")" + idempotency_key +
         R"(","record_pks":)" + record_pks + R"(,"transaction_annotations":)" + annotations +
         R"(,"database_name":"app","consumer":{"name":"kinesis-sink"}})";
}

constexpr char kPaidRecord[] =
    R"({"id":7,"status":"paid","total":199.99,"meta":{"a": 1},"tags":["x","y z"],)"
    R"("created_at":"2026-11-27T10:00:00.123456Z","paid":true,"note":null})";

TEST(EncodeMessage, InsertGolden) {
  Change c = MakeChange(Action::kInsert, OrdersRelation(), PaidOrder());
  EXPECT_EQ(Encode(c),
            R"({"record":{"id":7,"status":"paid","total":199.99,"meta":{"a": 1},)"
            R"("tags":["x","y z"],"created_at":"2026-11-27T10:00:00.123456Z","paid":true,)"
            R"("note":null},"changes":null,"action":"insert",)"
            R"("metadata":{"table_schema":"public","table_name":"orders",)"
            R"("commit_timestamp":"2026-11-27T10:00:00.123456Z","commit_lsn":24023128,)"
            R"("commit_idx":0,"idempotency_key":"MjQwMjMxMjg6MA==","record_pks":["7"],)"
            R"("transaction_annotations":null,"database_name":"app",)"
            R"("consumer":{"name":"kinesis-sink"}}})");
}

TEST(EncodeMessage, ReadIsTheRowWithNullChangesAndBackfillIdempotencyKey) {
  Change c = MakeChange(Action::kRead, OrdersRelation(), PaidOrder());
  c.backfill_id = 7;
  // idempotency_key: base64("7:7"), backfill 7 and record_pks ["7"].
  EXPECT_EQ(Encode(c), std::string(R"({"record":)") + kPaidRecord +
                           R"(,"changes":null,"action":"read",)" +
                           OrdersMetadata(R"(["7"])", "null", "Nzo3") + "}");
}

TEST(EncodeMessage, UpdateWithFullOldRowListsOldValuesOfChangedColumns) {
  std::vector<V> old_row = PaidOrder();
  old_row[1] = "pending";
  old_row[6] = "f";
  old_row[7] = "was set";  // now NULL: a kind change counts as a change
  Change c = MakeChange(Action::kUpdate, OrdersRelation(ReplicaIdentity::kFull), PaidOrder(),
                        old_row, /*old_is_full_row=*/true);
  EXPECT_EQ(Encode(c), std::string(R"({"record":)") + kPaidRecord +
                           R"(,"changes":{"status":"pending","paid":false,"note":"was set"},)"
                           R"("action":"update",)" +
                           OrdersMetadata(R"(["7"])") + "}");
}

TEST(EncodeMessage, UpdateWithFullOldRowAndNoDifferenceHasEmptyChanges) {
  Change c = MakeChange(Action::kUpdate, OrdersRelation(ReplicaIdentity::kFull), PaidOrder(),
                        PaidOrder(), true);
  EXPECT_EQ(Encode(c), std::string(R"({"record":)") + kPaidRecord +
                           R"(,"changes":{},"action":"update",)" + OrdersMetadata(R"(["7"])") +
                           "}");
}

TEST(EncodeMessage, UpdateWithDefaultIdentityHasEmptyChanges) {
  std::vector<V> new_row = PaidOrder();
  Change c = MakeChange(Action::kUpdate, OrdersRelation(), new_row);
  EXPECT_EQ(Encode(c), std::string(R"({"record":)") + kPaidRecord +
                           R"(,"changes":{},"action":"update",)" + OrdersMetadata(R"(["7"])") +
                           "}");
}

TEST(EncodeMessage, UpdateWithKeyOnlyOldTupleHasEmptyChangesAndNewKey) {
  // The primary key changed 6 → 7: pgoutput sends the old key ('K').
  Change c = MakeChange(Action::kUpdate, OrdersRelation(), PaidOrder(),
                        std::vector<V>{"6", V::Null(), V::Null(), V::Null(), V::Null(), V::Null(),
                                       V::Null(), V::Null()},
                        false);
  EXPECT_EQ(Encode(c), std::string(R"({"record":)") + kPaidRecord +
                           R"(,"changes":{},"action":"update",)" + OrdersMetadata(R"(["7"])") +
                           "}");
}

TEST(EncodeMessage, UnchangedToastIsFilledFromFullOldRow) {
  std::vector<V> new_row = PaidOrder();
  new_row[3] = V::Toast();
  std::vector<V> old_row = PaidOrder();
  old_row[3] = R"({"big": true})";
  old_row[1] = "pending";
  Change c =
      MakeChange(Action::kUpdate, OrdersRelation(ReplicaIdentity::kFull), new_row, old_row, true);
  const std::string out = Encode(c);
  EXPECT_NE(out.find(R"("meta":{"big": true})"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("changes":{"status":"pending"})"), std::string::npos) << out;
}

TEST(EncodeMessage, UnchangedToastWithoutOldValueIsMarked) {
  std::vector<V> new_row = PaidOrder();
  new_row[3] = V::Toast();
  Change c = MakeChange(Action::kUpdate, OrdersRelation(), new_row);
  const std::string out = Encode(c);
  EXPECT_NE(out.find(R"("meta":"unchanged_toast")"), std::string::npos) << out;
}

TEST(EncodeMessage, DeleteWithKeyOnlyOldTupleHasOnlyKeyColumns) {
  Change c = MakeChange(Action::kDelete, OrdersRelation(), {},
                        std::vector<V>{"7", V::Null(), V::Null(), V::Null(), V::Null(), V::Null(),
                                       V::Null(), V::Null()});
  EXPECT_EQ(Encode(c), R"({"record":{"id":7},"changes":null,"action":"delete",)" +
                           OrdersMetadata(R"(["7"])") + "}");
}

TEST(EncodeMessage, DeleteWithFullOldRowHasWholeRow) {
  Change c =
      MakeChange(Action::kDelete, OrdersRelation(ReplicaIdentity::kFull), {}, PaidOrder(), true);
  EXPECT_EQ(Encode(c), std::string(R"({"record":)") + kPaidRecord +
                           R"(,"changes":null,"action":"delete",)" + OrdersMetadata(R"(["7"])") +
                           "}");
}

TEST(EncodeMessage, FullIdentityRecordPksComeFromPrimaryKeyOnly) {
  // Every column of a FULL table is flagged is_key; only primary_key counts.
  std::vector<V> old_row = PaidOrder();
  old_row[1] = "pending";
  Change c = MakeChange(Action::kUpdate, OrdersRelation(ReplicaIdentity::kFull), PaidOrder(),
                        old_row, /*old_is_full_row=*/true);
  EXPECT_NE(Encode(c).find(R"("record_pks":["7"])"), std::string::npos) << Encode(c);
}

TEST(EncodeMessage, FullIdentityWithoutPrimaryKeyHasEmptyRecordPks) {
  auto r = OrdersRelation(ReplicaIdentity::kFull);
  r->primary_key.clear();
  Change c = MakeChange(Action::kDelete, r, {}, PaidOrder(), /*old_is_full_row=*/true);
  EXPECT_EQ(Encode(c), std::string(R"({"record":)") + kPaidRecord +
                           R"(,"changes":null,"action":"delete",)" + OrdersMetadata("[]") + "}");
}

TEST(EncodeMessage, KeyOnlyDeleteShowsReplicaIdentityColumnsPksShowPrimaryKey) {
  // REPLICA IDENTITY USING INDEX on (status): the key-only old tuple carries
  // status; record_pks follow primary_key, set here to (id).
  auto r = OrdersRelation(ReplicaIdentity::kIndex);
  r->columns[0].is_key = false;
  r->columns[1].is_key = true;
  Change c = MakeChange(Action::kDelete, r, {},
                        std::vector<V>{"7", "paid", V::Null(), V::Null(), V::Null(), V::Null(),
                                       V::Null(), V::Null()});
  EXPECT_EQ(Encode(c), R"({"record":{"status":"paid"},"changes":null,"action":"delete",)" +
                           OrdersMetadata(R"(["7"])") + "}");
}

TEST(EncodeMessage, DeleteWithoutOldTupleHasEmptyRecord) {
  Change c = MakeChange(Action::kDelete, OrdersRelation(), {});
  EXPECT_EQ(Encode(c),
            R"({"record":{},"changes":null,"action":"delete",)" + OrdersMetadata("[]") + "}");
}

TEST(EncodeMessage, TruncateHasNullRecord) {
  Change c = MakeChange(Action::kTruncate, OrdersRelation(), {});
  c.commit_idx = 3;
  EXPECT_EQ(Encode(c), R"({"record":null,"changes":null,"action":"truncate",)" +
                           OrdersMetadata("[]", "null", "MjQwMjMxMjg6Mw==", 3) + "}");
}

TEST(EncodeMessage, TransactionAnnotationsAreEmbedded) {
  Change c = MakeChange(Action::kInsert, OrdersRelation(), PaidOrder());
  c.txn = testing::Txn(R"({"user": "alice", "reason": ["refund", 2]})");
  EXPECT_EQ(Encode(c),
            std::string(R"({"record":)") + kPaidRecord + R"(,"changes":null,"action":"insert",)" +
                OrdersMetadata(R"(["7"])", R"({"user": "alice", "reason": ["refund", 2]})") + "}");
}

TEST(EncodeMessage, InvalidAnnotationsBecomeAString) {
  Change c = MakeChange(Action::kInsert, OrdersRelation(), PaidOrder());
  c.txn = testing::Txn(R"({"user": "alice")");
  EXPECT_EQ(Encode(c), std::string(R"({"record":)") + kPaidRecord +
                           R"(,"changes":null,"action":"insert",)" +
                           OrdersMetadata(R"(["7"])", R"("{\"user\": \"alice\"")") + "}");
  c.txn = testing::Txn("{} trailing");
  EXPECT_NE(Encode(c).find(R"("transaction_annotations":"{} trailing")"), std::string::npos);
}

TEST(EncodeMessage, UnixMicrosecondTimestamps) {
  Change c = MakeChange(Action::kInsert, OrdersRelation(), PaidOrder());
  const std::string out = Encode(c, Options(TimestampStyle::kUnixMicrosecond));
  EXPECT_EQ(out, std::string(R"({"record":)") + kPaidRecord +
                     R"(,"changes":null,"action":"insert",)"
                     R"("metadata":{"table_schema":"public","table_name":"orders",)"
                     R"("commit_timestamp":1795773600123456,"commit_lsn":24023128,)"
                     R"("commit_idx":0,"idempotency_key":"MjQwMjMxMjg6MA==","record_pks":["7"],)"
                     R"("transaction_annotations":null,"database_name":"app",)"
                     R"("consumer":{"name":"kinesis-sink"}}})");
  rapidjson::Document doc;
  doc.Parse(out.c_str());
  EXPECT_TRUE(doc["metadata"]["commit_timestamp"].IsInt64());
  // Column values are not affected by the style.
  EXPECT_STREQ(doc["record"]["created_at"].GetString(), "2026-11-27T10:00:00.123456Z");
}

TEST(EncodeMessage, CommitTimestampEdgeDates) {
  Change c = MakeChange(Action::kInsert, OrdersRelation(), PaidOrder());
  auto ts = [&](int64_t us) {
    auto txn = testing::Txn();
    txn->commit_time_us = us;
    c.txn = txn;
    rapidjson::Document doc;
    std::string out = Encode(c);
    doc.Parse(out.c_str());
    return std::string(doc["metadata"]["commit_timestamp"].GetString());
  };
  EXPECT_EQ(ts(0), "1970-01-01T00:00:00.000000Z");
  EXPECT_EQ(ts(-1), "1969-12-31T23:59:59.999999Z");
  EXPECT_EQ(ts(951782400000000), "2000-02-29T00:00:00.000000Z");  // leap day
  EXPECT_EQ(ts(253402300799999999), "9999-12-31T23:59:59.999999Z");
}

TEST(EncodeMessage, CompositeKeyPksInKeyOrder) {
  auto r = std::make_shared<Relation>();
  r->schema = "public";
  r->name = "orders";
  r->columns = {
      {"id", pg::kInt4, -1, true}, {"note", pg::kText, -1, false}, {"tenant", pg::kText, -1, true}};
  r->primary_key = {0, 2};
  Change c = MakeChange(Action::kInsert, r, {"7", "x", "acme"});
  EXPECT_NE(Encode(c).find(R"("record_pks":["7","acme"])"), std::string::npos);
  r->primary_key = {2, 0};  // PRIMARY KEY (tenant, id)
  EXPECT_NE(Encode(c).find(R"("record_pks":["acme","7"])"), std::string::npos);
}

TEST(EncodeMessage, NamesAreJsonEscaped) {
  auto r = std::make_shared<Relation>();
  r->schema = "we\"ird";
  r->name = "t\\n";
  r->columns = {{"col \"q\"\n", pg::kText, -1, true}};
  Change c = MakeChange(Action::kInsert, r, {"v"});
  EncodeOptions options{"d\"b", "si\\nk", TimestampStyle::kIso8601};
  const std::string out = Encode(c, options);
  rapidjson::Document doc;
  doc.Parse(out.c_str());
  EXPECT_STREQ(doc["record"]["col \"q\"\n"].GetString(), "v");
  EXPECT_STREQ(doc["metadata"]["table_schema"].GetString(), "we\"ird");
  EXPECT_STREQ(doc["metadata"]["table_name"].GetString(), "t\\n");
  EXPECT_STREQ(doc["metadata"]["database_name"].GetString(), "d\"b");
  EXPECT_STREQ(doc["metadata"]["consumer"]["name"].GetString(), "si\\nk");
}

TEST(EncodeMessage, TupleShorterThanRelationStillValid) {
  Change c = MakeChange(Action::kInsert, OrdersRelation(), {"7", "paid"});
  EXPECT_EQ(Encode(c), R"({"record":{"id":7,"status":"paid"},"changes":null,"action":"insert",)" +
                           OrdersMetadata(R"(["7"])") + "}");
}

TEST(EncodeMessage, MissingRelationAndTransactionStillValid) {
  Change c;
  c.action = Action::kInsert;
  c.new_tuple = testing::MakeTuple({"1"});
  EXPECT_EQ(Encode(c),
            R"({"record":{},"changes":null,"action":"insert","metadata":{"table_schema":"",)"
            R"("table_name":"","commit_timestamp":"1970-01-01T00:00:00.000000Z","commit_lsn":0,)"
            R"("commit_idx":0,"idempotency_key":"MDow","record_pks":[],)"
            R"("transaction_annotations":null,"database_name":"app",)"
            R"("consumer":{"name":"kinesis-sink"}}})");
}

TEST(EncodeMessage, AppendsToExistingOutput) {
  Change c = MakeChange(Action::kInsert, OrdersRelation(), PaidOrder());
  std::string out = "[";
  EncodeMessage(c, Options(), &out);
  out += ",";
  EncodeMessage(c, Options(), &out);
  out += "]";
  EXPECT_TRUE(IsValidJson(out));
  rapidjson::Document doc;
  doc.Parse(out.c_str());
  EXPECT_EQ(doc.Size(), 2u);
}

TEST(EncodeMessage, EveryTypeInOneRowParses) {
  // One row holding every SPEC §2 type, values captured from Postgres 15
  // (see value_encoding_test.cc), checked through a JSON parser.
  auto r = std::make_shared<Relation>();
  r->schema = "public";
  r->name = "every_type";
  r->columns = {
      {"b", pg::kBool, -1, true},          {"i2", pg::kInt2, -1, false},
      {"f8", pg::kFloat8, -1, false},      {"nan", pg::kFloat8, -1, false},
      {"n", pg::kNumeric, -1, false},      {"j", pg::kJson, -1, false},
      {"tz", pg::kTimestamptz, -1, false}, {"ts", pg::kTimestamp, -1, false},
      {"d", pg::kDate, -1, false},         {"t", pg::kTime, -1, false},
      {"by", pg::kBytea, -1, false},       {"iv", pg::kInterval, -1, false},
      {"arr", pg::kInt4Array, -1, false},  {"u", pg::kUuid, -1, false},
      {"nul", pg::kText, -1, false},
  };
  r->primary_key = {0};
  Change c = MakeChange(
      Action::kInsert, r,
      {"t", "-32768", "1e+300", "NaN", "-0.0000010000", R"({"a": [1]})", "2026-11-27 10:00:00.5+00",
       "2026-11-27 10:00:00", "2026-11-27", "24:00:00", "\\x0102ff", "P10M3DT-4H-5M-6.000001S",
       "{{1,NULL},{3,4}}", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", V::Null()});
  rapidjson::Document doc;
  const std::string out = Encode(c);
  doc.Parse(out.c_str());
  const auto& rec = doc["record"];
  EXPECT_TRUE(rec["b"].IsTrue());
  EXPECT_EQ(rec["i2"].GetInt(), -32768);
  EXPECT_DOUBLE_EQ(rec["f8"].GetDouble(), 1e300);
  EXPECT_STREQ(rec["nan"].GetString(), "NaN");
  EXPECT_TRUE(rec["n"].IsNumber());
  EXPECT_EQ(rec["j"]["a"][0].GetInt(), 1);
  EXPECT_STREQ(rec["tz"].GetString(), "2026-11-27T10:00:00.500000Z");
  EXPECT_STREQ(rec["ts"].GetString(), "2026-11-27T10:00:00.000000");
  EXPECT_STREQ(rec["d"].GetString(), "2026-11-27");
  EXPECT_STREQ(rec["t"].GetString(), "24:00:00");
  EXPECT_STREQ(rec["by"].GetString(), "\\x0102ff");
  EXPECT_EQ(rec["iv"]["months"].GetInt(), 10);
  EXPECT_EQ(rec["iv"]["microseconds"].GetInt64(), -14706000001);
  EXPECT_TRUE(rec["arr"][0][1].IsNull());
  EXPECT_STREQ(rec["u"].GetString(), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
  EXPECT_TRUE(rec["nul"].IsNull());
  EXPECT_EQ(doc["metadata"]["commit_lsn"].GetUint64(), 24023128u);
  EXPECT_STREQ(doc["metadata"]["record_pks"][0].GetString(), "t");
}

TEST(IdempotencyKey, IsBase64OfLsnAndIndex) {
  Change c = MakeChange(Action::kInsert, OrdersRelation(), PaidOrder());
  EXPECT_EQ(IdempotencyKey(c), "MjQwMjMxMjg6MA==");  // base64("24023128:0")
  c.commit_idx = 3;
  EXPECT_EQ(IdempotencyKey(c), "MjQwMjMxMjg6Mw==");  // base64("24023128:3")
}

TEST(IdempotencyKey, ReadIsBase64OfBackfillIdAndPrimaryKeyValuesInKeyOrder) {
  auto r = std::make_shared<Relation>();
  r->schema = "public";
  r->name = "lines";
  r->columns = {
      {"id", pg::kInt4, -1, true}, {"note", pg::kText, -1, false}, {"tenant", pg::kText, -1, true}};
  r->primary_key = {2, 0};  // PRIMARY KEY (tenant, id)
  Change c = MakeChange(Action::kRead, r, {"7", "x", "acme"});
  c.backfill_id = 42;
  EXPECT_EQ(IdempotencyKey(c), "NDI6YWNtZSw3");  // base64("42:acme,7")
  EXPECT_NE(Encode(c).find(R"("idempotency_key":"NDI6YWNtZSw3","record_pks":["acme","7"])"),
            std::string::npos);
  r->primary_key = {0, 2};
  EXPECT_EQ(IdempotencyKey(c), "NDI6NyxhY21l");  // base64("42:7,acme")
}

TEST(IdempotencyKey, ReadKeyIgnoresTheTransactionAndNonKeyColumns) {
  // Every read of a row in one backfill has the same key: a page read again
  // lands in another watermark transaction, maybe with other column values.
  Change a = MakeChange(Action::kRead, OrdersRelation(), PaidOrder());
  a.backfill_id = 3;
  Change b = MakeChange(Action::kRead, OrdersRelation(),
                        {"7", "shipped", "1", "{}", "{}", "2026-01-01 00:00:00+00", "f", "n"});
  b.backfill_id = 3;
  auto txn = testing::Txn();
  txn->commit_lsn = Lsn(99999999);
  b.txn = txn;
  b.commit_idx = 12;
  EXPECT_EQ(IdempotencyKey(a), IdempotencyKey(b));
  EXPECT_EQ(Base64Decode(IdempotencyKey(a)).value_or(""), "3:7");
  b.backfill_id = 4;  // another backfill of the same table
  EXPECT_NE(IdempotencyKey(a), IdempotencyKey(b));
}

TEST(IdempotencyKey, ReadWithoutPrimaryKeyTellsRowsApartByTheirValues) {
  auto r = OrdersRelation(ReplicaIdentity::kFull);
  r->primary_key.clear();
  Change a = MakeChange(Action::kRead, r, PaidOrder());
  a.backfill_id = 5;
  Change same = MakeChange(Action::kRead, r, PaidOrder());
  same.backfill_id = 5;
  std::vector<V> other_values = PaidOrder();
  other_values[7] = "";  // '' instead of NULL
  Change other = MakeChange(Action::kRead, r, other_values);
  other.backfill_id = 5;
  const std::string key = Base64Decode(IdempotencyKey(a)).value_or("");
  ASSERT_EQ(key.size(), 2 + 32u) << key;  // "5:" and an MD5 in hex
  EXPECT_EQ(key.substr(0, 2), "5:");
  EXPECT_EQ(IdempotencyKey(a), IdempotencyKey(same));
  EXPECT_NE(IdempotencyKey(a), IdempotencyKey(other));
  EXPECT_NE(Encode(a).find(R"("record_pks":[])"), std::string::npos);
}

TEST(IdempotencyKey, LargestLsnAndIndex) {
  Change c = MakeChange(Action::kInsert, OrdersRelation(), PaidOrder());
  auto txn = testing::Txn();
  txn->commit_lsn = Lsn(UINT64_MAX);
  c.txn = txn;
  c.commit_idx = UINT32_MAX;
  EXPECT_EQ(Base64Decode(IdempotencyKey(c)).value_or(""), "18446744073709551615:4294967295");
}

}  // namespace
}  // namespace sluice::model
