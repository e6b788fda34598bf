#include "sink/kinesis/put_records.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <string>

#include "base/encoding.h"
#include "base/json_text.h"
#include "sink/kinesis/limits.h"

namespace sluice::kinesis {
namespace {

config::StreamArn Orders() {
  config::StreamArn arn;
  arn.arn = "arn:aws:kinesis:us-east-1:123456789012:stream/orders";
  arn.partition = "aws";
  arn.region = "us-east-1";
  arn.account = "123456789012";
  arn.stream_name = "orders";
  return arn;
}

std::string Escaped(std::string_view text) {
  std::string out;
  AppendJsonString(text, &out);
  return out;
}

TEST(PutRecordsBuilder, WritesExactBodyWithStreamNameArnAndBase64Data) {
  PutRecordsBuilder builder(Orders());
  builder.Add("hi", "k1");
  builder.Add(std::string("\x00\xff\x10", 3), "account:42");
  EXPECT_EQ(builder.record_count(), 2u);
  EXPECT_EQ(
      builder.Finish(),
      R"({"StreamName":"orders","StreamARN":"arn:aws:kinesis:us-east-1:123456789012:stream/orders",)"
      R"("Records":[{"Data":"aGk=","PartitionKey":"k1"},{"Data":"AP8Q","PartitionKey":"account:42"}]})");
}

TEST(PutRecordsBuilder, ReserveLeavesTheBodyUnchanged) {
  PutRecordsBuilder plain(Orders());
  PutRecordsBuilder reserved(Orders());
  reserved.Reserve(500, std::string(2000, 'x'), "key");
  for (PutRecordsBuilder* b : {&plain, &reserved}) {
    b->Add("hi", "k1");
    b->Add(std::string(3000, 'y'), "account:42");
  }
  reserved.Reserve(kMaxRecordsPerPutRecords, std::string(1 << 20, 'z'), "big");  // capped
  EXPECT_EQ(reserved.record_count(), 2u);
  EXPECT_EQ(reserved.Finish(), plain.Finish());
}

TEST(PutRecordsBuilder, EmptyBuilderFinishesWithEmptyRecordsArray) {
  PutRecordsBuilder builder(Orders());
  EXPECT_EQ(
      builder.Finish(),
      R"({"StreamName":"orders","StreamARN":"arn:aws:kinesis:us-east-1:123456789012:stream/orders","Records":[]})");
}

TEST(PutRecordsBuilder, PayloadBytesCountDataAndKeyBeforeBase64) {
  PutRecordsBuilder builder(Orders());
  builder.Add(std::string(100, 'x'), "key");
  builder.Add("", "é");  // two UTF-8 bytes
  EXPECT_EQ(builder.payload_bytes(), 100u + 3u + 0u + 2u);
  EXPECT_EQ(PutRecordsBuilder::RecordBytes("abcd", "ef"), 6u);
}

TEST(PutRecordsBuilder, FitsStopsAtMaxRecordCount) {
  PutRecordsBuilder builder(Orders());
  for (size_t i = 0; i < kMaxRecordsPerPutRecords; ++i) {
    ASSERT_TRUE(builder.Fits(2)) << "record " << i;
    builder.Add("x", "k");
  }
  EXPECT_FALSE(builder.Fits(2));
  EXPECT_FALSE(builder.Fits(0));
}

TEST(PutRecordsBuilder, FitsStopsAtRequestByteLimit) {
  PutRecordsBuilder builder(Orders());
  const std::string big(kMaxPutRecordsRequestBytes - 10, 'a');
  ASSERT_TRUE(builder.Fits(PutRecordsBuilder::RecordBytes(big, "k")));
  builder.Add(big, "k");
  EXPECT_TRUE(builder.Fits(9));
  EXPECT_FALSE(builder.Fits(10));
  builder.Add("12345678", "k");  // exactly at the limit now
  EXPECT_EQ(builder.payload_bytes(), kMaxPutRecordsRequestBytes);
  EXPECT_TRUE(builder.Fits(0));
  EXPECT_FALSE(builder.Fits(1));
}

TEST(PutRecordsBuilder, RecordLargerThanRequestLimitNeverFits) {
  PutRecordsBuilder builder(Orders());
  EXPECT_FALSE(builder.Fits(kMaxPutRecordsRequestBytes + 1));
  EXPECT_TRUE(builder.Fits(kMaxPutRecordsRequestBytes));
}

TEST(PutRecordsBuilder, BinaryDataRoundTripsThroughBase64) {
  std::string data;
  for (int i = 0; i < 256; ++i) data.push_back(static_cast<char>(i));
  PutRecordsBuilder builder(Orders());
  builder.Add(data, "k");
  const std::string body = builder.Finish();
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  ASSERT_FALSE(doc.HasParseError());
  const auto decoded = Base64Decode(doc["Records"][0]["Data"].GetString());
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(*decoded, data);
}

TEST(JsonString, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(Escaped("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(Escaped("\n\r\t\b\f"), R"("\n\r\t\b\f")");
  EXPECT_EQ(Escaped(std::string("\x00\x01\x1f", 3)), R"("\u0000\u0001\u001f")");
  EXPECT_EQ(Escaped("\x7f/"), "\"\x7f/\"");  // DEL and '/' need no escape
}

TEST(JsonString, KeepsValidUtf8AsIs) { EXPECT_EQ(Escaped("é€😀中"), "\"é€😀中\""); }

TEST(JsonString, ReplacesInvalidUtf8WithReplacementCharacter) {
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(Escaped("a\xff"
                    "b"),
            "\"a" + fffd + "b\"");
  EXPECT_EQ(Escaped("\xC0\xAF"), "\"" + fffd + fffd + "\"");             // overlong '/'
  EXPECT_EQ(Escaped("\xED\xA0\x80"), "\"" + fffd + fffd + fffd + "\"");  // surrogate
  EXPECT_EQ(Escaped("\xE2\x82"), "\"" + fffd + fffd + "\"");             // truncated '€'
  EXPECT_EQ(Escaped("\xF4\x90\x80\x80"), "\"" + fffd + fffd + fffd + fffd + "\"");  // > U+10FFFF
}

TEST(PutRecordsBuilder, PartitionKeyWithAnyCharactersParsesBackExactly) {
  const std::string key = "id:\"1\"\\\n\x01\x1f\ttab é 😀";
  PutRecordsBuilder builder(Orders());
  builder.Add("{}", key);
  const std::string body = builder.Finish();
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  ASSERT_FALSE(doc.HasParseError()) << body;
  const auto& pk = doc["Records"][0]["PartitionKey"];
  EXPECT_EQ(std::string(pk.GetString(), pk.GetStringLength()), key);
  EXPECT_STREQ(doc["StreamName"].GetString(), "orders");
}

}  // namespace
}  // namespace sluice::kinesis
