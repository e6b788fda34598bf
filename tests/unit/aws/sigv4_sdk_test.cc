// Signs the PutRecords requests of tests/testdata/sigv4/putrecords_inputs.json
// with sluice's signer and compares with the AWS SDK's signer's output on the
// same inputs (the goldens, made by tools/node/sign_reference.mjs; the ctest
// tests labelled `compat` re-run that script and diff).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "aws/sigv4.h"

namespace sluice::aws {
namespace {

using nlohmann::json;

json LoadGolden(const std::string& file) {
  std::ifstream in(std::string(SLUICE_TESTDATA_DIR) + "/sigv4/" + file);
  EXPECT_TRUE(in.good()) << "cannot read golden " << file;
  if (!in) return json::object();
  return json::parse(in);
}

// "2024-05-14T09:26:53.789Z" -> WallTime (the golden's signing_date).
WallTime ParseIsoTime(const std::string& text) {
  using namespace std::chrono;
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0, ms = 0;
  int n = std::sscanf(text.c_str(), "%d-%d-%dT%d:%d:%d.%dZ", &y, &mo, &d, &h, &mi, &s, &ms);
  EXPECT_EQ(n, 7) << "bad signing_date " << text;
  return sys_days{year{y} / month{static_cast<unsigned>(mo)} / day{static_cast<unsigned>(d)}} +
         hours{h} + minutes{mi} + seconds{s} + milliseconds{ms};
}

struct GoldenInputs {
  http::Request request;
  Credentials credentials;
  SigningScope scope;
  WallTime time;
  SignOptions options;
};

GoldenInputs FromGolden(const json& golden) {
  const json& r = golden.at("request");
  GoldenInputs in;
  in.request.method = r.at("method");
  in.request.url = r.at("url");
  for (const auto& pair : r.at("headers"))
    in.request.headers.emplace_back(pair.at(0).get<std::string>(), pair.at(1).get<std::string>());
  in.request.body = r.at("body");
  in.credentials.access_key_id = r.at("access_key_id");
  in.credentials.secret_access_key = Secret(r.at("secret_access_key").get<std::string>());
  if (r.contains("session_token"))
    in.credentials.session_token = Secret(r.at("session_token").get<std::string>());
  in.scope = {r.at("region"), r.at("service")};
  in.time = ParseIsoTime(r.at("signing_date"));
  in.options.add_content_sha256_header = r.at("apply_checksum");
  return in;
}

std::string Header(const http::Headers& headers, const std::string& name) {
  std::string found;
  int count = 0;
  for (const auto& [k, v] : headers) {
    if (k == name) {
      found = v;
      ++count;
    }
  }
  EXPECT_LE(count, 1) << name << " appears " << count << " times";
  return found;
}

// Sluice's signed headers, lower-cased, as the golden lists the SDK's.
json SignedHeadersAsJson(const http::Request& request) {
  json out = json::object();
  for (const auto& [k, v] : request.headers) {
    std::string lower = k;
    for (char& c : lower) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
    EXPECT_FALSE(out.contains(lower)) << "header " << lower << " twice";
    out[lower] = v;
  }
  return out;
}

class SigV4MatchesAwsSdk : public testing::TestWithParam<std::string> {};

TEST_P(SigV4MatchesAwsSdk, SameHeadersAsTheSdkSigner) {
  const json golden = LoadGolden(GetParam());
  ASSERT_TRUE(golden.contains("request") && golden.contains("sdk_headers")) << GetParam();
  const json& sdk = golden.at("sdk_headers");
  GoldenInputs in = FromGolden(golden);

  http::Request request = in.request;
  SignRequest(&request, in.credentials, in.scope, in.time, in.options);
  EXPECT_EQ(SignedHeadersAsJson(request), sdk);
  EXPECT_EQ(Header(request.headers, "Authorization"), sdk.at("authorization"));
  EXPECT_EQ(Header(request.headers, "X-Amz-Date"), sdk.at("x-amz-date"));
  EXPECT_EQ(Header(request.headers, "X-Amz-Security-Token"), sdk.value("x-amz-security-token", ""));
}

// The SDK is given Host explicitly; sluice derives it from the URL (with the
// port for an emulator endpoint) and must sign the same value.
TEST_P(SigV4MatchesAwsSdk, HostDerivedFromUrlSignsTheSame) {
  const json golden = LoadGolden(GetParam());
  ASSERT_TRUE(golden.contains("request") && golden.contains("sdk_headers")) << GetParam();
  const json& sdk = golden.at("sdk_headers");
  GoldenInputs in = FromGolden(golden);

  http::Request request = in.request;
  std::erase_if(request.headers, [](const auto& h) { return h.first == "Host"; });
  ASSERT_EQ(request.headers.size(), in.request.headers.size() - 1) << "golden has no Host header";
  SignRequest(&request, in.credentials, in.scope, in.time, in.options);
  EXPECT_EQ(Header(request.headers, "Host"), sdk.at("host"));
  EXPECT_EQ(Header(request.headers, "Authorization"), sdk.at("authorization"));
}

INSTANTIATE_TEST_SUITE_P(PutRecords, SigV4MatchesAwsSdk,
                         testing::Values("putrecords_sdk.json", "putrecords_sdk_token.json",
                                         "putrecords_sdk_port.json",
                                         "putrecords_sdk_checksum.json"),
                         [](const auto& info) {
                           std::string name = info.param;
                           name = name.substr(0, name.find('.'));
                           return name;
                         });

TEST(SigV4MatchesAwsSdkGoldens, PortGoldenSignsHostWithPort) {
  const json golden = LoadGolden("putrecords_sdk_port.json");
  ASSERT_TRUE(golden.contains("sdk_headers"));
  EXPECT_EQ(golden.at("request").at("url"), "http://127.0.0.1:4567/");
  EXPECT_EQ(golden.at("sdk_headers").at("host"), "127.0.0.1:4567");
}

TEST(SigV4MatchesAwsSdkGoldens, TokenGoldenSignsTheSessionToken) {
  const json golden = LoadGolden("putrecords_sdk_token.json");
  ASSERT_TRUE(golden.contains("sdk_headers"));
  const std::string authz = golden.at("sdk_headers").at("authorization");
  EXPECT_NE(authz.find("x-amz-security-token"), std::string::npos) << authz;
}

}  // namespace
}  // namespace sluice::aws
