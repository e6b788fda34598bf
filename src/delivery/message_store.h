// MessageStore: the local message store (SPEC §4), one SQLite file in WAL
// mode at <data_dir>/store.sqlite3.
//
// Why: a message that keeps failing, the messages queued behind it in its
// group, and messages that waited longer than a threshold would otherwise hold
// the replication slot (and the database's WAL) for as long as Kinesis is
// failing. Once Put returns OK they are durable here, so the slot may pass
// them; they are delivered from here later, in order, and read back in pages
// on restart, never all at once.
//
// What is kept: the decoded change (model/change_codec.h), not the encoded
// record, because functions and encoding run at every delivery attempt.
// Each message keeps its global sequence number (Message::id, increasing in
// commit order) as its primary key, so a group's messages come back in commit
// order. The engine must seed its id counter above MaxId() at start, since
// Message::id restarts with the process.
//
// Replays: Postgres re-sends transactions after the confirmed LSN on restart.
// A message whose (sink, commit LSN, commit_idx) is already stored is skipped
// by Put (the stored copy keeps its place in its group).
//
// Sinks are isolated by name: every query names its sink.
//
// Thread safety: all methods are thread-safe. One SQLite connection, guarded
// by a mutex, with its prepared statements cached; calls are serialized.
// The file is locked exclusively while open: a second MessageStore (in this
// or another process) on the same data_dir fails to open.
//
// Units: wall-clock times are stored as milliseconds since the Unix epoch.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "model/change.h"

struct sqlite3;
struct sqlite3_stmt;

namespace sluice::model {
class RelationCache;
}

namespace sluice::delivery {

// How hard a commit (Put, and every other write) waits for the disk.
enum class StoreSync {
  // fsync the WAL at every commit: an acknowledged write survives a process
  // crash and a power loss or OS crash. The default.
  kFull,
  // fsync only at checkpoints: an acknowledged write survives a process crash
  // (kill -9), but the last commits may be lost on power loss or OS crash.
  // Faster, for disks where fsync is slow.
  kNormal,
};

enum class StoreIntegrityCheck {
  kNone,   // only what opening reads (header, schema): fast
  kQuick,  // PRAGMA quick_check at open: reads every page, O(store size)
};

struct MessageStoreOptions {
  std::filesystem::path data_dir;  // created if missing
  StoreSync sync = StoreSync::kFull;
  StoreIntegrityCheck check = StoreIntegrityCheck::kNone;
};

// One stored message.
struct StoredMessage {
  uint64_t id = 0;  // global sequence number (Message::id), commit order
  std::string sink;
  std::string group_key;
  std::string partition_key;
  // commit LSN, commit_idx, table and action are taken from the change on Put
  // (and stored as columns for queries and display).
  model::Change change;
  int64_t deliver_count = 0;  // attempts made; > 0 means failing
  std::string last_error;
  WallTime not_before{};  // earliest next attempt; epoch: now
  WallTime created_at{};  // when the change was first taken in, for ages
};

// One page of a paged read. Pass next_after as `after_id` to get the next
// page; more is false on the last page.
struct StoredPage {
  std::vector<StoredMessage> messages;  // increasing id
  uint64_t next_after = 0;              // id of the last message returned, else `after_id`
  bool more = false;
};

// Attempt bookkeeping for one stored message.
struct StoredAttempt {
  uint64_t id = 0;
  int64_t deliver_count = 0;
  std::string last_error;
  WallTime not_before{};
};

enum class StoredState {
  kAll,
  kFailing,  // deliver_count > 0
  kWaiting,  // never attempted (waiting its turn, or behind a failing one)
};

struct StoredCounts {
  uint64_t failing = 0;
  uint64_t waiting = 0;
  std::optional<WallTime> oldest_created_at;  // of all stored messages of the sink
};

// A backfill's durable record (docs/backfill.md): what to read, and how far
// it got (the key of its last completed page).
struct BackfillRecord {
  uint64_t id = 0;  // assigned by CreateBackfill
  std::string sink;
  std::string table;  // schema.table
  std::string sort_column;
  std::optional<std::string> start_position;
  std::string origin;  // "config" | "api"
  std::string state;   // "running" | "done" | "cancelled" | "failed"
  // JSON array of the last completed page's key (strings and nulls); empty
  // before the first page completed.
  std::string last_key;
  uint64_t rows_done = 0;
  uint64_t rows_estimate = 0;
  std::string error;
  WallTime created_at{};
  WallTime updated_at{};
  std::optional<WallTime> finished_at;
};

class MessageStore {
 public:
  // Highest schema version this build reads and writes (PRAGMA user_version).
  // 2: backfills.
  static constexpr int kSchemaVersion = 2;
  // PRAGMA application_id of a sluice store ("slce").
  static constexpr int32_t kApplicationId = 0x736c6365;
  static constexpr const char* kFileName = "store.sqlite3";

  // Opens (creating or migrating) the store. Errors (kIo) name the path:
  // the directory or file cannot be created or opened, the file is not a
  // SQLite database or not a sluice store, its schema version is newer than
  // this build's, it is locked by another process, or the integrity check
  // found corruption.
  static Result<std::unique_ptr<MessageStore>> Open(const MessageStoreOptions& options);

  ~MessageStore();
  MessageStore(const MessageStore&) = delete;
  MessageStore& operator=(const MessageStore&) = delete;

  const std::filesystem::path& path() const { return path_; }

  // Writes the batch in one transaction; when OK it is durable (per
  // StoreSync). Replays are skipped: a message whose (commit LSN, commit_idx)
  // is not after that of the last stored message of its group (the same
  // change, or an earlier one already delivered). Returns how many were
  // inserted. Nothing is written on error. Ids must be unique
  // (kInvalidArgument otherwise).
  Result<size_t> Put(std::span<const StoredMessage> batch);

  // Per-group blocking: whether the store holds any message of the group,
  // and its head (lowest id).
  Result<bool> HasGroup(std::string_view sink, std::string_view group_key);
  Result<std::optional<StoredMessage>> GroupHead(std::string_view sink, std::string_view group_key);
  // The next message of a group after `after_id` (to drain a group in order).
  Result<std::optional<StoredMessage>> NextInGroup(std::string_view sink,
                                                   std::string_view group_key, uint64_t after_id);

  // Paged reads, by increasing id, `limit` >= 1.
  // Every message of the sink with id > after_id.
  Result<StoredPage> LoadPage(std::string_view sink, uint64_t after_id, size_t limit);
  // Group heads only (the lowest id of each group) with id > after_id.
  Result<StoredPage> LoadGroupHeads(std::string_view sink, uint64_t after_id, size_t limit);
  // Group heads that are due: not_before <= now.
  Result<StoredPage> LoadDueGroupHeads(std::string_view sink, WallTime now, uint64_t after_id,
                                       size_t limit);

  // Attempt bookkeeping, in one transaction. Unknown ids are ignored.
  Status RecordAttempts(std::span<const StoredAttempt> attempts);
  // Deletes delivered or discarded messages, in one transaction; returns how
  // many existed.
  Result<size_t> Remove(std::span<const uint64_t> ids);

  // Operations (list, show, count, discard, redeliver).
  Result<StoredPage> List(std::string_view sink, StoredState state, uint64_t after_id,
                          size_t limit);
  Result<std::optional<StoredMessage>> Get(std::string_view sink, uint64_t id);
  Result<StoredCounts> Count(std::string_view sink);
  // Each returns how many messages it removed or changed.
  Result<size_t> Discard(std::string_view sink, uint64_t id);
  // `keep`: ids left alone (messages in flight now).
  Result<size_t> DiscardFailing(std::string_view sink, std::span<const uint64_t> keep = {});
  Result<size_t> DiscardAll(std::string_view sink, std::span<const uint64_t> keep = {});
  // Sets not_before to the epoch, so the message is due at once.
  Result<size_t> RedeliverNow(std::string_view sink, uint64_t id);
  Result<size_t> RedeliverFailing(std::string_view sink);

  // Backfills. Create assigns the id; Update writes every field but id,
  // sink, table, sort_column, start_position, origin and created_at.
  Result<uint64_t> CreateBackfill(const BackfillRecord& record);
  Status UpdateBackfill(const BackfillRecord& record);
  // A sink's backfills, newest first.
  Result<std::vector<BackfillRecord>> Backfills(std::string_view sink);

  // Highest id stored in any sink, 0 when empty: seed Message ids above it.
  Result<uint64_t> MaxId();
  // Sinks that have stored messages, by name.
  Result<std::vector<std::string>> Sinks();

 private:
  class Statement;
  struct Statements;

  MessageStore(std::filesystem::path path, sqlite3* db);
  Status Init(const MessageStoreOptions& options);
  Status ExecLocked(const char* sql);
  Error SqlError(int rc, std::string_view what) const;
  // Runs a page query whose parameters are already bound; reads up to
  // limit + 1 rows.
  Result<StoredPage> ReadPageLocked(Statement& st, uint64_t after_id, size_t limit);
  Result<std::optional<StoredMessage>> ReadOneLocked(Statement& st);
  Result<StoredMessage> RowLocked(sqlite3_stmt* st);
  Result<size_t> ChangeLocked(Statement& st);

  const std::filesystem::path path_;
  std::mutex mu_;
  sqlite3* db_;                                      // GUARDED_BY(mu_), owned
  std::unique_ptr<Statements> stmts_;                // GUARDED_BY(mu_)
  std::unique_ptr<model::RelationCache> relations_;  // GUARDED_BY(mu_)
};

}  // namespace sluice::delivery
