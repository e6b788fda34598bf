// Behaviour of the SigV4 signer beyond AWS's suite: what sluice relies on for
// Kinesis and emulators (ports, re-signing, session tokens, encodings).
#include "aws/sigv4.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace sluice::aws {
namespace {

using testing::HasSubstr;
using testing::Not;
using testing::StartsWith;

WallTime At(int y, unsigned mo, unsigned d, int h, int mi, int s) {
  using namespace std::chrono;
  return sys_days{year{y} / month{mo} / day{d}} + hours{h} + minutes{mi} + seconds{s};
}

Credentials Keys(std::string token = "") {
  Credentials c;
  c.access_key_id = "AKIDEXAMPLE";
  c.secret_access_key = Secret("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
  c.session_token = Secret(std::move(token));
  return c;
}

const SigningScope kKinesis{"us-east-1", "kinesis"};

http::Request Get(std::string url) {
  http::Request r;
  r.method = "GET";
  r.url = std::move(url);
  return r;
}

// The canonical request's second and third lines.
std::string CanonicalUriOf(const SignatureParts& p) {
  size_t a = p.canonical_request.find('\n') + 1;
  return p.canonical_request.substr(a, p.canonical_request.find('\n', a) - a);
}
std::string CanonicalQueryOf(const SignatureParts& p) {
  size_t a = p.canonical_request.find('\n') + 1;
  a = p.canonical_request.find('\n', a) + 1;
  return p.canonical_request.substr(a, p.canonical_request.find('\n', a) - a);
}

int CountHeader(const http::Headers& headers, const std::string& name) {
  int n = 0;
  for (const auto& [k, v] : headers) n += (k == name);
  return n;
}

std::string HeaderOf(const http::Headers& headers, const std::string& name) {
  for (const auto& [k, v] : headers)
    if (k == name) return v;
  return {};
}

TEST(SigV4, FormatsAmzDateInUtcRoundingDownSubSeconds) {
  EXPECT_EQ(FormatAmzDate(At(2015, 8, 30, 12, 36, 0)), "20150830T123600Z");
  EXPECT_EQ(FormatAmzDate(At(2024, 2, 29, 23, 59, 59) + std::chrono::milliseconds(999)),
            "20240229T235959Z");
  EXPECT_EQ(FormatAmzDate(At(1999, 12, 31, 0, 0, 0)), "19991231T000000Z");
}

TEST(SigV4, HostKeepsANonDefaultPortAndDropsTheDefaultOne) {
  EXPECT_EQ(HostFromUrl("http://127.0.0.1:4567/"), "127.0.0.1:4567");
  EXPECT_EQ(HostFromUrl("http://localhost:4567"), "localhost:4567");
  EXPECT_EQ(HostFromUrl("https://kinesis.us-east-1.amazonaws.com/"),
            "kinesis.us-east-1.amazonaws.com");
  EXPECT_EQ(HostFromUrl("https://kinesis.us-east-1.amazonaws.com:443/"),
            "kinesis.us-east-1.amazonaws.com");
  EXPECT_EQ(HostFromUrl("http://example.com:80/x"), "example.com");
  EXPECT_EQ(HostFromUrl("https://example.com:80/x"), "example.com:80");
  EXPECT_EQ(HostFromUrl("http://[::1]:4567/"), "[::1]:4567");
  EXPECT_EQ(HostFromUrl("http://[::1]/"), "[::1]");
  EXPECT_EQ(HostFromUrl("http://user:pw@example.com:8080/"), "example.com:8080");
}

TEST(SigV4, SignRequestAddsHostWithPortForAnEmulatorEndpoint) {
  http::Request r;
  r.url = "http://127.0.0.1:4567/";
  r.body = "{}";
  SignatureParts parts = SignRequest(&r, Keys(), kKinesis, At(2024, 5, 14, 9, 26, 53));
  EXPECT_EQ(HeaderOf(r.headers, "Host"), "127.0.0.1:4567");
  EXPECT_THAT(parts.canonical_request, HasSubstr("\nhost:127.0.0.1:4567\n"));
  EXPECT_EQ(parts.signed_headers, "host;x-amz-date");
}

TEST(SigV4, ExplicitHostHeaderWinsOverTheUrl) {
  http::Request r = Get("http://127.0.0.1:4567/");
  r.headers = {{"HOST", "kinesis.local"}};
  SignatureParts parts = ComputeSignature(r, Keys(), kKinesis, At(2024, 5, 14, 9, 26, 53));
  EXPECT_THAT(parts.canonical_request, HasSubstr("\nhost:kinesis.local\n"));
  SignRequest(&r, Keys(), kKinesis, At(2024, 5, 14, 9, 26, 53));
  EXPECT_EQ(CountHeader(r.headers, "Host") + CountHeader(r.headers, "HOST"), 1);
}

TEST(SigV4, SessionTokenIsSentAndSignedByDefault) {
  http::Request r;
  r.url = "https://kinesis.us-east-1.amazonaws.com/";
  SignatureParts parts = SignRequest(&r, Keys("TOKEN/+="), kKinesis, At(2024, 5, 14, 9, 26, 53));
  EXPECT_EQ(HeaderOf(r.headers, "X-Amz-Security-Token"), "TOKEN/+=");
  EXPECT_EQ(parts.signed_headers, "host;x-amz-date;x-amz-security-token");
  EXPECT_THAT(parts.authorization,
              HasSubstr("SignedHeaders=host;x-amz-date;x-amz-security-token,"));
}

TEST(SigV4, SessionTokenAddedAfterSigningIsSentButNotSigned) {
  http::Request r;
  r.url = "https://kinesis.us-east-1.amazonaws.com/";
  SignOptions options;
  options.session_token = SessionTokenPlacement::kAddedAfterSigning;
  SignatureParts parts =
      SignRequest(&r, Keys("TOKEN"), kKinesis, At(2024, 5, 14, 9, 26, 53), options);
  EXPECT_EQ(HeaderOf(r.headers, "X-Amz-Security-Token"), "TOKEN");
  EXPECT_EQ(parts.signed_headers, "host;x-amz-date");
}

TEST(SigV4, ResigningReplacesDateTokenAndAuthorizationInPlace) {
  http::Request first;
  first.url = "https://kinesis.us-east-1.amazonaws.com/";
  first.headers = {{"Content-Type", "application/x-amz-json-1.1"}};
  first.body = R"({"StreamName":"s"})";
  http::Request retried = first;
  SignRequest(&retried, Keys("OLD"), kKinesis, At(2024, 5, 14, 9, 0, 0));
  SignatureParts again = SignRequest(&retried, Keys("NEW"), kKinesis, At(2024, 5, 14, 9, 5, 0));

  http::Request fresh = first;
  SignatureParts expected = SignRequest(&fresh, Keys("NEW"), kKinesis, At(2024, 5, 14, 9, 5, 0));
  EXPECT_EQ(again.authorization, expected.authorization);
  EXPECT_EQ(retried.headers, fresh.headers);
  EXPECT_EQ(CountHeader(retried.headers, "Authorization"), 1);
  EXPECT_EQ(CountHeader(retried.headers, "X-Amz-Date"), 1);
  EXPECT_EQ(HeaderOf(retried.headers, "X-Amz-Date"), "20240514T090500Z");
  EXPECT_EQ(HeaderOf(retried.headers, "X-Amz-Security-Token"), "NEW");
}

TEST(SigV4, ComputeSignatureMatchesWhatSignRequestSends) {
  http::Request r;
  r.url = "https://kinesis.us-east-1.amazonaws.com/";
  r.headers = {{"X-Amz-Target", "Kinesis_20131202.PutRecords"}};
  SignatureParts computed = ComputeSignature(r, Keys("T"), kKinesis, At(2024, 5, 14, 9, 0, 0));
  SignatureParts applied = SignRequest(&r, Keys("T"), kKinesis, At(2024, 5, 14, 9, 0, 0));
  EXPECT_EQ(computed.canonical_request, applied.canonical_request);
  EXPECT_EQ(HeaderOf(r.headers, "Authorization"), computed.authorization);
  // Signing the already-signed request again gives the same signature.
  EXPECT_EQ(ComputeSignature(r, Keys("T"), kKinesis, At(2024, 5, 14, 9, 0, 0)).authorization,
            computed.authorization);
}

TEST(SigV4, HeadersTheSdksNeverSignAreLeftOut) {
  http::Request r = Get("https://example.amazonaws.com/");
  r.headers = {{"User-Agent", "sluice/0.1"},     {"Connection", "keep-alive"},
               {"Expect", "100-continue"},       {"Proxy-Authorization", "x"},
               {"Transfer-Encoding", "chunked"}, {"X-Amz-Target", "T"}};
  SignatureParts parts = ComputeSignature(r, Keys(), kKinesis, At(2024, 5, 14, 9, 0, 0));
  EXPECT_EQ(parts.signed_headers, "host;x-amz-date;x-amz-target");
}

TEST(SigV4, HeaderValuesAreTrimmedAndInnerWhitespaceCollapsed) {
  http::Request r = Get("https://example.amazonaws.com/");
  r.headers = {{"My-Header", "  a \t b\r\n  c  "}, {"my-header", "d"}};
  SignatureParts parts = ComputeSignature(r, Keys(), kKinesis, At(2024, 5, 14, 9, 0, 0));
  EXPECT_THAT(parts.canonical_request, HasSubstr("\nmy-header:a b c,d\n"));
}

TEST(SigV4, PathIsEncodedAgainForNonS3Services) {
  // The URL is as sent: "%20" is already an encoded space, so it is encoded
  // once more, as AWS requires for every service but S3.
  SignatureParts parts = ComputeSignature(Get("https://example.amazonaws.com/a%20b/c+d"), Keys(),
                                          kKinesis, At(2024, 5, 14, 9, 0, 0));
  EXPECT_EQ(CanonicalUriOf(parts), "/a%2520b/c%2Bd");
}

TEST(SigV4, PathIsKeptAsGivenWhenNormalizationIsOff) {
  SignOptions s3;
  s3.normalize_path = false;
  SignatureParts parts = ComputeSignature(Get("https://b.s3.amazonaws.com//a/./b%20c"), Keys(),
                                          {"us-east-1", "s3"}, At(2024, 5, 14, 9, 0, 0), s3);
  EXPECT_EQ(CanonicalUriOf(parts), "//a/./b%20c");
}

TEST(SigV4, EmptyPathAndDotDotAboveRootBecomeSlash) {
  EXPECT_EQ(CanonicalUriOf(ComputeSignature(Get("https://example.amazonaws.com"), Keys(), kKinesis,
                                            At(2024, 5, 14, 9, 0, 0))),
            "/");
  EXPECT_EQ(CanonicalUriOf(ComputeSignature(Get("https://example.amazonaws.com/../../a/"), Keys(),
                                            kKinesis, At(2024, 5, 14, 9, 0, 0))),
            "/a/");
}

TEST(SigV4, QueryIsDecodedReencodedAndSortedByKeyThenValue) {
  SignatureParts parts = ComputeSignature(
      Get("https://example.amazonaws.com/?b=2&a=z&a=%41&flag&c=x%2Fy+z&&e=%zz#frag"), Keys(),
      kKinesis, At(2024, 5, 14, 9, 0, 0));
  EXPECT_EQ(CanonicalQueryOf(parts), "a=A&a=z&b=2&c=x%2Fy%2Bz&e=%25zz&flag=");
}

TEST(SigV4, ContentSha256HeaderIsAddedAndSignedWhenAsked) {
  http::Request r;
  r.url = "https://example.amazonaws.com/";
  r.body = "Param1=value1";
  SignOptions options;
  options.add_content_sha256_header = true;
  SignatureParts parts = SignRequest(&r, Keys(), kKinesis, At(2024, 5, 14, 9, 0, 0), options);
  const std::string hash = "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e";
  EXPECT_EQ(HeaderOf(r.headers, "X-Amz-Content-Sha256"), hash);
  EXPECT_EQ(parts.signed_headers, "host;x-amz-content-sha256;x-amz-date");
  EXPECT_THAT(parts.canonical_request, testing::EndsWith("\n" + hash));
}

TEST(SigV4, GivenContentSha256IsUsedAsThePayloadHash) {
  http::Request r;
  r.url = "https://example.amazonaws.com/";
  r.headers = {{"x-amz-content-sha256", "UNSIGNED-PAYLOAD"}};
  r.body = "ignored";
  SignatureParts parts = ComputeSignature(r, Keys(), kKinesis, At(2024, 5, 14, 9, 0, 0));
  EXPECT_THAT(parts.canonical_request, testing::EndsWith("\nUNSIGNED-PAYLOAD"));
}

TEST(SigV4, ScopeNamesDateRegionAndService) {
  SignatureParts parts = ComputeSignature(Get("https://sts.eu-west-1.amazonaws.com/"), Keys(),
                                          {"eu-west-1", "sts"}, At(2024, 1, 2, 3, 4, 5));
  EXPECT_THAT(parts.authorization,
              StartsWith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240102/eu-west-1/sts/"
                         "aws4_request, SignedHeaders=host;x-amz-date, Signature="));
  EXPECT_THAT(
      parts.string_to_sign,
      StartsWith("AWS4-HMAC-SHA256\n20240102T030405Z\n20240102/eu-west-1/sts/aws4_request\n"));
  EXPECT_EQ(parts.signature.size(), 64u);
}

TEST(SigV4, DifferentSecretsGiveDifferentSignaturesAndNeverAppearInOutput) {
  http::Request r = Get("https://example.amazonaws.com/");
  Credentials other = Keys();
  other.secret_access_key = Secret("another-secret");
  SignatureParts a = ComputeSignature(r, Keys(), kKinesis, At(2024, 5, 14, 9, 0, 0));
  SignatureParts b = ComputeSignature(r, other, kKinesis, At(2024, 5, 14, 9, 0, 0));
  EXPECT_NE(a.signature, b.signature);
  for (const SignatureParts* p : {&a, &b}) {
    EXPECT_THAT(p->canonical_request + p->string_to_sign + p->authorization,
                Not(HasSubstr("EXAMPLEKEY")));
  }
}

// Each thread keeps its last signing key: a change of secret, day, region or
// service must derive a new one. Every variant signed after the others on
// this thread must equal the same variant signed on a fresh thread.
TEST(SigV4, KeptSigningKeyFollowsSecretDayRegionAndService) {
  const http::Request r = Get("https://example.amazonaws.com/");
  Credentials rotated = Keys();
  rotated.secret_access_key = Secret("rotated-secret");
  struct Variant {
    Credentials keys;
    SigningScope scope;
    WallTime at;
  };
  const std::vector<Variant> variants = {
      {Keys(), kKinesis, At(2024, 5, 14, 9, 0, 0)},
      {rotated, kKinesis, At(2024, 5, 14, 9, 0, 0)},
      {Keys(), kKinesis, At(2024, 5, 15, 0, 0, 1)},
      {Keys(), {"eu-west-1", "kinesis"}, At(2024, 5, 14, 9, 0, 0)},
      {Keys(), {"us-east-1", "sts"}, At(2024, 5, 14, 9, 0, 0)},
  };
  std::vector<std::string> fresh;
  for (const Variant& v : variants) {
    std::thread([&] {
      fresh.push_back(ComputeSignature(r, v.keys, v.scope, v.at).signature);
    }).join();
  }
  for (int round = 0; round < 2; ++round) {
    for (size_t i = 0; i < variants.size(); ++i) {
      const Variant& v = variants[i];
      EXPECT_EQ(ComputeSignature(r, v.keys, v.scope, v.at).signature, fresh[i])
          << "variant " << i << ", round " << round;
    }
  }
  for (size_t i = 1; i < fresh.size(); ++i) EXPECT_NE(fresh[i], fresh[0]) << "variant " << i;
}

TEST(SigV4, MalformedUrlsStillSignWithoutCrashing) {
  for (const char* url :
       {"", "/", "no-scheme/path?x=1", "http://", "http://[::1", "://x", "%", "?&="}) {
    http::Request r = Get(url);
    SignatureParts parts = SignRequest(&r, Keys(), kKinesis, At(2024, 5, 14, 9, 0, 0));
    EXPECT_EQ(parts.signature.size(), 64u) << url;
    EXPECT_THAT(CanonicalUriOf(parts), StartsWith("/")) << url;
  }
}

}  // namespace
}  // namespace sluice::aws
