#include "api/params.h"

#include <gtest/gtest.h>

namespace sluice::api {
namespace {

TEST(SplitPath, DecodesEachSegment) {
  auto segments = SplitPath("/api/sinks/a%2Fb/x%20y");
  ASSERT_TRUE(segments.ok());
  EXPECT_EQ(*segments, (std::vector<std::string>{"api", "sinks", "a/b", "x y"}));
}

TEST(SplitPath, KeepsEmptySegments) {
  auto segments = SplitPath("/a//b/");
  ASSERT_TRUE(segments.ok());
  EXPECT_EQ(*segments, (std::vector<std::string>{"a", "", "b", ""}));
}

TEST(SplitPath, PlusStaysPlus) {
  auto segments = SplitPath("/a+b");
  ASSERT_TRUE(segments.ok());
  EXPECT_EQ(*segments, (std::vector<std::string>{"a+b"}));
}

TEST(SplitPath, RejectsBrokenEscapes) {
  for (const char* path : {"/a%", "/a%2", "/a%zz", "/a%2g/b"}) {
    SCOPED_TRACE(path);
    auto segments = SplitPath(path);
    ASSERT_FALSE(segments.ok());
    EXPECT_EQ(segments.error().code(), ErrorCode::kInvalidArgument);
  }
}

TEST(ParseMessageId, AcceptsUnsigned64BitDecimals) {
  EXPECT_EQ(*ParseMessageId("0"), 0u);
  EXPECT_EQ(*ParseMessageId("1042"), 1042u);
  EXPECT_EQ(*ParseMessageId("18446744073709551615"), UINT64_MAX);
}

TEST(ParseMessageId, RejectsAnythingElse) {
  for (const char* text : {"", "abc", "-1", "+1", " 1", "1 ", "1.5", "1e3", "0x10",
                           "18446744073709551616", "99999999999999999999999"}) {
    SCOPED_TRACE(text);
    auto id = ParseMessageId(text);
    ASSERT_FALSE(id.ok());
    EXPECT_EQ(id.error().message(), "message id must be an unsigned 64-bit decimal integer, got " +
                                        QuoteForMessage(text));
  }
}

TEST(ParseLimit, DefaultsAndBounds) {
  EXPECT_EQ(*ParseLimit(""), 50u);
  EXPECT_EQ(*ParseLimit("1"), 1u);
  EXPECT_EQ(*ParseLimit("1000"), 1000u);
  for (const char* text : {"0", "1001", "-5", "abc", "5 "}) {
    SCOPED_TRACE(text);
    EXPECT_FALSE(ParseLimit(text).ok());
  }
  EXPECT_EQ(ParseLimit("0").error().message(),
            "limit must be an integer from 1 to 1000, got \"0\"");
}

TEST(ParseStateParam, NamesEveryState) {
  EXPECT_FALSE(ParseStateParam("")->has_value());
  EXPECT_EQ(**ParseStateParam("in_flight"), MessageState::kInFlight);
  EXPECT_EQ(**ParseStateParam("delivered"), MessageState::kDelivered);
  EXPECT_FALSE(ParseStateParam("all").ok());
}

TEST(ParseCursor, TakesPrintableAsciiUpToTheLimit) {
  EXPECT_EQ(*ParseCursor("1042"), "1042");
  EXPECT_TRUE(ParseCursor(std::string(kMaxCursorBytes, 'a')).ok());
  EXPECT_FALSE(ParseCursor(std::string(kMaxCursorBytes + 1, 'a')).ok());
  EXPECT_FALSE(ParseCursor("a b").ok());
  EXPECT_FALSE(ParseCursor("a\nb").ok());
}

TEST(ParseBulkBody, FailedForBothAllForDiscardOnly) {
  EXPECT_EQ(*ParseBulkBody(BulkAction::kRedeliver, R"({"state":"failed"})"), Selection::kFailed);
  EXPECT_EQ(*ParseBulkBody(BulkAction::kDiscard, R"({"state":"failed"})"), Selection::kFailed);
  EXPECT_EQ(*ParseBulkBody(BulkAction::kDiscard, R"({"state":"all"})"), Selection::kAll);
  auto all = ParseBulkBody(BulkAction::kRedeliver, R"({"state":"all"})");
  ASSERT_FALSE(all.ok());
  EXPECT_EQ(all.error().message(), R"(state must be "failed" for redeliver, got "all")");
}

TEST(ParseBulkBody, EmptyBodySaysWhatIsNeeded) {
  auto empty = ParseBulkBody(BulkAction::kDiscard, "");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().message(),
            R"(the body must be the JSON object {"state": "failed"} or {"state": "all"})");
}

TEST(ParseBulkBody, InvalidJsonSaysWhere) {
  auto bad = ParseBulkBody(BulkAction::kDiscard, R"({"state":)");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message().rfind("the body is not valid JSON: ", 0), 0u)
      << bad.error().message();
}

TEST(ParseBulkBody, RejectsDuplicateAndExtraMembers) {
  EXPECT_FALSE(ParseBulkBody(BulkAction::kDiscard, R"({"state":"failed","state":"all"})").ok());
  EXPECT_FALSE(ParseBulkBody(BulkAction::kDiscard, R"({"state":"failed","dry_run":true})").ok());
}

TEST(QuoteForMessage, EscapesAndCuts) {
  EXPECT_EQ(QuoteForMessage("a\"b\\c\n"), R"("a\"b\\c\x0a")");
  EXPECT_EQ(QuoteForMessage(std::string(100, 'x')), "\"" + std::string(64, 'x') + "...\"");
}

TEST(ParseBackfillId, AcceptsUnsignedDecimalsAndNamesTheParameter) {
  EXPECT_EQ(*ParseBackfillId("7"), 7u);
  auto bad = ParseBackfillId("x7");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(bad.error().message(),
            "backfill id must be an unsigned 64-bit decimal integer, got \"x7\"");
}

TEST(ParseBackfillBody, ReadsEveryMember) {
  auto request = ParseBackfillBody(
      R"({"table": "public.events", "sort_column": "created_at", "start_position": "2026-01-01"})");
  ASSERT_TRUE(request.ok()) << request.error().message();
  EXPECT_EQ(request->table, "public.events");
  EXPECT_EQ(request->sort_column, "created_at");
  EXPECT_EQ(request->start_position, "2026-01-01");
}

TEST(ParseBackfillBody, EmptyOrNullOptionalMembersAreAbsent) {
  auto request =
      ParseBackfillBody(R"({"table":"public.a","sort_column":"id","start_position":""})");
  ASSERT_TRUE(request.ok()) << request.error().message();
  EXPECT_EQ(request->sort_column, "id");
  EXPECT_FALSE(request->start_position.has_value());
  request = ParseBackfillBody(R"({"start_position":null,"table":"public.a"})");
  ASSERT_TRUE(request.ok()) << request.error().message();
  EXPECT_EQ(request->sort_column, "");
}

TEST(ParseBackfillBody, RejectsWhatIsNotABackfill) {
  for (const char* body :
       {"", "  ", "null", "\"public.a\"", "[{\"table\":\"public.a\"}]", R"({"table":null})",
        R"({"table":["public.a"]})", R"({"table":"public.a","sort_column":1})",
        R"({"table":"public.a","extra":true})", R"({"table":"public.a"} x)", R"({"table":".a"})",
        R"({"table":"a."})"}) {
    SCOPED_TRACE(body);
    auto request = ParseBackfillBody(body);
    ASSERT_FALSE(request.ok());
    EXPECT_EQ(request.error().code(), ErrorCode::kInvalidArgument);
  }
}

TEST(ParseBackfillBody, QuotesUnknownMemberNamesSafely) {
  auto request = ParseBackfillBody("{\"table\":\"public.a\",\"x\\n\\\"y\":1}");
  ASSERT_FALSE(request.ok());
  EXPECT_EQ(request.error().message(),
            "unknown member \"x\\x0a\\\"y\" (a backfill takes table, sort_column and "
            "start_position)");
}

TEST(IsLoopbackHost, NamesThisMachineOnlyByLoopbackNamesAndAddresses) {
  for (const char* host : {"localhost", "[::1]", "127.0.0.1", "127.255.0.9"}) {
    EXPECT_TRUE(IsLoopbackHost(host)) << host;
  }
  for (const char* host : {"", "127.evil.example", "127.0.0.1.evil.example", "128.0.0.1",
                           "localhost.evil.example", "[::2]", "0.0.0.0", "10.0.0.1"}) {
    EXPECT_FALSE(IsLoopbackHost(host)) << host;
  }
}

}  // namespace
}  // namespace sluice::api
