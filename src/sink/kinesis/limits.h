// Kinesis Data Streams service limits, each from the AWS documentation
// ("Quotas and limits",
// https://docs.aws.amazon.com/streams/latest/dev/service-sizes-and-limits.html, and the PutRecords
// API reference).
#pragma once

#include <cstddef>

namespace sluice::kinesis {

// PutRecords: "Each PutRecords request can support up to 500 records."
inline constexpr size_t kMaxRecordsPerPutRecords = 500;
// PutRecords: request size limit including partition keys (SPEC §4: 10 MiB).
inline constexpr size_t kMaxPutRecordsRequestBytes = 10 * 1024 * 1024;
// Default maximum record size (data blob + partition key) when the stream
// does not report MaxRecordSizeInKiB: 1 MiB.
inline constexpr size_t kDefaultMaxRecordBytes = 1024 * 1024;
// The partition key limit (256) is model::kMaxPartitionKeyBytes in
// model/encoder.h: the encoder derives partition keys, and model may not
// depend on sink/.

}  // namespace sluice::kinesis
