// The credential providers and the Kinesis client through the real
// CurlTransport, against cpp-httplib servers on 127.0.0.1 in this process that
// play EC2 instance metadata (IMDSv2), the ECS/EKS container endpoint, STS
// AssumeRoleWithWebIdentity and Kinesis. Every transport is wrapped in
// LoopbackOnlyTransport: a request to anything but loopback is refused and
// fails the test. Expiry runs on a FakeClock shared by the servers.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "aws/chain.h"
#include "aws/credential_parsing.h"
#include "aws/providers.h"
#include "http/curl_transport.h"
#include "sink/kinesis/client.h"
#include "support/fake_clock.h"
#include "support/guarded_transport.h"
#include "support/temp_dir.h"

namespace sluice::aws {
namespace {

using testing_support::FakeClock;
using testing_support::LoopbackOnlyTransport;
using testing_support::RefusedLog;
using testing_support::TempDir;

class LocalServer {
 public:
  LocalServer() {
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~LocalServer() {
    while (!server_.is_running()) std::this_thread::yield();
    server_.stop();
    thread_.join();
  }
  httplib::Server& server() { return server_; }
  std::string Url(const std::string& path = "") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

// Issues a new key pair at every fetch: ASIA1, ASIA2, ... each valid for
// `lifetime` of the shared fake clock. Thread-safe.
class KeyIssuer {
 public:
  KeyIssuer(const FakeClock& clock, std::chrono::seconds lifetime)
      : clock_(clock), lifetime_(lifetime) {}
  struct Key {
    std::string id, secret, token;
    WallTime expiration;
  };
  Key Issue() {
    std::lock_guard<std::mutex> lock(mu_);
    const int n = ++issued_;
    Key k{"ASIA" + std::to_string(n), "secret-" + std::to_string(n), "token-" + std::to_string(n),
          clock_.WallNow() + lifetime_};
    keys_[k.id] = k;
    return k;
  }
  // Whether Kinesis should accept the key now: issued, not expired, not revoked.
  bool Valid(const std::string& id, const std::string& token) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = keys_.find(id);
    return it != keys_.end() && it->second.token == token && revoked_.count(id) == 0 &&
           clock_.WallNow() < it->second.expiration;
  }
  void Revoke(const std::string& id) {
    std::lock_guard<std::mutex> lock(mu_);
    revoked_.insert(id);
  }
  int issued() {
    std::lock_guard<std::mutex> lock(mu_);
    return issued_;
  }
  std::string Json(const Key& k) const {
    return R"({"Code":"Success","AccessKeyId":")" + k.id + R"(","SecretAccessKey":")" + k.secret +
           R"(","Token":")" + k.token + R"(","Expiration":")" + FormatIso8601(k.expiration) +
           R"("})";
  }

 private:
  const FakeClock& clock_;
  const std::chrono::seconds lifetime_;
  std::mutex mu_;
  int issued_ = 0;
  std::map<std::string, Key> keys_;
  std::set<std::string> revoked_;
};

struct Fixture {
  FakeClock clock;
  std::shared_ptr<RefusedLog> refused = std::make_shared<RefusedLog>();
  TempDir dir;

  TransportFactory Transports() {
    auto log = refused;
    return [log]() -> std::unique_ptr<http::Transport> {
      return std::make_unique<LoopbackOnlyTransport>(std::make_unique<http::CurlTransport>(), log);
    };
  }
  // HOME without shared files and IMDS off unless a test turns it on.
  std::map<std::string, std::string> BaseVars() const {
    return {{"HOME", dir.path().string()}, {"AWS_EC2_METADATA_DISABLED", "true"}};
  }
  ~Fixture() { EXPECT_TRUE(refused->urls().empty()) << "non-loopback URL: " << refused->urls()[0]; }
};

void ServeImds(httplib::Server& server, KeyIssuer& issuer, std::atomic<int>* token_puts) {
  server.Put("/latest/api/token",
             [token_puts](const httplib::Request& req, httplib::Response& res) {
               if (req.get_header_value("X-aws-ec2-metadata-token-ttl-seconds").empty()) {
                 res.status = 400;
                 return;
               }
               ++*token_puts;
               res.set_content("imds-session", "text/plain");
             });
  server.Get(R"(/latest/meta-data/iam/security-credentials/(.*))",
             [&issuer](const httplib::Request& req, httplib::Response& res) {
               if (req.get_header_value("X-aws-ec2-metadata-token") != "imds-session") {
                 res.status = 401;  // IMDSv1 is off on this instance
                 return;
               }
               if (req.matches[1].str().empty()) {
                 res.set_content("sluice-role", "text/plain");
               } else if (req.matches[1].str() == "sluice-role") {
                 res.set_content(issuer.Json(issuer.Issue()), "application/json");
               } else {
                 res.status = 404;
               }
             });
}

TEST(CredentialsIntegration, ImdsV2YieldsCredentials) {
  Fixture f;
  LocalServer imds;
  KeyIssuer issuer(f.clock, std::chrono::hours(6));
  std::atomic<int> token_puts{0};
  ServeImds(imds.server(), issuer, &token_puts);
  auto vars = f.BaseVars();
  vars["AWS_EC2_METADATA_DISABLED"] = "false";
  vars["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = imds.Url();
  ImdsCredentialsProvider p(config::Environment::FromMap(vars), f.Transports());
  auto c = p.Get();
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->access_key_id, "ASIA1");
  EXPECT_EQ(c->secret_access_key.Reveal(), "secret-1");
  EXPECT_EQ(c->session_token.Reveal(), "token-1");
  EXPECT_EQ(c->expiration, f.clock.WallNow() + std::chrono::hours(6));
  EXPECT_EQ(token_puts.load(), 1);
  EXPECT_EQ(p.Describe(), "EC2 instance metadata (role sluice-role)");
}

TEST(CredentialsIntegration, ContainerEndpointWithAuthorizationTokenFile) {
  Fixture f;
  LocalServer agent;
  KeyIssuer issuer(f.clock, std::chrono::hours(1));
  agent.server().Get("/v1/credentials", [&](const httplib::Request& req, httplib::Response& res) {
    if (req.get_header_value("Authorization") != "pod-identity-token") {
      res.status = 401;
      res.set_content(R"({"Message":"bad token"})", "application/json");
      return;
    }
    res.set_content(issuer.Json(issuer.Issue()), "application/json");
  });
  std::ofstream(f.dir.path() / "token") << "wrong-token";
  auto vars = f.BaseVars();
  vars["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = agent.Url("/v1/credentials");
  vars["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] = (f.dir.path() / "token").string();
  ContainerCredentialsProvider p(config::Environment::FromMap(vars), f.Transports());

  auto refused = p.Get();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), ErrorCode::kAuth);
  EXPECT_EQ(refused.error().message(),
            "container: GET " + agent.Url("/v1/credentials") + ": HTTP 401: bad token");

  std::ofstream(f.dir.path() / "token") << "pod-identity-token\n";  // the agent rotated it
  auto c = p.Get();
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->access_key_id, "ASIA1");
  EXPECT_EQ(c->session_token.Reveal(), "token-1");
}

TEST(CredentialsIntegration, WebIdentityAssumesRoleAtSts) {
  Fixture f;
  LocalServer sts;
  KeyIssuer issuer(f.clock, std::chrono::hours(1));
  sts.server().Post("/", [&](const httplib::Request& req, httplib::Response& res) {
    res.set_header("Content-Type", "text/xml");
    if (req.get_param_value("Action") != "AssumeRoleWithWebIdentity" ||
        req.get_param_value("RoleArn") != "arn:aws:iam::123456789012:role/irsa" ||
        req.get_param_value("WebIdentityToken") != "jwt-from-kubelet" ||
        req.get_param_value("RoleSessionName").empty()) {
      res.status = 400;
      res.body =
          "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code>"
          "<Message>Incorrect token audience</Message></Error></ErrorResponse>";
      return;
    }
    const auto k = issuer.Issue();
    res.body =
        "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials>"
        "<AccessKeyId>" +
        k.id + "</AccessKeyId><SecretAccessKey>" + k.secret + "</SecretAccessKey><SessionToken>" +
        k.token + "</SessionToken><Expiration>" + FormatIso8601(k.expiration) +
        "</Expiration></Credentials></AssumeRoleWithWebIdentityResult>"
        "</AssumeRoleWithWebIdentityResponse>";
  });
  std::ofstream(f.dir.path() / "jwt") << "stale-jwt";
  auto vars = f.BaseVars();
  vars["AWS_ROLE_ARN"] = "arn:aws:iam::123456789012:role/irsa";
  vars["AWS_WEB_IDENTITY_TOKEN_FILE"] = (f.dir.path() / "jwt").string();
  vars["AWS_ENDPOINT_URL_STS"] = sts.Url();
  WebIdentityCredentialsProvider p(config::Environment::FromMap(vars), {"us-east-1", "aws"},
                                   f.Transports(), f.clock);
  auto refused = p.Get();
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(
      refused.error().message().find("HTTP 400: InvalidIdentityToken: Incorrect token audience"),
      std::string::npos)
      << refused.error().message();

  std::ofstream(f.dir.path() / "jwt") << "jwt-from-kubelet";
  auto c = p.Get();
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->access_key_id, "ASIA1");
  EXPECT_EQ(c->secret_access_key.Reveal(), "secret-1");
}

// A Kinesis endpoint that accepts PutRecords only with a key the issuer says
// is valid now, else answers ExpiredTokenException as AWS does.
struct FakeKinesis {
  LocalServer server;
  std::mutex mu;
  std::vector<std::pair<std::string, int>> calls;  // GUARDED_BY(mu): key, status

  explicit FakeKinesis(KeyIssuer& issuer) {
    server.server().Post("/", [&](const httplib::Request& req, httplib::Response& res) {
      const std::string auth = req.get_header_value("Authorization");
      const size_t start = auth.find("Credential=") + 11;
      const std::string key = auth.substr(start, auth.find('/', start) - start);
      const bool ok = issuer.Valid(key, req.get_header_value("X-Amz-Security-Token"));
      res.status = ok ? 200 : 400;
      res.set_content(
          ok ? R"({"FailedRecordCount":0,"Records":[{"SequenceNumber":"1","ShardId":"shardId-000000000000"}]})"
             : R"({"__type":"ExpiredTokenException","message":"The security token included in the request is expired"})",
          "application/x-amz-json-1.1");
      std::lock_guard<std::mutex> lock(mu);
      calls.emplace_back(key, res.status);
    });
  }
  std::vector<std::pair<std::string, int>> Calls() {
    std::lock_guard<std::mutex> lock(mu);
    return calls;
  }
};

struct Delivery {
  Fixture f;
  KeyIssuer issuer{f.clock, std::chrono::minutes(15)};
  LocalServer agent;
  FakeKinesis kinesis{issuer};
  config::KinesisDestination destination;
  std::unique_ptr<kinesis::KinesisClient> client;

  Delivery() {
    agent.server().Get("/creds", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(issuer.Json(issuer.Issue()), "application/json");
    });
    auto vars = f.BaseVars();
    vars["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = agent.Url("/creds");
    std::string why;
    destination.stream =
        *config::StreamArn::Parse("arn:aws:kinesis:us-east-1:123456789012:stream/orders", &why);
    destination.endpoint_url = kinesis.server.Url();
    destination.use_task_role = true;
    auto credentials = MakeDefaultCredentialsChain(
        {"us-east-1", "aws"}, config::Environment::FromMap(vars), f.Transports(), f.clock);
    auto transports = f.Transports();
    client = kinesis::MakeKinesisClient(
        destination, credentials, [transports] { return transports(); }, f.clock);
  }
  kinesis::PutRecordsResult Put() {
    return client->PutRecords(
        destination.stream,
        R"({"StreamName":"orders","Records":[{"Data":"e30=","PartitionKey":"k"}]})", 1);
  }
};

TEST(CredentialsIntegration, RotationMidStreamLosesNoRequest) {
  Delivery d;
  // 20 requests, 2 minutes apart: keys live 15 minutes and are renewed in
  // the last 5, so the stream runs through several rotations.
  for (int i = 0; i < 20; ++i) {
    auto r = d.Put();
    ASSERT_EQ(r.failure, kinesis::RequestFailure::kNone)
        << "request " << i << ": " << r.error_message;
    d.f.clock.Advance(std::chrono::minutes(2));
  }
  const auto calls = d.kinesis.Calls();
  EXPECT_EQ(calls.size(), 20u);
  for (const auto& [key, status] : calls) EXPECT_EQ(status, 200) << key;
  EXPECT_GE(d.issuer.issued(), 4);
  EXPECT_EQ(calls.front().first, "ASIA1");
  EXPECT_EQ(calls.back().first, "ASIA" + std::to_string(d.issuer.issued()));
}

TEST(CredentialsIntegration, ExpiredTokenTriggersRefreshAndTheRetriedRequestSucceeds) {
  Delivery d;
  ASSERT_EQ(d.Put().failure, kinesis::RequestFailure::kNone);
  d.issuer.Revoke("ASIA1");  // AWS now says ExpiredToken for a key that looked valid
  auto r = d.Put();
  ASSERT_EQ(r.failure, kinesis::RequestFailure::kNone) << r.error_message;
  const auto calls = d.kinesis.Calls();
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[0], std::make_pair(std::string("ASIA1"), 200));
  EXPECT_EQ(calls[1], std::make_pair(std::string("ASIA1"), 400));
  EXPECT_EQ(calls[2], std::make_pair(std::string("ASIA2"), 200));
  EXPECT_EQ(d.issuer.issued(), 2);
}

}  // namespace
}  // namespace sluice::aws
