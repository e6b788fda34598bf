#include "source/change_assembler.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "unit/source/golden.h"

namespace sluice::source {
namespace {

using model::Action;
using model::ValueKind;
using testing::Bytes;
using testing::LoadGolden;

// Records every handler call in order.
class RecordingHandler : public ChangeHandler {
 public:
  struct Commit {
    Lsn commit_lsn;
    Lsn end_lsn;
  };
  void OnBegin(const std::shared_ptr<const model::TransactionInfo>& txn) override {
    begins.push_back(txn);
    events.push_back("begin");
  }
  void OnChange(model::Change change) override {
    events.push_back(std::string(model::ActionName(change.action)) + " " +
                     change.relation->QualifiedName() + " #" + std::to_string(change.commit_idx));
    changes.push_back(std::move(change));
  }
  void OnCommit(Lsn commit_lsn, Lsn end_lsn) override {
    commits.push_back({commit_lsn, end_lsn});
    events.push_back("commit");
  }
  void OnIdle(Lsn) override {}
  bool WaitForCapacity(std::chrono::milliseconds) override { return true; }
  Lsn AcknowledgedLsn() const override { return Lsn(); }
  void OnWarning(const std::string& table, const std::string& message) override {
    warnings.push_back(table + ": " + message);
  }
  void OnBackfillWatermark(std::string_view content) override {
    watermarks.emplace_back(content);
    events.push_back("watermark " + std::string(content));
  }

  std::vector<std::shared_ptr<const model::TransactionInfo>> begins;
  std::vector<model::Change> changes;
  std::vector<Commit> commits;
  std::vector<std::string> events;
  std::vector<std::string> warnings;
  std::vector<std::string> watermarks;
};

void ProcessAll(ChangeAssembler& a, const std::vector<std::string>& messages) {
  for (size_t i = 0; i < messages.size(); ++i) {
    Status st = a.Process(messages[i]);
    ASSERT_TRUE(st.ok()) << "message " << i << ": " << st.error().message();
  }
}

std::string Repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

TEST(ChangeAssembler, TransactionsFromRealServer) {
  RecordingHandler h;
  ChangeAssembler a(h);
  ProcessAll(a, LoadGolden("basic"));
  EXPECT_EQ(h.events, (std::vector<std::string>{
                          "begin", "insert public.golden_orders #0", "commit", "begin",
                          "insert public.golden_lines #0", "insert public.golden_lines #1",
                          "update public.golden_orders #2", "update public.golden_lines #3",
                          "delete public.golden_lines #4", "commit"}));
  ASSERT_EQ(h.begins.size(), 2u);
  EXPECT_EQ(h.begins[1]->commit_lsn, *Lsn::Parse("0/154B180"));
  EXPECT_EQ(h.begins[1]->commit_time_us, 1795750833392303);
  EXPECT_EQ(h.begins[1]->xid, 732u);
  EXPECT_TRUE(h.begins[1]->annotations.empty());
  ASSERT_EQ(h.commits.size(), 2u);
  EXPECT_EQ(h.commits[1].commit_lsn, *Lsn::Parse("0/154B180"));
  EXPECT_EQ(h.commits[1].end_lsn, *Lsn::Parse("0/154B1B0"));
  for (size_t i = 1; i < h.changes.size(); ++i) EXPECT_EQ(h.changes[i].txn, h.begins[1]);
  EXPECT_FALSE(a.InTransaction());
}

TEST(ChangeAssembler, ChangesCarryTuplesAndOldImages) {
  RecordingHandler h;
  ChangeAssembler a(h);
  ProcessAll(a, LoadGolden("basic"));
  const model::Change& key_update = h.changes[4];
  ASSERT_TRUE(key_update.old_tuple.has_value());
  EXPECT_FALSE(key_update.old_is_full_row);
  EXPECT_EQ(key_update.old_tuple->text(1), "2");
  EXPECT_EQ(key_update.new_tuple.text(1), "3");
  const model::Change& del = h.changes[5];
  EXPECT_TRUE(del.new_tuple.empty());
  ASSERT_TRUE(del.old_tuple.has_value());
  EXPECT_EQ(del.old_tuple->text(0), "1");

  RecordingHandler full;
  ChangeAssembler b(full);
  ProcessAll(b, LoadGolden("full_identity"));
  ASSERT_EQ(full.changes.size(), 3u);
  EXPECT_TRUE(full.changes[1].old_is_full_row);
  EXPECT_EQ(full.changes[1].old_tuple->text(1), "new");
  EXPECT_TRUE(full.changes[2].old_is_full_row);
  EXPECT_EQ(full.changes[2].relation->replica_identity, model::ReplicaIdentity::kFull);
}

TEST(ChangeAssembler, TruncateGivesOneChangePerRelation) {
  RecordingHandler h;
  ChangeAssembler a(h);
  ProcessAll(a, LoadGolden("truncate"));
  EXPECT_EQ(h.events, (std::vector<std::string>{"begin", "truncate public.golden_trunc_a #0",
                                                "truncate public.golden_trunc_b #1", "commit"}));
  EXPECT_TRUE(h.changes[0].new_tuple.empty());
  EXPECT_FALSE(h.changes[0].old_tuple.has_value());
}

TEST(ChangeAssembler, AnnotationsApplyToFollowingChangesOfTheTransaction) {
  RecordingHandler h;
  ChangeAssembler a(h);
  ProcessAll(a, LoadGolden("annotations"));
  EXPECT_EQ(h.events, (std::vector<std::string>{"begin", "insert public.golden_notes #0",
                                                "insert public.golden_notes #1",
                                                "update public.golden_notes #2", "commit", "begin",
                                                "insert public.golden_notes #0", "commit"}));
  const std::string json = R"({"username": "paul", "request_id": 42})";
  EXPECT_EQ(h.changes[0].txn->annotations, "");
  EXPECT_EQ(h.changes[1].txn->annotations, json);
  EXPECT_EQ(h.changes[2].txn->annotations, json);  // other prefixes leave it alone
  EXPECT_EQ(h.changes[1].txn->commit_lsn, h.changes[0].txn->commit_lsn);
  EXPECT_EQ(h.changes[1].txn->xid, 727u);
  EXPECT_EQ(h.begins[0]->annotations, "");       // the shared info is replaced, not mutated
  EXPECT_EQ(h.changes[3].txn->annotations, "");  // next transaction starts clean
}

TEST(ChangeAssembler, OriginMessageIsSkipped) {
  RecordingHandler h;
  ChangeAssembler a(h);
  ProcessAll(a, LoadGolden("annotations"));
  EXPECT_EQ(h.changes[3].new_tuple.text(1), "from origin");
  EXPECT_EQ(h.begins[1]->commit_time_us, 1714979289000000);
}

TEST(ChangeAssembler, UnchangedToastWithoutOldRowStaysAndWarnsOncePerTable) {
  RecordingHandler h;
  ChangeAssembler a(h);
  auto golden = LoadGolden("toast");
  ProcessAll(a, golden);
  ASSERT_EQ(h.changes.size(), 4u);
  const model::Change& update = h.changes[2];
  EXPECT_EQ(update.relation->name, "golden_toast_default");
  EXPECT_EQ(update.new_tuple.kind(2), ValueKind::kUnchangedToast);
  ASSERT_EQ(h.warnings.size(), 1u);
  EXPECT_NE(h.warnings[0].find("public.golden_toast_default: "), std::string::npos);
  EXPECT_NE(h.warnings[0].find("REPLICA IDENTITY FULL"), std::string::npos);
  // The same update again (its Begin, Update, Commit): no second warning.
  ProcessAll(a, {golden[8], golden[9], golden[10]});
  EXPECT_EQ(h.changes.size(), 5u);
  EXPECT_EQ(h.warnings.size(), 1u);
}

TEST(ChangeAssembler, UnchangedToastFilledFromFullOldRow) {
  RecordingHandler h;
  ChangeAssembler a(h);
  ProcessAll(a, LoadGolden("toast"));
  const model::Change& update = h.changes[3];
  EXPECT_EQ(update.relation->name, "golden_toast_full");
  EXPECT_EQ(update.new_tuple.kind(2), ValueKind::kText);
  EXPECT_EQ(update.new_tuple.text(2), Repeat("abcdefghij", 300));
  EXPECT_EQ(update.new_tuple.text(1), "1");
}

TEST(ChangeAssembler, RelationMessageReplacesCacheButOldChangesKeepTheirLayout) {
  RecordingHandler h;
  ChangeAssembler a(h);
  ProcessAll(a, LoadGolden("types"));
  ASSERT_EQ(h.changes.size(), 2u);
  EXPECT_EQ(h.changes[0].relation->columns[2].type_oid, 23u);
  EXPECT_EQ(h.changes[1].relation->columns[2].type_oid, 20u);
  EXPECT_NE(h.changes[0].relation, h.changes[1].relation);
  EXPECT_EQ(a.FindRelation(16465), h.changes[1].relation);
}

TEST(ChangeAssembler, TypeMessagesAreCached) {
  RecordingHandler h;
  ChangeAssembler a(h);
  ProcessAll(a, LoadGolden("types"));
  const pgoutput::TypeMessage* t = a.FindType(16458);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->name, "golden_mood");
  EXPECT_EQ(a.FindType(1), nullptr);
}

// --- hand-made sequences and errors ---

std::string Begin(uint64_t lsn, uint32_t xid = 9) {
  return Bytes().Char('B').U64(lsn).U64(0).U32(xid);
}
std::string Commit(uint64_t lsn, uint64_t end) {
  return Bytes().Char('C').U8(0).U64(lsn).U64(end).U64(0);
}
std::string Relation(uint32_t oid, int ncols) {
  Bytes b;
  b.Char('R').U32(oid).Str("public").Str("t").Char('d').U16(ncols);
  for (int i = 0; i < ncols; ++i) b.U8(i == 0).Str("c" + std::to_string(i)).U32(23).U32(-1);
  return b;
}
// A Relation message for public.<table> with the given replica identity
// byte and columns (name, flagged as key).
std::string RelationWith(uint32_t oid, const std::string& table, char identity,
                         const std::vector<std::pair<std::string, bool>>& columns) {
  Bytes b;
  b.Char('R').U32(oid).Str("public").Str(table).Char(identity).U16(columns.size());
  for (const auto& [name, key] : columns) b.U8(key).Str(name).U32(23).U32(-1);
  return b;
}
std::string Insert(uint32_t oid, int ncols) {
  Bytes b;
  b.Char('I').U32(oid).Char('N').U16(ncols);
  for (int i = 0; i < ncols; ++i) b.Text(std::to_string(i));
  return b;
}
std::string Annotate(const std::string& prefix, const std::string& content,
                     bool transactional = true) {
  return Bytes().Char('M').U8(transactional).U64(1).Str(prefix).U32(content.size()).Raw(content);
}

std::string ErrorOf(ChangeAssembler& a, const std::string& msg) {
  Status st = a.Process(msg);
  EXPECT_FALSE(st.ok());
  if (st.ok()) return "";
  EXPECT_EQ(st.error().code(), ErrorCode::kProtocol);
  return st.error().message();
}

TEST(ChangeAssembler, UnknownRelationOidIsAnError) {
  RecordingHandler h;
  ChangeAssembler a(h);
  ASSERT_TRUE(a.Process(Begin(100)).ok());
  std::string err = ErrorOf(a, Insert(777, 1));
  EXPECT_NE(err.find("Insert refers to unknown relation OID 777"), std::string::npos) << err;
  EXPECT_TRUE(h.changes.empty());
}

TEST(ChangeAssembler, TruncateWithUnknownRelationEmitsNothing) {
  RecordingHandler h;
  ChangeAssembler a(h);
  ASSERT_TRUE(a.Process(Relation(1, 1)).ok());
  ASSERT_TRUE(a.Process(Begin(100)).ok());
  std::string err = ErrorOf(a, Bytes().Char('T').U32(2).U8(0).U32(1).U32(2));
  EXPECT_NE(err.find("unknown relation OID 2"), std::string::npos) << err;
  EXPECT_TRUE(h.changes.empty());
}

TEST(ChangeAssembler, ChangeOutsideTransactionIsAnError) {
  RecordingHandler h;
  ChangeAssembler a(h);
  ASSERT_TRUE(a.Process(Relation(1, 1)).ok());
  std::string err = ErrorOf(a, Insert(1, 1));
  EXPECT_NE(err.find("outside a transaction"), std::string::npos) << err;
}

TEST(ChangeAssembler, TupleColumnCountMismatchIsAnError) {
  RecordingHandler h;
  ChangeAssembler a(h);
  ASSERT_TRUE(a.Process(Relation(1, 2)).ok());
  ASSERT_TRUE(a.Process(Begin(100)).ok());
  std::string err = ErrorOf(a, Insert(1, 3));
  EXPECT_NE(err.find("new tuple has 3 columns, the relation has 2"), std::string::npos) << err;
}

TEST(ChangeAssembler, CommitWithoutBeginIsAnError) {
  RecordingHandler h;
  ChangeAssembler a(h);
  EXPECT_NE(ErrorOf(a, Commit(100, 120)).find("without a preceding Begin"), std::string::npos);
}

TEST(ChangeAssembler, BeginInsideTransactionIsAnError) {
  RecordingHandler h;
  ChangeAssembler a(h);
  ASSERT_TRUE(a.Process(Begin(100, 5)).ok());
  EXPECT_NE(ErrorOf(a, Begin(200, 6)).find("while transaction xid 5 is still open"),
            std::string::npos);
}

TEST(ChangeAssembler, CommitLsnDifferentFromBeginIsAnError) {
  RecordingHandler h;
  ChangeAssembler a(h);
  ASSERT_TRUE(a.Process(Begin(0x100)).ok());
  std::string err = ErrorOf(a, Commit(0x200, 0x220));
  EXPECT_NE(err.find("Commit LSN 0/200 differs from its Begin's final LSN 0/100"),
            std::string::npos)
      << err;
  EXPECT_TRUE(h.commits.empty());
}

TEST(ChangeAssembler, DecodeErrorsPropagate) {
  RecordingHandler h;
  ChangeAssembler a(h);
  EXPECT_NE(ErrorOf(a, "B").find("Begin ('B')"), std::string::npos);
}

TEST(ChangeAssembler, ResetDropsOpenTransactionAndRelations) {
  RecordingHandler h;
  ChangeAssembler a(h);
  ASSERT_TRUE(a.Process(Relation(1, 1)).ok());
  ASSERT_TRUE(a.Process(Begin(100)).ok());
  ASSERT_TRUE(a.Process(Insert(1, 1)).ok());
  a.Reset();
  EXPECT_FALSE(a.InTransaction());
  EXPECT_EQ(a.FindRelation(1), nullptr);
  // The re-sent transaction starts over at commit_idx 0.
  ASSERT_TRUE(a.Process(Relation(1, 1)).ok());
  ASSERT_TRUE(a.Process(Begin(100)).ok());
  ASSERT_TRUE(a.Process(Insert(1, 1)).ok());
  ASSERT_TRUE(a.Process(Commit(100, 130)).ok());
  ASSERT_EQ(h.changes.size(), 2u);
  EXPECT_EQ(h.changes[1].commit_idx, 0u);
}

TEST(ChangeAssembler, SequinPrefixSetsAndClearPrefixClears) {
  RecordingHandler h;
  ChangeAssembler a(h);
  ASSERT_TRUE(a.Process(Relation(1, 1)).ok());
  ASSERT_TRUE(a.Process(Begin(100)).ok());
  ASSERT_TRUE(a.Process(Annotate("sequin:transaction_annotations.set", R"({"a":1})")).ok());
  ASSERT_TRUE(a.Process(Insert(1, 1)).ok());
  ASSERT_TRUE(a.Process(Annotate("sluice:transaction_annotations.clear", "")).ok());
  ASSERT_TRUE(a.Process(Insert(1, 1)).ok());
  ASSERT_EQ(h.changes.size(), 2u);
  EXPECT_EQ(h.changes[0].txn->annotations, R"({"a":1})");
  EXPECT_EQ(h.changes[1].txn->annotations, "");
}

TEST(ChangeAssembler, InvalidAnnotationJsonIsIgnored) {
  RecordingHandler h;
  ChangeAssembler a(h);
  ASSERT_TRUE(a.Process(Relation(1, 1)).ok());
  ASSERT_TRUE(a.Process(Begin(100)).ok());
  ASSERT_TRUE(a.Process(Annotate("sluice:transaction_annotations.set", R"({"a":1})")).ok());
  ASSERT_TRUE(a.Process(Annotate("sluice:transaction_annotations.set", "{not json")).ok());
  ASSERT_TRUE(a.Process(Insert(1, 1)).ok());
  EXPECT_EQ(h.changes[0].txn->annotations, R"({"a":1})");
}

TEST(ChangeAssembler, AnnotationJsonIsValidatedStrictly) {
  const std::vector<std::pair<std::string, bool>> cases = {
      {R"({"a": [1, -2.5e+3, true, false, null, "x\u00e9\n"], "b": {}})", true},
      {R"(  "just a string"  )", true},
      {"42", true},
      {"", false},
      {R"({"a": 1} trailing)", false},
      {R"({"a" 1})", false},
      {R"([1, 2,])", false},
      {R"("bad \q escape")", false},
      {R"("unterminated)", false},
      {"01", false},
      {std::string(100, '[') + std::string(100, ']'), false},  // nested too deeply
  };
  for (const auto& [text, valid] : cases) {
    RecordingHandler h;
    ChangeAssembler a(h);
    ASSERT_TRUE(a.Process(Relation(1, 1)).ok());
    ASSERT_TRUE(a.Process(Begin(100)).ok());
    ASSERT_TRUE(a.Process(Annotate("sluice:transaction_annotations.set", text)).ok());
    ASSERT_TRUE(a.Process(Insert(1, 1)).ok());
    EXPECT_EQ(h.changes[0].txn->annotations, valid ? text : "") << text;
  }
}

TEST(ChangeAssembler, NonTransactionalAnnotationIsIgnored) {
  RecordingHandler h;
  ChangeAssembler a(h);
  ASSERT_TRUE(a.Process(Relation(1, 1)).ok());
  ASSERT_TRUE(a.Process(Annotate("sluice:transaction_annotations.set", R"({"a":1})", false)).ok());
  ASSERT_TRUE(a.Process(Begin(100)).ok());
  ASSERT_TRUE(a.Process(Insert(1, 1)).ok());
  EXPECT_EQ(h.changes[0].txn->annotations, "");
}

TEST(ChangeAssembler, BackfillWatermarkIsForwardedInStreamOrder) {
  RecordingHandler h;
  ChangeAssembler a(h);
  const std::string low = R"({"backfill":7,"run":"r1","page":0,"mark":"low","table_oid":1})";
  ASSERT_TRUE(a.Process(Relation(1, 1)).ok());
  ASSERT_TRUE(a.Process(Begin(100)).ok());
  ASSERT_TRUE(a.Process(Insert(1, 1)).ok());
  ASSERT_TRUE(a.Process(Annotate("sluice:backfill", low)).ok());
  ASSERT_TRUE(a.Process(Insert(1, 1)).ok());
  ASSERT_TRUE(a.Process(Commit(100, 130)).ok());
  EXPECT_EQ(h.events, (std::vector<std::string>{"begin", "insert public.t #0", "watermark " + low,
                                                "insert public.t #1", "commit"}));
  // A watermark is not a change and leaves the transaction's annotations alone.
  EXPECT_EQ(h.changes[1].txn->annotations, "");
}

TEST(ChangeAssembler, NonTransactionalBackfillWatermarkIsIgnored) {
  RecordingHandler h;
  ChangeAssembler a(h);
  ASSERT_TRUE(a.Process(Annotate("sluice:backfill", R"({"backfill":1})", false)).ok());
  ASSERT_TRUE(a.Process(Begin(100)).ok());
  ASSERT_TRUE(a.Process(Annotate("sluice:backfill", R"({"backfill":2})", false)).ok());
  ASSERT_TRUE(a.Process(Commit(100, 130)).ok());
  EXPECT_TRUE(h.watermarks.empty());
}

TEST(ChangeAssembler, OtherPrefixesAreNotWatermarks) {
  RecordingHandler h;
  ChangeAssembler a(h);
  ASSERT_TRUE(a.Process(Begin(100)).ok());
  ASSERT_TRUE(a.Process(Annotate("sluice:backfill.other", "{}")).ok());
  ASSERT_TRUE(a.Process(Annotate("sluice:backfil", "{}")).ok());
  ASSERT_TRUE(a.Process(Annotate("other:backfill", "{}")).ok());
  ASSERT_TRUE(a.Process(Commit(100, 130)).ok());
  EXPECT_TRUE(h.watermarks.empty());
}

// --- primary keys ---

// Answers from a fixed table; records what it was asked.
class FakePrimaryKeys : public PrimaryKeyLookup {
 public:
  Result<std::vector<std::string>> PrimaryKeyColumns(uint32_t relation_oid,
                                                     const std::string& schema,
                                                     const std::string& table) override {
    asked.push_back(std::to_string(relation_oid) + " " + schema + "." + table);
    if (fail) return Error(fail_code, fail_message);
    return columns;
  }

  std::vector<std::string> columns;
  bool fail = false;
  ErrorCode fail_code = ErrorCode::kNetwork;
  std::string fail_message = "connection refused";
  std::vector<std::string> asked;
};

TEST(ChangeAssemblerPrimaryKey, DefaultIdentityCompositeKeyLookupFailureIsRetryableError) {
  RecordingHandler h;
  FakePrimaryKeys keys;
  keys.fail = true;
  ChangeAssembler a(h, &keys);
  Status st =
      a.Process(RelationWith(1, "t", 'd', {{"a", false}, {"b", true}, {"c", false}, {"d", true}}));
  // Falling back to the flags' column order would change the partition key
  // string between sessions: the session ends instead.
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), ErrorCode::kNetwork);
  EXPECT_NE(st.error().message().find("public.t (OID 1)"), std::string::npos)
      << st.error().message();
  EXPECT_EQ(a.FindRelation(1), nullptr);
  EXPECT_TRUE(h.warnings.empty());
}

TEST(ChangeAssemblerPrimaryKey, DefaultIdentityCompositeKeyFollowsPrimaryKeyOrder) {
  RecordingHandler h;
  FakePrimaryKeys keys;
  keys.columns = {"d", "b"};  // PRIMARY KEY (d, b), declared after b
  ChangeAssembler a(h, &keys);
  ASSERT_TRUE(
      a.Process(RelationWith(1, "t", 'd', {{"a", false}, {"b", true}, {"c", false}, {"d", true}}))
          .ok());
  EXPECT_EQ(a.FindRelation(1)->primary_key, (std::vector<int>{3, 1}));
}

TEST(ChangeAssemblerPrimaryKey, DefaultIdentityIgnoresLookupThatDisagreesWithFlags) {
  RecordingHandler h;
  FakePrimaryKeys keys;
  keys.columns = {"a", "b"};  // a is not flagged: catalog newer than the stream
  ChangeAssembler a(h, &keys);
  ASSERT_TRUE(
      a.Process(RelationWith(1, "t", 'd', {{"a", false}, {"b", true}, {"c", false}, {"d", true}}))
          .ok());
  EXPECT_EQ(a.FindRelation(1)->primary_key, (std::vector<int>{1, 3}));
}

TEST(ChangeAssemblerPrimaryKey, DefaultIdentitySingleKeyNeedsNoLookup) {
  RecordingHandler h;
  FakePrimaryKeys keys;
  ChangeAssembler a(h, &keys);
  ASSERT_TRUE(a.Process(RelationWith(1, "t", 'd', {{"a", false}, {"b", true}})).ok());
  EXPECT_EQ(a.FindRelation(1)->primary_key, (std::vector<int>{1}));
  EXPECT_TRUE(keys.asked.empty());
}

TEST(ChangeAssemblerPrimaryKey, IndexIdentityUsesKeyFlaggedColumnsWithoutLookup) {
  RecordingHandler h;
  FakePrimaryKeys keys;
  ChangeAssembler a(h, &keys);
  ASSERT_TRUE(a.Process(RelationWith(1, "t", 'i', {{"a", true}, {"b", false}})).ok());
  EXPECT_EQ(a.FindRelation(1)->primary_key, (std::vector<int>{0}));
  EXPECT_TRUE(keys.asked.empty());
}

TEST(ChangeAssemblerPrimaryKey, DefaultIdentityWithoutKeyColumnsHasEmptyPrimaryKey) {
  RecordingHandler h;
  FakePrimaryKeys keys;
  ChangeAssembler a(h, &keys);
  ASSERT_TRUE(a.Process(RelationWith(1, "t", 'd', {{"a", false}})).ok());
  EXPECT_TRUE(a.FindRelation(1)->primary_key.empty());
}

TEST(ChangeAssemblerPrimaryKey, FullIdentityTakesPrimaryKeyFromLookupInKeyOrder) {
  RecordingHandler h;
  FakePrimaryKeys keys;
  keys.columns = {"d", "b"};  // PRIMARY KEY (d, b)
  ChangeAssembler a(h, &keys);
  ASSERT_TRUE(
      a.Process(RelationWith(42, "t", 'f', {{"a", true}, {"b", true}, {"c", true}, {"d", true}}))
          .ok());
  EXPECT_EQ(a.FindRelation(42)->primary_key, (std::vector<int>{3, 1}));
  EXPECT_EQ(keys.asked, (std::vector<std::string>{"42 public.t"}));
  EXPECT_TRUE(h.warnings.empty());
}

TEST(ChangeAssemblerPrimaryKey, FullIdentityFromRealServerGetsLookedUpKey) {
  RecordingHandler h;
  FakePrimaryKeys keys;
  keys.columns = {"id"};
  ChangeAssembler a(h, &keys);
  ProcessAll(a, LoadGolden("full_identity"));
  ASSERT_EQ(h.changes.size(), 3u);
  EXPECT_EQ(h.changes[1].relation->replica_identity, model::ReplicaIdentity::kFull);
  for (const model::Column& c : h.changes[1].relation->columns) EXPECT_TRUE(c.is_key) << c.name;
  EXPECT_EQ(h.changes[1].relation->primary_key, (std::vector<int>{0}));
  ASSERT_EQ(keys.asked.size(), 1u);
  EXPECT_NE(keys.asked[0].find(" public.golden_full"), std::string::npos) << keys.asked[0];
}

TEST(ChangeAssemblerPrimaryKey, FullIdentityWithoutPrimaryKeyIsEmpty) {
  RecordingHandler h;
  FakePrimaryKeys keys;  // no columns: the table has no primary key
  ChangeAssembler a(h, &keys);
  ASSERT_TRUE(a.Process(RelationWith(1, "t", 'f', {{"a", true}, {"b", true}})).ok());
  EXPECT_TRUE(a.FindRelation(1)->primary_key.empty());
  EXPECT_EQ(keys.asked.size(), 1u);
  EXPECT_TRUE(h.warnings.empty());
}

TEST(ChangeAssemblerPrimaryKey, NothingIdentityTakesPrimaryKeyFromLookup) {
  RecordingHandler h;
  FakePrimaryKeys keys;
  keys.columns = {"b"};
  ChangeAssembler a(h, &keys);
  ASSERT_TRUE(a.Process(RelationWith(1, "t", 'n', {{"a", false}, {"b", false}})).ok());
  EXPECT_EQ(a.FindRelation(1)->primary_key, (std::vector<int>{1}));
}

TEST(ChangeAssemblerPrimaryKey, NoLookupLeavesFullIdentityWithoutPrimaryKey) {
  RecordingHandler h;
  ChangeAssembler a(h);
  ASSERT_TRUE(a.Process(RelationWith(1, "t", 'f', {{"a", true}, {"b", true}})).ok());
  EXPECT_TRUE(a.FindRelation(1)->primary_key.empty());
  EXPECT_TRUE(h.warnings.empty());
}

TEST(ChangeAssemblerPrimaryKey, LookupFailureFailsRelationUntilLookupWorksAgain) {
  RecordingHandler h;
  FakePrimaryKeys keys;
  keys.fail = true;
  ChangeAssembler a(h, &keys);
  Status st = a.Process(RelationWith(5, "orders", 'f', {{"id", true}, {"v", true}}));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), ErrorCode::kNetwork);
  EXPECT_NE(st.error().message().find("cannot look up the primary key of table public.orders "
                                      "(OID 5)"),
            std::string::npos)
      << st.error().message();
  EXPECT_NE(st.error().message().find("connection refused"), std::string::npos)
      << st.error().message();
  // No relation was cached with a guessed (empty) key, and no warning says
  // the table is ungrouped: it is not.
  EXPECT_EQ(a.FindRelation(5), nullptr);
  EXPECT_TRUE(h.warnings.empty());
  // The source reconnects; the server re-sends the Relation and the key is
  // found once the lookup works again.
  a.Reset();
  keys.fail = false;
  keys.columns = {"id"};
  ASSERT_TRUE(a.Process(RelationWith(5, "orders", 'f', {{"id", true}, {"v", true}})).ok());
  EXPECT_EQ(a.FindRelation(5)->primary_key, (std::vector<int>{0}));
  EXPECT_EQ(keys.asked.size(), 2u);
  ASSERT_TRUE(a.Process(Begin(100)).ok());
  ASSERT_TRUE(a.Process(Insert(5, 2)).ok());
  ASSERT_TRUE(a.Process(Commit(100, 120)).ok());
  ASSERT_EQ(h.changes.size(), 1u);
  EXPECT_EQ(h.changes[0].relation->primary_key, (std::vector<int>{0}));
}

TEST(ChangeAssemblerPrimaryKey, LookupServerErrorIsUnavailable) {
  RecordingHandler h;
  FakePrimaryKeys keys;
  keys.fail = true;
  keys.fail_code = ErrorCode::kPostgres;
  keys.fail_message = "canceling statement due to statement timeout (SQLSTATE 57014)";
  ChangeAssembler a(h, &keys);
  Status st = a.Process(RelationWith(7, "items", 'n', {{"id", false}}));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(st.error().message().find("public.items"), std::string::npos) << st.error().message();
  EXPECT_NE(st.error().message().find("statement timeout"), std::string::npos)
      << st.error().message();
}

TEST(ChangeAssemblerPrimaryKey, LookupNamingUnknownColumnGivesNoKeyAndWarns) {
  RecordingHandler h;
  FakePrimaryKeys keys;
  keys.columns = {"id", "renamed"};
  ChangeAssembler a(h, &keys);
  ASSERT_TRUE(a.Process(RelationWith(1, "t", 'f', {{"id", true}, {"v", true}})).ok());
  EXPECT_TRUE(a.FindRelation(1)->primary_key.empty());
  ASSERT_EQ(h.warnings.size(), 1u);
  EXPECT_NE(h.warnings[0].find("primary key column \"renamed\" is not among the columns"),
            std::string::npos)
      << h.warnings[0];
}

}  // namespace
}  // namespace sluice::source
