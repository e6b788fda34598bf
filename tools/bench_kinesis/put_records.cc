#include "bench_kinesis/put_records.h"

#include <rapidjson/reader.h>

#include <array>
#include <charconv>
#include <chrono>
#include <cstring>

namespace bench_kinesis {
namespace {

// ---------------------------------------------------------------- base64

constexpr uint8_t kInvalid = 0xff;

constexpr std::array<uint8_t, 256> MakeDecodeTable() {
  std::array<uint8_t, 256> table{};
  for (auto& entry : table) entry = kInvalid;
  const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (uint8_t i = 0; i < 64; ++i) table[static_cast<unsigned char>(alphabet[i])] = i;
  return table;
}
constexpr std::array<uint8_t, 256> kDecode = MakeDecodeTable();

// Branch-free so that the validity loop vectorizes.
inline bool IsBase64Char(unsigned char c) {
  return (static_cast<unsigned char>(c - 'A') < 26) | (static_cast<unsigned char>(c - 'a') < 26) |
         (static_cast<unsigned char>(c - '0') < 10) | (c == '+') | (c == '/');
}

size_t PaddingOf(std::string_view text) {
  if (text.empty() || text.back() != '=') return 0;
  return text.size() >= 2 && text[text.size() - 2] == '=' ? 2 : 1;
}

// ---------------------------------------------------------------- messages

std::string Validation(std::string message) { return "1 validation error detected: " + message; }

ApiError ValidationError(std::string message) {
  return ApiError{"ValidationException", Validation(std::move(message))};
}

std::string MemberPath(size_t index, const char* field) {
  return "'records." + std::to_string(index + 1) + ".member." + field + "'";
}

size_t Utf8Chars(std::string_view text) {
  size_t chars = 0;
  for (unsigned char c : text) chars += (c & 0xC0) != 0x80;
  return chars;
}

// ---------------------------------------------------------------- SAX handler

// Collects Records[*].Data and Records[*].PartitionKey as views into the
// in-situ parsed body. Everything else is skipped by depth. A value of the
// wrong JSON type for those fields stops the parse with a SerializationException
// (what the service answers for a body that does not deserialize).
class PutRecordsHandler
    : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, PutRecordsHandler> {
 public:
  explicit PutRecordsHandler(std::vector<RecordView>* records) : records_(records) {}

  bool saw_records() const { return saw_records_; }
  const std::optional<ApiError>& error() const { return error_; }
  const std::vector<bool>& has_data() const { return has_data_; }
  const std::vector<bool>& has_key() const { return has_key_; }

  bool Default() { return Scalar("a number, boolean or null"); }
  bool Null() { return Scalar(nullptr); }
  bool String(const char* text, rapidjson::SizeType length, bool /*copy*/) {
    if (depth_ == 3 && in_records_) {
      if (field_ == Field::kData) {
        records_->back().data_base64 = std::string_view(text, length);
        has_data_.back() = true;
      } else if (field_ == Field::kPartitionKey) {
        records_->back().partition_key = std::string_view(text, length);
        has_key_.back() = true;
      }
      return true;
    }
    return Scalar("a string");
  }
  bool Key(const char* text, rapidjson::SizeType length, bool /*copy*/) {
    const std::string_view key(text, length);
    if (depth_ == 1) {
      top_is_records_ = key == "Records";
    } else if (depth_ == 3 && in_records_) {
      field_ = key == "Data" ? Field::kData
                             : (key == "PartitionKey" ? Field::kPartitionKey : Field::kOther);
    }
    return true;
  }
  bool StartObject() {
    if (depth_ == 0) {
      depth_ = 1;
      return true;
    }
    if (!Container("an object")) return false;
    if (depth_ == 2 && in_records_) {
      records_->emplace_back();
      has_data_.push_back(false);
      has_key_.push_back(false);
      field_ = Field::kOther;
    }
    ++depth_;
    return true;
  }
  bool EndObject(rapidjson::SizeType) {
    --depth_;
    return true;
  }
  bool StartArray() {
    if (depth_ == 0) return Fail("the request body is not a JSON object");
    if (depth_ == 1 && top_is_records_) {
      in_records_ = true;
      saw_records_ = true;
    } else if (!Container("an array")) {
      return false;
    }
    ++depth_;
    return true;
  }
  bool EndArray(rapidjson::SizeType) {
    --depth_;
    if (depth_ == 1) in_records_ = false;
    return true;
  }

 private:
  enum class Field { kOther, kData, kPartitionKey };

  // A scalar where a container or a string belongs.
  bool Scalar(const char* what) {
    if (depth_ == 0) return Fail("the request body is not a JSON object");
    if (depth_ == 1 && top_is_records_) {
      if (what == nullptr) return true;  // "Records": null reads as absent
      return Fail(std::string("Records is ") + what + ", not an array");
    }
    if (depth_ == 2 && in_records_) return Fail(NextRecordWhere() + " is not an object");
    if (depth_ == 3 && in_records_ && field_ != Field::kOther) {
      if (what == nullptr) return true;  // null reads as absent
      return Fail(RecordWhere() + "." + FieldName() + " is " + what + ", not a string");
    }
    return true;
  }
  // A nested container: wrong where Records, a record or one of its fields is.
  bool Container(const char* what) {
    if (depth_ == 1 && top_is_records_) return Fail(std::string("Records is ") + what);
    if (depth_ == 2 && in_records_ && std::string_view(what) != "an object") {
      return Fail(NextRecordWhere() + " is not an object");
    }
    if (depth_ == 3 && in_records_ && field_ != Field::kOther) {
      return Fail(RecordWhere() + "." + FieldName() + " is " + what + ", not a string");
    }
    return true;
  }
  // The record being read (depth 3) and the element about to be (depth 2).
  std::string RecordWhere() const {
    return "Records[" + std::to_string(records_->size() - 1) + "]";
  }
  std::string NextRecordWhere() const {
    return "Records[" + std::to_string(records_->size()) + "]";
  }
  const char* FieldName() const { return field_ == Field::kData ? "Data" : "PartitionKey"; }
  bool Fail(std::string message) {
    error_ = ApiError{"SerializationException", std::move(message)};
    return false;
  }

  std::vector<RecordView>* records_;
  std::vector<bool> has_data_;
  std::vector<bool> has_key_;
  int depth_ = 0;  // 1 inside the root object, 2 in Records, 3 in a record
  bool top_is_records_ = false;
  bool in_records_ = false;
  bool saw_records_ = false;
  Field field_ = Field::kOther;
  std::optional<ApiError> error_;
};

// ---------------------------------------------------------------- commit info

// The offset just past the last occurrence of `key` and any blanks after it,
// or npos. Searched backwards: sluice's metadata, where the keys are, comes
// last. Each position costs one 4-byte compare (the key's last 4 bytes, e.g.
// `mp":`) until one matches; memmem and string_view::find cost more on
// JSON, which has a '"' every few bytes.
size_t FindLastValue(std::string_view json, std::string_view key) {
  if (key.size() < 4 || json.size() < key.size()) return std::string_view::npos;
  uint32_t tail;
  std::memcpy(&tail, key.data() + key.size() - 4, 4);
  for (size_t at = json.size() - key.size() + 1; at-- > 0;) {
    uint32_t word;
    std::memcpy(&word, json.data() + at + key.size() - 4, 4);
    if (word != tail || std::memcmp(json.data() + at, key.data(), key.size() - 4) != 0) continue;
    size_t value = at + key.size();
    while (value < json.size() && (json[value] == ' ' || json[value] == '\t')) ++value;
    return value;
  }
  return std::string_view::npos;
}

template <typename T>
std::optional<T> ParseNumberAt(std::string_view json, size_t at) {
  if (at == std::string_view::npos || at >= json.size()) return std::nullopt;
  T value{};
  const char* end = json.data() + json.size();
  auto [ptr, ec] = std::from_chars(json.data() + at, end, value);
  if (ec != std::errc() || ptr == json.data() + at) return std::nullopt;
  return value;
}

bool TwoDigits(std::string_view text, size_t at, int* out) {
  const unsigned a = static_cast<unsigned char>(text[at]) - '0';
  const unsigned b = static_cast<unsigned char>(text[at + 1]) - '0';
  if (a > 9 || b > 9) return false;
  *out = static_cast<int>(a * 10 + b);
  return true;
}

}  // namespace

// ---------------------------------------------------------------- public

std::optional<size_t> Base64DecodedSize(std::string_view text, size_t* bad_offset) {
  if (text.size() % 4 != 0) {
    *bad_offset = text.size();
    return std::nullopt;
  }
  const size_t padding = PaddingOf(text);
  const size_t body = text.size() - padding;
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  unsigned bad = 0;
  for (size_t i = 0; i < body; ++i) bad |= !IsBase64Char(bytes[i]);
  if (bad != 0) {
    size_t i = 0;
    while (IsBase64Char(bytes[i])) ++i;
    *bad_offset = i;
    return std::nullopt;
  }
  return text.size() / 4 * 3 - padding;
}

void Base64Decode(std::string_view text, std::string* out) {
  const size_t padding = PaddingOf(text);
  out->resize(text.size() / 4 * 3);
  const auto* in = reinterpret_cast<const unsigned char*>(text.data());
  auto* dst = reinterpret_cast<unsigned char*>(out->data());
  const size_t groups = text.size() / 4;
  for (size_t g = 0; g < groups; ++g, in += 4, dst += 3) {
    // '=' decodes as 0 here; the padding bytes are cut off below.
    const uint32_t a = kDecode[in[0]] & 0x3f, b = kDecode[in[1]] & 0x3f, c = kDecode[in[2]] & 0x3f,
                   d = kDecode[in[3]] & 0x3f;
    const uint32_t word = a << 18 | b << 12 | c << 6 | d;
    dst[0] = static_cast<unsigned char>(word >> 16);
    dst[1] = static_cast<unsigned char>(word >> 8);
    dst[2] = static_cast<unsigned char>(word);
  }
  out->resize(out->size() - padding);
}

std::optional<int64_t> ParseIsoTimestampUs(std::string_view text) {
  // YYYY-MM-DDTHH:MM:SS[.f...]Z
  if (text.size() < 20 || text[4] != '-' || text[7] != '-' ||
      (text[10] != 'T' && text[10] != ' ') || text[13] != ':' || text[16] != ':' ||
      text.back() != 'Z') {
    return std::nullopt;
  }
  int century = 0, year2 = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!TwoDigits(text, 0, &century) || !TwoDigits(text, 2, &year2) || !TwoDigits(text, 5, &month) ||
      !TwoDigits(text, 8, &day) || !TwoDigits(text, 11, &hour) || !TwoDigits(text, 14, &minute) ||
      !TwoDigits(text, 17, &second)) {
    return std::nullopt;
  }
  const std::chrono::year_month_day date{std::chrono::year(century * 100 + year2),
                                         std::chrono::month(static_cast<unsigned>(month)),
                                         std::chrono::day(static_cast<unsigned>(day))};
  if (!date.ok() || hour > 23 || minute > 59 || second > 60) return std::nullopt;
  int64_t micros = 0;
  const size_t end = text.size() - 1;  // the 'Z'
  if (end > 19) {
    if (text[19] != '.' || end == 20) return std::nullopt;
    int64_t scale = 100000;
    for (size_t i = 20; i < end; ++i) {
      const unsigned digit = static_cast<unsigned char>(text[i]) - '0';
      if (digit > 9) return std::nullopt;
      micros += digit * scale;
      scale /= 10;
    }
  }
  const int64_t days = std::chrono::sys_days(date).time_since_epoch().count();
  const int64_t seconds = days * 86400 + hour * 3600 + minute * 60 + second;
  return seconds * 1000000 + micros;
}

CommitInfo ScanCommitInfo(std::string_view json) {
  constexpr std::string_view kLsnKey = "\"commit_lsn\":";
  constexpr std::string_view kIdxKey = "\"commit_idx\":";
  CommitInfo info;
  // Where the timestamp's value ends: sluice writes ,"commit_lsn":N,"commit_idx":N there.
  size_t after = std::string_view::npos;
  const size_t ts = FindLastValue(json, "\"commit_timestamp\":");
  if (ts != std::string_view::npos && ts < json.size()) {
    if (json[ts] == '"') {
      const size_t close = json.find('"', ts + 1);
      if (close != std::string_view::npos) {
        info.commit_unix_us = ParseIsoTimestampUs(json.substr(ts + 1, close - ts - 1));
        after = close + 1;
      }
    } else {
      int64_t value = 0;
      auto [ptr, ec] = std::from_chars(json.data() + ts, json.data() + json.size(), value);
      if (ec == std::errc()) {
        info.commit_unix_us = value;
        after = static_cast<size_t>(ptr - json.data());
      }
    }
  }
  // Fast path: the position right after the timestamp, as sluice writes it.
  if (after != std::string_view::npos &&
      json.substr(after, 1 + kLsnKey.size()) == ",\"commit_lsn\":") {
    const char* end = json.data() + json.size();
    auto lsn = std::from_chars(json.data() + after + 1 + kLsnKey.size(), end, info.commit_lsn);
    if (lsn.ec == std::errc() && std::string_view(lsn.ptr, static_cast<size_t>(end - lsn.ptr))
                                         .substr(0, 1 + kIdxKey.size()) == ",\"commit_idx\":") {
      auto idx = std::from_chars(lsn.ptr + 1 + kIdxKey.size(), end, info.commit_idx);
      if (idx.ec == std::errc()) {
        info.has_position = true;
        return info;
      }
    }
  }
  // Anywhere else (a transform reordered the keys).
  const auto lsn = ParseNumberAt<uint64_t>(json, FindLastValue(json, kLsnKey));
  const auto idx = ParseNumberAt<uint32_t>(json, FindLastValue(json, kIdxKey));
  info.has_position = lsn && idx;
  info.commit_lsn = lsn.value_or(0);
  info.commit_idx = idx.value_or(0);
  return info;
}

CommitInfo ReadCommitInfo(std::string_view data_base64, std::string* scratch) {
  if (data_base64.size() > kTailChars) {
    Base64Decode(data_base64.substr(data_base64.size() - kTailChars), scratch);
    CommitInfo tail = ScanCommitInfo(*scratch);
    if (tail.commit_unix_us && tail.has_position) return tail;
  }
  Base64Decode(data_base64, scratch);
  return ScanCommitInfo(*scratch);
}

std::optional<ApiError> ParsePutRecords(char* body, size_t size, size_t max_request_bytes,
                                        std::vector<RecordView>* records) {
  records->clear();
  PutRecordsHandler handler(records);
  rapidjson::Reader reader;
  rapidjson::InsituStringStream stream(body);
  const rapidjson::ParseResult parsed = reader.Parse<rapidjson::kParseInsituFlag>(stream, handler);
  if (handler.error()) return handler.error();
  if (parsed.IsError()) {
    return ApiError{"SerializationException", "the request body is not valid JSON (at byte " +
                                                  std::to_string(parsed.Offset()) + ")"};
  }
  if (stream.Tell() != size) {
    return ApiError{"SerializationException",
                    "the request body has a NUL byte at " + std::to_string(stream.Tell())};
  }
  if (!handler.saw_records()) {
    return ValidationError(
        "Value null at 'records' failed to satisfy constraint: "
        "Member must not be null");
  }
  if (records->size() > kMaxRecordsPerRequest) {
    return ValidationError(
        "Value at 'records' failed to satisfy constraint: Member must have "
        "length less than or equal to " +
        std::to_string(kMaxRecordsPerRequest) + " (the request has " +
        std::to_string(records->size()) + " records)");
  }
  if (records->empty()) {
    return ValidationError(
        "Value at 'records' failed to satisfy constraint: Member must have "
        "length greater than or equal to 1");
  }
  size_t request_bytes = 0;
  for (size_t i = 0; i < records->size(); ++i) {
    RecordView& record = (*records)[i];
    if (!handler.has_data()[i]) {
      return ValidationError("Value null at " + MemberPath(i, "data") +
                             " failed to satisfy constraint: Member must not be null");
    }
    if (!handler.has_key()[i]) {
      return ValidationError("Value null at " + MemberPath(i, "partitionKey") +
                             " failed to satisfy constraint: Member must not be null");
    }
    const size_t key_chars = Utf8Chars(record.partition_key);
    if (key_chars < 1) {
      return ValidationError("Value '' at " + MemberPath(i, "partitionKey") +
                             " failed to satisfy constraint: Member must have length greater "
                             "than or equal to 1");
    }
    if (key_chars > kMaxPartitionKeyChars) {
      return ValidationError("Value at " + MemberPath(i, "partitionKey") +
                             " failed to satisfy constraint: Member must have length less than "
                             "or equal to " +
                             std::to_string(kMaxPartitionKeyChars) + " (it has " +
                             std::to_string(key_chars) + " characters)");
    }
    size_t bad_offset = 0;
    const std::optional<size_t> decoded = Base64DecodedSize(record.data_base64, &bad_offset);
    if (!decoded) {
      return ValidationError("Value at " + MemberPath(i, "data") + " is not valid base64 (" +
                             (bad_offset == record.data_base64.size()
                                  ? "its length " + std::to_string(record.data_base64.size()) +
                                        " is not a multiple of 4"
                                  : "bad character at offset " + std::to_string(bad_offset)) +
                             ")");
    }
    record.data_bytes = *decoded;
    const size_t record_bytes = *decoded + record.partition_key.size();
    if (record_bytes > kMaxRecordBytes) {
      return ValidationError("Value at " + MemberPath(i, "data") +
                             " failed to satisfy constraint: the record (data " +
                             std::to_string(*decoded) + " bytes + partition key " +
                             std::to_string(record.partition_key.size()) +
                             " bytes) exceeds the 1 MiB record size limit of " +
                             std::to_string(kMaxRecordBytes) + " bytes");
    }
    request_bytes += record_bytes;
  }
  if (request_bytes > max_request_bytes) {
    return ValidationError(
        "Value at 'records' failed to satisfy constraint: the request's data "
        "and partition keys (" +
        std::to_string(request_bytes) + " bytes) exceed the " +
        std::to_string(max_request_bytes / (1024 * 1024)) + " MiB request size limit of " +
        std::to_string(max_request_bytes) + " bytes");
  }
  return std::nullopt;
}

}  // namespace bench_kinesis
