// Settings: the validated, immutable form of sluice.yaml (SPEC §1).
//
// Produced only by LoadSettingsFromFile/FromString (config/loader.h), which
// apply defaults, substitute ${VAR} / ${VAR:-default} in string values, reject
// unknown keys and validate every value and cross-reference. Everything
// downstream may assume these invariants:
//   - names of databases, functions and sinks are non-empty and unique;
//   - a sink's `database` names an entry of `databases`;
//   - a sink's filter/transform/routing is empty ("none") or names a function
//     of a matching type (transform accepts transform and path functions);
//   - table names are "schema.table";
//   - a destination has either use_task_role or both static keys, never both.
// Settings is a plain value: copyable, immutable by convention once loaded.
// Secrets are held as Secret and print as ***; never log Reveal().
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/secret.h"

namespace sluice::config {

// Postgres connection fields; either from `url` or from the separate keys.
struct DatabaseSettings {
  std::string name;
  // From `url` or from hostname/port/database/username/password; the password
  // is a Secret so it never reaches a log line.
  std::string host = "127.0.0.1";
  int port = 5432;
  std::string database;
  std::string username;
  Secret password;
  std::string
      sslmode;  // empty: libpq default; else disable|allow|prefer|require|verify-ca|verify-full
  std::string slot_name = "sluice_slot";
  bool slot_create_if_not_exists = false;
  std::string publication_name = "sluice_pub";
  bool publication_create_if_not_exists = false;
};

struct FunctionSettings {
  std::string name;
  std::string type;  // transform | filter | routing | path
  std::string code;  // inline code or the contents of `file`
  std::string file;  // as written in the config (for error messages)
  std::string path;  // path functions: record, record.<col>, metadata.<field>, ...
  std::string description;
  int line = 0;  // config line of the function, for errors
};

struct TableSettings {
  std::string name;  // schema.table
  std::vector<std::string> group_column_names;
};

enum class TimestampFormat { kIso8601, kUnixMicrosecond };
enum class SinkStatus { kActive, kPaused, kDisabled };

// A Kinesis stream ARN, validated: arn:<partition>:kinesis:<region>:<account>:stream/<name>.
struct StreamArn {
  std::string arn;
  std::string partition;
  std::string region;
  std::string account;
  std::string stream_name;

  // Parses and validates; on failure returns nullopt and sets *why (if not
  // null) to a sentence naming what is wrong. Pure; used by the config loader
  // and for ARNs returned by routing functions.
  static std::optional<StreamArn> Parse(const std::string& text, std::string* why);
  bool operator==(const StreamArn& o) const { return arn == o.arn; }
};

struct KinesisDestination {
  StreamArn stream;
  std::string access_key_id;
  Secret secret_access_key;
  Secret session_token;  // optional, with static keys
  bool use_task_role = false;
  std::string endpoint_url;  // empty: https://kinesis.<region>.amazonaws.com
  bool tls_verify = true;
  std::chrono::milliseconds request_timeout{30000};
  std::chrono::milliseconds connect_timeout{5000};
};

// One table of `initial_backfill` (docs/backfill.md).
struct BackfillSpec {
  std::string table;        // schema.table
  std::string sort_column;  // empty: by primary key
  std::optional<std::string> start_position;
  int line = 0;  // config line, for errors
};

struct SinkSettings {
  std::string name;
  std::string database;
  std::vector<std::string> include_tables;  // schema.table; empty = all
  std::vector<std::string> exclude_tables;
  std::vector<std::string> include_schemas;
  std::vector<std::string> exclude_schemas;
  bool action_insert = true;
  bool action_update = true;
  bool action_delete = true;
  bool action_truncate = true;
  std::vector<TableSettings> tables;
  bool message_grouping = true;
  int batch_size = 100;   // 1..500 records per PutRecords
  int max_in_flight = 8;  // concurrent PutRecords requests per sink
  std::string filter;     // function name or empty ("none")
  std::string transform;
  std::string routing;
  TimestampFormat timestamp_format = TimestampFormat::kIso8601;
  std::optional<int64_t> max_retry_count;  // nullopt: retry forever
  // initial_backfill: true → every table of the sink (all_tables); a list →
  // those tables. Started once, at the sink's first run.
  bool initial_backfill_all_tables = false;
  std::vector<BackfillSpec> initial_backfill;
  SinkStatus status = SinkStatus::kActive;
  KinesisDestination destination;
};

struct ApiSettings {
  std::string listen = "127.0.0.1:7376";
  Secret token;
};

// How hard a write to the local message store waits for the disk.
enum class StoreSync {
  kFull,    // fsync at every commit: survives power loss (default)
  kNormal,  // fsync at checkpoints: survives a process crash, not a power loss
};

struct Settings {
  std::string config_path;  // as given on the command line
  std::string data_dir = "./sluice-data";
  int64_t max_memory_mb = 256;
  // sluice extensions (docs/configuration.md):
  // a group that made no progress this long while failing (or while its sink
  // puts nothing) is written to the local store.
  std::chrono::milliseconds spill_after{10000};
  // SIGTERM: how long in-flight requests get before they are abandoned.
  std::chrono::milliseconds shutdown_timeout{10000};
  StoreSync store_sync = StoreSync::kFull;
  ApiSettings api;
  std::vector<DatabaseSettings> databases;
  std::vector<FunctionSettings> functions;
  std::vector<SinkSettings> sinks;

  // nullptr when no entry has that name.
  const DatabaseSettings* FindDatabase(const std::string& name) const;
  const FunctionSettings* FindFunction(const std::string& name) const;
  const SinkSettings* FindSink(const std::string& name) const;
};

}  // namespace sluice::config
