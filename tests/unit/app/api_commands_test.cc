#include "app/api_commands.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <sstream>
#include <string>

#include "app/exit_codes.h"
#include "support/scripted_transport.h"

namespace sluice::app {
namespace {

using std::chrono::hours;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pair;
using testing_support::HttpScript;
using testing_support::ScriptedTransport;

// "Now" of every test: 2026-11-27T10:00:00Z.
const WallTime kNow =
    WallTime{std::chrono::sys_days{std::chrono::year{2026} / std::chrono::November / 27}} +
    hours(10);

constexpr const char* kToken = "s3cret-token-value";

config::Settings OneSink() {
  config::Settings s;
  s.config_path = "/etc/sluice/sluice.yaml";
  s.data_dir = "/var/lib/sluice";
  config::SinkSettings orders;
  orders.name = "orders-sink";
  orders.database = "app";
  config::SinkSettings old;
  old.name = "old-sink";
  old.status = config::SinkStatus::kDisabled;
  s.sinks = {orders, old};
  return s;
}

config::Settings TwoSinks() {
  config::Settings s = OneSink();
  s.sinks[1].status = config::SinkStatus::kActive;
  return s;
}

api::ResolvedToken TokenFrom(std::string source) {
  return api::ResolvedToken{Secret(kToken), std::move(source), false};
}

const char* kFailedMessage = R"({
  "id": 1042, "state": "failed", "table": "public.orders", "action": "update",
  "commit_lsn": "0/1A2B3C4", "committed_at": "2026-11-27T09:58:20.123Z",
  "partition_key": "42", "deliver_count": 3,
  "last_error": "oversize: record is 1200000 bytes; the stream takes at most 1048576\nsecond line",
  "next_attempt_at": "2026-11-27T10:00:41.000Z", "delivered_at": null,
  "stream_arn": "", "shard_id": "", "sequence_number": ""})";

const char* kPendingMessage = R"({
  "id": 1043, "state": "pending", "table": "public.orders", "action": "insert",
  "commit_lsn": "0/1A2B400", "committed_at": "2026-11-27T09:59:00.000Z",
  "partition_key": "7", "deliver_count": 0, "last_error": "",
  "next_attempt_at": null, "delivered_at": null,
  "stream_arn": "", "shard_id": "", "sequence_number": ""})";

const char* kSink = R"({
  "name": "orders-sink", "database": "app",
  "stream_arn": "arn:aws:kinesis:us-east-1:000000000000:stream/orders",
  "status": "active", "health": "degraded",
  "health_reason": "1 message failing: oversize",
  "lag_bytes": 18234,
  "counts": {"ingested": 1200, "delivered": 1190, "failed_attempts": 14, "filtered": 0,
             "discarded": 1, "oversize": 1, "throttled": 0},
  "backlog": {"pending": 7, "in_flight": 2, "backing_off": 1, "failed": 1, "stored": 2},
  "delivered_per_second": 120.5,
  "oldest_waiting_committed_at": "2026-11-27T09:58:20.123Z",
  "last_delivered_at": "2026-11-27T09:59:59.000Z"})";

std::string Error(const std::string& code, const std::string& message) {
  return R"({"error":{"code":")" + code + R"(","message":")" + message + R"("}})";
}

class ApiCommands : public ::testing::Test {
 protected:
  ApiCommands()
      : script_(std::make_shared<HttpScript>()),
        transport_(script_),
        client_(transport_, ApiAddress{"http://127.0.0.1:7376", "127.0.0.1:7376", ""},
                TokenFrom("config api.token")) {}

  // The only request sent: "METHOD url".
  std::string OnlyRequest() const {
    auto requests = script_->requests();
    EXPECT_EQ(requests.size(), 1u);
    if (requests.empty()) return "";
    return requests[0].method + " " + requests[0].url;
  }

  void RefuseConnections() {
    script_->Fail(sluice::Error(ErrorCode::kNetwork,
                                "GET 127.0.0.1:7376: Couldn't connect to server (Connection "
                                "refused)"));
  }

  config::Settings settings_ = OneSink();
  std::shared_ptr<HttpScript> script_;
  ScriptedTransport transport_;
  ApiClient client_;
  std::ostringstream out_;
};

// --- the client ---

TEST_F(ApiCommands, ClientSendsTheBearerTokenAndAsksForJson) {
  script_->Reply(200, R"({"sinks":[]})");
  ASSERT_TRUE(client_.Get("/api/sinks").ok());
  const auto requests = script_->requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].url, "http://127.0.0.1:7376/api/sinks");
  EXPECT_THAT(requests[0].headers,
              testing::Contains(Pair("authorization", std::string("Bearer ") + kToken)));
  EXPECT_THAT(requests[0].headers, testing::Contains(Pair("accept", "application/json")));
}

TEST_F(ApiCommands, ClientWithoutATokenSendsNoneAndExplainsA401) {
  ApiClient client(transport_, client_.address(),
                   sluice::Error(ErrorCode::kNotFound,
                                 "no API token: api.token is not set, SLUICE_API_TOKEN is not set "
                                 "and /var/lib/sluice/api-token does not exist"));
  script_->Reply(401, Error("unauthorized", "a bearer token is required"));
  auto reply = client.Get("/api/sinks");
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.error().code(), ErrorCode::kAuth);
  EXPECT_THAT(reply.error().message(), HasSubstr("needs a token and none was found"));
  EXPECT_THAT(reply.error().message(), HasSubstr("/var/lib/sluice/api-token does not exist"));
  const auto requests = script_->requests();  // a copy: the loop must not outlive it
  ASSERT_EQ(requests.size(), 1u);
  for (const auto& [name, value] : requests[0].headers) EXPECT_NE(name, "authorization");
}

TEST_F(ApiCommands, RefusedTokenNamesWhereItCameFromButNotTheToken) {
  script_->Reply(401, Error("unauthorized", "missing or wrong bearer token"),
                 {{"www-authenticate", "Bearer"}});
  auto st = ListSinks(client_, OutputFormat::kTable, out_);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), ErrorCode::kAuth);
  EXPECT_EQ(st.error().message(),
            "sluice's API at 127.0.0.1:7376 refused the token from config api.token; it must be "
            "the token of the running sluice (config api.token, environment SLUICE_API_TOKEN or "
            "<data_dir>/api-token, in that order)");
  EXPECT_THAT(st.error().message(), Not(HasSubstr(kToken)));
  EXPECT_EQ(ExitCodeFor(st.error()), kExitFailure);
  EXPECT_EQ(out_.str(), "");
}

TEST_F(ApiCommands, TransportErrorsNameThePathButNeitherQueryNorToken) {
  script_->Fail(sluice::Error(ErrorCode::kTimeout, "GET 127.0.0.1:7376: Timeout was reached"));
  auto reply = client_.Get("/api/sinks/orders-sink/messages", "limit=5&cursor=secretish");
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.error().code(), ErrorCode::kTimeout);
  EXPECT_EQ(reply.error().message(),
            "no answer from sluice's API at 127.0.0.1:7376 (GET "
            "/api/sinks/orders-sink/messages): GET 127.0.0.1:7376: Timeout was reached");
}

TEST_F(ApiCommands, AnswerThatIsNotJsonIsAProtocolError) {
  script_->Reply(200, "<html>hello</html>");
  auto reply = client_.Get("/api/sinks");
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.error().code(), ErrorCode::kProtocol);
  EXPECT_THAT(reply.error().message(),
              HasSubstr("answered GET /api/sinks with a body that is not JSON"));
}

TEST_F(ApiCommands, UnexpectedStatusIsAProtocolErrorNamingIt) {
  script_->Reply(502, "bad gateway");
  auto reply = client_.Post("/api/sinks/orders-sink/pause");
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.error().code(), ErrorCode::kProtocol);
  EXPECT_EQ(reply.error().message(),
            "sluice's API at 127.0.0.1:7376 answered POST /api/sinks/orders-sink/pause with HTTP "
            "502");
}

TEST(ApiAddress, ComesFromApiListenWithWildcardsMadeLoopback) {
  config::Settings s = OneSink();
  s.api.listen = "127.0.0.1:9000";
  EXPECT_EQ(ResolveApiAddress(s, "")->base_url, "http://127.0.0.1:9000");
  s.api.listen = "0.0.0.0:7376";
  EXPECT_EQ(ResolveApiAddress(s, "")->base_url, "http://127.0.0.1:7376");
  s.api.listen = "[::]:7376";
  EXPECT_EQ(ResolveApiAddress(s, "")->host_port, "[::1]:7376");
}

TEST(ApiAddress, ApiOptionOverridesTheConfig) {
  const config::Settings s = OneSink();
  auto a = ResolveApiAddress(s, "http://127.0.0.1:7400/");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->base_url, "http://127.0.0.1:7400");
  EXPECT_EQ(a->host_port, "127.0.0.1:7400");
  EXPECT_EQ(a->given, "http://127.0.0.1:7400/");
  EXPECT_EQ(ResolveApiAddress(s, "localhost:7401")->base_url, "http://localhost:7401");
  EXPECT_EQ(ResolveApiAddress(s, "https://[::1]:7402")->base_url, "https://[::1]:7402");
}

TEST(ApiAddress, MalformedApiOptionIsAUsageError) {
  const config::Settings s = OneSink();
  for (const char* bad : {"ftp://127.0.0.1:21", "http://127.0.0.1:7376/api", "127.0.0.1",
                          "http://user@host:1", "http://127.0.0.1:7376?x=1"}) {
    auto a = ResolveApiAddress(s, bad);
    ASSERT_FALSE(a.ok()) << bad;
    EXPECT_EQ(a.error().code(), ErrorCode::kInvalidArgument) << bad;
    EXPECT_THAT(a.error().message(), HasSubstr(bad));
  }
}

TEST(ApiAddress, PlainHttpToAnotherHostIsRefusedSoTheTokenStaysLocal) {
  const config::Settings s = OneSink();
  for (const char* remote :
       {"http://10.1.2.3:7376", "http://sluice.example.com:7376", "http://127.evil.example:7376"}) {
    auto a = ResolveApiAddress(s, remote);
    ASSERT_FALSE(a.ok()) << remote;
    EXPECT_EQ(a.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(a.error().message(), HasSubstr("in clear"));
  }
  EXPECT_TRUE(ResolveApiAddress(s, "https://sluice.example.com:7376").ok());
  EXPECT_TRUE(ResolveApiAddress(s, "http://127.0.0.2:7376").ok());
}

TEST(PathSegment, EscapesEverythingButUnreservedCharacters) {
  EXPECT_EQ(PathSegment("orders-sink_1.x~"), "orders-sink_1.x~");
  EXPECT_EQ(PathSegment("a b/c?d&é"), "a%20b%2Fc%3Fd%26%C3%A9");
}

// --- sinks and states ---

TEST(SinkForCommand, DefaultsToTheOnlySinkThatIsNotDisabled) {
  EXPECT_EQ(*SinkForCommand(OneSink(), ""), "orders-sink");
  EXPECT_EQ(*SinkForCommand(OneSink(), "old-sink"), "old-sink");
}

TEST(SinkForCommand, IsRequiredWhenTheConfigHasSeveral) {
  auto sink = SinkForCommand(TwoSinks(), "");
  ASSERT_FALSE(sink.ok());
  EXPECT_EQ(sink.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(sink.error().message(),
            "--sink is required: /etc/sluice/sluice.yaml has several sinks (orders-sink, "
            "old-sink)");
}

TEST(ParseListState, GivesTheApisWordWithWaitingAsPendingAndAllAsNone) {
  EXPECT_EQ(*ParseListState("all"), "");
  EXPECT_EQ(*ParseListState("waiting"), "pending");
  for (const char* word :
       {"pending", "in_flight", "backing_off", "failed", "failing", "delivered"}) {
    EXPECT_EQ(*ParseListState(word), word);
  }
}

TEST(ParseListState, RefusesOtherWordsNamingTheAcceptedOnes) {
  for (const char* word : {"stuck", "", "Failed", "waiting "}) {
    auto bad = ParseListState(word);
    ASSERT_FALSE(bad.ok()) << word;
    EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(bad.error().message(),
              "--state must be one of all, pending, in_flight, backing_off, failed, failing, "
              "delivered (or waiting = pending), got \"" +
                  std::string(word) + "\"");
  }
}

// --- messages list ---

TEST_F(ApiCommands, ListAsksForTheStateLimitAndCursorOfTheOnlySink) {
  script_->Reply(200, R"({"messages":[],"next_cursor":null})");
  ApiListOptions options;
  options.state = "backing_off";
  options.limit = 20;
  options.cursor = "10 42";
  auto outcome = ListMessagesViaApi(client_, settings_, options, kNow, out_);
  ASSERT_TRUE(outcome.ok()) << outcome.error().message();
  EXPECT_EQ(*outcome, ApiOutcome::kDone);
  EXPECT_EQ(OnlyRequest(),
            "GET http://127.0.0.1:7376/api/sinks/orders-sink/messages?limit=20&state=backing_off"
            "&cursor=10%2042");
  EXPECT_EQ(out_.str(), "no backing_off messages of sink orders-sink after this cursor\n");
}

TEST_F(ApiCommands, ListTableShowsOneRowPerMessageAndTheNextPageCommand) {
  script_->Reply(200, std::string(R"({"messages":[)") + kFailedMessage + "," + kPendingMessage +
                          R"(],"next_cursor":"1043"})");
  ApiListOptions options;
  options.limit = 2;
  ASSERT_TRUE(ListMessagesViaApi(client_, settings_, options, kNow, out_).ok());
  EXPECT_EQ(out_.str(),
            "ID    STATE    TABLE          ACTION  KEY  TRIES  NEXT ATTEMPT  LAST ERROR\n"
            "1042  failed   public.orders  update  42   3      in 41s        oversize: record is "
            "1200000 bytes; the stream takes at mo...\n"
            "1043  pending  public.orders  insert  7    0      -             -\n"
            "more messages of sink orders-sink: next page with\n"
            "  sluice messages list --config /etc/sluice/sluice.yaml --sink orders-sink --limit 2 "
            "--cursor 1043\n");
}

TEST_F(ApiCommands, ListNextPageCommandKeepsTheStateAndTheApiOption) {
  ApiClient client(transport_,
                   ApiAddress{"http://127.0.0.1:7400", "127.0.0.1:7400", "127.0.0.1:7400"},
                   TokenFrom("environment SLUICE_API_TOKEN"));
  script_->Reply(200,
                 std::string(R"({"messages":[)") + kFailedMessage + R"(],"next_cursor":"a b"})");
  ApiListOptions options;
  options.state = "failing";
  ASSERT_TRUE(ListMessagesViaApi(client, settings_, options, kNow, out_).ok());
  EXPECT_EQ(OnlyRequest(),
            "GET http://127.0.0.1:7400/api/sinks/orders-sink/messages?limit=50&state=failing");
  EXPECT_THAT(out_.str(),
              HasSubstr("more failing messages of sink orders-sink: next page with\n"
                        "  sluice messages list --config /etc/sluice/sluice.yaml --api "
                        "127.0.0.1:7400 --sink orders-sink --state failing --cursor 'a b'\n"));
}

TEST_F(ApiCommands, ListFailedAsksForExactlyFailed) {
  script_->Reply(200, R"({"messages":[],"next_cursor":null})");
  ApiListOptions options;
  options.state = *ParseListState("failed");
  ASSERT_TRUE(ListMessagesViaApi(client_, settings_, options, kNow, out_).ok());
  EXPECT_EQ(OnlyRequest(),
            "GET http://127.0.0.1:7376/api/sinks/orders-sink/messages?limit=50&state=failed");
  EXPECT_EQ(out_.str(), "no failed messages of sink orders-sink\n");
}

TEST_F(ApiCommands, ListLastPageSaysThereIsNoMore) {
  script_->Reply(200,
                 std::string(R"({"messages":[)") + kPendingMessage + R"(],"next_cursor":null})");
  ASSERT_TRUE(ListMessagesViaApi(client_, settings_, {}, kNow, out_).ok());
  EXPECT_THAT(out_.str(), testing::EndsWith("\n1 message shown; no more messages of sink "
                                            "orders-sink\n"));
}

TEST_F(ApiCommands, ListOfAnIdleSinkSaysNothingIsHeld) {
  script_->Reply(200, R"({"messages":[],"next_cursor":null})");
  ASSERT_TRUE(ListMessagesViaApi(client_, settings_, {}, kNow, out_).ok());
  EXPECT_EQ(out_.str(), "no messages of sink orders-sink held\n");
}

TEST_F(ApiCommands, ListJsonIsExactlyTheApiDocument) {
  const std::string body =
      std::string(R"({"messages":[)") + kFailedMessage + R"(],"next_cursor":"1042"})";
  script_->Reply(200, body);
  ApiListOptions options;
  options.format = OutputFormat::kJson;
  options.state = "delivered";
  ASSERT_TRUE(ListMessagesViaApi(client_, settings_, options, kNow, out_).ok());
  EXPECT_EQ(out_.str(), body + "\n");
}

TEST_F(ApiCommands, ListWithoutASinkIsRefusedWhenTheConfigHasSeveralAndNothingIsSent) {
  auto outcome = ListMessagesViaApi(client_, TwoSinks(), {}, kNow, out_);
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(ExitCodeFor(outcome.error()), kExitUsage);
  EXPECT_TRUE(script_->requests().empty());
}

TEST_F(ApiCommands, ListWhenNothingAnswersSignalsTheFallbackAndWritesNothing) {
  RefuseConnections();
  auto outcome = ListMessagesViaApi(client_, settings_, {}, kNow, out_);
  ASSERT_TRUE(outcome.ok()) << outcome.error().message();
  EXPECT_EQ(*outcome, ApiOutcome::kNotRunning);
  EXPECT_EQ(out_.str(), "");
  EXPECT_EQ(NotRunningNotice(client_),
            "sluice is not running (no answer at 127.0.0.1:7376): acting on the local store "
            "directly");
}

TEST_F(ApiCommands, ListBadRequestIsAUsageErrorWithTheApisMessage) {
  script_->Reply(400, Error("bad_request", "cursor: not a cursor of this list"));
  ApiListOptions options;
  options.cursor = "zz";
  auto outcome = ListMessagesViaApi(client_, settings_, options, kNow, out_);
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.error().message(), "cursor: not a cursor of this list");
  EXPECT_EQ(ExitCodeFor(outcome.error()), kExitUsage);
}

TEST_F(ApiCommands, ListOfAnUnknownSinkGivesTheApisMessage) {
  script_->Reply(404, Error("not_found", "sink \\\"nope\\\" is not configured"));
  ApiListOptions options;
  options.sink = "nope";
  auto outcome = ListMessagesViaApi(client_, settings_, options, kNow, out_);
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(outcome.error().message(), "sink \"nope\" is not configured");
  EXPECT_EQ(ExitCodeFor(outcome.error()), kExitFailure);
  EXPECT_EQ(OnlyRequest(), "GET http://127.0.0.1:7376/api/sinks/nope/messages?limit=50");
}

// --- messages show ---

TEST_F(ApiCommands, ShowPrintsEveryFieldTheChangeAndThePayload) {
  script_->Reply(200, std::string(R"({"message":)") + kFailedMessage +
                          R"(,"change":{"record":{"id":42,"total":12.5},"action":"update"},)"
                          R"("payload":{"data":{"id":42,"tags":["a"]},)"
                          R"("stream_arn":"arn:aws:kinesis:us-east-1:000000000000:stream/orders",)"
                          R"("filtered":false,"error":null}})");
  ASSERT_TRUE(
      ShowMessageViaApi(client_, settings_, {"", 1042, OutputFormat::kTable}, kNow, out_).ok());
  EXPECT_EQ(OnlyRequest(), "GET http://127.0.0.1:7376/api/sinks/orders-sink/messages/1042");
  EXPECT_EQ(out_.str(),
            "id:              1042\n"
            "sink:            orders-sink\n"
            "state:           failed\n"
            "table:           public.orders\n"
            "action:          update\n"
            "partition key:   42\n"
            "commit LSN:      0/1A2B3C4\n"
            "committed:       2026-11-27T09:58:20.123Z (1m40s ago)\n"
            "deliver count:   3\n"
            "next attempt:    2026-11-27T10:00:41.000Z (in 41s)\n"
            "last error:\n"
            "  oversize: record is 1200000 bytes; the stream takes at most 1048576\n"
            "  second line\n"
            "change (the message before the sink's functions):\n"
            "{\n"
            "  \"record\": {\n"
            "    \"id\": 42,\n"
            "    \"total\": 12.5\n"
            "  },\n"
            "  \"action\": \"update\"\n"
            "}\n"
            "payload (the record as it would be put now, after the sink's functions):\n"
            "  stream:   arn:aws:kinesis:us-east-1:000000000000:stream/orders\n"
            "  filtered: no\n"
            "{\n"
            "  \"id\": 42,\n"
            "  \"tags\": [\n"
            "    \"a\"\n"
            "  ]\n"
            "}\n");
}

TEST_F(ApiCommands, ShowOfADeliveredMessageSaysWhereItWent) {
  script_->Reply(200, R"({"message":{"id":9,"state":"delivered","table":"public.orders",)"
                      R"("action":"insert","commit_lsn":"0/10","committed_at":null,)"
                      R"("partition_key":"1","deliver_count":1,"last_error":"",)"
                      R"("next_attempt_at":null,"delivered_at":"2026-11-27T09:59:58.000Z",)"
                      R"("stream_arn":"arn:s","shard_id":"shardId-000000000000",)"
                      R"("sequence_number":"4960"},"change":null,"payload":null})");
  ASSERT_TRUE(
      ShowMessageViaApi(client_, settings_, {"orders-sink", 9, OutputFormat::kTable}, kNow, out_)
          .ok());
  const std::string text = out_.str();
  EXPECT_THAT(text, HasSubstr("delivered:       2026-11-27T09:59:58.000Z (2s ago)\n"
                              "stream:          arn:s\n"
                              "shard:           shardId-000000000000\n"
                              "sequence number: 4960\n"
                              "last error:      -\n"
                              "change:          - (not kept for delivered messages)\n"
                              "payload:         - (not kept for delivered messages)\n"));
  EXPECT_THAT(text, HasSubstr("next attempt:    -\n"));
}

TEST_F(ApiCommands, ShowSaysWhenTheFunctionsFail) {
  script_->Reply(200,
                 std::string(R"({"message":)") + kPendingMessage +
                     R"(,"change":{"a":1},"payload":{"data":null,"stream_arn":"",)"
                     R"("filtered":false,"error":"transform: attempt to index a nil value"}})");
  ASSERT_TRUE(
      ShowMessageViaApi(client_, settings_, {"", 1043, OutputFormat::kTable}, kNow, out_).ok());
  EXPECT_THAT(out_.str(),
              testing::EndsWith("  filtered: no\n"
                                "  error:    transform: attempt to index a nil value\n"));
}

TEST_F(ApiCommands, ShowPrintsControlCharactersOfValuesAsSpaces) {
  script_->Reply(200, R"({"message":{"id":5,"state":"failed","partition_key":"a\u001b[2Jb",)"
                      R"("last_error":"bad\u0007 thing\nline two"},"change":null,"payload":null})");
  ASSERT_TRUE(
      ShowMessageViaApi(client_, settings_, {"", 5, OutputFormat::kTable}, kNow, out_).ok());
  EXPECT_THAT(out_.str(), HasSubstr("partition key:   a [2Jb\n"));
  EXPECT_THAT(out_.str(), HasSubstr("last error:\n  bad  thing\n  line two\n"));
  EXPECT_THAT(out_.str(), Not(HasSubstr("\x1b")));
}

TEST_F(ApiCommands, ShowJsonIsExactlyTheApiDocument) {
  const std::string body = std::string(R"({"message":)") + kPendingMessage +
                           R"(,"change":{"a":1.10},"payload":null})" + "\n";
  script_->Reply(200, body);
  ASSERT_TRUE(
      ShowMessageViaApi(client_, settings_, {"", 1043, OutputFormat::kJson}, kNow, out_).ok());
  EXPECT_EQ(out_.str(), body);
}

TEST_F(ApiCommands, ShowOfAnUnknownIdGivesTheApisMessage) {
  script_->Reply(404, Error("not_found", "no message 77 in sink orders-sink"));
  auto outcome = ShowMessageViaApi(client_, settings_, {"", 77, OutputFormat::kTable}, kNow, out_);
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.error().message(), "no message 77 in sink orders-sink");
  EXPECT_EQ(ExitCodeFor(outcome.error()), kExitFailure);
}

TEST_F(ApiCommands, ShowWhenNothingAnswersSignalsTheFallback) {
  RefuseConnections();
  auto outcome = ShowMessageViaApi(client_, settings_, {"", 77, OutputFormat::kTable}, kNow, out_);
  ASSERT_TRUE(outcome.ok());
  EXPECT_EQ(*outcome, ApiOutcome::kNotRunning);
}

// --- redeliver and discard ---

MessageActionOptions Action(MessageSelection selection, uint64_t id = 0, bool confirmed = false,
                            OutputFormat format = OutputFormat::kTable) {
  MessageActionOptions o;
  o.selection = selection;
  o.id = id;
  o.confirmed = confirmed;
  o.format = format;
  return o;
}

TEST_F(ApiCommands, RedeliverOnePostsToTheMessage) {
  script_->Reply(200, R"({"affected":1,"skipped":0})");
  ASSERT_TRUE(RedeliverViaApi(client_, settings_, Action(MessageSelection::kOne, 1042), out_).ok());
  const auto requests = script_->requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "POST");
  EXPECT_EQ(requests[0].url, "http://127.0.0.1:7376/api/sinks/orders-sink/messages/1042/redeliver");
  EXPECT_EQ(requests[0].body, "");
  EXPECT_EQ(out_.str(), "redelivering message 1042 of sink orders-sink\n");
}

TEST_F(ApiCommands, RedeliverFailingSendsTheStateAndCountsWhatWasSkipped) {
  script_->Reply(200, R"({"affected":12,"skipped":1})");
  ASSERT_TRUE(RedeliverViaApi(client_, settings_, Action(MessageSelection::kFailing), out_).ok());
  const auto requests = script_->requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].url, "http://127.0.0.1:7376/api/sinks/orders-sink/messages/redeliver");
  EXPECT_EQ(requests[0].body, R"({"state":"failed"})");
  EXPECT_THAT(requests[0].headers, testing::Contains(Pair("content-type", "application/json")));
  EXPECT_EQ(out_.str(),
            "redelivering 12 messages (every failing one) of sink orders-sink; 1 message in "
            "flight left alone\n");
}

TEST_F(ApiCommands, BulkDiscardWithoutYesIsRefusedAndNothingIsSent) {
  for (MessageSelection selection : {MessageSelection::kFailing, MessageSelection::kAll}) {
    auto outcome = DiscardViaApi(client_, settings_, Action(selection), out_);
    ASSERT_FALSE(outcome.ok());
    EXPECT_EQ(ExitCodeFor(outcome.error()), kExitUsage);
    EXPECT_THAT(outcome.error().message(), HasSubstr("add --yes to confirm"));
  }
  EXPECT_TRUE(script_->requests().empty());
  EXPECT_EQ(out_.str(), "");
}

TEST_F(ApiCommands, DiscardAllWithYesSendsStateAll) {
  script_->Reply(200, R"({"affected":1,"skipped":0})");
  ASSERT_TRUE(
      DiscardViaApi(client_, settings_, Action(MessageSelection::kAll, 0, true), out_).ok());
  const auto requests = script_->requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].url, "http://127.0.0.1:7376/api/sinks/orders-sink/messages/discard");
  EXPECT_EQ(requests[0].body, R"({"state":"all"})");
  EXPECT_EQ(out_.str(), "discarded 1 message of sink orders-sink\n");
}

TEST_F(ApiCommands, DiscardFailingJsonIsExactlyTheApiDocument) {
  script_->Reply(200, R"({"affected":3,"skipped":0})");
  ASSERT_TRUE(DiscardViaApi(client_, settings_,
                            Action(MessageSelection::kFailing, 0, true, OutputFormat::kJson), out_)
                  .ok());
  EXPECT_EQ(script_->requests()[0].body, R"({"state":"failed"})");
  EXPECT_EQ(out_.str(), "{\"affected\":3,\"skipped\":0}\n");
}

TEST_F(ApiCommands, DiscardOneInFlightIsAConflict) {
  script_->Reply(409, Error("conflict", "message 1042 is in flight; try again when it is back"));
  auto outcome = DiscardViaApi(client_, settings_, Action(MessageSelection::kOne, 1042), out_);
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.error().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(outcome.error().message(), "message 1042 is in flight; try again when it is back");
  EXPECT_EQ(ExitCodeFor(outcome.error()), kExitFailure);
  EXPECT_EQ(OnlyRequest(),
            "POST http://127.0.0.1:7376/api/sinks/orders-sink/messages/1042/discard");
}

TEST_F(ApiCommands, DiscardWhenTheStoreFailsGivesTheApisMessage) {
  script_->Reply(500, Error("internal", "the local store failed: disk I/O error"));
  auto outcome = DiscardViaApi(client_, settings_, Action(MessageSelection::kOne, 5), out_);
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.error().code(), ErrorCode::kInternal);
  EXPECT_EQ(outcome.error().message(), "the local store failed: disk I/O error");
  EXPECT_EQ(ExitCodeFor(outcome.error()), kExitFailure);
}

TEST_F(ApiCommands, DiscardWhenNothingAnswersSignalsTheFallback) {
  RefuseConnections();
  auto outcome = DiscardViaApi(client_, settings_, Action(MessageSelection::kOne, 5), out_);
  ASSERT_TRUE(outcome.ok());
  EXPECT_EQ(*outcome, ApiOutcome::kNotRunning);
  EXPECT_EQ(out_.str(), "");
}

TEST_F(ApiCommands, RedeliverAllIsRefused) {
  auto outcome = RedeliverViaApi(client_, settings_, Action(MessageSelection::kAll), out_);
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(ExitCodeFor(outcome.error()), kExitUsage);
  EXPECT_TRUE(script_->requests().empty());
}

// --- sinks ---

TEST_F(ApiCommands, SinksListTableShowsHealthThroughputBacklogAndLag) {
  script_->Reply(200, std::string(R"({"sinks":[)") + kSink +
                          R"(,{"name":"audit","status":"paused","health":"paused",)"
                          R"("health_reason":"paused by an operator","lag_bytes":3,)"
                          R"("counts":{"delivered":0},"backlog":{"pending":0},)"
                          R"("delivered_per_second":0}]})");
  ASSERT_TRUE(ListSinks(client_, OutputFormat::kTable, out_).ok());
  EXPECT_EQ(OnlyRequest(), "GET http://127.0.0.1:7376/api/sinks");
  EXPECT_EQ(out_.str(),
            "NAME         STATUS  HEALTH    DELIVERED/S  BACKLOG  LAG       DELIVERED  REASON\n"
            "orders-sink  active  degraded  120.5        11       17.8 KiB  1190       1 message "
            "failing: oversize\n"
            "audit        paused  paused    0.0          0        3 B       0          paused by "
            "an operator\n");
}

TEST_F(ApiCommands, SinksListJsonIsExactlyTheApiDocument) {
  const std::string body = std::string(R"({"sinks":[)") + kSink + "]}";
  script_->Reply(200, body);
  ASSERT_TRUE(ListSinks(client_, OutputFormat::kJson, out_).ok());
  EXPECT_EQ(out_.str(), body + "\n");
}

TEST_F(ApiCommands, SinksCommandsNeedARunningSluice) {
  RefuseConnections();
  auto st = ListSinks(client_, OutputFormat::kTable, out_);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(st.error().message(),
            "sluice is not running (no answer at 127.0.0.1:7376): `sluice sinks` needs a running "
            "sluice");
  EXPECT_EQ(ExitCodeFor(st.error()), kExitFailure);
}

TEST_F(ApiCommands, PauseAndResumePostToTheSinkAndPrintItsStatus) {
  std::string paused = kSink;
  paused.replace(paused.find(R"("status": "active", "health": "degraded")"),
                 std::string(R"("status": "active", "health": "degraded")").size(),
                 R"("status": "paused", "health": "paused")");
  script_->Reply(200, paused);
  script_->Reply(200, kSink);
  ASSERT_TRUE(
      ChangeSink(client_, "orders-sink", SinkAction::kPause, OutputFormat::kTable, out_).ok());
  ASSERT_TRUE(
      ChangeSink(client_, "orders-sink", SinkAction::kResume, OutputFormat::kTable, out_).ok());
  const auto requests = script_->requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].method + " " + requests[0].url,
            "POST http://127.0.0.1:7376/api/sinks/orders-sink/pause");
  EXPECT_EQ(requests[1].method + " " + requests[1].url,
            "POST http://127.0.0.1:7376/api/sinks/orders-sink/resume");
  EXPECT_EQ(out_.str(),
            "sink orders-sink paused (status paused, health paused)\n"
            "messages collect until `sluice sinks resume orders-sink` or a restart of sluice\n"
            "sink orders-sink resumed (status active, health degraded)\n");
}

TEST_F(ApiCommands, PauseOfAnUnknownSinkGivesTheApisMessage) {
  script_->Reply(404, Error("not_found", "sink \\\"x\\\" is not configured"));
  auto st = ChangeSink(client_, "x", SinkAction::kPause, OutputFormat::kJson, out_);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message(), "sink \"x\" is not configured");
  EXPECT_EQ(ExitCodeFor(st.error()), kExitFailure);
  EXPECT_EQ(out_.str(), "");
}

}  // namespace
}  // namespace sluice::app
