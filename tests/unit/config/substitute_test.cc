#include "config/substitute.h"

#include <gtest/gtest.h>

namespace sluice::config {
namespace {

const Environment kEnv =
    Environment::FromMap({{"USER", "alice"}, {"EMPTY", ""}, {"NESTED", "${USER}"}});

std::string Substituted(const std::string& text) {
  auto result = SubstituteVariables(text, kEnv);
  EXPECT_TRUE(result.ok()) << result.error().message();
  return result.ok() ? result.value() : "";
}

TEST(SubstituteVariables, ReplacesSetVariables) {
  EXPECT_EQ(Substituted("${USER}"), "alice");
  EXPECT_EQ(Substituted("user=${USER};again=${USER}"), "user=alice;again=alice");
}

TEST(SubstituteVariables, UsesDefaultWhenUnsetOrEmpty) {
  EXPECT_EQ(Substituted("${MISSING:-fallback}"), "fallback");
  EXPECT_EQ(Substituted("${EMPTY:-fallback}"), "fallback");
  EXPECT_EQ(Substituted("${USER:-fallback}"), "alice");
  EXPECT_EQ(Substituted("${MISSING:-}"), "");
  EXPECT_EQ(Substituted("${MISSING:-a:b-c}"), "a:b-c");
}

TEST(SubstituteVariables, SetButEmptyVariableWithoutDefaultIsEmpty) {
  EXPECT_EQ(Substituted("[${EMPTY}]"), "[]");
}

TEST(SubstituteVariables, MissingVariableIsAnErrorNamingIt) {
  auto result = SubstituteVariables("x ${AWS_SECRET}", kEnv);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code(), ErrorCode::kConfig);
  EXPECT_EQ(result.error().message(),
            "environment variable AWS_SECRET is not set (write ${AWS_SECRET:-default} to give a "
            "default)");
}

TEST(SubstituteVariables, DoubleDollarIsALiteralDollar) {
  EXPECT_EQ(Substituted("$${USER}"), "${USER}");
  EXPECT_EQ(Substituted("cost: 5$$"), "cost: 5$");
}

TEST(SubstituteVariables, LoneDollarIsKept) {
  EXPECT_EQ(Substituted("$USER and $"), "$USER and $");
}

TEST(SubstituteVariables, SubstitutedTextIsNotScannedAgain) {
  EXPECT_EQ(Substituted("${NESTED}"), "${USER}");
}

TEST(SubstituteVariables, RejectsMalformedReferences) {
  EXPECT_NE(SubstituteVariables("${USER", kEnv).error().message().find("unterminated"),
            std::string::npos);
  EXPECT_NE(SubstituteVariables("${}", kEnv).error().message().find("invalid variable reference"),
            std::string::npos);
  EXPECT_NE(SubstituteVariables("${1X}", kEnv).error().message().find("invalid variable reference"),
            std::string::npos);
  EXPECT_NE(SubstituteVariables("${USER-x}", kEnv).error().message().find("USER"),
            std::string::npos);
}

}  // namespace
}  // namespace sluice::config
