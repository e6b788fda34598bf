#include "delivery/message_store.h"

#include <sqlite3.h>

#include <iterator>
#include <system_error>
#include <utility>

#include "model/change_codec.h"

namespace sluice::delivery {
namespace {

// Schema version 1. `id` is the rowid (the global sequence number).
constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE messages (
  id            INTEGER PRIMARY KEY,
  sink          TEXT    NOT NULL,
  group_key     TEXT    NOT NULL,
  partition_key TEXT    NOT NULL,
  commit_lsn    INTEGER NOT NULL,
  commit_idx    INTEGER NOT NULL,
  table_name    TEXT    NOT NULL,
  action        TEXT    NOT NULL,
  change        BLOB    NOT NULL,
  deliver_count INTEGER NOT NULL DEFAULT 0,
  last_error    TEXT    NOT NULL DEFAULT '',
  not_before_ms INTEGER NOT NULL DEFAULT 0,
  created_at_ms INTEGER NOT NULL
);
CREATE INDEX messages_by_group ON messages (sink, group_key, id);
CREATE INDEX messages_by_sink ON messages (sink, id);
CREATE UNIQUE INDEX messages_by_origin ON messages (sink, commit_lsn, commit_idx);
)sql";

// Schema version 2: backfills (docs/backfill.md).
constexpr const char* kSchemaV2 = R"sql(
CREATE TABLE backfills (
  id             INTEGER PRIMARY KEY,
  sink           TEXT    NOT NULL,
  table_name     TEXT    NOT NULL,
  sort_column    TEXT    NOT NULL DEFAULT '',
  start_position TEXT,
  origin         TEXT    NOT NULL,
  state          TEXT    NOT NULL,
  last_key       TEXT    NOT NULL DEFAULT '',
  rows_done      INTEGER NOT NULL DEFAULT 0,
  rows_estimate  INTEGER NOT NULL DEFAULT 0,
  error          TEXT    NOT NULL DEFAULT '',
  created_at_ms  INTEGER NOT NULL,
  updated_at_ms  INTEGER NOT NULL,
  finished_at_ms INTEGER
);
CREATE INDEX backfills_by_sink ON backfills (sink, id);
)sql";

// Migration hook: entry N brings a store from version N-1 to N. A new schema
// appends an entry and bumps MessageStore::kSchemaVersion.
struct Migration {
  int version;
  const char* sql;
};
constexpr Migration kMigrations[] = {{1, kSchemaV1}, {2, kSchemaV2}};
static_assert(std::size(kMigrations) == MessageStore::kSchemaVersion);

constexpr const char* kColumns =
    "id, sink, group_key, partition_key, change, deliver_count, last_error, not_before_ms, "
    "created_at_ms";

int64_t ToMs(WallTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
WallTime FromMs(int64_t ms) { return WallTime(std::chrono::milliseconds(ms)); }

std::string_view ColumnText(sqlite3_stmt* st, int i) {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st, i));
  return p ? std::string_view(p, static_cast<size_t>(sqlite3_column_bytes(st, i)))
           : std::string_view();
}

// Resets a cached statement (and drops its bindings) when a use ends.
class Use {
 public:
  explicit Use(sqlite3_stmt* st) : st_(st) {}
  ~Use() {
    sqlite3_reset(st_);
    sqlite3_clear_bindings(st_);
  }
  Use(const Use&) = delete;
  Use& operator=(const Use&) = delete;

 private:
  sqlite3_stmt* st_;
};

}  // namespace

// A prepared statement, finalized with the store.
class MessageStore::Statement {
 public:
  Statement() = default;
  ~Statement() { sqlite3_finalize(st_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  int Prepare(sqlite3* db, const std::string& sql) {
    return sqlite3_prepare_v3(db, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &st_, nullptr);
  }
  sqlite3_stmt* get() const { return st_; }

  // A null data pointer would bind SQL NULL: empty values bind "".
  void Text(int i, std::string_view v) {
    sqlite3_bind_text(st_, i, v.empty() ? "" : v.data(), static_cast<int>(v.size()),
                      SQLITE_TRANSIENT);
  }
  // `v` must stay valid until the statement is reset.
  void Blob(int i, std::string_view v) {
    sqlite3_bind_blob(st_, i, v.empty() ? "" : v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
  }
  void Int(int i, int64_t v) { sqlite3_bind_int64(st_, i, v); }

 private:
  sqlite3_stmt* st_ = nullptr;
};

struct MessageStore::Statements {
  Statement begin, commit, rollback;
  Statement insert;
  Statement has_group, group_head, next_in_group, group_tail_origin;
  Statement load_page, load_heads, load_due_heads;
  Statement record_attempt, remove;
  Statement list_failing, list_waiting, get, count;
  Statement discard, discard_failing, discard_all;
  Statement redeliver, redeliver_failing;
  Statement max_id, sinks;
};

MessageStore::MessageStore(std::filesystem::path path, sqlite3* db)
    : path_(std::move(path)),
      db_(db),
      stmts_(std::make_unique<Statements>()),
      relations_(std::make_unique<model::RelationCache>()) {}

MessageStore::~MessageStore() {
  stmts_.reset();  // statements must be finalized before the connection closes
  sqlite3_close(db_);
}

Result<std::unique_ptr<MessageStore>> MessageStore::Open(const MessageStoreOptions& options) {
  std::error_code ec;
  std::filesystem::create_directories(options.data_dir, ec);
  if (ec) {
    return Error(ErrorCode::kIo, "cannot create data directory " + options.data_dir.string() +
                                     " for the message store: " + ec.message());
  }
  std::filesystem::path path = options.data_dir / kFileName;
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string why = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return Error(ErrorCode::kIo, "cannot open message store " + path.string() + ": " + why);
  }
  std::unique_ptr<MessageStore> store(new MessageStore(path, db));
  std::lock_guard<std::mutex> lock(store->mu_);
  Status st = store->Init(options);
  if (!st.ok()) return st.error();
  return store;
}

Error MessageStore::SqlError(int rc, std::string_view what) const {
  int primary = rc & 0xff;
  std::string detail = sqlite3_errmsg(db_);
  if (primary == SQLITE_NOTADB) {
    return Error(ErrorCode::kIo,
                 "message store " + path_.string() + " is not a SQLite database (" + detail + ")");
  }
  if (primary == SQLITE_CORRUPT) {
    return Error(ErrorCode::kIo, "message store " + path_.string() + " is corrupt (" + detail +
                                     "); move it aside to start with an empty store");
  }
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
    return Error(ErrorCode::kIo, "message store " + path_.string() +
                                     " is in use by another process (" + detail + ")");
  }
  return Error(ErrorCode::kIo,
               "message store " + path_.string() + ": " + std::string(what) + ": " + detail);
}

Status MessageStore::ExecLocked(const char* sql) {
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return SqlError(rc, sql);
  return OkStatus();
}

Status MessageStore::Init(const MessageStoreOptions& options) {
  sqlite3_extended_result_codes(db_, 1);
  // Exclusive locking: WAL without shared memory, and a second store on the
  // same file (another sluice on this data_dir) fails to open.
  SLUICE_RETURN_IF_ERROR(ExecLocked("PRAGMA locking_mode = EXCLUSIVE"));

  // Reads the header: the first statement that fails on a non-SQLite file.
  int64_t app_id = 0;
  int64_t version = 0;
  {
    auto read_int = [&](const char* sql, int64_t* out) -> Status {
      sqlite3_stmt* st = nullptr;
      int rc = sqlite3_prepare_v2(db_, sql, -1, &st, nullptr);
      if (rc == SQLITE_OK) rc = sqlite3_step(st);
      if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
      }
      sqlite3_finalize(st);
      if (rc != SQLITE_OK && rc != SQLITE_DONE) return SqlError(rc, sql);
      return OkStatus();
    };
    SLUICE_RETURN_IF_ERROR(read_int("PRAGMA application_id", &app_id));
    SLUICE_RETURN_IF_ERROR(read_int("PRAGMA user_version", &version));
    int64_t objects = 0;
    SLUICE_RETURN_IF_ERROR(read_int("SELECT count(*) FROM sqlite_schema", &objects));
    bool empty = app_id == 0 && version == 0 && objects == 0;
    if (!empty && app_id != kApplicationId) {
      return Error(ErrorCode::kIo, "message store " + path_.string() +
                                       " is a SQLite database but not a sluice message store "
                                       "(application_id " +
                                       std::to_string(app_id) + "); move it aside");
    }
    if (version > kSchemaVersion) {
      return Error(ErrorCode::kIo, "message store " + path_.string() + " has schema version " +
                                       std::to_string(version) +
                                       ", newer than this sluice supports (" +
                                       std::to_string(kSchemaVersion) + "); run a newer sluice");
    }
  }

  // Holds the file lock from here on (WAL mode needs it before any shm use).
  SLUICE_RETURN_IF_ERROR(ExecLocked("BEGIN EXCLUSIVE; COMMIT"));
  {
    sqlite3_stmt* st = nullptr;
    int rc = sqlite3_prepare_v2(db_, "PRAGMA journal_mode = WAL", -1, &st, nullptr);
    if (rc == SQLITE_OK) rc = sqlite3_step(st);
    std::string mode = rc == SQLITE_ROW ? std::string(ColumnText(st, 0)) : "";
    if (rc != SQLITE_ROW) {
      Error e = SqlError(rc, "PRAGMA journal_mode = WAL");
      sqlite3_finalize(st);
      return e;
    }
    sqlite3_finalize(st);
    if (mode != "wal") {
      return Error(ErrorCode::kIo, "message store " + path_.string() +
                                       ": cannot switch to WAL mode (journal_mode is " + mode +
                                       ")");
    }
  }
  SLUICE_RETURN_IF_ERROR(ExecLocked(options.sync == StoreSync::kFull
                                        ? "PRAGMA synchronous = FULL"
                                        : "PRAGMA synchronous = NORMAL"));

  if (options.check == StoreIntegrityCheck::kQuick) {
    sqlite3_stmt* st = nullptr;
    int rc = sqlite3_prepare_v2(db_, "PRAGMA quick_check(5)", -1, &st, nullptr);
    std::string problems;
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
      rc = sqlite3_step(st);
      if (rc != SQLITE_ROW) break;
      std::string_view line = ColumnText(st, 0);
      if (line == "ok") continue;
      if (!problems.empty()) problems += "; ";
      problems += line;
    }
    if (rc != SQLITE_DONE) {
      Error e = SqlError(rc, "PRAGMA quick_check");
      sqlite3_finalize(st);
      return e;
    }
    sqlite3_finalize(st);
    if (!problems.empty()) {
      return Error(ErrorCode::kIo, "message store " + path_.string() + " is corrupt (" + problems +
                                       "); move it aside to start with an empty store");
    }
  }

  if (version < kSchemaVersion) {
    SLUICE_RETURN_IF_ERROR(ExecLocked("BEGIN IMMEDIATE"));
    for (const Migration& m : kMigrations) {
      if (m.version <= version) continue;
      Status st = ExecLocked(m.sql);
      if (st.ok()) {
        st = ExecLocked(("PRAGMA user_version = " + std::to_string(m.version)).c_str());
      }
      if (!st.ok()) {
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        return st.error().WithContext("migrating to schema version " + std::to_string(m.version));
      }
    }
    std::string set_app = "PRAGMA application_id = " + std::to_string(kApplicationId);
    Status st = ExecLocked(set_app.c_str());
    if (st.ok()) st = ExecLocked("COMMIT");
    if (!st.ok()) {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      return st;
    }
  }

  const std::string cols = kColumns;
  const std::string heads =
      "SELECT " + cols +
      " FROM messages m WHERE sink = ?1 AND id > ?2 AND NOT EXISTS (SELECT 1 FROM messages p "
      "WHERE p.sink = m.sink AND p.group_key = m.group_key AND p.id < m.id)";
  struct {
    Statement& st;
    std::string sql;
  } prepared[] = {
      {stmts_->begin, "BEGIN IMMEDIATE"},
      {stmts_->commit, "COMMIT"},
      {stmts_->rollback, "ROLLBACK"},
      {stmts_->insert,
       "INSERT INTO messages (id, sink, group_key, partition_key, commit_lsn, commit_idx, "
       "table_name, action, change, deliver_count, last_error, not_before_ms, created_at_ms) "
       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) "
       "ON CONFLICT (sink, commit_lsn, commit_idx) DO NOTHING"},
      {stmts_->has_group, "SELECT 1 FROM messages WHERE sink = ?1 AND group_key = ?2 LIMIT 1"},
      {stmts_->group_tail_origin,
       "SELECT commit_lsn, commit_idx FROM messages WHERE sink = ?1 AND group_key = ?2 "
       "ORDER BY id DESC LIMIT 1"},
      {stmts_->group_head, "SELECT " + cols +
                               " FROM messages WHERE sink = ?1 AND group_key = ?2 "
                               "ORDER BY id LIMIT 1"},
      {stmts_->next_in_group, "SELECT " + cols +
                                  " FROM messages WHERE sink = ?1 AND group_key = ?2 "
                                  "AND id > ?3 ORDER BY id LIMIT 1"},
      {stmts_->load_page,
       "SELECT " + cols + " FROM messages WHERE sink = ?1 AND id > ?2 ORDER BY id LIMIT ?3"},
      {stmts_->load_heads, heads + " ORDER BY id LIMIT ?3"},
      {stmts_->load_due_heads, heads + " AND not_before_ms <= ?4 ORDER BY id LIMIT ?3"},
      {stmts_->record_attempt,
       "UPDATE messages SET deliver_count = ?2, last_error = ?3, not_before_ms = ?4 "
       "WHERE id = ?1"},
      {stmts_->remove, "DELETE FROM messages WHERE id = ?1"},
      {stmts_->list_failing, "SELECT " + cols +
                                 " FROM messages WHERE sink = ?1 AND id > ?2 "
                                 "AND deliver_count > 0 ORDER BY id LIMIT ?3"},
      {stmts_->list_waiting, "SELECT " + cols +
                                 " FROM messages WHERE sink = ?1 AND id > ?2 "
                                 "AND deliver_count = 0 ORDER BY id LIMIT ?3"},
      {stmts_->get, "SELECT " + cols + " FROM messages WHERE sink = ?1 AND id = ?2"},
      {stmts_->count,
       "SELECT count(*) FILTER (WHERE deliver_count > 0), "
       "count(*) FILTER (WHERE deliver_count = 0), min(created_at_ms) "
       "FROM messages WHERE sink = ?1"},
      {stmts_->discard, "DELETE FROM messages WHERE sink = ?1 AND id = ?2"},
      {stmts_->discard_failing,
       "DELETE FROM messages WHERE sink = ?1 AND deliver_count > 0 "
       "AND id NOT IN (SELECT value FROM json_each(?2))"},
      {stmts_->discard_all,
       "DELETE FROM messages WHERE sink = ?1 AND id NOT IN (SELECT value FROM json_each(?2))"},
      {stmts_->redeliver, "UPDATE messages SET not_before_ms = 0 WHERE sink = ?1 AND id = ?2"},
      {stmts_->redeliver_failing,
       "UPDATE messages SET not_before_ms = 0 WHERE sink = ?1 AND deliver_count > 0"},
      {stmts_->max_id, "SELECT max(id) FROM messages"},
      {stmts_->sinks, "SELECT DISTINCT sink FROM messages ORDER BY sink"},
  };
  for (auto& p : prepared) {
    int rc = p.st.Prepare(db_, p.sql);
    if (rc != SQLITE_OK) return SqlError(rc, "preparing " + p.sql);
  }
  return OkStatus();
}

Result<StoredMessage> MessageStore::RowLocked(sqlite3_stmt* st) {
  StoredMessage m;
  m.id = static_cast<uint64_t>(sqlite3_column_int64(st, 0));
  m.sink = ColumnText(st, 1);
  m.group_key = ColumnText(st, 2);
  m.partition_key = ColumnText(st, 3);
  std::string_view blob(static_cast<const char*>(sqlite3_column_blob(st, 4)),
                        static_cast<size_t>(sqlite3_column_bytes(st, 4)));
  Result<model::Change> change = model::DecodeChange(blob, relations_.get());
  if (!change.ok()) {
    return Error(ErrorCode::kIo, "message store " + path_.string() + ": message " +
                                     std::to_string(m.id) + " of sink " + m.sink +
                                     ": cannot decode its change: " + change.error().message());
  }
  m.change = std::move(change).value();
  m.deliver_count = sqlite3_column_int64(st, 5);
  m.last_error = ColumnText(st, 6);
  m.not_before = FromMs(sqlite3_column_int64(st, 7));
  m.created_at = FromMs(sqlite3_column_int64(st, 8));
  return m;
}

Result<StoredPage> MessageStore::ReadPageLocked(Statement& st, uint64_t after_id, size_t limit) {
  Use use(st.get());
  st.Int(3, static_cast<int64_t>(limit) + 1);
  StoredPage page;
  page.next_after = after_id;
  int rc;
  while ((rc = sqlite3_step(st.get())) == SQLITE_ROW) {
    if (page.messages.size() == limit) {
      page.more = true;
      break;
    }
    SLUICE_ASSIGN_OR_RETURN(StoredMessage m, RowLocked(st.get()));
    page.next_after = m.id;
    page.messages.push_back(std::move(m));
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return SqlError(rc, "reading messages");
  return page;
}

Result<std::optional<StoredMessage>> MessageStore::ReadOneLocked(Statement& st) {
  Use use(st.get());
  int rc = sqlite3_step(st.get());
  if (rc == SQLITE_DONE) return std::optional<StoredMessage>();
  if (rc != SQLITE_ROW) return SqlError(rc, "reading a message");
  SLUICE_ASSIGN_OR_RETURN(StoredMessage m, RowLocked(st.get()));
  return std::optional<StoredMessage>(std::move(m));
}

Result<size_t> MessageStore::ChangeLocked(Statement& st) {
  Use use(st.get());
  int rc = sqlite3_step(st.get());
  if (rc != SQLITE_DONE) return SqlError(rc, "writing messages");
  return static_cast<size_t>(sqlite3_changes(db_));
}

Result<size_t> MessageStore::Put(std::span<const StoredMessage> batch) {
  // Encoding needs no lock.
  std::vector<std::string> encoded;
  encoded.reserve(batch.size());
  for (const StoredMessage& m : batch) encoded.push_back(model::EncodeChange(m.change));

  std::lock_guard<std::mutex> lock(mu_);
  {
    Use use(stmts_->begin.get());
    int rc = sqlite3_step(stmts_->begin.get());
    if (rc != SQLITE_DONE) return SqlError(rc, "BEGIN");
  }
  auto fail = [&](Error e) -> Error {
    Use use(stmts_->rollback.get());
    sqlite3_step(stmts_->rollback.get());
    return e;
  };
  size_t inserted = 0;
  Statement& ins = stmts_->insert;
  for (size_t i = 0; i < batch.size(); ++i) {
    const StoredMessage& m = batch[i];
    const model::Change& c = m.change;
    const int64_t lsn = c.txn ? static_cast<int64_t>(c.txn->commit_lsn.value()) : 0;
    {
      // A replay: the group already holds this change or a later one (the
      // store only ever holds the tail of a group's history), so this one
      // was delivered, or is stored, before. Storing it again would put it
      // after its successor.
      Statement& tail = stmts_->group_tail_origin;
      Use use_tail(tail.get());
      tail.Text(1, m.sink);
      tail.Text(2, m.group_key);
      int rc = sqlite3_step(tail.get());
      if (rc == SQLITE_ROW) {
        const int64_t tail_lsn = sqlite3_column_int64(tail.get(), 0);
        const int64_t tail_idx = sqlite3_column_int64(tail.get(), 1);
        if (std::make_pair(tail_lsn, tail_idx) >= std::make_pair(lsn, int64_t{c.commit_idx})) {
          continue;
        }
      } else if (rc != SQLITE_DONE) {
        return fail(SqlError(rc, "storing messages"));
      }
    }
    Use use(ins.get());
    ins.Int(1, static_cast<int64_t>(m.id));
    ins.Text(2, m.sink);
    ins.Text(3, m.group_key);
    ins.Text(4, m.partition_key);
    ins.Int(5, lsn);
    ins.Int(6, c.commit_idx);
    ins.Text(7, c.relation ? c.relation->QualifiedName() : std::string());
    ins.Text(8, model::ActionName(c.action));
    ins.Blob(9, encoded[i]);
    ins.Int(10, m.deliver_count);
    ins.Text(11, m.last_error);
    ins.Int(12, ToMs(m.not_before));
    ins.Int(13, ToMs(m.created_at));
    int rc = sqlite3_step(ins.get());
    if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
      return fail(Error(ErrorCode::kInvalidArgument,
                        "message store " + path_.string() + ": message id " + std::to_string(m.id) +
                            " is already stored (sink " + m.sink + ")"));
    }
    if (rc != SQLITE_DONE) return fail(SqlError(rc, "storing messages"));
    inserted += static_cast<size_t>(sqlite3_changes(db_));
  }
  {
    Use use(stmts_->commit.get());
    int rc = sqlite3_step(stmts_->commit.get());
    if (rc != SQLITE_DONE) return fail(SqlError(rc, "COMMIT"));
  }
  return inserted;
}

Result<bool> MessageStore::HasGroup(std::string_view sink, std::string_view group_key) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement& st = stmts_->has_group;
  Use use(st.get());
  st.Text(1, sink);
  st.Text(2, group_key);
  int rc = sqlite3_step(st.get());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return SqlError(rc, "looking up a group");
}

Result<std::optional<StoredMessage>> MessageStore::GroupHead(std::string_view sink,
                                                             std::string_view group_key) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement& st = stmts_->group_head;
  st.Text(1, sink);
  st.Text(2, group_key);
  return ReadOneLocked(st);
}

Result<std::optional<StoredMessage>> MessageStore::NextInGroup(std::string_view sink,
                                                               std::string_view group_key,
                                                               uint64_t after_id) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement& st = stmts_->next_in_group;
  st.Text(1, sink);
  st.Text(2, group_key);
  st.Int(3, static_cast<int64_t>(after_id));
  return ReadOneLocked(st);
}

Result<StoredPage> MessageStore::LoadPage(std::string_view sink, uint64_t after_id, size_t limit) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement& st = stmts_->load_page;
  st.Text(1, sink);
  st.Int(2, static_cast<int64_t>(after_id));
  return ReadPageLocked(st, after_id, limit);
}

Result<StoredPage> MessageStore::LoadGroupHeads(std::string_view sink, uint64_t after_id,
                                                size_t limit) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement& st = stmts_->load_heads;
  st.Text(1, sink);
  st.Int(2, static_cast<int64_t>(after_id));
  return ReadPageLocked(st, after_id, limit);
}

Result<StoredPage> MessageStore::LoadDueGroupHeads(std::string_view sink, WallTime now,
                                                   uint64_t after_id, size_t limit) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement& st = stmts_->load_due_heads;
  st.Text(1, sink);
  st.Int(2, static_cast<int64_t>(after_id));
  st.Int(4, ToMs(now));
  return ReadPageLocked(st, after_id, limit);
}

Status MessageStore::RecordAttempts(std::span<const StoredAttempt> attempts) {
  std::lock_guard<std::mutex> lock(mu_);
  {
    Use use(stmts_->begin.get());
    int rc = sqlite3_step(stmts_->begin.get());
    if (rc != SQLITE_DONE) return SqlError(rc, "BEGIN");
  }
  Statement& st = stmts_->record_attempt;
  for (const StoredAttempt& a : attempts) {
    Use use(st.get());
    st.Int(1, static_cast<int64_t>(a.id));
    st.Int(2, a.deliver_count);
    st.Text(3, a.last_error);
    st.Int(4, ToMs(a.not_before));
    int rc = sqlite3_step(st.get());
    if (rc != SQLITE_DONE) {
      Error e = SqlError(rc, "recording attempts");
      Use rb(stmts_->rollback.get());
      sqlite3_step(stmts_->rollback.get());
      return e;
    }
  }
  Use use(stmts_->commit.get());
  int rc = sqlite3_step(stmts_->commit.get());
  if (rc != SQLITE_DONE) {
    Error e = SqlError(rc, "COMMIT");
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return e;
  }
  return OkStatus();
}

Result<size_t> MessageStore::Remove(std::span<const uint64_t> ids) {
  std::lock_guard<std::mutex> lock(mu_);
  {
    Use use(stmts_->begin.get());
    int rc = sqlite3_step(stmts_->begin.get());
    if (rc != SQLITE_DONE) return SqlError(rc, "BEGIN");
  }
  size_t removed = 0;
  Statement& st = stmts_->remove;
  for (uint64_t id : ids) {
    st.Int(1, static_cast<int64_t>(id));
    Result<size_t> n = ChangeLocked(st);
    if (!n.ok()) {
      Use rb(stmts_->rollback.get());
      sqlite3_step(stmts_->rollback.get());
      return n.error();
    }
    removed += *n;
  }
  Use use(stmts_->commit.get());
  int rc = sqlite3_step(stmts_->commit.get());
  if (rc != SQLITE_DONE) {
    Error e = SqlError(rc, "COMMIT");
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return e;
  }
  return removed;
}

Result<StoredPage> MessageStore::List(std::string_view sink, StoredState state, uint64_t after_id,
                                      size_t limit) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement& st = state == StoredState::kFailing   ? stmts_->list_failing
                  : state == StoredState::kWaiting ? stmts_->list_waiting
                                                   : stmts_->load_page;
  st.Text(1, sink);
  st.Int(2, static_cast<int64_t>(after_id));
  return ReadPageLocked(st, after_id, limit);
}

Result<std::optional<StoredMessage>> MessageStore::Get(std::string_view sink, uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement& st = stmts_->get;
  st.Text(1, sink);
  st.Int(2, static_cast<int64_t>(id));
  return ReadOneLocked(st);
}

Result<StoredCounts> MessageStore::Count(std::string_view sink) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement& st = stmts_->count;
  Use use(st.get());
  st.Text(1, sink);
  int rc = sqlite3_step(st.get());
  if (rc != SQLITE_ROW) return SqlError(rc, "counting messages");
  StoredCounts counts;
  counts.failing = static_cast<uint64_t>(sqlite3_column_int64(st.get(), 0));
  counts.waiting = static_cast<uint64_t>(sqlite3_column_int64(st.get(), 1));
  if (sqlite3_column_type(st.get(), 2) != SQLITE_NULL) {
    counts.oldest_created_at = FromMs(sqlite3_column_int64(st.get(), 2));
  }
  return counts;
}

Result<size_t> MessageStore::Discard(std::string_view sink, uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement& st = stmts_->discard;
  st.Text(1, sink);
  st.Int(2, static_cast<int64_t>(id));
  return ChangeLocked(st);
}

namespace {

// "[1,2,3]": ids for json_each.
std::string IdList(std::span<const uint64_t> ids) {
  std::string out = "[";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) out += ',';
    out += std::to_string(ids[i]);
  }
  out += ']';
  return out;
}

}  // namespace

Result<size_t> MessageStore::DiscardFailing(std::string_view sink, std::span<const uint64_t> keep) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement& st = stmts_->discard_failing;
  st.Text(1, sink);
  st.Text(2, IdList(keep));
  return ChangeLocked(st);
}

Result<size_t> MessageStore::DiscardAll(std::string_view sink, std::span<const uint64_t> keep) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement& st = stmts_->discard_all;
  st.Text(1, sink);
  st.Text(2, IdList(keep));
  return ChangeLocked(st);
}

Result<size_t> MessageStore::RedeliverNow(std::string_view sink, uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement& st = stmts_->redeliver;
  st.Text(1, sink);
  st.Int(2, static_cast<int64_t>(id));
  return ChangeLocked(st);
}

Result<size_t> MessageStore::RedeliverFailing(std::string_view sink) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement& st = stmts_->redeliver_failing;
  st.Text(1, sink);
  return ChangeLocked(st);
}

Result<uint64_t> MessageStore::MaxId() {
  std::lock_guard<std::mutex> lock(mu_);
  Statement& st = stmts_->max_id;
  Use use(st.get());
  int rc = sqlite3_step(st.get());
  if (rc != SQLITE_ROW) return SqlError(rc, "reading the highest id");
  return static_cast<uint64_t>(sqlite3_column_int64(st.get(), 0));  // NULL reads as 0
}

namespace {

// A one-off statement (backfill records change a few times a second at most).
struct OneOff {
  sqlite3_stmt* st = nullptr;
  ~OneOff() { sqlite3_finalize(st); }
};

void BindText(sqlite3_stmt* st, int i, std::string_view v) {
  sqlite3_bind_text(st, i, v.empty() ? "" : v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}

}  // namespace

Result<uint64_t> MessageStore::CreateBackfill(const BackfillRecord& r) {
  std::lock_guard<std::mutex> lock(mu_);
  OneOff q;
  int rc = sqlite3_prepare_v2(
      db_,
      "INSERT INTO backfills (sink, table_name, sort_column, start_position, origin, state, "
      "last_key, rows_done, rows_estimate, error, created_at_ms, updated_at_ms, finished_at_ms) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
      -1, &q.st, nullptr);
  if (rc != SQLITE_OK) return SqlError(rc, "recording a backfill");
  BindText(q.st, 1, r.sink);
  BindText(q.st, 2, r.table);
  BindText(q.st, 3, r.sort_column);
  if (r.start_position) BindText(q.st, 4, *r.start_position);
  BindText(q.st, 5, r.origin);
  BindText(q.st, 6, r.state);
  BindText(q.st, 7, r.last_key);
  sqlite3_bind_int64(q.st, 8, static_cast<int64_t>(r.rows_done));
  sqlite3_bind_int64(q.st, 9, static_cast<int64_t>(r.rows_estimate));
  BindText(q.st, 10, r.error);
  sqlite3_bind_int64(q.st, 11, ToMs(r.created_at));
  sqlite3_bind_int64(q.st, 12, ToMs(r.updated_at));
  if (r.finished_at) sqlite3_bind_int64(q.st, 13, ToMs(*r.finished_at));
  rc = sqlite3_step(q.st);
  if (rc != SQLITE_DONE) return SqlError(rc, "recording a backfill");
  return static_cast<uint64_t>(sqlite3_last_insert_rowid(db_));
}

Status MessageStore::UpdateBackfill(const BackfillRecord& r) {
  std::lock_guard<std::mutex> lock(mu_);
  OneOff q;
  int rc = sqlite3_prepare_v2(db_,
                              "UPDATE backfills SET state = ?2, last_key = ?3, rows_done = ?4, "
                              "rows_estimate = ?5, error = ?6, updated_at_ms = ?7, "
                              "finished_at_ms = ?8 WHERE id = ?1",
                              -1, &q.st, nullptr);
  if (rc != SQLITE_OK) return SqlError(rc, "updating backfill " + std::to_string(r.id));
  sqlite3_bind_int64(q.st, 1, static_cast<int64_t>(r.id));
  BindText(q.st, 2, r.state);
  BindText(q.st, 3, r.last_key);
  sqlite3_bind_int64(q.st, 4, static_cast<int64_t>(r.rows_done));
  sqlite3_bind_int64(q.st, 5, static_cast<int64_t>(r.rows_estimate));
  BindText(q.st, 6, r.error);
  sqlite3_bind_int64(q.st, 7, ToMs(r.updated_at));
  if (r.finished_at) sqlite3_bind_int64(q.st, 8, ToMs(*r.finished_at));
  rc = sqlite3_step(q.st);
  if (rc != SQLITE_DONE) return SqlError(rc, "updating backfill " + std::to_string(r.id));
  return OkStatus();
}

Result<std::vector<BackfillRecord>> MessageStore::Backfills(std::string_view sink) {
  std::lock_guard<std::mutex> lock(mu_);
  OneOff q;
  int rc = sqlite3_prepare_v2(
      db_,
      "SELECT id, sink, table_name, sort_column, start_position, origin, state, last_key, "
      "rows_done, rows_estimate, error, created_at_ms, updated_at_ms, finished_at_ms "
      "FROM backfills WHERE sink = ?1 ORDER BY id DESC",
      -1, &q.st, nullptr);
  if (rc != SQLITE_OK) return SqlError(rc, "listing backfills");
  BindText(q.st, 1, sink);
  std::vector<BackfillRecord> out;
  while ((rc = sqlite3_step(q.st)) == SQLITE_ROW) {
    BackfillRecord r;
    r.id = static_cast<uint64_t>(sqlite3_column_int64(q.st, 0));
    r.sink = ColumnText(q.st, 1);
    r.table = ColumnText(q.st, 2);
    r.sort_column = ColumnText(q.st, 3);
    if (sqlite3_column_type(q.st, 4) != SQLITE_NULL) r.start_position = ColumnText(q.st, 4);
    r.origin = ColumnText(q.st, 5);
    r.state = ColumnText(q.st, 6);
    r.last_key = ColumnText(q.st, 7);
    r.rows_done = static_cast<uint64_t>(sqlite3_column_int64(q.st, 8));
    r.rows_estimate = static_cast<uint64_t>(sqlite3_column_int64(q.st, 9));
    r.error = ColumnText(q.st, 10);
    r.created_at = FromMs(sqlite3_column_int64(q.st, 11));
    r.updated_at = FromMs(sqlite3_column_int64(q.st, 12));
    if (sqlite3_column_type(q.st, 13) != SQLITE_NULL) {
      r.finished_at = FromMs(sqlite3_column_int64(q.st, 13));
    }
    out.push_back(std::move(r));
  }
  if (rc != SQLITE_DONE) return SqlError(rc, "listing backfills");
  return out;
}

Result<std::vector<std::string>> MessageStore::Sinks() {
  std::lock_guard<std::mutex> lock(mu_);
  Statement& st = stmts_->sinks;
  Use use(st.get());
  std::vector<std::string> sinks;
  int rc;
  while ((rc = sqlite3_step(st.get())) == SQLITE_ROW) sinks.emplace_back(ColumnText(st.get(), 0));
  if (rc != SQLITE_DONE) return SqlError(rc, "listing sinks");
  return sinks;
}

}  // namespace sluice::delivery
