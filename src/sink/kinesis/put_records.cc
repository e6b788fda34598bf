#include "sink/kinesis/put_records.h"

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

std::string PutRecordsBuilder::Finish() {
  body_.append("]}");
  return std::move(body_);
}

}  // namespace sluice::kinesis
