#include "config/loader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <sstream>
#include <string>

namespace sluice::config {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const std::string kTestdata = SLUICE_TESTDATA_DIR "/config";

Result<Settings> Load(const std::string& yaml, std::map<std::string, std::string> vars = {}) {
  return LoadSettingsFromString(yaml, "sluice.yaml", kTestdata,
                                Environment::FromMap(std::move(vars)));
}

std::string ErrorOf(const std::string& yaml, std::map<std::string, std::string> vars = {}) {
  auto result = Load(yaml, std::move(vars));
  EXPECT_FALSE(result.ok()) << "expected an error for:\n" << yaml;
  if (result.ok()) return "";
  EXPECT_EQ(result.error().code(), ErrorCode::kConfig);
  return result.error().message();
}

// Lines 1-6: one database and the start of one sink.
const std::string kPrefix =
    "databases:\n"                              // 1
    "  - name: app\n"                           // 2
    "    url: postgres://u:pw@localhost/app\n"  // 3
    "sinks:\n"                                  // 4
    "  - name: s\n"                             // 5
    "    database: app\n";                      // 6

// Lines 7-9 open the destination; `destination_lines` start at line 10.
std::string WithDestination(const std::string& destination_lines) {
  return kPrefix +
         "    destination:\n"                                                        // 7
         "      type: kinesis\n"                                                     // 8
         "      stream_arn: arn:aws:kinesis:us-east-1:123456789012:stream/events\n"  // 9
         + destination_lines;
}

// A valid config whose sink gets `sink_lines` (4-space indented) from line 11.
std::string WithSinkKeys(const std::string& sink_lines) {
  return WithDestination("      use_task_role: true\n") + sink_lines;  // 10
}

// A valid config with `functions_yaml` (a top-level `functions:` block)
// prepended: it occupies the first lines.
std::string WithFunctions(const std::string& functions_yaml, const std::string& sink_lines) {
  return functions_yaml + WithSinkKeys(sink_lines);
}

// --- A full config and defaults ---

TEST(ConfigLoader, LoadsEveryKeyOfTheFullExample) {
  auto result = LoadSettingsFromFile(kTestdata + "/full.yaml",
                                     Environment::FromMap({{"SLUICE_API_TOKEN", "api-token"},
                                                           {"PGPASSWORD", "pg-secret"},
                                                           {"AWS_SECRET_ACCESS_KEY", "aws-secret"},
                                                           {"NOT_SUBSTITUTED", "oops"}}));
  ASSERT_TRUE(result.ok()) << result.error().message();
  const Settings& s = result.value();
  EXPECT_EQ(s.config_path, kTestdata + "/full.yaml");
  EXPECT_EQ(s.data_dir, "/var/lib/sluice");
  EXPECT_EQ(s.max_memory_mb, 512);
  EXPECT_EQ(s.spill_after, std::chrono::milliseconds(2500));
  EXPECT_EQ(s.shutdown_timeout, std::chrono::milliseconds(4000));
  EXPECT_EQ(s.store_sync, StoreSync::kNormal);
  EXPECT_EQ(s.api.listen, "0.0.0.0:7400");
  EXPECT_EQ(s.api.token.Reveal(), "api-token");

  ASSERT_EQ(s.databases.size(), 2u);
  const DatabaseSettings& app = s.databases[0];
  EXPECT_EQ(app.name, "app");
  EXPECT_EQ(app.host, "db.internal");
  EXPECT_EQ(app.port, 6543);
  EXPECT_EQ(app.database, "app");
  EXPECT_EQ(app.username, "sluice");
  EXPECT_EQ(app.password.Reveal(), "p@ss");
  EXPECT_EQ(app.sslmode, "require");
  EXPECT_EQ(app.slot_name, "sluice_slot");
  EXPECT_TRUE(app.slot_create_if_not_exists);
  EXPECT_EQ(app.publication_name, "sluice_pub");
  EXPECT_TRUE(app.publication_create_if_not_exists);
  const DatabaseSettings& billing = s.databases[1];
  EXPECT_EQ(billing.host, "127.0.0.1");
  EXPECT_EQ(billing.port, 5433);
  EXPECT_EQ(billing.database, "billing");
  EXPECT_EQ(billing.username, "sluice");
  EXPECT_EQ(billing.password.Reveal(), "pg-secret");
  EXPECT_EQ(billing.sslmode, "require");
  EXPECT_EQ(billing.slot_name, "billing_slot");
  EXPECT_FALSE(billing.slot_create_if_not_exists);
  EXPECT_EQ(billing.publication_name, "sluice_pub");
  EXPECT_EQ(s.FindDatabase("billing"), &s.databases[1]);
  EXPECT_EQ(s.FindDatabase("nope"), nullptr);

  ASSERT_EQ(s.functions.size(), 3u);
  EXPECT_EQ(s.functions[0].name, "by-type");
  EXPECT_EQ(s.functions[0].type, "routing");
  EXPECT_EQ(s.functions[0].file, "functions/route.lua");
  EXPECT_THAT(s.functions[0].code, HasSubstr("function route(action, record, changes, metadata)"));
  EXPECT_EQ(s.functions[0].description, "route each row type to its own stream");
  EXPECT_EQ(s.functions[0].line, 21);
  EXPECT_EQ(s.functions[1].type, "filter");
  EXPECT_THAT(s.functions[1].code, HasSubstr("\"${NOT_SUBSTITUTED}\" ~= \"\""));
  EXPECT_EQ(s.functions[2].type, "path");
  EXPECT_EQ(s.functions[2].path, "record");
  EXPECT_EQ(s.FindFunction("only-paid"), &s.functions[1]);

  ASSERT_EQ(s.sinks.size(), 2u);
  const SinkSettings& k = s.sinks[0];
  EXPECT_EQ(k.name, "kinesis-sink");
  EXPECT_EQ(k.database, "app");
  EXPECT_EQ(k.include_tables, std::vector<std::string>{"public.orders"});
  EXPECT_TRUE(k.exclude_tables.empty());
  EXPECT_TRUE(k.action_insert && k.action_update && k.action_delete);
  EXPECT_FALSE(k.action_truncate);
  ASSERT_EQ(k.tables.size(), 1u);
  EXPECT_EQ(k.tables[0].name, "public.orders");
  EXPECT_EQ(k.tables[0].group_column_names, std::vector<std::string>{"account_id"});
  EXPECT_TRUE(k.message_grouping);
  EXPECT_EQ(k.batch_size, 10);
  EXPECT_EQ(k.max_in_flight, 4);
  EXPECT_EQ(k.filter, "only-paid");
  EXPECT_EQ(k.transform, "only-record");
  EXPECT_EQ(k.routing, "by-type");
  EXPECT_EQ(k.timestamp_format, TimestampFormat::kUnixMicrosecond);
  EXPECT_EQ(k.max_retry_count, 5);
  EXPECT_FALSE(k.initial_backfill_all_tables);
  ASSERT_EQ(k.initial_backfill.size(), 1u);
  EXPECT_EQ(k.initial_backfill[0].table, "public.orders");
  EXPECT_EQ(k.initial_backfill[0].sort_column, "created_at");
  EXPECT_EQ(k.initial_backfill[0].start_position, "2026-01-01");
  EXPECT_EQ(k.status, SinkStatus::kPaused);
  const KinesisDestination& d = k.destination;
  EXPECT_EQ(d.stream.arn, "arn:aws:kinesis:us-east-1:123456789012:stream/my-stream");
  EXPECT_EQ(d.stream.region, "us-east-1");
  EXPECT_EQ(d.stream.stream_name, "my-stream");
  EXPECT_EQ(d.access_key_id, "AKIAEXAMPLE");
  EXPECT_EQ(d.secret_access_key.Reveal(), "aws-secret");
  EXPECT_EQ(d.session_token.Reveal(), "token-value");
  EXPECT_FALSE(d.use_task_role);
  EXPECT_EQ(d.endpoint_url, "http://127.0.0.1:4567");
  EXPECT_FALSE(d.tls_verify);
  EXPECT_EQ(d.request_timeout, std::chrono::milliseconds(10000));
  EXPECT_EQ(d.connect_timeout, std::chrono::milliseconds(2000));

  const SinkSettings& audit = s.sinks[1];
  EXPECT_EQ(audit.include_schemas, std::vector<std::string>{"billing"});
  EXPECT_TRUE(audit.initial_backfill_all_tables);
  EXPECT_TRUE(audit.initial_backfill.empty());
  EXPECT_TRUE(audit.destination.use_task_role);
  EXPECT_EQ(audit.destination.stream.partition, "aws-cn");
  EXPECT_EQ(audit.destination.stream.stream_name, "audit.v1");
  EXPECT_EQ(s.FindSink("audit"), &s.sinks[1]);
}

TEST(ConfigLoader, AppliesDefaults) {
  auto result = LoadSettingsFromFile(kTestdata + "/minimal.yaml", Environment::Empty());
  ASSERT_TRUE(result.ok()) << result.error().message();
  const Settings& s = result.value();
  EXPECT_EQ(s.data_dir, "./sluice-data");
  EXPECT_EQ(s.max_memory_mb, 256);
  EXPECT_EQ(s.spill_after, std::chrono::milliseconds(10000));
  EXPECT_EQ(s.shutdown_timeout, std::chrono::milliseconds(10000));
  EXPECT_EQ(s.store_sync, StoreSync::kFull);
  EXPECT_EQ(s.api.listen, "127.0.0.1:7376");
  EXPECT_TRUE(s.api.token.empty());
  const DatabaseSettings& db = s.databases.at(0);
  EXPECT_EQ(db.host, "localhost");
  EXPECT_EQ(db.port, 5432);
  EXPECT_TRUE(db.password.empty());
  EXPECT_EQ(db.sslmode, "");
  EXPECT_EQ(db.slot_name, "sluice_slot");
  EXPECT_EQ(db.publication_name, "sluice_pub");
  EXPECT_TRUE(s.functions.empty());
  const SinkSettings& sink = s.sinks.at(0);
  EXPECT_TRUE(sink.action_insert && sink.action_update && sink.action_delete &&
              sink.action_truncate);
  EXPECT_TRUE(sink.message_grouping);
  EXPECT_EQ(sink.batch_size, 100);
  EXPECT_EQ(sink.max_in_flight, 8);
  EXPECT_EQ(sink.filter, "");
  EXPECT_EQ(sink.transform, "");
  EXPECT_EQ(sink.routing, "");
  EXPECT_EQ(sink.timestamp_format, TimestampFormat::kIso8601);
  EXPECT_FALSE(sink.max_retry_count.has_value());
  EXPECT_EQ(sink.status, SinkStatus::kActive);
  EXPECT_FALSE(sink.initial_backfill_all_tables);
  EXPECT_TRUE(sink.initial_backfill.empty());
  EXPECT_TRUE(sink.destination.tls_verify);
  EXPECT_EQ(sink.destination.endpoint_url, "");
  EXPECT_EQ(sink.destination.request_timeout, std::chrono::milliseconds(30000));
  EXPECT_EQ(sink.destination.connect_timeout, std::chrono::milliseconds(5000));
}

TEST(ConfigLoader, MissingFileIsAnIoError) {
  auto result = LoadSettingsFromFile(kTestdata + "/no-such.yaml", Environment::Empty());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code(), ErrorCode::kIo);
  EXPECT_THAT(result.error().message(), HasSubstr("no-such.yaml: cannot open config file"));
}

// --- YAML structure ---

TEST(ConfigLoader, MalformedYamlGivesParserMessageAndLine) {
  EXPECT_EQ(ErrorOf("databases:\n  - name: app\n    url: [unclosed\nsinks: []\n"),
            "sluice.yaml:4: invalid YAML: end of sequence flow not found");
  EXPECT_THAT(ErrorOf("a: b\n c: d\n"), HasSubstr("sluice.yaml:2: invalid YAML: "));
}

TEST(ConfigLoader, EmptyDocumentAndNonMapTopLevelAreRejected) {
  EXPECT_EQ(ErrorOf(""), "sluice.yaml: the config is empty; it needs at least databases and sinks");
  EXPECT_EQ(ErrorOf("- a\n- b\n"), "sluice.yaml:1: must be a map, got a list");
}

TEST(ConfigLoader, UnknownKeyNamesKeyAndLineAndSuggestsClosest) {
  EXPECT_EQ(ErrorOf(WithSinkKeys("    batchsize: 10\n")),
            "sluice.yaml:11: sinks[0].batchsize: unknown key; did you mean \"batch_size\"?");
}

TEST(ConfigLoader, UnknownKeyWithoutCloseMatchListsKnownKeys) {
  EXPECT_EQ(ErrorOf("account: {name: x}\n" + WithSinkKeys("")),
            "sluice.yaml:1: account: unknown key (known keys: data_dir, max_memory_mb, "
            "spill_after_ms, shutdown_timeout_ms, store_sync, api, databases, functions, sinks)");
}

TEST(ConfigLoader, StoreSettingsOutOfRangeNameKeyAndLine) {
  EXPECT_EQ(ErrorOf("spill_after_ms: 0\n" + WithSinkKeys("")),
            "sluice.yaml:1: spill_after_ms: must be between 1 and 86400000, got 0");
  EXPECT_EQ(ErrorOf("store_sync: always\n" + WithSinkKeys("")),
            "sluice.yaml:1: store_sync: must be one of full, normal, got \"always\"");
}

TEST(ConfigLoader, UnknownKeyInsideNestedMapNamesFullPath) {
  EXPECT_EQ(ErrorOf(WithDestination("      use_task_role: true\n      streamarn: x\n")),
            "sluice.yaml:11: sinks[0].destination.streamarn: unknown key; did you mean "
            "\"stream_arn\"?");
}

TEST(ConfigLoader, DuplicateKeyIsRejected) {
  EXPECT_EQ(ErrorOf(WithSinkKeys("    batch_size: 10\n    batch_size: 20\n")),
            "sluice.yaml:12: sinks[0].batch_size: duplicate key (first given at line 11)");
}

TEST(ConfigLoader, WrongTypesNameKeyAndKind) {
  EXPECT_EQ(ErrorOf("databases: app\nsinks: []\n"),
            "sluice.yaml:1: databases: must be a list, got a scalar\n"
            "sluice.yaml:2: sinks: must list at least one sink");
  EXPECT_EQ(ErrorOf(WithSinkKeys("    status: [active]\n")),
            "sluice.yaml:11: sinks[0].status: must be a string, got a list");
  EXPECT_EQ(ErrorOf(WithSinkKeys("    message_grouping: yes\n")),
            "sluice.yaml:11: sinks[0].message_grouping: must be true or false, got \"yes\"");
  EXPECT_EQ(ErrorOf(WithSinkKeys("    source: [public.orders]\n")),
            "sluice.yaml:11: sinks[0].source: must be a map, got a list");
}

// --- Required keys and references ---

TEST(ConfigLoader, DatabasesAndSinksAreRequired) {
  EXPECT_EQ(ErrorOf("data_dir: /tmp/x\n"),
            "sluice.yaml: databases: missing (required): list at least one database\n"
            "sluice.yaml: sinks: missing (required): list at least one sink");
}

TEST(ConfigLoader, SinkNameAndDatabaseAreRequired) {
  std::string yaml = WithSinkKeys("");
  yaml.replace(yaml.find("  - name: s\n    database: app\n"), 30, "  - batch_size: 5\n");
  EXPECT_EQ(ErrorOf(yaml),
            "sluice.yaml:5: sinks[0].name: missing (required)\n"
            "sluice.yaml:5: sinks[0].database: missing (required)");
}

TEST(ConfigLoader, EmptyRequiredStringIsRejected) {
  std::string yaml = WithSinkKeys("");
  yaml.replace(yaml.find("name: s"), 7, "name: \"\"");
  EXPECT_EQ(ErrorOf(yaml), "sluice.yaml:5: sinks[0].name: must not be empty");
}

TEST(ConfigLoader, SinkMustReferenceAKnownDatabase) {
  std::string yaml = WithSinkKeys("");
  yaml.replace(yaml.find("database: app"), 13, "database: ap");
  EXPECT_EQ(ErrorOf(yaml),
            "sluice.yaml:6: sinks[0].database: no database named \"ap\" (databases: app)");
}

TEST(ConfigLoader, DestinationAndStreamArnAreRequired) {
  EXPECT_EQ(ErrorOf(kPrefix), "sluice.yaml:5: sinks[0].destination: missing (required)");
  EXPECT_EQ(ErrorOf(kPrefix + "    destination:\n      type: kinesis\n      use_task_role: true\n"),
            "sluice.yaml:8: sinks[0].destination.stream_arn: missing (required)");
}

TEST(ConfigLoader, DuplicateNamesAreRejected) {
  EXPECT_EQ(ErrorOf(WithSinkKeys("  - name: s\n    database: app\n    destination: {type: kinesis, "
                                 "stream_arn: \"arn:aws:kinesis:us-east-1:123456789012:stream/b\", "
                                 "use_task_role: true}\n")),
            "sluice.yaml:11: sinks[1].name: duplicate name \"s\" (first given at line 5)");
  std::string two_databases = kPrefix;
  two_databases.replace(two_databases.find("sinks:"), 6,
                        "  - name: app\n    url: postgres://u@otherhost/app\nsinks:");
  EXPECT_EQ(ErrorOf(two_databases + "    destination: {type: kinesis, stream_arn: "
                                    "\"arn:aws:kinesis:us-east-1:123456789012:stream/b\", "
                                    "use_task_role: true}\n"),
            "sluice.yaml:4: databases[1].name: duplicate name \"app\" (first given at line 2)");
  EXPECT_EQ(ErrorOf(WithFunctions("functions:\n  - {name: f, type: filter, code: x}\n"
                                  "  - {name: f, type: routing, code: y}\n",
                                  "")),
            "sluice.yaml:3: functions[1].name: duplicate name \"f\" (first given at line 2)");
}

TEST(ConfigLoader, TwoDatabaseEntriesMayNotShareASlot) {
  std::string yaml = kPrefix;
  yaml.replace(yaml.find("sinks:"), 6,
               "  - name: app2\n    url: postgres://v@localhost/app\nsinks:");
  EXPECT_THAT(
      ErrorOf(yaml + "    destination: {type: kinesis, stream_arn: "
                     "\"arn:aws:kinesis:us-east-1:123456789012:stream/b\", use_task_role: true}\n"),
      HasSubstr("sluice.yaml:4: databases[1].slot.name: databases[0] already uses "
                "replication slot \"sluice_slot\""));
}

// --- Numbers, enums, lists ---

TEST(ConfigLoader, BatchSizeZeroIsRejected) {
  EXPECT_EQ(ErrorOf(WithSinkKeys("    batch_size: 0\n")),
            "sluice.yaml:11: sinks[0].batch_size: must be between 1 and 500, got 0");
}

TEST(ConfigLoader, BatchSize501IsRejected) {
  EXPECT_EQ(ErrorOf(WithSinkKeys("    batch_size: 501\n")),
            "sluice.yaml:11: sinks[0].batch_size: must be between 1 and 500, got 501");
}

TEST(ConfigLoader, BatchSizeBoundsAreAccepted) {
  for (const char* size : {"1", "500"}) {
    auto result = Load(WithSinkKeys(std::string("    batch_size: ") + size + "\n"));
    ASSERT_TRUE(result.ok()) << result.error().message();
    EXPECT_EQ(result->sinks[0].batch_size, std::stoi(size));
  }
}

TEST(ConfigLoader, NonIntegerAndHugeNumbersAreRejected) {
  EXPECT_EQ(ErrorOf(WithSinkKeys("    batch_size: 10.5\n")),
            "sluice.yaml:11: sinks[0].batch_size: must be an integer, got \"10.5\"");
  EXPECT_EQ(
      ErrorOf(WithSinkKeys("    batch_size: 99999999999999999999\n")),
      "sluice.yaml:11: sinks[0].batch_size: must be between 1 and 500, got 99999999999999999999");
}

TEST(ConfigLoader, MaxInFlightMustBeBetween1And64) {
  EXPECT_EQ(ErrorOf(WithSinkKeys("    max_in_flight: 65\n")),
            "sluice.yaml:11: sinks[0].max_in_flight: must be between 1 and 64, got 65");
  auto result = Load(WithSinkKeys("    max_in_flight: 64\n"));
  ASSERT_TRUE(result.ok()) << result.error().message();
  EXPECT_EQ(result->sinks[0].max_in_flight, 64);
}

TEST(ConfigLoader, MaxRetryCountIsNullOrNonNegative) {
  auto forever = Load(WithSinkKeys("    max_retry_count: null\n"));
  ASSERT_TRUE(forever.ok()) << forever.error().message();
  EXPECT_FALSE(forever->sinks[0].max_retry_count.has_value());
  auto zero = Load(WithSinkKeys("    max_retry_count: 0\n"));
  ASSERT_TRUE(zero.ok()) << zero.error().message();
  EXPECT_EQ(zero->sinks[0].max_retry_count, 0);
  EXPECT_EQ(ErrorOf(WithSinkKeys("    max_retry_count: -1\n")),
            "sluice.yaml:11: sinks[0].max_retry_count: must be at least 0, got -1");
}

TEST(ConfigLoader, EnumsAcceptTheirValuesAndNameThemOnError) {
  auto result = Load(WithSinkKeys("    status: disabled\n    timestamp_format: iso8601\n"));
  ASSERT_TRUE(result.ok()) << result.error().message();
  EXPECT_EQ(result->sinks[0].status, SinkStatus::kDisabled);
  EXPECT_EQ(
      ErrorOf(WithSinkKeys("    status: running\n")),
      "sluice.yaml:11: sinks[0].status: must be one of active, paused, disabled, got \"running\"");
  EXPECT_EQ(ErrorOf(WithSinkKeys("    timestamp_format: unix\n")),
            "sluice.yaml:11: sinks[0].timestamp_format: must be one of iso8601, unix_microsecond, "
            "got \"unix\"");
}

TEST(ConfigLoader, ActionsSelectWhichChangesAreSent) {
  auto result = Load(WithSinkKeys("    actions: [delete, truncate]\n"));
  ASSERT_TRUE(result.ok()) << result.error().message();
  const SinkSettings& sink = result->sinks[0];
  EXPECT_FALSE(sink.action_insert);
  EXPECT_FALSE(sink.action_update);
  EXPECT_TRUE(sink.action_delete);
  EXPECT_TRUE(sink.action_truncate);
  EXPECT_EQ(ErrorOf(WithSinkKeys("    actions:\n      - insert\n      - upsert\n")),
            "sluice.yaml:13: sinks[0].actions[1]: must be one of insert, update, delete, truncate, "
            "got \"upsert\"");
  EXPECT_EQ(ErrorOf(WithSinkKeys("    actions: []\n")),
            "sluice.yaml:11: sinks[0].actions: must name at least one of insert, update, delete, "
            "truncate");
}

TEST(ConfigLoader, TableNamesMustBeSchemaQualified) {
  EXPECT_EQ(
      ErrorOf(WithSinkKeys("    tables:\n      - name: public.orders\n      - name: orders\n")),
      "sluice.yaml:13: sinks[0].tables[1].name: must be schema.table, got \"orders\"");
  EXPECT_EQ(
      ErrorOf(WithSinkKeys("    source: {include_tables: [public.a, a.b.c]}\n")),
      "sluice.yaml:11: sinks[0].source.include_tables[1]: must be schema.table, got \"a.b.c\"");
  EXPECT_EQ(ErrorOf(WithSinkKeys("    tables: [{name: public.a}, {name: public.a}]\n")),
            "sluice.yaml:11: sinks[0].tables[1].name: duplicate table \"public.a\"");
}

TEST(ConfigLoader, SourceFiltersAndGroupColumnsAreRead) {
  auto result = Load(WithSinkKeys(
      "    source:\n      exclude_tables: [public.audit]\n      exclude_schemas: [internal]\n"
      "    tables:\n      - name: public.orders\n        group_column_names: [account_id, "
      "region]\n"));
  ASSERT_TRUE(result.ok()) << result.error().message();
  const SinkSettings& sink = result->sinks[0];
  EXPECT_EQ(sink.exclude_tables, std::vector<std::string>{"public.audit"});
  EXPECT_EQ(sink.exclude_schemas, std::vector<std::string>{"internal"});
  EXPECT_EQ(sink.tables.at(0).group_column_names,
            (std::vector<std::string>{"account_id", "region"}));
}

TEST(ConfigLoader, IncludeAndExcludeTablesTogetherAreRejected) {
  EXPECT_EQ(ErrorOf(WithSinkKeys("    source:\n      include_tables: [public.a]\n"
                                 "      exclude_tables: [public.b]\n")),
            "sluice.yaml:13: sinks[0].source.exclude_tables: cannot be combined with "
            "include_tables; give one of them");
}

TEST(ConfigLoader, SinkNameMustBeUsableInApiPaths) {
  std::string yaml = WithSinkKeys("");
  yaml.replace(yaml.find("name: s"), 7, "name: my sink/1");
  EXPECT_THAT(ErrorOf(yaml), HasSubstr("sluice.yaml:5: sinks[0].name: may contain only letters"));
}

// --- initial_backfill ---

TEST(ConfigLoader, InitialBackfillTrueMeansEveryTableAndFalseNone) {
  auto all = Load(WithSinkKeys("    initial_backfill: true\n"));
  ASSERT_TRUE(all.ok()) << all.error().message();
  EXPECT_TRUE(all->sinks[0].initial_backfill_all_tables);
  EXPECT_TRUE(all->sinks[0].initial_backfill.empty());
  for (const char* none : {"false", "[]", "null"}) {
    SCOPED_TRACE(none);
    auto result = Load(WithSinkKeys(std::string("    initial_backfill: ") + none + "\n"));
    ASSERT_TRUE(result.ok()) << result.error().message();
    EXPECT_FALSE(result->sinks[0].initial_backfill_all_tables);
    EXPECT_TRUE(result->sinks[0].initial_backfill.empty());
  }
}

TEST(ConfigLoader, InitialBackfillListGivesEachTableWithItsLine) {
  auto result = Load(
      WithSinkKeys("    initial_backfill:\n"                                                   // 11
                   "      - {table: public.orders}\n"                                          // 12
                   "      - table: public.events\n"                                            // 13
                   "        sort_column: created_at\n"                                         // 14
                   "        start_position: 2026-01-01\n"                                      // 15
                   "      - {table: public.logs, sort_column: id, start_position: 1000}\n"));  // 16
  ASSERT_TRUE(result.ok()) << result.error().message();
  const auto& specs = result->sinks[0].initial_backfill;
  EXPECT_FALSE(result->sinks[0].initial_backfill_all_tables);
  ASSERT_EQ(specs.size(), 3u);
  EXPECT_EQ(specs[0].table, "public.orders");
  EXPECT_EQ(specs[0].sort_column, "");
  EXPECT_FALSE(specs[0].start_position.has_value());
  EXPECT_EQ(specs[0].line, 12);
  EXPECT_EQ(specs[1].table, "public.events");
  EXPECT_EQ(specs[1].sort_column, "created_at");
  EXPECT_EQ(specs[1].start_position, "2026-01-01");
  EXPECT_EQ(specs[1].line, 13);
  EXPECT_EQ(specs[2].start_position, "1000");
  EXPECT_EQ(specs[2].line, 16);
}

TEST(ConfigLoader, InitialBackfillOfAnotherShapeIsRejected) {
  EXPECT_EQ(ErrorOf(WithSinkKeys("    initial_backfill: yes\n")),
            "sluice.yaml:11: sinks[0].initial_backfill: must be true, false or a list of {table, "
            "sort_column, start_position}, got \"yes\"");
  EXPECT_EQ(ErrorOf(WithSinkKeys("    initial_backfill: {table: public.orders}\n")),
            "sluice.yaml:11: sinks[0].initial_backfill: must be true, false or a list of {table, "
            "sort_column, start_position}, got a map");
  EXPECT_EQ(ErrorOf(WithSinkKeys("    initial_backfill: [public.orders]\n")),
            "sluice.yaml:11: sinks[0].initial_backfill[0]: must be a map, got a scalar");
}

TEST(ConfigLoader, InitialBackfillEntryKeysAreChecked) {
  EXPECT_EQ(
      ErrorOf(WithSinkKeys("    initial_backfill:\n      - {table: public.a, sortcolumn: x}\n")),
      "sluice.yaml:12: sinks[0].initial_backfill[0].sortcolumn: unknown key; did you mean "
      "\"sort_column\"?");
  EXPECT_EQ(ErrorOf(WithSinkKeys("    initial_backfill:\n      - {sort_column: x}\n")),
            "sluice.yaml:12: sinks[0].initial_backfill[0].table: missing (required)");
  EXPECT_EQ(ErrorOf(WithSinkKeys("    initial_backfill:\n      - {table: orders}\n")),
            "sluice.yaml:12: sinks[0].initial_backfill[0].table: must be schema.table, got "
            "\"orders\"");
  EXPECT_EQ(ErrorOf(WithSinkKeys("    initial_backfill:\n      - {table: public.a}\n"
                                 "      - {table: public.b}\n      - {table: public.a}\n")),
            "sluice.yaml:14: sinks[0].initial_backfill[2].table: duplicate table \"public.a\" "
            "(first given at line 12)");
}

TEST(ConfigLoader, StartPositionNeedsASortColumn) {
  EXPECT_EQ(ErrorOf(WithSinkKeys("    initial_backfill:\n"
                                 "      - table: public.a\n"
                                 "        start_position: 5\n")),
            "sluice.yaml:13: sinks[0].initial_backfill[0].start_position: needs sort_column: a "
            "start position is a value of the sort column");
  EXPECT_EQ(
      ErrorOf(WithSinkKeys("    initial_backfill:\n"
                           "      - {table: public.a, sort_column: id, start_position: ''}\n")),
      "sluice.yaml:12: sinks[0].initial_backfill[0].start_position: must not be empty (leave "
      "it out to start at the first row)");
}

TEST(ConfigLoader, InitialBackfillTablesMustBeOnesTheSinkReceives) {
  EXPECT_EQ(
      ErrorOf(WithSinkKeys("    source: {include_tables: [public.orders]}\n"
                           "    initial_backfill: [{table: public.orders}, {table: public.x}]\n")),
      "sluice.yaml:12: sinks[0].initial_backfill[1].table: sink \"s\" does not receive "
      "\"public.x\": it is not in source.include_tables");
  EXPECT_EQ(ErrorOf(WithSinkKeys("    source: {exclude_tables: [public.audit]}\n"
                                 "    initial_backfill: [{table: public.audit}]\n")),
            "sluice.yaml:12: sinks[0].initial_backfill[0].table: sink \"s\" does not receive "
            "\"public.audit\": source.exclude_tables names it");
  EXPECT_EQ(ErrorOf(WithSinkKeys("    source: {include_schemas: [billing]}\n"
                                 "    initial_backfill: [{table: public.orders}]\n")),
            "sluice.yaml:12: sinks[0].initial_backfill[0].table: sink \"s\" does not receive "
            "\"public.orders\": its schema is not in source.include_schemas");
  EXPECT_EQ(ErrorOf(WithSinkKeys("    source: {exclude_schemas: [internal]}\n"
                                 "    initial_backfill: [{table: internal.jobs}]\n")),
            "sluice.yaml:12: sinks[0].initial_backfill[0].table: sink \"s\" does not receive "
            "\"internal.jobs\": source.exclude_schemas names its schema");
  // The source may come after initial_backfill in the file.
  auto result =
      Load(WithSinkKeys("    initial_backfill: [{table: billing.invoices}]\n"
                        "    source: {include_schemas: [billing]}\n"));
  ASSERT_TRUE(result.ok()) << result.error().message();
  EXPECT_EQ(result->sinks[0].initial_backfill.at(0).table, "billing.invoices");
}

TEST(ConfigLoader, InitialBackfillValuesAreSubstituted) {
  auto result = Load(WithSinkKeys("    initial_backfill:\n"
                                  "      - {table: \"${SCHEMA}.orders\", sort_column: id, "
                                  "start_position: \"${START:-0}\"}\n"),
                     {{"SCHEMA", "shop"}});
  ASSERT_TRUE(result.ok()) << result.error().message();
  EXPECT_EQ(result->sinks[0].initial_backfill.at(0).table, "shop.orders");
  EXPECT_EQ(result->sinks[0].initial_backfill.at(0).start_position, "0");
}

// --- Destination ---

TEST(ConfigLoader, BadStreamArnNamesKeyLineAndReason) {
  std::string yaml = WithSinkKeys("");
  yaml.replace(yaml.find("123456789012"), 12, "12345");
  EXPECT_EQ(ErrorOf(yaml),
            "sluice.yaml:9: sinks[0].destination.stream_arn: account \"12345\" must be exactly 12 "
            "digits");
}

TEST(ConfigLoader, DestinationTypeMustBeKinesis) {
  std::string yaml = WithSinkKeys("");
  yaml.replace(yaml.find("type: kinesis"), 13, "type: sqs");
  EXPECT_EQ(
      ErrorOf(yaml),
      "sluice.yaml:8: sinks[0].destination.type: must be kinesis (the only destination type), "
      "got \"sqs\"");
}

TEST(ConfigLoader, UseTaskRoleWithKeysIsRejected) {
  EXPECT_EQ(
      ErrorOf(WithDestination("      use_task_role: true\n      access_key_id: AKIA1\n"
                              "      secret_access_key: s3cr3t-value\n")),
      "sluice.yaml:10: sinks[0].destination.use_task_role: cannot be true when access_key_id, "
      "secret_access_key or session_token is given; use static keys or the task role, not both");
}

TEST(ConfigLoader, NoCredentialsIsRejected) {
  EXPECT_EQ(ErrorOf(WithDestination("      use_task_role: false\n")),
            "sluice.yaml:8: sinks[0].destination: no AWS credentials: give access_key_id and "
            "secret_access_key, or use_task_role: true");
  EXPECT_THAT(ErrorOf(WithDestination("")), HasSubstr("no AWS credentials"));
}

TEST(ConfigLoader, AccessKeyWithoutSecretNamesTheMissingSecretKey) {
  EXPECT_EQ(ErrorOf(WithDestination("      access_key_id: AKIA1\n")),
            "sluice.yaml:10: sinks[0].destination.secret_access_key: missing: access_key_id is "
            "given, so secret_access_key is required");
}

TEST(ConfigLoader, SecretWithoutAccessKeyNamesTheMissingKeyId) {
  EXPECT_EQ(ErrorOf(WithDestination("      secret_access_key: s3cr3t-value\n")),
            "sluice.yaml:10: sinks[0].destination.access_key_id: missing: secret_access_key is "
            "given, so access_key_id is required");
}

TEST(ConfigLoader, SecretMissingBecauseItsVariableIsUnsetNamesVariableKeyAndLine) {
  EXPECT_EQ(ErrorOf(WithDestination("      access_key_id: AKIA1\n"
                                    "      secret_access_key: ${AWS_SECRET_ACCESS_KEY}\n")),
            "sluice.yaml:11: sinks[0].destination.secret_access_key: environment variable "
            "AWS_SECRET_ACCESS_KEY is not set (write ${AWS_SECRET_ACCESS_KEY:-default} to give a "
            "default)");
  EXPECT_EQ(ErrorOf(WithDestination("      access_key_id: AKIA1\n"
                                    "      secret_access_key: ${AWS_SECRET_ACCESS_KEY:-}\n")),
            "sluice.yaml:10: sinks[0].destination.secret_access_key: missing: access_key_id is "
            "given, so secret_access_key is required");
}

TEST(ConfigLoader, EndpointUrlSchemeIsChecked) {
  EXPECT_EQ(ErrorOf(WithDestination("      use_task_role: true\n      endpoint_url: ftp://h:1\n")),
            "sluice.yaml:11: sinks[0].destination.endpoint_url: must be an http:// or https:// URL "
            "with a host, got \"ftp://h:1\"");
  EXPECT_THAT(ErrorOf(WithDestination("      use_task_role: true\n      endpoint_url: http://\n")),
              HasSubstr("sluice.yaml:11: sinks[0].destination.endpoint_url: must be an http://"));
  auto result = Load(
      WithDestination("      use_task_role: true\n      endpoint_url: https://vpce.example\n"));
  ASSERT_TRUE(result.ok()) << result.error().message();
  EXPECT_EQ(result->sinks[0].destination.endpoint_url, "https://vpce.example");
}

TEST(ConfigLoader, TimeoutsAreBounded) {
  EXPECT_EQ(
      ErrorOf(WithDestination("      use_task_role: true\n      request_timeout_ms: 0\n")),
      "sluice.yaml:11: sinks[0].destination.request_timeout_ms: must be between 1 and 600000, "
      "got 0");
}

// --- Functions ---

TEST(ConfigLoader, FunctionReferencesMustExist) {
  EXPECT_EQ(ErrorOf(WithSinkKeys("    filter: only-paid\n")),
            "sluice.yaml:11: sinks[0].filter: no function named \"only-paid\" (give none or the "
            "name of a filter function under functions)");
}

TEST(ConfigLoader, FunctionReferencesMustHaveMatchingType) {
  // functions occupy lines 1-2, so the sink keys start at line 13.
  EXPECT_EQ(
      ErrorOf(
          WithFunctions("functions:\n  - {name: f, type: routing, code: x}\n", "    filter: f\n")),
      "sluice.yaml:13: sinks[0].filter: function \"f\" has type routing; filter needs a filter "
      "function");
  EXPECT_EQ(ErrorOf(WithFunctions("functions:\n  - {name: f, type: filter, code: x}\n",
                                  "    routing: f\n")),
            "sluice.yaml:13: sinks[0].routing: function \"f\" has type filter; routing needs a "
            "routing function");
}

TEST(ConfigLoader, TransformAcceptsPathFunctionsAndNoneMeansNoFunction) {
  auto result = Load(WithFunctions("functions:\n  - {name: p, type: path, path: record.id}\n",
                                   "    transform: p\n    filter: none\n"));
  ASSERT_TRUE(result.ok()) << result.error().message();
  EXPECT_EQ(result->sinks[0].transform, "p");
  EXPECT_EQ(result->sinks[0].filter, "");
}

TEST(ConfigLoader, FunctionShapeIsValidated) {
  EXPECT_EQ(
      ErrorOf(WithFunctions("functions:\n  - {name: f, type: enrichment, code: x}\n", "")),
      "sluice.yaml:2: functions[0].type: must be one of transform, filter, routing, path, got "
      "\"enrichment\"");
  EXPECT_EQ(
      ErrorOf(WithFunctions("functions:\n  - {name: f, type: filter}\n", "")),
      "sluice.yaml:2: functions[0].code: missing (required): give the Lua code as code or file");
  EXPECT_EQ(
      ErrorOf(WithFunctions("functions:\n  - {name: f, type: filter, code: x, file: y.lua}\n", "")),
      "sluice.yaml:2: functions[0].file: give either code or file, not both");
  EXPECT_EQ(
      ErrorOf(WithFunctions("functions:\n  - {name: f, type: path, path: row.id}\n", "")),
      "sluice.yaml:2: functions[0].path: must start with record, changes, action or metadata, "
      "with fields separated by '.' (e.g. record.id), got \"row.id\"");
  EXPECT_EQ(
      ErrorOf(WithFunctions("functions:\n  - {name: f, type: path, path: record, code: x}\n", "")),
      "sluice.yaml:2: functions[0].code: not allowed for a path function; give path");
}

TEST(ConfigLoader, FunctionFileIsReadRelativeToTheConfigDirectory) {
  auto result = Load(WithFunctions(
      "functions:\n  - {name: r, type: routing, file: functions/route.lua}\n", "    routing: r\n"));
  ASSERT_TRUE(result.ok()) << result.error().message();
  EXPECT_THAT(result->functions[0].code, HasSubstr("function route("));
  EXPECT_THAT(
      ErrorOf(WithFunctions("functions:\n  - {name: r, type: routing, file: missing.lua}\n", "")),
      HasSubstr("sluice.yaml:2: functions[0].file: cannot read \"missing.lua\""));
}

// --- Databases ---

TEST(ConfigLoader, DatabaseFromSeparateFields) {
  std::string yaml = kPrefix;
  yaml.replace(yaml.find("    url: postgres://u:pw@localhost/app\n"), 39,
               "    hostname: db\n    port: ${PGPORT}\n    database: app\n    username: u\n"
               "    password: pw\n    sslmode: verify-full\n");
  auto result =
      Load(yaml +
               "    destination: {type: kinesis, stream_arn: "
               "\"arn:aws:kinesis:us-east-1:123456789012:stream/b\", use_task_role: true}\n",
           {{"PGPORT", "6000"}});
  ASSERT_TRUE(result.ok()) << result.error().message();
  const DatabaseSettings& db = result->databases[0];
  EXPECT_EQ(db.host, "db");
  EXPECT_EQ(db.port, 6000);
  EXPECT_EQ(db.database, "app");
  EXPECT_EQ(db.username, "u");
  EXPECT_EQ(db.password.Reveal(), "pw");
  EXPECT_EQ(db.sslmode, "verify-full");
}

TEST(ConfigLoader, DatabaseFieldsAreRequiredWithoutUrl) {
  std::string yaml = WithSinkKeys("");
  yaml.replace(yaml.find("    url: postgres://u:pw@localhost/app\n"), 39, "    hostname: db\n");
  EXPECT_EQ(ErrorOf(yaml),
            "sluice.yaml:2: databases[0].database: missing (required)\n"
            "sluice.yaml:2: databases[0].username: missing (required)");
}

TEST(ConfigLoader, UrlAndSeparateFieldsAreExclusive) {
  std::string yaml = WithSinkKeys("");
  yaml.replace(yaml.find("sinks:"), 6, "    port: 5433\nsinks:");
  EXPECT_EQ(ErrorOf(yaml),
            "sluice.yaml:4: databases[0].port: cannot be combined with url; give either url or the "
            "separate fields");
}

TEST(ConfigLoader, BadUrlNamesTheProblemWithoutEchoingTheUrl) {
  std::string yaml = WithSinkKeys("");
  yaml.replace(yaml.find("localhost/app"), 13,
               "localhost/app?sslmode=require&target_session_attrs=any");
  EXPECT_EQ(ErrorOf(yaml),
            "sluice.yaml:3: databases[0].url: unknown query parameter \"target_session_attrs\" "
            "(supported: sslmode)");
}

TEST(ConfigLoader, SslAndSslModeMustAgree) {
  std::string yaml = WithSinkKeys("");
  yaml.replace(yaml.find("sinks:"), 6, "    ssl: false\n    sslmode: require\nsinks:");
  EXPECT_EQ(ErrorOf(yaml),
            "sluice.yaml:4: databases[0].ssl: contradicts sslmode \"require\"; give one of ssl or "
            "sslmode");
}

TEST(ConfigLoader, SlotNameMustBeAValidReplicationSlotName) {
  std::string yaml = WithSinkKeys("");
  yaml.replace(yaml.find("sinks:"), 6, "    slot: {name: My-Slot}\nsinks:");
  EXPECT_THAT(
      ErrorOf(yaml),
      HasSubstr("sluice.yaml:4: databases[0].slot.name: a replication slot name may contain "
                "only lower-case letters, digits and '_'"));
}

TEST(ConfigLoader, ApiListenMustBeHostAndPort) {
  EXPECT_THAT(ErrorOf("api: {listen: localhost}\n" + WithSinkKeys("")),
              HasSubstr("sluice.yaml:1: api.listen: must be host:port"));
  auto result = Load("api: {listen: \"[::1]:9000\"}\n" + WithSinkKeys(""));
  ASSERT_TRUE(result.ok()) << result.error().message();
  EXPECT_EQ(result->api.listen, "[::1]:9000");
}

TEST(ConfigLoader, ApiTokenMustBePrintableWithoutSpacesAndIsNeverQuoted) {
  const std::string error =
      ErrorOf("api: {listen: 127.0.0.1:7376, token: \"s3cret with space\"}\n" + WithSinkKeys(""));
  EXPECT_THAT(error, HasSubstr("sluice.yaml:1: api.token: must be printable ASCII without spaces"));
  EXPECT_EQ(error.find("s3cret"), std::string::npos) << "the token is a secret";
  auto ok = Load("api: {listen: 127.0.0.1:7376, token: \"abc-DEF_123.~+/=\"}\n" + WithSinkKeys(""));
  ASSERT_TRUE(ok.ok()) << ok.error().message();
  EXPECT_EQ(ok->api.token.Reveal(), "abc-DEF_123.~+/=");
}

// --- ${VAR} substitution ---

TEST(ConfigLoader, SubstitutesVariablesWithDefaultsInAnyScalar) {
  auto result = Load("data_dir: ${DATA:-/srv/sluice}\n" +
                         WithSinkKeys("    batch_size: ${BATCH}\n    status: ${STATUS:-paused}\n"),
                     {{"BATCH", "250"}});
  ASSERT_TRUE(result.ok()) << result.error().message();
  EXPECT_EQ(result->data_dir, "/srv/sluice");
  EXPECT_EQ(result->sinks[0].batch_size, 250);
  EXPECT_EQ(result->sinks[0].status, SinkStatus::kPaused);
}

TEST(ConfigLoader, MissingVariableNamesVariableKeyAndLine) {
  EXPECT_EQ(ErrorOf(WithSinkKeys("    batch_size: ${BATCH}\n")),
            "sluice.yaml:11: sinks[0].batch_size: environment variable BATCH is not set (write "
            "${BATCH:-default} to give a default)");
}

TEST(ConfigLoader, VariablesWorkInsideFlowCollections) {
  // Plain YAML would end the scalar at the reference's '}' (SPEC §1's own example).
  auto result =
      Load("api: {listen: 127.0.0.1:7376, token: ${SLUICE_API_TOKEN}}\n" +
               WithSinkKeys("    source: {include_tables: [${TABLE:-public.a}, public.b]}\n"),
           {{"SLUICE_API_TOKEN", "tok}en"}});
  ASSERT_TRUE(result.ok()) << result.error().message();
  EXPECT_EQ(result->api.token.Reveal(), "tok}en");
  EXPECT_EQ(result->sinks[0].include_tables, (std::vector<std::string>{"public.a", "public.b"}));
}

TEST(ConfigLoader, SubstitutedValuesAreNotParsedAsYaml) {
  auto result =
      Load(WithSinkKeys("    status: ${STATUS}\n"), {{"STATUS", "paused\n    batch_size: 7"}});
  EXPECT_FALSE(result.ok());
  EXPECT_THAT(result.error().message(),
              HasSubstr("sluice.yaml:11: sinks[0].status: must be one of"));
}

TEST(ConfigLoader, UnknownKeyWithReferenceIsNamedAsWritten) {
  EXPECT_EQ(ErrorOf(WithSinkKeys("    ${X}: 1\n")),
            "sluice.yaml:11: sinks[0].${X}: unknown key (known keys: name, database, source, "
            "actions, tables, message_grouping, batch_size, max_in_flight, filter, transform, "
            "routing, timestamp_format, max_retry_count, initial_backfill, status, destination)");
}

TEST(ConfigLoader, FunctionCodeIsNotSubstituted) {
  auto result = Load(WithFunctions(
      "functions:\n  - {name: f, type: filter, code: 'return \"${X}\"'}\n"
      "  - name: g\n    type: filter\n    code: |\n      return \"${Y:-d}\" .. \"$$\"\n",
      ""));
  ASSERT_TRUE(result.ok()) << result.error().message();
  EXPECT_EQ(result->functions[0].code, "return \"${X}\"");
  EXPECT_EQ(result->functions[1].code, "return \"${Y:-d}\" .. \"$$\"\n");
}

// --- Secrets ---

TEST(ConfigLoader, ErrorsNeverContainSecretValues) {
  const std::string secret = "Sup3rS3cretValue";
  std::map<std::string, std::string> env = {{"SECRET", secret}};
  // A database password next to a bad port.
  std::string fields = kPrefix;
  fields.replace(fields.find("    url: postgres://u:pw@localhost/app\n"), 39,
                 "    hostname: db\n    port: not-a-port\n    database: app\n    username: u\n"
                 "    password: " +
                     secret + "\n");
  fields += "    destination: {type: kinesis, stream_arn: x, use_task_role: true}\n";
  // A URL with a password and a bad parameter; a password of the wrong type.
  std::string url = WithSinkKeys("");
  url.replace(url.find("u:pw@localhost/app"), 18, "u:" + secret + "@localhost:0/app?x=" + secret);
  // Static keys next to use_task_role, the token next to a bad listen address,
  // a secret given through a variable next to a bad ARN.
  std::string keys = WithDestination(
      "      use_task_role: true\n      access_key_id: AKIA1\n"
      "      secret_access_key: " +
      secret +
      "\n"
      "      session_token: ${SECRET}\n");
  keys.replace(keys.find("123456789012"), 12, "1");
  std::string api =
      "api: {listen: nowhere, token: " + secret + "}\n" + WithSinkKeys("    batch_size: 0\n");
  std::string wrong_type = "api: {token: [" + secret + "]}\n" + WithSinkKeys("");
  for (const std::string& yaml : {fields, url, keys, api, wrong_type}) {
    std::string message = ErrorOf(yaml, env);
    EXPECT_FALSE(message.empty());
    EXPECT_THAT(message, Not(HasSubstr(secret))) << yaml;
  }
}

TEST(ConfigLoader, SecretsPrintAsStars) {
  auto result =
      Load(WithDestination("      access_key_id: AKIA1\n      secret_access_key: hidden\n"));
  ASSERT_TRUE(result.ok()) << result.error().message();
  std::ostringstream out;
  out << result->sinks[0].destination.secret_access_key;
  EXPECT_EQ(out.str(), "***");
  EXPECT_EQ(result->sinks[0].destination.secret_access_key.Reveal(), "hidden");
}

// --- Robustness ---

TEST(ConfigLoader, ReportsEveryProblemSortedByLine) {
  std::string message =
      ErrorOf(WithSinkKeys("    batch_size: 0\n    max_in_flight: 0\n    bogus: 1\n"));
  EXPECT_EQ(message,
            "sluice.yaml:11: sinks[0].batch_size: must be between 1 and 500, got 0\n"
            "sluice.yaml:12: sinks[0].max_in_flight: must be between 1 and 64, got 0\n"
            "sluice.yaml:13: sinks[0].bogus: unknown key (known keys: name, database, source, "
            "actions, tables, message_grouping, batch_size, max_in_flight, filter, transform, "
            "routing, timestamp_format, max_retry_count, initial_backfill, status, destination)");
}

TEST(ConfigLoader, OddDocumentsGiveErrorsNotCrashes) {
  for (const char* yaml :
       {"[", "{{", "*x", "- - -", "\t", "? [a]\n: b\n", "&a [*a]", "sinks: {a: 1}",
        "databases: [1, [2], {name: {x: y}}]", "databases:\n  - !!binary x\n",
        "sinks:\n  - destination: [1]\n", "functions: [{name: f, type: path, path: ''}]"}) {
    auto result = Load(yaml);
    EXPECT_FALSE(result.ok()) << yaml;
  }
}

}  // namespace
}  // namespace sluice::config
