#include "base/encoding.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <thread>
#include <vector>

namespace sluice {
namespace {

TEST(Base64, EncodesRfc4648Vectors) {
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(Base64Encode("foo"), "Zm9v");
  EXPECT_EQ(Base64Encode("foob"), "Zm9vYg==");
  EXPECT_EQ(Base64Encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
}

TEST(Base64, RoundTripsBinary) {
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<char>(i));
  auto decoded = Base64Decode(Base64Encode(bytes));
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(*decoded, bytes);
}

// OpenSSL's encoder as the reference: every 4,099th 3-byte group value, each
// of the 4,096 table pairs in both halves of a group, and every length tail.
TEST(Base64, MatchesOpenSslForEveryTripleAndTail) {
  std::string bytes;
  for (uint32_t v = 0; v < (1u << 24); v += 4099) {
    bytes.push_back(static_cast<char>(v >> 16));
    bytes.push_back(static_cast<char>(v >> 8));
    bytes.push_back(static_cast<char>(v));
  }
  for (uint32_t v = 0; v < 4096; ++v) {  // each 12-bit half exactly
    bytes.push_back(static_cast<char>(v >> 4));
    bytes.push_back(static_cast<char>((v & 15) << 4 | (v >> 8)));
    bytes.push_back(static_cast<char>(v));
  }
  for (size_t len : {bytes.size(), bytes.size() - 1, bytes.size() - 2, size_t{1}, size_t{2}}) {
    const std::string_view in(bytes.data(), len);
    std::vector<unsigned char> expected((len + 2) / 3 * 4 + 1);
    const int n = EVP_EncodeBlock(
        expected.data(), reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(len));
    EXPECT_EQ(Base64Encode(in), std::string(reinterpret_cast<char*>(expected.data()), n))
        << "length " << len;
  }
}

TEST(Base64, AppendsAfterExistingText) {
  std::string out = "prefix:";
  Base64Append("foobar", &out);
  EXPECT_EQ(out, "prefix:Zm9vYmFy");
}

TEST(Base64, RejectsMalformed) {
  EXPECT_FALSE(Base64Decode("Zg="));
  EXPECT_FALSE(Base64Decode("Z!=="));
  EXPECT_FALSE(Base64Decode("Zg==Zg=="));
}

TEST(Digest, Md5AndSha256MatchKnownValues) {
  EXPECT_EQ(Md5Hex(""), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Md5Hex("abc"), "900150983cd24fb0d6963f7d28e17f72");
}

// RFC 4231 test cases 1, 2 and 6 (a key longer than SHA-256's block).
TEST(HmacSha256, MatchesRfc4231) {
  EXPECT_EQ(HexLower(HmacSha256(std::string(20, '\x0b'), "Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  EXPECT_EQ(HexLower(HmacSha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(HexLower(HmacSha256(std::string(131, '\xaa'),
                                "Test Using Larger Than Block-Size Key - Hash Key First")),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

// Each thread re-keys one context: a key, even an empty one, never carries
// over from the previous call.
TEST(HmacSha256, EveryCallUsesItsOwnKeyEvenAnEmptyOne) {
  const std::string keyed = "5031fe3d989c6d1537a013fa6e739da23463fdaec3b70137d828e36ace221bd0";
  const std::string empty = "e528c4d99e6177f5841f712a143b90843299a4aa181a06501422d9ca862bd2a5";
  EXPECT_EQ(HexLower(HmacSha256("key", "data")), keyed);
  EXPECT_EQ(HexLower(HmacSha256(std::string_view{}, "data")), empty);
  EXPECT_EQ(HexLower(HmacSha256("", "data")), empty);
  EXPECT_EQ(HexLower(HmacSha256("key", "data")), keyed);
  std::string on_fresh_thread;
  std::thread([&] { on_fresh_thread = HexLower(HmacSha256(std::string_view{}, "data")); }).join();
  EXPECT_EQ(on_fresh_thread, empty);
}

}  // namespace
}  // namespace sluice
