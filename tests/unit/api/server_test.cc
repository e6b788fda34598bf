// The API server against a fake Control, through httplib::Client on
// 127.0.0.1 to a Server bound to port 0 (docs/api.md is the contract).
#include "api/server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <rapidjson/document.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "api/render.h"
#include "console/assets.h"

namespace sluice::api {
namespace {

using namespace std::chrono_literals;

constexpr const char* kToken = "0123456789abcdef0123456789abcdef";

WallTime At(int64_t ms) { return WallTime(std::chrono::milliseconds(ms)); }

// 2026-11-27T10:00:00.123Z
constexpr int64_t kSomeTime = 1795773600123;

SinkSummary MakeSink(std::string name) {
  SinkSummary s;
  s.name = std::move(name);
  s.database = "main";
  s.stream_arn = "arn:aws:kinesis:us-east-1:000000000000:stream/orders";
  s.health = SinkHealth::kDegraded;
  s.health_reason = "2 messages failing";
  s.lag_bytes = 18234;
  s.counts = {1200, 1190, 14, 3, 1, 1, 2};
  s.backlog = {7, 0, 1, 1, 2};
  s.delivered_per_second = 120.5;
  s.oldest_waiting_committed_at = At(kSomeTime);
  return s;
}

MessageSummary MakeMessage(uint64_t id, MessageState state) {
  MessageSummary m;
  m.id = id;
  m.state = state;
  m.table = "public.orders";
  m.action = "update";
  m.commit_lsn = "0/1A2B3C4";
  m.committed_at = At(kSomeTime);
  m.partition_key = "42";
  m.deliver_count = 3;
  m.last_error = "record is too large";
  if (state == MessageState::kFailed) m.next_attempt_at = At(kSomeTime + 8000);
  if (state == MessageState::kDelivered) {
    m.delivered_at = At(kSomeTime + 1000);
    m.stream_arn = "arn:aws:kinesis:us-east-1:000000000000:stream/orders";
    m.shard_id = "shardId-000000000000";
    m.sequence_number = "4959";
  }
  return m;
}

// Records every call and answers with canned data, or with `error` when set.
class FakeControl : public Control {
 public:
  std::vector<SinkSummary> Sinks() override {
    Record("Sinks");
    return sinks;
  }
  Result<SinkSummary> Sink(std::string_view name) override {
    Record("Sink " + std::string(name));
    for (const SinkSummary& s : sinks) {
      if (s.name == name) return s;
    }
    return NotConfigured(name);
  }
  Result<MessagePage> Messages(std::string_view sink, const MessageQuery& query) override {
    Record("Messages " + std::string(sink) +
           " state=" + (query.state ? MessageStateName(*query.state) : "-") +
           " limit=" + std::to_string(query.limit) + " cursor=" + query.cursor);
    if (error) return *error;
    if (!Known(sink)) return NotConfigured(sink);
    return page;
  }
  Result<MessageDetail> Message(std::string_view sink, uint64_t id) override {
    Record("Message " + std::string(sink) + " " + std::to_string(id));
    if (error) return *error;
    if (!Known(sink)) return NotConfigured(sink);
    return detail;
  }
  Result<ActionResult> Redeliver(std::string_view sink, Selection selection, uint64_t id) override {
    return Act("Redeliver", sink, selection, id);
  }
  Result<ActionResult> Discard(std::string_view sink, Selection selection, uint64_t id) override {
    return Act("Discard", sink, selection, id);
  }
  Status Pause(std::string_view sink) override { return SetPaused("Pause", sink, true); }
  Status Resume(std::string_view sink) override { return SetPaused("Resume", sink, false); }
  Result<std::vector<BackfillInfo>> Backfills(std::string_view sink) override {
    Record("Backfills " + std::string(sink));
    if (error) return *error;
    if (!Known(sink)) return NotConfigured(sink);
    std::vector<BackfillInfo> of_sink;
    for (const BackfillInfo& b : backfills) {
      if (b.sink == sink) of_sink.push_back(b);
    }
    return of_sink;
  }
  // Starts it as the newest backfill, running, with the next id.
  Result<BackfillInfo> StartBackfill(std::string_view sink,
                                     const BackfillRequest& request) override {
    Record("StartBackfill " + std::string(sink) + " table=" + request.table +
           " sort=" + request.sort_column + " start=" + request.start_position.value_or("-"));
    if (error) return *error;
    if (!Known(sink)) return NotConfigured(sink);
    BackfillInfo b;
    b.id = next_backfill_id++;
    b.sink = std::string(sink);
    b.table = request.table;
    b.sort_column = request.sort_column;
    b.start_position = request.start_position;
    b.origin = "api";
    b.page_size = 1000;
    b.started_at = At(kSomeTime);
    backfills.insert(backfills.begin(), b);
    return b;
  }
  Result<BackfillInfo> CancelBackfill(std::string_view sink, uint64_t id) override {
    Record("CancelBackfill " + std::string(sink) + " " + std::to_string(id));
    if (error) return *error;
    if (!Known(sink)) return NotConfigured(sink);
    for (BackfillInfo& b : backfills) {
      if (b.sink != sink || b.id != id) continue;
      if (b.state == BackfillState::kRunning) {
        b.state = BackfillState::kCancelled;
        b.finished_at = At(kSomeTime + 5000);
        b.eta_seconds.reset();
      }
      return b;
    }
    return Error(ErrorCode::kNotFound,
                 "sink \"" + std::string(sink) + "\" has no backfill " + std::to_string(id));
  }
  std::string MetricsText() override {
    Record("MetricsText");
    return metrics;
  }
  Readiness Ready() override {
    Record("Ready");
    return readiness;
  }

  std::vector<std::string> Calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }
  // Calls other than the read-only Sinks/Sink lookups.
  bool Acted() {
    for (const std::string& c : Calls()) {
      if (c.starts_with("Redeliver") || c.starts_with("Discard") || c.starts_with("Pause") ||
          c.starts_with("Resume") || c.starts_with("StartBackfill") ||
          c.starts_with("CancelBackfill")) {
        return true;
      }
    }
    return false;
  }

  std::vector<SinkSummary> sinks;
  MessagePage page;
  MessageDetail detail;
  ActionResult action_result{1, 0};
  std::vector<BackfillInfo> backfills;  // newest first, of every sink
  uint64_t next_backfill_id = 10;
  std::string metrics;
  Readiness readiness;
  std::optional<Error> error;

 private:
  static Error NotConfigured(std::string_view name) {
    return Error(ErrorCode::kNotFound, "sink \"" + std::string(name) + "\" is not configured");
  }
  bool Known(std::string_view name) const {
    for (const SinkSummary& s : sinks) {
      if (s.name == name) return true;
    }
    return false;
  }
  Result<ActionResult> Act(const char* what, std::string_view sink, Selection selection,
                           uint64_t id) {
    const char* sel = selection == Selection::kOne      ? "one"
                      : selection == Selection::kFailed ? "failed"
                                                        : "all";
    Record(std::string(what) + " " + std::string(sink) + " " + sel + " " + std::to_string(id));
    if (error) return *error;
    if (!Known(sink)) return NotConfigured(sink);
    return action_result;
  }
  Status SetPaused(const char* what, std::string_view sink, bool paused) {
    Record(std::string(what) + " " + std::string(sink));
    if (error) return *error;
    for (SinkSummary& s : sinks) {
      if (s.name == sink) {
        s.paused = paused;
        s.health = paused ? SinkHealth::kPaused : SinkHealth::kHealthy;
        return OkStatus();
      }
    }
    return NotConfigured(sink);
  }
  void Record(std::string call) {
    std::lock_guard<std::mutex> lock(mu_);
    calls_.push_back(std::move(call));
  }

  std::mutex mu_;
  std::vector<std::string> calls_;
};

rapidjson::Document Parse(const std::string& body) {
  rapidjson::Document doc;
  doc.Parse(body.c_str(), body.size());
  EXPECT_FALSE(doc.HasParseError()) << "not JSON: " << body;
  return doc;
}

std::string Str(const rapidjson::Value& v) {
  return v.IsString() ? std::string(v.GetString(), v.GetStringLength()) : "<not a string>";
}

class ApiServer : public ::testing::Test {
 protected:
  void SetUp() override {
    control_.sinks = {MakeSink("orders"), MakeSink("a/b")};
    ServerOptions options;
    options.listen = "127.0.0.1:0";
    options.token = Secret(kToken);
    options.max_body_bytes = 1024;
    server_ = std::make_unique<Server>(control_, options);
    ASSERT_TRUE(server_->Start().ok());
    ASSERT_GT(server_->port(), 0);
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    client_->set_url_encode(false);  // paths are sent exactly as written
  }

  httplib::Headers Auth() const { return {{"Authorization", std::string("Bearer ") + kToken}}; }

  httplib::Result Get(const std::string& path) { return client_->Get(path, Auth()); }
  httplib::Result Post(const std::string& path, const std::string& body = "") {
    return client_->Post(path, Auth(), body, "application/json");
  }

  // Expects `res` to be an error of that status and code; returns its message.
  static std::string ExpectError(const httplib::Result& res, int status, const char* code) {
    EXPECT_TRUE(res) << "no response";
    if (!res) return "";
    EXPECT_EQ(res->status, status) << res->body;
    EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
    rapidjson::Document doc = Parse(res->body);
    if (!doc.IsObject() || !doc.HasMember("error")) {
      ADD_FAILURE() << "no error object: " << res->body;
      return "";
    }
    EXPECT_EQ(doc.MemberCount(), 1u) << res->body;
    const rapidjson::Value& error = doc["error"];
    EXPECT_EQ(Str(error["code"]), code) << res->body;
    EXPECT_EQ(error.MemberCount(), 2u) << res->body;
    return Str(error["message"]);
  }

  static void ExpectUnauthorized(const httplib::Result& res) {
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 401);
    EXPECT_EQ(res->get_header_value("WWW-Authenticate"), "Bearer");
    EXPECT_EQ(res->body, ErrorJson("unauthorized",
                                   "a valid API token is required: send Authorization: Bearer "
                                   "<token>"));
  }

  FakeControl control_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<httplib::Client> client_;
};

// --- /api/sinks -------------------------------------------------------------

TEST_F(ApiServer, RequestsAddressedToANonLoopbackNameAreForbidden) {
  // DNS rebinding: a page on attacker.example, resolved to 127.0.0.1, must
  // not read /metrics or the console, nor reach /api.
  for (const char* host :
       {"attacker.example", "127.evil.example", "127.0.0.1.evil.example", "10.0.0.1", "[::2]"}) {
    const std::string with_port = std::string(host) + ":" + std::to_string(server_->port());
    for (const char* path : {"/metrics", "/", "/api/sinks"}) {
      httplib::Headers headers = Auth();
      headers.emplace("Host", with_port);
      auto res = client_->Get(path, headers);
      const std::string message = ExpectError(res, 403, "forbidden");
      EXPECT_NE(message.find("is not a loopback name"), std::string::npos) << host << " " << path;
    }
  }
  EXPECT_TRUE(control_.Calls().empty()) << "nothing reached the Control";
  for (const char* host : {"127.0.0.1", "127.1.2.3", "localhost", "[::1]"}) {
    httplib::Headers headers;
    headers.emplace("Host", std::string(host) + ":" + std::to_string(server_->port()));
    auto res = client_->Get("/health", headers);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200) << host;
  }
}

TEST_F(ApiServer, ListsEverySinkWithItsFields) {
  auto res = Get("/api/sinks");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
  rapidjson::Document doc = Parse(res->body);
  ASSERT_TRUE(doc["sinks"].IsArray());
  ASSERT_EQ(doc["sinks"].Size(), 2u);
  const rapidjson::Value& s = doc["sinks"][0];
  EXPECT_EQ(Str(s["name"]), "orders");
  EXPECT_EQ(Str(s["database"]), "main");
  EXPECT_EQ(Str(s["stream_arn"]), "arn:aws:kinesis:us-east-1:000000000000:stream/orders");
  EXPECT_EQ(Str(s["status"]), "active");
  EXPECT_EQ(Str(s["health"]), "degraded");
  EXPECT_EQ(Str(s["health_reason"]), "2 messages failing");
  EXPECT_EQ(s["lag_bytes"].GetUint64(), 18234u);
  const rapidjson::Value& counts = s["counts"];
  EXPECT_EQ(counts["ingested"].GetUint64(), 1200u);
  EXPECT_EQ(counts["delivered"].GetUint64(), 1190u);
  EXPECT_EQ(counts["failed_attempts"].GetUint64(), 14u);
  EXPECT_EQ(counts["filtered"].GetUint64(), 3u);
  EXPECT_EQ(counts["discarded"].GetUint64(), 1u);
  EXPECT_EQ(counts["oversize"].GetUint64(), 1u);
  EXPECT_EQ(counts["throttled"].GetUint64(), 2u);
  const rapidjson::Value& backlog = s["backlog"];
  EXPECT_EQ(backlog["pending"].GetUint64(), 7u);
  EXPECT_EQ(backlog["in_flight"].GetUint64(), 0u);
  EXPECT_EQ(backlog["backing_off"].GetUint64(), 1u);
  EXPECT_EQ(backlog["failed"].GetUint64(), 1u);
  EXPECT_EQ(backlog["stored"].GetUint64(), 2u);
  EXPECT_DOUBLE_EQ(s["delivered_per_second"].GetDouble(), 120.5);
  EXPECT_EQ(Str(s["oldest_waiting_committed_at"]), "2026-11-27T10:00:00.123Z");
  EXPECT_TRUE(s["last_delivered_at"].IsNull());
  EXPECT_EQ(Str(doc["sinks"][1]["name"]), "a/b");
}

TEST_F(ApiServer, ListsNoSinksAsAnEmptyArray) {
  control_.sinks.clear();
  auto res = Get("/api/sinks");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, R"({"sinks":[]})");
}

TEST_F(ApiServer, AnswersOneSink) {
  auto res = Get("/api/sinks/orders");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  rapidjson::Document doc = Parse(res->body);
  EXPECT_EQ(Str(doc["name"]), "orders");
  EXPECT_EQ(res->body, SinkJson(control_.sinks[0]));
}

TEST_F(ApiServer, UnknownSinkIsNotFoundWithControlsMessage) {
  EXPECT_EQ(ExpectError(Get("/api/sinks/nope"), 404, "not_found"),
            "sink \"nope\" is not configured");
}

TEST_F(ApiServer, SinkNamesArePercentDecodedAndMatchedExactly) {
  auto res = Get("/api/sinks/a%2Fb");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(Str(Parse(res->body)["name"]), "a/b");
  ExpectError(Get("/api/sinks/Orders"), 404, "not_found");
  ExpectError(Get("/api/sinks/orders%20"), 404, "not_found");
}

TEST_F(ApiServer, EncodedNewlineInAPathIsRoutedLikeAnyOther) {
  ExpectUnauthorized(client_->Get("/api/sinks/a%0Ab"));
  EXPECT_EQ(ExpectError(Get("/api/sinks/a%0Ab"), 404, "not_found"),
            "sink \"a\nb\" is not configured");
}

TEST_F(ApiServer, MalformedPercentEscapeIsBadRequest) {
  ExpectError(Get("/api/sinks/%zz"), 400, "bad_request");
  ExpectError(Get("/api/sinks/orders%2"), 400, "bad_request");
}

// --- auth ---------------------------------------------------------------------

TEST_F(ApiServer, MissingTokenIsUnauthorizedWithNothingElse) {
  auto res = client_->Get("/api/sinks");
  ExpectUnauthorized(res);
  EXPECT_EQ(res->body.find("orders"), std::string::npos);
  EXPECT_TRUE(control_.Calls().empty());
}

TEST_F(ApiServer, WrongOrMalformedTokensAreUnauthorized) {
  const std::string token = kToken;
  std::string last_changed = token;
  last_changed.back() = last_changed.back() == 'f' ? 'e' : 'f';
  const std::vector<std::string> values = {
      "Bearer wrong",
      "Bearer ",
      "Bearer",
      "Bearer  " + token,                             // two spaces
      "Basic " + token,                               // another scheme
      token,                                          // no scheme
      "Bearer " + token.substr(0, token.size() - 1),  // one character short
      "Bearer " + token + "0",                        // one character long
      "Bearer " + last_changed,                       // last character differs
  };
  for (const std::string& value : values) {
    SCOPED_TRACE(value);
    ExpectUnauthorized(client_->Get("/api/sinks/orders", {{"Authorization", value}}));
  }
  EXPECT_TRUE(control_.Calls().empty());
}

TEST_F(ApiServer, BearerSchemeIsCaseInsensitive) {
  auto res = client_->Get("/api/sinks", {{"Authorization", std::string("bearer ") + kToken}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
}

TEST_F(ApiServer, TwoAuthorizationHeadersAreUnauthorized) {
  httplib::Headers headers = Auth();
  headers.emplace("Authorization", "Bearer wrong");
  ExpectUnauthorized(client_->Get("/api/sinks", headers));
}

TEST_F(ApiServer, UnauthenticatedRequestsLearnNotWhetherASinkExists) {
  ExpectUnauthorized(client_->Get("/api/sinks/nope"));
  ExpectUnauthorized(client_->Get("/api/sinks/orders"));
  ExpectUnauthorized(client_->Get("/api/sinks/nope/messages/abc"));
  ExpectUnauthorized(client_->Get("/api/unknown/path"));
  ExpectUnauthorized(client_->Get("/api"));
  ExpectUnauthorized(client_->Post("/api/sinks/nope/pause", "", "application/json"));
  EXPECT_TRUE(control_.Calls().empty());
}

TEST_F(ApiServer, UnauthenticatedBulkActionIsUnauthorizedBeforeItsBodyIsLookedAt) {
  ExpectUnauthorized(client_->Post("/api/sinks/orders/messages/discard", "", "application/json"));
  ExpectUnauthorized(
      client_->Post("/api/sinks/orders/messages/discard", "not json", "application/json"));
  ExpectUnauthorized(client_->Post("/api/sinks/orders/messages/discard", std::string(4096, 'x'),
                                   "application/json"));
  ExpectUnauthorized(client_->Post("/api/sinks/orders/messages/discard", R"({"state":"all"})",
                                   "application/json"));
  EXPECT_FALSE(control_.Acted());
}

TEST_F(ApiServer, ConnectionStaysUsableAfterAnUnreadBody) {
  client_->set_keep_alive(true);
  ExpectUnauthorized(client_->Post("/api/sinks/orders/messages/discard", R"({"state":"all"})",
                                   "application/json"));
  auto res = Get("/api/sinks/orders");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(Str(Parse(res->body)["name"]), "orders");
}

TEST_F(ApiServer, MetricsHealthAndConsoleNeedNoToken) {
  control_.readiness.ready = true;
  for (const char* path : {"/metrics", "/health", "/health/ready", "/"}) {
    SCOPED_TRACE(path);
    auto res = client_->Get(path);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
  }
}

// --- messages -----------------------------------------------------------------

TEST_F(ApiServer, ListsMessagesWithTheDefaultQuery) {
  control_.page.messages = {MakeMessage(1041, MessageState::kFailed),
                            MakeMessage(1042, MessageState::kPending)};
  control_.page.next_cursor = "1042";
  auto res = Get("/api/sinks/orders/messages");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  EXPECT_EQ(control_.Calls().back(), "Messages orders state=- limit=50 cursor=");
  rapidjson::Document doc = Parse(res->body);
  ASSERT_EQ(doc["messages"].Size(), 2u);
  EXPECT_EQ(Str(doc["next_cursor"]), "1042");
  const rapidjson::Value& m = doc["messages"][0];
  EXPECT_EQ(m["id"].GetUint64(), 1041u);
  EXPECT_EQ(Str(m["state"]), "failed");
  EXPECT_EQ(Str(m["table"]), "public.orders");
  EXPECT_EQ(Str(m["action"]), "update");
  EXPECT_EQ(Str(m["commit_lsn"]), "0/1A2B3C4");
  EXPECT_EQ(Str(m["committed_at"]), "2026-11-27T10:00:00.123Z");
  EXPECT_EQ(Str(m["partition_key"]), "42");
  EXPECT_EQ(m["deliver_count"].GetInt64(), 3);
  EXPECT_EQ(Str(m["last_error"]), "record is too large");
  EXPECT_EQ(Str(m["next_attempt_at"]), "2026-11-27T10:00:08.123Z");
  EXPECT_TRUE(m["delivered_at"].IsNull());
  EXPECT_EQ(Str(m["stream_arn"]), "");
  EXPECT_EQ(Str(m["shard_id"]), "");
  EXPECT_EQ(Str(m["sequence_number"]), "");
  EXPECT_TRUE(doc["messages"][1]["next_attempt_at"].IsNull());
}

TEST_F(ApiServer, DeliveredMessagesSayWhereTheyWent) {
  control_.page.messages = {MakeMessage(7, MessageState::kDelivered)};
  auto res = Get("/api/sinks/orders/messages?state=delivered");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  rapidjson::Document doc = Parse(res->body);
  const rapidjson::Value& m = doc["messages"][0];
  EXPECT_EQ(Str(m["delivered_at"]), "2026-11-27T10:00:01.123Z");
  EXPECT_EQ(Str(m["shard_id"]), "shardId-000000000000");
  EXPECT_EQ(Str(m["sequence_number"]), "4959");
}

TEST_F(ApiServer, LastPageHasANullCursor) {
  auto res = Get("/api/sinks/orders/messages");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->body, R"({"messages":[],"next_cursor":null})");
}

TEST_F(ApiServer, PassesEachValidStateToControl) {
  for (const char* state : {"pending", "in_flight", "backing_off", "failed", "delivered"}) {
    SCOPED_TRACE(state);
    auto res = Get(std::string("/api/sinks/orders/messages?state=") + state);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(control_.Calls().back(),
              std::string("Messages orders state=") + state + " limit=50 cursor=");
  }
}

TEST_F(ApiServer, EmptyParametersMeanTheirDefaults) {
  auto res = Get("/api/sinks/orders/messages?state=&limit=&cursor=");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(control_.Calls().back(), "Messages orders state=- limit=50 cursor=");
}

TEST_F(ApiServer, InvalidStateIsBadRequestNamingIt) {
  for (const char* state : {"Failed", "all", "in-flight", "x"}) {
    SCOPED_TRACE(state);
    const std::string message = ExpectError(
        Get(std::string("/api/sinks/orders/messages?state=") + state), 400, "bad_request");
    EXPECT_NE(message.find("state must be one of"), std::string::npos) << message;
    EXPECT_NE(message.find(std::string("\"") + state + "\""), std::string::npos) << message;
  }
  EXPECT_TRUE(control_.Calls().empty());
}

TEST_F(ApiServer, LimitBounds) {
  for (const char* limit : {"1", "1000", "77"}) {
    SCOPED_TRACE(limit);
    auto res = Get(std::string("/api/sinks/orders/messages?limit=") + limit);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(control_.Calls().back(),
              std::string("Messages orders state=- limit=") + limit + " cursor=");
  }
  const size_t calls = control_.Calls().size();
  for (const char* limit : {"0", "1001", "abc", "-1", "1.5", "%2B5", "18446744073709551617"}) {
    SCOPED_TRACE(limit);
    const std::string message = ExpectError(
        Get(std::string("/api/sinks/orders/messages?limit=") + limit), 400, "bad_request");
    EXPECT_EQ(message.rfind("limit must be an integer from 1 to 1000, got \"", 0), 0u) << message;
  }
  EXPECT_EQ(ExpectError(Get("/api/sinks/orders/messages?limit=0"), 400, "bad_request"),
            "limit must be an integer from 1 to 1000, got \"0\"");
  EXPECT_EQ(control_.Calls().size(), calls);
}

TEST_F(ApiServer, CursorIsPassedThroughToControl) {
  auto res = Get("/api/sinks/orders/messages?state=failed&limit=2&cursor=1042");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(control_.Calls().back(), "Messages orders state=failed limit=2 cursor=1042");
}

TEST_F(ApiServer, CursorControlRejectsIsBadRequest) {
  control_.error = Error(ErrorCode::kInvalidArgument, "cursor \"zz\" is not one of ours");
  EXPECT_EQ(ExpectError(Get("/api/sinks/orders/messages?cursor=zz"), 400, "bad_request"),
            "cursor \"zz\" is not one of ours");
}

TEST_F(ApiServer, CursorThatCannotBeOursIsBadRequest) {
  ExpectError(Get("/api/sinks/orders/messages?cursor=" + std::string(300, 'a')), 400,
              "bad_request");
  ExpectError(Get("/api/sinks/orders/messages?cursor=a%20b"), 400, "bad_request");
  EXPECT_TRUE(control_.Calls().empty());
}

TEST_F(ApiServer, RepeatedParameterIsBadRequest) {
  EXPECT_EQ(ExpectError(Get("/api/sinks/orders/messages?limit=1&limit=2"), 400, "bad_request"),
            "limit is given more than once");
}

TEST_F(ApiServer, MessagesOfUnknownSinkAreNotFound) {
  ExpectError(Get("/api/sinks/nope/messages"), 404, "not_found");
}

TEST_F(ApiServer, StoreErrorIsInternalWithItsMessage) {
  control_.error = Error(ErrorCode::kIo, "the message store failed: disk I/O error");
  EXPECT_EQ(ExpectError(Get("/api/sinks/orders/messages"), 500, "internal"),
            "the message store failed: disk I/O error");
  ExpectError(Get("/api/sinks/orders/messages/1"), 500, "internal");
  ExpectError(Post("/api/sinks/orders/messages/1/discard"), 500, "internal");
  ExpectError(Post("/api/sinks/orders/messages/discard", R"({"state":"failed"})"), 500, "internal");
}

// --- one message ----------------------------------------------------------------

TEST_F(ApiServer, MessageDetailEmbedsChangeAndPayloadAsJson) {
  control_.detail.summary = MakeMessage(1042, MessageState::kFailed);
  control_.detail.change_json = R"({"action":"update","record":{"id":42}})";
  control_.detail.payload_json = R"({"id":42,"total":"9.50"})";
  control_.detail.payload_stream_arn = "arn:aws:kinesis:us-east-1:000000000000:stream/orders";
  auto res = Get("/api/sinks/orders/messages/1042");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(control_.Calls().back(), "Message orders 1042");
  rapidjson::Document doc = Parse(res->body);
  EXPECT_EQ(doc["message"]["id"].GetUint64(), 1042u);
  EXPECT_EQ(Str(doc["message"]["state"]), "failed");
  ASSERT_TRUE(doc["change"].IsObject());
  EXPECT_EQ(doc["change"]["record"]["id"].GetInt(), 42);
  const rapidjson::Value& payload = doc["payload"];
  ASSERT_TRUE(payload.IsObject());
  ASSERT_TRUE(payload["data"].IsObject());
  EXPECT_EQ(Str(payload["data"]["total"]), "9.50");
  EXPECT_EQ(Str(payload["stream_arn"]), "arn:aws:kinesis:us-east-1:000000000000:stream/orders");
  EXPECT_FALSE(payload["filtered"].GetBool());
  EXPECT_TRUE(payload["error"].IsNull());
}

TEST_F(ApiServer, FilteredOrFailingPayloadHasNullData) {
  control_.detail.summary = MakeMessage(5, MessageState::kPending);
  control_.detail.change_json = R"({"action":"insert"})";
  control_.detail.payload_error = "transform: attempt to index a nil value";
  auto res = Get("/api/sinks/orders/messages/5");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  rapidjson::Document doc = Parse(res->body);
  EXPECT_TRUE(doc["payload"]["data"].IsNull());
  EXPECT_EQ(Str(doc["payload"]["error"]), "transform: attempt to index a nil value");

  control_.detail.payload_error.clear();
  control_.detail.payload_filtered = true;
  res = Get("/api/sinks/orders/messages/5");
  ASSERT_TRUE(res);
  doc = Parse(res->body);
  EXPECT_TRUE(doc["payload"]["data"].IsNull());
  EXPECT_TRUE(doc["payload"]["filtered"].GetBool());
}

TEST_F(ApiServer, DeliveredMessageHasNullChangeAndPayload) {
  control_.detail.summary = MakeMessage(9, MessageState::kDelivered);
  auto res = Get("/api/sinks/orders/messages/9");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  rapidjson::Document doc = Parse(res->body);
  EXPECT_TRUE(doc["change"].IsNull());
  EXPECT_TRUE(doc["payload"].IsNull());
  EXPECT_EQ(Str(doc["message"]["state"]), "delivered");
}

TEST_F(ApiServer, ChangeThatIsNotJsonIsInternalError) {
  control_.detail.summary = MakeMessage(5, MessageState::kPending);
  control_.detail.change_json = R"({"action":)";
  ExpectError(Get("/api/sinks/orders/messages/5"), 500, "internal");
}

TEST_F(ApiServer, LargestIdIsAccepted) {
  auto res = Get("/api/sinks/orders/messages/18446744073709551615");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(control_.Calls().back(), "Message orders 18446744073709551615");
}

TEST_F(ApiServer, MalformedIdsAreBadRequestAndReachNoControl) {
  for (const char* id :
       {"abc", "-1", "1.5", "18446744073709551616", "%2B1", "%201", "1%20", "0x10", "1e3"}) {
    SCOPED_TRACE(id);
    const std::string message =
        ExpectError(Get(std::string("/api/sinks/orders/messages/") + id), 400, "bad_request");
    EXPECT_EQ(message.rfind("message id must be an unsigned 64-bit decimal integer, got \"", 0), 0u)
        << message;
    ExpectError(Post(std::string("/api/sinks/orders/messages/") + id + "/redeliver"), 400,
                "bad_request");
    ExpectError(Post(std::string("/api/sinks/orders/messages/") + id + "/discard"), 400,
                "bad_request");
  }
  ExpectError(Post("/api/sinks/orders/messages//discard"), 400, "bad_request");
  EXPECT_TRUE(control_.Calls().empty());
}

TEST_F(ApiServer, UnknownMessageIsNotFound) {
  control_.error = Error(ErrorCode::kNotFound, "message 77 is not held by sink \"orders\"");
  EXPECT_EQ(ExpectError(Get("/api/sinks/orders/messages/77"), 404, "not_found"),
            "message 77 is not held by sink \"orders\"");
  ExpectError(Post("/api/sinks/orders/messages/77/redeliver"), 404, "not_found");
}

// --- actions ----------------------------------------------------------------------

TEST_F(ApiServer, RedeliversAndDiscardsOneMessage) {
  auto res = Post("/api/sinks/orders/messages/1042/redeliver");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, R"({"affected":1,"skipped":0})");
  EXPECT_EQ(control_.Calls().back(), "Redeliver orders one 1042");
  res = Post("/api/sinks/orders/messages/1042/discard");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(control_.Calls().back(), "Discard orders one 1042");
}

TEST_F(ApiServer, ActingOnAMessageInFlightIsConflict) {
  control_.error = Error(ErrorCode::kUnavailable, "message 1042 is in flight");
  EXPECT_EQ(ExpectError(Post("/api/sinks/orders/messages/1042/discard"), 409, "conflict"),
            "message 1042 is in flight");
  ExpectError(Post("/api/sinks/orders/messages/1042/redeliver"), 409, "conflict");
}

TEST_F(ApiServer, ActionControlCallsInvalidIsBadRequest) {
  control_.error = Error(ErrorCode::kInvalidArgument, "cannot discard that");
  EXPECT_EQ(ExpectError(Post("/api/sinks/orders/messages/1/discard"), 400, "bad_request"),
            "cannot discard that");
}

TEST_F(ApiServer, ActionOnUnknownSinkIsNotFound) {
  ExpectError(Post("/api/sinks/nope/messages/1/discard"), 404, "not_found");
  ExpectError(Post("/api/sinks/nope/messages/discard", R"({"state":"failed"})"), 404, "not_found");
}

TEST_F(ApiServer, BulkActionsTakeTheirSelectionFromTheBody) {
  control_.action_result = {12, 1};
  auto res = Post("/api/sinks/orders/messages/redeliver", R"({"state": "failed"})");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, R"({"affected":12,"skipped":1})");
  EXPECT_EQ(control_.Calls().back(), "Redeliver orders failed 0");

  res = Post("/api/sinks/orders/messages/discard", R"({"state":"failed"})");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(control_.Calls().back(), "Discard orders failed 0");

  res = Post("/api/sinks/orders/messages/discard", " {\"state\":\"all\"}\n");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(control_.Calls().back(), "Discard orders all 0");
}

TEST_F(ApiServer, BulkActionWithoutAValidBodyIsBadRequestAndActsOnNothing) {
  for (const char* action : {"redeliver", "discard"}) {
    const std::string path = std::string("/api/sinks/orders/messages/") + action;
    for (const char* body :
         {"", " ", "{}", "[]", "null", "not json", R"({"state":1})", R"({"state":"pending"})",
          R"({"state":"failed","x":1})", R"({"state":"failed"} {})", R"({"State":"failed"})"}) {
      SCOPED_TRACE(std::string(action) + " " + body);
      ExpectError(Post(path, body), 400, "bad_request");
    }
    SCOPED_TRACE(action);
    ExpectError(client_->Post(path, Auth()), 400, "bad_request");  // no body at all
  }
  const std::string message = ExpectError(
      Post("/api/sinks/orders/messages/redeliver", R"({"state":"all"})"), 400, "bad_request");
  EXPECT_NE(message.find("redeliver"), std::string::npos) << message;
  EXPECT_FALSE(control_.Acted());
}

TEST_F(ApiServer, OversizedBodyIsPayloadTooLarge) {
  const std::string body = R"({"state":"all","pad":")" + std::string(2000, 'x') + "\"}";
  ExpectError(Post("/api/sinks/orders/messages/discard", body), 413, "payload_too_large");
  ExpectError(Post("/api/sinks/orders/pause", body), 413, "payload_too_large");
  EXPECT_FALSE(control_.Acted());
}

TEST_F(ApiServer, OversizedChunkedBodyIsPayloadTooLarge) {
  // A chunked body carries no length up front: the server must stop reading.
  size_t sent = 0;
  auto res = client_->Post(
      "/api/sinks/orders/messages/discard", Auth(),
      [&](size_t, httplib::DataSink& sink) {
        if (sent >= 64 * 1024) {
          sink.done();
          return true;
        }
        const std::string chunk(4096, 'x');
        sent += chunk.size();
        return sink.write(chunk.data(), chunk.size());
      },
      "application/json");
  ExpectError(res, 413, "payload_too_large");
  EXPECT_FALSE(control_.Acted());
}

TEST_F(ApiServer, ChunkedBodyWithinTheLimitIsRead) {
  bool done = false;
  auto res = client_->Post(
      "/api/sinks/orders/messages/discard", Auth(),
      [&](size_t, httplib::DataSink& sink) {
        if (done) {
          sink.done();
          return true;
        }
        done = true;
        const std::string body = R"({"state":"failed"})";
        return sink.write(body.data(), body.size());
      },
      "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(control_.Calls().back(), "Discard orders failed 0");
}

TEST_F(ApiServer, PauseAndResumeAnswerTheSink) {
  auto res = Post("/api/sinks/orders/pause");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  rapidjson::Document doc = Parse(res->body);
  EXPECT_EQ(Str(doc["name"]), "orders");
  EXPECT_EQ(Str(doc["status"]), "paused");
  EXPECT_EQ(Str(doc["health"]), "paused");
  EXPECT_EQ(control_.Calls()[0], "Pause orders");

  res = Post("/api/sinks/orders/resume");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  EXPECT_EQ(Str(Parse(res->body)["status"]), "active");
  EXPECT_EQ(control_.Calls()[2], "Resume orders");
}

TEST_F(ApiServer, PauseOfUnknownSinkIsNotFound) {
  ExpectError(Post("/api/sinks/nope/pause"), 404, "not_found");
  ExpectError(Post("/api/sinks/nope/resume"), 404, "not_found");
}

// --- backfills ------------------------------------------------------------------------

// A running backfill with every field set.
BackfillInfo RunningBackfill() {
  BackfillInfo b;
  b.id = 7;
  b.sink = "orders";
  b.table = "public.events";
  b.sort_column = "created_at";
  b.start_position = "2026-01-01";
  b.origin = "config";
  b.state = BackfillState::kRunning;
  b.rows_done = 96000;
  b.rows_estimate = 200000;
  b.rows_per_second = 2130.5;
  b.eta_seconds = 48.8;
  b.page_size = 2500;
  b.waiting = true;
  b.started_at = At(kSomeTime);
  return b;
}

// A failed backfill by primary key: no start position, no ETA.
BackfillInfo FailedBackfill() {
  BackfillInfo b;
  b.id = 3;
  b.sink = "orders";
  b.table = "public.orders";
  b.origin = "api";
  b.state = BackfillState::kFailed;
  b.rows_done = 1000;
  b.rows_estimate = 0;
  b.page_size = 1000;
  b.started_at = At(kSomeTime - 60000);
  b.finished_at = At(kSomeTime - 1000);
  b.error = "table public.orders was dropped";
  return b;
}

TEST_F(ApiServer, ListsBackfillsWithEveryField) {
  BackfillInfo other_sink = FailedBackfill();
  other_sink.sink = "a/b";
  control_.backfills = {RunningBackfill(), other_sink, FailedBackfill()};
  auto res = Get("/api/sinks/orders/backfills");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
  EXPECT_EQ(control_.Calls().back(), "Backfills orders");
  rapidjson::Document doc = Parse(res->body);
  ASSERT_TRUE(doc.IsObject());
  EXPECT_EQ(doc.MemberCount(), 1u);
  ASSERT_TRUE(doc["backfills"].IsArray());
  ASSERT_EQ(doc["backfills"].Size(), 2u);

  const rapidjson::Value& b = doc["backfills"][0];
  EXPECT_EQ(b.MemberCount(), 16u) << res->body;
  EXPECT_EQ(b["id"].GetUint64(), 7u);
  EXPECT_EQ(Str(b["sink"]), "orders");
  EXPECT_EQ(Str(b["table"]), "public.events");
  EXPECT_EQ(Str(b["sort_column"]), "created_at");
  EXPECT_EQ(Str(b["start_position"]), "2026-01-01");
  EXPECT_EQ(Str(b["origin"]), "config");
  EXPECT_EQ(Str(b["state"]), "running");
  EXPECT_EQ(b["rows_done"].GetUint64(), 96000u);
  EXPECT_EQ(b["rows_estimate"].GetUint64(), 200000u);
  EXPECT_DOUBLE_EQ(b["rows_per_second"].GetDouble(), 2130.5);
  EXPECT_DOUBLE_EQ(b["eta_seconds"].GetDouble(), 48.8);
  EXPECT_EQ(b["page_size"].GetUint64(), 2500u);
  EXPECT_TRUE(b["waiting"].GetBool());
  EXPECT_EQ(Str(b["started_at"]), "2026-11-27T10:00:00.123Z");
  EXPECT_TRUE(b["finished_at"].IsNull());
  EXPECT_EQ(Str(b["error"]), "");

  const rapidjson::Value& f = doc["backfills"][1];
  EXPECT_EQ(f["id"].GetUint64(), 3u);
  EXPECT_EQ(Str(f["sort_column"]), "");
  EXPECT_TRUE(f["start_position"].IsNull());
  EXPECT_EQ(Str(f["origin"]), "api");
  EXPECT_EQ(Str(f["state"]), "failed");
  EXPECT_TRUE(f["eta_seconds"].IsNull());
  EXPECT_FALSE(f["waiting"].GetBool());
  EXPECT_EQ(Str(f["finished_at"]), "2026-11-27T09:59:59.123Z");
  EXPECT_EQ(Str(f["error"]), "table public.orders was dropped");
}

TEST_F(ApiServer, ListsNoBackfillsAsAnEmptyArray) {
  auto res = Get("/api/sinks/orders/backfills");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, R"({"backfills":[]})");
}

TEST_F(ApiServer, AnswersOneBackfillById) {
  control_.backfills = {RunningBackfill(), FailedBackfill()};
  auto res = Get("/api/sinks/orders/backfills/3");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  EXPECT_EQ(res->body, BackfillJson(FailedBackfill()));
  EXPECT_EQ(ExpectError(Get("/api/sinks/orders/backfills/4"), 404, "not_found"),
            "backfill 4 is not one of sink \"orders\"");
}

TEST_F(ApiServer, StartsABackfillFromTheBody) {
  auto res =
      Post("/api/sinks/orders/backfills", R"({"table":"public.events","sort_column":"created_at",)"
                                          R"("start_position":"2026-01-01"})");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 201) << res->body;
  EXPECT_EQ(control_.Calls().back(),
            "StartBackfill orders table=public.events sort=created_at start=2026-01-01");
  rapidjson::Document doc = Parse(res->body);
  EXPECT_EQ(doc["id"].GetUint64(), 10u);
  EXPECT_EQ(Str(doc["sink"]), "orders");
  EXPECT_EQ(Str(doc["table"]), "public.events");
  EXPECT_EQ(Str(doc["sort_column"]), "created_at");
  EXPECT_EQ(Str(doc["start_position"]), "2026-01-01");
  EXPECT_EQ(Str(doc["origin"]), "api");
  EXPECT_EQ(Str(doc["state"]), "running");
  EXPECT_EQ(res->body, BackfillJson(control_.backfills.front()));

  // The new backfill is listed first.
  auto list = Get("/api/sinks/orders/backfills");
  ASSERT_TRUE(list);
  EXPECT_EQ(Parse(list->body)["backfills"][0]["id"].GetUint64(), 10u);
}

TEST_F(ApiServer, StartNeedsOnlyTheTable) {
  for (const char* body :
       {R"({"table":"public.orders"})", R"({"table":"public.orders","sort_column":null})",
        R"({"table":"public.orders","sort_column":"","start_position":null})"}) {
    SCOPED_TRACE(body);
    auto res = Post("/api/sinks/orders/backfills", body);
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 201) << res->body;
    EXPECT_EQ(control_.Calls().back(), "StartBackfill orders table=public.orders sort= start=-");
    rapidjson::Document doc = Parse(res->body);
    EXPECT_EQ(Str(doc["sort_column"]), "");
    EXPECT_TRUE(doc["start_position"].IsNull());
  }
}

TEST_F(ApiServer, StartWithABadBodyIsBadRequestAndStartsNothing) {
  struct Case {
    const char* body;
    const char* message;
  };
  for (const Case& c : std::vector<Case>{
           {"",
            "the body must be a JSON object such as {\"table\": \"public.orders\"}, with "
            "optional \"sort_column\" and \"start_position\""},
           {"[]",
            "the body must be a JSON object such as {\"table\": \"public.orders\"}, with "
            "optional \"sort_column\" and \"start_position\""},
           {"not json", "the body is not valid JSON: Invalid value. (at byte 1)"},
           {"{}", "table is required: the table to backfill, as \"schema.table\""},
           {R"({"table":""})", "table is required: the table to backfill, as \"schema.table\""},
           {R"({"table":"orders"})", "table must be schema.table, got \"orders\""},
           {R"({"table":"a.b.c"})", "table must be schema.table, got \"a.b.c\""},
           {R"({"table":7})", "table must be a string"},
           {R"({"table":"public.a","sortcolumn":"id"})",
            "unknown member \"sortcolumn\" (a backfill takes table, sort_column and "
            "start_position)"},
           {R"({"table":"public.a","table":"public.b"})", "\"table\" is given twice"},
           {R"({"table":"public.a","sort_column":"id","start_position":5})",
            "start_position must be a string (e.g. \"1000\" or \"2026-01-01\")"},
           {R"({"table":"public.a","start_position":"5"})",
            "start_position needs sort_column: a start position is a value of the sort column"},
       }) {
    SCOPED_TRACE(c.body);
    EXPECT_EQ(ExpectError(Post("/api/sinks/orders/backfills", c.body), 400, "bad_request"),
              c.message);
  }
  ExpectError(client_->Post("/api/sinks/orders/backfills", Auth()), 400, "bad_request");
  EXPECT_FALSE(control_.Acted());
}

TEST_F(ApiServer, StartRefusedByControlKeepsItsMessage) {
  control_.error = Error(ErrorCode::kInvalidArgument,
                         "public.t has no primary key: give a sort_column to backfill it");
  EXPECT_EQ(ExpectError(Post("/api/sinks/orders/backfills", R"({"table":"public.t"})"), 400,
                        "bad_request"),
            "public.t has no primary key: give a sort_column to backfill it");
  control_.error =
      Error(ErrorCode::kUnavailable, "a backfill of public.t is running already (id 7)");
  EXPECT_EQ(
      ExpectError(Post("/api/sinks/orders/backfills", R"({"table":"public.t"})"), 409, "conflict"),
      "a backfill of public.t is running already (id 7)");
  control_.error = Error(ErrorCode::kIo, "the local store failed: disk I/O error");
  ExpectError(Post("/api/sinks/orders/backfills", R"({"table":"public.t"})"), 500, "internal");
  ExpectError(Get("/api/sinks/orders/backfills"), 500, "internal");
}

TEST_F(ApiServer, CancelsABackfill) {
  control_.backfills = {RunningBackfill()};
  auto res = Post("/api/sinks/orders/backfills/7/cancel");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(control_.Calls().back(), "CancelBackfill orders 7");
  rapidjson::Document doc = Parse(res->body);
  EXPECT_EQ(doc["id"].GetUint64(), 7u);
  EXPECT_EQ(Str(doc["state"]), "cancelled");
  EXPECT_EQ(Str(doc["finished_at"]), "2026-11-27T10:00:05.123Z");
  EXPECT_TRUE(doc["eta_seconds"].IsNull());
}

TEST_F(ApiServer, CancelOfAnUnknownBackfillIsNotFound) {
  control_.backfills = {RunningBackfill()};
  EXPECT_EQ(ExpectError(Post("/api/sinks/orders/backfills/8/cancel"), 404, "not_found"),
            "sink \"orders\" has no backfill 8");
}

TEST_F(ApiServer, BackfillsOfAnUnknownSinkAreNotFound) {
  ExpectError(Get("/api/sinks/nope/backfills"), 404, "not_found");
  ExpectError(Get("/api/sinks/nope/backfills/7"), 404, "not_found");
  ExpectError(Post("/api/sinks/nope/backfills", R"({"table":"public.orders"})"), 404, "not_found");
  ExpectError(Post("/api/sinks/nope/backfills/7/cancel"), 404, "not_found");
}

TEST_F(ApiServer, MalformedBackfillIdsAreBadRequestAndReachNoControl) {
  for (const char* id : {"abc", "-1", "%2B1", "1.5", "1e3", "%201", "18446744073709551616"}) {
    SCOPED_TRACE(id);
    const std::string message = ExpectError(
        Post(std::string("/api/sinks/orders/backfills/") + id + "/cancel"), 400, "bad_request");
    EXPECT_EQ(message.rfind("backfill id must be an unsigned 64-bit decimal integer, got", 0), 0u)
        << message;
    ExpectError(Get(std::string("/api/sinks/orders/backfills/") + id), 400, "bad_request");
  }
  EXPECT_TRUE(control_.Calls().empty());
}

TEST_F(ApiServer, UnauthenticatedBackfillRequestsAreUnauthorized) {
  control_.backfills = {RunningBackfill()};
  ExpectUnauthorized(client_->Get("/api/sinks/orders/backfills"));
  ExpectUnauthorized(client_->Get("/api/sinks/orders/backfills/7"));
  ExpectUnauthorized(client_->Post("/api/sinks/orders/backfills", R"({"table":"public.orders"})",
                                   "application/json"));
  ExpectUnauthorized(client_->Post("/api/sinks/orders/backfills/7/cancel", "", "application/json"));
  ExpectUnauthorized(client_->Post("/api/sinks/orders/backfills/7/cancel",
                                   {{"Authorization", "Bearer wrong"}}, "", "application/json"));
  EXPECT_TRUE(control_.Calls().empty());
}

TEST_F(ApiServer, OversizedBackfillBodyIsPayloadTooLarge) {
  const std::string body = R"({"table":"public.orders","pad":")" + std::string(2000, 'x') + "\"}";
  ExpectError(Post("/api/sinks/orders/backfills", body), 413, "payload_too_large");
  EXPECT_FALSE(control_.Acted());
}

// --- methods and paths --------------------------------------------------------------

TEST_F(ApiServer, WrongMethodIsMethodNotAllowedWithAllow) {
  struct Case {
    const char* method;
    const char* path;
    const char* allow;
  };
  for (const Case& c : std::vector<Case>{
           {"GET", "/api/sinks/orders/pause", "POST"},
           {"GET", "/api/sinks/orders/resume", "POST"},
           {"GET", "/api/sinks/orders/messages/1/redeliver", "POST"},
           {"GET", "/api/sinks/orders/messages/discard", "POST"},
           {"GET", "/api/sinks/orders/messages/redeliver", "POST"},
           {"POST", "/api/sinks", "GET"},
           {"POST", "/api/sinks/orders", "GET"},
           {"POST", "/api/sinks/orders/messages", "GET"},
           {"POST", "/api/sinks/orders/messages/1", "GET"},
           {"DELETE", "/api/sinks/orders", "GET"},
           {"PUT", "/api/sinks/orders/pause", "POST"},
           {"DELETE", "/api/sinks/orders/backfills", "GET, POST"},
           {"PUT", "/api/sinks/orders/backfills", "GET, POST"},
           {"POST", "/api/sinks/orders/backfills/7", "GET"},
           {"GET", "/api/sinks/orders/backfills/7/cancel", "POST"},
           {"POST", "/metrics", "GET"},
           {"PUT", "/health", "GET"},
           {"DELETE", "/health/ready", "GET"},
           {"POST", "/", "GET"},
       }) {
    SCOPED_TRACE(std::string(c.method) + " " + c.path);
    httplib::Request req;
    req.method = c.method;
    req.path = c.path;
    req.headers = Auth();
    auto res = client_->send(req);
    ExpectError(res, 405, "method_not_allowed");
    if (res) {
      EXPECT_EQ(res->get_header_value("Allow"), c.allow);
    }
  }
  EXPECT_FALSE(control_.Acted());
}

TEST_F(ApiServer, UnknownPathsAreNotFound) {
  for (const char* path :
       {"/api/sinks/", "/api/sinks/orders/messages/", "/api/other", "/api/sinks/orders/backfills/",
        "/api/sinks/orders/backfills/1/x", "/api/sinks/orders/backfills/1/cancel/x",
        "/api/sinks/orders/messages/1/x", "/api/sinks/orders/messages/1/redeliver/x",
        "/api/sinks//messages"}) {
    SCOPED_TRACE(path);
    ExpectError(Get(path), 404, "not_found");
  }
  for (const char* path : {"/nope", "/nope.js", "/metrics/x", "/%61pi/sinks", "/apis"}) {
    SCOPED_TRACE(path);
    ExpectError(client_->Get(path), 404, "not_found");
  }
  EXPECT_TRUE(control_.Calls().empty());
}

// --- metrics, health, console ---------------------------------------------------------

TEST_F(ApiServer, MetricsAreControlsPrometheusText) {
  control_.metrics = "# TYPE sluice_up gauge\nsluice_up 1\n";
  auto res = client_->Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(res->body, control_.metrics);
}

TEST_F(ApiServer, HealthAnswersOk) {
  auto res = client_->Get("/health");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, R"({"status":"ok"})");
}

TEST_F(ApiServer, ReadyWhenControlIsReady) {
  control_.readiness = {true, {}};
  auto res = client_->Get("/health/ready");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, R"({"status":"ready","reasons":[]})");
}

TEST_F(ApiServer, NotReadyIsServiceUnavailableWithReasons) {
  control_.readiness = {false, {"database main: connecting", "database other: connecting"}};
  auto res = client_->Get("/health/ready");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
  EXPECT_EQ(
      res->body,
      R"({"status":"not_ready","reasons":["database main: connecting","database other: connecting"]})");
}

TEST_F(ApiServer, ServesTheConsolePageAtRoot) {
  const console::Asset* index = console::FindAsset("/index.html");
  ASSERT_NE(index, nullptr);
  for (const char* path : {"/", "/index.html"}) {
    SCOPED_TRACE(path);
    auto res = client_->Get(path);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(res->body, index->body);
    EXPECT_EQ(res->get_header_value("Content-Type"), index->content_type);
    EXPECT_EQ(res->get_header_value("Content-Type"), "text/html; charset=utf-8");
    EXPECT_EQ(res->get_header_value("Cache-Control"), "no-cache");
    EXPECT_EQ(res->get_header_value("X-Content-Type-Options"), "nosniff");
    EXPECT_EQ(res->get_header_value("Content-Security-Policy").rfind("default-src 'self'", 0), 0u);
  }
}

TEST_F(ApiServer, ServesEveryConsoleAssetWithItsType) {
  // Whatever files web/console has, each is served as FindAsset describes.
  for (const char* path : {"/app.js", "/style.css", "/console.js", "/app.css", "/favicon.svg"}) {
    const console::Asset* asset = console::FindAsset(path);
    auto res = client_->Get(path);
    ASSERT_TRUE(res);
    SCOPED_TRACE(path);
    if (asset == nullptr) {
      EXPECT_EQ(res->status, 404);
      continue;
    }
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(res->body, asset->body);
    EXPECT_EQ(res->get_header_value("Content-Type"), asset->content_type);
  }
}

TEST_F(ApiServer, ApiAnswersAreNotCached) {
  auto res = Get("/api/sinks");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->get_header_value("Cache-Control"), "no-store");
  EXPECT_EQ(res->get_header_value("X-Content-Type-Options"), "nosniff");
}

// Sends a raw request (for what httplib::Client would not send) and reads
// one response: its head and a Content-Length body.
std::string RawExchange(int port, const std::string& request) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return "";
  }
  send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string out;
  char buf[4096];
  for (;;) {
    const size_t head_end = out.find("\r\n\r\n");
    if (head_end != std::string::npos) {
      const size_t at = out.find("Content-Length: ");
      const size_t length = at < head_end ? std::stoul(out.substr(at + 16)) : 0;
      if (out.size() >= head_end + 4 + length) break;
    }
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

TEST_F(ApiServer, LongPathsAreAnsweredWithJsonErrors) {
  ExpectError(client_->Get("/" + std::string(8000, 'a')), 404, "not_found");
  ExpectUnauthorized(client_->Get("/api/sinks/" + std::string(8000, 'a')));
  ExpectError(Get("/api/sinks/" + std::string(8000, 'a')), 404, "not_found");
  const std::string response =
      RawExchange(server_->port(), "GET /" + std::string(9000, 'a') + " HTTP/1.1\r\n\r\n");
  EXPECT_EQ(response.rfind("HTTP/1.1 414", 0), 0u) << response.substr(0, 200);
  EXPECT_NE(response.find(R"({"error":{"code":"uri_too_long")"), std::string::npos);
}

TEST_F(ApiServer, MalformedRequestGetsAJsonError) {
  const std::string response = RawExchange(server_->port(), "NONSENSE\r\n\r\n");
  EXPECT_EQ(response.rfind("HTTP/1.1 400", 0), 0u) << response;
  EXPECT_NE(response.find(R"({"error":{"code":"bad_request")"), std::string::npos) << response;
}

TEST_F(ApiServer, LogsEachRequestWithoutTokenOrQuery) {
  std::ostringstream captured;
  auto previous = spdlog::default_logger();
  auto logger = std::make_shared<spdlog::logger>(
      "capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(captured));
  logger->set_level(spdlog::level::debug);
  spdlog::set_default_logger(logger);
  auto res = Get("/api/sinks/orders/messages?cursor=c123");
  ExpectUnauthorized(client_->Get("/api/sinks", {{"Authorization", "Bearer not-the-token"}}));
  // The log line is written before the response is sent; stopping joins the
  // workers, so everything is in `captured` now.
  server_->Stop();
  spdlog::set_default_logger(previous);
  ASSERT_TRUE(res);
  const std::string log = captured.str();
  EXPECT_NE(log.find("api: GET /api/sinks/orders/messages 200"), std::string::npos) << log;
  EXPECT_NE(log.find("api: GET /api/sinks 401"), std::string::npos) << log;
  EXPECT_EQ(log.find(kToken), std::string::npos) << log;
  EXPECT_EQ(log.find("not-the-token"), std::string::npos) << log;
  EXPECT_EQ(log.find("c123"), std::string::npos) << log;
}

// --- lifecycle ---------------------------------------------------------------------------

TEST_F(ApiServer, PortInUseIsAnIoErrorNamingTheAddress) {
  ServerOptions options;
  options.listen = "127.0.0.1:" + std::to_string(server_->port());
  options.token = Secret(kToken);
  Server second(control_, options);
  Status started = second.Start();
  ASSERT_FALSE(started.ok());
  EXPECT_EQ(started.error().code(), ErrorCode::kIo);
  EXPECT_NE(started.error().message().find("api.listen"), std::string::npos);
  EXPECT_NE(started.error().message().find(options.listen), std::string::npos)
      << started.error().message();
  EXPECT_NE(started.error().message().find("in use"), std::string::npos)
      << started.error().message();
  EXPECT_EQ(second.port(), 0);
}

TEST(ApiServerStart, MalformedListenIsAConfigError) {
  FakeControl control;
  for (const char* listen : {"", "7376", "127.0.0.1", "127.0.0.1:", "127.0.0.1:x",
                             "127.0.0.1:65536", "127.0.0.1:-1", ":7376", "[::1:7376"}) {
    SCOPED_TRACE(listen);
    ServerOptions options;
    options.listen = listen;
    options.token = Secret(kToken);
    Server server(control, options);
    Status started = server.Start();
    ASSERT_FALSE(started.ok());
    EXPECT_EQ(started.error().code(), ErrorCode::kConfig);
    EXPECT_NE(started.error().message().find("api.listen"), std::string::npos);
  }
}

TEST(ApiServerStart, EmptyTokenIsAConfigError) {
  FakeControl control;
  ServerOptions options;
  options.listen = "127.0.0.1:0";
  Server server(control, options);
  Status started = server.Start();
  ASSERT_FALSE(started.ok());
  EXPECT_EQ(started.error().code(), ErrorCode::kConfig);
}

TEST(ApiServerStart, StopIsIdempotentAndTheServerIsGoneAfterIt) {
  FakeControl control;
  ServerOptions options;
  options.listen = "127.0.0.1:0";
  options.token = Secret(kToken);
  Server server(control, options);
  ASSERT_TRUE(server.Start().ok());
  const int port = server.port();
  EXPECT_FALSE(server.Start().ok());  // already started
  {
    httplib::Client client("127.0.0.1", port);
    auto res = client.Get("/health");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
  }
  server.Stop();
  server.Stop();
  httplib::Client client("127.0.0.1", port);
  EXPECT_FALSE(client.Get("/health"));
}

TEST(ApiServerStart, StopRightAfterStartReturns) {
  FakeControl control;
  ServerOptions options;
  options.listen = "127.0.0.1:0";
  options.token = Secret(kToken);
  for (int i = 0; i < 20; ++i) {
    Server server(control, options);
    ASSERT_TRUE(server.Start().ok());
    server.Stop();
  }
}

TEST(ApiServerStart, ServesOnIpv6Loopback) {
  FakeControl control;
  ServerOptions options;
  options.listen = "[::1]:0";
  options.token = Secret(kToken);
  Server server(control, options);
  Status started = server.Start();
  if (!started.ok()) GTEST_SKIP() << "no IPv6 loopback here: " << started.error().message();
  httplib::Client client("::1", server.port());
  auto res = client.Get("/health");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
}

}  // namespace
}  // namespace sluice::api
