// libFuzzer target: arbitrary bytes through the change codec. Decoding yields
// a Change or an Error, never a crash or sanitizer report. A decoded change
// must decode again from its re-encoding to an equal change, field by field;
// that re-encoding is exactly the input when the input is of the current
// version (the format is canonical), while an older version's input
// re-encodes as the current one. This holds with and without a
// RelationCache.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "model/change_codec.h"

namespace {

using sluice::model::Change;
using sluice::model::Relation;
using sluice::model::Tuple;

bool SameTuple(const Tuple& a, const Tuple& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a.kind(i) != b.kind(i) || a.text(i) != b.text(i)) return false;
  }
  return true;
}

bool SameRelation(const Relation& a, const Relation& b) {
  if (a.oid != b.oid || a.schema != b.schema || a.name != b.name ||
      a.replica_identity != b.replica_identity || a.primary_key != b.primary_key ||
      a.columns.size() != b.columns.size()) {
    return false;
  }
  for (size_t i = 0; i < a.columns.size(); ++i) {
    const auto& x = a.columns[i];
    const auto& y = b.columns[i];
    if (x.name != y.name || x.type_oid != y.type_oid || x.type_modifier != y.type_modifier ||
        x.is_key != y.is_key) {
      return false;
    }
  }
  for (int key : a.primary_key) {
    if (key < 0 || static_cast<size_t>(key) >= a.columns.size()) return false;
  }
  return true;
}

bool SameChange(const Change& a, const Change& b) {
  if (a.action != b.action || a.commit_idx != b.commit_idx || a.backfill_id != b.backfill_id ||
      a.old_is_full_row != b.old_is_full_row || !a.relation != !b.relation || !a.txn != !b.txn ||
      a.old_tuple.has_value() != b.old_tuple.has_value()) {
    return false;
  }
  if (a.relation && !SameRelation(*a.relation, *b.relation)) return false;
  if (a.txn &&
      (a.txn->commit_lsn != b.txn->commit_lsn || a.txn->commit_time_us != b.txn->commit_time_us ||
       a.txn->xid != b.txn->xid || a.txn->annotations != b.txn->annotations)) {
    return false;
  }
  if (!SameTuple(a.new_tuple, b.new_tuple)) return false;
  return !a.old_tuple || SameTuple(*a.old_tuple, *b.old_tuple);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto decoded = sluice::model::DecodeChange(input);
  if (!decoded.ok()) {
    if (decoded.error().message().empty()) __builtin_trap();  // every error explains itself
    return 0;
  }
  const std::string bytes = sluice::model::EncodeChange(*decoded);
  const bool current = input[0] == sluice::model::kChangeCodecVersion;
  if (current && bytes != input) __builtin_trap();  // canonical: one encoding per change
  auto again = sluice::model::DecodeChange(bytes);
  if (!again.ok() || !SameChange(*decoded, *again)) __builtin_trap();
  if (sluice::model::EncodeChange(*again) != bytes) __builtin_trap();

  // Through a cache (small, so that emptying it is exercised too): a second
  // decode of the same bytes shares the first one's relation.
  static sluice::model::RelationCache cache(4);
  auto first = sluice::model::DecodeChange(input, &cache);
  auto second = sluice::model::DecodeChange(input, &cache);
  if (!first.ok() || !second.ok() || !SameChange(*decoded, *first) ||
      !SameChange(*decoded, *second) || first->relation != second->relation) {
    __builtin_trap();
  }
  return 0;
}
