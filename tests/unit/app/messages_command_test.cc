#include "app/messages_command.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "app/exit_codes.h"
#include "model/encoder.h"
#include "support/temp_dir.h"

namespace sluice::app {
namespace {

namespace fs = std::filesystem;
using delivery::MessageStore;
using delivery::StoredMessage;
using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;
using ::testing::Not;
using Json = nlohmann::json;

using testing_support::TempDir;

WallTime At(int64_t ms) { return WallTime(milliseconds(ms)); }

// "Now" of every test: 100 s after the first message was taken in.
const WallTime kNow = At(1'700'000'100'000);

std::shared_ptr<const model::Relation> Orders() {
  static const auto relation = [] {
    auto r = std::make_shared<model::Relation>();
    r->oid = 16390;
    r->schema = "public";
    r->name = "orders";
    r->columns = {{"id", 20, -1, true}, {"status", 25, -1, false}};
    r->primary_key = {0};
    return r;
  }();
  return relation;
}

// An insert into public.orders of row `key`, stored as message `id`.
StoredMessage Msg(uint64_t id, std::string key, std::string sink = "orders-sink") {
  StoredMessage m;
  m.id = id;
  m.sink = std::move(sink);
  m.group_key = "16390/" + key;
  m.partition_key = key;
  auto txn = std::make_shared<model::TransactionInfo>();
  txn->commit_lsn = Lsn(1000 + id);
  txn->commit_time_us = 1795773600123456;
  txn->xid = 740;
  m.change.txn = txn;
  m.change.relation = Orders();
  m.change.action = model::Action::kInsert;
  m.change.new_tuple.AddText(key);
  m.change.new_tuple.AddText("paid");
  m.created_at = At(1'700'000'000'000 + static_cast<int64_t>(id) * 1000);
  return m;
}

// A message that failed `count` times and backs off until kNow + 41 s.
StoredMessage Failing(uint64_t id, std::string key, std::string error,
                      std::string sink = "orders-sink") {
  StoredMessage m = Msg(id, std::move(key), std::move(sink));
  m.deliver_count = 3;
  m.last_error = std::move(error);
  m.not_before = kNow + seconds(41);
  return m;
}

config::StreamArn Arn(const std::string& text) {
  std::string why;
  auto arn = config::StreamArn::Parse(text, &why);
  EXPECT_TRUE(arn.has_value()) << why;
  return arn.value_or(config::StreamArn{});
}

config::Settings MakeSettings(const fs::path& data_dir) {
  config::Settings s;
  s.config_path = "/etc/sluice/sluice.yaml";
  s.data_dir = data_dir.string();
  config::SinkSettings orders;
  orders.name = "orders-sink";
  orders.database = "app";
  orders.destination.stream = Arn("arn:aws:kinesis:us-east-1:123456789012:stream/orders");
  config::SinkSettings audit;
  audit.name = "audit-sink";
  audit.database = "app";
  audit.timestamp_format = config::TimestampFormat::kUnixMicrosecond;
  audit.destination.stream = Arn("arn:aws:kinesis:us-east-1:123456789012:stream/audit");
  s.sinks = {orders, audit};
  return s;
}

// The members of MESSAGE in docs/api.md, by name.
const std::vector<std::string> kMessageMembers = {
    "action",   "commit_lsn", "committed_at",    "deliver_count", "delivered_at",
    "id",       "last_error", "next_attempt_at", "partition_key", "sequence_number",
    "shard_id", "state",      "stream_arn",      "table"};

// The member names of a JSON object, sorted (nlohmann::json keeps them so).
std::vector<std::string> MembersOf(const Json& object) {
  std::vector<std::string> names;
  for (const auto& [name, value] : object.items()) names.push_back(name);
  return names;
}

class MessagesCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    settings_ = MakeSettings(dir_.path());
    auto store = OpenStoreForCommand(settings_);
    ASSERT_TRUE(store.ok()) << store.error().message();
    store_ = std::move(store).value();
  }

  void Seed(std::vector<StoredMessage> batch) {
    auto put = store_->Put(batch);
    ASSERT_TRUE(put.ok()) << put.error().message();
    ASSERT_EQ(*put, batch.size());
  }

  // The standard store: 1 and 3 failing in orders-sink, 2 waiting behind 1,
  // 4 waiting in audit-sink.
  void SeedStandard() {
    Seed({Failing(1, "7",
                  "ProvisionedThroughputExceededException: Rate exceeded for shard "
                  "shardId-000000000001 in stream orders under account 123456789012.\nsecond line"),
          Msg(2, "7"), Failing(3, "8", "InternalFailure: Internal service failure."),
          Msg(4, "9", "audit-sink")});
  }

  static ListMessagesOptions Of(std::string sink, std::string state = "") {
    ListMessagesOptions options;
    options.sink = std::move(sink);
    options.state = std::move(state);
    return options;
  }

  std::string List(const ListMessagesOptions& options) {
    std::ostringstream out;
    Status st = ListMessages(*store_, settings_, options, kNow, out);
    EXPECT_TRUE(st.ok()) << st.error().message();
    return out.str();
  }

  Json ListJson(ListMessagesOptions options) {
    options.format = OutputFormat::kJson;
    return Json::parse(List(options));
  }

  Status ListError(const ListMessagesOptions& options) {
    std::ostringstream out;
    Status st = ListMessages(*store_, settings_, options, kNow, out);
    EXPECT_EQ(out.str(), "");
    return st;
  }

  Json ShowJson(const std::string& sink, uint64_t id) {
    std::ostringstream out;
    Status st = ShowMessage(*store_, settings_, {sink, id, OutputFormat::kJson}, kNow, out);
    EXPECT_TRUE(st.ok()) << st.error().message();
    return Json::parse(out.str());
  }

  static std::vector<uint64_t> Ids(const Json& doc) {
    std::vector<uint64_t> ids;
    for (const Json& m : doc["messages"]) ids.push_back(m["id"].get<uint64_t>());
    return ids;
  }

  TempDir dir_;
  config::Settings settings_;
  std::unique_ptr<MessageStore> store_;
};

TEST_F(MessagesCommand, ListTableShowsTheApisColumnsAndStates) {
  SeedStandard();
  const std::string out = List(Of("orders-sink"));
  std::istringstream lines(out);
  std::string header, row1, row2, row3, last;
  std::getline(lines, header);
  std::getline(lines, row1);
  std::getline(lines, row2);
  std::getline(lines, row3);
  std::getline(lines, last);
  EXPECT_THAT(header, ::testing::MatchesRegex("ID +STATE +TABLE +ACTION +KEY +TRIES +NEXT ATTEMPT "
                                              "+LAST ERROR"));
  // id, state, table, action, key, tries, next attempt, error (cut, on one line).
  EXPECT_THAT(row1, ::testing::MatchesRegex(
                        "1 +failed +public\\.orders +insert +7 +3 +in 41s +"
                        "ProvisionedThroughputExceededException: Rate exceeded for\\.\\.\\."));
  EXPECT_THAT(row2, ::testing::MatchesRegex("2 +pending +public\\.orders +insert +7 +0 +- +-"));
  EXPECT_THAT(row3, HasSubstr("InternalFailure: Internal service failure."));
  EXPECT_EQ(last, "3 messages shown; no more messages of sink orders-sink");
  EXPECT_THAT(out, Not(HasSubstr("second line")));
  EXPECT_THAT(out, Not(HasSubstr("audit-sink")));
}

TEST_F(MessagesCommand, ListTableCutsLongKeysAtCharacterBoundaries) {
  StoredMessage m = Msg(1, "");
  m.partition_key = std::string(20, 'k') + "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9";  // 25 chars
  Seed({m});
  const std::string out = List(Of("orders-sink"));
  EXPECT_THAT(out, HasSubstr(std::string(20, 'k') + "\xc3\xa9..."));
}

TEST_F(MessagesCommand, ListJsonIsTheApisDocument) {
  SeedStandard();
  Json doc = ListJson(Of("orders-sink"));
  EXPECT_EQ(MembersOf(doc), (std::vector<std::string>{"messages", "next_cursor"}));
  EXPECT_TRUE(doc["next_cursor"].is_null());
  EXPECT_EQ(Ids(doc), (std::vector<uint64_t>{1, 2, 3}));
  for (const Json& m : doc["messages"]) EXPECT_EQ(MembersOf(m), kMessageMembers) << m;

  const Json& first = doc["messages"][0];
  EXPECT_EQ(first["state"], "failed");
  EXPECT_EQ(first["table"], "public.orders");
  EXPECT_EQ(first["action"], "insert");
  EXPECT_EQ(first["commit_lsn"], "0/3E9");
  EXPECT_EQ(first["committed_at"], "2026-11-27T10:00:00.123Z");
  EXPECT_EQ(first["partition_key"], "7");
  EXPECT_EQ(first["deliver_count"], 3);
  EXPECT_THAT(first["last_error"].get<std::string>(), HasSubstr("Rate exceeded for shard"));
  EXPECT_THAT(first["last_error"].get<std::string>(), HasSubstr("\nsecond line"));
  EXPECT_EQ(first["next_attempt_at"], "2023-11-14T22:15:41.000Z");
  EXPECT_TRUE(first["delivered_at"].is_null());
  EXPECT_EQ(first["stream_arn"], "");
  EXPECT_EQ(first["shard_id"], "");
  EXPECT_EQ(first["sequence_number"], "");

  const Json& second = doc["messages"][1];
  EXPECT_EQ(second["state"], "pending");
  EXPECT_EQ(second["deliver_count"], 0);
  EXPECT_EQ(second["last_error"], "");
  EXPECT_TRUE(second["next_attempt_at"].is_null());
}

TEST_F(MessagesCommand, ListJsonShowsARedeliveredMessageDueNowAndAMissingCommitTimeAsNull) {
  // Redelivered: not_before at the epoch means due at once, never 1970.
  StoredMessage redelivered = Failing(1, "7", "InternalFailure");
  redelivered.not_before = WallTime{};
  StoredMessage untimed = Msg(2, "8");
  auto txn = std::make_shared<model::TransactionInfo>(*untimed.change.txn);
  txn->commit_time_us = 0;
  untimed.change.txn = txn;
  Seed({redelivered, untimed});
  Json doc = ListJson(Of("orders-sink"));
  EXPECT_EQ(doc["messages"][0]["next_attempt_at"], "2023-11-14T22:15:00.000Z");  // kNow
  EXPECT_TRUE(doc["messages"][1]["committed_at"].is_null());
  EXPECT_EQ(List(Of("orders-sink")).find("1970"), std::string::npos);
}

TEST_F(MessagesCommand, ListFiltersByStateInTheApisWords) {
  SeedStandard();
  EXPECT_EQ(Ids(ListJson(Of("orders-sink", "failed"))), (std::vector<uint64_t>{1, 3}));
  EXPECT_EQ(Ids(ListJson(Of("orders-sink", "failing"))), (std::vector<uint64_t>{1, 3}));
  EXPECT_EQ(Ids(ListJson(Of("orders-sink", "pending"))), (std::vector<uint64_t>{2}));
  EXPECT_EQ(Ids(ListJson(Of("audit-sink"))), (std::vector<uint64_t>{4}));
  EXPECT_EQ(Ids(ListJson(Of("audit-sink", "failed"))), (std::vector<uint64_t>{}));
}

TEST_F(MessagesCommand, ListRefusesTheStatesOnlyARunningSluiceHas) {
  SeedStandard();
  for (const char* state : {"in_flight", "backing_off", "delivered"}) {
    Status st = ListError(Of("orders-sink", state));
    ASSERT_FALSE(st.ok()) << state;
    EXPECT_EQ(st.error().code(), ErrorCode::kUnavailable);
    EXPECT_EQ(st.error().message(),
              std::string("--state ") + state +
                  " needs a running sluice: a stopped one holds only pending and failed "
                  "messages, in its local store");
    EXPECT_EQ(ExitCodeFor(st.error()), kExitFailure);
  }
}

TEST_F(MessagesCommand, ListPagesWithTheCursorOfThePreviousPage) {
  Seed(
      {Msg(1, "a"), Msg(2, "b"), Msg(3, "c", "audit-sink"), Msg(4, "d"), Msg(5, "e"), Msg(6, "f")});
  ListMessagesOptions options = Of("orders-sink");
  options.limit = 2;
  Json page = ListJson(options);
  EXPECT_EQ(Ids(page), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(page["next_cursor"], "2");
  options.cursor = page["next_cursor"].get<std::string>();
  page = ListJson(options);
  EXPECT_EQ(Ids(page), (std::vector<uint64_t>{4, 5}));
  EXPECT_EQ(page["next_cursor"], "5");
  options.cursor = page["next_cursor"].get<std::string>();
  page = ListJson(options);
  EXPECT_EQ(Ids(page), (std::vector<uint64_t>{6}));
  EXPECT_TRUE(page["next_cursor"].is_null());
  options.cursor = "6";
  EXPECT_EQ(ListJson(options), Json::parse(R"({"messages":[],"next_cursor":null})"));
  options.format = OutputFormat::kTable;
  EXPECT_EQ(List(options),
            "no messages of sink orders-sink after this cursor in the local store\n");
}

TEST_F(MessagesCommand, ListRefusesACursorThatIsNotAMessageId) {
  SeedStandard();
  for (const char* cursor : {"abc", "0", "-1", "2x", " 2"}) {
    ListMessagesOptions options = Of("orders-sink");
    options.cursor = cursor;
    Status st = ListError(options);
    ASSERT_FALSE(st.ok()) << cursor;
    EXPECT_EQ(st.error().message(),
              std::string("--cursor must be the next_cursor of an earlier page (a message id), "
                          "got \"") +
                  cursor + "\"");
    EXPECT_EQ(ExitCodeFor(st.error()), kExitUsage);
  }
}

TEST_F(MessagesCommand, ListTableEndsWithTheCommandForTheNextPage) {
  Seed({Failing(1, "a", "e"), Failing(2, "b", "e"), Failing(3, "c", "e")});
  ListMessagesOptions options = Of("orders-sink", "failing");
  options.limit = 2;
  const std::string out = List(options);
  EXPECT_THAT(out, HasSubstr("more failing messages of sink orders-sink: next page with\n"
                             "  sluice messages list --config /etc/sluice/sluice.yaml --sink "
                             "orders-sink --state failing --limit 2 --cursor 2\n"));
}

TEST_F(MessagesCommand, ListOfAnEmptyStoreSaysSo) {
  EXPECT_EQ(List(Of("orders-sink")), "no messages of sink orders-sink in the local store\n");
  EXPECT_EQ(List(Of("orders-sink", "failed")),
            "no failed messages of sink orders-sink in the local store\n");
  EXPECT_EQ(ListJson(Of("orders-sink")), Json::parse(R"({"messages":[],"next_cursor":null})"));
}

TEST_F(MessagesCommand, ListRefusesAMissingOrUnknownSinkAndALimitOutOfRange) {
  SeedStandard();
  Status st = ListError(Of(""));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message(), "--sink is required");
  st = ListError(Of("ordres-sink"));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(st.error().message(), HasSubstr("no sink named \"ordres-sink\""));
  EXPECT_THAT(st.error().message(), HasSubstr("orders-sink, audit-sink"));
  EXPECT_EQ(ExitCodeFor(st.error()), kExitUsage);

  ListMessagesOptions too_many = Of("orders-sink");
  too_many.limit = kMaxMessagesLimit + 1;
  st = ListError(too_many);
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.error().message(), HasSubstr("--limit must be between 1 and 1000, got 1001"));
}

TEST_F(MessagesCommand, ShowPrintsEveryFieldTheChangeAndThePayloadAsThroughTheApi) {
  SeedStandard();
  std::ostringstream out;
  Status st = ShowMessage(*store_, settings_, {"orders-sink", 1, OutputFormat::kTable}, kNow, out);
  ASSERT_TRUE(st.ok()) << st.error().message();
  const std::string text = out.str();
  EXPECT_THAT(text, HasSubstr("id:              1\n"
                              "sink:            orders-sink\n"
                              "state:           failed\n"
                              "table:           public.orders\n"
                              "action:          insert\n"
                              "partition key:   7\n"
                              "commit LSN:      0/3E9\n"
                              "committed:       2026-11-27T10:00:00.123Z (in "));
  EXPECT_THAT(text, HasSubstr("deliver count:   3\n"
                              "next attempt:    2023-11-14T22:15:41.000Z (in 41s)\n"));
  EXPECT_THAT(text, HasSubstr("account 123456789012.\n  second line\n"));
  EXPECT_THAT(text, HasSubstr("change (the message before the sink's functions):\n{\n  "));
  EXPECT_THAT(text, HasSubstr("\"name\": \"orders-sink\""));
  EXPECT_THAT(text, HasSubstr("payload (the record as it would be put now, after the sink's "
                              "functions):\n"
                              "  stream:   arn:aws:kinesis:us-east-1:123456789012:stream/orders\n"
                              "  filtered: no\n{\n"));
}

TEST_F(MessagesCommand, ShowJsonIsTheApisDocumentEncodedWithTheSinksSettings) {
  SeedStandard();
  Json doc = ShowJson("audit-sink", 4);
  EXPECT_EQ(MembersOf(doc), (std::vector<std::string>{"change", "message", "payload"}));
  EXPECT_EQ(MembersOf(doc["message"]), kMessageMembers);
  EXPECT_EQ(doc["message"]["id"], 4);
  EXPECT_EQ(doc["message"]["state"], "pending");
  const Json& change = doc["change"];
  std::string want;
  model::EncodeMessage(Msg(4, "9").change,
                       {"app", "audit-sink", model::TimestampStyle::kUnixMicrosecond}, &want);
  EXPECT_EQ(change, Json::parse(want));
  EXPECT_EQ(change["record"]["id"], 9);
  EXPECT_EQ(change["metadata"]["consumer"]["name"], "audit-sink");
  // audit-sink has timestamp_format: unix_microsecond.
  EXPECT_EQ(change["metadata"]["commit_timestamp"], 1795773600123456);
  // Without functions the payload is the change, put on the sink's stream.
  EXPECT_EQ(doc["payload"], Json::parse(R"({"data":)" + want +
                                        R"(,"stream_arn":"arn:aws:kinesis:us-east-1:)"
                                        R"(123456789012:stream/audit","filtered":false,)"
                                        R"("error":null})"));
}

TEST_F(MessagesCommand, ShowRunsTheSinksFunctionsForThePayload) {
  auto function = [](std::string name, std::string type, std::string code) {
    config::FunctionSettings f;
    f.name = std::move(name);
    f.type = std::move(type);
    f.code = std::move(code);
    return f;
  };
  settings_.functions = {
      function("slim", "transform",
               "function transform(action, record, changes, metadata)\n"
               "  return {key = record.id, action = action}\n"
               "end"),
      function("drop-paid", "filter",
               "function filter(action, record, changes, metadata) return record.status ~= "
               "'paid' end"),
      function("broken", "transform",
               "function transform(action, record, changes, metadata) error('no slim today') "
               "end")};
  SeedStandard();
  config::SinkSettings& orders = settings_.sinks[0];

  orders.transform = "slim";
  Json doc = ShowJson("orders-sink", 1);
  EXPECT_EQ(doc["payload"]["data"], Json::parse(R"({"key":7,"action":"insert"})"));
  EXPECT_EQ(doc["payload"]["filtered"], false);
  EXPECT_EQ(doc["change"]["record"]["status"], "paid");  // before the functions

  orders.transform.clear();
  orders.filter = "drop-paid";
  doc = ShowJson("orders-sink", 1);
  EXPECT_EQ(doc["payload"]["filtered"], true);
  EXPECT_TRUE(doc["payload"]["data"].is_null());

  orders.filter.clear();
  orders.transform = "broken";
  doc = ShowJson("orders-sink", 1);
  EXPECT_TRUE(doc["payload"]["data"].is_null());
  EXPECT_THAT(doc["payload"]["error"].get<std::string>(), HasSubstr("no slim today"));
}

TEST_F(MessagesCommand, ShowRefusesAnUnknownIdAndAnotherSinksMessage) {
  SeedStandard();
  std::ostringstream out;
  Status st = ShowMessage(*store_, settings_, {"orders-sink", 99, OutputFormat::kTable}, kNow, out);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(st.error().message(), "no message 99 in sink orders-sink");
  EXPECT_EQ(ExitCodeFor(st.error()), kExitFailure);
  // Message 4 belongs to audit-sink.
  st = ShowMessage(*store_, settings_, {"orders-sink", 4, OutputFormat::kTable}, kNow, out);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message(), "no message 4 in sink orders-sink");
  st = ShowMessage(*store_, settings_, {"nope", 1, OutputFormat::kTable}, kNow, out);
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.error().message(), HasSubstr("no sink named \"nope\""));
  EXPECT_EQ(out.str(), "");
}

TEST_F(MessagesCommand, RedeliverOneMakesItDueAndKeepsItsDeliverCount) {
  SeedStandard();
  std::ostringstream out;
  MessageActionOptions options;
  options.sink = "orders-sink";
  options.id = 1;
  Status st = RedeliverMessages(*store_, settings_, options, out);
  ASSERT_TRUE(st.ok()) << st.error().message();
  EXPECT_EQ(out.str(),
            "message 1 of sink orders-sink will be tried at once when sluice runs (in group "
            "order)\n");
  auto got = store_->Get("orders-sink", 1);
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_LE((*got)->not_before, kNow);
  EXPECT_EQ((*got)->deliver_count, 3);
  // Message 3 still backs off.
  auto other = store_->Get("orders-sink", 3);
  ASSERT_TRUE(other.ok() && other->has_value());
  EXPECT_EQ((*other)->not_before, kNow + seconds(41));
}

TEST_F(MessagesCommand, RedeliverFailingMakesEveryFailingMessageOfTheSinkDue) {
  SeedStandard();
  Seed({Failing(5, "x", "InternalFailure", "audit-sink")});
  std::ostringstream out;
  MessageActionOptions options;
  options.sink = "orders-sink";
  options.selection = MessageSelection::kFailing;
  options.format = OutputFormat::kJson;
  Status st = RedeliverMessages(*store_, settings_, options, out);
  ASSERT_TRUE(st.ok()) << st.error().message();
  EXPECT_EQ(out.str(), "{\"affected\":2,\"skipped\":0}\n");
  Json doc = ListJson(Of("orders-sink", "failed"));
  ASSERT_EQ(Ids(doc), (std::vector<uint64_t>{1, 3}));
  EXPECT_EQ(doc["messages"][0]["next_attempt_at"], "2023-11-14T22:15:00.000Z");  // now
  EXPECT_EQ(doc["messages"][1]["next_attempt_at"], "2023-11-14T22:15:00.000Z");
  // Another sink's message still backs off.
  EXPECT_EQ(ListJson(Of("audit-sink", "failed"))["messages"][0]["next_attempt_at"],
            "2023-11-14T22:15:41.000Z");

  options.format = OutputFormat::kTable;
  out.str("");
  st = RedeliverMessages(*store_, settings_, options, out);
  ASSERT_TRUE(st.ok()) << st.error().message();
  EXPECT_EQ(out.str(),
            "2 messages (every failing one) of sink orders-sink will be tried at once when "
            "sluice runs (in group order)\n");
}

TEST_F(MessagesCommand, RedeliverRefusesAnUnknownIdAndAll) {
  SeedStandard();
  std::ostringstream out;
  MessageActionOptions options;
  options.sink = "orders-sink";
  options.id = 42;
  Status st = RedeliverMessages(*store_, settings_, options, out);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message(), "no message 42 in sink orders-sink");
  EXPECT_EQ(ExitCodeFor(st.error()), kExitFailure);
  options.selection = MessageSelection::kAll;
  st = RedeliverMessages(*store_, settings_, options, out);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(ExitCodeFor(st.error()), kExitUsage);
}

TEST_F(MessagesCommand, DiscardOneRemovesOnlyThatMessage) {
  SeedStandard();
  std::ostringstream out;
  MessageActionOptions options;
  options.sink = "orders-sink";
  options.id = 1;
  options.format = OutputFormat::kJson;
  Status st = DiscardMessages(*store_, settings_, options, out);
  ASSERT_TRUE(st.ok()) << st.error().message();
  EXPECT_EQ(Json::parse(out.str()), Json::parse(R"({"affected":1,"skipped":0})"));
  EXPECT_EQ(Ids(ListJson(Of("orders-sink"))), (std::vector<uint64_t>{2, 3}));

  st = DiscardMessages(*store_, settings_, options, out);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message(), "no message 1 in sink orders-sink");
}

TEST_F(MessagesCommand, BulkDiscardIsRefusedWithoutYes) {
  SeedStandard();
  for (MessageSelection selection : {MessageSelection::kFailing, MessageSelection::kAll}) {
    std::ostringstream out;
    MessageActionOptions options;
    options.sink = "orders-sink";
    options.selection = selection;
    Status st = DiscardMessages(*store_, settings_, options, out);
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(st.error().message(), HasSubstr("add --yes to confirm"));
    EXPECT_THAT(st.error().message(),
                HasSubstr(selection == MessageSelection::kAll ? "--all" : "--failing"));
    EXPECT_EQ(ExitCodeFor(st.error()), kExitUsage);
    EXPECT_EQ(out.str(), "");
  }
  EXPECT_EQ(Ids(ListJson(Of("orders-sink"))), (std::vector<uint64_t>{1, 2, 3}));
}

TEST_F(MessagesCommand, BulkDiscardWithYesRemovesFailingThenAllOfTheSink) {
  SeedStandard();
  std::ostringstream out;
  MessageActionOptions options;
  options.sink = "orders-sink";
  options.selection = MessageSelection::kFailing;
  options.confirmed = true;
  Status st = DiscardMessages(*store_, settings_, options, out);
  ASSERT_TRUE(st.ok()) << st.error().message();
  EXPECT_EQ(out.str(), "discarded 2 messages (every failing one) of sink orders-sink\n");
  EXPECT_EQ(Ids(ListJson(Of("orders-sink"))), (std::vector<uint64_t>{2}));

  options.selection = MessageSelection::kAll;
  options.format = OutputFormat::kJson;
  out.str("");
  st = DiscardMessages(*store_, settings_, options, out);
  ASSERT_TRUE(st.ok()) << st.error().message();
  EXPECT_EQ(Json::parse(out.str()), Json::parse(R"({"affected":1,"skipped":0})"));
  EXPECT_EQ(Ids(ListJson(Of("orders-sink"))), (std::vector<uint64_t>{}));
  EXPECT_EQ(Ids(ListJson(Of("audit-sink"))), (std::vector<uint64_t>{4}));  // audit-sink's stays
}

TEST_F(MessagesCommand, AStoreHeldByARunningSluiceGivesAClearError) {
  // store_ holds the exclusive lock, as a running sluice does.
  auto second = OpenStoreForCommand(settings_);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(second.error().message(),
            "data_dir " + dir_.path().string() +
                " is in use by a running sluice (its message store is locked); stop sluice "
                "first, then run this command again");
  EXPECT_EQ(ExitCodeFor(second.error()), kExitFailure);

  store_.reset();
  auto reopened = OpenStoreForCommand(settings_);
  EXPECT_TRUE(reopened.ok()) << reopened.error().message();
}

TEST(MessagesCommandExitCodes, MapErrorKindsToTheDocumentedCodes) {
  EXPECT_EQ(ExitCodeFor(Error(ErrorCode::kInvalidArgument, "x")), kExitUsage);
  EXPECT_EQ(ExitCodeFor(Error(ErrorCode::kConfig, "x")), kExitConfigError);
  EXPECT_EQ(ExitCodeFor(Error(ErrorCode::kIo, "x")), kExitFailure);
  EXPECT_EQ(ExitCodeFor(Error(ErrorCode::kNotFound, "x")), kExitFailure);
}

}  // namespace
}  // namespace sluice::app
