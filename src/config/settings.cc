#include "config/settings.h"

#include <string_view>

namespace sluice::config {
namespace {

constexpr std::string_view kArnShape =
    "expected arn:<partition>:kinesis:<region>:<12-digit account>:stream/<name>";
constexpr size_t kMaxStreamNameLength = 128;  // Kinesis CreateStream: StreamName 1..128

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsLower(char c) { return c >= 'a' && c <= 'z'; }

bool IsKnownPartition(std::string_view p) {
  if (p == "aws" || p == "aws-cn" || p == "aws-us-gov") return true;
  // aws-iso, aws-iso-b, aws-iso-e, aws-iso-f, ...
  if (p.substr(0, 7) != "aws-iso") return false;
  std::string_view rest = p.substr(7);
  if (rest.empty()) return true;
  if (rest.size() < 2 || rest[0] != '-') return false;
  for (char c : rest.substr(1)) {
    if (!IsLower(c)) return false;
  }
  return true;
}

// Region codes look like us-east-1, us-gov-west-1, cn-north-1, us-isob-east-1.
bool IsRegion(std::string_view r) {
  if (r.size() < 4 || !IsLower(r[0]) || !IsLower(r[1]) || r[2] != '-') return false;
  size_t last_dash = r.rfind('-');
  if (last_dash == 2 || last_dash + 1 >= r.size()) return false;
  for (char c : r.substr(last_dash + 1)) {
    if (!IsDigit(c)) return false;
  }
  for (char c : r.substr(3, last_dash - 3)) {
    if (!IsLower(c) && c != '-') return false;
  }
  return r[last_dash - 1] != '-';
}

bool IsStreamNameChar(char c) {
  return IsDigit(c) || IsLower(c) || (c >= 'A' && c <= 'Z') || c == '_' || c == '.' || c == '-';
}

std::optional<StreamArn> Fail(std::string* why, std::string message) {
  if (why != nullptr) *why = std::move(message);
  return std::nullopt;
}

}  // namespace

std::optional<StreamArn> StreamArn::Parse(const std::string& text, std::string* why) {
  std::string_view rest = text;
  std::string_view parts[5];
  for (auto& part : parts) {
    size_t colon = rest.find(':');
    if (colon == std::string_view::npos) {
      return Fail(why, "not a Kinesis stream ARN (" + std::string(kArnShape) + ")");
    }
    part = rest.substr(0, colon);
    rest = rest.substr(colon + 1);
  }
  std::string_view resource = rest;
  if (parts[0] != "arn") {
    return Fail(why, "not an ARN: must start with \"arn:\" (" + std::string(kArnShape) + ")");
  }
  if (!IsKnownPartition(parts[1])) {
    return Fail(why, "unknown partition \"" + std::string(parts[1]) +
                         "\" (expected aws, aws-cn, aws-us-gov or aws-iso*)");
  }
  if (parts[2] != "kinesis") {
    return Fail(why, "not a Kinesis ARN: service is \"" + std::string(parts[2]) +
                         "\", expected \"kinesis\"");
  }
  if (!IsRegion(parts[3])) {
    return Fail(why,
                "region \"" + std::string(parts[3]) + "\" is not a region code like us-east-1");
  }
  bool account_ok = parts[4].size() == 12;
  for (char c : parts[4]) account_ok = account_ok && IsDigit(c);
  if (!account_ok) {
    return Fail(why, "account \"" + std::string(parts[4]) + "\" must be exactly 12 digits");
  }
  constexpr std::string_view kStreamPrefix = "stream/";
  if (resource.substr(0, kStreamPrefix.size()) != kStreamPrefix) {
    return Fail(why, "resource must be stream/<name> (" + std::string(kArnShape) + ")");
  }
  std::string_view name = resource.substr(kStreamPrefix.size());
  if (name.empty() || name.size() > kMaxStreamNameLength) {
    return Fail(why, "stream name must be 1 to 128 characters, got " + std::to_string(name.size()));
  }
  for (char c : name) {
    if (!IsStreamNameChar(c)) {
      return Fail(why, "stream name may contain only letters, digits, '_', '.' and '-'");
    }
  }
  StreamArn arn;
  arn.arn = text;
  arn.partition = std::string(parts[1]);
  arn.region = std::string(parts[3]);
  arn.account = std::string(parts[4]);
  arn.stream_name = std::string(name);
  return arn;
}

const DatabaseSettings* Settings::FindDatabase(const std::string& name) const {
  for (const auto& d : databases) {
    if (d.name == name) return &d;
  }
  return nullptr;
}

const FunctionSettings* Settings::FindFunction(const std::string& name) const {
  for (const auto& f : functions) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

const SinkSettings* Settings::FindSink(const std::string& name) const {
  for (const auto& s : sinks) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

}  // namespace sluice::config
