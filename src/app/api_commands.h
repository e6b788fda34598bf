// `sluice messages …` and `sluice sinks …` against a running sluice, through
// its management API (docs/api.md, docs/operations.md "Command line").
//
// Why next to app/messages_command.h: `sluice messages` acts on a running
// sluice through the API (messages in memory and in the store) and, when
// nothing answers at the API's address, on the local store directly (that
// file's offline commands, which print the same documents and, through
// PrintMessageRows and PrintMessageDetail below, the same tables). The
// message functions below therefore return ApiOutcome::kNotRunning instead of
// an error when nothing answered, having written nothing; src/cli/main.cc
// then prints NotRunningNotice() on stderr and runs the offline command. The
// sinks commands need a running sluice and fail with kUnavailable instead.
//
// Each command is a function of an ApiClient, the loaded config, its options
// and the current time, writing to `out`, so it is tested against a scripted
// transport; main.cc only parses the command line.
//
// Output: a table or text for people, or with OutputFormat::kJson exactly the
// JSON document the API answered. Errors are values (see app/api_client.h for
// how API statuses map to codes); ExitCodeFor (app/messages_command.h) maps
// them to exit codes: bad command line and 400 → 64, anything else → 1.
//
// Thread safety: the functions hold no state.
#pragma once

#include <rapidjson/document.h>

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>

#include "app/api_client.h"
#include "app/messages_command.h"
#include "base/clock.h"
#include "base/result.h"
#include "config/settings.h"

namespace sluice::app {

enum class ApiOutcome {
  kDone,        // the API answered and the output is written
  kNotRunning,  // nothing answered at the API's address; nothing was written
};

// The sink a message command acts on: `given` when not empty, else the
// config's only sink that is not disabled; kInvalidArgument ("--sink is
// required …", naming the sinks) when the config has several.
Result<std::string> SinkForCommand(const config::Settings& settings, const std::string& given);

// The API's ?state= word for `sluice messages list --state WORD`: WORD for
// the API's own (pending, in_flight, backing_off, failed, failing — backing_off
// and failed —, delivered), "pending" for "waiting", "" (every held message)
// for "all". kInvalidArgument naming the accepted words.
Result<std::string> ParseListState(std::string_view word);

struct ApiListOptions {
  std::string sink;                      // empty: SinkForCommand's default
  std::string state;                     // ParseListState's word; empty: every held message
  std::string cursor;                    // the previous page's next_cursor; empty: the first page
  size_t limit = kDefaultMessagesLimit;  // 1..kMaxMessagesLimit
  OutputFormat format = OutputFormat::kTable;
};

// One page of GET /api/sinks/{sink}/messages. Table: id, state, table,
// action, partition key, deliver count, next attempt (relative to `now`),
// last error (truncated); then a line with the command for the next page, or
// saying there is none.
Result<ApiOutcome> ListMessagesViaApi(ApiClient& client, const config::Settings& settings,
                                      const ApiListOptions& options, WallTime now,
                                      std::ostream& out);

// GET /api/sinks/{sink}/messages/{id}: every field, then the change (before
// functions) and the payload (after them) pretty-printed. options.sink empty:
// SinkForCommand's default.
Result<ApiOutcome> ShowMessageViaApi(ApiClient& client, const config::Settings& settings,
                                     const ShowMessageOptions& options, WallTime now,
                                     std::ostream& out);

// POST …/messages/{id}/redeliver, or …/messages/redeliver {"state":"failed"}
// for MessageSelection::kFailing (kAll is refused, kInvalidArgument).
Result<ApiOutcome> RedeliverViaApi(ApiClient& client, const config::Settings& settings,
                                   const MessageActionOptions& options, std::ostream& out);

// POST …/messages/{id}/discard, or …/messages/discard with {"state":"failed"}
// or {"state":"all"}. The bulk forms need options.confirmed: without it they
// are refused (kInvalidArgument) before anything is sent.
Result<ApiOutcome> DiscardViaApi(ApiClient& client, const config::Settings& settings,
                                 const MessageActionOptions& options, std::ostream& out);

// The table of a page's "messages" (an array of MESSAGE, docs/api.md), with
// a header: id, state, table, action, partition key, deliver count, next
// attempt ("-", "now" when due, "in 41s"), last error (cut to one line).
void PrintMessageRows(const rapidjson::Value& messages, WallTime now, std::ostream& out);

// The text of a {"message","change","payload"} document of sink `sink`:
// every field, the full last error, then the change and the payload
// pretty-printed. False, having written nothing, when it has no "message"
// object.
bool PrintMessageDetail(const rapidjson::Value& doc, const std::string& sink, WallTime now,
                        std::ostream& out);

// The stderr line before an offline fallback: "sluice is not running (no
// answer at 127.0.0.1:7376): acting on the local store directly".
std::string NotRunningNotice(const ApiClient& client);

// GET /api/sinks. Table: name, status, health, delivered/s, backlog (held
// messages), lag, delivered count, and why the health is not healthy.
Status ListSinks(ApiClient& client, OutputFormat format, std::ostream& out);

enum class SinkAction { kPause, kResume };

// POST /api/sinks/{name}/pause or /resume; prints the sink's new status (or,
// as JSON, the SINK document the API answers).
Status ChangeSink(ApiClient& client, const std::string& name, SinkAction action,
                  OutputFormat format, std::ostream& out);

}  // namespace sluice::app
