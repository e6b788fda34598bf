// The PutRecords request as bench_kinesis reads it: a SAX pass over the body
// (no DOM), the AWS limits checked on it, and the commit metadata that sluice
// writes into each record's data found without decoding more than needed.
//
// Why not decode everything: the endpoint must cost little CPU next to sluice.
// The decoded size of a base64 string follows from its length, so only the
// validity of its characters needs a pass over it; the commit metadata sits at
// the end of sluice's message JSON, so only the last kTailChars characters are
// decoded first, and the whole data only when the tail does not hold it (a
// transform may have reordered the keys).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bench_kinesis {

// Kinesis Data Streams limits, from the PutRecords API reference
// (https://docs.aws.amazon.com/kinesis/latest/APIReference/API_PutRecords.html)
// and "Quotas and limits"
// (https://docs.aws.amazon.com/streams/latest/dev/service-sizes-and-limits.html).
//
// "Each PutRecords request can support up to 500 records."
inline constexpr size_t kMaxRecordsPerRequest = 500;
// "Each record in the request can be as large as 1 MiB" (data blob + partition
// key; the default when a stream sets no MaxRecordSizeInKiB).
inline constexpr size_t kMaxRecordBytes = 1024 * 1024;
// The request limit including partition keys: 10 MiB, as SPEC §4 (AWS
// documented 5 MiB before; --max-request-mib 5 checks that). These limits are
// written here from the documentation, not taken from sluice's
// sink/kinesis/limits.h, so that a wrong limit in sluice shows up as a
// rejected request instead of being agreed with.
inline constexpr size_t kDefaultMaxRequestBytes = 10 * 1024 * 1024;
// PartitionKey: "Length Constraints: Minimum length of 1. Maximum length of 256."
// (Unicode characters.)
inline constexpr size_t kMaxPartitionKeyChars = 256;

// How many base64 characters from the end of a record's data are decoded
// first to find the commit metadata (a multiple of 4: 384 decoded bytes).
inline constexpr size_t kTailChars = 512;

// One record of a parsed request. The views point into the request body.
struct RecordView {
  std::string_view data_base64;
  std::string_view partition_key;
  size_t data_bytes = 0;  // decoded size
};

// A request Kinesis would refuse: the exception name (the "__type") and a
// message naming the violated limit.
struct ApiError {
  std::string type;
  std::string message;
};

// Parses a PutRecords body in place and checks the limits: 1 to
// kMaxRecordsPerRequest records; each with a base64 Data and a PartitionKey of
// 1 to kMaxPartitionKeyChars characters; decoded data + partition key of each
// record at most kMaxRecordBytes; the sum over the request at most
// `max_request_bytes`. `body[size]` must be '\0' (the parser stops there);
// the body's JSON escapes are undone in place, and `records` views into it.
std::optional<ApiError> ParsePutRecords(char* body, size_t size, size_t max_request_bytes,
                                        std::vector<RecordView>* records);

// Base64 (RFC 4648 §4, padded, the encoding the AWS SDKs send). Returns the
// decoded size, or nullopt when `text` is not valid base64; then
// `*bad_offset` is the offset of the first offending character (text.size()
// when only the length is wrong).
std::optional<size_t> Base64DecodedSize(std::string_view text, size_t* bad_offset);
// Decodes valid base64 (Base64DecodedSize said so) into `out`, replacing it.
void Base64Decode(std::string_view text, std::string* out);

// What a record's data says about its commit, read by a string search (no
// JSON parse): "commit_timestamp":"<ISO-8601>Z" (or a number of Unix
// microseconds, sluice's unix_microsecond timestamp style), "commit_lsn":N and
// "commit_idx":N. The last occurrence wins: sluice's metadata object follows
// the record's columns, which may have the same names.
struct CommitInfo {
  std::optional<int64_t> commit_unix_us;
  bool has_position = false;
  uint64_t commit_lsn = 0;
  uint32_t commit_idx = 0;
};
CommitInfo ScanCommitInfo(std::string_view json);

// ScanCommitInfo on the record's data: on the decoded tail first, on the whole
// decoded data when the tail lacks the timestamp or the position. `scratch` is
// reused between calls to save allocations. `data_base64` must be valid.
CommitInfo ReadCommitInfo(std::string_view data_base64, std::string* scratch);

// "2026-11-27T10:00:00.123456Z" (any number of fraction digits, or none) →
// microseconds since the Unix epoch; nullopt for anything else.
std::optional<int64_t> ParseIsoTimestampUs(std::string_view text);

}  // namespace bench_kinesis
