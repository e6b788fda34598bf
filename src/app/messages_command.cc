#include "app/messages_command.h"

#include <rapidjson/document.h>

#include <charconv>
#include <chrono>
#include <optional>
#include <utility>
#include <vector>

#include "api/control.h"
#include "api/render.h"
#include "app/api_commands.h"
#include "app/cli_text.h"
#include "app/exit_codes.h"
#include "app/function_record_maker.h"
#include "delivery/record_maker.h"
#include "model/encoder.h"

namespace sluice::app {
namespace {

using delivery::MessageStore;
using delivery::StoredMessage;
using delivery::StoredPage;
using delivery::StoredState;

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

// The store's selection for a list --state word (ListMessagesOptions::state).
Result<StoredState> StoredStateFor(const std::string& word) {
  if (word.empty()) return StoredState::kAll;
  if (word == "pending") return StoredState::kWaiting;
  if (word == "failed" || word == "failing") return StoredState::kFailing;
  if (word == "in_flight" || word == "backing_off" || word == "delivered") {
    return Error(ErrorCode::kUnavailable,
                 "--state " + word +
                     " needs a running sluice: a stopped one holds only pending and failed "
                     "messages, in its local store");
  }
  return Error(
      ErrorCode::kInvalidArgument,
      "--state must be one of pending, failed, failing for the local store, got \"" + word + "\"");
}

// The cursor of a page: the id of the previous page's last message, as the
// API's (a positive decimal integer); 0 for the first page.
Result<uint64_t> AfterIdFor(const std::string& cursor) {
  if (cursor.empty()) return uint64_t{0};
  uint64_t id = 0;
  auto [ptr, ec] = std::from_chars(cursor.data(), cursor.data() + cursor.size(), id);
  if (ec != std::errc() || ptr != cursor.data() + cursor.size() || id == 0) {
    return Error(ErrorCode::kInvalidArgument,
                 "--cursor must be the next_cursor of an earlier page (a message id), got \"" +
                     cursor + "\"");
  }
  return id;
}

std::optional<WallTime> CommitTime(const StoredMessage& m) {
  if (!m.change.txn || m.change.txn->commit_time_us <= 0) return std::nullopt;
  return WallTime(std::chrono::duration_cast<WallTime::duration>(
      std::chrono::microseconds(m.change.txn->commit_time_us)));
}

// A stored message as the API lists it. In a stopped sluice nothing is in
// flight or backing off in memory: an attempted message is failed, any other
// pending. A failed message's not_before at the epoch (redelivered) means
// due now.
api::MessageSummary SummaryOf(const StoredMessage& m, WallTime now) {
  api::MessageSummary s;
  s.id = m.id;
  s.state = m.deliver_count > 0 ? api::MessageState::kFailed : api::MessageState::kPending;
  s.table = m.change.relation ? m.change.relation->QualifiedName() : std::string();
  s.action = model::ActionName(m.change.action);
  s.commit_lsn = (m.change.txn ? m.change.txn->commit_lsn : Lsn()).ToString();
  s.committed_at = CommitTime(m);
  s.partition_key = m.partition_key;
  s.deliver_count = m.deliver_count;
  s.last_error = m.last_error;
  if (m.deliver_count > 0) s.next_attempt_at = m.not_before == WallTime{} ? now : m.not_before;
  return s;
}

// The encoding of the sink's messages, as `sluice run` sets it up.
model::EncodeOptions EncodeOptionsFor(const config::SinkSettings& sink) {
  model::EncodeOptions encode;
  encode.database_name = sink.database;
  encode.consumer_name = sink.name;
  encode.timestamp_style = sink.timestamp_format == config::TimestampFormat::kUnixMicrosecond
                               ? model::TimestampStyle::kUnixMicrosecond
                               : model::TimestampStyle::kIso8601;
  return encode;
}

// The change before and the payload after the sink's functions, as the API
// shows them: a function that fails (or does not compile) is the payload's
// error, not the command's.
void FillContent(const config::Settings& settings, const config::SinkSettings& sink,
                 const model::Change& change, api::MessageDetail* detail) {
  const model::EncodeOptions encode = EncodeOptionsFor(sink);
  model::EncodeMessage(change, encode, &detail->change_json);
  auto maker = SinkRecordMakers(settings, sink, encode)();
  if (!maker.ok()) {
    detail->payload_error = maker.error().message();
    return;
  }
  delivery::Record record;
  Status made = (*maker)->Make(change, &record);
  if (!made.ok()) {
    detail->payload_error = made.error().message();
    return;
  }
  detail->payload_filtered = record.filtered;
  detail->payload_stream_arn = record.stream ? record.stream->arn : sink.destination.stream.arn;
  if (!record.filtered) detail->payload_json = std::move(record.data);
}

// Parses a document this file rendered, for the API commands' printers.
rapidjson::Document Parsed(const std::string& json) {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  return doc;
}

std::string NextPageCommand(const config::Settings& settings, const ListMessagesOptions& options,
                            const std::string& cursor) {
  std::string cmd = "sluice messages list --config " + ShellWord(settings.config_path);
  cmd += " --sink " + ShellWord(options.sink);
  if (!options.state.empty()) cmd += " --state " + options.state;
  if (options.limit != kDefaultMessagesLimit) cmd += " --limit " + std::to_string(options.limit);
  return cmd + " --cursor " + cursor;
}

// "1 message", "3 messages".
std::string Messages(uint64_t n) { return std::to_string(n) + (n == 1 ? " message" : " messages"); }

void WriteActionJson(size_t affected, std::ostream& out) {
  out << api::ActionResultJson(api::ActionResult{affected, 0}) << "\n";
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
  SLUICE_RETURN_IF_ERROR(CheckSink(settings, options.sink));
  SLUICE_ASSIGN_OR_RETURN(const StoredState state, StoredStateFor(options.state));
  SLUICE_ASSIGN_OR_RETURN(const uint64_t after_id, AfterIdFor(options.cursor));
  SLUICE_ASSIGN_OR_RETURN(StoredPage stored,
                          store.List(options.sink, state, after_id, options.limit));

  api::MessagePage page;
  for (const StoredMessage& m : stored.messages) page.messages.push_back(SummaryOf(m, now));
  if (stored.more && !page.messages.empty()) {
    page.next_cursor = std::to_string(page.messages.back().id);
  }
  const std::string json = api::MessagePageJson(page);
  if (options.format == OutputFormat::kJson) {
    out << json << "\n";
    return OkStatus();
  }

  const std::string scope =
      (options.state.empty() ? "" : options.state + " ") + "messages of sink " + options.sink;
  if (page.messages.empty()) {
    out << "no " << scope << (options.cursor.empty() ? "" : " after this cursor")
        << " in the local store\n";
    return OkStatus();
  }
  const rapidjson::Document doc = Parsed(json);
  PrintMessageRows(doc["messages"], now, out);
  if (!page.next_cursor.empty()) {
    out << "more " << scope << ": next page with\n  "
        << NextPageCommand(settings, options, page.next_cursor) << "\n";
  } else {
    out << Messages(page.messages.size()) << " shown; no more " << scope << "\n";
  }
  return OkStatus();
}

Status ShowMessage(MessageStore& store, const config::Settings& settings,
                   const ShowMessageOptions& options, WallTime now, std::ostream& out) {
  SLUICE_RETURN_IF_ERROR(CheckSink(settings, options.sink));
  SLUICE_ASSIGN_OR_RETURN(std::optional<StoredMessage> found, store.Get(options.sink, options.id));
  if (!found) return NoMessage(options.id, options.sink);

  api::MessageDetail detail;
  detail.summary = SummaryOf(*found, now);
  FillContent(settings, *settings.FindSink(options.sink), found->change, &detail);
  SLUICE_ASSIGN_OR_RETURN(const std::string json, api::MessageDetailJson(detail));
  if (options.format == OutputFormat::kJson) {
    out << json << "\n";
    return OkStatus();
  }
  PrintMessageDetail(Parsed(json), options.sink, now, out);
  return OkStatus();
}

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
    WriteActionJson(changed, out);
    return OkStatus();
  }
  if (options.selection == MessageSelection::kOne) {
    out << "message " << options.id << " of sink " << options.sink;
  } else {
    out << Messages(changed) << " (every failing one) of sink " << options.sink;
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
                                                  " drops messages of sink " + options.sink +
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
    WriteActionJson(removed, out);
    return OkStatus();
  }
  if (options.selection == MessageSelection::kOne) {
    out << "discarded message " << options.id << " of sink " << options.sink << "\n";
  } else {
    out << "discarded " << Messages(removed)
        << (options.selection == MessageSelection::kFailing ? " (every failing one)" : "")
        << " of sink " << options.sink << "\n";
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
