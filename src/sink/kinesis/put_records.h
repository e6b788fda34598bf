// PutRecordsBuilder: writes a PutRecords JSON body record by record, with the
// size accounting Kinesis applies, so no intermediate DOM is built and each
// message's bytes are copied once (as base64) into the body.
//
// Body: {"StreamName":"…","StreamARN":"…","Records":[{"Data":"<base64>",
// "PartitionKey":"…"},…]} — StreamName too because older emulators need it.
// Not thread-safe; one builder per request.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "config/settings.h"

namespace sluice::kinesis {

class PutRecordsBuilder {
 public:
  explicit PutRecordsBuilder(const config::StreamArn& stream);

  // Kinesis counts Data (before base64) plus PartitionKey bytes.
  static size_t RecordBytes(std::string_view data, std::string_view partition_key) {
    return data.size() + partition_key.size();
  }

  // True if one more record of `record_bytes` (RecordBytes()) still fits the
  // request limits: kMaxRecordsPerPutRecords records and
  // kMaxPutRecordsRequestBytes of data + partition keys (limits.h).
  bool Fits(size_t record_bytes) const;
  // Appends a record; the caller checked Fits(). The partition key is
  // JSON-escaped; bytes that are not valid UTF-8 are sent as U+FFFD (JSON
  // cannot carry them), which keeps equal keys equal.
  void Add(std::string_view data, std::string_view partition_key);
  // Makes room for `records` more records like (data, partition_key) in one
  // allocation: a body grown by doubling copies itself and, past the
  // allocator's mmap threshold, faults in fresh pages at every step.
  void Reserve(size_t records, std::string_view data, std::string_view partition_key);

  size_t record_count() const { return count_; }
  size_t payload_bytes() const { return payload_bytes_; }
  // Finishes the JSON and returns the body; the builder is then spent.
  std::string Finish();

 private:
  std::string body_;
  size_t count_ = 0;
  size_t payload_bytes_ = 0;
};

}  // namespace sluice::kinesis
