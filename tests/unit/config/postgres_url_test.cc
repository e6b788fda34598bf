#include "config/postgres_url.h"

#include <gtest/gtest.h>

namespace sluice::config {
namespace {

TEST(PostgresUrl, ParsesEveryPart) {
  auto url = ParsePostgresUrl("postgres://sluice:secret@db.internal:6543/app?sslmode=verify-full");
  ASSERT_TRUE(url.ok()) << url.error().message();
  EXPECT_EQ(url->username, "sluice");
  EXPECT_EQ(url->password.Reveal(), "secret");
  EXPECT_EQ(url->host, "db.internal");
  EXPECT_EQ(url->port, 6543);
  EXPECT_EQ(url->database, "app");
  EXPECT_EQ(url->sslmode, "verify-full");
}

TEST(PostgresUrl, AcceptsPostgresqlSchemeAndOptionalParts) {
  auto url = ParsePostgresUrl("postgresql://localhost/app");
  ASSERT_TRUE(url.ok()) << url.error().message();
  EXPECT_EQ(url->host, "localhost");
  EXPECT_FALSE(url->port.has_value());
  EXPECT_EQ(url->database, "app");
  EXPECT_EQ(url->username, "");
  EXPECT_TRUE(url->password.empty());
  EXPECT_EQ(url->sslmode, "");
}

TEST(PostgresUrl, PercentDecodesUserPasswordAndDatabase) {
  auto url = ParsePostgresUrl("postgres://us%65r:p%40ss%2Fw%3Ard@host/my%20db");
  ASSERT_TRUE(url.ok()) << url.error().message();
  EXPECT_EQ(url->username, "user");
  EXPECT_EQ(url->password.Reveal(), "p@ss/w:rd");
  EXPECT_EQ(url->database, "my db");
}

TEST(PostgresUrl, SplitsUserinfoAtTheLastAt) {
  auto url = ParsePostgresUrl("postgres://u:p@ss@host/app");
  ASSERT_TRUE(url.ok()) << url.error().message();
  EXPECT_EQ(url->password.Reveal(), "p@ss");
  EXPECT_EQ(url->host, "host");
}

TEST(PostgresUrl, ParsesBracketedIpv6Host) {
  auto url = ParsePostgresUrl("postgres://u@[::1]:5433/app");
  ASSERT_TRUE(url.ok()) << url.error().message();
  EXPECT_EQ(url->host, "::1");
  EXPECT_EQ(url->port, 5433);
}

TEST(PostgresUrl, RejectsUnknownQueryParameterByName) {
  auto url = ParsePostgresUrl("postgres://u:pw@h/app?sslmode=require&application_name=x");
  ASSERT_FALSE(url.ok());
  EXPECT_EQ(url.error().message(),
            "unknown query parameter \"application_name\" (supported: sslmode)");
}

TEST(PostgresUrl, RejectsBadSslModePortAndShape) {
  EXPECT_NE(
      ParsePostgresUrl("postgres://h/app?sslmode=maybe").error().message().find("sslmode must be"),
      std::string::npos);
  EXPECT_EQ(ParsePostgresUrl("postgres://h:99999/app").error().message(),
            "port must be a number between 1 and 65535");
  EXPECT_EQ(ParsePostgresUrl("postgres://h:x/app").error().message(),
            "port must be a number between 1 and 65535");
  EXPECT_NE(ParsePostgresUrl("mysql://h/app").error().message().find("postgres://"),
            std::string::npos);
  EXPECT_NE(ParsePostgresUrl("postgres://a,b/app").error().message().find("several hosts"),
            std::string::npos);
  EXPECT_NE(ParsePostgresUrl("postgres://h/app/x").error().message().find("single database"),
            std::string::npos);
  EXPECT_NE(ParsePostgresUrl("postgres://[::1/app").error().message().find("IPv6"),
            std::string::npos);
}

TEST(PostgresUrl, ErrorsNeverContainThePassword) {
  for (const char* text : {"postgres://u:hunter2@h:bad/app", "postgres://u:hunter2%zz@h/app",
                           "postgres://u:hunter2@h/app?x=1", "postgres://u:hunter2@a,b/app",
                           "postgres://u:hunter2@h/app?sslmode=hunter2"}) {
    auto url = ParsePostgresUrl(text);
    ASSERT_FALSE(url.ok()) << text;
    EXPECT_EQ(url.error().message().find("hunter2"), std::string::npos) << url.error().message();
  }
}

}  // namespace
}  // namespace sluice::config
