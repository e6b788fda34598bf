// `sluice messages`: operations on the messages waiting in the local message
// store (SPEC §4, issue 3) — list by state, show one, redeliver, discard.
//
// Why offline: until the HTTP API exists these run against the store file
// directly, while sluice is stopped (a running sluice holds the store's
// exclusive lock; OpenStoreForCommand turns that into an error telling the
// operator to stop it first). Each command is a function of the store, the
// loaded config, its options and the current time, writing to `out`, so it
// is tested against a temporary store; src/cli/main.cc only parses the
// command line. The API (issue 6) will call the same MessageStore operations.
//
// Output: a table for people, or with OutputFormat::kJson exactly one JSON
// document. Errors are values: kInvalidArgument for a bad command line (an
// unknown sink, a bulk discard without confirmation, a limit out of range),
// kNotFound for an unknown message id, kIo for the store; ExitCodeFor maps
// them to the process exit codes of app/exit_codes.h.
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
  kFailing,  // every failing message of the sink (deliver count > 0)
  kAll,      // every stored message of the sink (discard only)
};

struct ListMessagesOptions {
  delivery::StoredState state = delivery::StoredState::kAll;
  std::string sink;  // empty: every sink that has stored messages
  uint64_t after_id = 0;
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

// Lists stored messages by increasing id, one page: the first `limit` with
// id > after_id, over one sink or all sinks of the store. Table: one row per
// message (id, sink, table, action, partition key, deliver count, next
// attempt relative to `now`, age, last error; long values truncated), then
// one line telling how to get the next page. JSON:
// {"messages":[...],"next_after":N,"more":bool}.
Status ListMessages(delivery::MessageStore& store, const config::Settings& settings,
                    const ListMessagesOptions& options, WallTime now, std::ostream& out);

// Every field of one message, its change as the JSON message sluice would
// put (encoded with the sink's database, name and timestamp format, before
// the sink's functions) and its full last error. kNotFound for an unknown id.
Status ShowMessage(delivery::MessageStore& store, const config::Settings& settings,
                   const ShowMessageOptions& options, WallTime now, std::ostream& out);

// Makes one message (kOne) or every failing one (kFailing) due at once; the
// next sluice run tries them without waiting for their backoff. Deliver
// counts are kept. kAll is refused (kInvalidArgument).
Status RedeliverMessages(delivery::MessageStore& store, const config::Settings& settings,
                         const MessageActionOptions& options, std::ostream& out);

// Deletes one message, every failing one or all of the sink's messages, for
// good. The bulk forms need options.confirmed.
Status DiscardMessages(delivery::MessageStore& store, const config::Settings& settings,
                       const MessageActionOptions& options, std::ostream& out);

// Exit code for a failed command: kInvalidArgument 64 (bad command line),
// kConfig 2, anything else 1.
int ExitCodeFor(const Error& error);

}  // namespace sluice::app
