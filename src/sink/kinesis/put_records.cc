#include "sink/kinesis/put_records.h"

#include <algorithm>

#include "base/encoding.h"
#include "base/json_text.h"
#include "sink/kinesis/limits.h"

namespace sluice::kinesis {
PutRecordsBuilder::PutRecordsBuilder(const config::StreamArn& stream) {
  body_.append("{\"StreamName\":");
  AppendJsonString(stream.stream_name, &body_);
  body_.append(",\"StreamARN\":");
  AppendJsonString(stream.arn, &body_);
  body_.append(",\"Records\":[");
}

bool PutRecordsBuilder::Fits(size_t record_bytes) const {
  return count_ < kMaxRecordsPerPutRecords && payload_bytes_ <= kMaxPutRecordsRequestBytes &&
         record_bytes <= kMaxPutRecordsRequestBytes - payload_bytes_;
}

void PutRecordsBuilder::Add(std::string_view data, std::string_view partition_key) {
  if (count_ > 0) body_.push_back(',');
  body_.append("{\"Data\":\"");
  Base64Append(data, &body_);
  body_.append("\",\"PartitionKey\":");
  AppendJsonString(partition_key, &body_);
  body_.push_back('}');
  ++count_;
  payload_bytes_ += RecordBytes(data, partition_key);
}

void PutRecordsBuilder::Reserve(size_t records, std::string_view data,
                                std::string_view partition_key) {
  // {"Data":"<base64>","PartitionKey":"<key>"}, plus a margin for escapes.
  const size_t per_record = (data.size() + 2) / 3 * 4 + partition_key.size() + 48;
  const size_t cap = kMaxPutRecordsRequestBytes / 3 * 4 + 64 * 1024;
  body_.reserve(body_.size() + std::min(records * per_record, cap) + 2);
}

std::string PutRecordsBuilder::Finish() {
  body_.append("]}");
  return std::move(body_);
}

}  // namespace sluice::kinesis
