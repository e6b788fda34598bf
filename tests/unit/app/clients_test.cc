#include "app/clients.h"

#include <gtest/gtest.h>

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
