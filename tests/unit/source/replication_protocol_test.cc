#include "source/replication_protocol.h"

#include <gtest/gtest.h>

#include "unit/source/golden.h"

namespace sluice::source {
namespace {

using testing::Bytes;

constexpr int64_t kPgEpoch = 946'684'800'000'000;

TEST(ReplicationProtocol, ParsesXLogDataHeaderAndPayload) {
  std::string bytes = Bytes().Char('w').U64(0x100).U64(0x200).U64(5'000'000).Raw("Bpayload");
  auto m = ParseCopyData(bytes);
  ASSERT_TRUE(m.ok()) << m.error().message();
  auto& x = std::get<XLogData>(m.value());
  EXPECT_EQ(x.wal_start, Lsn(0x100));
  EXPECT_EQ(x.wal_end, Lsn(0x200));
  EXPECT_EQ(x.send_time_us, kPgEpoch + 5'000'000);
  EXPECT_EQ(x.payload, "Bpayload");
}

TEST(ReplicationProtocol, ParsesKeepaliveWithReplyRequested) {
  auto m = ParseCopyData(std::string(Bytes().Char('k').U64(0x1234).U64(0).U8(1)));
  ASSERT_TRUE(m.ok()) << m.error().message();
  auto& k = std::get<PrimaryKeepalive>(m.value());
  EXPECT_EQ(k.wal_end, Lsn(0x1234));
  EXPECT_EQ(k.send_time_us, kPgEpoch);
  EXPECT_TRUE(k.reply_requested);
}

TEST(ReplicationProtocol, ParsesKeepaliveWithoutReply) {
  auto m = ParseCopyData(std::string(Bytes().Char('k').U64(1).U64(0).U8(0)));
  ASSERT_TRUE(m.ok());
  EXPECT_FALSE(std::get<PrimaryKeepalive>(m.value()).reply_requested);
}

TEST(ReplicationProtocol, KeepaliveOfWrongSizeIsAnError) {
  auto m = ParseCopyData(std::string(Bytes().Char('k').U64(1).U64(0)));
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().code(), ErrorCode::kProtocol);
  EXPECT_NE(m.error().message().find("expected 18 bytes, got 17"), std::string::npos);
}

TEST(ReplicationProtocol, TruncatedXLogDataHeaderIsAnError) {
  auto m = ParseCopyData(std::string(Bytes().Char('w').U64(1).U32(0)));
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message().find("XLogData ('w'): header truncated"), std::string::npos)
      << m.error().message();
}

TEST(ReplicationProtocol, UnknownCopyDataTypeIsAnError) {
  auto m = ParseCopyData("x");
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message().find("unknown message type byte 0x78"), std::string::npos);
  EXPECT_FALSE(ParseCopyData("").ok());
}

TEST(ReplicationProtocol, StandbyStatusUpdateLayout) {
  std::string got = StandbyStatusUpdate(Lsn(0x0102030405060708), Lsn(0x10), Lsn(0x20),
                                        kPgEpoch + 0x99, /*reply_requested=*/false);
  std::string want = Bytes().Char('r').U64(0x0102030405060708).U64(0x10).U64(0x20).U64(0x99).U8(0);
  EXPECT_EQ(got, want);
  EXPECT_EQ(got.size(), 34u);
}

}  // namespace
}  // namespace sluice::source
