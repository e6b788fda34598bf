// Message encoding (SPEC §2): a Change becomes the JSON Data of one Kinesis
// record, and its group / partition key / idempotency key are derived here.
//
// The encoder appends straight into a caller-owned string: no DOM, and column
// values are read in place from the Tuple buffer.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "model/change.h"

namespace sluice::model {

enum class TimestampStyle { kIso8601, kUnixMicrosecond };

struct EncodeOptions {
  std::string database_name;
  std::string consumer_name;  // sink name
  TimestampStyle timestamp_style = TimestampStyle::kIso8601;
};

// Appends the message JSON of `change` to `out`.
void EncodeMessage(const Change& change, const EncodeOptions& options, std::string* out);

// Appends the JSON value of one column (type mapping of SPEC §2) to `out`.
void EncodeValue(uint32_t type_oid, std::string_view text, std::string* out);

// base64("<commit_lsn>:<commit_idx>").
std::string IdempotencyKey(const Change& change);

// Group of a change: the values of `group_columns` (indexes into the
// relation's columns, in order) joined by ":". Uses the new tuple, else the
// old one (delete). Empty group_columns means "primary key columns".
// Returns empty when the change has no group (truncate, no key).
std::string GroupKey(const Change& change, const std::vector<int>& group_columns);

// The Kinesis partition key for a group: itself, or its MD5 as 32 lowercase
// hex characters when longer than 256 bytes.
std::string PartitionKeyForGroup(std::string group);

}  // namespace sluice::model
