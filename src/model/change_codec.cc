#include "model/change_codec.h"

#include <limits>
#include <optional>
#include <utility>

namespace sluice::model {
namespace {

// Wire values. Independent of the enums' numeric values so that reordering an
// enum never changes what is on disk.
constexpr uint8_t kFlagRelation = 1 << 0;
constexpr uint8_t kFlagTransaction = 1 << 1;
constexpr uint8_t kFlagOldTuple = 1 << 2;
constexpr uint8_t kFlagOldIsFullRow = 1 << 3;
constexpr uint8_t kKnownChangeFlags =
    kFlagRelation | kFlagTransaction | kFlagOldTuple | kFlagOldIsFullRow;
constexpr uint8_t kColumnFlagIsKey = 1 << 0;

// Smallest encodings, used to bound counts by the bytes that remain.
constexpr size_t kMinColumnBytes = 4;  // empty name, oid, typmod, flags
constexpr size_t kMinFieldBytes = 1;   // kind
constexpr size_t kMinKeyBytes = 1;     // column index

uint8_t ActionToWire(Action action) {
  switch (action) {
    case Action::kInsert: return 'I';
    case Action::kUpdate: return 'U';
    case Action::kDelete: return 'D';
    case Action::kRead: return 'R';
    case Action::kTruncate: return 'T';
  }
  return '?';
}

std::optional<Action> ActionFromWire(uint8_t b) {
  switch (b) {
    case 'I': return Action::kInsert;
    case 'U': return Action::kUpdate;
    case 'D': return Action::kDelete;
    case 'R': return Action::kRead;
    case 'T': return Action::kTruncate;
    default: return std::nullopt;
  }
}

uint8_t KindToWire(ValueKind kind) {
  switch (kind) {
    case ValueKind::kNull: return 'n';
    case ValueKind::kUnchangedToast: return 'u';
    case ValueKind::kText: return 't';
  }
  return '?';
}

std::optional<ReplicaIdentity> IdentityFromWire(uint8_t b) {
  switch (b) {
    case 'd': return ReplicaIdentity::kDefault;
    case 'n': return ReplicaIdentity::kNothing;
    case 'f': return ReplicaIdentity::kFull;
    case 'i': return ReplicaIdentity::kIndex;
    default: return std::nullopt;
  }
}

uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
int64_t UnZigZag(uint64_t u) { return static_cast<int64_t>(u >> 1) ^ -static_cast<int64_t>(u & 1); }

// ---- Encoding -------------------------------------------------------------

void PutVarint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

void PutString(std::string_view s, std::string* out) {
  PutVarint(s.size(), out);
  out->append(s);
}

void PutRelationBlock(const Relation& relation, std::string* out) {
  PutVarint(relation.oid, out);
  PutString(relation.schema, out);
  PutString(relation.name, out);
  out->push_back(static_cast<char>(relation.replica_identity));
  PutVarint(relation.columns.size(), out);
  for (const Column& column : relation.columns) {
    PutString(column.name, out);
    PutVarint(column.type_oid, out);
    PutVarint(ZigZag(column.type_modifier), out);
    out->push_back(static_cast<char>(column.is_key ? kColumnFlagIsKey : 0));
  }
  PutVarint(relation.primary_key.size(), out);
  for (int index : relation.primary_key) PutVarint(static_cast<uint32_t>(index), out);
}

void PutTuple(const Tuple& tuple, std::string* out) {
  size_t text_bytes = 0;
  for (size_t i = 0; i < tuple.size(); ++i) {
    if (tuple.kind(i) == ValueKind::kText) text_bytes += tuple.text(i).size();
  }
  PutVarint(tuple.size(), out);
  PutVarint(text_bytes, out);
  for (size_t i = 0; i < tuple.size(); ++i) {
    out->push_back(static_cast<char>(KindToWire(tuple.kind(i))));
    if (tuple.kind(i) == ValueKind::kText) PutString(tuple.text(i), out);
  }
}

// ---- Decoding -------------------------------------------------------------

// Names the field being read, for error messages, without allocating on the
// success path: "relation.columns[3].name".
struct Field {
  const char* name;
  size_t index = kNoIndex;
  const char* member = nullptr;
  static constexpr size_t kNoIndex = std::numeric_limits<size_t>::max();
};

std::string FieldName(const Field& f) {
  std::string s = f.name;
  if (f.index != Field::kNoIndex) s += "[" + std::to_string(f.index) + "]";
  if (f.member != nullptr) s += std::string(".") + f.member;
  return s;
}

// Bounds-checked cursor over the input. Offsets in errors are absolute
// (base_ is the position of `in` within the whole encoding).
class Reader {
 public:
  Reader(std::string_view in, size_t base) : in_(in), base_(base) {}

  size_t remaining() const { return in_.size() - pos_; }
  size_t offset() const { return base_ + pos_; }

  Error Fail(const Field& f, size_t at, const std::string& what) const {
    return Error(ErrorCode::kInvalidArgument, "stored change: " + FieldName(f) + " at offset " +
                                                  std::to_string(at) + ": " + what);
  }

  Result<uint8_t> Byte(const Field& f) {
    if (remaining() < 1) return Fail(f, offset(), "truncated: input ends here");
    return static_cast<uint8_t>(in_[pos_++]);
  }

  // Shortest-form LEB128, at most `max`.
  Result<uint64_t> Varint(const Field& f, uint64_t max) {
    const size_t start = offset();
    uint64_t v = 0;
    for (int shift = 0;; shift += 7) {
      if (remaining() < 1) return Fail(f, start, "truncated varint");
      const uint8_t b = static_cast<uint8_t>(in_[pos_++]);
      if (shift == 63 && b > 1) return Fail(f, start, "varint overflows 64 bits");
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) {
        if (b == 0 && shift > 0) return Fail(f, start, "varint not in shortest form");
        break;
      }
    }
    if (v > max) {
      return Fail(f, start,
                  "value " + std::to_string(v) + " exceeds the maximum " + std::to_string(max));
    }
    return v;
  }

  Result<uint32_t> Varint32(const Field& f) {
    SLUICE_ASSIGN_OR_RETURN(uint64_t v, Varint(f, std::numeric_limits<uint32_t>::max()));
    return static_cast<uint32_t>(v);
  }

  // A count of items that each take at least `min_bytes` of what follows.
  Result<size_t> Count(const Field& f, size_t min_bytes) {
    const size_t start = offset();
    SLUICE_ASSIGN_OR_RETURN(uint64_t n, Varint(f, std::numeric_limits<uint64_t>::max()));
    if (n > remaining() / min_bytes) {
      return Fail(f, start,
                  "count " + std::to_string(n) + " cannot fit in the " +
                      std::to_string(remaining()) + " bytes remaining");
    }
    return static_cast<size_t>(n);
  }

  Result<std::string_view> Bytes(const Field& f, size_t n, size_t length_at) {
    if (n > remaining()) {
      return Fail(f, length_at,
                  "length " + std::to_string(n) + " exceeds the " + std::to_string(remaining()) +
                      " bytes remaining");
    }
    std::string_view s = in_.substr(pos_, n);
    pos_ += n;
    return s;
  }

  Result<std::string_view> String(const Field& f) {
    const size_t start = offset();
    SLUICE_ASSIGN_OR_RETURN(uint64_t n, Varint(f, std::numeric_limits<uint64_t>::max()));
    if (n > remaining()) {
      return Fail(f, start,
                  "length " + std::to_string(n) + " exceeds the " + std::to_string(remaining()) +
                      " bytes remaining");
    }
    return Bytes(f, static_cast<size_t>(n), start);
  }

  Status ExpectEnd(const Field& f) const {
    if (remaining() == 0) return OkStatus();
    return Fail(f, offset(), std::to_string(remaining()) + " unexpected trailing bytes");
  }

 private:
  std::string_view in_;
  size_t base_;
  size_t pos_ = 0;
};

std::string Hex(uint8_t b) {
  static constexpr char kDigits[] = "0123456789abcdef";
  return std::string("0x") + kDigits[b >> 4] + kDigits[b & 0xf];
}

Result<std::shared_ptr<const Relation>> ReadRelationBlock(Reader& r) {
  auto relation = std::make_shared<Relation>();
  SLUICE_ASSIGN_OR_RETURN(relation->oid, r.Varint32({"relation.oid"}));
  SLUICE_ASSIGN_OR_RETURN(std::string_view schema, r.String({"relation.schema"}));
  relation->schema = schema;
  SLUICE_ASSIGN_OR_RETURN(std::string_view name, r.String({"relation.name"}));
  relation->name = name;

  const size_t identity_at = r.offset();
  SLUICE_ASSIGN_OR_RETURN(uint8_t identity, r.Byte({"relation.replica_identity"}));
  std::optional<ReplicaIdentity> parsed_identity = IdentityFromWire(identity);
  if (!parsed_identity) {
    return r.Fail({"relation.replica_identity"}, identity_at,
                  "unknown replica identity " + Hex(identity));
  }
  relation->replica_identity = *parsed_identity;

  SLUICE_ASSIGN_OR_RETURN(size_t column_count, r.Count({"relation.columns"}, kMinColumnBytes));
  relation->columns.resize(column_count);
  for (size_t i = 0; i < column_count; ++i) {
    Column& column = relation->columns[i];
    SLUICE_ASSIGN_OR_RETURN(std::string_view column_name,
                            r.String({"relation.columns", i, "name"}));
    column.name = column_name;
    SLUICE_ASSIGN_OR_RETURN(column.type_oid, r.Varint32({"relation.columns", i, "type_oid"}));
    SLUICE_ASSIGN_OR_RETURN(uint64_t typmod, r.Varint({"relation.columns", i, "type_modifier"},
                                                      std::numeric_limits<uint32_t>::max()));
    column.type_modifier = static_cast<int32_t>(UnZigZag(typmod));
    const size_t flags_at = r.offset();
    SLUICE_ASSIGN_OR_RETURN(uint8_t flags, r.Byte({"relation.columns", i, "flags"}));
    if ((flags & ~kColumnFlagIsKey) != 0) {
      return r.Fail({"relation.columns", i, "flags"}, flags_at,
                    "unknown column flag bits in " + Hex(flags));
    }
    column.is_key = (flags & kColumnFlagIsKey) != 0;
  }

  SLUICE_ASSIGN_OR_RETURN(size_t key_count, r.Count({"relation.primary_key"}, kMinKeyBytes));
  relation->primary_key.reserve(key_count);
  for (size_t i = 0; i < key_count; ++i) {
    const size_t at = r.offset();
    SLUICE_ASSIGN_OR_RETURN(uint32_t index, r.Varint32({"relation.primary_key", i}));
    if (index >= column_count) {
      return r.Fail({"relation.primary_key", i}, at,
                    "column index " + std::to_string(index) + " outside the " +
                        std::to_string(column_count) + " columns");
    }
    relation->primary_key.push_back(static_cast<int>(index));
  }
  return std::shared_ptr<const Relation>(std::move(relation));
}

Result<std::shared_ptr<const TransactionInfo>> ReadTransaction(Reader& r) {
  auto txn = std::make_shared<TransactionInfo>();
  SLUICE_ASSIGN_OR_RETURN(uint64_t lsn,
                          r.Varint({"txn.commit_lsn"}, std::numeric_limits<uint64_t>::max()));
  txn->commit_lsn = Lsn(lsn);
  SLUICE_ASSIGN_OR_RETURN(uint64_t time,
                          r.Varint({"txn.commit_time_us"}, std::numeric_limits<uint64_t>::max()));
  txn->commit_time_us = UnZigZag(time);
  SLUICE_ASSIGN_OR_RETURN(txn->xid, r.Varint32({"txn.xid"}));
  SLUICE_ASSIGN_OR_RETURN(std::string_view annotations, r.String({"txn.annotations"}));
  txn->annotations = annotations;
  return std::shared_ptr<const TransactionInfo>(std::move(txn));
}

Result<Tuple> ReadTuple(Reader& r, const char* which) {
  SLUICE_ASSIGN_OR_RETURN(size_t field_count,
                          r.Count({which, Field::kNoIndex, "size"}, kMinFieldBytes));
  const size_t text_bytes_at = r.offset();
  SLUICE_ASSIGN_OR_RETURN(uint64_t text_bytes, r.Varint({which, Field::kNoIndex, "text_bytes"},
                                                        std::numeric_limits<uint32_t>::max()));
  if (text_bytes > r.remaining()) {
    return r.Fail({which, Field::kNoIndex, "text_bytes"}, text_bytes_at,
                  "total " + std::to_string(text_bytes) + " exceeds the " +
                      std::to_string(r.remaining()) + " bytes remaining");
  }
  Tuple tuple;
  tuple.Reserve(field_count, static_cast<size_t>(text_bytes));
  uint64_t seen = 0;
  for (size_t i = 0; i < field_count; ++i) {
    const size_t kind_at = r.offset();
    SLUICE_ASSIGN_OR_RETURN(uint8_t kind, r.Byte({which, i, "kind"}));
    switch (kind) {
      case 'n': tuple.AddNull(); break;
      case 'u': tuple.AddUnchangedToast(); break;
      case 't': {
        const size_t text_at = r.offset();
        SLUICE_ASSIGN_OR_RETURN(std::string_view text, r.String({which, i, "text"}));
        seen += text.size();
        if (seen > text_bytes) {
          return r.Fail(
              {which, i, "text"}, text_at,
              "text exceeds the declared total of " + std::to_string(text_bytes) + " bytes");
        }
        tuple.AddText(text);
        break;
      }
      default: return r.Fail({which, i, "kind"}, kind_at, "unknown value kind " + Hex(kind));
    }
  }
  if (seen != text_bytes) {
    return r.Fail({which, Field::kNoIndex, "text_bytes"}, text_bytes_at,
                  "declared " + std::to_string(text_bytes) + " bytes of text, the fields hold " +
                      std::to_string(seen));
  }
  return tuple;
}

}  // namespace

void EncodeChange(const Change& change, std::string* out) {
  size_t estimate = 16 + change.new_tuple.data_bytes() + change.new_tuple.size() * 2;
  if (change.old_tuple) estimate += change.old_tuple->data_bytes() + change.old_tuple->size() * 2;
  if (change.relation) {
    estimate += 24 + change.relation->schema.size() + change.relation->name.size();
    for (const Column& c : change.relation->columns) estimate += 8 + c.name.size();
  }
  if (change.txn) estimate += 24 + change.txn->annotations.size();
  out->reserve(out->size() + estimate);

  uint8_t flags = 0;
  if (change.relation) flags |= kFlagRelation;
  if (change.txn) flags |= kFlagTransaction;
  if (change.old_tuple) flags |= kFlagOldTuple;
  if (change.old_is_full_row) flags |= kFlagOldIsFullRow;

  out->push_back(static_cast<char>(kChangeCodecVersion));
  out->push_back(static_cast<char>(flags));
  out->push_back(static_cast<char>(ActionToWire(change.action)));
  PutVarint(change.commit_idx, out);
  PutVarint(change.backfill_id, out);

  if (change.relation) {
    // The block is written first, then its length is put in front of it.
    const size_t block_at = out->size();
    PutRelationBlock(*change.relation, out);
    std::string length;
    PutVarint(out->size() - block_at, &length);
    out->insert(block_at, length);
  }
  if (change.txn) {
    const TransactionInfo& txn = *change.txn;
    PutVarint(txn.commit_lsn.value(), out);
    PutVarint(ZigZag(txn.commit_time_us), out);
    PutVarint(txn.xid, out);
    PutString(txn.annotations, out);
  }
  PutTuple(change.new_tuple, out);
  if (change.old_tuple) PutTuple(*change.old_tuple, out);
}

std::string EncodeChange(const Change& change) {
  std::string out;
  EncodeChange(change, &out);
  return out;
}

Result<Change> DecodeChange(std::string_view bytes, RelationCache* cache) {
  Reader r(bytes, 0);
  SLUICE_ASSIGN_OR_RETURN(uint8_t version, r.Byte({"version"}));
  if (version < kOldestChangeCodecVersion || version > kChangeCodecVersion) {
    return r.Fail({"version"}, 0,
                  "unknown format version " + std::to_string(version) + " (this build reads " +
                      std::to_string(kOldestChangeCodecVersion) + " to " +
                      std::to_string(kChangeCodecVersion) + ")");
  }
  SLUICE_ASSIGN_OR_RETURN(uint8_t flags, r.Byte({"flags"}));
  if ((flags & ~kKnownChangeFlags) != 0) {
    return r.Fail({"flags"}, 1, "unknown flag bits in " + Hex(flags));
  }
  SLUICE_ASSIGN_OR_RETURN(uint8_t action, r.Byte({"action"}));
  std::optional<Action> parsed_action = ActionFromWire(action);
  if (!parsed_action) return r.Fail({"action"}, 2, "unknown action " + Hex(action));

  Change change;
  change.action = *parsed_action;
  change.old_is_full_row = (flags & kFlagOldIsFullRow) != 0;
  SLUICE_ASSIGN_OR_RETURN(change.commit_idx, r.Varint32({"commit_idx"}));
  if (version >= 2) {
    SLUICE_ASSIGN_OR_RETURN(change.backfill_id,
                            r.Varint({"backfill_id"}, std::numeric_limits<uint64_t>::max()));
  }

  if ((flags & kFlagRelation) != 0) {
    const size_t length_at = r.offset();
    SLUICE_ASSIGN_OR_RETURN(uint64_t length,
                            r.Varint({"relation"}, std::numeric_limits<uint64_t>::max()));
    if (length > r.remaining()) {
      return r.Fail({"relation"}, length_at,
                    "block length " + std::to_string(length) + " exceeds the " +
                        std::to_string(r.remaining()) + " bytes remaining");
    }
    const size_t block_at = r.offset();
    SLUICE_ASSIGN_OR_RETURN(std::string_view block,
                            r.Bytes({"relation"}, static_cast<size_t>(length), length_at));
    if (cache != nullptr) {
      auto it = cache->entries_.find(block);
      if (it != cache->entries_.end()) change.relation = it->second;
    }
    if (!change.relation) {
      Reader block_reader(block, block_at);
      SLUICE_ASSIGN_OR_RETURN(change.relation, ReadRelationBlock(block_reader));
      SLUICE_RETURN_IF_ERROR(block_reader.ExpectEnd({"relation"}));
      if (cache != nullptr && cache->max_entries_ > 0) {
        if (cache->entries_.size() >= cache->max_entries_) cache->entries_.clear();
        cache->entries_.emplace(std::string(block), change.relation);
      }
    }
  }
  if ((flags & kFlagTransaction) != 0) {
    SLUICE_ASSIGN_OR_RETURN(change.txn, ReadTransaction(r));
  }
  SLUICE_ASSIGN_OR_RETURN(change.new_tuple, ReadTuple(r, "new_tuple"));
  if ((flags & kFlagOldTuple) != 0) {
    SLUICE_ASSIGN_OR_RETURN(Tuple old_tuple, ReadTuple(r, "old_tuple"));
    change.old_tuple = std::move(old_tuple);
  }
  SLUICE_RETURN_IF_ERROR(r.ExpectEnd({"end"}));
  return change;
}

}  // namespace sluice::model
