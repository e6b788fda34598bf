// Message encoding (SPEC §2): a Change becomes the JSON Data of one Kinesis
// record, and its group / partition key / idempotency key are derived here.
//
// The encoder appends straight into a caller-owned string: no DOM, and column
// values are read in place from the Tuple buffer. Reusing one `out` string per
// thread makes encoding allocation-free. All functions are pure and
// thread-safe.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/change.h"

namespace sluice::model {

enum class TimestampStyle { kIso8601, kUnixMicrosecond };

// Kinesis partition keys are at most 256 (Unicode) characters; longer groups
// are hashed. Counted in bytes here, which is never more permissive.
// https://docs.aws.amazon.com/kinesis/latest/APIReference/API_PutRecordsRequestEntry.html
inline constexpr size_t kMaxPartitionKeyBytes = 256;

struct EncodeOptions {
  std::string database_name;
  std::string consumer_name;  // sink name
  TimestampStyle timestamp_style = TimestampStyle::kIso8601;
};

// Appends the message JSON of `change` to `out` (compact, keys in the order
// record, changes, action, metadata). Never fails: a value whose text does not
// parse as its type is emitted as a JSON string of the text.
//
//  - record: the new row (insert, update, read); the old row for delete,
//    where a key-only old tuple yields only the replica identity columns it
//    carries (Column::is_key), as Sequin does; `{}` if a delete carries no
//    old tuple; null for truncate. An unchanged TOAST value is taken from the
//    old row when it has it, else it is the string "unchanged_toast".
//  - changes: update only; with the old full row (REPLICA IDENTITY FULL) the
//    old values of the columns whose kind or text differ (unchanged TOAST
//    values count as unchanged), else `{}`. null for the other actions.
//  - metadata.record_pks: the primary key columns' values as strings in key
//    order (Relation::primary_key; `[]` when it is empty); a NULL value is
//    null.
//  - metadata.transaction_annotations: the annotation JSON embedded as is,
//    null when there is none, or a JSON string of the text when it is not
//    valid JSON (so a bad annotation never breaks the message).
//  - commit_timestamp: "2026-11-27T10:00:00.123456Z" (UTC), or with
//    kUnixMicrosecond an integer of microseconds since the Unix epoch.
void EncodeMessage(const Change& change, const EncodeOptions& options, std::string* out);

// Appends the JSON value of one column (type mapping of SPEC §2) to `out`.
// `text` is the Postgres text output under the replication session's
// settings (DateStyle=ISO, TimeZone=UTC, IntervalStyle=iso_8601,
// extra_float_digits=3, bytea_output=hex). NULL and unchanged TOAST values
// are the caller's business (EncodeMessage writes null / "unchanged_toast").
void EncodeValue(uint32_t type_oid, std::string_view text, std::string* out);

// base64("<commit_lsn>:<commit_idx>"), the LSN as a decimal number. A
// backfill read: base64("<backfill_id>:<record_pks joined by ','>"), or for a
// table without a primary key base64("<backfill_id>:<md5 hex of the row>"),
// the same for every read of that row in one backfill (docs/backfill.md).
std::string IdempotencyKey(const Change& change);

// Group of a change (SPEC §3): the values of `group_columns` (indexes into
// the relation's columns, in order), or with empty group_columns the primary
// key columns (Relation::primary_key, in key order; Column::is_key is not
// used to find them). Uses the new tuple, an unchanged TOAST value filled
// from the old row; else (delete) the old tuple.
//
// Encoding: the values' text joined by ":", with NULL as the empty string —
// exactly SPEC §3 and Sequin's partition keys ("7", "acme:42"). Distinct
// value lists can share a group (("a:b","c") and ("a","b:c"), or NULL and
// ''); that only orders their changes together, which costs parallelism,
// never order. A single empty value gives the group "" (not nullopt).
//
// Returns nullopt when the change has no group:
//  - truncate, no relation, or no tuple (a delete without old tuple);
//  - empty group_columns and an empty primary_key (the table is ungrouped);
//  - a value is not available: an index outside the relation or tuple, an
//    unchanged TOAST value the old row cannot supply, or a column that is not
//    a replica identity column (Column::is_key) when the tuple used is a
//    key-only old tuple (old_tuple, !old_is_full_row, no new tuple) — pgoutput
//    sends such columns as NULL there, but their value is unknown, not NULL.
std::optional<std::string> GroupKey(const Change& change, const std::vector<int>& group_columns);

// The Kinesis partition key for a group (always 1..kMaxPartitionKeyBytes
// bytes): the group itself, or its MD5 as 32 lowercase hex characters when it
// is empty (Kinesis rejects an empty partition key) or longer than
// kMaxPartitionKeyBytes. The partition key only picks the shard; different
// groups sharing one (a hashed and a literal) stay distinct groups.
std::string PartitionKeyForGroup(std::string group);

}  // namespace sluice::model
