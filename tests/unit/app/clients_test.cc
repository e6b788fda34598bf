#include "app/clients.h"

#include <gtest/gtest.h>

#include <fstream>

#include "support/fake_clock.h"
#include "support/guarded_transport.h"
#include "support/temp_dir.h"

namespace sluice::app {
namespace {

config::SinkSettings PlainSink() {
  config::SinkSettings s;
  s.name = "orders";
  s.destination.access_key_id = "AKIDEXAMPLE";
  return s;
}

TEST(CheckSinkSupported, PlainSinkIsSupported) {
  EXPECT_TRUE(CheckSinkSupported(PlainSink()).ok());
}

TEST(CheckSinkSupported, SinksWithFunctionsAreSupported) {
  for (auto field : {&config::SinkSettings::filter, &config::SinkSettings::transform,
                     &config::SinkSettings::routing}) {
    auto sink = PlainSink();
    sink.*field = "my-fn";
    EXPECT_TRUE(CheckSinkSupported(sink).ok());
  }
}

TEST(CheckSinkSupported, TaskRoleIsSupported) {
  auto sink = PlainSink();
  sink.destination.access_key_id.clear();
  sink.destination.use_task_role = true;
  EXPECT_TRUE(CheckSinkSupported(sink).ok());
}

TEST(MakeSinkCredentials, TaskRoleBuildsTheCredentialChain) {
  auto sink = PlainSink();
  sink.destination.access_key_id.clear();
  sink.destination.use_task_role = true;
  auto credentials = MakeSinkCredentials(sink, SystemClock::Instance());
  ASSERT_NE(credentials, nullptr);
  EXPECT_EQ(credentials->Name(), "AWS credential chain");
  EXPECT_TRUE(MakeSinkClient(sink, SystemClock::Instance()).ok());
}

// With use_task_role and web identity configured, STS is asked at the
// regional endpoint of the stream ARN's region and partition (not
// AWS_REGION's, and never the global endpoint). Scripted: nothing is sent.
TEST(MakeSinkCredentials, TaskRoleAsksStsInTheStreamArnsRegion) {
  for (const auto& [arn, sts_url] : std::vector<std::pair<std::string, std::string>>{
           {"arn:aws:kinesis:eu-west-1:123456789012:stream/orders",
            "https://sts.eu-west-1.amazonaws.com/"},
           {"arn:aws-cn:kinesis:cn-north-1:123456789012:stream/orders",
            "https://sts.cn-north-1.amazonaws.com.cn/"}}) {
    SCOPED_TRACE(arn);
    testing_support::TempDir dir;
    std::ofstream(dir.path() / "token") << "web-identity-token";
    auto sink = PlainSink();
    sink.destination.access_key_id.clear();
    sink.destination.use_task_role = true;
    std::string why;
    auto stream = config::StreamArn::Parse(arn, &why);
    ASSERT_TRUE(stream.has_value()) << why;
    sink.destination.stream = *stream;
    auto script = std::make_shared<testing_support::HttpScript>();
    testing_support::FakeClock clock;
    auto credentials = MakeSinkCredentials(
        sink,
        config::Environment::FromMap(
            {{"HOME", dir.path().string()},
             {"AWS_REGION", "us-east-1"},
             {"AWS_EC2_METADATA_DISABLED", "true"},
             {"AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/sluice"},
             {"AWS_WEB_IDENTITY_TOKEN_FILE", (dir.path() / "token").string()}}),
        [script]() -> std::unique_ptr<http::Transport> {
          return std::make_unique<testing_support::ScriptedTransport>(script);
        },
        clock);
    EXPECT_FALSE(credentials->Get().ok());  // unscripted: no answer
    const auto requests = script->requests();
    ASSERT_EQ(requests.size(), 1u);
    EXPECT_EQ(requests[0].url, sts_url);
  }
}

TEST(MakeSinkCredentials, StaticKeysAreUsedAsGiven) {
  auto sink = PlainSink();
  sink.destination.secret_access_key = Secret("s");
  auto credentials = MakeSinkCredentials(sink, SystemClock::Instance());
  EXPECT_EQ(credentials->Name(), "static keys");
  auto keys = credentials->Get();
  ASSERT_TRUE(keys.ok());
  EXPECT_EQ(keys->access_key_id, "AKIDEXAMPLE");
  EXPECT_EQ(keys->secret_access_key.Reveal(), "s");
}

}  // namespace
}  // namespace sluice::app
