// pgoutput decoder: one logical replication message (the payload of an
// XLogData frame) → a typed value. Pure: no libpq, no state, no I/O.
//
// Covers protocol version 1 as sent by PostgreSQL's pgoutput plugin with
// `proto_version '1'` and `messages 'true'`: Begin, Commit, Origin, Relation,
// Type, Insert, Update, Delete, Truncate and logical decoding Message.
// Column values must be in text form ('t'); binary values ('b') are rejected
// because sluice never requests `binary 'true'`.
//
// Every malformed input yields an Error (code kProtocol) naming the message
// type, the field and the byte offset; the decoder never reads out of bounds.
// Which relation an OID refers to is not checked here (see ChangeAssembler).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/lsn.h"
#include "base/result.h"
#include "model/change.h"
#include "model/relation.h"

namespace sluice::source::pgoutput {

// Postgres timestamps count microseconds from 2000-01-01 00:00:00 UTC.
// Conversions saturate at the int64 range (Postgres's +/-infinity), so a
// hostile value never overflows.
inline constexpr int64_t kPostgresEpochUnixMicros = 946'684'800'000'000;
constexpr int64_t PostgresToUnixMicros(int64_t pg_micros) {
  if (pg_micros > INT64_MAX - kPostgresEpochUnixMicros) return INT64_MAX;
  return pg_micros + kPostgresEpochUnixMicros;
}
constexpr int64_t UnixToPostgresMicros(int64_t unix_micros) {
  if (unix_micros < INT64_MIN + kPostgresEpochUnixMicros) return INT64_MIN;
  return unix_micros - kPostgresEpochUnixMicros;
}

struct BeginMessage {
  Lsn final_lsn;               // LSN of the transaction's commit record
  int64_t commit_time_us = 0;  // Unix microseconds
  uint32_t xid = 0;
};

struct CommitMessage {
  uint8_t flags = 0;           // unused by the protocol, always 0
  Lsn commit_lsn;              // LSN of the commit record (== Begin's final_lsn)
  Lsn end_lsn;                 // LSN just past the commit record
  int64_t commit_time_us = 0;  // Unix microseconds
};

struct OriginMessage {
  Lsn commit_lsn;
  std::string name;
};

struct RelationMessage {
  model::Relation relation;
};

struct TypeMessage {
  uint32_t oid = 0;
  std::string schema;
  std::string name;
};

// Which old row image an Update or Delete carries.
enum class OldTuple : uint8_t {
  kNone,     // update without old tuple (key unchanged, REPLICA IDENTITY DEFAULT/INDEX)
  kKey,      // 'K': replica identity key columns; the other columns are null
  kFullRow,  // 'O': the whole old row (REPLICA IDENTITY FULL)
};

struct InsertMessage {
  uint32_t relation_oid = 0;
  model::Tuple new_tuple;
};

struct UpdateMessage {
  uint32_t relation_oid = 0;
  OldTuple old_kind = OldTuple::kNone;
  std::optional<model::Tuple> old_tuple;  // set iff old_kind != kNone
  model::Tuple new_tuple;
};

struct DeleteMessage {
  uint32_t relation_oid = 0;
  OldTuple old_kind = OldTuple::kKey;  // kKey or kFullRow
  model::Tuple old_tuple;
};

struct TruncateMessage {
  static constexpr uint8_t kCascade = 1;
  static constexpr uint8_t kRestartIdentity = 2;

  uint8_t options = 0;
  std::vector<uint32_t> relation_oids;

  bool cascade() const { return (options & kCascade) != 0; }
  bool restart_identity() const { return (options & kRestartIdentity) != 0; }
};

// pg_logical_emit_message(transactional, prefix, content).
struct LogicalMessage {
  bool transactional = false;
  Lsn lsn;
  std::string prefix;
  std::string content;  // arbitrary bytes
};

using Message =
    std::variant<BeginMessage, CommitMessage, OriginMessage, RelationMessage, TypeMessage,
                 InsertMessage, UpdateMessage, DeleteMessage, TruncateMessage, LogicalMessage>;

// Decodes one pgoutput message. `payload` starts with the message type byte.
Result<Message> Decode(std::string_view payload);

// "Begin", "Insert", ... for a type byte; "unknown" otherwise.
const char* MessageTypeName(char type);

}  // namespace sluice::source::pgoutput
