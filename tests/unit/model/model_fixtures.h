// Test fixtures: relations and changes built by hand, shaped as the source
// produces them (pgoutput decoder + change assembler, which fills
// Relation::primary_key).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/change.h"
#include "model/pg_types.h"

namespace sluice::model::testing {

// A column value for MakeTuple: text, NULL or an unchanged TOAST marker.
struct V {
  V(const char* t) : kind(ValueKind::kText), text(t) {}             // NOLINT: terse tables
  V(std::string t) : kind(ValueKind::kText), text(std::move(t)) {}  // NOLINT
  static V Null() { return V(ValueKind::kNull); }
  static V Toast() { return V(ValueKind::kUnchangedToast); }

  ValueKind kind;
  std::string text;

 private:
  explicit V(ValueKind k) : kind(k) {}
};

inline Tuple MakeTuple(const std::vector<V>& values) {
  Tuple t;
  for (const V& v : values) {
    switch (v.kind) {
      case ValueKind::kNull: t.AddNull(); break;
      case ValueKind::kUnchangedToast: t.AddUnchangedToast(); break;
      case ValueKind::kText: t.AddText(v.text); break;
    }
  }
  return t;
}

// public.orders(id int8 primary key, status text, total numeric, meta jsonb,
//               tags text[], created_at timestamptz, paid bool, note text)
inline std::shared_ptr<Relation> OrdersRelation(
    ReplicaIdentity identity = ReplicaIdentity::kDefault) {
  auto r = std::make_shared<Relation>();
  r->oid = 16390;
  r->schema = "public";
  r->name = "orders";
  r->replica_identity = identity;
  r->columns = {
      {"id", pg::kInt8, -1, true},         {"status", pg::kText, -1, false},
      {"total", pg::kNumeric, -1, false},  {"meta", pg::kJsonb, -1, false},
      {"tags", pg::kTextArray, -1, false}, {"created_at", pg::kTimestamptz, -1, false},
      {"paid", pg::kBool, -1, false},      {"note", pg::kText, -1, false},
  };
  if (identity == ReplicaIdentity::kFull) {
    // pgoutput flags every column of a FULL table as a key column.
    for (Column& c : r->columns) c.is_key = true;
  }
  r->primary_key = {0};
  return r;
}

// 2026-11-27T10:00:00.123456Z at LSN 24023128 (0/16E8F58).
inline std::shared_ptr<TransactionInfo> Txn(std::string annotations = "") {
  auto t = std::make_shared<TransactionInfo>();
  t->commit_lsn = Lsn(24023128);
  t->commit_time_us = 1795773600123456;
  t->xid = 740;
  t->annotations = std::move(annotations);
  return t;
}

inline std::vector<V> PaidOrder() {
  return {"7", "paid",   "199.99", R"({"a": 1})", R"({x,"y z"})", "2026-11-27 10:00:00.123456+00",
          "t", V::Null()};
}

inline Change MakeChange(Action action, std::shared_ptr<const Relation> relation,
                         std::vector<V> new_values, std::optional<std::vector<V>> old_values = {},
                         bool old_is_full_row = false) {
  Change c;
  c.action = action;
  c.relation = std::move(relation);
  c.txn = Txn();
  c.commit_idx = 0;
  c.new_tuple = MakeTuple(new_values);
  if (old_values) c.old_tuple = MakeTuple(*old_values);
  c.old_is_full_row = old_is_full_row;
  return c;
}

}  // namespace sluice::model::testing
