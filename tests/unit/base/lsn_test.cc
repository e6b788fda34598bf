#include "base/lsn.h"

#include <gtest/gtest.h>

namespace sluice {
namespace {

TEST(Lsn, FormatsAsPostgresDoes) {
  EXPECT_EQ(Lsn(0x16B374D848ull).ToString(), "16/B374D848");
  EXPECT_EQ(Lsn(0).ToString(), "0/0");
}

TEST(Lsn, ParsesPostgresText) {
  auto lsn = Lsn::Parse("16/B374D848");
  ASSERT_TRUE(lsn.has_value());
  EXPECT_EQ(lsn->value(), 0x16B374D848ull);
}

TEST(Lsn, RejectsMalformedText) {
  EXPECT_FALSE(Lsn::Parse(""));
  EXPECT_FALSE(Lsn::Parse("16"));
  EXPECT_FALSE(Lsn::Parse("/1"));
  EXPECT_FALSE(Lsn::Parse("1/"));
  EXPECT_FALSE(Lsn::Parse("1/G"));
  EXPECT_FALSE(Lsn::Parse("123456789/0"));
}

}  // namespace
}  // namespace sluice
