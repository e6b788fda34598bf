#include "app/api_commands.h"

#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include <chrono>
#include <cstdio>
#include <optional>
#include <utility>
#include <vector>

#include "api/control.h"
#include "app/cli_text.h"
#include "aws/credential_parsing.h"

namespace sluice::app {
namespace {

using rapidjson::Value;

// Widths of the truncated table cells, in characters.
constexpr size_t kKeyWidth = 24;
constexpr size_t kTableWidth = 32;
constexpr size_t kErrorWidth = 60;
constexpr size_t kReasonWidth = 60;
// `show` prints values whole, but as one line without control characters
// (a partition key or an error may hold anything a row holds).
constexpr size_t kFieldWidth = 4096;

const Value* Member(const Value& object, const char* name) {
  if (!object.IsObject()) return nullptr;
  auto it = object.FindMember(name);
  return it == object.MemberEnd() ? nullptr : &it->value;
}

// A member as text: strings as they are, numbers and booleans written out,
// null or missing as "".
std::string Text(const Value& object, const char* name) {
  const Value* v = Member(object, name);
  if (v == nullptr || v->IsNull()) return {};
  if (v->IsString()) return std::string(v->GetString(), v->GetStringLength());
  if (v->IsBool()) return v->GetBool() ? "true" : "false";
  if (v->IsUint64()) return std::to_string(v->GetUint64());
  if (v->IsInt64()) return std::to_string(v->GetInt64());
  if (v->IsNumber()) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.1f", v->GetDouble());
    return buf;
  }
  return {};
}

uint64_t Count(const Value& object, const char* name) {
  const Value* v = Member(object, name);
  return v != nullptr && v->IsUint64() ? v->GetUint64() : 0;
}

// "120.5": a per-second rate with one decimal.
std::string Rate(const Value& object, const char* name) {
  const Value* v = Member(object, name);
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f", v != nullptr && v->IsNumber() ? v->GetDouble() : 0.0);
  return buf;
}

std::optional<WallTime> TimeOf(const Value& object, const char* name) {
  const std::string text = Text(object, name);
  if (text.empty()) return std::nullopt;
  return aws::ParseIso8601(text);
}

std::chrono::milliseconds Between(WallTime from, WallTime to) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(to - from);
}

// "-", "now" (due or overdue) or "in 41s".
std::string NextAttempt(const Value& message, WallTime now) {
  const auto when = TimeOf(message, "next_attempt_at");
  if (!when) return "-";
  if (*when <= now) return "now";
  return "in " + ShortDuration(Between(now, *when));
}

// "2026-11-27T10:00:08.000Z (in 41s)", "… (3m02s ago)", or "-".
std::string TimeWithRelative(const Value& object, const char* name, WallTime now) {
  const std::string text = Text(object, name);
  if (text.empty()) return "-";
  const auto when = aws::ParseIso8601(text);
  if (!when) return text;
  if (*when > now) return text + " (in " + ShortDuration(Between(now, *when)) + ")";
  return text + " (" + ShortDuration(Between(*when, now)) + " ago)";
}

// JSON text indented by two spaces per level.
std::string Pretty(const Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::PrettyWriter<rapidjson::StringBuffer> writer(buffer);
  writer.SetIndent(' ', 2);
  value.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

// The body as the API sent it, on a line of its own.
void PrintBody(const ApiReply& reply, std::ostream& out) {
  out << reply.body;
  if (reply.body.empty() || reply.body.back() != '\n') out << "\n";
}

// "1 message", "3 messages".
std::string Messages(uint64_t n) { return std::to_string(n) + (n == 1 ? " message" : " messages"); }

// "17.8 KiB": bytes for people.
std::string Bytes(uint64_t n) {
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
  if (n < 1024) return std::to_string(n) + " B";
  double v = static_cast<double>(n);
  size_t unit = 0;
  v /= 1024;
  while (v >= 1024 && unit + 1 < std::size(kUnits)) {
    v /= 1024;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f %s", v, kUnits[unit]);
  return buf;
}

Error MalformedReply(const ApiClient& client, const std::string& what) {
  return Error(ErrorCode::kProtocol, "sluice's API at " + client.address().host_port +
                                         " answered " + what +
                                         " without the fields docs/api.md describes");
}

std::string SinkPath(const std::string& sink) { return "/api/sinks/" + PathSegment(sink); }

// The message functions turn "nothing answered" into kNotRunning; every
// other error stays one.
template <typename T>
bool NotRunning(const Result<T>& r) {
  return !r.ok() && r.error().code() == ErrorCode::kNetwork;
}

std::string NextPageCommand(const config::Settings& settings, const ApiClient& client,
                            const ApiListOptions& options, const std::string& sink,
                            const std::string& cursor) {
  std::string cmd = "sluice messages list --config " + ShellWord(settings.config_path);
  if (!client.address().given.empty()) cmd += " --api " + ShellWord(client.address().given);
  cmd += " --sink " + ShellWord(sink);
  if (!options.state.empty()) cmd += " --state " + options.state;
  if (options.limit != kDefaultMessagesLimit) cmd += " --limit " + std::to_string(options.limit);
  return cmd + " --cursor " + ShellWord(cursor);
}

// Text of an action's answer: {"affected": N, "skipped": M}. A one-message
// action that answers without counts affected that message.
void PrintActionResult(const ApiReply& reply, const MessageActionOptions& options,
                       const std::string& sink, const char* done, std::ostream& out) {
  const bool one = options.selection == MessageSelection::kOne;
  const uint64_t affected =
      Member(reply.json, "affected") != nullptr ? Count(reply.json, "affected") : (one ? 1 : 0);
  const uint64_t skipped = Count(reply.json, "skipped");
  out << done << " ";
  if (one) {
    out << "message " << options.id;
  } else {
    out << Messages(affected)
        << (options.selection == MessageSelection::kFailing ? " (every failing one)" : "");
  }
  out << " of sink " << sink;
  if (skipped > 0) out << "; " << Messages(skipped) << " in flight left alone";
  out << "\n";
}

}  // namespace

Result<std::string> SinkForCommand(const config::Settings& settings, const std::string& given) {
  if (!given.empty()) return given;
  std::vector<std::string> running;
  std::string names;
  for (const auto& sink : settings.sinks) {
    if (sink.status == config::SinkStatus::kDisabled) continue;
    running.push_back(sink.name);
    names += (names.empty() ? "" : ", ") + sink.name;
  }
  if (running.size() == 1) return running.front();
  if (running.empty()) {
    return Error(ErrorCode::kInvalidArgument, "--sink is required: " + settings.config_path +
                                                  " has no sink that is not disabled");
  }
  return Error(ErrorCode::kInvalidArgument, "--sink is required: " + settings.config_path +
                                                " has several sinks (" + names + ")");
}

Result<std::string> ParseListState(std::string_view word) {
  if (word == "all") return std::string();
  if (word == "waiting") return std::string("pending");
  if (word == "failing" || api::ParseMessageState(word)) return std::string(word);
  return Error(ErrorCode::kInvalidArgument,
               "--state must be one of all, pending, in_flight, backing_off, failed, failing, "
               "delivered (or waiting = pending), got \"" +
                   std::string(word) + "\"");
}

Result<ApiOutcome> ListMessagesViaApi(ApiClient& client, const config::Settings& settings,
                                      const ApiListOptions& options, WallTime now,
                                      std::ostream& out) {
  if (options.limit < 1 || options.limit > kMaxMessagesLimit) {
    return Error(ErrorCode::kInvalidArgument, "--limit must be between 1 and " +
                                                  std::to_string(kMaxMessagesLimit) + ", got " +
                                                  std::to_string(options.limit));
  }
  SLUICE_ASSIGN_OR_RETURN(const std::string sink, SinkForCommand(settings, options.sink));
  std::string query = "limit=" + std::to_string(options.limit);
  if (!options.state.empty()) query += "&state=" + options.state;
  if (!options.cursor.empty()) query += "&cursor=" + PathSegment(options.cursor);
  auto reply = client.Get(SinkPath(sink) + "/messages", query);
  if (NotRunning(reply)) return ApiOutcome::kNotRunning;
  if (!reply.ok()) return reply.error();
  if (options.format == OutputFormat::kJson) {
    PrintBody(*reply, out);
    return ApiOutcome::kDone;
  }

  const Value* messages = Member(reply->json, "messages");
  if (messages == nullptr || !messages->IsArray()) {
    return MalformedReply(client, "GET " + SinkPath(sink) + "/messages");
  }
  const std::string cursor = Text(reply->json, "next_cursor");
  const std::string scope =
      (options.state.empty() ? "" : options.state + " ") + "messages of sink " + sink;
  if (messages->Empty()) {
    out << "no " << scope << (options.cursor.empty() ? "" : " after this cursor");
    if (options.state.empty()) out << " held";
    if (options.state == "delivered") out << " (the last 1000 are kept)";
    out << "\n";
    return ApiOutcome::kDone;
  }
  PrintMessageRows(*messages, now, out);
  if (!cursor.empty()) {
    out << "more " << scope << ": next page with\n  "
        << NextPageCommand(settings, client, options, sink, cursor) << "\n";
  } else {
    out << Messages(messages->Size()) << " shown; no more " << scope << "\n";
  }
  return ApiOutcome::kDone;
}

Result<ApiOutcome> ShowMessageViaApi(ApiClient& client, const config::Settings& settings,
                                     const ShowMessageOptions& options, WallTime now,
                                     std::ostream& out) {
  SLUICE_ASSIGN_OR_RETURN(const std::string sink, SinkForCommand(settings, options.sink));
  const std::string path = SinkPath(sink) + "/messages/" + std::to_string(options.id);
  auto reply = client.Get(path);
  if (NotRunning(reply)) return ApiOutcome::kNotRunning;
  if (!reply.ok()) return reply.error();
  if (options.format == OutputFormat::kJson) {
    PrintBody(*reply, out);
    return ApiOutcome::kDone;
  }
  if (!PrintMessageDetail(reply->json, sink, now, out)) {
    return MalformedReply(client, "GET " + path);
  }
  return ApiOutcome::kDone;
}

Result<ApiOutcome> RedeliverViaApi(ApiClient& client, const config::Settings& settings,
                                   const MessageActionOptions& options, std::ostream& out) {
  if (options.selection == MessageSelection::kAll) {
    return Error(ErrorCode::kInvalidArgument,
                 "redeliver takes a message id or --failing (waiting messages are sent in "
                 "their turn)");
  }
  SLUICE_ASSIGN_OR_RETURN(const std::string sink, SinkForCommand(settings, options.sink));
  auto reply =
      options.selection == MessageSelection::kOne
          ? client.Post(SinkPath(sink) + "/messages/" + std::to_string(options.id) + "/redeliver")
          : client.Post(SinkPath(sink) + "/messages/redeliver", R"({"state":"failed"})");
  if (NotRunning(reply)) return ApiOutcome::kNotRunning;
  if (!reply.ok()) return reply.error();
  if (options.format == OutputFormat::kJson) {
    PrintBody(*reply, out);
  } else {
    PrintActionResult(*reply, options, sink, "redelivering", out);
  }
  return ApiOutcome::kDone;
}

Result<ApiOutcome> DiscardViaApi(ApiClient& client, const config::Settings& settings,
                                 const MessageActionOptions& options, std::ostream& out) {
  SLUICE_ASSIGN_OR_RETURN(const std::string sink, SinkForCommand(settings, options.sink));
  if (options.selection != MessageSelection::kOne && !options.confirmed) {
    const char* which = options.selection == MessageSelection::kAll ? "--all" : "--failing";
    return Error(ErrorCode::kInvalidArgument, std::string("discard ") + which +
                                                  " drops messages of sink " + sink +
                                                  " for good; add --yes to confirm");
  }
  Result<ApiReply> reply = Error(ErrorCode::kInternal, "no request sent");
  switch (options.selection) {
    case MessageSelection::kOne:
      reply = client.Post(SinkPath(sink) + "/messages/" + std::to_string(options.id) + "/discard");
      break;
    case MessageSelection::kFailing:
      reply = client.Post(SinkPath(sink) + "/messages/discard", R"({"state":"failed"})");
      break;
    case MessageSelection::kAll:
      reply = client.Post(SinkPath(sink) + "/messages/discard", R"({"state":"all"})");
      break;
  }
  if (NotRunning(reply)) return ApiOutcome::kNotRunning;
  if (!reply.ok()) return reply.error();
  if (options.format == OutputFormat::kJson) {
    PrintBody(*reply, out);
  } else {
    PrintActionResult(*reply, options, sink, "discarded", out);
  }
  return ApiOutcome::kDone;
}

void PrintMessageRows(const Value& messages, WallTime now, std::ostream& out) {
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"ID", "STATE", "TABLE", "ACTION", "KEY", "TRIES", "NEXT ATTEMPT", "LAST ERROR"});
  if (messages.IsArray()) {
    for (const Value& m : messages.GetArray()) {
      const std::string error = Text(m, "last_error");
      rows.push_back({Text(m, "id"), Text(m, "state"), Cell(Text(m, "table"), kTableWidth),
                      Text(m, "action"), Cell(Text(m, "partition_key"), kKeyWidth),
                      Text(m, "deliver_count"), NextAttempt(m, now),
                      error.empty() ? "-" : Cell(error, kErrorWidth)});
    }
  }
  PrintTable(rows, out);
}

bool PrintMessageDetail(const Value& doc, const std::string& sink, WallTime now,
                        std::ostream& out) {
  const Value* m = Member(doc, "message");
  if (m == nullptr || !m->IsObject()) return false;

  const std::string state = Text(*m, "state");
  out << "id:              " << Text(*m, "id") << "\n"
      << "sink:            " << sink << "\n"
      << "state:           " << state << "\n"
      << "table:           " << Cell(Text(*m, "table"), kFieldWidth) << "\n"
      << "action:          " << Cell(Text(*m, "action"), kFieldWidth) << "\n"
      << "partition key:   " << Cell(Text(*m, "partition_key"), kFieldWidth) << "\n"
      << "commit LSN:      " << Cell(Text(*m, "commit_lsn"), kFieldWidth) << "\n"
      << "committed:       " << TimeWithRelative(*m, "committed_at", now) << "\n"
      << "deliver count:   " << Text(*m, "deliver_count") << "\n"
      << "next attempt:    " << TimeWithRelative(*m, "next_attempt_at", now) << "\n";
  if (state == "delivered") {
    out << "delivered:       " << TimeWithRelative(*m, "delivered_at", now) << "\n"
        << "stream:          " << Cell(Text(*m, "stream_arn"), kFieldWidth) << "\n"
        << "shard:           " << Cell(Text(*m, "shard_id"), kFieldWidth) << "\n"
        << "sequence number: " << Cell(Text(*m, "sequence_number"), kFieldWidth) << "\n";
  }
  const std::string error = Text(*m, "last_error");
  out << "last error:" << (error.empty() ? "      -" : "") << "\n";
  if (!error.empty()) {
    // Raw, each line indented.
    size_t start = 0;
    while (start <= error.size()) {
      size_t end = error.find('\n', start);
      if (end == std::string::npos) end = error.size();
      out << "  " << Cell(std::string_view(error).substr(start, end - start), kFieldWidth) << "\n";
      start = end + 1;
    }
  }

  const Value* change = Member(doc, "change");
  if (change == nullptr || change->IsNull()) {
    out << "change:          - (not kept for delivered messages)\n";
  } else {
    out << "change (the message before the sink's functions):\n" << Pretty(*change) << "\n";
  }
  const Value* payload = Member(doc, "payload");
  if (payload == nullptr || payload->IsNull()) {
    out << "payload:         - (not kept for delivered messages)\n";
    return true;
  }
  out << "payload (the record as it would be put now, after the sink's functions):\n"
      << "  stream:   " << Cell(Text(*payload, "stream_arn"), kFieldWidth) << "\n"
      << "  filtered: " << (Text(*payload, "filtered") == "true" ? "yes" : "no") << "\n";
  const std::string function_error = Text(*payload, "error");
  if (!function_error.empty()) {
    out << "  error:    " << Cell(function_error, kFieldWidth) << "\n";
  }
  const Value* data = Member(*payload, "data");
  if (data != nullptr && !data->IsNull()) out << Pretty(*data) << "\n";
  return true;
}

std::string NotRunningNotice(const ApiClient& client) {
  return "sluice is not running (no answer at " + client.address().host_port +
         "): acting on the local store directly";
}

namespace {

// kUnavailable for the sinks commands, which need a running sluice.
Error NeedsRunningSluice(const ApiClient& client, const Error& error) {
  if (error.code() != ErrorCode::kNetwork) return error;
  return Error(ErrorCode::kUnavailable, "sluice is not running (no answer at " +
                                            client.address().host_port +
                                            "): `sluice sinks` needs a running sluice");
}

uint64_t Held(const Value& sink) {
  const Value* backlog = Member(sink, "backlog");
  if (backlog == nullptr) return 0;
  return Count(*backlog, "pending") + Count(*backlog, "in_flight") +
         Count(*backlog, "backing_off") + Count(*backlog, "failed");
}

}  // namespace

Status ListSinks(ApiClient& client, OutputFormat format, std::ostream& out) {
  auto reply = client.Get("/api/sinks");
  if (!reply.ok()) return NeedsRunningSluice(client, reply.error());
  if (format == OutputFormat::kJson) {
    PrintBody(*reply, out);
    return OkStatus();
  }
  const Value* sinks = Member(reply->json, "sinks");
  if (sinks == nullptr || !sinks->IsArray()) return MalformedReply(client, "GET /api/sinks");
  if (sinks->Empty()) {
    out << "no sinks running\n";
    return OkStatus();
  }
  std::vector<std::vector<std::string>> rows;
  rows.push_back(
      {"NAME", "STATUS", "HEALTH", "DELIVERED/S", "BACKLOG", "LAG", "DELIVERED", "REASON"});
  for (const Value& s : sinks->GetArray()) {
    const Value* counts = Member(s, "counts");
    const std::string reason = Text(s, "health_reason");
    rows.push_back({Cell(Text(s, "name"), kKeyWidth), Text(s, "status"), Text(s, "health"),
                    Rate(s, "delivered_per_second"), std::to_string(Held(s)),
                    Bytes(Count(s, "lag_bytes")),
                    std::to_string(counts != nullptr ? Count(*counts, "delivered") : 0),
                    reason.empty() ? "-" : Cell(reason, kReasonWidth)});
  }
  PrintTable(rows, out);
  return OkStatus();
}

Status ChangeSink(ApiClient& client, const std::string& name, SinkAction action,
                  OutputFormat format, std::ostream& out) {
  const char* verb = action == SinkAction::kPause ? "pause" : "resume";
  auto reply = client.Post(SinkPath(name) + "/" + verb);
  if (!reply.ok()) return NeedsRunningSluice(client, reply.error());
  if (format == OutputFormat::kJson) {
    PrintBody(*reply, out);
    return OkStatus();
  }
  out << "sink " << name << (action == SinkAction::kPause ? " paused" : " resumed");
  const std::string status = Text(reply->json, "status");
  const std::string health = Text(reply->json, "health");
  if (!status.empty()) out << " (status " << status << ", health " << health << ")";
  out << "\n";
  if (action == SinkAction::kPause) {
    out << "messages collect until `sluice sinks resume " << ShellWord(name)
        << "` or a restart of sluice\n";
  }
  return OkStatus();
}

}  // namespace sluice::app
