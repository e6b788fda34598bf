// GroupKey and PartitionKeyForGroup (SPEC §3).

#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "model/encoder.h"
#include "model_fixtures.h"

namespace sluice::model {
namespace {

using testing::MakeChange;
using testing::OrdersRelation;
using testing::PaidOrder;
using testing::V;

std::shared_ptr<Relation> CompositeRelation() {
  // CREATE TABLE line_items(tenant text, note text, id int4, PRIMARY KEY (tenant, id))
  auto r = std::make_shared<Relation>();
  r->schema = "public";
  r->name = "line_items";
  r->columns = {
      {"tenant", pg::kText, -1, true}, {"note", pg::kText, -1, false}, {"id", pg::kInt4, -1, true}};
  r->primary_key = {0, 2};
  return r;
}

TEST(GroupKey, PrimaryKeyValue) {
  EXPECT_EQ(GroupKey(MakeChange(Action::kInsert, OrdersRelation(), PaidOrder()), {}), "7");
}

TEST(GroupKey, CompositePrimaryKeyJoinedInKeyOrder) {
  auto r = CompositeRelation();
  Change c = MakeChange(Action::kInsert, r, {"acme", "hello", "42"});
  EXPECT_EQ(GroupKey(c, {}), "acme:42");
  r->primary_key = {2, 0};  // PRIMARY KEY (id, tenant)
  EXPECT_EQ(GroupKey(c, {}), "42:acme");
}

TEST(GroupKey, CommonCaseIsPlainColonJoin) {
  // No NULL, no ':' or '\' in the values: byte-identical to "v1:v2".
  Change c = MakeChange(Action::kInsert, CompositeRelation(), {"1", "x", "7"});
  EXPECT_EQ(GroupKey(c, {2}), "7");
  EXPECT_EQ(GroupKey(c, {0, 1}), "1:x");
}

TEST(GroupKey, FullIdentityTableUsesPrimaryKeyNotEveryColumn) {
  // pgoutput marks all columns of a REPLICA IDENTITY FULL table as key.
  Change c = MakeChange(Action::kInsert, OrdersRelation(ReplicaIdentity::kFull), PaidOrder());
  EXPECT_EQ(GroupKey(c, {}), "7");
}

TEST(GroupKey, FullIdentityUpdateOfNonKeyColumnKeepsGroup) {
  std::vector<V> old_row = PaidOrder();
  old_row[1] = "pending";
  Change c = MakeChange(Action::kUpdate, OrdersRelation(ReplicaIdentity::kFull), PaidOrder(),
                        old_row, /*old_is_full_row=*/true);
  EXPECT_EQ(GroupKey(c, {}), "7");
}

TEST(GroupKey, FullIdentityTableWithoutPrimaryKeyHasNoGroup) {
  // Every column is flagged is_key, but the source found no primary key.
  auto r = OrdersRelation(ReplicaIdentity::kFull);
  r->primary_key.clear();
  EXPECT_EQ(GroupKey(MakeChange(Action::kInsert, r, PaidOrder()), {}), std::nullopt);
}

TEST(GroupKey, GroupColumnsInGivenOrder) {
  Change c = MakeChange(Action::kInsert, CompositeRelation(), {"acme", "hello", "42"});
  EXPECT_EQ(GroupKey(c, {1}), "hello");
  EXPECT_EQ(GroupKey(c, {2, 1}), "42:hello");
}

TEST(GroupKey, EmptyTextPrimaryKeyIsAGroup) {
  // CREATE TABLE tags(name text PRIMARY KEY); INSERT INTO tags VALUES ('')
  auto r = CompositeRelation();
  r->primary_key = {0};
  std::optional<std::string> group = GroupKey(MakeChange(Action::kInsert, r, {"", "x", "1"}), {});
  ASSERT_TRUE(group.has_value());
  EXPECT_EQ(*group, "");
}

TEST(GroupKey, NullValueIsEmptyTextAndStillAGroup) {
  Change c = MakeChange(Action::kInsert, CompositeRelation(), {"acme", V::Null(), "42"});
  EXPECT_EQ(GroupKey(c, {0, 1, 2}), "acme::42");
  EXPECT_EQ(GroupKey(c, {1}), "") << "a NULL group value is a group, not 'no group'";
}

TEST(GroupKey, ValuesAreJoinedVerbatimAsSpecAndSequinDo) {
  auto r = CompositeRelation();
  // SPEC §3: values joined by ":" — so ("a:b","c") and ("a","b:c") share a
  // group. That only orders them together; it never reorders either.
  EXPECT_EQ(GroupKey(MakeChange(Action::kInsert, r, {"a:b", "c", "1"}), {0, 1}), "a:b:c");
  EXPECT_EQ(GroupKey(MakeChange(Action::kInsert, r, {"a", "b:c", "1"}), {0, 1}), "a:b:c");
  EXPECT_EQ(GroupKey(MakeChange(Action::kInsert, r, {"a\\", "b", "1"}), {0, 1}), "a\\:b");
}

TEST(GroupKey, OutOfRangeColumnHasNoGroup) {
  Change c = MakeChange(Action::kInsert, CompositeRelation(), {"acme", "x", "42"});
  EXPECT_EQ(GroupKey(c, {0, 9}), std::nullopt);
  EXPECT_EQ(GroupKey(c, {-1}), std::nullopt);
}

TEST(GroupKey, ColumnPastTupleEndHasNoGroup) {
  // The relation has three columns, the tuple only two.
  Change c = MakeChange(Action::kInsert, CompositeRelation(), {"acme", "x"});
  EXPECT_EQ(GroupKey(c, {0, 2}), std::nullopt);
}

TEST(GroupKey, DeleteUsesOldKey) {
  Change c =
      MakeChange(Action::kDelete, CompositeRelation(), {}, std::vector<V>{"acme", V::Null(), "42"});
  EXPECT_EQ(GroupKey(c, {}), "acme:42");
}

TEST(GroupKey, KeyOnlyDeleteWithKeyGroupColumnsHasTheGroup) {
  Change c =
      MakeChange(Action::kDelete, CompositeRelation(), {}, std::vector<V>{"acme", V::Null(), "42"});
  EXPECT_EQ(GroupKey(c, {2, 0}), "42:acme");
}

TEST(GroupKey, KeyOnlyDeleteWithNonKeyGroupColumnHasNoGroup) {
  // REPLICA IDENTITY DEFAULT: the old tuple carries 'n' for `note`, whose
  // value is unknown, not NULL.
  Change c =
      MakeChange(Action::kDelete, CompositeRelation(), {}, std::vector<V>{"acme", V::Null(), "42"});
  EXPECT_EQ(GroupKey(c, {1}), std::nullopt);
  EXPECT_EQ(GroupKey(c, {0, 1}), std::nullopt);
}

TEST(GroupKey, FullRowDeleteWithGroupColumnsHasTheGroup) {
  auto r = CompositeRelation();
  r->replica_identity = ReplicaIdentity::kFull;
  for (Column& column : r->columns) column.is_key = true;
  Change c = MakeChange(Action::kDelete, r, {}, std::vector<V>{"acme", "hello", "42"},
                        /*old_is_full_row=*/true);
  EXPECT_EQ(GroupKey(c, {1, 0}), "hello:acme");
}

TEST(GroupKey, FullRowDeleteKeepsNullGroupValue) {
  // With the whole old row, a NULL is a real NULL.
  Change c = MakeChange(Action::kDelete, CompositeRelation(), {},
                        std::vector<V>{"acme", V::Null(), "42"}, /*old_is_full_row=*/true);
  EXPECT_EQ(GroupKey(c, {1}), "") << "a real NULL, unlike a key-only tuple's missing column";
}

TEST(GroupKey, UpdateUsesNewKey) {
  Change c = MakeChange(Action::kUpdate, CompositeRelation(), {"acme", "x", "43"},
                        std::vector<V>{"acme", V::Null(), "42"});
  EXPECT_EQ(GroupKey(c, {}), "acme:43");
}

TEST(GroupKey, UpdateWithKeyOnlyOldTupleUsesNewNonKeyValues) {
  // The key-only rule applies to the tuple used, here the full new row.
  Change c = MakeChange(Action::kUpdate, CompositeRelation(), {"acme", "x", "43"},
                        std::vector<V>{"acme", V::Null(), "42"});
  EXPECT_EQ(GroupKey(c, {1}), "x");
}

TEST(GroupKey, UnchangedToastGroupValueTakenFromOldRow) {
  Change c = MakeChange(Action::kUpdate, CompositeRelation(), {"acme", V::Toast(), "42"},
                        std::vector<V>{"acme", "long note", "42"}, true);
  EXPECT_EQ(GroupKey(c, {1}), "long note");
}

TEST(GroupKey, UnresolvedUnchangedToastHasNoGroup) {
  // No old tuple at all, and a key-only old tuple that lacks the column.
  Change no_old = MakeChange(Action::kUpdate, CompositeRelation(), {"acme", V::Toast(), "42"});
  EXPECT_EQ(GroupKey(no_old, {1}), std::nullopt);
  Change key_only = MakeChange(Action::kUpdate, CompositeRelation(), {"acme", V::Toast(), "42"},
                               std::vector<V>{"acme", V::Null(), "41"});
  EXPECT_EQ(GroupKey(key_only, {0, 1}), std::nullopt);
}

TEST(GroupKey, TruncateHasNoGroup) {
  EXPECT_EQ(GroupKey(MakeChange(Action::kTruncate, OrdersRelation(), {}), {}), std::nullopt);
}

TEST(GroupKey, TableWithoutKeyHasNoGroup) {
  auto r = CompositeRelation();
  for (Column& c : r->columns) c.is_key = false;
  r->primary_key.clear();
  EXPECT_EQ(GroupKey(MakeChange(Action::kInsert, r, {"a", "b", "1"}), {}), std::nullopt);
}

TEST(GroupKey, IsKeyFlagsAloneDoNotMakeAGroup) {
  auto r = CompositeRelation();
  r->primary_key.clear();  // tenant and id still flagged is_key
  EXPECT_EQ(GroupKey(MakeChange(Action::kInsert, r, {"a", "b", "1"}), {}), std::nullopt);
}

TEST(GroupKey, MissingRelationOrTupleHasNoGroup) {
  Change c;
  EXPECT_EQ(GroupKey(c, {}), std::nullopt);
  EXPECT_EQ(GroupKey(MakeChange(Action::kDelete, OrdersRelation(), {}), {}), std::nullopt);
}

TEST(PartitionKeyForGroup, ShortKeyIsKept) {
  EXPECT_EQ(PartitionKeyForGroup("acme:42"), "acme:42");
}

TEST(PartitionKeyForGroup, EmptyGroupIsMd5Hex) {
  // python3 -c "import hashlib; print(hashlib.md5(b'').hexdigest())"
  EXPECT_EQ(PartitionKeyForGroup(""), "d41d8cd98f00b204e9800998ecf8427e");
}

TEST(PartitionKeyForGroup, OneByteGroupIsKept) { EXPECT_EQ(PartitionKeyForGroup("x"), "x"); }

TEST(PartitionKeyForGroup, Exactly256BytesIsKept) {
  const std::string key(256, 'k');
  EXPECT_EQ(PartitionKeyForGroup(key), key);
}

TEST(PartitionKeyForGroup, Over256BytesIsMd5Hex) {
  // python3 -c "import hashlib; print(hashlib.md5(b'k'*257).hexdigest())"
  EXPECT_EQ(PartitionKeyForGroup(std::string(257, 'k')), "da1a1fa6b104c4871eef9b2a6715a145");
}

TEST(PartitionKeyForGroup, LimitCountsBytesNotCharacters) {
  std::string two_byte_chars;
  for (int i = 0; i < 128; ++i) two_byte_chars += "\xC3\xA9";  // é, 256 bytes
  EXPECT_EQ(PartitionKeyForGroup(two_byte_chars), two_byte_chars);
  const std::string hashed = PartitionKeyForGroup(two_byte_chars + "\xC3\xA9");
  EXPECT_EQ(hashed.size(), 32u);
  EXPECT_EQ(hashed.find_first_not_of("0123456789abcdef"), std::string::npos);
}

TEST(PartitionKeyForGroup, LongGroupFromGroupKeyIsHashed) {
  Change c = MakeChange(Action::kInsert, CompositeRelation(),
                        {std::string(200, 'a'), "x", std::string(56, '1')});
  std::optional<std::string> group = GroupKey(c, {});
  ASSERT_TRUE(group.has_value());
  ASSERT_EQ(group->size(), 257u);  // 200 + ':' + 56
  EXPECT_EQ(PartitionKeyForGroup(*group).size(), 32u);
}

TEST(PartitionKeyForGroup, EmptyTextKeyGivesNonEmptyPartitionKey) {
  auto r = CompositeRelation();
  r->primary_key = {0};
  std::optional<std::string> group = GroupKey(MakeChange(Action::kInsert, r, {"", "x", "1"}), {});
  ASSERT_TRUE(group.has_value());
  const std::string key = PartitionKeyForGroup(*group);
  EXPECT_EQ(key.size(), 32u);
  EXPECT_EQ(key.find_first_not_of("0123456789abcdef"), std::string::npos);
}

}  // namespace
}  // namespace sluice::model
