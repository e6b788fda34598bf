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
using delivery::StoredState;
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

config::Settings MakeSettings(const fs::path& data_dir) {
  config::Settings s;
  s.config_path = "/etc/sluice/sluice.yaml";
  s.data_dir = data_dir.string();
  config::SinkSettings orders;
  orders.name = "orders-sink";
  orders.database = "app";
  config::SinkSettings audit;
  audit.name = "audit-sink";
  audit.database = "app";
  audit.timestamp_format = config::TimestampFormat::kUnixMicrosecond;
  s.sinks = {orders, audit};
  return s;
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

  static std::vector<uint64_t> Ids(const Json& doc) {
    std::vector<uint64_t> ids;
    for (const Json& m : doc["messages"]) ids.push_back(m["id"].get<uint64_t>());
    return ids;
  }

  TempDir dir_;
  config::Settings settings_;
  std::unique_ptr<MessageStore> store_;
};

TEST_F(MessagesCommand, ListTableShowsOneRowPerMessageWithRelativeTimes) {
  SeedStandard();
  const std::string out = List({});
  std::istringstream lines(out);
  std::string header, row1, row2, row3, row4, last;
  std::getline(lines, header);
  std::getline(lines, row1);
  std::getline(lines, row2);
  std::getline(lines, row3);
  std::getline(lines, row4);
  std::getline(lines, last);
  EXPECT_THAT(header, HasSubstr("ID"));
  for (const char* column : {"SINK", "TABLE", "ACTION", "KEY", "TRIES", "NEXT", "AGE"}) {
    EXPECT_THAT(header, HasSubstr(column));
  }
  EXPECT_THAT(header, HasSubstr("LAST ERROR"));
  // id, sink, table, action, key, tries, next attempt, age, error (cut, on one line).
  EXPECT_THAT(row1, ::testing::MatchesRegex(
                        "1 +orders-sink +public\\.orders +insert +7 +3 +in 41s +1m39s +"
                        "ProvisionedThroughputExceededException: Rate exceeded for\\.\\.\\."));
  EXPECT_THAT(row2, ::testing::MatchesRegex(
                        "2 +orders-sink +public\\.orders +insert +7 +0 +now +1m38s +-"));
  EXPECT_THAT(row3, HasSubstr("InternalFailure: Internal service failure."));
  EXPECT_THAT(row4, ::testing::StartsWith("4 "));
  EXPECT_THAT(row4, HasSubstr("audit-sink"));
  EXPECT_EQ(last, "4 message(s) shown; no more messages");
  EXPECT_THAT(out, Not(HasSubstr("second line")));
}

TEST_F(MessagesCommand, ListTableCutsLongKeysAtCharacterBoundaries) {
  StoredMessage m = Msg(1, "");
  m.partition_key = std::string(20, 'k') + "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9";  // 25 chars
  Seed({m});
  const std::string out = List({});
  EXPECT_THAT(out, HasSubstr(std::string(20, 'k') + "\xc3\xa9..."));
}

TEST_F(MessagesCommand, ListJsonIsOneDocumentWithEveryField) {
  SeedStandard();
  Json doc = ListJson({});
  EXPECT_EQ(Ids(doc), (std::vector<uint64_t>{1, 2, 3, 4}));
  EXPECT_EQ(doc["next_after"], 4);
  EXPECT_EQ(doc["more"], false);
  const Json& first = doc["messages"][0];
  EXPECT_EQ(first["sink"], "orders-sink");
  EXPECT_EQ(first["state"], "failing");
  EXPECT_EQ(first["table"], "public.orders");
  EXPECT_EQ(first["action"], "insert");
  EXPECT_EQ(first["group_key"], "16390/7");
  EXPECT_EQ(first["partition_key"], "7");
  EXPECT_EQ(first["commit_lsn"], 1001);
  EXPECT_EQ(first["commit_idx"], 0);
  EXPECT_EQ(first["deliver_count"], 3);
  EXPECT_THAT(first["last_error"].get<std::string>(), HasSubstr("Rate exceeded for shard"));
  EXPECT_THAT(first["last_error"].get<std::string>(), HasSubstr("\nsecond line"));
  EXPECT_EQ(first["due"], false);
  EXPECT_EQ(first["not_before"], "2023-11-14T22:15:41.000Z");
  EXPECT_EQ(first["created_at"], "2023-11-14T22:13:21.000Z");
  const Json& second = doc["messages"][1];
  EXPECT_EQ(second["state"], "waiting");
  EXPECT_EQ(second["due"], true);
  EXPECT_TRUE(second["not_before"].is_null());
}

TEST_F(MessagesCommand, ListFiltersBySinkAndState) {
  SeedStandard();
  ListMessagesOptions failing;
  failing.state = StoredState::kFailing;
  EXPECT_EQ(Ids(ListJson(failing)), (std::vector<uint64_t>{1, 3}));
  ListMessagesOptions waiting;
  waiting.state = StoredState::kWaiting;
  EXPECT_EQ(Ids(ListJson(waiting)), (std::vector<uint64_t>{2, 4}));
  ListMessagesOptions audit;
  audit.sink = "audit-sink";
  EXPECT_EQ(Ids(ListJson(audit)), (std::vector<uint64_t>{4}));
  waiting.sink = "orders-sink";
  EXPECT_EQ(Ids(ListJson(waiting)), (std::vector<uint64_t>{2}));
}

TEST_F(MessagesCommand, ListPagesAcrossSinksByIdWithoutGapsOrDuplicates) {
  // Ids interleave over the two sinks.
  Seed({Msg(1, "a"), Msg(2, "b", "audit-sink"), Msg(3, "c"), Msg(4, "d", "audit-sink"),
        Msg(5, "e")});
  ListMessagesOptions options;
  options.limit = 2;
  Json page = ListJson(options);
  EXPECT_EQ(Ids(page), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(page["more"], true);
  EXPECT_EQ(page["next_after"], 2);
  options.after_id = 2;
  page = ListJson(options);
  EXPECT_EQ(Ids(page), (std::vector<uint64_t>{3, 4}));
  EXPECT_EQ(page["more"], true);
  options.after_id = page["next_after"].get<uint64_t>();
  page = ListJson(options);
  EXPECT_EQ(Ids(page), (std::vector<uint64_t>{5}));
  EXPECT_EQ(page["more"], false);
  EXPECT_EQ(page["next_after"], 5);
  options.after_id = 5;
  page = ListJson(options);
  EXPECT_TRUE(page["messages"].empty());
  EXPECT_EQ(page["next_after"], 5);
  EXPECT_EQ(page["more"], false);
}

TEST_F(MessagesCommand, ListTableEndsWithTheCommandForTheNextPage) {
  Seed({Msg(1, "a"), Msg(2, "b"), Msg(3, "c")});
  ListMessagesOptions options;
  options.sink = "orders-sink";
  options.state = StoredState::kWaiting;
  options.limit = 2;
  const std::string out = List(options);
  EXPECT_THAT(out, HasSubstr("more waiting messages of sink orders-sink: next page with\n"
                             "  sluice messages list --config /etc/sluice/sluice.yaml --sink "
                             "orders-sink --state waiting --limit 2 --after 2\n"));
}

TEST_F(MessagesCommand, ListOfAnEmptyStoreSaysSo) {
  EXPECT_EQ(List({}), "no messages in the local store\n");
  Json doc = ListJson({});
  EXPECT_EQ(doc, Json::parse(R"({"messages":[],"next_after":0,"more":false})"));
}

TEST_F(MessagesCommand, ListRefusesAnUnknownSinkAndALimitOutOfRange) {
  SeedStandard();
  std::ostringstream out;
  ListMessagesOptions options;
  options.sink = "ordres-sink";
  Status st = ListMessages(*store_, settings_, options, kNow, out);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(st.error().message(), HasSubstr("no sink named \"ordres-sink\""));
  EXPECT_THAT(st.error().message(), HasSubstr("orders-sink, audit-sink"));
  EXPECT_EQ(ExitCodeFor(st.error()), kExitUsage);

  ListMessagesOptions too_many;
  too_many.limit = kMaxMessagesLimit + 1;
  st = ListMessages(*store_, settings_, too_many, kNow, out);
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.error().message(), HasSubstr("--limit must be between 1 and 1000, got 1001"));
  EXPECT_EQ(out.str(), "");
}

TEST_F(MessagesCommand, ShowPrintsEveryFieldTheEncodedMessageAndTheRawError) {
  SeedStandard();
  std::ostringstream out;
  Status st = ShowMessage(*store_, settings_, {"orders-sink", 1, OutputFormat::kTable}, kNow, out);
  ASSERT_TRUE(st.ok()) << st.error().message();
  const std::string text = out.str();
  EXPECT_THAT(text, HasSubstr("id:              1\n"));
  EXPECT_THAT(text, HasSubstr("state:           failing\n"));
  EXPECT_THAT(text, HasSubstr("table:           public.orders\n"));
  EXPECT_THAT(text, HasSubstr("group:           16390/7\n"));
  EXPECT_THAT(text, HasSubstr("partition key:   7\n"));
  EXPECT_THAT(text, HasSubstr("commit:          LSN 0/3E9 (1001), index 0\n"));
  EXPECT_THAT(text, HasSubstr("created:         2023-11-14T22:13:21.000Z (1m39s ago)\n"));
  EXPECT_THAT(text, HasSubstr("deliver count:   3\n"));
  EXPECT_THAT(text, HasSubstr("next attempt:    2023-11-14T22:15:41.000Z (in 41s)\n"));
  EXPECT_THAT(text, HasSubstr("account 123456789012.\n  second line\n"));

  StoredMessage want = Msg(1, "7");
  std::string message;
  model::EncodeMessage(want.change, {"app", "orders-sink", model::TimestampStyle::kIso8601},
                       &message);
  EXPECT_THAT(text, HasSubstr("):\n" + message + "\n"));
  EXPECT_THAT(message, HasSubstr("\"consumer\":{\"name\":\"orders-sink\"}"));
}

TEST_F(MessagesCommand, ShowJsonEmbedsTheMessageEncodedWithTheSinksSettings) {
  SeedStandard();
  std::ostringstream out;
  Status st = ShowMessage(*store_, settings_, {"audit-sink", 4, OutputFormat::kJson}, kNow, out);
  ASSERT_TRUE(st.ok()) << st.error().message();
  Json doc = Json::parse(out.str());
  EXPECT_EQ(doc["id"], 4);
  EXPECT_EQ(doc["sink"], "audit-sink");
  EXPECT_EQ(doc["state"], "waiting");
  EXPECT_EQ(doc["idempotency_key"], model::IdempotencyKey(Msg(4, "9").change));
  const Json& message = doc["message"];
  EXPECT_EQ(message["action"], "insert");
  EXPECT_EQ(message["record"]["id"], 9);
  EXPECT_EQ(message["metadata"]["database_name"], "app");
  EXPECT_EQ(message["metadata"]["consumer"]["name"], "audit-sink");
  // audit-sink has timestamp_format: unix_microsecond.
  EXPECT_EQ(message["metadata"]["commit_timestamp"], 1795773600123456);
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
  EXPECT_EQ(Json::parse(out.str()), Json::parse(R"({"sink":"orders-sink","redelivered":2})"));
  ListMessagesOptions failing;
  failing.state = StoredState::kFailing;
  Json doc = ListJson(failing);
  ASSERT_EQ(Ids(doc), (std::vector<uint64_t>{1, 3, 5}));
  EXPECT_EQ(doc["messages"][0]["due"], true);
  EXPECT_EQ(doc["messages"][1]["due"], true);
  EXPECT_EQ(doc["messages"][2]["due"], false);  // another sink
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
  EXPECT_EQ(Json::parse(out.str()), Json::parse(R"({"sink":"orders-sink","id":1,"discarded":1})"));
  EXPECT_EQ(Ids(ListJson({})), (std::vector<uint64_t>{2, 3, 4}));

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
  EXPECT_EQ(Ids(ListJson({})), (std::vector<uint64_t>{1, 2, 3, 4}));
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
  EXPECT_EQ(out.str(), "discarded 2 failing message(s) of sink orders-sink\n");
  EXPECT_EQ(Ids(ListJson({})), (std::vector<uint64_t>{2, 4}));

  options.selection = MessageSelection::kAll;
  out.str("");
  st = DiscardMessages(*store_, settings_, options, out);
  ASSERT_TRUE(st.ok()) << st.error().message();
  EXPECT_EQ(out.str(), "discarded 1 message(s) of sink orders-sink\n");
  EXPECT_EQ(Ids(ListJson({})), (std::vector<uint64_t>{4}));  // audit-sink's stays
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
