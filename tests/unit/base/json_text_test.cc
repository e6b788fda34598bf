#include "base/json_text.h"

#include <gtest/gtest.h>

namespace sluice {
namespace {

std::string Json(std::string_view text) {
  std::string out;
  AppendJsonString(text, &out);
  return out;
}

TEST(AppendJsonString, CopiesPlainTextInQuotes) {
  EXPECT_EQ(Json(""), "\"\"");
  EXPECT_EQ(Json("orders"), "\"orders\"");
}

TEST(AppendJsonString, EscapesQuotesBackslashesAndControls) {
  EXPECT_EQ(Json("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(Json("\n\t\r\b\f"), "\"\\n\\t\\r\\b\\f\"");
  EXPECT_EQ(Json(std::string_view("\x01\x1f\0", 3)), "\"\\u0001\\u001f\\u0000\"");
}

TEST(AppendJsonString, KeepsWellFormedUtf8) {
  EXPECT_EQ(Json("\xC3\xA9\xE6\x97\xA5\xF0\x9F\x98\x80"),
            "\"\xC3\xA9\xE6\x97\xA5\xF0\x9F\x98\x80\"");
}

TEST(AppendJsonString, ReplacesEachIllFormedByteWithReplacementCharacter) {
  EXPECT_EQ(Json("a\xFF"
                 "b"),
            "\"a\xEF\xBF\xBD"
            "b\"");
  EXPECT_EQ(Json("\xC3"), "\"\xEF\xBF\xBD\"") << "truncated sequence";
  EXPECT_EQ(Json("\xC0\xAF"), "\"\xEF\xBF\xBD\xEF\xBF\xBD\"") << "overlong";
  EXPECT_EQ(Json("\xED\xA0\x80"), "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"") << "surrogate";
}

TEST(IsValidUtf8, AcceptsWellFormedAndRejectsIllFormed) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain \xC3\xA9 \xF0\x9F\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("\xFF"));
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80")) << "above U+10FFFF";
  EXPECT_FALSE(IsValidUtf8("\xE2\x82")) << "truncated";
}

}  // namespace
}  // namespace sluice
