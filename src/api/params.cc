#include "api/params.h"

#include <arpa/inet.h>
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <algorithm>
#include <charconv>
#include <cstdio>

namespace sluice::api {
namespace {

constexpr size_t kQuotedMax = 64;

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool AllDigits(std::string_view text) {
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return !text.empty();
}

// Digits only, fitting in uint64_t; from_chars alone would take a '-'.
std::optional<uint64_t> ParseUnsigned(std::string_view text) {
  if (!AllDigits(text)) return std::nullopt;
  uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return value;
}

Error BadBody(BulkAction action) {
  return Error(ErrorCode::kInvalidArgument,
               action == BulkAction::kRedeliver
                   ? R"(the body must be the JSON object {"state": "failed"})"
                   : R"(the body must be the JSON object {"state": "failed"} or {"state": "all"})");
}

bool IsBlank(std::string_view body) {
  return body.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

Error NotJson(const rapidjson::Document& doc) {
  return Error(ErrorCode::kInvalidArgument, std::string("the body is not valid JSON: ") +
                                                rapidjson::GetParseError_En(doc.GetParseError()) +
                                                " (at byte " +
                                                std::to_string(doc.GetErrorOffset()) + ")");
}

bool IsQualifiedTableName(std::string_view name) {
  const size_t dot = name.find('.');
  return dot != std::string_view::npos && dot > 0 && dot + 1 < name.size() &&
         name.find('.', dot + 1) == std::string_view::npos;
}

}  // namespace

std::string QuoteForMessage(std::string_view text) {
  std::string out = "\"";
  const bool cut = text.size() > kQuotedMax;
  for (char c : text.substr(0, kQuotedMax)) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (u < 0x20 || u == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", u);
      out += buf;
    } else {
      out.push_back(c);
    }
  }
  out += cut ? "...\"" : "\"";
  return out;
}

Result<std::vector<std::string>> SplitPath(std::string_view path) {
  std::vector<std::string> segments;
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  std::string current;
  for (size_t i = 0; i < path.size(); ++i) {
    const char c = path[i];
    if (c == '/') {
      segments.push_back(std::move(current));
      current.clear();
    } else if (c == '%') {
      if (i + 2 >= path.size()) {
        return Error(ErrorCode::kInvalidArgument,
                     "the path has a '%' not followed by two hex digits");
      }
      const int high = HexValue(path[i + 1]);
      const int low = HexValue(path[i + 2]);
      if (high < 0 || low < 0) {
        return Error(ErrorCode::kInvalidArgument,
                     "the path has a '%' not followed by two hex digits");
      }
      current.push_back(static_cast<char>(high * 16 + low));
      i += 2;
    } else {
      current.push_back(c);
    }
  }
  segments.push_back(std::move(current));
  return segments;
}

Result<uint64_t> ParseMessageId(std::string_view text) {
  if (auto id = ParseUnsigned(text)) return *id;
  return Error(
      ErrorCode::kInvalidArgument,
      "message id must be an unsigned 64-bit decimal integer, got " + QuoteForMessage(text));
}

Result<uint64_t> ParseBackfillId(std::string_view text) {
  if (auto id = ParseUnsigned(text)) return *id;
  return Error(
      ErrorCode::kInvalidArgument,
      "backfill id must be an unsigned 64-bit decimal integer, got " + QuoteForMessage(text));
}

Result<size_t> ParseLimit(std::string_view text) {
  if (text.empty()) return kDefaultMessageLimit;
  auto value = ParseUnsigned(text);
  if (!value || *value < 1 || *value > kMaxMessageLimit) {
    return Error(ErrorCode::kInvalidArgument, "limit must be an integer from 1 to " +
                                                  std::to_string(kMaxMessageLimit) + ", got " +
                                                  QuoteForMessage(text));
  }
  return static_cast<size_t>(*value);
}

Result<std::optional<MessageState>> ParseStateParam(std::string_view text) {
  if (text.empty()) return std::optional<MessageState>();
  if (auto state = ParseMessageState(text)) return std::optional<MessageState>(*state);
  return Error(
      ErrorCode::kInvalidArgument,
      "state must be one of pending, in_flight, backing_off, failed, failing, delivered, got " +
          QuoteForMessage(text));
}

Result<std::string> ParseCursor(std::string_view text) {
  bool ok = text.size() <= kMaxCursorBytes;
  for (char c : text) ok = ok && c > 0x20 && c < 0x7f;
  if (!ok) {
    return Error(ErrorCode::kInvalidArgument,
                 "cursor must be the next_cursor of a previous page, got " + QuoteForMessage(text));
  }
  return std::string(text);
}

Result<Selection> ParseBulkBody(BulkAction action, std::string_view body) {
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (doc.HasParseError()) {
    if (IsBlank(body)) return BadBody(action);
    return NotJson(doc);
  }
  if (!doc.IsObject() || doc.MemberCount() != 1 || !doc.HasMember("state") ||
      !doc["state"].IsString()) {
    return BadBody(action);
  }
  const std::string_view state(doc["state"].GetString(), doc["state"].GetStringLength());
  if (state == "failed") return Selection::kFailed;
  if (state == "all" && action == BulkAction::kDiscard) return Selection::kAll;
  return Error(ErrorCode::kInvalidArgument,
               std::string("state must be ") +
                   (action == BulkAction::kRedeliver ? R"("failed" for redeliver)"
                                                     : R"("failed" or "all")") +
                   ", got " + QuoteForMessage(state));
}

Result<BackfillRequest> ParseBackfillBody(std::string_view body) {
  constexpr const char* kShape =
      R"(the body must be a JSON object such as {"table": "public.orders"}, with optional )"
      R"("sort_column" and "start_position")";
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (doc.HasParseError() && !IsBlank(body)) return NotJson(doc);
  if (doc.HasParseError() || !doc.IsObject()) return Error(ErrorCode::kInvalidArgument, kShape);

  BackfillRequest request;
  std::vector<std::string_view> seen;
  for (const auto& member : doc.GetObject()) {
    const std::string_view name(member.name.GetString(), member.name.GetStringLength());
    const rapidjson::Value& value = member.value;
    if (std::find(seen.begin(), seen.end(), name) != seen.end()) {
      return Error(ErrorCode::kInvalidArgument, QuoteForMessage(name) + " is given twice");
    }
    seen.push_back(name);
    if (name != "table" && name != "sort_column" && name != "start_position") {
      return Error(ErrorCode::kInvalidArgument,
                   "unknown member " + QuoteForMessage(name) +
                       " (a backfill takes table, sort_column and start_position)");
    }
    if (value.IsNull()) continue;
    if (!value.IsString()) {
      return Error(ErrorCode::kInvalidArgument,
                   std::string(name) + " must be a string" +
                       (name == "start_position" ? R"( (e.g. "1000" or "2026-01-01"))" : ""));
    }
    std::string text(value.GetString(), value.GetStringLength());
    if (name == "table") {
      request.table = std::move(text);
    } else if (name == "sort_column") {
      request.sort_column = std::move(text);
    } else if (!text.empty()) {
      request.start_position = std::move(text);
    }
  }
  if (request.table.empty()) {
    return Error(ErrorCode::kInvalidArgument,
                 R"(table is required: the table to backfill, as "schema.table")");
  }
  if (!IsQualifiedTableName(request.table)) {
    return Error(ErrorCode::kInvalidArgument,
                 "table must be schema.table, got " + QuoteForMessage(request.table));
  }
  if (request.start_position && request.sort_column.empty()) {
    return Error(ErrorCode::kInvalidArgument,
                 "start_position needs sort_column: a start position is a value of the sort "
                 "column");
  }
  return request;
}

bool IsLoopbackHost(std::string_view host) {
  if (host == "localhost" || host == "[::1]") return true;
  if (host.size() > 15) return false;  // longer than any dotted IPv4 address
  const std::string text(host);
  in_addr addr{};
  return inet_pton(AF_INET, text.c_str(), &addr) == 1 && (ntohl(addr.s_addr) >> 24) == 127;
}

}  // namespace sluice::api
