#include "app/backfill_commands.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <chrono>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "app/exit_codes.h"
#include "support/scripted_transport.h"

namespace sluice::app {
namespace {

using ::testing::HasSubstr;
using testing_support::HttpScript;
using testing_support::ScriptedTransport;

constexpr const char* kToken = "s3cret-token-value";

config::Settings OneSink() {
  config::Settings s;
  s.config_path = "/etc/sluice/sluice.yaml";
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

// A BACKFILL document (docs/api.md) with the given progress.
std::string Backfill(uint64_t id, const std::string& state, uint64_t done, uint64_t estimate,
                     const std::string& extra = "") {
  return R"({"id":)" + std::to_string(id) +
         R"(,"sink":"orders-sink","table":"public.orders","sort_column":"",)"
         R"("start_position":null,"origin":"api","state":")" +
         state + R"(","rows_done":)" + std::to_string(done) + R"(,"rows_estimate":)" +
         std::to_string(estimate) + R"(,"rows_per_second":2130.4,"eta_seconds":)" +
         (state == "running" ? "49.2" : "null") +
         R"(,"page_size":1000,"waiting":false,"started_at":"2026-11-27T10:00:00.000Z",)"
         R"("finished_at":null,"error":"")" +
         extra + "}";
}

rapidjson::Document Json(const std::string& text) {
  rapidjson::Document doc;
  doc.Parse(text.c_str());
  EXPECT_FALSE(doc.HasParseError()) << text;
  return doc;
}

class BackfillCommands : public ::testing::Test {
 protected:
  BackfillCommands()
      : script_(std::make_shared<HttpScript>()),
        transport_(script_),
        client_(transport_, ApiAddress{"http://127.0.0.1:7376", "127.0.0.1:7376", ""},
                api::ResolvedToken{Secret(kToken), "config api.token", false}) {
    wait_.progress = &progress_;
    wait_.style = ProgressStyle::kLines;
    wait_.sleep = [this](std::chrono::milliseconds d) { sleeps_.push_back(d); };
  }

  // "METHOD url body" of every request sent.
  std::vector<std::string> Requests() const {
    std::vector<std::string> out;
    for (const auto& r : script_->requests()) {
      out.push_back(r.method + " " + r.url + (r.body.empty() ? "" : " " + r.body));
    }
    return out;
  }

  void RefuseConnections() {
    script_->Fail(sluice::Error(ErrorCode::kNetwork, "Couldn't connect to server"));
  }

  config::Settings settings_ = OneSink();
  std::shared_ptr<HttpScript> script_;
  ScriptedTransport transport_;
  ApiClient client_;
  std::ostringstream out_;
  std::ostringstream progress_;
  std::vector<std::chrono::milliseconds> sleeps_;
  BackfillWait wait_;
};

// --- start ---

TEST_F(BackfillCommands, StartPostsTheTableToTheOnlySinkAndSaysHowToFollowIt) {
  script_->Reply(201, Backfill(7, "running", 0, 200000));
  BackfillStartOptions options;
  options.table = "public.orders";
  auto end = StartBackfill(client_, settings_, options, wait_, out_);
  ASSERT_TRUE(end.ok()) << end.error().message();
  EXPECT_EQ(*end, BackfillEnd::kStarted);
  EXPECT_THAT(Requests(), testing::ElementsAre("POST http://127.0.0.1:7376/api/sinks/orders-sink/"
                                               "backfills {\"table\":\"public.orders\"}"));
  EXPECT_EQ(out_.str(),
            "started backfill 7 of public.orders (sink orders-sink, by primary key)\n"
            "follow it with: sluice backfill list --config /etc/sluice/sluice.yaml --sink "
            "orders-sink\n");
  EXPECT_TRUE(sleeps_.empty());
  EXPECT_EQ(progress_.str(), "");
}

TEST_F(BackfillCommands, StartSendsSortColumnAndStartPositionAsJsonStrings) {
  script_->Reply(201, Backfill(8, "running", 0, 0,
                               R"(,"x":0)"));  // extra members are ignored
  BackfillStartOptions options;
  options.sink = "other \"sink\"";
  options.table = "public.events";
  options.sort_column = "created_at";
  options.start_position = "2026-01-01 \"quoted\"";
  options.format = OutputFormat::kJson;
  auto end = StartBackfill(client_, settings_, options, wait_, out_);
  ASSERT_TRUE(end.ok()) << end.error().message();
  ASSERT_EQ(script_->requests().size(), 1u);
  const http::Request request = script_->requests()[0];
  EXPECT_EQ(request.url, "http://127.0.0.1:7376/api/sinks/other%20%22sink%22/backfills");
  rapidjson::Document body = Json(request.body);
  EXPECT_EQ(std::string(body["table"].GetString()), "public.events");
  EXPECT_EQ(std::string(body["sort_column"].GetString()), "created_at");
  EXPECT_EQ(std::string(body["start_position"].GetString()), "2026-01-01 \"quoted\"");
  EXPECT_EQ(body.MemberCount(), 3u);
  // --json: the API's document as it came.
  EXPECT_EQ(out_.str(), Backfill(8, "running", 0, 0, R"(,"x":0)") + "\n");
}

TEST_F(BackfillCommands, StartPositionWithoutSortColumnIsRefusedBeforeSending) {
  BackfillStartOptions options;
  options.table = "public.orders";
  options.start_position = "5";
  auto end = StartBackfill(client_, settings_, options, wait_, out_);
  ASSERT_FALSE(end.ok());
  EXPECT_EQ(end.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(ExitCodeFor(end.error()), kExitUsage);
  EXPECT_THAT(end.error().message(), HasSubstr("--start-position needs --sort-column"));
  EXPECT_TRUE(script_->requests().empty());
}

TEST_F(BackfillCommands, StartNeedsASinkWhenTheConfigHasSeveral) {
  BackfillStartOptions options;
  options.table = "public.orders";
  auto end = StartBackfill(client_, TwoSinks(), options, wait_, out_);
  ASSERT_FALSE(end.ok());
  EXPECT_THAT(end.error().message(), HasSubstr("--sink is required"));
  EXPECT_TRUE(script_->requests().empty());
}

TEST_F(BackfillCommands, StartRefusedByTheApiKeepsItsMessage) {
  script_->Reply(
      400,
      R"({"error":{"code":"bad_request","message":"public.t has no primary key: give a sort_column to backfill it"}})");
  BackfillStartOptions options;
  options.table = "public.t";
  auto end = StartBackfill(client_, settings_, options, wait_, out_);
  ASSERT_FALSE(end.ok());
  EXPECT_EQ(end.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(end.error().message(),
              HasSubstr("public.t has no primary key: give a sort_column to backfill it"));
  script_->Reply(409,
                 R"({"error":{"code":"conflict","message":"a backfill of public.t is running"}})");
  end = StartBackfill(client_, settings_, options, wait_, out_);
  ASSERT_FALSE(end.ok());
  EXPECT_EQ(end.error().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(ExitCodeFor(end.error()), kExitFailure);
  EXPECT_EQ(out_.str(), "");
}

TEST_F(BackfillCommands, StartWhenSluiceIsNotRunningSaysSo) {
  RefuseConnections();
  BackfillStartOptions options;
  options.table = "public.orders";
  auto end = StartBackfill(client_, settings_, options, wait_, out_);
  ASSERT_FALSE(end.ok());
  EXPECT_EQ(end.error().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(end.error().message(),
            "sluice is not running (no answer at 127.0.0.1:7376): `sluice backfill` needs a "
            "running sluice");
}

TEST_F(BackfillCommands, StartAnswerWithoutABackfillIsAProtocolError) {
  script_->Reply(201, R"({"id":"7"})");
  BackfillStartOptions options;
  options.table = "public.orders";
  auto end = StartBackfill(client_, settings_, options, wait_, out_);
  ASSERT_FALSE(end.ok());
  EXPECT_EQ(end.error().code(), ErrorCode::kProtocol);
}

// --- start --wait ---

TEST_F(BackfillCommands, WaitPollsEverySecondUntilDoneAndDrawsABarInATerminal) {
  script_->Reply(201, Backfill(7, "running", 0, 200000));
  script_->Reply(200, Backfill(7, "running", 96000, 200000));
  script_->Reply(200, Backfill(7, "done", 200113, 200000));
  wait_.style = ProgressStyle::kBar;
  BackfillStartOptions options;
  options.table = "public.orders";
  options.wait = true;
  auto end = StartBackfill(client_, settings_, options, wait_, out_);
  ASSERT_TRUE(end.ok()) << end.error().message();
  EXPECT_EQ(*end, BackfillEnd::kDone);
  const auto requests = Requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[1], "GET http://127.0.0.1:7376/api/sinks/orders-sink/backfills/7");
  EXPECT_EQ(requests[2], requests[1]);
  EXPECT_EQ(sleeps_, std::vector<std::chrono::milliseconds>(2, kBackfillPollInterval));
  const std::string first =
      "public.orders  [..................] 0% 0/200,000 rows  2,130 rows/s  ETA 49s";
  const std::string second =
      "public.orders  [#########.........] 48% 96,000/200,000 rows  2,130 rows/s  ETA 49s";
  const std::string last = "public.orders  [##################] 100% 200,113/200,000 rows  done";
  EXPECT_EQ(progress_.str(), "\r" + first + "\r" + second + "\r" + last +
                                 std::string(second.size() - last.size(), ' ') + "\n");
  EXPECT_EQ(out_.str(), "backfill 7 of public.orders done: 200,113 rows read\n");
}

TEST_F(BackfillCommands, BarRedrawBlanksWhatALongerLineLeft) {
  std::string waiting_json = Backfill(7, "running", 10, 100);
  waiting_json.replace(waiting_json.find(R"("waiting":false)"), 15, R"("waiting":true)");
  script_->Reply(201, waiting_json);
  script_->Reply(200, Backfill(7, "done", 100, 100));
  wait_.style = ProgressStyle::kBar;
  BackfillStartOptions options;
  options.table = "public.orders";
  options.wait = true;
  ASSERT_TRUE(StartBackfill(client_, settings_, options, wait_, out_).ok());
  const std::string waiting =
      "public.orders  [##................] 10% 10/100 rows  2,130 rows/s  waiting: the sink's "
      "backlog is large";
  const std::string done = "public.orders  [##################] 100% 100/100 rows  done";
  EXPECT_EQ(progress_.str(),
            "\r" + waiting + "\r" + done + std::string(waiting.size() - done.size(), ' ') + "\n");
}

TEST_F(BackfillCommands, WaitWithoutATerminalPrintsPlainLinesNowAndThen) {
  script_->Reply(201, Backfill(7, "running", 0, 0));
  for (uint64_t i = 1; i <= 12; ++i) script_->Reply(200, Backfill(7, "running", i * 1000, 0));
  script_->Reply(200, Backfill(7, "done", 12500, 0));
  BackfillStartOptions options;
  options.table = "public.orders";
  options.wait = true;
  auto end = StartBackfill(client_, settings_, options, wait_, out_);
  ASSERT_TRUE(end.ok()) << end.error().message();
  EXPECT_EQ(*end, BackfillEnd::kDone);
  EXPECT_EQ(sleeps_.size(), 13u);
  // The first poll, the tenth after it, and the end; without an estimate no bar.
  EXPECT_EQ(progress_.str(),
            "public.orders  0 rows  2,130 rows/s  ETA 49s\n"
            "public.orders  10,000 rows  2,130 rows/s  ETA 49s\n"
            "public.orders  12,500 rows  done\n");
  EXPECT_EQ(progress_.str().find('\r'), std::string::npos);
}

TEST_F(BackfillCommands, WaitEndsFailedEvenWithoutAReason) {
  script_->Reply(201, Backfill(7, "running", 0, 5000));
  script_->Reply(200, Backfill(7, "failed", 1000, 5000));
  BackfillStartOptions options;
  options.table = "public.orders";
  options.wait = true;
  auto end = StartBackfill(client_, settings_, options, wait_, out_);
  ASSERT_TRUE(end.ok()) << end.error().message();
  EXPECT_EQ(*end, BackfillEnd::kFailed);
  EXPECT_EQ(out_.str(), "backfill 7 of public.orders failed after 1,000 rows\n");
}

TEST_F(BackfillCommands, WaitEndsFailedNamingTheError) {
  std::string failed = Backfill(7, "failed", 1000, 5000);
  failed.replace(failed.find(R"("error":"")"), 10, R"("error":"table public.orders was dropped")");
  script_->Reply(201, failed);
  BackfillStartOptions options;
  options.table = "public.orders";
  options.wait = true;
  options.format = OutputFormat::kJson;
  auto end = StartBackfill(client_, settings_, options, wait_, out_);
  ASSERT_TRUE(end.ok()) << end.error().message();
  EXPECT_EQ(*end, BackfillEnd::kFailed);
  EXPECT_TRUE(sleeps_.empty());  // it was over at once: nothing to poll
  EXPECT_EQ(out_.str(), failed + "\n");
  EXPECT_EQ(progress_.str(), "public.orders  [####..............] 20% 1,000/5,000 rows  failed\n");

  out_.str("");
  options.format = OutputFormat::kTable;
  script_->Reply(201, failed);
  ASSERT_TRUE(StartBackfill(client_, settings_, options, wait_, out_).ok());
  EXPECT_EQ(out_.str(),
            "backfill 7 of public.orders failed after 1,000 rows: table public.orders was "
            "dropped\n");
}

TEST_F(BackfillCommands, WaitEndsCancelled) {
  script_->Reply(201, Backfill(7, "running", 0, 5000));
  script_->Reply(200, Backfill(7, "cancelled", 2000, 5000));
  BackfillStartOptions options;
  options.table = "public.orders";
  options.wait = true;
  auto end = StartBackfill(client_, settings_, options, wait_, out_);
  ASSERT_TRUE(end.ok()) << end.error().message();
  EXPECT_EQ(*end, BackfillEnd::kCancelled);
  EXPECT_EQ(out_.str(), "backfill 7 of public.orders was cancelled after 2,000 rows\n");
}

TEST_F(BackfillCommands, WaitWhenSluiceStopsIsAnErrorAfterTheBarIsEnded) {
  script_->Reply(201, Backfill(7, "running", 0, 5000));
  RefuseConnections();
  wait_.style = ProgressStyle::kBar;
  BackfillStartOptions options;
  options.table = "public.orders";
  options.wait = true;
  auto end = StartBackfill(client_, settings_, options, wait_, out_);
  ASSERT_FALSE(end.ok());
  EXPECT_EQ(end.error().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(progress_.str().back(), '\n');
}

// --- list ---

TEST_F(BackfillCommands, ListShowsProgressRateEtaAndErrors) {
  std::string failed = Backfill(3, "failed", 1000, 0);
  failed.replace(failed.find(R"("error":"")"), 10, R"("error":"table public.orders was dropped")");
  std::string waiting = Backfill(9, "running", 500, 1000);
  waiting.replace(waiting.find(R"("waiting":false)"), 15, R"("waiting":true)");
  script_->Reply(200, R"({"backfills":[)" + Backfill(10, "running", 96000, 200000) + "," + waiting +
                          "," + Backfill(5, "done", 200113, 200000) + "," + failed + "]}");
  ASSERT_TRUE(ListBackfills(client_, settings_, "", OutputFormat::kTable, out_).ok());
  EXPECT_THAT(Requests(),
              testing::ElementsAre("GET http://127.0.0.1:7376/api/sinks/orders-sink/backfills"));
  EXPECT_EQ(
      out_.str(),
      "ID  TABLE          STATE    PROGRESS              RATE     ETA      ERROR\n"
      "10  public.orders  running  96,000/200,000 48%    2,130/s  49s      -\n"
      "9   public.orders  running  500/1,000 50%         2,130/s  waiting  -\n"
      "5   public.orders  done     200,113/200,000 100%  -        -        -\n"
      "3   public.orders  failed   1,000/?               -        -        table public.orders "
      "was dropped\n");
}

TEST_F(BackfillCommands, ListWithoutBackfillsSaysSo) {
  script_->Reply(200, R"({"backfills":[]})");
  ASSERT_TRUE(ListBackfills(client_, settings_, "", OutputFormat::kTable, out_).ok());
  EXPECT_EQ(out_.str(), "no backfills of sink orders-sink\n");
}

TEST_F(BackfillCommands, ListAsJsonIsTheApisDocument) {
  const std::string body = R"({"backfills":[)" + Backfill(10, "running", 1, 2) + "]}";
  script_->Reply(200, body);
  ASSERT_TRUE(ListBackfills(client_, settings_, "orders-sink", OutputFormat::kJson, out_).ok());
  EXPECT_EQ(out_.str(), body + "\n");
}

TEST_F(BackfillCommands, ListWithoutASinkCoversEverySinkThatIsNotDisabled) {
  config::Settings settings = TwoSinks();
  config::SinkSettings disabled;
  disabled.name = "off";
  disabled.status = config::SinkStatus::kDisabled;
  settings.sinks.push_back(disabled);
  std::string other = Backfill(2, "done", 5, 5);
  other.replace(other.find("orders-sink"), 11, "old-sink");
  script_->Reply(200, R"({"backfills":[)" + Backfill(10, "running", 1, 2) + "]}");
  script_->Reply(200, R"({"backfills":[)" + other + "]}");
  ASSERT_TRUE(ListBackfills(client_, settings, "", OutputFormat::kTable, out_).ok());
  EXPECT_THAT(Requests(),
              testing::ElementsAre("GET http://127.0.0.1:7376/api/sinks/orders-sink/backfills",
                                   "GET http://127.0.0.1:7376/api/sinks/old-sink/backfills"));
  EXPECT_EQ(out_.str(),
            "SINK         ID  TABLE          STATE    PROGRESS  RATE     ETA  ERROR\n"
            "orders-sink  10  public.orders  running  1/2 50%   2,130/s  49s  -\n"
            "old-sink     2   public.orders  done     5/5 100%  -        -    -\n");

  // As JSON: one document of them all.
  script_->Reply(200, R"({"backfills":[)" + Backfill(10, "running", 1, 2) + "]}");
  script_->Reply(200, R"({"backfills":[)" + other + "]}");
  out_.str("");
  ASSERT_TRUE(ListBackfills(client_, settings, "", OutputFormat::kJson, out_).ok());
  rapidjson::Document doc = Json(out_.str());
  ASSERT_TRUE(doc["backfills"].IsArray());
  ASSERT_EQ(doc["backfills"].Size(), 2u);
  EXPECT_EQ(std::string(doc["backfills"][1]["sink"].GetString()), "old-sink");
}

TEST_F(BackfillCommands, ListOfAnUnknownSinkIsNotFound) {
  script_->Reply(404, R"({"error":{"code":"not_found","message":"sink \"x\" is not configured"}})");
  auto st = ListBackfills(client_, settings_, "x", OutputFormat::kTable, out_);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), ErrorCode::kNotFound);
  EXPECT_THAT(st.error().message(), HasSubstr("sink \"x\" is not configured"));
}

TEST_F(BackfillCommands, ListWhenSluiceIsNotRunningSaysSo) {
  RefuseConnections();
  auto st = ListBackfills(client_, settings_, "", OutputFormat::kTable, out_);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), ErrorCode::kUnavailable);
  EXPECT_THAT(st.error().message(), HasSubstr("needs a running sluice"));
}

TEST_F(BackfillCommands, ListAnswerWithoutBackfillsIsAProtocolError) {
  script_->Reply(200, R"({"sinks":[]})");
  auto st = ListBackfills(client_, settings_, "", OutputFormat::kTable, out_);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), ErrorCode::kProtocol);
}

TEST_F(BackfillCommands, ListCellsHoldNoControlCharacters) {
  std::string evil = Backfill(1, "failed", 0, 0);
  evil.replace(evil.find(R"("error":"")"), 10, R"("error":"line one\nline two\u001b[2J")");
  script_->Reply(200, R"({"backfills":[)" + evil + "]}");
  ASSERT_TRUE(ListBackfills(client_, settings_, "", OutputFormat::kTable, out_).ok());
  EXPECT_THAT(out_.str(), HasSubstr("line one line two [2J"));
  EXPECT_EQ(out_.str().find('\x1b'), std::string::npos);
}

// --- cancel ---

TEST_F(BackfillCommands, CancelPostsToTheBackfillAndSaysWhatHappens) {
  script_->Reply(200, Backfill(7, "cancelled", 96000, 200000));
  ASSERT_TRUE(CancelBackfill(client_, settings_, "", 7, OutputFormat::kTable, out_).ok());
  EXPECT_THAT(
      Requests(),
      testing::ElementsAre("POST http://127.0.0.1:7376/api/sinks/orders-sink/backfills/7/cancel"));
  EXPECT_EQ(out_.str(),
            "backfill 7 of public.orders (sink orders-sink) is cancelled after 96,000 rows: no "
            "new page is read; rows already read are still delivered\n");
}

TEST_F(BackfillCommands, CancelOfAFinishedBackfillSaysNothingChanged) {
  script_->Reply(200, Backfill(5, "done", 10, 10));
  ASSERT_TRUE(
      CancelBackfill(client_, settings_, "orders-sink", 5, OutputFormat::kTable, out_).ok());
  EXPECT_EQ(out_.str(),
            "backfill 5 of public.orders (sink orders-sink) had finished already (done); nothing "
            "to cancel\n");
}

TEST_F(BackfillCommands, CancelOfAnUnknownIdIsNotFound) {
  script_->Reply(
      404, R"({"error":{"code":"not_found","message":"sink \"orders-sink\" has no backfill 8"}})");
  auto st = CancelBackfill(client_, settings_, "", 8, OutputFormat::kTable, out_);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(ExitCodeFor(st.error()), kExitFailure);
  EXPECT_THAT(st.error().message(), HasSubstr("has no backfill 8"));
}

TEST_F(BackfillCommands, CancelAsJsonIsTheApisDocument) {
  script_->Reply(200, Backfill(7, "cancelled", 1, 2));
  ASSERT_TRUE(CancelBackfill(client_, settings_, "", 7, OutputFormat::kJson, out_).ok());
  EXPECT_EQ(out_.str(), Backfill(7, "cancelled", 1, 2) + "\n");
}

// --- the progress line ---

TEST(BackfillProgressLine, ShowsBarPercentRowsRateAndEta) {
  rapidjson::Document b = Json(Backfill(7, "running", 96000, 200000));
  EXPECT_EQ(BackfillProgressLine(b),
            "public.orders  [#########.........] 48% 96,000/200,000 rows  2,130 rows/s  ETA 49s");
}

TEST(BackfillProgressLine, CapsAtAFullBarWhenTheEstimateWasLow) {
  rapidjson::Document b = Json(Backfill(7, "running", 250000, 200000));
  EXPECT_THAT(BackfillProgressLine(b), HasSubstr("[##################] 100% 250,000/200,000"));
}

TEST(BackfillProgressLine, OmitsEtaWithoutOne) {
  std::string text = Backfill(7, "running", 0, 10);
  text.replace(text.find("49.2"), 4, "null");
  EXPECT_EQ(BackfillProgressLine(Json(text)),
            "public.orders  [..................] 0% 0/10 rows  2,130 rows/s");
}

TEST(Thousands, GroupsDigitsByThree) {
  EXPECT_EQ(Thousands(0), "0");
  EXPECT_EQ(Thousands(999), "999");
  EXPECT_EQ(Thousands(1000), "1,000");
  EXPECT_EQ(Thousands(200113), "200,113");
  EXPECT_EQ(Thousands(18446744073709551615u), "18,446,744,073,709,551,615");
}

}  // namespace
}  // namespace sluice::app
