#include "aws/credential_parsing.h"

#include <gtest/gtest.h>

namespace sluice::aws {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

const WallTime kJan2 = WallTime{std::chrono::sys_days{std::chrono::year{2024} / 1 / 2}} + hours{3} +
                       minutes{4} + seconds{5};

TEST(ParseIso8601, ReadsUtcWithAndWithoutFraction) {
  EXPECT_EQ(ParseIso8601("2024-01-02T03:04:05Z"), kJan2);
  EXPECT_EQ(ParseIso8601("2024-01-02T03:04:05.123Z"), kJan2);
  EXPECT_EQ(ParseIso8601("2024-01-02T03:04:05+00:00"), kJan2);
  EXPECT_EQ(ParseIso8601("2024-01-02T05:04:05+02:00"), kJan2);
}

TEST(ParseIso8601, ReadsNegativeOffsets) {
  EXPECT_EQ(ParseIso8601("2024-01-01T22:04:05-05:00"), kJan2);
  EXPECT_EQ(ParseIso8601("2024-01-02T00:34:05-02:30"), kJan2);
  EXPECT_EQ(ParseIso8601("2024-01-01T03:05:05-23:59"), kJan2);
}

TEST(ParseIso8601, RejectsMalformedTimes) {
  for (const char* bad : {"", "2024-01-02", "2024-01-02T03:04:05", "2024-13-02T03:04:05Z",
                          "2024-02-30T03:04:05Z", "2024-01-02T03:04:05Zjunk", "yesterday"}) {
    EXPECT_FALSE(ParseIso8601(bad).has_value()) << bad;
  }
}

TEST(ParseIso8601, RejectsOutOfRangeOffsets) {
  for (const char* bad :
       {"2024-01-02T03:04:05+99:99", "2024-01-02T03:04:05+24:00", "2024-01-02T03:04:05-24:00",
        "2024-01-02T03:04:05+01:60", "2024-01-02T03:04:05-00:75", "2024-01-02T03:04:05+1:00",
        "2024-01-02T03:04:05+0100"}) {
    EXPECT_FALSE(ParseIso8601(bad).has_value()) << bad;
  }
}

TEST(FormatIso8601, RoundTrips) {
  EXPECT_EQ(FormatIso8601(kJan2), "2024-01-02T03:04:05Z");
  EXPECT_EQ(ParseIso8601(FormatIso8601(kJan2)), kJan2);
}

TEST(ParseJsonCredentials, ReadsContainerDocument) {
  auto c = ParseJsonCredentials(
      R"({"AccessKeyId":"ASIAX","SecretAccessKey":"sec","Token":"tok","Expiration":"2024-01-02T03:04:05Z","RoleArn":"arn:aws:iam::1:role/r"})");
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->access_key_id, "ASIAX");
  EXPECT_EQ(c->secret_access_key.Reveal(), "sec");
  EXPECT_EQ(c->session_token.Reveal(), "tok");
  EXPECT_EQ(c->expiration, kJan2);
}

TEST(ParseJsonCredentials, MissingFieldsAreNamedWithoutEchoingTheDocument) {
  auto no_id = ParseJsonCredentials(R"({"SecretAccessKey":"topsecret","Token":"t"})");
  ASSERT_FALSE(no_id.ok());
  EXPECT_EQ(no_id.error().code(), ErrorCode::kProtocol);
  EXPECT_EQ(no_id.error().message(), "credentials response has no AccessKeyId");
  auto no_secret = ParseJsonCredentials(R"({"AccessKeyId":"A","Token":"topsecret"})");
  ASSERT_FALSE(no_secret.ok());
  EXPECT_EQ(no_secret.error().message(), "credentials response has no SecretAccessKey");
  EXPECT_EQ(no_secret.error().message().find("topsecret"), std::string::npos);
}

TEST(ParseJsonCredentials, BadJsonIsProtocolErrorWithoutTheBody) {
  auto c = ParseJsonCredentials(R"({"AccessKeyId":"A","SecretAccessKey":"topsecret",)");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code(), ErrorCode::kProtocol);
  EXPECT_NE(c.error().message().find("not JSON"), std::string::npos);
  EXPECT_EQ(c.error().message().find("topsecret"), std::string::npos);
}

TEST(ParseJsonCredentials, ImdsCodeOtherThanSuccessIsAnError) {
  auto c = ParseJsonCredentials(
      R"({"Code":"AssumeRoleUnauthorizedAccess","Message":"cannot assume","AccessKeyId":"A","SecretAccessKey":"s"})");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().message(),
            "credentials response has Code AssumeRoleUnauthorizedAccess: cannot assume");
}

TEST(ParseJsonCredentials, MalformedExpirationIsAnError) {
  auto c = ParseJsonCredentials(R"({"AccessKeyId":"A","SecretAccessKey":"s","Expiration":"soon"})");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().message(), "credentials response has a malformed Expiration \"soon\"");
}

constexpr char kAssumeRoleOk[] =
    R"(<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <SubjectFromWebIdentityToken>system:serviceaccount:ns:sa</SubjectFromWebIdentityToken>
    <Credentials>
      <AccessKeyId>ASIAWEB</AccessKeyId>
      <SecretAccessKey>wJal/K7&amp;KEY</SecretAccessKey>
      <SessionToken>FwoGZX&#43;tok</SessionToken>
      <Expiration>2024-01-02T03:04:05Z</Expiration>
    </Credentials>
  </AssumeRoleWithWebIdentityResult>
</AssumeRoleWithWebIdentityResponse>)";

TEST(ParseAssumeRoleResponse, ReadsCredentialsAndDecodesEntities) {
  auto c = ParseAssumeRoleResponse(kAssumeRoleOk);
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->access_key_id, "ASIAWEB");
  EXPECT_EQ(c->secret_access_key.Reveal(), "wJal/K7&KEY");
  EXPECT_EQ(c->session_token.Reveal(), "FwoGZX+tok");
  EXPECT_EQ(c->expiration, kJan2);
}

TEST(ParseAssumeRoleResponse, MissingSessionTokenIsNamed) {
  std::string body = kAssumeRoleOk;
  body.erase(body.find("<SessionToken>"),
             body.find("</SessionToken>") + 15 - body.find("<SessionToken>"));
  auto c = ParseAssumeRoleResponse(body);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().message(), "AssumeRoleWithWebIdentity response has no SessionToken");
  EXPECT_EQ(ParseAssumeRoleResponse("<html>hello</html>").error().message(),
            "AssumeRoleWithWebIdentity response has no Credentials element");
}

TEST(DescribeErrorBody, GivesXmlCodeAndMessage) {
  EXPECT_EQ(DescribeErrorBody(R"(<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error><Type>Sender</Type><Code>InvalidIdentityToken</Code><Message>No OpenIDConnect provider found</Message></Error>
  <RequestId>abc</RequestId></ErrorResponse>)"),
            "InvalidIdentityToken: No OpenIDConnect provider found");
}

TEST(DescribeErrorBody, GivesJsonCodeAndMessage) {
  EXPECT_EQ(DescribeErrorBody(R"({"code":"AccessDenied","message":"invalid token","extra":"x"})"),
            "AccessDenied: invalid token");
  EXPECT_EQ(DescribeErrorBody(R"({"Message":"bad\ntoken"})"), "bad token");
  EXPECT_EQ(DescribeErrorBody(R"({"__type":"Throttling"})"), "Throttling");
}

TEST(DescribeErrorBody, NeverCopiesAnythingElseOfTheBody) {
  // A body that echoes what the request carried.
  const std::string token = "eyJhbGciOiJSUzI1NiJ9.secret-jwt";
  for (const std::string& body :
       {"Bad Gateway: " + token, "<html>" + token + "</html>", R"({"token":")" + token + R"("})",
        "<Error><RequestId>" + token + "</RequestId></Error>", "[\"" + token + "\"]"}) {
    const std::string described = DescribeErrorBody(body);
    EXPECT_EQ(described.find("secret-jwt"), std::string::npos) << described;
    EXPECT_EQ(described, "unparseable body of " + std::to_string(body.size()) + " bytes");
  }
  EXPECT_EQ(DescribeErrorBody(""), "empty response body");
  EXPECT_EQ(DescribeErrorBody(" \r\n"), "empty response body");
}

TEST(DescribeErrorBody, LimitsEachFieldTo200Bytes) {
  const std::string described =
      DescribeErrorBody("<Code>C</Code><Message>" + std::string(5000, 'm') + "</Message>");
  EXPECT_EQ(described, "C: " + std::string(200, 'm'));
}

TEST(ParseIni, ReadsSectionsCommentsAndSkipsNestedSettings) {
  const auto s = ParseIni(
      "# comment\n[default]\naws_access_key_id = AKID\r\nAWS_Secret_Access_Key=sec\n; another\n"
      "[profile dev]\nregion = eu-west-1\ns3 =\n  max_concurrent_requests = 20\n[broken\nx = y\n");
  ASSERT_EQ(s.count("default"), 1u);
  EXPECT_EQ(s.at("default").at("aws_access_key_id"), "AKID");
  EXPECT_EQ(s.at("default").at("aws_secret_access_key"), "sec");
  EXPECT_EQ(s.at("profile dev").at("region"), "eu-west-1");
  EXPECT_EQ(s.at("profile dev").count("max_concurrent_requests"), 0u);
  EXPECT_EQ(s.count("broken"), 0u);
}

TEST(UrlHost, TakesTheHostAfterUserInfoAndBeforePathQueryOrFragment) {
  EXPECT_EQ(UrlHost("http://169.254.170.2@evil.com/"), "evil.com");
  EXPECT_EQ(UrlHost("http://evil.com#@127.0.0.1/"), "evil.com");
  EXPECT_EQ(UrlHost("http://evil.com?@127.0.0.1/"), "evil.com");
  EXPECT_EQ(UrlHost("http://127.0.0.1:80@evil.com:8080/x"), "evil.com");
  EXPECT_EQ(UrlHost("http://[::1]@evil.com/"), "evil.com");
  EXPECT_TRUE(UrlHasUserInfo("http://169.254.170.2@evil.com/"));
  EXPECT_TRUE(UrlHasUserInfo("http://u:p@127.0.0.1/"));
  EXPECT_FALSE(UrlHasUserInfo("http://127.0.0.1/a@b"));
  EXPECT_FALSE(UrlHasUserInfo("http://evil.com#@127.0.0.1/"));
}

TEST(RedactUrl, DropsUserInfoQueryAndFragment) {
  EXPECT_EQ(RedactUrl("http://user:pass@127.0.0.1:8080/creds?token=abc#frag"),
            "http://127.0.0.1:8080/creds");
  EXPECT_EQ(RedactUrl("https://a@b@sts.example.com"), "https://sts.example.com");
  EXPECT_EQ(RedactUrl("http://169.254.170.2/v2/credentials/x"),
            "http://169.254.170.2/v2/credentials/x");
  EXPECT_EQ(RedactUrl("http://127.0.0.1/a@b"), "http://127.0.0.1/a@b");
  EXPECT_EQ(RedactUrl("not a url?secret"), "not a url");
}

TEST(UrlHost, ExtractsHostsIncludingIpv6) {
  EXPECT_EQ(UrlHost("http://169.254.170.2/v2/credentials"), "169.254.170.2");
  EXPECT_EQ(UrlHost("http://[fd00:ec2::23]:80/x"), "fd00:ec2::23");
  EXPECT_EQ(UrlHost("https://user@Example.COM:443"), "example.com");
  EXPECT_EQ(UrlHost("no-scheme"), "");
  EXPECT_EQ(UrlScheme("HTTPS://x"), "https");
}

TEST(IsLoopbackHost, OnlyLoopback) {
  EXPECT_TRUE(IsLoopbackHost("127.0.0.1"));
  EXPECT_TRUE(IsLoopbackHost("127.1.2.3"));
  EXPECT_TRUE(IsLoopbackHost("::1"));
  EXPECT_TRUE(IsLoopbackHost("localhost"));
  for (const char* host :
       {"169.254.169.254", "169.254.170.2", "128.0.0.1", "127.0.0", "127.0.0.1.2", "127.0.0.256",
        "sts.us-east-1.amazonaws.com", "fd00:ec2::23", ""}) {
    EXPECT_FALSE(IsLoopbackHost(host)) << host;
  }
}

TEST(FormEncode, EncodesReservedCharacters) {
  EXPECT_EQ(FormEncode("arn:aws:iam::1:role/a b+c~"), "arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fa%20b%2Bc~");
}

}  // namespace
}  // namespace sluice::aws
