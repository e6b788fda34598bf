#include <gtest/gtest.h>

#include "functions/runtime.h"

namespace sluice::functions {
namespace {

constexpr std::string_view kMessage =
    R"({"record":{"id":7,"total":12345678901234567890.1234567890,"nested":{"a":{"b":[1,{"c":2}]}},)"
    R"("name":"zoë"},"changes":null,"action":"update",)"
    R"("metadata":{"table_name":"orders","consumer":{"name":"s"}}})";

TEST(ApplyPath, ExtractsRecordWithExactDigits) {
  auto r = ApplyPath("record", kMessage);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(*r,
            R"({"id":7,"total":12345678901234567890.1234567890,"nested":{"a":{"b":[1,{"c":2}]}},)"
            R"("name":"zoë"})");
}

TEST(ApplyPath, ExtractsColumnsAndNestedFields) {
  EXPECT_EQ(*ApplyPath("record.id", kMessage), "7");
  EXPECT_EQ(*ApplyPath("record.total", kMessage), "12345678901234567890.1234567890");
  EXPECT_EQ(*ApplyPath("record.nested.a", kMessage), R"({"b":[1,{"c":2}]})");
  EXPECT_EQ(*ApplyPath("action", kMessage), R"("update")");
  EXPECT_EQ(*ApplyPath("changes", kMessage), "null");
  EXPECT_EQ(*ApplyPath("metadata.consumer.name", kMessage), R"("s")");
  EXPECT_EQ(*ApplyPath("metadata.table_name", kMessage), R"("orders")");
}

TEST(ApplyPath, MissingKeyIsNull) {
  EXPECT_EQ(*ApplyPath("record.missing", kMessage), "null");
  EXPECT_EQ(*ApplyPath("record.id.deeper", kMessage), "null");
  // "c" exists only inside an array, which paths do not enter.
  EXPECT_EQ(*ApplyPath("record.nested.a.c", kMessage), "null");
  // A key of the same name at another level does not match.
  EXPECT_EQ(*ApplyPath("metadata.name", kMessage), "null");
}

TEST(ApplyPath, RejectsBadPaths) {
  EXPECT_FALSE(ApplyPath("", kMessage).ok());
  EXPECT_FALSE(ApplyPath("row.id", kMessage).ok());
  auto r = ApplyPath("record..id", kMessage);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("empty segment"), std::string::npos);
}

TEST(ApplyPath, RejectsMalformedMessage) {
  EXPECT_FALSE(ApplyPath("record", R"({"record": {"id": )").ok());
}

}  // namespace
}  // namespace sluice::functions
