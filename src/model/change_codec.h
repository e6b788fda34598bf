// Change codec: a compact, versioned binary form of a decoded Change, for the
// local message store (SPEC §4).
//
// Why not store the message JSON: functions and encoding run at every
// delivery attempt, so a changed config applies to messages already waiting.
// The store therefore keeps the change as decoded from the WAL, together with
// the relation snapshot it was decoded with (the table may have changed
// since, or sluice restarted and lost its relation cache).
//
// Format (version 2). varint = unsigned LEB128, shortest form only;
// zigzag = signed varint (ZigZag); string = varint byte length + bytes.
//
//   u8      format version (2)
//   u8      flags: bit0 relation present, bit1 transaction present,
//                  bit2 old tuple present, bit3 old_is_full_row; others 0
//   u8      action: 'I' insert, 'U' update, 'D' delete, 'R' read, 'T' truncate
//   varint  commit_idx
//   varint  backfill_id (version 2 only; version 1 has none: 0)
//   [relation]     varint block length, then the block:
//                    varint oid, string schema, string name,
//                    u8 replica identity ('d' 'n' 'f' 'i'),
//                    varint column count, per column: string name,
//                      varint type oid, zigzag typmod, u8 flags (bit0 is_key),
//                    varint key count, per key: varint column index
//   [transaction]  varint commit_lsn, zigzag commit_time_us, varint xid,
//                  string annotations
//   tuple          new tuple
//   [tuple]        old tuple
//
//   tuple = varint field count, varint total text bytes, per field:
//           u8 kind ('n' NULL, 'u' unchanged TOAST, 't' text), for 't' a string
//
// EncodeChange writes version 2; DecodeChange reads versions 1 and 2 (a store
// written by an older build). The encoding is canonical: every Change has
// exactly one version-2 encoding and decoding rejects any other byte string
// (overlong varints, unknown flag bits, trailing bytes), so
// EncodeChange(DecodeChange(b)) == b whenever decoding a version-2 b
// succeeds; a version-1 b re-encodes as version 2. A future format bumps the
// version byte; DecodeChange rejects versions it does not know.
//
// All functions are pure and thread-safe; RelationCache is not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "base/result.h"
#include "model/change.h"

namespace sluice::model {

// The version EncodeChange writes, and the oldest DecodeChange still reads.
inline constexpr uint8_t kChangeCodecVersion = 2;
inline constexpr uint8_t kOldestChangeCodecVersion = 1;

// Appends the encoding of `change` to `out`. Precondition (which the source
// guarantees): every Relation::primary_key index is within
// Relation::columns; otherwise the bytes are rejected by DecodeChange.
void EncodeChange(const Change& change, std::string* out);
std::string EncodeChange(const Change& change);

// Interns decoded relation snapshots so that the many stored changes of one
// table share one Relation instead of holding a copy each. Entries are keyed
// by the exact encoded snapshot (which starts with the table's oid), so two
// snapshots share an entry only when every field is equal. When it holds
// `max_entries` snapshots and a new one arrives, it is emptied first
// (relations already handed out stay alive through their shared_ptrs).
class RelationCache {
 public:
  explicit RelationCache(size_t max_entries = 256) : max_entries_(max_entries) {}

  size_t size() const { return entries_.size(); }
  void Clear() { entries_.clear(); }

 private:
  friend Result<Change> DecodeChange(std::string_view bytes, RelationCache* cache);

  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };

  size_t max_entries_;
  std::unordered_map<std::string, std::shared_ptr<const Relation>, Hash, std::equal_to<>> entries_;
};

// Decodes bytes written by EncodeChange. Every length and count is checked
// against the remaining input before anything is read or allocated. Corrupt
// or truncated input, an unknown version, action, kind or replica identity,
// a key index outside the columns and trailing bytes yield an Error with code
// kInvalidArgument whose message names the field and byte offset.
//
// Without a cache the change gets fresh Relation and TransactionInfo objects
// (callers may intern them); with one, its relation is shared with earlier
// changes decoded through the same cache that carried the same snapshot.
Result<Change> DecodeChange(std::string_view bytes, RelationCache* cache);
inline Result<Change> DecodeChange(std::string_view bytes) { return DecodeChange(bytes, nullptr); }

}  // namespace sluice::model
