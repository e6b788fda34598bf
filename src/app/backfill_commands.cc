#include "app/backfill_commands.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "app/api_commands.h"
#include "app/cli_text.h"
#include "base/json_text.h"

namespace sluice::app {
namespace {

using rapidjson::Value;

constexpr size_t kBarWidth = 18;
constexpr size_t kTableWidth = 40;
constexpr size_t kErrorWidth = 60;
// Plain-lines progress: at most one line per this many polls while rows
// advance (about 10 seconds), so a log is not flooded.
constexpr int kPollsPerPlainLine = 10;

const Value* Member(const Value& object, const char* name) {
  if (!object.IsObject()) return nullptr;
  auto it = object.FindMember(name);
  return it == object.MemberEnd() ? nullptr : &it->value;
}

// A string member, or "" when missing, null or not a string.
std::string Text(const Value& object, const char* name) {
  const Value* v = Member(object, name);
  if (v == nullptr || !v->IsString()) return {};
  return std::string(v->GetString(), v->GetStringLength());
}

uint64_t Count(const Value& object, const char* name) {
  const Value* v = Member(object, name);
  return v != nullptr && v->IsUint64() ? v->GetUint64() : 0;
}

std::optional<double> Number(const Value& object, const char* name) {
  const Value* v = Member(object, name);
  if (v == nullptr || !v->IsNumber() || !std::isfinite(v->GetDouble())) return std::nullopt;
  return v->GetDouble();
}

bool Flag(const Value& object, const char* name) {
  const Value* v = Member(object, name);
  return v != nullptr && v->IsBool() && v->GetBool();
}

bool IsBackfill(const Value& b) {
  const std::string state = Text(b, "state");
  return Member(b, "id") != nullptr && Member(b, "id")->IsUint64() &&
         (state == "running" || state == "done" || state == "cancelled" || state == "failed");
}

std::string BackfillsPath(const std::string& sink) {
  return "/api/sinks/" + PathSegment(sink) + "/backfills";
}

Error NeedsRunningSluice(const ApiClient& client, const Error& error) {
  if (error.code() != ErrorCode::kNetwork) return error;
  return Error(ErrorCode::kUnavailable, "sluice is not running (no answer at " +
                                            client.address().host_port +
                                            "): `sluice backfill` needs a running sluice");
}

Error MalformedReply(const ApiClient& client, const std::string& what) {
  return Error(ErrorCode::kProtocol, "sluice's API at " + client.address().host_port +
                                         " answered " + what +
                                         " without the fields docs/api.md describes");
}

void PrintBody(const std::string& body, std::ostream& out) {
  out << body;
  if (body.empty() || body.back() != '\n') out << "\n";
}

// Share of the estimate done, 0..1; nullopt without an estimate. A done
// backfill is whole whatever the (approximate) estimate said.
std::optional<double> Share(const Value& b) {
  const uint64_t estimate = Count(b, "rows_estimate");
  if (estimate == 0) return std::nullopt;
  if (Text(b, "state") == "done") return 1.0;
  return std::min(1.0, static_cast<double>(Count(b, "rows_done")) / static_cast<double>(estimate));
}

// "48%": rounded down, so 100% means every row.
std::string Percent(double share) {
  return std::to_string(static_cast<int>(std::floor(share * 100))) + "%";
}

std::string Rate(const Value& b) {
  const double rate = std::max(0.0, Number(b, "rows_per_second").value_or(0.0));
  return Thousands(static_cast<uint64_t>(std::llround(rate)));
}

// "96,000/200,000 48%", "96,000/?" without an estimate.
std::string Progress(const Value& b) {
  const uint64_t estimate = Count(b, "rows_estimate");
  std::string text = Thousands(Count(b, "rows_done")) + "/";
  text += estimate > 0 ? Thousands(estimate) : "?";
  if (auto share = Share(b)) text += " " + Percent(*share);
  return text;
}

// "by primary key", "by created_at from 2026-01-01".
std::string Order(const Value& b) {
  const std::string column = Text(b, "sort_column");
  if (column.empty()) return "by primary key";
  std::string text = "by " + Cell(column, kTableWidth);
  const std::string start = Text(b, "start_position");
  if (!start.empty()) text += " from " + Cell(start, kTableWidth);
  return text;
}

std::string Rows(uint64_t n) { return Thousands(n) + (n == 1 ? " row" : " rows"); }

// Draws `start --wait` progress on the progress stream.
class ProgressView {
 public:
  explicit ProgressView(const BackfillWait& wait) : out_(*wait.progress), style_(wait.style) {}

  void Show(const Value& b) {
    const std::string line = BackfillProgressLine(b);
    if (style_ == ProgressStyle::kBar) {
      // Spaces over what is left of a longer previous line.
      const size_t width = DisplayChars(line);
      out_ << "\r" << line << std::string(drawn_ > width ? drawn_ - width : 0, ' ');
      out_.flush();
      drawn_ = width;
      return;
    }
    ++polls_;
    const std::string state = Text(b, "state");
    const uint64_t rows = Count(b, "rows_done");
    const bool waiting = Flag(b, "waiting");
    const bool first = polls_ == 1;
    const bool moved =
        (rows != rows_ || waiting != waiting_) && polls_ - last_line_ >= kPollsPerPlainLine;
    if (first || state != state_ || moved) {
      out_ << line << "\n";
      out_.flush();
      last_line_ = polls_;
      rows_ = rows;
      waiting_ = waiting;
    }
    state_ = state;
  }

  // Ends the redrawn line.
  void Finish() {
    if (style_ == ProgressStyle::kBar && drawn_ > 0) out_ << "\n";
    out_.flush();
  }

 private:
  std::ostream& out_;
  const ProgressStyle style_;
  size_t drawn_ = 0;  // kBar: the width of the line on screen
  // kLines: what the last printed line said.
  int polls_ = 0;
  int last_line_ = 0;
  std::string state_;
  uint64_t rows_ = 0;
  bool waiting_ = false;
};

std::string StartBody(const BackfillStartOptions& options) {
  std::string body = "{\"table\":";
  AppendJsonString(options.table, &body);
  if (!options.sort_column.empty()) {
    body += ",\"sort_column\":";
    AppendJsonString(options.sort_column, &body);
  }
  if (options.start_position) {
    body += ",\"start_position\":";
    AppendJsonString(*options.start_position, &body);
  }
  return body + "}";
}

BackfillEnd EndOf(const std::string& state) {
  if (state == "done") return BackfillEnd::kDone;
  if (state == "cancelled") return BackfillEnd::kCancelled;
  return BackfillEnd::kFailed;
}

// "backfill 7 of public.orders".
std::string Name(const Value& b) {
  return "backfill " + std::to_string(Count(b, "id")) + " of " +
         Cell(Text(b, "table"), kTableWidth);
}

}  // namespace

std::string Thousands(uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

std::string BackfillProgressLine(const Value& b) {
  std::string line = Cell(Text(b, "table"), kTableWidth) + "  ";
  const uint64_t done = Count(b, "rows_done");
  if (auto share = Share(b)) {
    const auto filled = std::min(kBarWidth, static_cast<size_t>(std::lround(*share * kBarWidth)));
    line += "[" + std::string(filled, '#') + std::string(kBarWidth - filled, '.') + "] " +
            Percent(*share) + " " + Thousands(done) + "/" + Thousands(Count(b, "rows_estimate")) +
            " rows";
  } else {
    line += Rows(done);
  }
  const std::string state = Text(b, "state");
  if (state != "running") return line + "  " + state;
  line += "  " + Rate(b) + " rows/s";
  if (Flag(b, "waiting")) {
    line += "  waiting: the sink's backlog is large";
  } else if (auto eta = Number(b, "eta_seconds")) {
    line += "  ETA " + ShortDuration(std::chrono::milliseconds(std::llround(*eta * 1000)));
  }
  return line;
}

Result<BackfillEnd> StartBackfill(ApiClient& client, const config::Settings& settings,
                                  const BackfillStartOptions& options, const BackfillWait& wait,
                                  std::ostream& out) {
  if (options.table.empty()) {
    return Error(ErrorCode::kInvalidArgument, "--table is required (schema.table)");
  }
  if (options.start_position && options.sort_column.empty()) {
    return Error(ErrorCode::kInvalidArgument,
                 "--start-position needs --sort-column: a start position is a value of the sort "
                 "column");
  }
  if (options.wait && (wait.progress == nullptr || !wait.sleep)) {
    return Error(ErrorCode::kInternal, "--wait needs a progress stream and a sleep");
  }
  SLUICE_ASSIGN_OR_RETURN(const std::string sink, SinkForCommand(settings, options.sink));
  const std::string path = BackfillsPath(sink);
  auto reply = client.Post(path, StartBody(options));
  if (!reply.ok()) return NeedsRunningSluice(client, reply.error());
  if (!IsBackfill(reply->json)) return MalformedReply(client, "POST " + path);
  if (!options.wait) {
    if (options.format == OutputFormat::kJson) {
      PrintBody(reply->body, out);
    } else {
      out << "started " << Name(reply->json) << " (sink " << sink << ", " << Order(reply->json)
          << ")\nfollow it with: sluice backfill list --config " << ShellWord(settings.config_path)
          << " --sink " << ShellWord(sink) << "\n";
    }
    return BackfillEnd::kStarted;
  }

  const std::string one = path + "/" + std::to_string(Count(reply->json, "id"));
  ProgressView view(wait);
  ApiReply current = std::move(*reply);
  view.Show(current.json);
  while (Text(current.json, "state") == "running") {
    wait.sleep(kBackfillPollInterval);
    auto next = client.Get(one);
    if (!next.ok()) {
      view.Finish();
      return NeedsRunningSluice(client, next.error());
    }
    if (!IsBackfill(next->json)) {
      view.Finish();
      return MalformedReply(client, "GET " + one);
    }
    current = std::move(*next);
    view.Show(current.json);
  }
  view.Finish();

  const Value& b = current.json;
  const std::string state = Text(b, "state");
  if (options.format == OutputFormat::kJson) {
    PrintBody(current.body, out);
  } else if (state == "done") {
    out << Name(b) << " done: " << Rows(Count(b, "rows_done")) << " read\n";
  } else if (state == "cancelled") {
    out << Name(b) << " was cancelled after " << Rows(Count(b, "rows_done")) << "\n";
  } else {
    const std::string error = Text(b, "error");
    out << Name(b) << " failed after " << Rows(Count(b, "rows_done"))
        << (error.empty() ? "" : ": " + Cell(error, 4096)) << "\n";
  }
  return EndOf(state);
}

Status ListBackfills(ApiClient& client, const config::Settings& settings, const std::string& sink,
                     OutputFormat format, std::ostream& out) {
  std::vector<std::string> sinks;
  if (!sink.empty()) {
    sinks.push_back(sink);
  } else {
    for (const auto& s : settings.sinks) {
      if (s.status != config::SinkStatus::kDisabled) sinks.push_back(s.name);
    }
    // None: SinkForCommand's error says so.
    if (sinks.empty()) return SinkForCommand(settings, "").error();
  }

  std::vector<ApiReply> replies;
  for (const std::string& name : sinks) {
    auto reply = client.Get(BackfillsPath(name));
    if (!reply.ok()) return NeedsRunningSluice(client, reply.error());
    const Value* list = Member(reply->json, "backfills");
    if (list == nullptr || !list->IsArray()) {
      return MalformedReply(client, "GET " + BackfillsPath(name));
    }
    replies.push_back(std::move(*reply));
  }

  if (format == OutputFormat::kJson) {
    if (replies.size() == 1) {
      PrintBody(replies[0].body, out);
      return OkStatus();
    }
    rapidjson::Document all(rapidjson::kObjectType);
    Value list(rapidjson::kArrayType);
    for (const ApiReply& reply : replies) {
      for (const Value& b : reply.json["backfills"].GetArray()) {
        list.PushBack(Value(b, all.GetAllocator()), all.GetAllocator());
      }
    }
    all.AddMember("backfills", list, all.GetAllocator());
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
    all.Accept(writer);
    PrintBody(std::string(buffer.GetString(), buffer.GetSize()), out);
    return OkStatus();
  }

  const bool several = sinks.size() > 1;
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> header = {"ID", "TABLE", "STATE", "PROGRESS", "RATE", "ETA", "ERROR"};
  if (several) header.insert(header.begin(), "SINK");
  rows.push_back(std::move(header));
  for (size_t i = 0; i < replies.size(); ++i) {
    for (const Value& b : replies[i].json["backfills"].GetArray()) {
      const bool running = Text(b, "state") == "running";
      std::string eta = "-";
      if (running && Flag(b, "waiting")) {
        eta = "waiting";
      } else if (auto seconds = Number(b, "eta_seconds"); running && seconds) {
        eta = ShortDuration(std::chrono::milliseconds(std::llround(*seconds * 1000)));
      }
      const std::string error = Text(b, "error");
      std::vector<std::string> row = {std::to_string(Count(b, "id")),
                                      Cell(Text(b, "table"), kTableWidth),
                                      Text(b, "state"),
                                      Progress(b),
                                      running ? Rate(b) + "/s" : "-",
                                      eta,
                                      error.empty() ? "-" : Cell(error, kErrorWidth)};
      if (several) row.insert(row.begin(), Cell(sinks[i], kTableWidth));
      rows.push_back(std::move(row));
    }
  }
  if (rows.size() == 1) {
    std::string names;
    for (const std::string& name : sinks) names += (names.empty() ? "" : ", ") + name;
    out << "no backfills of " << (several ? "sinks " : "sink ") << names << "\n";
    return OkStatus();
  }
  PrintTable(rows, out);
  return OkStatus();
}

Status CancelBackfill(ApiClient& client, const config::Settings& settings,
                      const std::string& sink_given, uint64_t id, OutputFormat format,
                      std::ostream& out) {
  SLUICE_ASSIGN_OR_RETURN(const std::string sink, SinkForCommand(settings, sink_given));
  const std::string path = BackfillsPath(sink) + "/" + std::to_string(id) + "/cancel";
  auto reply = client.Post(path);
  if (!reply.ok()) return NeedsRunningSluice(client, reply.error());
  if (!IsBackfill(reply->json)) return MalformedReply(client, "POST " + path);
  if (format == OutputFormat::kJson) {
    PrintBody(reply->body, out);
    return OkStatus();
  }
  const Value& b = reply->json;
  const std::string state = Text(b, "state");
  if (state == "cancelled" || state == "running") {
    out << Name(b) << " (sink " << sink << ") "
        << (state == "running" ? "is cancelling" : "is cancelled") << " after "
        << Rows(Count(b, "rows_done"))
        << ": no new page is read; rows already read are still delivered\n";
  } else {
    out << Name(b) << " (sink " << sink << ") had finished already (" << state
        << "); nothing to cancel\n";
  }
  return OkStatus();
}

}  // namespace sluice::app
