#include <gtest/gtest.h>

#include <string>

#include "config/settings.h"

namespace sluice::config {
namespace {

std::string WhyRejected(const std::string& text) {
  std::string why;
  auto arn = StreamArn::Parse(text, &why);
  EXPECT_FALSE(arn.has_value()) << text;
  return why;
}

TEST(StreamArn, ParsesCommercialPartition) {
  std::string why;
  auto arn = StreamArn::Parse("arn:aws:kinesis:us-east-1:123456789012:stream/my-stream", &why);
  ASSERT_TRUE(arn.has_value()) << why;
  EXPECT_EQ(arn->arn, "arn:aws:kinesis:us-east-1:123456789012:stream/my-stream");
  EXPECT_EQ(arn->partition, "aws");
  EXPECT_EQ(arn->region, "us-east-1");
  EXPECT_EQ(arn->account, "123456789012");
  EXPECT_EQ(arn->stream_name, "my-stream");
}

TEST(StreamArn, ParsesOtherPartitions) {
  for (const char* text : {"arn:aws-cn:kinesis:cn-north-1:123456789012:stream/a",
                           "arn:aws-us-gov:kinesis:us-gov-west-1:123456789012:stream/a",
                           "arn:aws-iso:kinesis:us-iso-east-1:123456789012:stream/a",
                           "arn:aws-iso-b:kinesis:us-isob-east-1:123456789012:stream/a"}) {
    std::string why;
    EXPECT_TRUE(StreamArn::Parse(text, &why).has_value()) << text << ": " << why;
  }
}

TEST(StreamArn, AcceptsEveryAllowedNameCharacterAnd128Characters) {
  std::string name = "Az09_.-" + std::string(121, 'x');
  ASSERT_EQ(name.size(), 128u);
  auto arn = StreamArn::Parse("arn:aws:kinesis:eu-west-2:123456789012:stream/" + name, nullptr);
  ASSERT_TRUE(arn.has_value());
  EXPECT_EQ(arn->stream_name, name);
}

TEST(StreamArn, RejectsOtherServices) {
  EXPECT_EQ(WhyRejected("arn:aws:s3:us-east-1:123456789012:stream/a"),
            "not a Kinesis ARN: service is \"s3\", expected \"kinesis\"");
}

TEST(StreamArn, RejectsUnknownPartition) {
  EXPECT_NE(WhyRejected("arn:azure:kinesis:us-east-1:123456789012:stream/a")
                .find("unknown partition \"azure\""),
            std::string::npos);
}

TEST(StreamArn, RejectsAccountThatIsNotTwelveDigits) {
  EXPECT_EQ(WhyRejected("arn:aws:kinesis:us-east-1:12345678901:stream/a"),
            "account \"12345678901\" must be exactly 12 digits");
  EXPECT_FALSE(StreamArn::Parse("arn:aws:kinesis:us-east-1:12345678901x:stream/a", nullptr));
}

TEST(StreamArn, RejectsBadRegion) {
  EXPECT_NE(WhyRejected("arn:aws:kinesis:useast1:123456789012:stream/a").find("region"),
            std::string::npos);
  EXPECT_FALSE(StreamArn::Parse("arn:aws:kinesis::123456789012:stream/a", nullptr));
  EXPECT_FALSE(StreamArn::Parse("arn:aws:kinesis:us-east-:123456789012:stream/a", nullptr));
}

TEST(StreamArn, RejectsBadStreamNames) {
  EXPECT_EQ(WhyRejected("arn:aws:kinesis:us-east-1:123456789012:stream/" + std::string(129, 'a')),
            "stream name must be 1 to 128 characters, got 129");
  EXPECT_EQ(WhyRejected("arn:aws:kinesis:us-east-1:123456789012:stream/"),
            "stream name must be 1 to 128 characters, got 0");
  EXPECT_NE(WhyRejected("arn:aws:kinesis:us-east-1:123456789012:stream/a b").find("stream name"),
            std::string::npos);
  EXPECT_NE(WhyRejected("arn:aws:kinesis:us-east-1:123456789012:stream/a:b").find("stream name"),
            std::string::npos);
}

TEST(StreamArn, RejectsOtherResourcesAndShapes) {
  EXPECT_NE(WhyRejected("arn:aws:kinesis:us-east-1:123456789012:consumer/a").find("stream/<name>"),
            std::string::npos);
  EXPECT_NE(WhyRejected("my-stream").find("not a Kinesis stream ARN"), std::string::npos);
  EXPECT_NE(WhyRejected("urn:aws:kinesis:us-east-1:123456789012:stream/a").find("arn:"),
            std::string::npos);
  EXPECT_FALSE(StreamArn::Parse("", nullptr));
}

}  // namespace
}  // namespace sluice::config
