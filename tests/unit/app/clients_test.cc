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

TEST(CheckSinkSupported, TaskRoleIsRefusedWithTheKeyNamed) {
  auto sink = PlainSink();
  sink.destination.use_task_role = true;
  auto st = CheckSinkSupported(sink);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("destination.use_task_role"), std::string::npos);
}

}  // namespace
}  // namespace sluice::app
