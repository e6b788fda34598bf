#include "source/pgoutput.h"

#include <gtest/gtest.h>

#include <string>

#include "unit/source/golden.h"

namespace sluice::source::pgoutput {
namespace {

using model::ValueKind;
using testing::Bytes;
using testing::LoadGolden;

template <typename T>
T DecodeAs(const std::string& bytes) {
  auto m = Decode(bytes);
  EXPECT_TRUE(m.ok()) << (m.ok() ? "" : m.error().message());
  if (!m.ok()) return T{};
  EXPECT_TRUE(std::holds_alternative<T>(m.value()));
  if (!std::holds_alternative<T>(m.value())) return T{};
  return std::get<T>(std::move(m).value());
}

std::string DecodeError(const std::string& bytes) {
  auto m = Decode(bytes);
  EXPECT_FALSE(m.ok());
  if (m.ok()) return "";
  EXPECT_EQ(m.error().code(), ErrorCode::kProtocol);
  return m.error().message();
}

// --- golden bytes from PostgreSQL 15 (tests/testdata/pgoutput/*.sql) ---

TEST(PgoutputDecoder, BeginFromRealServer) {
  auto b = DecodeAs<BeginMessage>(LoadGolden("basic")[0]);
  EXPECT_EQ(b.final_lsn, *Lsn::Parse("0/154AEA0"));
  EXPECT_EQ(b.commit_time_us, 1795750833391361);
  EXPECT_EQ(b.xid, 731u);
}

TEST(PgoutputDecoder, CommitFromRealServer) {
  auto c = DecodeAs<CommitMessage>(LoadGolden("basic")[3]);
  EXPECT_EQ(c.flags, 0);
  EXPECT_EQ(c.commit_lsn, *Lsn::Parse("0/154AEA0"));
  EXPECT_EQ(c.end_lsn, *Lsn::Parse("0/154AED0"));
  EXPECT_EQ(c.commit_time_us, 1795750833391361);
}

TEST(PgoutputDecoder, CommitTimestampConvertedToUnixMicros) {
  // pg_replication_origin_xact_setup('0/AB', '2024-05-06 07:08:09+00')
  auto b = DecodeAs<BeginMessage>(LoadGolden("annotations")[8]);
  EXPECT_EQ(b.commit_time_us, 1714979289000000);  // date -d 2024-05-06T07:08:09Z +%s
}

TEST(PgoutputDecoder, TimestampConversionSaturatesInsteadOfOverflowing) {
  EXPECT_EQ(PostgresToUnixMicros(0), 946'684'800'000'000);
  EXPECT_EQ(PostgresToUnixMicros(INT64_MAX), INT64_MAX);  // Postgres 'infinity'
  EXPECT_EQ(PostgresToUnixMicros(INT64_MIN), INT64_MIN + 946'684'800'000'000);
  EXPECT_EQ(UnixToPostgresMicros(INT64_MIN), INT64_MIN);
  auto b = DecodeAs<BeginMessage>(Bytes().Char('B').U64(1).U64(0x7fffffffffffff00).U32(1));
  EXPECT_EQ(b.commit_time_us, INT64_MAX);
}

TEST(PgoutputDecoder, RelationWithDefaultIdentity) {
  auto r = DecodeAs<RelationMessage>(LoadGolden("basic")[1]).relation;
  EXPECT_EQ(r.oid, 16392u);
  EXPECT_EQ(r.schema, "public");
  EXPECT_EQ(r.name, "golden_orders");
  EXPECT_EQ(r.replica_identity, model::ReplicaIdentity::kDefault);
  ASSERT_EQ(r.columns.size(), 4u);
  EXPECT_EQ(r.columns[0].name, "id");
  EXPECT_EQ(r.columns[0].type_oid, 23u);
  EXPECT_EQ(r.columns[0].type_modifier, -1);
  EXPECT_TRUE(r.columns[0].is_key);
  EXPECT_EQ(r.columns[1].name, "status");
  EXPECT_EQ(r.columns[1].type_oid, 25u);
  EXPECT_FALSE(r.columns[1].is_key);
  EXPECT_EQ(r.columns[2].name, "total");
  EXPECT_EQ(r.columns[2].type_oid, 1700u);
  EXPECT_EQ(r.columns[2].type_modifier, (10 << 16 | 2) + 4);  // numeric(10,2)
  EXPECT_EQ(r.columns[3].name, "note");
}

TEST(PgoutputDecoder, RelationWithCompositeKeyMarksBothColumns) {
  auto r = DecodeAs<RelationMessage>(LoadGolden("basic")[5]).relation;
  EXPECT_EQ(r.name, "golden_lines");
  ASSERT_EQ(r.columns.size(), 4u);
  EXPECT_TRUE(r.columns[0].is_key);
  EXPECT_TRUE(r.columns[1].is_key);
  EXPECT_FALSE(r.columns[2].is_key);
  EXPECT_FALSE(r.columns[3].is_key);
}

TEST(PgoutputDecoder, RelationWithFullIdentity) {
  auto r = DecodeAs<RelationMessage>(LoadGolden("full_identity")[1]).relation;
  EXPECT_EQ(r.name, "golden_full");
  EXPECT_EQ(r.replica_identity, model::ReplicaIdentity::kFull);
}

TEST(PgoutputDecoder, InsertWithTextAndNullColumns) {
  auto i = DecodeAs<InsertMessage>(LoadGolden("basic")[2]);
  EXPECT_EQ(i.relation_oid, 16392u);
  ASSERT_EQ(i.new_tuple.size(), 4u);
  EXPECT_EQ(i.new_tuple.text(0), "1");
  EXPECT_EQ(i.new_tuple.text(1), "pending");
  EXPECT_EQ(i.new_tuple.text(2), "10.50");
  EXPECT_EQ(i.new_tuple.kind(3), ValueKind::kNull);
}

TEST(PgoutputDecoder, UpdateWithoutOldTuple) {
  auto u = DecodeAs<UpdateMessage>(LoadGolden("basic")[8]);
  EXPECT_EQ(u.relation_oid, 16392u);
  EXPECT_EQ(u.old_kind, OldTuple::kNone);
  EXPECT_FALSE(u.old_tuple.has_value());
  ASSERT_EQ(u.new_tuple.size(), 4u);
  EXPECT_EQ(u.new_tuple.text(1), "paid");
}

TEST(PgoutputDecoder, UpdateWithOldTupleKeyOnly) {
  auto u = DecodeAs<UpdateMessage>(LoadGolden("basic")[9]);
  EXPECT_EQ(u.relation_oid, 16399u);
  EXPECT_EQ(u.old_kind, OldTuple::kKey);
  ASSERT_TRUE(u.old_tuple.has_value());
  ASSERT_EQ(u.old_tuple->size(), 4u);
  EXPECT_EQ(u.old_tuple->text(0), "1");
  EXPECT_EQ(u.old_tuple->text(1), "2");
  EXPECT_EQ(u.old_tuple->kind(2), ValueKind::kNull);
  EXPECT_EQ(u.old_tuple->kind(3), ValueKind::kNull);
  EXPECT_EQ(u.new_tuple.text(0), "1");
  EXPECT_EQ(u.new_tuple.text(1), "3");
  EXPECT_EQ(u.new_tuple.text(2), "B-2");
  EXPECT_EQ(u.new_tuple.text(3), "1");
}

TEST(PgoutputDecoder, DeleteWithOldKey) {
  auto d = DecodeAs<DeleteMessage>(LoadGolden("basic")[10]);
  EXPECT_EQ(d.relation_oid, 16399u);
  EXPECT_EQ(d.old_kind, OldTuple::kKey);
  ASSERT_EQ(d.old_tuple.size(), 4u);
  EXPECT_EQ(d.old_tuple.text(0), "1");
  EXPECT_EQ(d.old_tuple.text(1), "1");
  EXPECT_EQ(d.old_tuple.kind(2), ValueKind::kNull);
}

TEST(PgoutputDecoder, UpdateWithOldFullRow) {
  auto u = DecodeAs<UpdateMessage>(LoadGolden("full_identity")[5]);
  EXPECT_EQ(u.old_kind, OldTuple::kFullRow);
  ASSERT_TRUE(u.old_tuple.has_value());
  EXPECT_EQ(u.old_tuple->text(0), "7");
  EXPECT_EQ(u.old_tuple->text(1), "new");
  EXPECT_EQ(u.old_tuple->text(2), "t");
  EXPECT_EQ(u.new_tuple.text(1), "done");
  EXPECT_EQ(u.new_tuple.kind(2), ValueKind::kNull);
}

TEST(PgoutputDecoder, DeleteWithOldFullRow) {
  auto d = DecodeAs<DeleteMessage>(LoadGolden("full_identity")[8]);
  EXPECT_EQ(d.old_kind, OldTuple::kFullRow);
  ASSERT_EQ(d.old_tuple.size(), 3u);
  EXPECT_EQ(d.old_tuple.text(0), "7");
  EXPECT_EQ(d.old_tuple.text(1), "done");
  EXPECT_EQ(d.old_tuple.kind(2), ValueKind::kNull);
}

TEST(PgoutputDecoder, UnchangedToastInNewTuple) {
  auto u = DecodeAs<UpdateMessage>(LoadGolden("toast")[9]);
  EXPECT_EQ(u.relation_oid, 16413u);
  EXPECT_EQ(u.old_kind, OldTuple::kNone);
  ASSERT_EQ(u.new_tuple.size(), 3u);
  EXPECT_EQ(u.new_tuple.text(1), "1");
  EXPECT_EQ(u.new_tuple.kind(2), ValueKind::kUnchangedToast);
}

TEST(PgoutputDecoder, UnchangedToastWithFullOldRow) {
  auto u = DecodeAs<UpdateMessage>(LoadGolden("toast")[12]);
  EXPECT_EQ(u.old_kind, OldTuple::kFullRow);
  std::string body;
  for (int i = 0; i < 300; ++i) body += "abcdefghij";
  EXPECT_EQ(u.old_tuple->text(2), body);
  EXPECT_EQ(u.new_tuple.kind(2), ValueKind::kUnchangedToast);
}

TEST(PgoutputDecoder, InsertWithLargeValue) {
  auto i = DecodeAs<InsertMessage>(LoadGolden("toast")[2]);
  std::string body;
  for (int n = 0; n < 300; ++n) body += "0123456789";
  EXPECT_EQ(i.new_tuple.text(2), body);
}

TEST(PgoutputDecoder, TruncateTwoRelationsWithRestartIdentity) {
  auto t = DecodeAs<TruncateMessage>(LoadGolden("truncate")[3]);
  EXPECT_EQ(t.relation_oids, (std::vector<uint32_t>{16430, 16439}));
  EXPECT_TRUE(t.restart_identity());
  EXPECT_FALSE(t.cascade());
}

TEST(PgoutputDecoder, TypeMessageForCustomEnum) {
  auto golden = LoadGolden("types");
  auto y = DecodeAs<TypeMessage>(golden[1]);
  EXPECT_EQ(y.oid, 16458u);
  EXPECT_EQ(y.schema, "public");
  EXPECT_EQ(y.name, "golden_mood");
  auto r = DecodeAs<RelationMessage>(golden[2]).relation;
  EXPECT_EQ(r.columns[1].name, "mood");
  EXPECT_EQ(r.columns[1].type_oid, 16458u);
}

TEST(PgoutputDecoder, ColumnTypeChangeSendsSecondRelation) {
  auto golden = LoadGolden("types");
  auto before = DecodeAs<RelationMessage>(golden[2]).relation;
  auto after = DecodeAs<RelationMessage>(golden[7]).relation;
  EXPECT_EQ(before.oid, after.oid);
  EXPECT_EQ(before.columns[2].name, "amount");
  EXPECT_EQ(before.columns[2].type_oid, 23u);  // int4
  EXPECT_EQ(after.columns[2].type_oid, 20u);   // int8
  auto i = DecodeAs<InsertMessage>(golden[8]);
  EXPECT_EQ(i.new_tuple.text(2), "9000000000");
}

TEST(PgoutputDecoder, TextFormsUnderSessionOptions) {
  auto i = DecodeAs<InsertMessage>(LoadGolden("types")[3]);
  ASSERT_EQ(i.new_tuple.size(), 9u);
  EXPECT_EQ(i.new_tuple.text(1), "happy");
  EXPECT_EQ(i.new_tuple.text(3), "{a,\"b c\"}");
  EXPECT_EQ(i.new_tuple.text(4), "{\"k\": [1, 2]}");
  EXPECT_EQ(i.new_tuple.text(5), "2024-01-02 03:04:05.678901+00");  // TimeZone=UTC, ISO
  EXPECT_EQ(i.new_tuple.text(6), "P1DT2H3M4S");                     // iso_8601
  EXPECT_EQ(i.new_tuple.text(7), "0.1");
  EXPECT_EQ(i.new_tuple.text(8), "\\xdeadbeef");
}

TEST(PgoutputDecoder, TransactionalLogicalMessage) {
  auto m = DecodeAs<LogicalMessage>(LoadGolden("annotations")[3]);
  EXPECT_TRUE(m.transactional);
  EXPECT_EQ(m.lsn, *Lsn::Parse("0/1539C68"));
  EXPECT_EQ(m.prefix, "sluice:transaction_annotations.set");
  EXPECT_EQ(m.content, R"({"username": "paul", "request_id": 42})");
}

TEST(PgoutputDecoder, OriginMessage) {
  auto o = DecodeAs<OriginMessage>(LoadGolden("annotations")[9]);
  EXPECT_EQ(o.commit_lsn, Lsn(0xAB));
  EXPECT_EQ(o.name, "golden_origin");
}

TEST(PgoutputDecoder, EveryGoldenMessageDecodes) {
  for (const char* name : {"basic", "full_identity", "toast", "truncate", "annotations", "types"}) {
    auto golden = LoadGolden(name);
    EXPECT_FALSE(golden.empty()) << name;
    for (size_t i = 0; i < golden.size(); ++i) {
      auto m = Decode(golden[i]);
      EXPECT_TRUE(m.ok()) << name << "[" << i << "]: " << m.error().message();
    }
  }
}

// Every strict prefix of a well-formed message is malformed and must give an
// error (never a crash or a partial value).
TEST(PgoutputDecoder, EveryTruncationOfGoldenMessagesIsAnError) {
  for (const char* name : {"basic", "full_identity", "toast", "truncate", "annotations", "types"}) {
    for (const std::string& msg : LoadGolden(name)) {
      for (size_t len = 0; len < msg.size(); ++len) {
        auto m = Decode(std::string_view(msg).substr(0, len));
        ASSERT_FALSE(m.ok()) << name << " type " << msg[0] << " cut at " << len;
        EXPECT_EQ(m.error().code(), ErrorCode::kProtocol);
      }
    }
  }
}

// --- malformed input ---

TEST(PgoutputDecoder, EmptyPayloadIsAnError) {
  EXPECT_NE(DecodeError("").find("empty"), std::string::npos);
}

TEST(PgoutputDecoder, UnknownMessageTypeNamesTheByte) {
  std::string err = DecodeError(Bytes().Char('Z').U32(1));
  EXPECT_NE(err.find("unknown message type byte 0x5a"), std::string::npos) << err;
  EXPECT_NE(err.find("offset 0"), std::string::npos) << err;
}

TEST(PgoutputDecoder, StreamingMessageIsRejected) {
  std::string err = DecodeError(Bytes().Char('S').U32(1).U8(1));
  EXPECT_NE(err.find("Stream Start"), std::string::npos) << err;
}

TEST(PgoutputDecoder, TruncatedBeginNamesFieldAndOffset) {
  std::string err = DecodeError(Bytes().Char('B').U64(1).U32(7));
  EXPECT_NE(err.find("Begin ('B')"), std::string::npos) << err;
  EXPECT_NE(err.find("commit timestamp at offset 9"), std::string::npos) << err;
  EXPECT_NE(err.find("need 8 byte(s), 4 remain"), std::string::npos) << err;
}

TEST(PgoutputDecoder, TrailingBytesAreAnError) {
  std::string err = DecodeError(Bytes().Char('B').U64(1).U64(2).U32(3).U8(0));
  EXPECT_NE(err.find("1 unexpected trailing byte(s)"), std::string::npos) << err;
  EXPECT_NE(err.find("offset 21"), std::string::npos) << err;
}

TEST(PgoutputDecoder, BinaryColumnValueIsRejected) {
  std::string err =
      DecodeError(Bytes().Char('I').U32(1).Char('N').U16(2).Text("1").Char('b').U32(1).Raw("x"));
  EXPECT_NE(err.find("Insert ('I')"), std::string::npos) << err;
  EXPECT_NE(err.find("new tuple column 1 at offset 14"), std::string::npos) << err;
  EXPECT_NE(err.find("binary"), std::string::npos) << err;
}

TEST(PgoutputDecoder, UnknownColumnKindIsAnError) {
  std::string err = DecodeError(Bytes().Char('I').U32(1).Char('N').U16(1).Char('x'));
  EXPECT_NE(err.find("unknown column kind byte 0x78"), std::string::npos) << err;
  EXPECT_NE(err.find("offset 8"), std::string::npos) << err;
}

TEST(PgoutputDecoder, ValueLengthBeyondMessageIsAnError) {
  std::string err =
      DecodeError(Bytes().Char('I').U32(1).Char('N').U16(1).Char('t').U32(100).Raw("abc"));
  EXPECT_NE(err.find("new tuple column 0 value"), std::string::npos) << err;
  EXPECT_NE(err.find("need 100 byte(s), 3 remain"), std::string::npos) << err;
}

TEST(PgoutputDecoder, NegativeValueLengthIsAnError) {
  std::string err =
      DecodeError(Bytes().Char('I').U32(1).Char('N').U16(1).Char('t').U32(0xfffffffe));
  EXPECT_NE(err.find("negative value length -2"), std::string::npos) << err;
}

TEST(PgoutputDecoder, MissingNewTupleMarkerIsAnError) {
  std::string err = DecodeError(Bytes().Char('I').U32(1).Char('X').U16(0));
  EXPECT_NE(err.find("new tuple marker at offset 5: expected 'N'"), std::string::npos) << err;
}

TEST(PgoutputDecoder, UpdateWithUnknownTupleMarkerIsAnError) {
  std::string err = DecodeError(Bytes().Char('U').U32(1).Char('Q').U16(0));
  EXPECT_NE(err.find("expected 'K', 'O' or 'N'"), std::string::npos) << err;
}

TEST(PgoutputDecoder, UpdateWithOldTupleButNoNewTupleIsAnError) {
  std::string err = DecodeError(Bytes().Char('U').U32(1).Char('K').U16(1).Char('n'));
  EXPECT_NE(err.find("new tuple marker"), std::string::npos) << err;
}

TEST(PgoutputDecoder, DeleteWithoutOldTupleIsAnError) {
  std::string err = DecodeError(Bytes().Char('D').U32(1).Char('N').U16(0));
  EXPECT_NE(err.find("expected 'K' or 'O'"), std::string::npos) << err;
}

TEST(PgoutputDecoder, UnknownReplicaIdentityIsAnError) {
  std::string err = DecodeError(Bytes().Char('R').U32(1).Str("public").Str("t").Char('z').U16(0));
  EXPECT_NE(err.find("unknown replica identity byte 0x7a"), std::string::npos) << err;
  EXPECT_NE(err.find("offset 14"), std::string::npos) << err;
}

TEST(PgoutputDecoder, StringWithoutTerminatorIsAnError) {
  std::string err = DecodeError(Bytes().Char('Y').U32(1).Str("public").Raw("mood"));
  EXPECT_NE(err.find("type name at offset 12"), std::string::npos) << err;
  EXPECT_NE(err.find("no terminating zero byte"), std::string::npos) << err;
}

TEST(PgoutputDecoder, RelationColumnCountBeyondMessageIsAnError) {
  std::string err = DecodeError(Bytes().Char('R').U32(1).Str("s").Str("t").Char('d').U16(65535));
  EXPECT_NE(err.find("column 0 flags"), std::string::npos) << err;
}

TEST(PgoutputDecoder, TruncateRelationCountBeyondMessageIsAnError) {
  std::string err = DecodeError(Bytes().Char('T').U32(0x40000000).U8(0).U32(1));
  EXPECT_NE(err.find("relation count at offset 1"), std::string::npos) << err;
}

TEST(PgoutputDecoder, MessageContentLengthBeyondMessageIsAnError) {
  std::string err = DecodeError(Bytes().Char('M').U8(1).U64(5).Str("p").U32(10).Raw("abc"));
  EXPECT_NE(err.find("Message ('M')"), std::string::npos) << err;
  EXPECT_NE(err.find("content"), std::string::npos) << err;
}

TEST(PgoutputDecoder, NegativeMessageContentLengthIsAnError) {
  std::string err = DecodeError(Bytes().Char('M').U8(1).U64(5).Str("p").U32(0x80000000));
  EXPECT_NE(err.find("negative length"), std::string::npos) << err;
}

}  // namespace
}  // namespace sluice::source::pgoutput
