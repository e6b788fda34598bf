#include "api/render.h"

#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <time.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <optional>

#include "base/json_text.h"

namespace sluice::api {
namespace {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

// Writes `text` through AppendJsonString, which makes any bytes valid JSON
// (RapidJSON's Writer would copy ill-formed UTF-8 as it is).
void String(JsonWriter& w, std::string_view text) {
  std::string quoted;
  quoted.reserve(text.size() + 2);
  AppendJsonString(text, &quoted);
  w.RawValue(quoted.data(), quoted.size(), rapidjson::kStringType);
}

void Key(JsonWriter& w, const char* key) { w.Key(key); }

void Time(JsonWriter& w, const std::optional<WallTime>& time) {
  if (!time) {
    w.Null();
    return;
  }
  const std::string text = FormatTime(*time);
  w.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
}

void StringOrNull(JsonWriter& w, std::string_view text) {
  if (text.empty()) {
    w.Null();
  } else {
    String(w, text);
  }
}

// True when `text` is one well-formed JSON value (whitespace around it is
// fine; anything else after it is an error for the Reader).
bool IsJson(std::string_view text) {
  rapidjson::Reader reader;
  rapidjson::BaseReaderHandler<> ignore;
  rapidjson::MemoryStream stream(text.data(), text.size());
  return !reader.Parse(stream, ignore).IsError();
}

// Embeds JSON text as a value; null when it is empty.
void RawOrNull(JsonWriter& w, std::string_view json) {
  if (json.empty()) {
    w.Null();
  } else {
    w.RawValue(json.data(), json.size(), rapidjson::kObjectType);
  }
}

// JSON has no NaN or infinity.
double Finite(double value) { return std::isfinite(value) ? value : 0.0; }

void WriteSink(JsonWriter& w, const SinkSummary& s) {
  w.StartObject();
  Key(w, "name");
  String(w, s.name);
  Key(w, "database");
  String(w, s.database);
  Key(w, "stream_arn");
  String(w, s.stream_arn);
  Key(w, "status");
  w.String(s.paused ? "paused" : "active");
  Key(w, "health");
  w.String(SinkHealthName(s.health));
  Key(w, "health_reason");
  String(w, s.health_reason);
  Key(w, "lag_bytes");
  w.Uint64(s.lag_bytes);

  Key(w, "counts");
  w.StartObject();
  Key(w, "ingested");
  w.Uint64(s.counts.ingested);
  Key(w, "delivered");
  w.Uint64(s.counts.delivered);
  Key(w, "failed_attempts");
  w.Uint64(s.counts.failed_attempts);
  Key(w, "filtered");
  w.Uint64(s.counts.filtered);
  Key(w, "discarded");
  w.Uint64(s.counts.discarded);
  Key(w, "oversize");
  w.Uint64(s.counts.oversize);
  Key(w, "throttled");
  w.Uint64(s.counts.throttled);
  w.EndObject();

  Key(w, "backlog");
  w.StartObject();
  Key(w, "pending");
  w.Uint64(s.backlog.pending);
  Key(w, "in_flight");
  w.Uint64(s.backlog.in_flight);
  Key(w, "backing_off");
  w.Uint64(s.backlog.backing_off);
  Key(w, "failed");
  w.Uint64(s.backlog.failed);
  Key(w, "stored");
  w.Uint64(s.backlog.stored);
  w.EndObject();

  Key(w, "delivered_per_second");
  w.Double(Finite(s.delivered_per_second));
  Key(w, "oldest_waiting_committed_at");
  Time(w, s.oldest_waiting_committed_at);
  Key(w, "last_delivered_at");
  Time(w, s.last_delivered_at);
  w.EndObject();
}

void WriteMessage(JsonWriter& w, const MessageSummary& m) {
  w.StartObject();
  Key(w, "id");
  w.Uint64(m.id);
  Key(w, "state");
  w.String(MessageStateName(m.state));
  Key(w, "table");
  String(w, m.table);
  Key(w, "action");
  String(w, m.action);
  Key(w, "commit_lsn");
  String(w, m.commit_lsn);
  Key(w, "committed_at");
  Time(w, m.committed_at);
  Key(w, "partition_key");
  String(w, m.partition_key);
  Key(w, "deliver_count");
  w.Int64(m.deliver_count);
  Key(w, "last_error");
  String(w, m.last_error);
  Key(w, "next_attempt_at");
  Time(w, m.next_attempt_at);
  Key(w, "delivered_at");
  Time(w, m.delivered_at);
  Key(w, "stream_arn");
  String(w, m.stream_arn);
  Key(w, "shard_id");
  String(w, m.shard_id);
  Key(w, "sequence_number");
  String(w, m.sequence_number);
  w.EndObject();
}

void WriteBackfill(JsonWriter& w, const BackfillInfo& b) {
  w.StartObject();
  Key(w, "id");
  w.Uint64(b.id);
  Key(w, "sink");
  String(w, b.sink);
  Key(w, "table");
  String(w, b.table);
  Key(w, "sort_column");
  String(w, b.sort_column);
  Key(w, "start_position");
  if (b.start_position) {
    String(w, *b.start_position);
  } else {
    w.Null();
  }
  Key(w, "origin");
  String(w, b.origin);
  Key(w, "state");
  w.String(BackfillStateName(b.state));
  Key(w, "rows_done");
  w.Uint64(b.rows_done);
  Key(w, "rows_estimate");
  w.Uint64(b.rows_estimate);
  Key(w, "rows_per_second");
  w.Double(Finite(b.rows_per_second));
  Key(w, "eta_seconds");
  if (b.eta_seconds && std::isfinite(*b.eta_seconds)) {
    w.Double(*b.eta_seconds);
  } else {
    w.Null();
  }
  Key(w, "page_size");
  w.Uint64(b.page_size);
  Key(w, "waiting");
  w.Bool(b.waiting);
  Key(w, "started_at");
  Time(w, b.started_at);
  Key(w, "finished_at");
  Time(w, b.finished_at);
  Key(w, "error");
  String(w, b.error);
  w.EndObject();
}

std::string Done(const rapidjson::StringBuffer& buffer) {
  return std::string(buffer.GetString(), buffer.GetSize());
}

}  // namespace

std::string FormatTime(WallTime time) {
  const int64_t ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
  int64_t seconds = ms / 1000;
  int64_t millis = ms % 1000;
  if (millis < 0) {
    millis += 1000;
    --seconds;
  }
  const time_t tt = static_cast<time_t>(seconds);
  struct tm tm {};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(millis));
  return buf;
}

std::string ErrorJson(std::string_view code, std::string_view message) {
  rapidjson::StringBuffer buffer;
  JsonWriter w(buffer);
  w.StartObject();
  Key(w, "error");
  w.StartObject();
  Key(w, "code");
  String(w, code);
  Key(w, "message");
  String(w, message);
  w.EndObject();
  w.EndObject();
  return Done(buffer);
}

std::string SinkJson(const SinkSummary& sink) {
  rapidjson::StringBuffer buffer;
  JsonWriter w(buffer);
  WriteSink(w, sink);
  return Done(buffer);
}

std::string SinksJson(const std::vector<SinkSummary>& sinks) {
  rapidjson::StringBuffer buffer;
  JsonWriter w(buffer);
  w.StartObject();
  Key(w, "sinks");
  w.StartArray();
  for (const SinkSummary& s : sinks) WriteSink(w, s);
  w.EndArray();
  w.EndObject();
  return Done(buffer);
}

std::string MessagePageJson(const MessagePage& page) {
  rapidjson::StringBuffer buffer;
  JsonWriter w(buffer);
  w.StartObject();
  Key(w, "messages");
  w.StartArray();
  for (const MessageSummary& m : page.messages) WriteMessage(w, m);
  w.EndArray();
  Key(w, "next_cursor");
  StringOrNull(w, page.next_cursor);
  w.EndObject();
  return Done(buffer);
}

Result<std::string> MessageDetailJson(const MessageDetail& detail) {
  const bool delivered = detail.summary.state == MessageState::kDelivered;
  if (!detail.change_json.empty() && !IsJson(detail.change_json)) {
    return Error(ErrorCode::kInternal,
                 "message " + std::to_string(detail.summary.id) + ": its change is not valid JSON");
  }
  if (!delivered && !detail.payload_json.empty() && !IsJson(detail.payload_json)) {
    return Error(ErrorCode::kInternal, "message " + std::to_string(detail.summary.id) +
                                           ": its payload is not valid JSON");
  }
  rapidjson::StringBuffer buffer;
  JsonWriter w(buffer);
  w.StartObject();
  Key(w, "message");
  WriteMessage(w, detail.summary);
  Key(w, "change");
  RawOrNull(w, detail.change_json);
  Key(w, "payload");
  if (delivered) {
    w.Null();
  } else {
    w.StartObject();
    Key(w, "data");
    RawOrNull(w, detail.payload_json);
    Key(w, "stream_arn");
    String(w, detail.payload_stream_arn);
    Key(w, "filtered");
    w.Bool(detail.payload_filtered);
    Key(w, "error");
    StringOrNull(w, detail.payload_error);
    w.EndObject();
  }
  w.EndObject();
  return Done(buffer);
}

std::string ActionResultJson(const ActionResult& result) {
  rapidjson::StringBuffer buffer;
  JsonWriter w(buffer);
  w.StartObject();
  Key(w, "affected");
  w.Uint64(result.affected);
  Key(w, "skipped");
  w.Uint64(result.skipped);
  w.EndObject();
  return Done(buffer);
}

std::string ReadinessJson(const Readiness& readiness) {
  rapidjson::StringBuffer buffer;
  JsonWriter w(buffer);
  w.StartObject();
  Key(w, "status");
  w.String(readiness.ready ? "ready" : "not_ready");
  Key(w, "reasons");
  w.StartArray();
  for (const std::string& reason : readiness.reasons) String(w, reason);
  w.EndArray();
  w.EndObject();
  return Done(buffer);
}

std::string BackfillJson(const BackfillInfo& backfill) {
  rapidjson::StringBuffer buffer;
  JsonWriter w(buffer);
  WriteBackfill(w, backfill);
  return Done(buffer);
}

std::string BackfillsJson(const std::vector<BackfillInfo>& backfills) {
  rapidjson::StringBuffer buffer;
  JsonWriter w(buffer);
  w.StartObject();
  Key(w, "backfills");
  w.StartArray();
  for (const BackfillInfo& b : backfills) WriteBackfill(w, b);
  w.EndArray();
  w.EndObject();
  return Done(buffer);
}

}  // namespace sluice::api
