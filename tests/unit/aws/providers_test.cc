#include "aws/providers.h"

#include <gtest/gtest.h>

#include <fstream>

#include "aws/credential_parsing.h"
#include "support/fake_clock.h"
#include "support/guarded_transport.h"
#include "support/temp_dir.h"

namespace sluice::aws {
namespace {

using testing_support::FakeClock;
using testing_support::HttpScript;
using testing_support::RequestHeader;
using testing_support::ScriptedTransport;
using testing_support::TempDir;

constexpr char kSecret[] = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzSECRET";
constexpr char kToken[] = "IQoJb3JpZ2luX2VjSESSIONTOKEN";

void WriteFile(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

// Fails the test if `message` carries any of the secrets used here.
void ExpectNoSecret(const std::string& message) {
  for (const char* secret : {kSecret, kToken, "eyJhbGciWEBIDENTITYTOKEN", "container-auth-token"}) {
    EXPECT_EQ(message.find(secret), std::string::npos) << message;
  }
}

struct Http {
  std::shared_ptr<HttpScript> script = std::make_shared<HttpScript>();
  TransportFactory factory() {
    auto s = script;
    return [s]() -> std::unique_ptr<http::Transport> {
      return std::make_unique<ScriptedTransport>(s);
    };
  }
};

std::string JsonCredentials(const std::string& id, const std::string& expiration) {
  return R"({"Code":"Success","AccessKeyId":")" + id + R"(","SecretAccessKey":")" + kSecret +
         R"(","Token":")" + kToken + R"(","Expiration":")" + expiration + R"("})";
}

std::string StsCredentials(const std::string& id) {
  return std::string(
             R"(<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
<AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>)") +
         id + "</AccessKeyId><SecretAccessKey>" + kSecret + "</SecretAccessKey><SessionToken>" +
         kToken +
         "</SessionToken><Expiration>2024-01-02T03:04:05Z</Expiration></Credentials>"
         "</AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>";
}

// ---- environment ------------------------------------------------------------

TEST(EnvironmentCredentials, ReadsKeysAndSessionToken) {
  EnvironmentCredentialsProvider p(config::Environment::FromMap({{"AWS_ACCESS_KEY_ID", "AKIDENV"},
                                                                 {"AWS_SECRET_ACCESS_KEY", kSecret},
                                                                 {"AWS_SESSION_TOKEN", kToken}}));
  auto c = p.Get();
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->access_key_id, "AKIDENV");
  EXPECT_EQ(c->secret_access_key.Reveal(), kSecret);
  EXPECT_EQ(c->session_token.Reveal(), kToken);
  EXPECT_FALSE(c->expiration.has_value());
}

TEST(EnvironmentCredentials, UnsetIsNotFoundAndHalfSetIsNamed) {
  EnvironmentCredentialsProvider none(config::Environment::Empty());
  ASSERT_FALSE(none.Get().ok());
  EXPECT_EQ(none.Get().error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(none.Get().error().message(), "environment: AWS_ACCESS_KEY_ID is not set");
  EnvironmentCredentialsProvider half(
      config::Environment::FromMap({{"AWS_SECRET_ACCESS_KEY", kSecret}}));
  ASSERT_FALSE(half.Get().ok());
  EXPECT_EQ(half.Get().error().message(),
            "environment: AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not");
  ExpectNoSecret(half.Get().error().message());
}

// ---- shared files -------------------------------------------------------------

TEST(ProfileCredentials, DefaultProfileFromHomeCredentialsFile) {
  TempDir home;
  WriteFile(home.path() / ".aws/credentials",
            std::string("[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = ") +
                kSecret + "\n[other]\naws_access_key_id = AKIDOTHER\n");
  ProfileCredentialsProvider p(config::Environment::FromMap({{"HOME", home.path().string()}}));
  auto c = p.Get();
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->access_key_id, "AKIDFILE");
  EXPECT_EQ(c->secret_access_key.Reveal(), kSecret);
  EXPECT_TRUE(c->session_token.empty());
  EXPECT_EQ(p.Describe(), "shared files (profile default in " +
                              (home.path() / ".aws/credentials").string() + ")");
}

TEST(ProfileCredentials, NamedProfileUsesProfilePrefixInConfigFile) {
  TempDir dir;
  WriteFile(dir.path() / "config",
            std::string("[dev]\naws_access_key_id = WRONG\n[profile dev]\naws_access_key_id = "
                        "AKIDCFG\naws_secret_access_key = ") +
                kSecret + "\naws_session_token = " + kToken + "\n");
  ProfileCredentialsProvider p(config::Environment::FromMap(
      {{"AWS_PROFILE", "dev"},
       {"AWS_CONFIG_FILE", (dir.path() / "config").string()},
       {"AWS_SHARED_CREDENTIALS_FILE", (dir.path() / "missing").string()}}));
  auto c = p.Get();
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->access_key_id, "AKIDCFG");
  EXPECT_EQ(c->session_token.Reveal(), kToken);
}

TEST(ProfileCredentials, CredentialsFileWinsOverConfigFile) {
  TempDir dir;
  WriteFile(dir.path() / "config",
            "[profile dev]\naws_access_key_id = AKIDCFG\naws_secret_access_key = cfgsecret\n");
  WriteFile(dir.path() / "credentials", "[dev]\naws_access_key_id = AKIDCRED\n");
  ProfileCredentialsProvider p(config::Environment::FromMap(
      {{"AWS_PROFILE", "dev"},
       {"AWS_CONFIG_FILE", (dir.path() / "config").string()},
       {"AWS_SHARED_CREDENTIALS_FILE", (dir.path() / "credentials").string()}}));
  auto c = p.Get();
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->access_key_id, "AKIDCRED");
  EXPECT_EQ(c->secret_access_key.Reveal(), "cfgsecret");
}

TEST(ProfileCredentials, MissingFilesAndProfilesAreNamed) {
  TempDir dir;
  ProfileCredentialsProvider none(config::Environment::FromMap({{"HOME", dir.path().string()}}));
  ASSERT_FALSE(none.Get().ok());
  EXPECT_EQ(none.Get().error().code(), ErrorCode::kNotFound);
  EXPECT_NE(none.Get().error().message().find("shared files: cannot read " +
                                              (dir.path() / ".aws/credentials").string()),
            std::string::npos)
      << none.Get().error().message();

  WriteFile(dir.path() / ".aws/credentials",
            "[default]\naws_access_key_id = A\naws_secret_access_key = s\n");
  ProfileCredentialsProvider missing(
      config::Environment::FromMap({{"HOME", dir.path().string()}, {"AWS_PROFILE", "prod"}}));
  ASSERT_FALSE(missing.Get().ok());
  EXPECT_EQ(missing.Get().error().message().rfind("shared files: profile prod is in neither ", 0),
            0u)
      << missing.Get().error().message();
}

TEST(ProfileCredentials, RoleProfilesAreReportedAsUnsupported) {
  TempDir dir;
  WriteFile(
      dir.path() / ".aws/config",
      "[profile ci]\nrole_arn = arn:aws:iam::123456789012:role/ci\nsource_profile = default\n");
  ProfileCredentialsProvider p(
      config::Environment::FromMap({{"HOME", dir.path().string()}, {"AWS_PROFILE", "ci"}}));
  ASSERT_FALSE(p.Get().ok());
  EXPECT_EQ(
      p.Get().error().message(),
      "shared files: profile ci uses role_arn, which sluice does not support (only static keys)");
}

TEST(ProfileCredentials, KeyWithoutSecretIsNamedWithoutSecrets) {
  TempDir dir;
  WriteFile(
      dir.path() / ".aws/credentials",
      std::string("[default]\naws_access_key_id = AKID\naws_session_token = ") + kToken + "\n");
  ProfileCredentialsProvider p(config::Environment::FromMap({{"HOME", dir.path().string()}}));
  ASSERT_FALSE(p.Get().ok());
  EXPECT_EQ(p.Get().error().message(),
            "shared files: profile default has aws_access_key_id but no aws_secret_access_key");
}

// ---- web identity ---------------------------------------------------------------

struct WebIdentity {
  TempDir dir;
  Http http;
  FakeClock clock{WallTime{std::chrono::seconds(1700000000)}};
  std::map<std::string, std::string> vars;

  WebIdentity() {
    WriteFile(token_file(), "eyJhbGciWEBIDENTITYTOKEN\n");
    vars = {{"AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/sluice"},
            {"AWS_WEB_IDENTITY_TOKEN_FILE", token_file().string()}};
  }
  std::filesystem::path token_file() const { return dir.path() / "token"; }
  std::unique_ptr<WebIdentityCredentialsProvider> Make(StsLocation sts = {"eu-west-1", "aws"}) {
    return std::make_unique<WebIdentityCredentialsProvider>(config::Environment::FromMap(vars), sts,
                                                            http.factory(), clock);
  }
};

TEST(WebIdentityCredentials, PostsAssumeRoleToRegionalStsUnsigned) {
  WebIdentity w;
  w.http.script->Reply(200, StsCredentials("ASIAWEB"));
  auto p = w.Make();
  auto c = p->Get();
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->access_key_id, "ASIAWEB");
  EXPECT_EQ(c->session_token.Reveal(), kToken);
  ASSERT_TRUE(c->expiration.has_value());

  const auto requests = w.http.script->requests();
  ASSERT_EQ(requests.size(), 1u);
  const http::Request& r = requests[0];
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.url, "https://sts.eu-west-1.amazonaws.com/");
  EXPECT_EQ(RequestHeader(r, "content-type"), "application/x-www-form-urlencoded; charset=utf-8");
  EXPECT_EQ(RequestHeader(r, "authorization"), "");  // AssumeRoleWithWebIdentity is unsigned
  EXPECT_EQ(r.body,
            "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A"
            "123456789012%3Arole%2Fsluice&RoleSessionName=sluice-1700000000&WebIdentityToken="
            "eyJhbGciWEBIDENTITYTOKEN");
  EXPECT_EQ(r.timeout, kStsTimeout);
  EXPECT_EQ(p->Describe(), "web identity (role arn:aws:iam::123456789012:role/sluice)");
}

TEST(WebIdentityCredentials, TokenFileIsReadAtEveryFetch) {
  WebIdentity w;
  w.vars["AWS_ROLE_SESSION_NAME"] = "my-session";
  auto p = w.Make();
  w.http.script->Reply(200, StsCredentials("ASIA1"));
  ASSERT_TRUE(p->Get().ok());
  WriteFile(w.token_file(), "rotated-token");
  w.http.script->Reply(200, StsCredentials("ASIA2"));
  auto c = p->Get();
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->access_key_id, "ASIA2");
  const auto requests = w.http.script->requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_NE(requests[1].body.find("RoleSessionName=my-session&WebIdentityToken=rotated-token"),
            std::string::npos)
      << requests[1].body;
}

TEST(WebIdentityCredentials, EndpointOverridesAndRegionFallback) {
  {
    WebIdentity w;
    w.vars["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9/general";
    w.vars["AWS_ENDPOINT_URL_STS"] = "http://127.0.0.1:8";
    w.http.script->Reply(200, StsCredentials("A"));
    ASSERT_TRUE(w.Make()->Get().ok());
    EXPECT_EQ(w.http.script->requests()[0].url, "http://127.0.0.1:8/");
  }
  {
    WebIdentity w;
    w.vars["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9/general";
    w.http.script->Reply(200, StsCredentials("A"));
    ASSERT_TRUE(w.Make()->Get().ok());
    EXPECT_EQ(w.http.script->requests()[0].url, "http://127.0.0.1:9/general");
  }
  {
    WebIdentity w;
    w.vars["AWS_REGION"] = "ap-south-1";
    w.http.script->Reply(200, StsCredentials("A"));
    ASSERT_TRUE(w.Make({"", "aws"})->Get().ok());
    EXPECT_EQ(w.http.script->requests()[0].url, "https://sts.ap-south-1.amazonaws.com/");
  }
  {
    WebIdentity w;
    w.http.script->Reply(200, StsCredentials("A"));
    ASSERT_TRUE(w.Make({"cn-north-1", "aws-cn"})->Get().ok());
    EXPECT_EQ(w.http.script->requests()[0].url, "https://sts.cn-north-1.amazonaws.com.cn/");
  }
  {
    WebIdentity w;
    auto c = w.Make({"", "aws"})->Get();
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(
        c.error().message(),
        "web identity: no region for STS (the stream ARN has none and AWS_REGION is not set)");
    EXPECT_TRUE(w.http.script->requests().empty());
  }
}

TEST(WebIdentityCredentials, StsErrorCodeAndMessageAreReported) {
  WebIdentity w;
  w.http.script->Reply(400, R"(<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error><Type>Sender</Type><Code>InvalidIdentityToken</Code><Message>Token expired</Message></Error>
  <RequestId>r1</RequestId></ErrorResponse>)");
  auto c = w.Make()->Get();
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code(), ErrorCode::kAuth);
  EXPECT_EQ(
      c.error().message(),
      "web identity: STS AssumeRoleWithWebIdentity for arn:aws:iam::123456789012:role/sluice "
      "at https://sts.eu-west-1.amazonaws.com/: HTTP 400: InvalidIdentityToken: Token expired");
  ExpectNoSecret(c.error().message());
}

TEST(WebIdentityCredentials, ServerErrorsTransportErrorsAndBadXmlNameTheProvider) {
  WebIdentity w;
  w.http.script->Reply(503, "Service Unavailable");
  w.http.script->Fail(Error(ErrorCode::kTimeout, "timed out"));
  w.http.script->Reply(200,
                       "<AssumeRoleWithWebIdentityResponse><Credentials><AccessKeyId>A"
                       "</AccessKeyId></Credentials></AssumeRoleWithWebIdentityResponse>");
  auto p = w.Make();
  auto unavailable = p->Get();
  ASSERT_FALSE(unavailable.ok());
  EXPECT_EQ(unavailable.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(unavailable.error().message().find("HTTP 503: unparseable body of 19 bytes"),
            std::string::npos)
      << unavailable.error().message();
  auto timeout = p->Get();
  ASSERT_FALSE(timeout.ok());
  EXPECT_EQ(timeout.error().code(), ErrorCode::kTimeout);
  EXPECT_EQ(timeout.error().message().rfind("web identity: STS AssumeRoleWithWebIdentity", 0), 0u);
  auto bad = p->Get();
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), ErrorCode::kProtocol);
  EXPECT_NE(bad.error().message().find("response has no SecretAccessKey"), std::string::npos);
}

TEST(WebIdentityCredentials, AnStsBodyEchoingTheTokenNeverReachesTheError) {
  WebIdentity w;
  // Unparseable, then XML whose Message quotes the token, then JSON.
  w.http.script->Reply(502, "proxy error for WebIdentityToken=eyJhbGciWEBIDENTITYTOKEN");
  w.http.script->Reply(400,
                       "<ErrorResponse><Error><Code>InvalidIdentityToken</Code><Message>token "
                       "eyJhbGciWEBIDENTITYTOKEN is not valid</Message></Error></ErrorResponse>");
  w.http.script->Reply(400, R"({"Code":"X","Message":"eyJhbGciWEBIDENTITYTOKEN"})");
  auto p = w.Make();
  auto raw = p->Get();
  ASSERT_FALSE(raw.ok());
  EXPECT_NE(raw.error().message().find("HTTP 502: unparseable body of 57 bytes"), std::string::npos)
      << raw.error().message();
  ExpectNoSecret(raw.error().message());
  auto xml = p->Get();
  ASSERT_FALSE(xml.ok());
  EXPECT_NE(xml.error().message().find("HTTP 400: InvalidIdentityToken: token *** is not valid"),
            std::string::npos)
      << xml.error().message();
  ExpectNoSecret(xml.error().message());
  auto json = p->Get();
  ASSERT_FALSE(json.ok());
  EXPECT_NE(json.error().message().find("HTTP 400: X: ***"), std::string::npos)
      << json.error().message();
  ExpectNoSecret(json.error().message());
}

TEST(WebIdentityCredentials, EndpointUserInfoAndQueryAreNotShown) {
  WebIdentity w;
  w.vars["AWS_ENDPOINT_URL_STS"] = "http://sts-user:sts-password@127.0.0.1:8/sts?sig=abc";
  w.http.script->Fail(Error(ErrorCode::kNetwork, "connection refused"));
  auto c = w.Make()->Get();
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(w.http.script->requests()[0].url,
            "http://sts-user:sts-password@127.0.0.1:8/sts?sig=abc");
  EXPECT_EQ(c.error().message(),
            "web identity: STS AssumeRoleWithWebIdentity for arn:aws:iam::123456789012:role/"
            "sluice at http://127.0.0.1:8/sts: connection refused");
}

TEST(WebIdentityCredentials, UnsetMissingTokenFileAndHalfConfigured) {
  {
    WebIdentity w;
    w.vars.clear();
    auto c = w.Make()->Get();
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().code(), ErrorCode::kNotFound);
  }
  {
    WebIdentity w;
    w.vars.erase("AWS_ROLE_ARN");
    EXPECT_EQ(w.Make()->Get().error().message(),
              "web identity: AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not");
  }
  {
    WebIdentity w;
    w.vars["AWS_WEB_IDENTITY_TOKEN_FILE"] = (w.dir.path() / "nope").string();
    auto c = w.Make()->Get();
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().code(), ErrorCode::kIo);
    EXPECT_EQ(c.error().message(), "web identity: cannot read web identity token file " +
                                       (w.dir.path() / "nope").string() +
                                       ": No such file or directory");
    EXPECT_TRUE(w.http.script->requests().empty());
  }
}

// ---- container -------------------------------------------------------------------

struct Container {
  TempDir dir;
  Http http;
  std::map<std::string, std::string> vars;
  std::unique_ptr<ContainerCredentialsProvider> Make() {
    return std::make_unique<ContainerCredentialsProvider>(config::Environment::FromMap(vars),
                                                          http.factory());
  }
};

TEST(ContainerCredentials, RelativeUriGoesToEcsAgentWithAuthorizationToken) {
  Container ct;
  ct.vars = {{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/abc"},
             {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "container-auth-token"}};
  ct.http.script->Reply(200, JsonCredentials("ASIAECS", "2024-01-02T03:04:05Z"));
  auto p = ct.Make();
  auto c = p->Get();
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->access_key_id, "ASIAECS");
  EXPECT_EQ(c->session_token.Reveal(), kToken);
  const auto requests = ct.http.script->requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "GET");
  EXPECT_EQ(requests[0].url, "http://169.254.170.2/v2/credentials/abc");
  EXPECT_EQ(RequestHeader(requests[0], "authorization"), "container-auth-token");
  EXPECT_EQ(requests[0].connect_timeout, kContainerConnectTimeout);
  EXPECT_EQ(p->Describe(), "container (http://169.254.170.2/v2/credentials/abc)");
}

TEST(ContainerCredentials, FullUriWithTokenFileReadAtEveryFetch) {
  Container ct;
  WriteFile(ct.dir.path() / "token", "eks-token-1\n");
  ct.vars = {{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://169.254.170.23/v1/credentials"},
             {"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", (ct.dir.path() / "token").string()},
             {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "ignored-when-file-set"}};
  auto p = ct.Make();
  ct.http.script->Reply(200, JsonCredentials("ASIA1", "2024-01-02T03:04:05Z"));
  ASSERT_TRUE(p->Get().ok());
  WriteFile(ct.dir.path() / "token", "eks-token-2");
  ct.http.script->Reply(200, JsonCredentials("ASIA2", "2024-01-02T03:04:05Z"));
  ASSERT_TRUE(p->Get().ok());
  const auto requests = ct.http.script->requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].url, "http://169.254.170.23/v1/credentials");
  EXPECT_EQ(RequestHeader(requests[0], "authorization"), "eks-token-1");
  EXPECT_EQ(RequestHeader(requests[1], "authorization"), "eks-token-2");
}

TEST(ContainerCredentials, FullUriHostsAllowedOverHttp) {
  for (const char* uri : {"http://127.0.0.1:8080/creds", "http://localhost/creds",
                          "http://[::1]:9/creds", "http://169.254.170.2/creds",
                          "http://[fd00:ec2::23]/creds", "https://creds.example.com/x"}) {
    Container ct;
    ct.vars = {{"AWS_CONTAINER_CREDENTIALS_FULL_URI", uri}};
    ct.http.script->Reply(200, JsonCredentials("ASIA", "2024-01-02T03:04:05Z"));
    auto c = ct.Make()->Get();
    EXPECT_TRUE(c.ok()) << uri << ": " << c.error().message();
    ASSERT_EQ(ct.http.script->requests().size(), 1u);
    EXPECT_EQ(ct.http.script->requests()[0].url, uri);
    EXPECT_EQ(RequestHeader(ct.http.script->requests()[0], "authorization"), "");
  }
}

TEST(ContainerCredentials, FullUriWithOtherHttpHostIsRefusedWithoutSending) {
  for (const char* uri : {"http://169.254.169.254/latest", "http://10.0.0.1/creds",
                          "http://creds.example.com/x", "ftp://127.0.0.1/x"}) {
    Container ct;
    ct.vars = {{"AWS_CONTAINER_CREDENTIALS_FULL_URI", uri},
               {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "container-auth-token"}};
    auto c = ct.Make()->Get();
    ASSERT_FALSE(c.ok()) << uri;
    EXPECT_EQ(c.error().code(), ErrorCode::kConfig);
    EXPECT_EQ(c.error().message().rfind("container: AWS_CONTAINER_CREDENTIALS_FULL_URI", 0), 0u)
        << c.error().message();
    ExpectNoSecret(c.error().message());
    EXPECT_TRUE(ct.http.script->requests().empty()) << uri;
  }
}

// Userinfo, fragment, query and backslash tricks: each FULL_URI is either
// refused without sending anything or sent to the host that was checked.
TEST(ContainerCredentials, FullUriParsingTricksAreRefusedOrResolvedToTheCheckedHost) {
  for (const char* uri :
       {"http://169.254.170.2@evil.com/", "http://127.0.0.1@evil.com/creds",
        "http://127.0.0.1:80@evil.com/", "http://[::1]@evil.com/", "http://evil.com#@127.0.0.1/",
        "http://evil.com?@127.0.0.1/", "http://127.0.0.1\\@evil.com/",
        "http://127.0.0.1\\evil.com/", "http://127.0.0.1 @evil.com/", "http://127.0.0.1.evil.com/",
        "http://localhost.evil.com/", "http://0x7f.0.0.1/", "http://2130706433/",
        "http://user:pw@127.0.0.1/creds", "http://127.0.0.1\t/creds", "http:/127.0.0.1/creds"}) {
    Container ct;
    ct.vars = {{"AWS_CONTAINER_CREDENTIALS_FULL_URI", uri},
               {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "container-auth-token"}};
    auto c = ct.Make()->Get();
    ASSERT_FALSE(c.ok()) << uri;
    EXPECT_EQ(c.error().code(), ErrorCode::kConfig) << uri;
    EXPECT_EQ(c.error().message().rfind("container: AWS_CONTAINER_CREDENTIALS_FULL_URI", 0), 0u)
        << c.error().message();
    EXPECT_EQ(c.error().message().find("pw@"), std::string::npos) << c.error().message();
    EXPECT_TRUE(ct.http.script->requests().empty()) << uri;
  }
  // Allowed: what is sent goes to the host that was checked.
  for (const auto& [uri, host] : std::vector<std::pair<std::string, std::string>>{
           {"http://127.0.0.1/a@evil.com", "127.0.0.1"},
           {"http://127.0.0.1/creds#@evil.com", "127.0.0.1"},
           {"http://127.0.0.1:8080/creds?next=http://evil.com/", "127.0.0.1"},
           {"HTTP://LOCALHOST:9/creds", "localhost"}}) {
    Container ct;
    ct.vars = {{"AWS_CONTAINER_CREDENTIALS_FULL_URI", uri}};
    ct.http.script->Reply(200, JsonCredentials("ASIA", "2024-01-02T03:04:05Z"));
    auto c = ct.Make()->Get();
    EXPECT_TRUE(c.ok()) << uri << ": " << c.error().message();
    ASSERT_EQ(ct.http.script->requests().size(), 1u) << uri;
    EXPECT_EQ(ct.http.script->requests()[0].url, uri);
    EXPECT_EQ(UrlHost(ct.http.script->requests()[0].url), host);
  }
}

TEST(ContainerCredentials, RelativeUriMustBeAPath) {
  for (const char* relative : {"@evil.com/creds", "v2/credentials", ".evil.com/x", ":80@evil.com/",
                               "/v2/a b", "/v2\\..\\x"}) {
    Container ct;
    ct.vars = {{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", relative}};
    auto c = ct.Make()->Get();
    ASSERT_FALSE(c.ok()) << relative;
    EXPECT_EQ(c.error().code(), ErrorCode::kConfig);
    EXPECT_EQ(c.error().message(),
              "container: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI must be a path starting with "
              "\"/\" (without spaces or backslashes)");
    EXPECT_TRUE(ct.http.script->requests().empty()) << relative;
  }
}

TEST(ContainerCredentials, QueryAndUserInfoAreNotShownInErrorsOrDescribe) {
  Container ct;
  ct.vars = {{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "https://creds.example.com/x?sig=signature"}};
  ct.http.script->Reply(500, "");
  ct.http.script->Reply(200, JsonCredentials("ASIA", "2024-01-02T03:04:05Z"));
  auto p = ct.Make();
  auto failed = p->Get();
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().message(),
            "container: GET https://creds.example.com/x: HTTP 500: empty response body");
  ASSERT_TRUE(p->Get().ok());
  EXPECT_EQ(p->Describe(), "container (https://creds.example.com/x)");
  EXPECT_EQ(ct.http.script->requests()[1].url, "https://creds.example.com/x?sig=signature");
}

TEST(ContainerCredentials, ABodyEchoingTheAuthorizationTokenNeverReachesTheError) {
  Container ct;
  ct.vars = {{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/c"},
             {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "container-auth-token"}};
  ct.http.script->Reply(401, "Authorization: container-auth-token rejected");
  ct.http.script->Reply(403, R"({"message":"token container-auth-token expired"})");
  auto p = ct.Make();
  for (const char* expected :
       {"HTTP 401: unparseable body of 44 bytes", "HTTP 403: token *** expired"}) {
    auto c = p->Get();
    ASSERT_FALSE(c.ok());
    EXPECT_NE(c.error().message().find(expected), std::string::npos) << c.error().message();
    ExpectNoSecret(c.error().message());
  }
}

TEST(ContainerCredentials, ErrorsNameTheProviderAndNoSecret) {
  Container ct;
  ct.vars = {{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/c"},
             {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "container-auth-token"}};
  ct.http.script->Reply(403, "{\"message\":\"invalid token\"}");
  ct.http.script->Reply(500, "");
  ct.http.script->Reply(200,
                        std::string("{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"") + kSecret);
  ct.http.script->Reply(200, std::string("{\"SecretAccessKey\":\"") + kSecret + "\"}");
  auto p = ct.Make();
  auto forbidden = p->Get();
  ASSERT_FALSE(forbidden.ok());
  EXPECT_EQ(forbidden.error().code(), ErrorCode::kAuth);
  EXPECT_EQ(forbidden.error().message(),
            "container: GET http://169.254.170.2/v2/c: HTTP 403: invalid token");
  auto server = p->Get();
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.error().code(), ErrorCode::kUnavailable);
  auto bad_json = p->Get();
  ASSERT_FALSE(bad_json.ok());
  EXPECT_EQ(bad_json.error().code(), ErrorCode::kProtocol);
  ExpectNoSecret(bad_json.error().message());
  auto no_id = p->Get();
  ASSERT_FALSE(no_id.ok());
  EXPECT_EQ(no_id.error().message(),
            "container: GET http://169.254.170.2/v2/c: credentials response has no AccessKeyId");
}

TEST(ContainerCredentials, UnsetAndUnreadableTokenFile) {
  Container ct;
  EXPECT_EQ(ct.Make()->Get().error().code(), ErrorCode::kNotFound);
  ct.vars = {{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:1/c"},
             {"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", (ct.dir.path() / "missing").string()}};
  auto c = ct.Make()->Get();
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code(), ErrorCode::kIo);
  EXPECT_EQ(
      c.error().message().rfind("container: cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", 0),
      0u);
  EXPECT_TRUE(ct.http.script->requests().empty());
}

// ---- EC2 instance metadata -------------------------------------------------------

struct Imds {
  Http http;
  std::map<std::string, std::string> vars;
  std::unique_ptr<ImdsCredentialsProvider> Make() {
    return std::make_unique<ImdsCredentialsProvider>(config::Environment::FromMap(vars),
                                                     http.factory());
  }
};

TEST(ImdsCredentials, TokenThenRoleThenCredentials) {
  Imds m;
  m.http.script->Reply(200, "imds-session-token");
  m.http.script->Reply(200, "sluice-role\n");
  m.http.script->Reply(200, JsonCredentials("ASIAEC2", "2024-01-02T03:04:05Z"));
  auto p = m.Make();
  auto c = p->Get();
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->access_key_id, "ASIAEC2");
  const auto r = m.http.script->requests();
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].method, "PUT");
  EXPECT_EQ(r[0].url, "http://169.254.169.254/latest/api/token");
  EXPECT_EQ(RequestHeader(r[0], "x-aws-ec2-metadata-token-ttl-seconds"), "21600");
  EXPECT_EQ(r[0].connect_timeout, kImdsConnectTimeout);
  EXPECT_EQ(r[1].method, "GET");
  EXPECT_EQ(r[1].url, "http://169.254.169.254/latest/meta-data/iam/security-credentials/");
  EXPECT_EQ(RequestHeader(r[1], "x-aws-ec2-metadata-token"), "imds-session-token");
  EXPECT_EQ(r[2].method, "GET");
  EXPECT_EQ(r[2].url,
            "http://169.254.169.254/latest/meta-data/iam/security-credentials/sluice-role");
  EXPECT_EQ(RequestHeader(r[2], "x-aws-ec2-metadata-token"), "imds-session-token");
  EXPECT_EQ(p->Describe(), "EC2 instance metadata (role sluice-role)");
}

TEST(ImdsCredentials, DisabledSendsNothing) {
  for (const char* value : {"true", "TRUE", "True"}) {
    Imds m;
    m.vars = {{"AWS_EC2_METADATA_DISABLED", value}};
    auto c = m.Make()->Get();
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().code(), ErrorCode::kNotFound);
    EXPECT_EQ(c.error().message(),
              "EC2 instance metadata: disabled by AWS_EC2_METADATA_DISABLED=true");
    EXPECT_TRUE(m.http.script->requests().empty());
  }
}

TEST(ImdsCredentials, EndpointOverrideAndIpv6Mode) {
  {
    Imds m;
    m.vars = {{"AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:8111/"}};
    m.http.script->Fail(Error(ErrorCode::kNetwork, "connection refused"));
    auto c = m.Make()->Get();
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(
        c.error().message(),
        "EC2 instance metadata: PUT http://127.0.0.1:8111/latest/api/token: connection refused");
    EXPECT_EQ(m.http.script->requests()[0].url, "http://127.0.0.1:8111/latest/api/token");
  }
  {
    Imds m;
    m.vars = {{"AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "IPv6"}};
    m.http.script->Fail(Error(ErrorCode::kTimeout, "timeout"));
    EXPECT_FALSE(m.Make()->Get().ok());
    EXPECT_EQ(m.http.script->requests()[0].url, "http://[fd00:ec2::254]/latest/api/token");
  }
}

TEST(ImdsCredentials, ABodyEchoingTheSessionTokenNeverReachesTheError) {
  Imds m;
  m.http.script->Reply(200, "imds-session-token-value");
  m.http.script->Reply(401, "<Code>Unauthorized</Code><Message>imds-session-token-value</Message>");
  m.http.script->Reply(200, "imds-session-token-value");
  m.http.script->Reply(200, "sluice-role");
  m.http.script->Reply(500, "token imds-session-token-value " + std::string(kSecret));
  auto p = m.Make();
  auto roles = p->Get();
  ASSERT_FALSE(roles.ok());
  EXPECT_EQ(roles.error().message(),
            "EC2 instance metadata: GET "
            "http://169.254.169.254/latest/meta-data/iam/security-credentials/: HTTP 401: "
            "Unauthorized: ***");
  auto credentials = p->Get();
  ASSERT_FALSE(credentials.ok());
  EXPECT_EQ(credentials.error().message().find("imds-session-token-value"), std::string::npos);
  EXPECT_NE(credentials.error().message().find("HTTP 500: unparseable body of"), std::string::npos);
  ExpectNoSecret(credentials.error().message());
}

TEST(ImdsCredentials, NoRoleTokenRefusedAndBadDocument) {
  {
    Imds m;
    m.http.script->Reply(200, "imds-session-token");
    m.http.script->Reply(404, "Not Found");
    auto c = m.Make()->Get();
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().message(),
              "EC2 instance metadata: no IAM role is attached to this instance (GET "
              "http://169.254.169.254/latest/meta-data/iam/security-credentials/: HTTP 404)");
  }
  {
    Imds m;
    m.http.script->Reply(403, "Forbidden");
    auto c = m.Make()->Get();
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().code(), ErrorCode::kAuth);
    EXPECT_NE(c.error().message().find("(IMDSv2 session token): HTTP 403"), std::string::npos);
    EXPECT_EQ(m.http.script->requests().size(), 1u);
  }
  {
    Imds m;
    m.http.script->Reply(200, "imds-session-token");
    m.http.script->Reply(200, "sluice-role");
    m.http.script->Reply(200, std::string("{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"") +
                                  kSecret + "\",\"Token\":\"" + kToken +
                                  "\",\"Expiration\":\"never\"}");
    auto c = m.Make()->Get();
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().message(),
              "EC2 instance metadata: GET "
              "http://169.254.169.254/latest/meta-data/iam/security-credentials/sluice-role: "
              "credentials response has a malformed Expiration \"never\"");
    ExpectNoSecret(c.error().message());
  }
}

}  // namespace
}  // namespace sluice::aws
