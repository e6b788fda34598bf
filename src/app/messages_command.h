// `sluice messages`: operations on the messages waiting in the local message
// store (SPEC §4, issue 3) — list by state, show one, redeliver, discard.
//
// Why offline: these run against the store file directly, while sluice is
// stopped (a running sluice holds the store's exclusive lock;
// OpenStoreForCommand turns that into an error telling the operator to stop
// it first). src/cli/main.cc runs them when nothing answers at the API's
// address (app/api_commands.h). Each command is a function of the store, the
// loaded config, its options and the current time, writing to `out`, so it is
// tested against a temporary store; main.cc only parses the command line.
//
// Output: the same as through the API, so that scripts do not notice whether
// sluice runs. With OutputFormat::kJson exactly one JSON document of the
// API's shape (docs/api.md), rendered by api/render.h from the store's
// messages: a stored message is "failed" when it was attempted (deliver count
// > 0), else "pending"; its next_attempt_at is null unless it failed. The
// table is printed by the API commands' printers from that same document.
// Errors are values: kInvalidArgument for a bad command line (an unknown
// sink, a bulk discard without confirmation, a limit or cursor out of range),
// kUnavailable for a state only a running sluice has, kNotFound for an
// unknown message id, kIo for the store; ExitCodeFor maps them to the process
// exit codes of app/exit_codes.h.
//
// Thread safety: the functions hold no state; the store serializes calls.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <ostream>
#include <string>

#include "base/clock.h"
#include "base/result.h"
#include "config/settings.h"
#include "delivery/message_store.h"

namespace sluice::app {

inline constexpr size_t kDefaultMessagesLimit = 50;
inline constexpr size_t kMaxMessagesLimit = 1000;

enum class OutputFormat { kTable, kJson };

// Which messages redeliver / discard act on.
enum class MessageSelection {
  kOne,      // the message `id`
  kFailing,  // every failing message of the sink (in the store: deliver count > 0)
  kAll,      // every message of the sink (discard only)
};

struct ListMessagesOptions {
  std::string sink;
  // The API's state word (app/api_commands.h ParseListState): empty for
  // every stored message; "pending" (never attempted); "failed" or "failing"
  // (attempted: in a stopped sluice every failing message is "failed"). The
  // states only a running sluice has (in_flight, backing_off, delivered) are
  // refused with kUnavailable.
  std::string state;
  // The next_cursor of the previous page (the decimal id of its last
  // message); empty: the first page.
  std::string cursor;
  size_t limit = kDefaultMessagesLimit;  // 1..kMaxMessagesLimit
  OutputFormat format = OutputFormat::kTable;
};

struct ShowMessageOptions {
  std::string sink;
  uint64_t id = 0;
  OutputFormat format = OutputFormat::kTable;
};

struct MessageActionOptions {
  std::string sink;
  MessageSelection selection = MessageSelection::kOne;
  uint64_t id = 0;  // with kOne
  // --yes: required by the bulk discards (kFailing, kAll), which cannot be
  // undone; they are refused without it.
  bool confirmed = false;
  OutputFormat format = OutputFormat::kTable;
};

// Opens <settings.data_dir>/store.sqlite3 (creating it when missing, like
// `sluice run`). A store held by a running sluice gives a kUnavailable error
// saying that the data_dir is in use and to stop sluice first.
Result<std::unique_ptr<delivery::MessageStore>> OpenStoreForCommand(
    const config::Settings& settings);

// Lists the sink's stored messages by increasing id, one page: the first
// `limit` after the cursor. JSON: {"messages":[MESSAGE...],"next_cursor":
// "<last id>" or null on the last page}. Table: as through the API (id,
// state, table, action, partition key, deliver count, next attempt relative
// to `now`, last error), then one line with the command for the next page.
Status ListMessages(delivery::MessageStore& store, const config::Settings& settings,
                    const ListMessagesOptions& options, WallTime now, std::ostream& out);

// One message as GET …/messages/{id} shows it: {"message":MESSAGE,
// "change":…,"payload":…}, the change as sluice makes it before the sink's
// functions and the payload as it would be put now, after them (the
// functions run here, as at the next attempt). kNotFound for an unknown id.
Status ShowMessage(delivery::MessageStore& store, const config::Settings& settings,
                   const ShowMessageOptions& options, WallTime now, std::ostream& out);

// Makes one message (kOne) or every failing one (kFailing) due at once; the
// next sluice run tries them without waiting for their backoff. Deliver
// counts are kept. kAll is refused (kInvalidArgument). JSON:
// {"affected":N,"skipped":0} (nothing is in flight in a stopped sluice).
Status RedeliverMessages(delivery::MessageStore& store, const config::Settings& settings,
                         const MessageActionOptions& options, std::ostream& out);

// Deletes one message, every failing one or all of the sink's messages, for
// good. The bulk forms need options.confirmed. JSON as RedeliverMessages.
Status DiscardMessages(delivery::MessageStore& store, const config::Settings& settings,
                       const MessageActionOptions& options, std::ostream& out);

// Exit code for a failed command: kInvalidArgument 64 (bad command line),
// kConfig 2, anything else 1.
int ExitCodeFor(const Error& error);

}  // namespace sluice::app
