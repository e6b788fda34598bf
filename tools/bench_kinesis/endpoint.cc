#include "bench_kinesis/endpoint.h"

#include <rapidjson/document.h>

#include <algorithm>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "base/json_text.h"

namespace bench_kinesis {
namespace {

using sluice::AppendJsonString;  // U+FFFD for bytes that are not UTF-8

constexpr std::string_view kTargetPrefix = "Kinesis_20131202.";
constexpr const char* kAmzJson = "application/x-amz-json-1.1";

template <typename T>
void AppendNumber(T value, std::string* out) {
  char buf[32];
  const auto end = std::to_chars(buf, buf + sizeof buf, value).ptr;
  out->append(buf, end);
}

template <typename T>
void AppendOptional(const std::optional<T>& value, std::string* out) {
  if (value) {
    AppendNumber(*value, out);
  } else {
    out->append("null");
  }
}

Response Error(int status, std::string_view type, std::string_view message) {
  Response response{status, kAmzJson, "{\"__type\":"};
  AppendJsonString(type, &response.body);
  response.body.append(",\"message\":");
  AppendJsonString(message, &response.body);
  response.body.push_back('}');
  return response;
}

Response Json(std::string body) { return Response{200, "application/json", std::move(body)}; }

// FNV-1a, 64 bits: cheap and good enough to spread partition keys.
uint64_t HashKey(std::string_view key) {
  uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : key) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

void AppendShardId(int shard, std::string* out) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "shardId-%012d", shard);
  out->append(buf);
}

std::string Uint128Decimal(unsigned __int128 value) {
  if (value == 0) return "0";
  std::string digits;
  while (value != 0) {
    digits.push_back(static_cast<char>('0' + static_cast<int>(value % 10)));
    value /= 10;
  }
  std::reverse(digits.begin(), digits.end());
  return digits;
}

// The stream a Describe* request names, echoed back: StreamARN as given (or
// made up from StreamName), StreamName as given (or the ARN's last part).
struct StreamNames {
  std::string name;
  std::string arn;
};

std::optional<StreamNames> NamesOf(const Request& request, Response* error) {
  rapidjson::Document doc;
  doc.Parse(request.body, request.body_size);
  if (doc.HasParseError() || !doc.IsObject()) {
    *error = Error(400, "SerializationException", "the request body is not a JSON object");
    return std::nullopt;
  }
  StreamNames names;
  if (auto it = doc.FindMember("StreamARN"); it != doc.MemberEnd() && it->value.IsString()) {
    names.arn.assign(it->value.GetString(), it->value.GetStringLength());
  }
  if (auto it = doc.FindMember("StreamName"); it != doc.MemberEnd() && it->value.IsString()) {
    names.name.assign(it->value.GetString(), it->value.GetStringLength());
  }
  if (names.name.empty() && names.arn.empty()) {
    *error = Error(400, "ValidationException",
                   "1 validation error detected: Either StreamName or StreamARN must be given");
    return std::nullopt;
  }
  if (names.name.empty()) {
    const size_t slash = names.arn.rfind('/');
    names.name = slash == std::string::npos ? names.arn : names.arn.substr(slash + 1);
  }
  if (names.arn.empty()) names.arn = "arn:aws:kinesis:us-east-1:000000000000:stream/" + names.name;
  return names;
}

void AppendNames(const StreamNames& names, std::string* out) {
  out->append("\"StreamName\":");
  AppendJsonString(names.name, out);
  out->append(",\"StreamARN\":");
  AppendJsonString(names.arn, out);
}

int32_t ClampToInt32(int64_t value) {
  return static_cast<int32_t>(std::clamp<int64_t>(value, INT32_MIN, INT32_MAX));
}

}  // namespace

Endpoint::Endpoint(EndpointOptions options)
    : options_(std::move(options)), sequence_(static_cast<size_t>(options_.shards), 0) {
  for (int shard = 0; shard < options_.shards; ++shard) {
    shard_ids_.emplace_back();
    AppendShardId(shard, &shard_ids_.back());
  }
}

Response Endpoint::Handle(const Request& request, int64_t arrival_unix_us) {
  if (request.method == "GET" && request.path == "/stats") return Json(StatsJson());
  if (request.method == "POST" && request.path == "/reset") {
    Reset();
    return Json("{\"reset\":true}");
  }
  if (request.method != "POST" || (request.path != "/" && request.target.empty())) {
    return Response{404, "application/json", "{\"message\":\"not found\"}"};
  }
  if (request.target.substr(0, kTargetPrefix.size()) != kTargetPrefix) {
    return Error(400, "UnknownOperationException",
                 "X-Amz-Target must be Kinesis_20131202.<Operation>");
  }
  const std::string_view op = request.target.substr(kTargetPrefix.size());
  if (op == "PutRecords") return PutRecords(request, arrival_unix_us);
  if (op == "DescribeStreamSummary") return DescribeStreamSummary(request);
  if (op == "DescribeStream") return DescribeStream(request);
  if (op == "CreateStream" || op == "DeleteStream") return Response{200, kAmzJson, ""};
  return Error(400, "UnknownOperationException",
               "bench_kinesis does not implement " + std::string(op));
}

void Endpoint::AppendSequenceNumber(int shard, std::string* out) {
  // 20 digits, zero-padded, so that sequence numbers compare as strings too.
  char buf[20];
  std::memset(buf, '0', sizeof buf);
  uint64_t value = ++sequence_[static_cast<size_t>(shard)];
  for (char* p = buf + sizeof buf; value != 0; value /= 10)
    *--p = static_cast<char>('0' + value % 10);
  out->append(buf, sizeof buf);
}

Response Endpoint::PutRecords(const Request& request, int64_t arrival_unix_us) {
  ++requests_;
  std::vector<RecordView>& records = records_scratch_;
  if (auto error =
          ParsePutRecords(request.body, request.body_size, options_.max_request_bytes, &records)) {
    ++rejected_requests_;
    return Error(400, error->type, error->message);
  }
  Response response{200, kAmzJson, {}};
  std::string& body = response.body;
  body.reserve(40 + records.size() * 80);
  body.append("{\"FailedRecordCount\":0,\"Records\":[");
  const uint64_t shards = static_cast<uint64_t>(options_.shards);
  for (size_t i = 0; i < records.size(); ++i) {
    const RecordView& record = records[i];
    const uint64_t key_hash = HashKey(record.partition_key);
    const int shard = static_cast<int>(key_hash % shards);
    if (i != 0) body.push_back(',');
    body.append("{\"SequenceNumber\":\"");
    AppendSequenceNumber(shard, &body);
    body.append("\",\"ShardId\":\"");
    body.append(shard_ids_[static_cast<size_t>(shard)]);
    body.append("\"}");

    const CommitInfo info = ReadCommitInfo(record.data_base64, &decode_scratch_);
    if (info.commit_unix_us) {
      const int32_t latency = ClampToInt32(arrival_unix_us - *info.commit_unix_us);
      latencies_us_.push_back(latency);
      latency_sum_us_ += latency;
    }
    if (info.has_position) {
      auto [it, inserted] =
          last_position_.try_emplace(key_hash, Position{info.commit_lsn, info.commit_idx});
      if (!inserted) {
        Position& last = it->second;
        if (info.commit_lsn < last.lsn ||
            (info.commit_lsn == last.lsn && info.commit_idx < last.idx)) {
          ++order_violations_;
        }
        last = Position{info.commit_lsn, info.commit_idx};
      }
    }
    bytes_ += record.data_bytes + record.partition_key.size();
  }
  body.append("]}");
  records_ += records.size();
  if (!first_record_unix_us_) first_record_unix_us_ = arrival_unix_us;
  last_record_unix_us_ = arrival_unix_us;
  return response;
}

Response Endpoint::DescribeStreamSummary(const Request& request) const {
  Response error;
  const std::optional<StreamNames> names = NamesOf(request, &error);
  if (!names) return error;
  // No MaxRecordSizeInKiB: the 1 MiB default applies.
  std::string body = "{\"StreamDescriptionSummary\":{";
  AppendNames(*names, &body);
  body.append(
      ",\"StreamStatus\":\"ACTIVE\",\"StreamModeDetails\":{\"StreamMode\":\"PROVISIONED\"},"
      "\"RetentionPeriodHours\":24,\"StreamCreationTimestamp\":1700000000,"
      "\"EnhancedMonitoring\":[{\"ShardLevelMetrics\":[]}],\"EncryptionType\":\"NONE\","
      "\"OpenShardCount\":");
  AppendNumber(options_.shards, &body);
  body.append(",\"ConsumerCount\":0}}");
  return Response{200, kAmzJson, std::move(body)};
}

Response Endpoint::DescribeStream(const Request& request) const {
  Response error;
  const std::optional<StreamNames> names = NamesOf(request, &error);
  if (!names) return error;
  std::string body = "{\"StreamDescription\":{";
  AppendNames(*names, &body);
  body.append(",\"StreamStatus\":\"ACTIVE\",\"Shards\":[");
  // The hash key space 0 .. 2^128-1 split evenly, as CreateStream does.
  const unsigned __int128 max_key = ~static_cast<unsigned __int128>(0);
  const unsigned __int128 width = max_key / static_cast<unsigned>(options_.shards);
  for (int shard = 0; shard < options_.shards; ++shard) {
    const unsigned __int128 start = width * static_cast<unsigned>(shard);
    const unsigned __int128 end = shard + 1 == options_.shards ? max_key : start + width - 1;
    if (shard != 0) body.push_back(',');
    body.append("{\"ShardId\":\"");
    AppendShardId(shard, &body);
    body.append("\",\"HashKeyRange\":{\"StartingHashKey\":\"" + Uint128Decimal(start) +
                "\",\"EndingHashKey\":\"" + Uint128Decimal(end) +
                "\"},\"SequenceNumberRange\":{\"StartingSequenceNumber\":\"" +
                std::string(20, '0') + "\"}}");
  }
  body.append(
      "],\"HasMoreShards\":false,\"StreamModeDetails\":{\"StreamMode\":\"PROVISIONED\"},"
      "\"RetentionPeriodHours\":24,\"StreamCreationTimestamp\":1700000000,"
      "\"EnhancedMonitoring\":[{\"ShardLevelMetrics\":[]}],\"EncryptionType\":\"NONE\"}}");
  return Response{200, kAmzJson, std::move(body)};
}

LatencySummary Endpoint::Latency() const {
  LatencySummary summary;
  const size_t n = latencies_us_.size();
  summary.count = n;
  if (n == 0) return summary;
  std::vector<int32_t> sorted = latencies_us_;
  // Nearest rank: the smallest value with at least p of all values at or below it.
  auto rank = [n](size_t permille) {
    const size_t r = (n * permille + 999) / 1000;
    return std::max<size_t>(r, 1) - 1;
  };
  // Successive nth_element calls on the remaining upper part: O(n) each.
  size_t done = 0;
  auto at = [&](size_t index) {
    std::nth_element(sorted.begin() + static_cast<ptrdiff_t>(done),
                     sorted.begin() + static_cast<ptrdiff_t>(index), sorted.end());
    done = index;
    return sorted[index];
  };
  summary.p50 = at(rank(500));
  summary.p90 = at(rank(900));
  summary.p99 = at(rank(990));
  summary.p999 = at(rank(999));
  summary.max = *std::max_element(sorted.begin() + static_cast<ptrdiff_t>(done), sorted.end());
  summary.mean = static_cast<double>(latency_sum_us_) / static_cast<double>(n);
  return summary;
}

std::string Endpoint::StatsJson() const {
  const LatencySummary latency = Latency();
  const CpuTimes cpu = options_.cpu_times();
  std::string out = "{\"requests\":";
  AppendNumber(requests_, &out);
  out.append(",\"records\":");
  AppendNumber(records_, &out);
  out.append(",\"bytes\":");
  AppendNumber(bytes_, &out);
  out.append(",\"rejected_requests\":");
  AppendNumber(rejected_requests_, &out);
  out.append(",\"first_record_unix_us\":");
  AppendOptional(first_record_unix_us_, &out);
  out.append(",\"last_record_unix_us\":");
  AppendOptional(last_record_unix_us_, &out);
  out.append(",\"latency_us\":{\"count\":");
  AppendNumber(latency.count, &out);
  char buf[512];
  if (latency.count == 0) {
    out.append(",\"p50\":null,\"p90\":null,\"p99\":null,\"p999\":null,\"max\":null,\"mean\":null}");
  } else {
    std::snprintf(buf, sizeof buf,
                  ",\"p50\":%d,\"p90\":%d,\"p99\":%d,\"p999\":%d,\"max\":%d,\"mean\":%.1f}",
                  latency.p50, latency.p90, latency.p99, latency.p999, latency.max, latency.mean);
    out.append(buf);
  }
  out.append(",\"order_violations\":");
  AppendNumber(order_violations_, &out);
  std::snprintf(buf, sizeof buf, ",\"cpu_user_s\":%.3f,\"cpu_sys_s\":%.3f}", cpu.user_s, cpu.sys_s);
  out.append(buf);
  return out;
}

void Endpoint::Reset() {
  requests_ = 0;
  rejected_requests_ = 0;
  records_ = 0;
  bytes_ = 0;
  first_record_unix_us_.reset();
  last_record_unix_us_.reset();
  latencies_us_.clear();
  latency_sum_us_ = 0;
  order_violations_ = 0;
  last_position_.clear();
}

}  // namespace bench_kinesis
