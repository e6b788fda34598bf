#include "sink/kinesis/response.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <algorithm>
#include <array>

#include "sink/kinesis/limits.h"

namespace sluice::kinesis {
namespace {

using rapidjson::Value;

constexpr size_t kMaxQuotedBodyBytes = 200;

// The member `name` of `object`, or nullptr when absent or JSON null.
const Value* Member(const Value& object, const char* name) {
  if (!object.IsObject()) return nullptr;
  auto it = object.FindMember(name);
  if (it == object.MemberEnd() || it->value.IsNull()) return nullptr;
  return &it->value;
}

// Reads an optional string member. False when present with another type.
bool ReadString(const Value& object, const char* name, std::string* out) {
  out->clear();
  const Value* v = Member(object, name);
  if (v == nullptr) return true;
  if (!v->IsString()) return false;
  out->assign(v->GetString(), v->GetStringLength());
  return true;
}

std::string Quote(std::string_view body) {
  std::string out(body.substr(0, kMaxQuotedBodyBytes));
  std::replace_if(
      out.begin(), out.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  if (body.size() > kMaxQuotedBodyBytes) out += "…";
  return out;
}

// Parses `body` as a JSON object, or explains why not.
Result<rapidjson::Document> ParseObject(std::string_view body, std::string_view what) {
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (doc.HasParseError()) {
    return Error(ErrorCode::kProtocol, std::string(what) + " is not JSON (" +
                                           rapidjson::GetParseError_En(doc.GetParseError()) +
                                           " at offset " + std::to_string(doc.GetErrorOffset()) +
                                           "): " + Quote(body));
  }
  if (!doc.IsObject()) {
    return Error(ErrorCode::kProtocol, std::string(what) + " is not a JSON object: " + Quote(body));
  }
  return doc;
}

// "com.amazonaws.kinesis.v20131202#ResourceNotFoundException" → the part after '#';
// a header value "Code:http://internal…" → the part before ':'.
std::string StripCodeDecorations(std::string code) {
  if (auto hash = code.rfind('#'); hash != std::string::npos) code.erase(0, hash + 1);
  if (auto colon = code.find(':'); colon != std::string::npos) code.erase(colon);
  return code;
}

constexpr std::array<std::string_view, 10> kThrottlingCodes = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "LimitExceededException",
    "KMSThrottlingException",
    "RequestLimitExceeded",
    "RequestThrottledException",
    "TooManyRequestsException",
    "SlowDown",
};

constexpr std::array<std::string_view, 4> kCredentialCodes = {
    "ExpiredTokenException",
    "ExpiredToken",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
};

template <size_t N>
bool Contains(const std::array<std::string_view, N>& set, std::string_view code) {
  return std::find(set.begin(), set.end(), code) != set.end();
}

PutRecordsResult BadResponse(int status, std::string message) {
  PutRecordsResult result;
  result.failure = RequestFailure::kBadResponse;
  result.http_status = status;
  result.error_message = std::move(message);
  return result;
}

Result<int> ReadInt(const Value& object, const char* name, const char* what, int absent) {
  const Value* v = Member(object, name);
  if (v == nullptr) return absent;
  if (!v->IsInt())
    return Error(ErrorCode::kProtocol, std::string(what) + "." + name + " is not an integer");
  return v->GetInt();
}

}  // namespace

const char* RequestFailureName(RequestFailure failure) {
  switch (failure) {
    case RequestFailure::kNone: return "none";
    case RequestFailure::kNetwork: return "network";
    case RequestFailure::kThrottled: return "throttled";
    case RequestFailure::kServer: return "server";
    case RequestFailure::kCredentials: return "credentials";
    case RequestFailure::kClient: return "client";
    case RequestFailure::kBadResponse: return "bad_response";
  }
  return "unknown";
}

AwsError ParseAwsError(const http::Response& response) {
  AwsError error;
  rapidjson::Document doc;
  doc.Parse(response.body.data(), response.body.size());
  if (!doc.HasParseError() && doc.IsObject()) {
    std::string code;
    if (ReadString(doc, "__type", &code) && code.empty()) (void)ReadString(doc, "code", &code);
    error.code = StripCodeDecorations(std::move(code));
    if (!ReadString(doc, "message", &error.message) || error.message.empty())
      (void)ReadString(doc, "Message", &error.message);
  } else if (!response.body.empty()) {
    error.message = "HTTP " + std::to_string(response.status) + ": " + Quote(response.body);
  }
  if (error.code.empty()) error.code = StripCodeDecorations(response.Header("x-amzn-errortype"));
  if (error.message.empty()) error.message = "HTTP " + std::to_string(response.status);
  return error;
}

RequestFailure ClassifyFailure(int http_status, std::string_view error_code) {
  if (Contains(kThrottlingCodes, error_code)) return RequestFailure::kThrottled;
  if (Contains(kCredentialCodes, error_code)) return RequestFailure::kCredentials;
  if (http_status == 429 || http_status == 503) return RequestFailure::kThrottled;
  if (http_status >= 500 && http_status <= 599) return RequestFailure::kServer;
  if (http_status >= 400 && http_status <= 499) return RequestFailure::kClient;
  return RequestFailure::kBadResponse;
}

PutRecordsResult ParsePutRecordsResponse(const http::Response& response, size_t record_count) {
  const int status = response.status;
  if (status < 200 || status > 299) {
    AwsError error = ParseAwsError(response);
    PutRecordsResult result;
    result.failure = ClassifyFailure(status, error.code);
    result.http_status = status;
    result.error_code = std::move(error.code);
    result.error_message = std::move(error.message);
    return result;
  }
  auto parsed = ParseObject(response.body, "PutRecords response");
  if (!parsed.ok()) return BadResponse(status, parsed.error().message());
  const rapidjson::Document& doc = parsed.value();
  const Value* records = Member(doc, "Records");
  if (records == nullptr || !records->IsArray()) {
    return BadResponse(status, "PutRecords response has no Records array: " + Quote(response.body));
  }
  if (records->Size() != record_count) {
    return BadResponse(status, "PutRecords response has " + std::to_string(records->Size()) +
                                   " records for a request of " + std::to_string(record_count));
  }
  PutRecordsResult result;
  result.http_status = status;
  result.records.reserve(record_count);
  for (rapidjson::SizeType i = 0; i < records->Size(); ++i) {
    const Value& entry = (*records)[i];
    const std::string where = "PutRecords response record " + std::to_string(i);
    if (!entry.IsObject()) return BadResponse(status, where + " is not an object");
    RecordOutcome outcome;
    if (!ReadString(entry, "ErrorCode", &outcome.error_code) ||
        !ReadString(entry, "ErrorMessage", &outcome.error_message) ||
        !ReadString(entry, "SequenceNumber", &outcome.sequence_number) ||
        !ReadString(entry, "ShardId", &outcome.shard_id)) {
      return BadResponse(status, where + " has a field of the wrong type");
    }
    outcome.ok = outcome.error_code.empty();
    if (outcome.ok && outcome.sequence_number.empty()) {
      return BadResponse(status, where + " has neither ErrorCode nor SequenceNumber");
    }
    if (!outcome.ok) ++result.failed_record_count;
    result.records.push_back(std::move(outcome));
  }
  return result;
}

Result<StreamSummary> ParseDescribeStreamSummary(std::string_view body) {
  SLUICE_ASSIGN_OR_RETURN(rapidjson::Document doc,
                          ParseObject(body, "DescribeStreamSummary response"));
  const Value* summary = Member(doc, "StreamDescriptionSummary");
  if (summary == nullptr || !summary->IsObject()) {
    return Error(ErrorCode::kProtocol,
                 "DescribeStreamSummary response has no StreamDescriptionSummary: " + Quote(body));
  }
  StreamSummary out;
  if (!ReadString(*summary, "StreamStatus", &out.status) || out.status.empty()) {
    return Error(ErrorCode::kProtocol, "DescribeStreamSummary response has no StreamStatus");
  }
  SLUICE_ASSIGN_OR_RETURN(out.open_shard_count,
                          ReadInt(*summary, "OpenShardCount",
                                  "DescribeStreamSummary response: StreamDescriptionSummary", 0));
  SLUICE_ASSIGN_OR_RETURN(int max_kib,
                          ReadInt(*summary, "MaxRecordSizeInKiB",
                                  "DescribeStreamSummary response: StreamDescriptionSummary", 0));
  if (max_kib < 0) {
    return Error(ErrorCode::kProtocol, "DescribeStreamSummary response has MaxRecordSizeInKiB " +
                                           std::to_string(max_kib));
  }
  out.max_record_bytes = max_kib == 0 ? kDefaultMaxRecordBytes : size_t(max_kib) * 1024;
  return out;
}

Result<StreamSummary> ParseDescribeStream(std::string_view body) {
  SLUICE_ASSIGN_OR_RETURN(rapidjson::Document doc, ParseObject(body, "DescribeStream response"));
  const Value* description = Member(doc, "StreamDescription");
  if (description == nullptr || !description->IsObject()) {
    return Error(ErrorCode::kProtocol,
                 "DescribeStream response has no StreamDescription: " + Quote(body));
  }
  StreamSummary out;
  out.from_describe_stream = true;
  out.max_record_bytes = kDefaultMaxRecordBytes;
  if (!ReadString(*description, "StreamStatus", &out.status) || out.status.empty()) {
    return Error(ErrorCode::kProtocol, "DescribeStream response has no StreamStatus");
  }
  // An open shard has no EndingSequenceNumber. Only the first page of shards
  // is read, so for streams with more shards than a page this is a lower bound.
  if (const Value* shards = Member(*description, "Shards");
      shards != nullptr && shards->IsArray()) {
    for (const Value& shard : shards->GetArray()) {
      const Value* range = Member(shard, "SequenceNumberRange");
      if (range != nullptr && Member(*range, "EndingSequenceNumber") == nullptr)
        ++out.open_shard_count;
    }
  }
  return out;
}

}  // namespace sluice::kinesis
