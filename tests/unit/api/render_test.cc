#include "api/render.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <chrono>
#include <limits>

namespace sluice::api {
namespace {

WallTime At(int64_t ms) { return WallTime(std::chrono::milliseconds(ms)); }

TEST(FormatTime, Rfc3339UtcWithMilliseconds) {
  EXPECT_EQ(FormatTime(At(0)), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatTime(At(1795773600123)), "2026-11-27T10:00:00.123Z");
  EXPECT_EQ(FormatTime(At(-1)), "1969-12-31T23:59:59.999Z");
}

TEST(FormatTime, DropsSubMillisecondDigits) {
  EXPECT_EQ(FormatTime(At(5) + std::chrono::microseconds(999)), "1970-01-01T00:00:00.005Z");
}

TEST(ErrorJson, IsTheErrorShape) {
  EXPECT_EQ(ErrorJson("not_found", "sink \"x\" is not configured"),
            R"({"error":{"code":"not_found","message":"sink \"x\" is not configured"}})");
}

TEST(Render, IllFormedUtf8StillGivesValidJson) {
  MessagePage page;
  MessageSummary m;
  m.last_error = std::string("bad \xff\xfe bytes\x01");
  page.messages.push_back(m);
  const std::string json = MessagePageJson(page);
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseValidateEncodingFlag>(json.c_str());
  ASSERT_FALSE(doc.HasParseError()) << json;
  EXPECT_EQ(std::string(doc["messages"][0]["last_error"].GetString()),
            "bad \xEF\xBF\xBD\xEF\xBF\xBD bytes\x01");
}

TEST(Render, NonFiniteRateIsZero) {
  SinkSummary s;
  s.delivered_per_second = std::numeric_limits<double>::quiet_NaN();
  rapidjson::Document doc;
  doc.Parse(SinkJson(s).c_str());
  ASSERT_FALSE(doc.HasParseError());
  EXPECT_EQ(doc["delivered_per_second"].GetDouble(), 0.0);
}

TEST(Render, MessageDetailRefusesPayloadThatIsNotJson) {
  MessageDetail detail;
  detail.change_json = R"({"a":1})";
  detail.payload_json = "{oops";
  auto json = MessageDetailJson(detail);
  ASSERT_FALSE(json.ok());
  EXPECT_EQ(json.error().code(), ErrorCode::kInternal);
}

TEST(Render, MessageDetailEmbedsScalarPayloadData) {
  MessageDetail detail;
  detail.change_json = R"({"a":1})";
  detail.payload_json = R"("just a string")";
  auto json = MessageDetailJson(detail);
  ASSERT_TRUE(json.ok());
  rapidjson::Document doc;
  doc.Parse(json->c_str());
  ASSERT_FALSE(doc.HasParseError()) << *json;
  EXPECT_EQ(std::string(doc["payload"]["data"].GetString()), "just a string");
}

TEST(Render, BackfillWithoutOptionalValuesHasNulls) {
  BackfillInfo b;
  b.id = 1;
  b.sink = "s";
  b.table = "public.t";
  b.origin = "api";
  b.state = BackfillState::kDone;
  b.rows_per_second = std::numeric_limits<double>::infinity();
  b.eta_seconds = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(BackfillJson(b),
            R"({"id":1,"sink":"s","table":"public.t","sort_column":"","start_position":null,)"
            R"("origin":"api","state":"done","rows_done":0,"rows_estimate":0,)"
            R"("rows_per_second":0.0,"eta_seconds":null,"page_size":0,"waiting":false,)"
            R"("started_at":null,"finished_at":null,"error":""})");
}

TEST(Render, BackfillStatesHaveTheirNames) {
  std::vector<BackfillInfo> list(4);
  list[1].state = BackfillState::kDone;
  list[2].state = BackfillState::kCancelled;
  list[3].state = BackfillState::kFailed;
  rapidjson::Document doc;
  doc.Parse(BackfillsJson(list).c_str());
  ASSERT_FALSE(doc.HasParseError());
  const char* names[] = {"running", "done", "cancelled", "failed"};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(
        std::string(doc["backfills"][static_cast<rapidjson::SizeType>(i)]["state"].GetString()),
        names[i]);
  }
}

TEST(Render, ReadinessListsReasons) {
  EXPECT_EQ(ReadinessJson({false, {"database main: connecting"}}),
            R"({"status":"not_ready","reasons":["database main: connecting"]})");
}

}  // namespace
}  // namespace sluice::api
