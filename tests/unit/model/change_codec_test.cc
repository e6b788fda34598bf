// Change codec: round trips field by field, the canonical form, the format's
// golden bytes, and clean errors for truncated, corrupt and foreign input.

#include "model/change_codec.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "model/encoder.h"
#include "model/pg_types.h"
#include "model_fixtures.h"

namespace sluice::model {
namespace {

using testing::MakeChange;
using testing::MakeTuple;
using testing::OrdersRelation;
using testing::PaidOrder;
using testing::Txn;
using testing::V;

std::string Quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

::testing::AssertionResult SameTuple(const char* which, const Tuple& a, const Tuple& b) {
  if (a.size() != b.size()) {
    return ::testing::AssertionFailure()
           << which << " sizes differ: " << a.size() << " vs " << b.size();
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (a.kind(i) != b.kind(i)) {
      return ::testing::AssertionFailure()
             << which << "[" << i << "] kinds differ: " << static_cast<int>(a.kind(i)) << " vs "
             << static_cast<int>(b.kind(i));
    }
    if (a.kind(i) == ValueKind::kText && a.text(i) != b.text(i)) {
      return ::testing::AssertionFailure()
             << which << "[" << i << "] texts differ: " << Quote(a.text(i)) << " vs "
             << Quote(b.text(i));
    }
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult SameRelation(const Relation& a, const Relation& b) {
  auto fail = [] { return ::testing::AssertionFailure() << "relation."; };
  if (a.oid != b.oid) return fail() << "oid: " << a.oid << " vs " << b.oid;
  if (a.schema != b.schema) return fail() << "schema: " << a.schema << " vs " << b.schema;
  if (a.name != b.name) return fail() << "name: " << a.name << " vs " << b.name;
  if (a.replica_identity != b.replica_identity) {
    return fail() << "replica_identity: " << static_cast<char>(a.replica_identity) << " vs "
                  << static_cast<char>(b.replica_identity);
  }
  if (a.columns.size() != b.columns.size()) {
    return fail() << "columns: " << a.columns.size() << " vs " << b.columns.size();
  }
  for (size_t i = 0; i < a.columns.size(); ++i) {
    const Column& x = a.columns[i];
    const Column& y = b.columns[i];
    if (x.name != y.name || x.type_oid != y.type_oid || x.type_modifier != y.type_modifier ||
        x.is_key != y.is_key) {
      return fail() << "columns[" << i << "]: " << x.name << "/" << x.type_oid << "/"
                    << x.type_modifier << "/" << x.is_key << " vs " << y.name << "/" << y.type_oid
                    << "/" << y.type_modifier << "/" << y.is_key;
    }
  }
  if (a.primary_key != b.primary_key) return fail() << "primary_key differs";
  return ::testing::AssertionSuccess();
}

// Field-by-field equality of everything the codec carries.
::testing::AssertionResult SameChange(const Change& a, const Change& b) {
  if (a.action != b.action) {
    return ::testing::AssertionFailure()
           << "action: " << ActionName(a.action) << " vs " << ActionName(b.action);
  }
  if (a.commit_idx != b.commit_idx) {
    return ::testing::AssertionFailure()
           << "commit_idx: " << a.commit_idx << " vs " << b.commit_idx;
  }
  if (a.backfill_id != b.backfill_id) {
    return ::testing::AssertionFailure()
           << "backfill_id: " << a.backfill_id << " vs " << b.backfill_id;
  }
  if (a.old_is_full_row != b.old_is_full_row) {
    return ::testing::AssertionFailure() << "old_is_full_row differs";
  }
  if ((a.relation == nullptr) != (b.relation == nullptr)) {
    return ::testing::AssertionFailure() << "relation present on one side only";
  }
  if (a.relation) {
    auto same = SameRelation(*a.relation, *b.relation);
    if (!same) return same;
  }
  if ((a.txn == nullptr) != (b.txn == nullptr)) {
    return ::testing::AssertionFailure() << "txn present on one side only";
  }
  if (a.txn) {
    const TransactionInfo& x = *a.txn;
    const TransactionInfo& y = *b.txn;
    if (x.commit_lsn != y.commit_lsn || x.commit_time_us != y.commit_time_us || x.xid != y.xid ||
        x.annotations != y.annotations) {
      return ::testing::AssertionFailure()
             << "txn: " << x.commit_lsn.value() << "/" << x.commit_time_us << "/" << x.xid << "/"
             << x.annotations << " vs " << y.commit_lsn.value() << "/" << y.commit_time_us << "/"
             << y.xid << "/" << y.annotations;
    }
  }
  auto same_new = SameTuple("new_tuple", a.new_tuple, b.new_tuple);
  if (!same_new) return same_new;
  if (a.old_tuple.has_value() != b.old_tuple.has_value()) {
    return ::testing::AssertionFailure() << "old_tuple present on one side only";
  }
  if (a.old_tuple) return SameTuple("old_tuple", *a.old_tuple, *b.old_tuple);
  return ::testing::AssertionSuccess();
}

std::string Message(const Change& change) {
  std::string out;
  EncodeMessage(change, EncodeOptions{"app", "kinesis-sink", TimestampStyle::kIso8601}, &out);
  return out;
}

// Encodes, decodes, and checks the decoded change field by field, its
// canonical re-encoding and its message JSON against the original.
void ExpectRoundTrip(const Change& original) {
  const std::string bytes = EncodeChange(original);
  Result<Change> decoded = DecodeChange(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.error().message();
  EXPECT_TRUE(SameChange(original, *decoded));
  EXPECT_EQ(EncodeChange(*decoded), bytes);
  EXPECT_EQ(Message(*decoded), Message(original));
}

Error DecodeError(std::string_view bytes) {
  Result<Change> decoded = DecodeChange(bytes);
  EXPECT_FALSE(decoded.ok());
  if (decoded.ok()) return Error(ErrorCode::kInternal, "decoded");
  EXPECT_EQ(decoded.error().code(), ErrorCode::kInvalidArgument);
  return decoded.error();
}

Change FullRowUpdate() {
  // REPLICA IDENTITY FULL: the whole old row, an unchanged TOAST column in
  // the new row, NULLs on both sides.
  return MakeChange(
      Action::kUpdate, OrdersRelation(ReplicaIdentity::kFull),
      {"7", "shipped", "199.99", V::Toast(), R"({x})", "2026-11-27 10:00:00+00", "t", V::Null()},
      std::vector<V>{"7", "paid", "199.99", R"({"a": 1})", R"({x,"y z"})", "2026-11-27 10:00:00+00",
                     V::Null(), "old note"},
      /*old_is_full_row=*/true);
}

// A relation with one column of each interesting shape, and the change the
// golden test pins.
Change SmallInsert() {
  auto relation = std::make_shared<Relation>();
  relation->oid = 16390;
  relation->schema = "public";
  relation->name = "t";
  relation->columns = {{"id", pg::kInt8, -1, true}, {"v", pg::kVarchar, 14, false}};
  relation->primary_key = {0};
  Change c = MakeChange(Action::kInsert, relation, {"7", V::Null()});
  c.commit_idx = 3;
  return c;
}

// ---- Round trips ----------------------------------------------------------

TEST(ChangeCodec, InsertRoundTrips) {
  ExpectRoundTrip(MakeChange(Action::kInsert, OrdersRelation(), PaidOrder()));
}

TEST(ChangeCodec, UpdateWithKeyOnlyOldTupleRoundTrips) {
  // The key changed: pgoutput sends the old key ('K'), other columns NULL.
  Change c = MakeChange(Action::kUpdate, OrdersRelation(), PaidOrder(),
                        std::vector<V>{"6", V::Null(), V::Null(), V::Null(), V::Null(), V::Null(),
                                       V::Null(), V::Null()});
  ExpectRoundTrip(c);
}

TEST(ChangeCodec, UpdateWithFullOldRowUnchangedToastAndNullsRoundTrips) {
  Change c = FullRowUpdate();
  ExpectRoundTrip(c);
  Result<Change> decoded = DecodeChange(EncodeChange(c));
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->new_tuple.kind(3), ValueKind::kUnchangedToast);
  EXPECT_EQ(decoded->new_tuple.kind(7), ValueKind::kNull);
  EXPECT_TRUE(decoded->old_is_full_row);
  EXPECT_EQ(decoded->relation->replica_identity, ReplicaIdentity::kFull);
}

TEST(ChangeCodec, UpdateWithoutOldTupleRoundTrips) {
  ExpectRoundTrip(MakeChange(Action::kUpdate, OrdersRelation(), PaidOrder()));
}

TEST(ChangeCodec, DeleteWithKeyOnlyOldTupleRoundTrips) {
  ExpectRoundTrip(MakeChange(Action::kDelete, OrdersRelation(), {},
                             std::vector<V>{"7", V::Null(), V::Null(), V::Null(), V::Null(),
                                            V::Null(), V::Null(), V::Null()}));
}

TEST(ChangeCodec, DeleteWithFullOldRowRoundTrips) {
  ExpectRoundTrip(MakeChange(Action::kDelete, OrdersRelation(ReplicaIdentity::kFull), {},
                             PaidOrder(), /*old_is_full_row=*/true));
}

TEST(ChangeCodec, DeleteWithoutOldTupleRoundTrips) {
  ExpectRoundTrip(MakeChange(Action::kDelete, OrdersRelation(ReplicaIdentity::kNothing), {}));
}

TEST(ChangeCodec, TruncateWithEmptyTuplesRoundTrips) {
  Change c = MakeChange(Action::kTruncate, OrdersRelation(), {});
  ExpectRoundTrip(c);
  Result<Change> decoded = DecodeChange(EncodeChange(c));
  ASSERT_TRUE(decoded.ok());
  EXPECT_TRUE(decoded->new_tuple.empty());
  EXPECT_FALSE(decoded->old_tuple.has_value());
}

TEST(ChangeCodec, EmptyOldTupleStaysPresent) {
  Change c = MakeChange(Action::kDelete, OrdersRelation(), {}, std::vector<V>{});
  ExpectRoundTrip(c);
  Result<Change> decoded = DecodeChange(EncodeChange(c));
  ASSERT_TRUE(decoded.ok());
  ASSERT_TRUE(decoded->old_tuple.has_value());
  EXPECT_TRUE(decoded->old_tuple->empty());
}

TEST(ChangeCodec, ReadRoundTrips) {
  ExpectRoundTrip(MakeChange(Action::kRead, OrdersRelation(ReplicaIdentity::kIndex), PaidOrder()));
}

TEST(ChangeCodec, BackfillIdRoundTrips) {
  for (uint64_t id : {uint64_t{1}, uint64_t{127}, uint64_t{128}, uint64_t{16384},
                      std::numeric_limits<uint64_t>::max()}) {
    Change c = MakeChange(Action::kRead, OrdersRelation(), PaidOrder());
    c.backfill_id = id;
    ExpectRoundTrip(c);
    Result<Change> decoded = DecodeChange(EncodeChange(c));
    ASSERT_TRUE(decoded.ok());
    EXPECT_EQ(decoded->backfill_id, id);
  }
}

TEST(ChangeCodec, AnnotationsRoundTrip) {
  Change c = MakeChange(Action::kInsert, OrdersRelation(), PaidOrder());
  c.txn = Txn(R"({"user":"ann","reason":"refund ✓"})");
  ExpectRoundTrip(c);
  c.txn = Txn("not json {");
  ExpectRoundTrip(c);
}

TEST(ChangeCodec, UnicodeAndBinaryLookingTextWithNulBytesRoundTrips) {
  auto relation = OrdersRelation();
  std::string nul_inside("a\0b\0", 4);
  std::string all_bytes;
  for (int b = 0; b < 256; ++b) all_bytes.push_back(static_cast<char>(b));
  Change c = MakeChange(Action::kInsert, relation,
                        {"7", nul_inside, "", "日本語 ✓ 🚀", all_bytes, "\\x00ff", "", V::Null()});
  ExpectRoundTrip(c);
  Result<Change> decoded = DecodeChange(EncodeChange(c));
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->new_tuple.text(1), nul_inside);
  EXPECT_EQ(decoded->new_tuple.kind(2), ValueKind::kText);  // '' is not NULL
  EXPECT_EQ(decoded->new_tuple.text(4), all_bytes);
}

TEST(ChangeCodec, NonAsciiAndEmptyNamesRoundTrip) {
  auto relation = std::make_shared<Relation>();
  relation->oid = 1;
  relation->schema = "";
  relation->name = "Ünïcödé \"table\"\n";
  relation->columns = {{"", pg::kText, -1, false}, {std::string("n\0ul", 4), pg::kText, -1, true}};
  relation->primary_key = {1, 0};
  ExpectRoundTrip(MakeChange(Action::kInsert, relation, {"x", "y"}));
}

TEST(ChangeCodec, ManyColumnsAndLongValuesRoundTrip) {
  auto relation = std::make_shared<Relation>();
  relation->oid = 99999;
  relation->schema = "wide";
  relation->name = "t";
  std::vector<V> values;
  for (int i = 0; i < 1600; ++i) {
    relation->columns.push_back({"col_" + std::to_string(i), pg::kText, i % 7 - 1, i < 2});
    values.push_back(i % 3 == 0 ? V::Null() : V(std::string(i % 300, 'x')));
  }
  values[5] = V(std::string(70000, 'L'));  // a length needing a 3-byte varint
  relation->primary_key = {0, 1};
  ExpectRoundTrip(MakeChange(Action::kInsert, relation, values));
}

TEST(ChangeCodec, ExtremeNumbersRoundTrip) {
  auto relation = OrdersRelation();
  relation->oid = std::numeric_limits<uint32_t>::max();
  relation->columns[0].type_oid = std::numeric_limits<uint32_t>::max();
  relation->columns[1].type_modifier = std::numeric_limits<int32_t>::min();
  relation->columns[2].type_modifier = std::numeric_limits<int32_t>::max();
  relation->primary_key = {7, 0};
  Change c = MakeChange(Action::kInsert, relation, PaidOrder());
  auto txn = Txn();
  txn->commit_lsn = Lsn(std::numeric_limits<uint64_t>::max());
  txn->commit_time_us = std::numeric_limits<int64_t>::min();
  txn->xid = std::numeric_limits<uint32_t>::max();
  c.txn = txn;
  c.commit_idx = std::numeric_limits<uint32_t>::max();
  ExpectRoundTrip(c);
  txn->commit_time_us = -1;  // before the epoch
  ExpectRoundTrip(c);
  txn->commit_time_us = std::numeric_limits<int64_t>::max();
  ExpectRoundTrip(c);
}

TEST(ChangeCodec, MissingRelationAndTransactionRoundTrip) {
  Change c = MakeChange(Action::kInsert, nullptr, {"1"});
  c.txn = nullptr;
  ExpectRoundTrip(c);
}

TEST(ChangeCodec, TupleAfterSetTextEncodesOnlyLiveBytes) {
  // SetText (filling an unchanged TOAST value) leaves the replaced bytes in
  // the buffer; only the fields' texts are stored.
  Change c = FullRowUpdate();
  c.new_tuple.SetText(3, R"({"a": 1})");
  ExpectRoundTrip(c);
}

// ---- Format ---------------------------------------------------------------

// SmallInsert() as version 1 wrote it (no backfill_id).
std::string SmallInsertVersion1() {
  // clang-format off
  return std::string(
      "\x01"                          // version
      "\x03"                          // flags: relation, transaction
      "I"                             // action
      "\x03"                          // commit_idx
      "\x1c"                          // relation block length (28)
      "\x86\x80\x01"                  // oid 16390
      "\x06public" "\x01t"            // schema, name
      "d"                             // replica identity
      "\x02"                          // 2 columns
      "\x02id" "\x14" "\x01" "\x01"   // id int8 typmod -1 key
      "\x01v" "\x93\x08" "\x1c" "\x00"  // v varchar(10) (typmod 14)
      "\x01\x00"                      // primary key {0}
      "\xd8\xa0\xba\x0b"              // commit_lsn 24023128
      "\x80\xa9\xc2\xf8\xe3\xcf\xb0\x06"  // commit_time_us zigzag(1795773600123456)
      "\xe4\x05"                      // xid 740
      "\x00"                          // annotations ""
      "\x02\x01" "t\x01" "7" "n",     // new tuple: 2 fields, 1 text byte: "7", NULL
      54);
  // clang-format on
}

TEST(ChangeCodec, GoldenBytesOfVersion2) {
  // Pins the on-disk format: stored messages must stay readable.
  // clang-format off
  const std::string expected(
      "\x02"                          // version
      "\x03"                          // flags: relation, transaction
      "I"                             // action
      "\x03"                          // commit_idx
      "\x00"                          // backfill_id
      "\x1c"                          // relation block length (28)
      "\x86\x80\x01"                  // oid 16390
      "\x06public" "\x01t"            // schema, name
      "d"                             // replica identity
      "\x02"                          // 2 columns
      "\x02id" "\x14" "\x01" "\x01"   // id int8 typmod -1 key
      "\x01v" "\x93\x08" "\x1c" "\x00"  // v varchar(10) (typmod 14)
      "\x01\x00"                      // primary key {0}
      "\xd8\xa0\xba\x0b"              // commit_lsn 24023128
      "\x80\xa9\xc2\xf8\xe3\xcf\xb0\x06"  // commit_time_us zigzag(1795773600123456)
      "\xe4\x05"                      // xid 740
      "\x00"                          // annotations ""
      "\x02\x01" "t\x01" "7" "n",     // new tuple: 2 fields, 1 text byte: "7", NULL
      55);
  // clang-format on
  EXPECT_EQ(EncodeChange(SmallInsert()), expected);
  Result<Change> decoded = DecodeChange(expected);
  ASSERT_TRUE(decoded.ok()) << decoded.error().message();
  EXPECT_TRUE(SameChange(*decoded, SmallInsert()));
}

TEST(ChangeCodec, GoldenBytesOfVersion2CarryTheBackfillId) {
  Change read = SmallInsert();
  read.action = Action::kRead;
  read.backfill_id = 300;
  const std::string bytes = EncodeChange(read);
  EXPECT_EQ(bytes.substr(0, 6), std::string("\x02\x03R\x03\xac\x02", 6));  // id 300 = ac 02
  Result<Change> decoded = DecodeChange(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.error().message();
  EXPECT_TRUE(SameChange(*decoded, read));
}

TEST(ChangeCodec, Version1StillDecodesWithoutBackfillId) {
  // A local store written before backfills keeps its messages.
  Result<Change> decoded = DecodeChange(SmallInsertVersion1());
  ASSERT_TRUE(decoded.ok()) << decoded.error().message();
  EXPECT_TRUE(SameChange(*decoded, SmallInsert()));
  EXPECT_EQ(decoded->backfill_id, 0u);
  // Written again, it is version 2.
  EXPECT_EQ(EncodeChange(*decoded)[0], '\x02');
  EXPECT_EQ(Message(*decoded), Message(SmallInsert()));
}

TEST(ChangeCodec, Version1TruncationsFailCleanly) {
  const std::string bytes = SmallInsertVersion1();
  for (size_t n = 0; n < bytes.size(); ++n) {
    Error e = DecodeError(std::string_view(bytes).substr(0, n));
    EXPECT_NE(e.message().find("offset"), std::string::npos) << n << ": " << e.message();
  }
}

TEST(ChangeCodec, EncodeChangeAppends) {
  std::string out = "prefix";
  EncodeChange(SmallInsert(), &out);
  EXPECT_EQ(out, "prefix" + EncodeChange(SmallInsert()));
}

// ---- Bad input ------------------------------------------------------------

TEST(ChangeCodec, EveryTruncationFailsCleanly) {
  for (const Change& c : {MakeChange(Action::kInsert, OrdersRelation(), PaidOrder()),
                          FullRowUpdate(), SmallInsert()}) {
    const std::string bytes = EncodeChange(c);
    for (size_t n = 0; n < bytes.size(); ++n) {
      Error e = DecodeError(std::string_view(bytes).substr(0, n));
      EXPECT_NE(e.message().find("offset"), std::string::npos) << n << ": " << e.message();
    }
  }
}

TEST(ChangeCodec, EmptyInputNamesTheVersion) {
  EXPECT_EQ(DecodeError("").message(),
            "stored change: version at offset 0: truncated: input ends here");
}

TEST(ChangeCodec, UnknownVersionIsRejected) {
  std::string bytes = EncodeChange(SmallInsert());
  bytes[0] = 3;
  EXPECT_EQ(
      DecodeError(bytes).message(),
      "stored change: version at offset 0: unknown format version 3 (this build reads 1 to 2)");
  bytes[0] = 0;
  EXPECT_NE(DecodeError(bytes).message().find("unknown format version 0"), std::string::npos);
}

TEST(ChangeCodec, TrailingBytesAreRejected) {
  std::string bytes = EncodeChange(SmallInsert()) + "xy";
  EXPECT_EQ(DecodeError(bytes).message(),
            "stored change: end at offset 55: 2 unexpected trailing bytes");
}

TEST(ChangeCodec, UnknownFlagBitsAreRejected) {
  std::string bytes = EncodeChange(SmallInsert());
  bytes[1] = static_cast<char>(0x13);
  EXPECT_EQ(DecodeError(bytes).message(),
            "stored change: flags at offset 1: unknown flag bits in 0x13");
}

TEST(ChangeCodec, UnknownActionIsRejected) {
  std::string bytes = EncodeChange(SmallInsert());
  bytes[2] = 'X';
  EXPECT_EQ(DecodeError(bytes).message(), "stored change: action at offset 2: unknown action 0x58");
}

TEST(ChangeCodec, UnknownReplicaIdentityIsRejected) {
  std::string bytes = EncodeChange(SmallInsert());
  ASSERT_EQ(bytes[18], 'd');
  bytes[18] = 'x';
  EXPECT_EQ(DecodeError(bytes).message(),
            "stored change: relation.replica_identity at offset 18: unknown replica identity "
            "0x78");
}

TEST(ChangeCodec, UnknownColumnFlagsAreRejected) {
  std::string bytes = EncodeChange(SmallInsert());
  ASSERT_EQ(bytes[25], '\x01');
  bytes[25] = '\x03';
  EXPECT_EQ(DecodeError(bytes).message(),
            "stored change: relation.columns[0].flags at offset 25: unknown column flag bits in "
            "0x03");
}

TEST(ChangeCodec, KeyIndexOutsideColumnsIsRejected) {
  std::string bytes = EncodeChange(SmallInsert());
  ASSERT_EQ(bytes[33], '\x00');
  bytes[33] = '\x02';
  EXPECT_EQ(DecodeError(bytes).message(),
            "stored change: relation.primary_key[0] at offset 33: column index 2 outside the 2 "
            "columns");
}

TEST(ChangeCodec, UnknownValueKindIsRejected) {
  std::string bytes = EncodeChange(SmallInsert());
  ASSERT_EQ(bytes[54], 'n');
  bytes[54] = 'z';
  EXPECT_EQ(DecodeError(bytes).message(),
            "stored change: new_tuple[1].kind at offset 54: unknown value kind 0x7a");
}

TEST(ChangeCodec, TextBytesMismatchIsRejected) {
  std::string bytes = EncodeChange(SmallInsert());
  ASSERT_EQ(bytes[50], '\x01');
  bytes[50] = '\x00';  // declares no text, the field holds one byte
  EXPECT_NE(DecodeError(bytes).message().find("new_tuple[0].text at offset 52: text exceeds"),
            std::string::npos);
  bytes[50] = '\x02';  // declares more than the fields hold (and less than remains)
  bytes += "z";
  EXPECT_NE(DecodeError(bytes).message().find(
                "new_tuple.text_bytes at offset 50: declared 2 bytes of text, the fields hold 1"),
            std::string::npos);
}

TEST(ChangeCodec, OverlongVarintIsRejected) {
  std::string bytes = EncodeChange(SmallInsert());
  // commit_idx 3 written as two bytes: 0x83 0x00.
  bytes.replace(3, 1, "\x83\x00", 2);
  EXPECT_EQ(DecodeError(bytes).message(),
            "stored change: commit_idx at offset 3: varint not in shortest form");
  bytes = EncodeChange(SmallInsert());
  bytes.replace(4, 1, "\x80\x00", 2);  // backfill_id 0 as two bytes
  EXPECT_EQ(DecodeError(bytes).message(),
            "stored change: backfill_id at offset 4: varint not in shortest form");
}

TEST(ChangeCodec, VarintOverflowIsRejected) {
  std::string bytes("\x01\x00I", 3);
  bytes += std::string(9, '\xff') + "\x02";
  EXPECT_EQ(DecodeError(bytes).message(),
            "stored change: commit_idx at offset 3: varint overflows 64 bits");
  std::string too_big("\x01\x00I\x80\x80\x80\x80\x10", 8);  // 2^32
  EXPECT_EQ(DecodeError(too_big).message(),
            "stored change: commit_idx at offset 3: value 4294967296 exceeds the maximum "
            "4294967295");
}

TEST(ChangeCodec, HugeLengthsAndCountsFailWithoutAllocating) {
  // No relation or transaction; a new tuple claiming 2^62 fields.
  std::string huge_count("\x01\x00I\x00", 4);
  huge_count += "\x80\x80\x80\x80\x80\x80\x80\x80\x40";
  EXPECT_NE(DecodeError(huge_count)
                .message()
                .find("new_tuple.size at offset 4: count 4611686018427387904 cannot fit"),
            std::string::npos);

  // A relation block whose schema claims 2^40 bytes.
  std::string huge_string("\x01\x01I\x00\x07\x01", 6);
  huge_string += "\x80\x80\x80\x80\x80\x20";
  EXPECT_NE(DecodeError(huge_string)
                .message()
                .find("relation.schema at offset 6: length 1099511627776 exceeds the 0 bytes"),
            std::string::npos);

  // A relation block longer than the input.
  std::string long_block("\x01\x01I\x00\x7f\x01", 6);
  EXPECT_EQ(DecodeError(long_block).message(),
            "stored change: relation at offset 4: block length 127 exceeds the 1 bytes "
            "remaining");

  // A column count the block cannot hold.
  std::string columns(
      "\x01\x01I\x00\x06\x01\x00\x00"
      "d\x7f\x00",
      11);
  EXPECT_EQ(DecodeError(columns).message(),
            "stored change: relation.columns at offset 9: count 127 cannot fit in the 1 bytes "
            "remaining");
}

TEST(ChangeCodec, RelationBlockMustBeConsumedExactly) {
  // Block of 7 bytes whose relation ends after 6: oid 1, "", "", 'd', 0
  // columns, 0 keys, then one stray byte.
  std::string bytes(
      "\x01\x01I\x00\x07\x01\x00\x00"
      "d\x00\x00\x00"
      "\x00\x00",
      14);
  EXPECT_EQ(DecodeError(bytes).message(),
            "stored change: relation at offset 11: 1 unexpected trailing bytes");
  bytes.replace(4, 1, "\x06");
  bytes.erase(11, 1);
  EXPECT_TRUE(DecodeChange(bytes).ok());
}

TEST(ChangeCodec, EverySingleByteCorruptionFailsCleanlyOrStaysCanonical) {
  // Any change of one byte either fails with an error or decodes to a change
  // whose encoding is exactly the corrupted bytes (the format is canonical;
  // a version byte turned to 1 may decode as version 1, which re-encodes as
  // version 2 and then stays put).
  const std::string original = EncodeChange(FullRowUpdate());
  for (size_t i = 0; i < original.size(); ++i) {
    for (int delta : {1, 0x7f, 0x80, 0xff}) {
      std::string bytes = original;
      bytes[i] = static_cast<char>(static_cast<uint8_t>(bytes[i]) + delta);
      Result<Change> decoded = DecodeChange(bytes);
      if (decoded.ok() && bytes[0] == '\x01') {
        const std::string again = EncodeChange(*decoded);
        Result<Change> redecoded = DecodeChange(again);
        ASSERT_TRUE(redecoded.ok()) << "byte " << i;
        EXPECT_TRUE(SameChange(*decoded, *redecoded)) << "byte " << i;
        EXPECT_EQ(EncodeChange(*redecoded), again) << "byte " << i;
      } else if (decoded.ok()) {
        EXPECT_EQ(EncodeChange(*decoded), bytes) << "byte " << i;
      } else {
        EXPECT_EQ(decoded.error().code(), ErrorCode::kInvalidArgument);
        EXPECT_NE(decoded.error().message().find("offset"), std::string::npos);
      }
    }
  }
}

// ---- Relation cache -------------------------------------------------------

TEST(ChangeCodec, CacheSharesOneRelationPerSnapshot) {
  RelationCache cache;
  auto relation = OrdersRelation();
  Change a = MakeChange(Action::kInsert, relation, PaidOrder());
  Change b = MakeChange(Action::kDelete, relation, {}, std::vector<V>{"7"});
  Result<Change> da = DecodeChange(EncodeChange(a), &cache);
  Result<Change> db = DecodeChange(EncodeChange(b), &cache);
  ASSERT_TRUE(da.ok() && db.ok());
  EXPECT_EQ(da->relation.get(), db->relation.get());
  EXPECT_TRUE(SameChange(a, *da));
  EXPECT_TRUE(SameChange(b, *db));
  EXPECT_EQ(cache.size(), 1u);

  // Same table after ALTER TABLE (a typmod changed): a different snapshot.
  auto altered = OrdersRelation();
  altered->columns[2].type_modifier = 655366;
  Result<Change> dc =
      DecodeChange(EncodeChange(MakeChange(Action::kInsert, altered, PaidOrder())), &cache);
  ASSERT_TRUE(dc.ok());
  EXPECT_NE(dc->relation.get(), da->relation.get());
  EXPECT_EQ(dc->relation->columns[2].type_modifier, 655366);
  EXPECT_EQ(cache.size(), 2u);

  // Without a cache every decode gets its own relation.
  Result<Change> fresh = DecodeChange(EncodeChange(a));
  ASSERT_TRUE(fresh.ok());
  EXPECT_NE(fresh->relation.get(), da->relation.get());
}

TEST(ChangeCodec, CacheEmptiesWhenFullAndKeepsHandedOutRelations) {
  RelationCache cache(2);
  std::vector<Change> decoded;
  for (uint32_t oid = 1; oid <= 3; ++oid) {
    auto relation = OrdersRelation();
    relation->oid = oid;
    Result<Change> d =
        DecodeChange(EncodeChange(MakeChange(Action::kInsert, relation, PaidOrder())), &cache);
    ASSERT_TRUE(d.ok());
    decoded.push_back(std::move(d).value());
  }
  EXPECT_EQ(cache.size(), 1u);  // emptied before the third snapshot
  for (uint32_t i = 0; i < 3; ++i) EXPECT_EQ(decoded[i].relation->oid, i + 1);
}

TEST(ChangeCodec, CorruptRelationIsNotCached) {
  RelationCache cache;
  std::string bytes = EncodeChange(SmallInsert());
  bytes[18] = 'x';  // replica identity
  EXPECT_FALSE(DecodeChange(bytes, &cache).ok());
  EXPECT_EQ(cache.size(), 0u);
}

}  // namespace
}  // namespace sluice::model
