// Integration: the production client (CurlTransport, SigV4, PutRecordsBuilder)
// against kinesis-local, over plain HTTP and over HTTPS with its self-signed
// certificate. Starts kinesis-local itself on 127.0.0.1:25410 (plain) and
// 25411 (TLS), with the loopback preload so it binds nothing else.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "aws/credentials.h"
#include "http/curl_transport.h"
#include "sink/kinesis/client.h"
#include "sink/kinesis/limits.h"
#include "sink/kinesis/put_records.h"

namespace sluice::kinesis {
namespace {

constexpr int kPlainPort = 25410;
constexpr int kTlsPort = 25411;
constexpr char kStream[] = "sluice-it";

bool PortAccepts(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

class KinesisLocal : public ::testing::Environment {
 public:
  void SetUp() override {
    ASSERT_FALSE(PortAccepts(kPlainPort)) << "port " << kPlainPort << " is already in use";
    pid_ = fork();
    ASSERT_GE(pid_, 0);
    if (pid_ == 0) {
      // kinesis-local finds server.json (its TLS certificate) relative to cwd.
      if (chdir(SLUICE_KINESIS_LOCAL_DIR) != 0) _exit(127);
      setenv("KINESIS_MOCK_PLAIN_PORT", std::to_string(kPlainPort).c_str(), 1);
      setenv("KINESIS_MOCK_TLS_PORT", std::to_string(kTlsPort).c_str(), 1);
      setenv("INITIALIZE_STREAMS", (std::string(kStream) + ":2").c_str(), 1);
      setenv("AWS_REGION", "us-east-1", 1);
      setenv("LOG_LEVEL", "ERROR", 1);
      execl(SLUICE_NODE, "node", "-r", SLUICE_LOOPBACK_PRELOAD, "main.js",
            static_cast<char*>(nullptr));
      _exit(127);
    }
    // Readiness wait (not a timing assertion): up to 60 s for both ports.
    for (int i = 0; i < 600 && !(PortAccepts(kPlainPort) && PortAccepts(kTlsPort)); ++i) {
      ASSERT_EQ(waitpid(pid_, nullptr, WNOHANG), 0) << "kinesis-local exited during startup";
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_TRUE(PortAccepts(kPlainPort) && PortAccepts(kTlsPort)) << "kinesis-local did not start";
  }
  void TearDown() override {
    if (pid_ > 0) {
      // SIGTERM makes kinesis-local drain for ~30 s; it keeps no state worth it.
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

 private:
  pid_t pid_ = -1;
};

config::StreamArn Arn(const std::string& name) {
  config::StreamArn arn;
  arn.partition = "aws";
  arn.region = "us-east-1";
  arn.account = "000000000000";
  arn.stream_name = name;
  arn.arn = "arn:aws:kinesis:us-east-1:000000000000:stream/" + name;
  return arn;
}

std::unique_ptr<KinesisClient> Client(const std::string& endpoint, http::TlsVerify verify) {
  config::KinesisDestination d;
  d.stream = Arn(kStream);
  d.endpoint_url = endpoint;
  d.tls_verify = verify == http::TlsVerify::kOn;
  d.request_timeout = std::chrono::seconds(10);
  aws::Credentials keys;
  keys.access_key_id = "AKIDLOCAL";
  keys.secret_access_key = Secret("local-secret");
  return MakeKinesisClient(
      d, std::make_shared<aws::StaticCredentialsProvider>(keys),
      [verify] { return std::make_unique<http::CurlTransport>(verify); }, SystemClock::Instance());
}

// The stream is CREATING for a moment after startup.
Result<StreamSummary> DescribeWhenActive(KinesisClient& client) {
  Result<StreamSummary> summary = client.DescribeStream(Arn(kStream));
  for (int i = 0; i < 100 && summary.ok() && summary->status != "ACTIVE"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    summary = client.DescribeStream(Arn(kStream));
  }
  return summary;
}

void DescribeAndPut(KinesisClient& client) {
  const auto summary = DescribeWhenActive(client);
  ASSERT_TRUE(summary.ok()) << summary.error().message();
  EXPECT_EQ(summary->status, "ACTIVE");
  EXPECT_EQ(summary->open_shard_count, 2);
  EXPECT_EQ(summary->max_record_bytes, kDefaultMaxRecordBytes);
  EXPECT_FALSE(summary->from_describe_stream);

  PutRecordsBuilder builder(Arn(kStream));
  builder.Add(R"({"action":"insert","record":{"id":1}})", "1");
  builder.Add(std::string("\x00\x01\xff", 3), "acct:\"7\"\\é😀\n");
  builder.Add(std::string(300 * 1024, 'z'), "big");
  const auto result = client.PutRecords(Arn(kStream), builder.Finish(), 3);
  ASSERT_EQ(result.failure, RequestFailure::kNone)
      << result.error_code << ": " << result.error_message;
  EXPECT_EQ(result.http_status, 200);
  ASSERT_EQ(result.records.size(), 3u);
  EXPECT_EQ(result.failed_record_count, 0u);
  for (const auto& r : result.records) {
    EXPECT_TRUE(r.ok);
    EXPECT_FALSE(r.sequence_number.empty());
    EXPECT_EQ(r.shard_id.rfind("shardId-", 0), 0u) << r.shard_id;
  }
}

const std::string kPlain = "http://127.0.0.1:" + std::to_string(kPlainPort);
const std::string kTls = "https://127.0.0.1:" + std::to_string(kTlsPort);

TEST(KinesisLocal, DescribeAndPutOverPlainHttp) {
  auto client = Client(kPlain, http::TlsVerify::kOn);
  DescribeAndPut(*client);
}

TEST(KinesisLocal, DescribeAndPutOverHttpsWithVerificationOff) {
  auto client = Client(kTls, http::TlsVerify::kOff);
  DescribeAndPut(*client);
}

TEST(KinesisLocal, SelfSignedCertificateIsRejectedWhenVerifying) {
  auto client = Client(kTls, http::TlsVerify::kOn);
  const auto summary = client->DescribeStream(Arn(kStream));
  ASSERT_FALSE(summary.ok());
  EXPECT_EQ(summary.error().code(), ErrorCode::kNetwork);
  EXPECT_NE(summary.error().message().find("127.0.0.1:" + std::to_string(kTlsPort)),
            std::string::npos)
      << summary.error().message();
}

TEST(KinesisLocal, MissingStreamIsNotFoundAndNamed) {
  auto client = Client(kPlain, http::TlsVerify::kOn);
  const auto summary = client->DescribeStream(Arn("no-such-stream"));
  ASSERT_FALSE(summary.ok());
  EXPECT_EQ(summary.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(summary.error().message().find(
                "kinesis:DescribeStreamSummary on "
                "arn:aws:kinesis:us-east-1:000000000000:stream/no-such-stream"),
            std::string::npos)
      << summary.error().message();

  PutRecordsBuilder builder(Arn("no-such-stream"));
  builder.Add("x", "k");
  const auto result = client->PutRecords(Arn("no-such-stream"), builder.Finish(), 1);
  EXPECT_EQ(result.failure, RequestFailure::kClient);
  EXPECT_EQ(result.error_code, "ResourceNotFoundException");
}

}  // namespace
}  // namespace sluice::kinesis

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new sluice::kinesis::KinesisLocal);
  return RUN_ALL_TESTS();
}
