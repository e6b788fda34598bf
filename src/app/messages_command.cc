#include "app/messages_command.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "app/cli_text.h"
#include "app/exit_codes.h"
#include "base/json_text.h"
#include "base/lsn.h"
#include "model/encoder.h"

namespace sluice::app {
namespace {

using delivery::MessageStore;
using delivery::StoredMessage;
using delivery::StoredPage;
using delivery::StoredState;

// Widths of the truncated table cells, in characters.
constexpr size_t kKeyWidth = 24;
constexpr size_t kErrorWidth = 60;
constexpr size_t kTableWidth = 32;

const char* StateName(StoredState state) {
  switch (state) {
    case StoredState::kFailing: return "failing";
    case StoredState::kWaiting: return "waiting";
    case StoredState::kAll: break;
  }
  return "all";
}

const char* StateOf(const StoredMessage& m) { return m.deliver_count > 0 ? "failing" : "waiting"; }

std::string TableOf(const StoredMessage& m) {
  return m.change.relation ? m.change.relation->QualifiedName() : std::string();
}

uint64_t CommitLsnOf(const StoredMessage& m) {
  return m.change.txn ? m.change.txn->commit_lsn.value() : 0;
}

bool IsDue(const StoredMessage& m, WallTime now) { return m.not_before <= now; }

std::string NextAttempt(const StoredMessage& m, WallTime now) {
  if (IsDue(m, now)) return "now";
  return "in " +
         ShortDuration(std::chrono::duration_cast<std::chrono::milliseconds>(m.not_before - now));
}

std::string Age(const StoredMessage& m, WallTime now) {
  return ShortDuration(std::chrono::duration_cast<std::chrono::milliseconds>(now - m.created_at));
}

Status CheckSink(const config::Settings& settings, const std::string& sink) {
  if (sink.empty()) return Error(ErrorCode::kInvalidArgument, "--sink is required");
  if (settings.FindSink(sink) != nullptr) return OkStatus();
  std::string names;
  for (const auto& s : settings.sinks) names += (names.empty() ? "" : ", ") + s.name;
  return Error(ErrorCode::kInvalidArgument, "no sink named \"" + sink + "\" in " +
                                                settings.config_path + " (sinks: " + names + ")");
}

Error NoMessage(uint64_t id, const std::string& sink) {
  return Error(ErrorCode::kNotFound, "no message " + std::to_string(id) + " in sink " + sink);
}

// The fields of a message shared by `list --json` and `show --json`, without
// the closing brace.
void AppendMessageFields(const StoredMessage& m, WallTime now, std::string* out) {
  out->append("{\"id\":").append(std::to_string(m.id));
  out->append(",\"sink\":");
  AppendJsonString(m.sink, out);
  out->append(",\"state\":\"").append(StateOf(m)).append("\"");
  out->append(",\"table\":");
  AppendJsonString(TableOf(m), out);
  out->append(",\"action\":\"").append(model::ActionName(m.change.action)).append("\"");
  out->append(",\"group_key\":");
  AppendJsonString(m.group_key, out);
  out->append(",\"partition_key\":");
  AppendJsonString(m.partition_key, out);
  out->append(",\"commit_lsn\":").append(std::to_string(CommitLsnOf(m)));
  out->append(",\"commit_idx\":").append(std::to_string(m.change.commit_idx));
  out->append(",\"deliver_count\":").append(std::to_string(m.deliver_count));
  out->append(",\"last_error\":");
  AppendJsonString(m.last_error, out);
  out->append(",\"due\":").append(IsDue(m, now) ? "true" : "false");
  out->append(",\"not_before\":");
  if (m.not_before == WallTime{}) {
    out->append("null");
  } else {
    AppendJsonString(IsoMillis(m.not_before), out);
  }
  out->append(",\"created_at\":");
  AppendJsonString(IsoMillis(m.created_at), out);
}

// Reads one page over several sinks: ids are global, so the first `limit`
// ids above after_id over all sinks are among the first `limit` of each.
Result<StoredPage> ListAcross(MessageStore& store, const std::vector<std::string>& sinks,
                              StoredState state, uint64_t after_id, size_t limit) {
  StoredPage merged;
  merged.next_after = after_id;
  for (const std::string& sink : sinks) {
    SLUICE_ASSIGN_OR_RETURN(StoredPage page, store.List(sink, state, after_id, limit));
    merged.more = merged.more || page.more;
    for (StoredMessage& m : page.messages) merged.messages.push_back(std::move(m));
  }
  std::sort(merged.messages.begin(), merged.messages.end(),
            [](const StoredMessage& a, const StoredMessage& b) { return a.id < b.id; });
  if (merged.messages.size() > limit) {
    merged.messages.resize(limit);
    merged.more = true;
  }
  if (!merged.messages.empty()) merged.next_after = merged.messages.back().id;
  return merged;
}

std::string NextPageCommand(const config::Settings& settings, const ListMessagesOptions& options,
                            uint64_t next_after) {
  std::string cmd = "sluice messages list --config " + ShellWord(settings.config_path);
  if (!options.sink.empty()) cmd += " --sink " + ShellWord(options.sink);
  if (options.state != StoredState::kAll)
    cmd += std::string(" --state ") + StateName(options.state);
  if (options.limit != kDefaultMessagesLimit) cmd += " --limit " + std::to_string(options.limit);
  return cmd + " --after " + std::to_string(next_after);
}

}  // namespace

Result<std::unique_ptr<MessageStore>> OpenStoreForCommand(const config::Settings& settings) {
  auto store = MessageStore::Open(
      {settings.data_dir, delivery::StoreSync::kFull, delivery::StoreIntegrityCheck::kNone});
  if (store.ok()) return store;
  // The store reports its exclusive lock held elsewhere this way
  // (MessageStore::SqlError).
  if (store.error().message().find("is in use by another process") != std::string::npos) {
    return Error(ErrorCode::kUnavailable,
                 "data_dir " + settings.data_dir +
                     " is in use by a running sluice (its message store is locked); stop "
                     "sluice first, then run this command again");
  }
  return store.error();
}

Status ListMessages(MessageStore& store, const config::Settings& settings,
                    const ListMessagesOptions& options, WallTime now, std::ostream& out) {
  if (options.limit < 1 || options.limit > kMaxMessagesLimit) {
    return Error(ErrorCode::kInvalidArgument, "--limit must be between 1 and " +
                                                  std::to_string(kMaxMessagesLimit) + ", got " +
                                                  std::to_string(options.limit));
  }
  std::vector<std::string> sinks;
  if (options.sink.empty()) {
    SLUICE_ASSIGN_OR_RETURN(sinks, store.Sinks());
  } else {
    SLUICE_RETURN_IF_ERROR(CheckSink(settings, options.sink));
    sinks.push_back(options.sink);
  }
  SLUICE_ASSIGN_OR_RETURN(StoredPage page,
                          ListAcross(store, sinks, options.state, options.after_id, options.limit));

  if (options.format == OutputFormat::kJson) {
    std::string json = "{\"messages\":[";
    for (size_t i = 0; i < page.messages.size(); ++i) {
      if (i > 0) json.push_back(',');
      AppendMessageFields(page.messages[i], now, &json);
      json.push_back('}');
    }
    json += "],\"next_after\":" + std::to_string(page.next_after) +
            ",\"more\":" + (page.more ? "true" : "false") + "}";
    out << json << "\n";
    return OkStatus();
  }

  const std::string scope =
      (options.state == StoredState::kAll ? std::string()
                                          : StateName(options.state) + std::string(" ")) +
      "messages" + (options.sink.empty() ? "" : " of sink " + options.sink);
  if (page.messages.empty()) {
    out << "no " << scope << (options.after_id > 0 ? " after id " : "")
        << (options.after_id > 0 ? std::to_string(options.after_id) : "")
        << " in the local store\n";
    return OkStatus();
  }
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"ID", "SINK", "TABLE", "ACTION", "KEY", "TRIES", "NEXT", "AGE", "LAST ERROR"});
  for (const StoredMessage& m : page.messages) {
    rows.push_back({std::to_string(m.id), Cell(m.sink, kKeyWidth), Cell(TableOf(m), kTableWidth),
                    model::ActionName(m.change.action), Cell(m.partition_key, kKeyWidth),
                    std::to_string(m.deliver_count), NextAttempt(m, now), Age(m, now),
                    m.last_error.empty() ? "-" : Cell(m.last_error, kErrorWidth)});
  }
  PrintTable(rows, out);
  if (page.more) {
    out << "more " << scope << ": next page with\n  "
        << NextPageCommand(settings, options, page.next_after) << "\n";
  } else {
    out << page.messages.size() << " message(s) shown; no more " << scope << "\n";
  }
  return OkStatus();
}

Status ShowMessage(MessageStore& store, const config::Settings& settings,
                   const ShowMessageOptions& options, WallTime now, std::ostream& out) {
  SLUICE_RETURN_IF_ERROR(CheckSink(settings, options.sink));
  SLUICE_ASSIGN_OR_RETURN(std::optional<StoredMessage> found, store.Get(options.sink, options.id));
  if (!found) return NoMessage(options.id, options.sink);
  const StoredMessage& m = *found;

  const config::SinkSettings& sink = *settings.FindSink(options.sink);
  model::EncodeOptions encode;
  encode.database_name = sink.database;
  encode.consumer_name = sink.name;
  encode.timestamp_style = sink.timestamp_format == config::TimestampFormat::kUnixMicrosecond
                               ? model::TimestampStyle::kUnixMicrosecond
                               : model::TimestampStyle::kIso8601;
  std::string message;
  model::EncodeMessage(m.change, encode, &message);

  if (options.format == OutputFormat::kJson) {
    std::string json;
    AppendMessageFields(m, now, &json);
    json += ",\"idempotency_key\":";
    AppendJsonString(model::IdempotencyKey(m.change), &json);
    json += ",\"message\":" + message + "}";
    out << json << "\n";
    return OkStatus();
  }

  const Lsn lsn(CommitLsnOf(m));
  out << "id:              " << m.id << "\n"
      << "sink:            " << m.sink << "\n"
      << "state:           " << StateOf(m) << "\n"
      << "table:           " << TableOf(m) << "\n"
      << "action:          " << model::ActionName(m.change.action) << "\n"
      << "group:           " << m.group_key << "\n"
      << "partition key:   " << m.partition_key << "\n"
      << "commit:          LSN " << lsn.ToString() << " (" << lsn.value() << "), index "
      << m.change.commit_idx << "\n"
      << "idempotency key: " << model::IdempotencyKey(m.change) << "\n"
      << "created:         " << IsoMillis(m.created_at) << " (" << Age(m, now) << " ago)\n"
      << "deliver count:   " << m.deliver_count << "\n"
      << "next attempt:    "
      << (IsDue(m, now) ? std::string("now")
                        : IsoMillis(m.not_before) + " (" + NextAttempt(m, now) + ")")
      << "\n"
      << "last error:" << (m.last_error.empty() ? "      -" : "") << "\n";
  if (!m.last_error.empty()) {
    // Raw, each line indented.
    size_t start = 0;
    while (start <= m.last_error.size()) {
      size_t end = m.last_error.find('\n', start);
      if (end == std::string::npos) end = m.last_error.size();
      out << "  " << std::string_view(m.last_error).substr(start, end - start) << "\n";
      start = end + 1;
    }
  }
  out << "message (as encoded before the sink's functions";
  if (!sink.filter.empty() || !sink.routing.empty() || !sink.transform.empty()) {
    out << "; the sink's functions run at each attempt";
  }
  out << "):\n" << message << "\n";
  return OkStatus();
}

namespace {

// {"sink": ..., ["id": ...,] "<verb>": count} for redeliver and discard.
void WriteActionJson(const MessageActionOptions& options, const char* verb, size_t count,
                     std::ostream& out) {
  std::string json = "{\"sink\":";
  AppendJsonString(options.sink, &json);
  if (options.selection == MessageSelection::kOne) json += ",\"id\":" + std::to_string(options.id);
  json += ",\"";
  json += verb;
  json += "\":" + std::to_string(count) + "}";
  out << json << "\n";
}

}  // namespace

Status RedeliverMessages(MessageStore& store, const config::Settings& settings,
                         const MessageActionOptions& options, std::ostream& out) {
  SLUICE_RETURN_IF_ERROR(CheckSink(settings, options.sink));
  size_t changed = 0;
  switch (options.selection) {
    case MessageSelection::kAll:
      return Error(ErrorCode::kInvalidArgument,
                   "redeliver takes a message id or --failing (waiting messages are sent in "
                   "their turn)");
    case MessageSelection::kOne: {
      SLUICE_ASSIGN_OR_RETURN(changed, store.RedeliverNow(options.sink, options.id));
      if (changed == 0) return NoMessage(options.id, options.sink);
      break;
    }
    case MessageSelection::kFailing: {
      SLUICE_ASSIGN_OR_RETURN(changed, store.RedeliverFailing(options.sink));
      break;
    }
  }
  if (options.format == OutputFormat::kJson) {
    WriteActionJson(options, "redelivered", changed, out);
    return OkStatus();
  }
  if (options.selection == MessageSelection::kOne) {
    out << "message " << options.id << " of sink " << options.sink;
  } else {
    out << changed << " failing message(s) of sink " << options.sink;
  }
  out << " will be tried at once when sluice runs (in group order)\n";
  return OkStatus();
}

Status DiscardMessages(MessageStore& store, const config::Settings& settings,
                       const MessageActionOptions& options, std::ostream& out) {
  SLUICE_RETURN_IF_ERROR(CheckSink(settings, options.sink));
  if (options.selection != MessageSelection::kOne && !options.confirmed) {
    const char* which = options.selection == MessageSelection::kAll ? "--all" : "--failing";
    return Error(ErrorCode::kInvalidArgument, std::string("discard ") + which +
                                                  " deletes messages of sink " + options.sink +
                                                  " for good; add --yes to confirm");
  }
  size_t removed = 0;
  switch (options.selection) {
    case MessageSelection::kOne: {
      SLUICE_ASSIGN_OR_RETURN(removed, store.Discard(options.sink, options.id));
      if (removed == 0) return NoMessage(options.id, options.sink);
      break;
    }
    case MessageSelection::kFailing: {
      SLUICE_ASSIGN_OR_RETURN(removed, store.DiscardFailing(options.sink));
      break;
    }
    case MessageSelection::kAll: {
      SLUICE_ASSIGN_OR_RETURN(removed, store.DiscardAll(options.sink));
      break;
    }
  }
  if (options.format == OutputFormat::kJson) {
    WriteActionJson(options, "discarded", removed, out);
    return OkStatus();
  }
  if (options.selection == MessageSelection::kOne) {
    out << "discarded message " << options.id << " of sink " << options.sink << "\n";
  } else {
    out << "discarded " << removed
        << (options.selection == MessageSelection::kFailing ? " failing" : "")
        << " message(s) of sink " << options.sink << "\n";
  }
  return OkStatus();
}

int ExitCodeFor(const Error& error) {
  switch (error.code()) {
    case ErrorCode::kInvalidArgument: return kExitUsage;
    case ErrorCode::kConfig: return kExitConfigError;
    default: return kExitFailure;
  }
}

}  // namespace sluice::app
