#include "sink/kinesis/client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <thread>

#include "aws/sigv4.h"
#include "sink/kinesis/limits.h"
#include "unit/sink/kinesis/fake_transport.h"

namespace sluice::kinesis {
namespace {

using testing::CountingCredentials;
using testing::FakeTransport;
using testing::FixedClock;
using testing::HasHeader;
using testing::HeaderValue;
using testing::Script;

constexpr char kSummaryOk[] =
    R"({"StreamDescriptionSummary":{"StreamStatus":"ACTIVE","OpenShardCount":3,"MaxRecordSizeInKiB":2048}})";
constexpr char kDescribeOk[] =
    R"({"StreamDescription":{"StreamStatus":"ACTIVE","Shards":[{"ShardId":"s0","SequenceNumberRange":{"StartingSequenceNumber":"1"}}]}})";
constexpr char kAccessDenied[] =
    R"({"__type":"AccessDeniedException","message":"User: arn:aws:iam::123456789012:user/sluice is not authorized"})";

config::StreamArn Arn(const std::string& partition, const std::string& region,
                      const std::string& name) {
  config::StreamArn arn;
  arn.partition = partition;
  arn.region = region;
  arn.account = "123456789012";
  arn.stream_name = name;
  arn.arn = "arn:" + partition + ":kinesis:" + region + ":123456789012:stream/" + name;
  return arn;
}

aws::Credentials Keys(std::string session_token = "") {
  aws::Credentials c;
  c.access_key_id = "AKIDEXAMPLE";
  c.secret_access_key = Secret("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
  c.session_token = Secret(std::move(session_token));
  return c;
}

// 2024-01-02T03:04:05Z
const WallTime kNow = std::chrono::sys_days{std::chrono::year{2024} / 1 / 2} +
                      std::chrono::hours{3} + std::chrono::minutes{4} + std::chrono::seconds{5};

struct Harness {
  explicit Harness(config::KinesisDestination d = Destination(),
                   Result<aws::Credentials> credentials = Keys())
      : destination(std::move(d)),
        script(std::make_shared<Script>()),
        provider(std::make_shared<CountingCredentials>(std::move(credentials))),
        clock(kNow) {
    auto s = script;
    auto* made = &transports_made;
    client = MakeKinesisClient(
        destination, provider,
        [s, made]() -> std::unique_ptr<http::Transport> {
          ++*made;
          return std::make_unique<FakeTransport>(s);
        },
        clock);
  }

  static config::KinesisDestination Destination() {
    config::KinesisDestination d;
    d.stream = Arn("aws", "us-east-1", "orders");
    d.request_timeout = std::chrono::milliseconds(7000);
    d.connect_timeout = std::chrono::milliseconds(1500);
    return d;
  }

  config::KinesisDestination destination;
  std::shared_ptr<Script> script;
  std::shared_ptr<CountingCredentials> provider;
  FixedClock clock;
  std::atomic<int> transports_made{0};
  std::unique_ptr<KinesisClient> client;
};

TEST(KinesisClient, PutRecordsSendsSignedJsonRequestToRegionalEndpoint) {
  Harness h;
  h.script->Reply(
      200, R"({"FailedRecordCount":0,"Records":[{"SequenceNumber":"1","ShardId":"shardId-0"}]})");
  const std::string body = R"({"StreamName":"orders","Records":[]})";
  const auto result = h.client->PutRecords(h.destination.stream, body, 1);
  ASSERT_EQ(result.failure, RequestFailure::kNone) << result.error_message;
  ASSERT_EQ(result.records.size(), 1u);

  const auto requests = h.script->requests();
  ASSERT_EQ(requests.size(), 1u);
  const http::Request& sent = requests[0];
  EXPECT_EQ(sent.method, "POST");
  EXPECT_EQ(sent.url, "https://kinesis.us-east-1.amazonaws.com/");
  EXPECT_EQ(sent.body, body);
  EXPECT_EQ(HeaderValue(sent, "content-type"), "application/x-amz-json-1.1");
  EXPECT_EQ(HeaderValue(sent, "x-amz-target"), "Kinesis_20131202.PutRecords");
  EXPECT_EQ(HeaderValue(sent, "x-amz-date"), "20240102T030405Z");
  EXPECT_EQ(HeaderValue(sent, "host"), "kinesis.us-east-1.amazonaws.com");
  EXPECT_FALSE(HasHeader(sent, "x-amz-security-token"));
  EXPECT_EQ(sent.timeout, std::chrono::milliseconds(7000));
  EXPECT_EQ(sent.connect_timeout, std::chrono::milliseconds(1500));

  const std::string authorization = HeaderValue(sent, "authorization");
  EXPECT_EQ(
      authorization.rfind(
          "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240102/us-east-1/kinesis/aws4_request", 0),
      0u)
      << authorization;
  // The header is the signer's signature of exactly what was sent.
  http::Request unsigned_copy = sent;
  std::erase_if(unsigned_copy.headers, [](const auto& h) { return h.first == "Authorization"; });
  EXPECT_EQ(
      authorization,
      aws::ComputeSignature(unsigned_copy, Keys(), {"us-east-1", "kinesis"}, kNow).authorization);
}

TEST(KinesisClient, SessionTokenIsSent) {
  Harness h(Harness::Destination(), Keys("session-token-value"));
  h.script->Reply(200, R"({"Records":[]})");
  (void)h.client->PutRecords(h.destination.stream, "{}", 0);
  ASSERT_EQ(h.script->requests().size(), 1u);
  EXPECT_EQ(HeaderValue(h.script->requests()[0], "x-amz-security-token"), "session-token-value");
}

TEST(KinesisClient, ChinaPartitionUsesAmazonawsComCn) {
  auto d = Harness::Destination();
  d.stream = Arn("aws-cn", "cn-north-1", "orders");
  Harness h(d);
  h.script->Reply(200, R"({"Records":[]})");
  (void)h.client->PutRecords(d.stream, "{}", 0);
  const auto sent = h.script->requests().at(0);
  EXPECT_EQ(sent.url, "https://kinesis.cn-north-1.amazonaws.com.cn/");
  EXPECT_NE(HeaderValue(sent, "authorization").find("/cn-north-1/kinesis/aws4_request"),
            std::string::npos);
}

TEST(KinesisClient, EndpointUrlOverridesRegionalEndpointAndScopeStaysFromArn) {
  auto d = Harness::Destination();
  d.stream = Arn("aws", "eu-west-1", "orders");
  d.endpoint_url = "http://127.0.0.1:4567";
  Harness h(d);
  h.script->Reply(200, R"({"Records":[]})");
  h.script->Reply(200, R"({"Records":[]})");
  (void)h.client->PutRecords(d.stream, "{}", 0);
  const auto sent = h.script->requests().at(0);
  EXPECT_EQ(sent.url, "http://127.0.0.1:4567/");
  EXPECT_EQ(HeaderValue(sent, "host"), "127.0.0.1:4567");
  EXPECT_NE(HeaderValue(sent, "authorization").find("/eu-west-1/kinesis/aws4_request"),
            std::string::npos);

  auto with_path = d;
  with_path.endpoint_url = "https://vpce-1.kinesis.eu-west-1.vpce.amazonaws.com/";
  Harness h2(with_path);
  h2.script->Reply(200, R"({"Records":[]})");
  (void)h2.client->PutRecords(d.stream, "{}", 0);
  EXPECT_EQ(h2.script->requests().at(0).url,
            "https://vpce-1.kinesis.eu-west-1.vpce.amazonaws.com/");
}

TEST(KinesisClient, RoutedStreamInAnotherRegionIsSignedForThatRegion) {
  Harness h;
  h.script->Reply(200, R"({"Records":[]})");
  (void)h.client->PutRecords(Arn("aws", "ap-southeast-2", "audit"), "{}", 0);
  const auto sent = h.script->requests().at(0);
  EXPECT_EQ(sent.url, "https://kinesis.ap-southeast-2.amazonaws.com/");
  EXPECT_NE(HeaderValue(sent, "authorization").find("/ap-southeast-2/kinesis/aws4_request"),
            std::string::npos);
}

TEST(KinesisClient, DescribeStreamUsesSummaryWithArnAndName) {
  Harness h;
  h.script->Reply(200, kSummaryOk);
  const auto summary = h.client->DescribeStream(h.destination.stream);
  ASSERT_TRUE(summary.ok()) << summary.error().message();
  EXPECT_EQ(summary->status, "ACTIVE");
  EXPECT_EQ(summary->open_shard_count, 3);
  EXPECT_EQ(summary->max_record_bytes, 2048u * 1024);
  EXPECT_FALSE(summary->from_describe_stream);
  const auto requests = h.script->requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(HeaderValue(requests[0], "x-amz-target"), "Kinesis_20131202.DescribeStreamSummary");
  EXPECT_EQ(
      requests[0].body,
      R"({"StreamName":"orders","StreamARN":"arn:aws:kinesis:us-east-1:123456789012:stream/orders"})");
}

TEST(KinesisClient, DescribeStreamFallsBackWhenSummaryIsDenied) {
  Harness h;
  h.script->Reply(400, kAccessDenied);
  h.script->Reply(200, kDescribeOk);
  const auto summary = h.client->DescribeStream(h.destination.stream);
  ASSERT_TRUE(summary.ok()) << summary.error().message();
  EXPECT_TRUE(summary->from_describe_stream);
  EXPECT_EQ(summary->max_record_bytes, kDefaultMaxRecordBytes);
  EXPECT_EQ(summary->open_shard_count, 1);
  const auto requests = h.script->requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(HeaderValue(requests[1], "x-amz-target"), "Kinesis_20131202.DescribeStream");
  EXPECT_EQ(requests[1].body, requests[0].body);
  EXPECT_FALSE(HeaderValue(requests[1], "authorization").empty());
}

TEST(KinesisClient, DescribeStreamDeniedTwiceNamesTheActionAndStream) {
  Harness h;
  h.script->Reply(400, kAccessDenied);
  h.script->Reply(400, kAccessDenied);
  const auto summary = h.client->DescribeStream(h.destination.stream);
  ASSERT_FALSE(summary.ok());
  EXPECT_EQ(summary.error().code(), ErrorCode::kAuth);
  EXPECT_EQ(summary.error().message(),
            "after kinesis:DescribeStreamSummary was denied: kinesis:DescribeStream on "
            "arn:aws:kinesis:us-east-1:123456789012:stream/orders denied: AccessDeniedException: "
            "User: arn:aws:iam::123456789012:user/sluice is not authorized (HTTP 400)");
}

TEST(KinesisClient, DescribeStreamNotFoundDoesNotFallBack) {
  Harness h;
  h.script->Reply(400,
                  R"({"__type":"ResourceNotFoundException","message":"Stream orders not found"})");
  const auto summary = h.client->DescribeStream(h.destination.stream);
  ASSERT_FALSE(summary.ok());
  EXPECT_EQ(summary.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(summary.error().message(),
            "kinesis:DescribeStreamSummary on arn:aws:kinesis:us-east-1:123456789012:stream/orders "
            "failed: "
            "ResourceNotFoundException: Stream orders not found (HTTP 400)");
  EXPECT_EQ(h.script->requests().size(), 1u);
}

TEST(KinesisClient, DescribeStreamTransportErrorKeepsItsCode) {
  Harness h;
  h.script->Fail(
      Error(ErrorCode::kTimeout, "POST kinesis.us-east-1.amazonaws.com:443: Timeout was reached"));
  const auto summary = h.client->DescribeStream(h.destination.stream);
  ASSERT_FALSE(summary.ok());
  EXPECT_EQ(summary.error().code(), ErrorCode::kTimeout);
  EXPECT_EQ(summary.error().message().rfind("kinesis:DescribeStreamSummary on arn:aws:kinesis:", 0),
            0u);
  EXPECT_NE(summary.error().message().find("Timeout was reached"), std::string::npos);
}

TEST(KinesisClient, DescribeStreamMalformedBodyIsProtocolError) {
  Harness h;
  h.script->Reply(200, "not json");
  const auto summary = h.client->DescribeStream(h.destination.stream);
  ASSERT_FALSE(summary.ok());
  EXPECT_EQ(summary.error().code(), ErrorCode::kProtocol);
  EXPECT_NE(summary.error().message().find("kinesis:DescribeStreamSummary on arn:"),
            std::string::npos);
}

TEST(KinesisClient, ExpiredTokenTwiceInvalidatesAndReportsCredentialsFailure) {
  Harness h;
  for (int i = 0; i < 2; ++i) {
    h.script->Reply(
        400,
        R"({"__type":"ExpiredTokenException","message":"The security token included in the request is expired"})");
  }
  const auto result = h.client->PutRecords(h.destination.stream, "{}", 2);
  EXPECT_EQ(result.failure, RequestFailure::kCredentials);
  EXPECT_EQ(result.error_code, "ExpiredTokenException");
  EXPECT_EQ(h.script->requests().size(), 2u);  // the first rejection is retried once
  EXPECT_EQ(h.provider->invalidations, 2);
  EXPECT_EQ(h.provider->invalidated, (std::vector<std::string>{"AKIDEXAMPLE", "AKIDEXAMPLE"}));
}

// Hands out "AKIDOLD" until Invalidate("AKIDOLD"), then "AKIDNEW" (a renewed
// session); records the key ids it was told were rejected.
class RotatingCredentials final : public aws::CredentialsProvider {
 public:
  Result<aws::Credentials> Get() override {
    aws::Credentials c = Keys("token-" + std::to_string(invalidations));
    c.access_key_id = invalidations == 0 ? "AKIDOLD" : "AKIDNEW";
    return c;
  }
  void Invalidate(const std::string& access_key_id) override {
    rejected.push_back(access_key_id);
    if (access_key_id == "AKIDOLD") ++invalidations;
  }
  std::string Name() const override { return "rotating"; }
  int invalidations = 0;
  std::vector<std::string> rejected;
};

std::string AccessKeyOf(const http::Request& request) {
  const std::string authorization = HeaderValue(request, "authorization");
  const size_t start = authorization.find("Credential=") + 11;
  return authorization.substr(start, authorization.find('/', start) - start);
}

TEST(KinesisClient, ExpiredTokenIsRetriedOnceWithFreshCredentials) {
  for (const char* code :
       {"ExpiredTokenException", "UnrecognizedClientException", "InvalidClientTokenId"}) {
    SCOPED_TRACE(code);
    auto script = std::make_shared<Script>();
    auto provider = std::make_shared<RotatingCredentials>();
    FixedClock clock(kNow);
    auto client = MakeKinesisClient(
        Harness::Destination(), provider,
        [script] { return std::make_unique<FakeTransport>(script); }, clock);
    script->Reply(400, std::string(R"({"__type":")") + code + R"(","message":"expired"})");
    script->Reply(200,
                  R"({"FailedRecordCount":0,"Records":[{"SequenceNumber":"7","ShardId":"s-0"}]})");

    const auto result = client->PutRecords(Harness::Destination().stream, "{\"body\":1}", 1);
    ASSERT_EQ(result.failure, RequestFailure::kNone) << result.error_message;
    ASSERT_EQ(result.records.size(), 1u);
    EXPECT_EQ(result.records[0].sequence_number, "7");
    EXPECT_EQ(provider->invalidations, 1);
    // The client names the credentials the rejected request was signed with.
    EXPECT_EQ(provider->rejected, std::vector<std::string>{"AKIDOLD"});
    const auto requests = script->requests();
    ASSERT_EQ(requests.size(), 2u);
    EXPECT_EQ(AccessKeyOf(requests[0]), "AKIDOLD");
    EXPECT_EQ(AccessKeyOf(requests[1]), "AKIDNEW");
    EXPECT_EQ(HeaderValue(requests[1], "x-amz-security-token"), "token-1");
    EXPECT_EQ(requests[1].body, requests[0].body);
  }
}

TEST(KinesisClient, DescribeStreamIsRetriedOnceAfterExpiredToken) {
  auto script = std::make_shared<Script>();
  auto provider = std::make_shared<RotatingCredentials>();
  FixedClock clock(kNow);
  auto client = MakeKinesisClient(
      Harness::Destination(), provider,
      [script] { return std::make_unique<FakeTransport>(script); }, clock);
  script->Reply(400, R"({"__type":"ExpiredTokenException","message":"expired"})");
  script->Reply(200, kSummaryOk);
  const auto summary = client->DescribeStream(Harness::Destination().stream);
  ASSERT_TRUE(summary.ok()) << summary.error().message();
  const auto requests = script->requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(AccessKeyOf(requests[1]), "AKIDNEW");
  EXPECT_EQ(HeaderValue(requests[1], "x-amz-target"), "Kinesis_20131202.DescribeStreamSummary");
}

TEST(KinesisClient, EachRejectionNamesTheKeysThatRequestWasSignedWith) {
  auto script = std::make_shared<Script>();
  auto provider = std::make_shared<RotatingCredentials>();
  FixedClock clock(kNow);
  auto client = MakeKinesisClient(
      Harness::Destination(), provider,
      [script] { return std::make_unique<FakeTransport>(script); }, clock);
  script->Reply(400, R"({"__type":"ExpiredTokenException","message":"expired"})");
  script->Reply(400, R"({"__type":"UnrecognizedClientException","message":"bad token"})");
  const auto result = client->PutRecords(Harness::Destination().stream, "{}", 1);
  EXPECT_EQ(result.failure, RequestFailure::kCredentials);
  EXPECT_EQ(provider->rejected, (std::vector<std::string>{"AKIDOLD", "AKIDNEW"}));
}

TEST(KinesisClient, OtherFailuresKeepCredentials) {
  Harness h;
  h.script->Reply(400, R"({"__type":"InvalidSignatureException","message":"bad signature"})");
  h.script->Reply(500, R"({"__type":"InternalFailure"})");
  EXPECT_EQ(h.client->PutRecords(h.destination.stream, "{}", 1).failure, RequestFailure::kClient);
  EXPECT_EQ(h.client->PutRecords(h.destination.stream, "{}", 1).failure, RequestFailure::kServer);
  EXPECT_EQ(h.provider->invalidations, 0);
}

TEST(KinesisClient, TransportErrorIsNetworkFailure) {
  Harness h;
  h.script->Fail(Error(ErrorCode::kNetwork, "POST 127.0.0.1:4567: Couldn't connect to server"));
  const auto result = h.client->PutRecords(h.destination.stream, "{}", 1);
  EXPECT_EQ(result.failure, RequestFailure::kNetwork);
  EXPECT_EQ(result.http_status, 0);
  EXPECT_EQ(result.error_message, "POST 127.0.0.1:4567: Couldn't connect to server");
  EXPECT_TRUE(result.records.empty());
}

TEST(KinesisClient, MissingCredentialsFailWithoutSending) {
  Harness h(Harness::Destination(), Error(ErrorCode::kAuth, "IMDS unreachable"));
  const auto result = h.client->PutRecords(h.destination.stream, "{}", 1);
  EXPECT_EQ(result.failure, RequestFailure::kCredentials);
  EXPECT_EQ(result.error_message, "no AWS credentials from test provider: IMDS unreachable");
  EXPECT_TRUE(h.script->requests().empty());
  const auto summary = h.client->DescribeStream(h.destination.stream);
  ASSERT_FALSE(summary.ok());
  EXPECT_EQ(summary.error().code(), ErrorCode::kAuth);
}

TEST(KinesisClient, SequentialCallsReuseOneTransport) {
  Harness h;
  for (int i = 0; i < 3; ++i) h.script->Reply(200, R"({"Records":[]})");
  for (int i = 0; i < 3; ++i) (void)h.client->PutRecords(h.destination.stream, "{}", 0);
  EXPECT_EQ(h.transports_made.load(), 1);
}

// A transport that holds every request until `expected` requests are inside
// Send at the same time, recording which instance served each.
class Rendezvous {
 public:
  explicit Rendezvous(int expected) : expected_(expected) {}
  bool Arrive() {
    std::unique_lock<std::mutex> lock(mu_);
    ++arrived_;
    cv_.notify_all();
    return cv_.wait_for(lock, std::chrono::seconds(30), [&] { return arrived_ >= expected_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int arrived_ = 0;
  const int expected_;
};

class MeetingTransport final : public http::Transport {
 public:
  explicit MeetingTransport(Rendezvous* rendezvous) : rendezvous_(rendezvous) {}
  Result<http::Response> Send(const http::Request&) override {
    if (!rendezvous_->Arrive()) return Error(ErrorCode::kTimeout, "callers never met");
    ++sends;
    http::Response r;
    r.status = 200;
    r.body = R"({"Records":[]})";
    return r;
  }
  std::atomic<int> sends{0};

 private:
  Rendezvous* rendezvous_;
};

TEST(KinesisClient, ConcurrentCallersEachGetTheirOwnTransport) {
  Rendezvous rendezvous(2);
  std::mutex mu;
  std::vector<MeetingTransport*> made;
  FixedClock clock(kNow);
  auto client = MakeKinesisClient(
      Harness::Destination(), std::make_shared<aws::StaticCredentialsProvider>(Keys()),
      [&]() -> std::unique_ptr<http::Transport> {
        auto t = std::make_unique<MeetingTransport>(&rendezvous);
        std::lock_guard<std::mutex> lock(mu);
        made.push_back(t.get());
        return t;
      },
      clock);
  const auto stream = Harness::Destination().stream;
  RequestFailure first = RequestFailure::kBadResponse;
  RequestFailure second = RequestFailure::kBadResponse;
  std::thread a([&] { first = client->PutRecords(stream, "{}", 0).failure; });
  std::thread b([&] { second = client->PutRecords(stream, "{}", 0).failure; });
  a.join();
  b.join();
  EXPECT_EQ(first, RequestFailure::kNone);
  EXPECT_EQ(second, RequestFailure::kNone);
  ASSERT_EQ(made.size(), 2u);
  EXPECT_EQ(made[0]->sends.load(), 1);
  EXPECT_EQ(made[1]->sends.load(), 1);
  // Both went back to the pool: a third call reuses one of them.
  EXPECT_EQ(client->PutRecords(stream, "{}", 0).failure, RequestFailure::kNone);
  EXPECT_EQ(made.size(), 2u);
  EXPECT_EQ(made[0]->sends.load() + made[1]->sends.load(), 3);
}

}  // namespace
}  // namespace sluice::kinesis
