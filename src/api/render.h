// JSON documents of the API (docs/api.md, "Endpoints"), from Control's plain
// structs. Pure functions, safe from any thread.
//
// Strings are written as valid JSON whatever their bytes (ill-formed UTF-8
// becomes U+FFFD); times are RFC 3339 UTC with milliseconds; an absent time
// or cursor is null. MessageDetail's change_json and payload_json are JSON
// text already and are embedded as JSON, not as strings.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "api/control.h"
#include "base/clock.h"
#include "base/result.h"

namespace sluice::api {

// "2026-11-27T10:00:00.123Z".
std::string FormatTime(WallTime time);

// {"error": {"code": ..., "message": ...}}
std::string ErrorJson(std::string_view code, std::string_view message);

std::string SinkJson(const SinkSummary& sink);                 // SINK
std::string SinksJson(const std::vector<SinkSummary>& sinks);  // {"sinks": [SINK, ...]}
std::string MessagePageJson(const MessagePage& page);          // {"messages", "next_cursor"}
std::string ActionResultJson(const ActionResult& result);      // {"affected", "skipped"}
std::string ReadinessJson(const Readiness& readiness);         // {"status", "reasons"}
std::string BackfillJson(const BackfillInfo& backfill);        // BACKFILL
// {"backfills": [BACKFILL, ...]}
std::string BackfillsJson(const std::vector<BackfillInfo>& backfills);

// {"message", "change", "payload"}. kInternal when change_json or
// payload_json is not valid JSON (a bug in the Control behind the API).
Result<std::string> MessageDetailJson(const MessageDetail& detail);

}  // namespace sluice::api
