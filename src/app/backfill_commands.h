// `sluice backfill start|list|cancel` against a running sluice, through its
// management API (docs/api.md "Backfills", docs/operations.md "Command line").
//
// Like app/api_commands.h, each command is a function of an ApiClient, the
// loaded config and its options, writing to `out` (stdout), so it is tested
// against a scripted transport; main.cc only parses the command line. A
// backfill needs a running sluice: when nothing answers at the API's address
// the commands fail with kUnavailable saying so.
//
// `start --wait` polls the backfill every second (BackfillWait::sleep, a seam
// so tests do not sleep) and shows its progress on `progress` (stderr): in a
// terminal one line redrawn with '\r',
//   public.orders  [#########.........] 48% 96,000/200,000 rows  2,130 rows/s  ETA 49s
// otherwise plain lines, at most one per 10 polls while rows advance. It
// returns once the backfill is no longer running; the process then exits 0
// for done, 1 for failed or cancelled (BackfillEnd).
//
// Output: a table or text for people, or with OutputFormat::kJson the JSON
// the API answered (start --wait: the final BACKFILL). Errors are values (see
// app/api_client.h); ExitCodeFor (app/messages_command.h) maps them to exit
// codes: bad command line and 400 → 64, anything else → 1.
//
// Thread safety: the functions hold no state.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <string>

#include "app/api_client.h"
#include "app/messages_command.h"
#include "base/result.h"
#include "config/settings.h"

namespace sluice::app {

// How often `start --wait` asks for the backfill's progress.
inline constexpr std::chrono::milliseconds kBackfillPollInterval{1000};

struct BackfillStartOptions {
  std::string sink;         // empty: SinkForCommand's default (the config's only sink)
  std::string table;        // schema.table
  std::string sort_column;  // empty: by primary key
  std::optional<std::string> start_position;  // needs sort_column
  bool wait = false;
  OutputFormat format = OutputFormat::kTable;
};

enum class ProgressStyle {
  kBar,    // a terminal: one line redrawn in place
  kLines,  // a file or pipe: plain lines
};

// What `start --wait` needs besides the client.
struct BackfillWait {
  std::ostream* progress = nullptr;  // where progress goes (stderr); required with wait
  ProgressStyle style = ProgressStyle::kLines;
  // Waits that long between two polls (production: sleeps the thread).
  std::function<void(std::chrono::milliseconds)> sleep;
};

// How `start` ended.
enum class BackfillEnd {
  kStarted,    // without --wait: the backfill runs on
  kDone,       // --wait: it read every row
  kFailed,     // --wait: it failed (the reason is printed)
  kCancelled,  // --wait: someone cancelled it
};

// POST /api/sinks/{sink}/backfills, then with options.wait
// GET /api/sinks/{sink}/backfills/{id} every kBackfillPollInterval until the
// backfill is no longer running. A start position without a sort column is
// refused (kInvalidArgument) before anything is sent.
Result<BackfillEnd> StartBackfill(ApiClient& client, const config::Settings& settings,
                                  const BackfillStartOptions& options, const BackfillWait& wait,
                                  std::ostream& out);

// GET /api/sinks/{sink}/backfills. Without a sink and with several in the
// config, every sink that is not disabled, in config order (a SINK column is
// added; as JSON, one {"backfills": [...]} of them all). Table: id, table,
// state, progress (rows done / estimate and %), rate, ETA, error.
Status ListBackfills(ApiClient& client, const config::Settings& settings, const std::string& sink,
                     OutputFormat format, std::ostream& out);

// POST /api/sinks/{sink}/backfills/{id}/cancel; says whether it was running
// (and is cancelled now) or had finished already.
Status CancelBackfill(ApiClient& client, const config::Settings& settings, const std::string& sink,
                      uint64_t id, OutputFormat format, std::ostream& out);

// "public.orders  [#########.........] 48% 96,000/200,000 rows  2,130 rows/s  ETA 49s"
// from a BACKFILL document (without a row estimate: no bar, only the rows).
// For tests and the plain-lines style.
std::string BackfillProgressLine(const rapidjson::Value& backfill);

// 1234567 → "1,234,567".
std::string Thousands(uint64_t n);

}  // namespace sluice::app
