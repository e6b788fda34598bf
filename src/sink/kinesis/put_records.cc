#include "sink/kinesis/put_records.h"

#include "base/encoding.h"
#include "sink/kinesis/limits.h"

namespace sluice::kinesis {
namespace {

constexpr std::string_view kReplacementCharacter = "\xEF\xBF\xBD";  // U+FFFD

bool IsContinuation(unsigned char c) { return (c & 0xC0) == 0x80; }

// Length of the well-formed UTF-8 sequence starting at text[i] (RFC 3629:
// no overlongs, no surrogates, nothing above U+10FFFF), or 0 if there is none.
size_t Utf8SequenceLength(std::string_view text, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char c = byte(i);
  const size_t left = text.size() - i;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return left >= 2 && IsContinuation(byte(i + 1)) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (left < 3 || !IsContinuation(byte(i + 1)) || !IsContinuation(byte(i + 2))) return 0;
    if (c == 0xE0 && byte(i + 1) < 0xA0) return 0;   // overlong
    if (c == 0xED && byte(i + 1) >= 0xA0) return 0;  // UTF-16 surrogate
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (left < 4 || !IsContinuation(byte(i + 1)) || !IsContinuation(byte(i + 2)) ||
        !IsContinuation(byte(i + 3)))
      return 0;
    if (c == 0xF0 && byte(i + 1) < 0x90) return 0;   // overlong
    if (c == 0xF4 && byte(i + 1) >= 0x90) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}

}  // namespace

void AppendJsonString(std::string_view text, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80) {
      const size_t n = Utf8SequenceLength(text, i);
      if (n == 0) {
        out->append(kReplacementCharacter);
        ++i;
      } else {
        out->append(text.substr(i, n));
        i += n;
      }
      continue;
    }
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\b': out->append("\\b"); break;
      case '\f': out->append("\\f"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default:
        if (c < 0x20) {
          out->append("\\u00");
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 0xF]);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
    ++i;
  }
  out->push_back('"');
}

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
