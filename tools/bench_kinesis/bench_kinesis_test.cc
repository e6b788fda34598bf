#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <rapidjson/document.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "base/encoding.h"
#include "bench_kinesis/endpoint.h"
#include "bench_kinesis/http_server.h"
#include "bench_kinesis/put_records.h"

namespace bench_kinesis {
namespace {

using sluice::Base64Encode;  // the encoder sluice sends with

constexpr int64_t kArrivalUs = 1795773600123456 + 2500;  // 2.5 ms after kCommitIso
constexpr const char* kCommitIso = "2026-11-27T10:00:00.123456Z";

// A message shaped like sluice's (model/encoder.cc), metadata last.
std::string Message(uint64_t lsn, uint32_t idx, std::string_view timestamp = kCommitIso,
                    std::string_view record = R"({"id":7,"status":"paid"})") {
  return std::string(R"({"record":)") + std::string(record) +
         R"(,"changes":null,"action":"insert","metadata":{"table_schema":"public",)"
         R"("table_name":"orders","commit_timestamp":")" +
         std::string(timestamp) + R"(","commit_lsn":)" + std::to_string(lsn) + R"(,"commit_idx":)" +
         std::to_string(idx) +
         R"(,"idempotency_key":"x","record_pks":["7"],"transaction_annotations":null,)"
         R"("database_name":"app","consumer":{"name":"bench"}}})";
}

struct TestRecord {
  std::string data_base64;
  std::string key;
};

std::string PutRecordsBody(const std::vector<TestRecord>& records) {
  std::string body =
      R"({"StreamARN":"arn:aws:kinesis:us-east-1:000000000000:stream/s","Records":[)";
  for (size_t i = 0; i < records.size(); ++i) {
    if (i != 0) body += ",";
    body += R"({"Data":")" + records[i].data_base64 + R"(","PartitionKey":")" + records[i].key +
            R"("})";
  }
  return body + "]}";
}

struct Answer {
  int status;
  rapidjson::Document json;
};

Answer Call(Endpoint& endpoint, std::string_view op, std::string body,
            int64_t arrival_us = kArrivalUs) {
  const std::string target = "Kinesis_20131202." + std::string(op);
  const Request request{"POST", "/", target, body.data(), body.size()};
  Response response = endpoint.Handle(request, arrival_us);
  Answer answer{response.status, {}};
  answer.json.Parse(response.body.c_str());
  return answer;
}

Answer Put(Endpoint& endpoint, const std::vector<TestRecord>& records,
           int64_t arrival_us = kArrivalUs) {
  return Call(endpoint, "PutRecords", PutRecordsBody(records), arrival_us);
}

rapidjson::Document Stats(Endpoint& endpoint) {
  std::string body;
  const Request request{"GET", "/stats", "", body.data(), 0};
  rapidjson::Document doc;
  doc.Parse(endpoint.Handle(request, kArrivalUs).body.c_str());
  return doc;
}

std::string MessageOfMessageType(const Answer& answer) {
  if (!answer.json.IsObject() || !answer.json.HasMember("__type")) return "<no __type>";
  return std::string(answer.json["__type"].GetString()) + ": " + answer.json["message"].GetString();
}

// ---------------------------------------------------------------- limits

TEST(BenchKinesisPutRecords, FiveHundredAndOneRecordsAreRejectedNamingTheLimit) {
  Endpoint endpoint({});
  std::vector<TestRecord> records(501, TestRecord{Base64Encode("x"), "k"});
  const Answer answer = Put(endpoint, records);
  EXPECT_EQ(answer.status, 400);
  const std::string error = MessageOfMessageType(answer);
  EXPECT_NE(error.find("ValidationException"), std::string::npos) << error;
  EXPECT_NE(error.find("less than or equal to 500"), std::string::npos) << error;
  records.pop_back();
  EXPECT_EQ(Put(endpoint, records).status, 200);
}

TEST(BenchKinesisPutRecords, RecordOverOneMibIncludingPartitionKeyIsRejected) {
  Endpoint endpoint({});
  const std::string key = "key";
  const std::string exact(kMaxRecordBytes - key.size(), 'a');
  EXPECT_EQ(Put(endpoint, {{Base64Encode(exact), key}}).status, 200);
  const Answer answer = Put(endpoint, {{Base64Encode("b"), "k"}, {Base64Encode(exact + "a"), key}});
  EXPECT_EQ(answer.status, 400);
  const std::string error = MessageOfMessageType(answer);
  EXPECT_NE(error.find("ValidationException"), std::string::npos) << error;
  EXPECT_NE(error.find("records.2.member.data"), std::string::npos) << error;
  EXPECT_NE(error.find("1 MiB"), std::string::npos) << error;
}

TEST(BenchKinesisPutRecords, RequestOverFiveMibIsRejectedNamingTheLimit) {
  Endpoint endpoint(EndpointOptions{.max_request_bytes = 5 * 1024 * 1024});
  // Five records of exactly 1 MiB make 5 MiB; one more byte is too much.
  const std::string full(kMaxRecordBytes - 1, 'a');
  std::vector<TestRecord> records(5, TestRecord{Base64Encode(full), "k"});
  EXPECT_EQ(Put(endpoint, records).status, 200);
  records.push_back({Base64Encode(""), "k"});
  const Answer answer = Put(endpoint, records);
  EXPECT_EQ(answer.status, 400);
  const std::string error = MessageOfMessageType(answer);
  EXPECT_NE(error.find("ValidationException"), std::string::npos) << error;
  EXPECT_NE(error.find("5 MiB"), std::string::npos) << error;
  EXPECT_NE(error.find("5242881 bytes"), std::string::npos) << error;
}

TEST(BenchKinesisPutRecords, DefaultRequestLimitIsSluicesTenMib) {
  Endpoint endpoint({});
  const std::string full(kMaxRecordBytes - 1, 'a');
  std::vector<TestRecord> records(10, TestRecord{Base64Encode(full), "k"});
  EXPECT_EQ(Put(endpoint, records).status, 200);
  records.push_back({Base64Encode("x"), "k"});
  EXPECT_EQ(Put(endpoint, records).status, 400);
}

TEST(BenchKinesisPutRecords, InvalidBase64IsRejectedWithItsPlace) {
  Endpoint endpoint({});
  Answer answer = Put(endpoint, {{Base64Encode("ok"), "k"}, {"ab*d", "k"}});
  EXPECT_EQ(answer.status, 400);
  std::string error = MessageOfMessageType(answer);
  EXPECT_NE(error.find("records.2.member.data"), std::string::npos) << error;
  EXPECT_NE(error.find("not valid base64"), std::string::npos) << error;
  EXPECT_NE(error.find("offset 2"), std::string::npos) << error;

  answer = Put(endpoint, {{"abc", "k"}});
  error = MessageOfMessageType(answer);
  EXPECT_EQ(answer.status, 400);
  EXPECT_NE(error.find("not a multiple of 4"), std::string::npos) << error;
  EXPECT_EQ(Put(endpoint, {{"a=bc", "k"}}).status, 400);
}

TEST(BenchKinesisPutRecords, PartitionKeyMustHaveOneTo256Characters) {
  Endpoint endpoint({});
  Answer answer = Put(endpoint, {{Base64Encode("x"), ""}});
  EXPECT_EQ(answer.status, 400);
  std::string error = MessageOfMessageType(answer);
  EXPECT_NE(error.find("records.1.member.partitionKey"), std::string::npos) << error;
  EXPECT_NE(error.find("greater than or equal to 1"), std::string::npos) << error;

  answer = Put(endpoint, {{Base64Encode("x"), std::string(257, 'k')}});
  EXPECT_EQ(answer.status, 400);
  error = MessageOfMessageType(answer);
  EXPECT_NE(error.find("less than or equal to 256"), std::string::npos) << error;
  // 256 characters of two bytes each are still 256 characters.
  std::string wide;
  for (int i = 0; i < 256; ++i) wide += "\xc3\xa9";
  EXPECT_EQ(Put(endpoint, {{Base64Encode("x"), wide}}).status, 200);
}

TEST(BenchKinesisPutRecords, MissingFieldsAndMalformedBodiesAreRejected) {
  Endpoint endpoint({});
  EXPECT_EQ(Call(endpoint, "PutRecords", R"({"Records":[{"PartitionKey":"k"}]})").status, 400);
  EXPECT_EQ(Call(endpoint, "PutRecords", R"({"Records":[{"Data":"eA=="}]})").status, 400);
  EXPECT_EQ(Call(endpoint, "PutRecords", R"({"Records":[]})").status, 400);
  EXPECT_EQ(Call(endpoint, "PutRecords", R"({"StreamName":"s"})").status, 400);
  const Answer wrong_type =
      Call(endpoint, "PutRecords", R"({"Records":[{"Data":1,"PartitionKey":"k"}]})");
  EXPECT_EQ(wrong_type.status, 400);
  EXPECT_EQ(MessageOfMessageType(wrong_type),
            "SerializationException: Records[0].Data is a number, boolean or null, not a string");
  EXPECT_EQ(Call(endpoint, "PutRecords", R"({"Records":[)").status, 400);
  EXPECT_EQ(Call(endpoint, "PutRecords", "[]").status, 400);
  const rapidjson::Document stats = Stats(endpoint);
  EXPECT_EQ(stats["requests"].GetUint64(), 7u);
  EXPECT_EQ(stats["rejected_requests"].GetUint64(), 7u);
  EXPECT_EQ(stats["records"].GetUint64(), 0u);
}

// ---------------------------------------------------------------- success

TEST(BenchKinesisPutRecords, AnswersOneResultPerRecordInOrderWithIncreasingSequencePerShard) {
  Endpoint endpoint(EndpointOptions{.shards = 3});
  std::vector<TestRecord> records;
  for (int i = 0; i < 40; ++i)
    records.push_back({Base64Encode("r" + std::to_string(i)), "key-" + std::to_string(i % 7)});
  const Answer answer = Put(endpoint, records);
  ASSERT_EQ(answer.status, 200);
  EXPECT_EQ(answer.json["FailedRecordCount"].GetInt(), 0);
  const auto& results = answer.json["Records"];
  ASSERT_EQ(results.Size(), 40u);
  std::map<std::string, std::string> shard_of_key;
  std::map<std::string, std::string> last_sequence_of_shard;
  for (rapidjson::SizeType i = 0; i < results.Size(); ++i) {
    const std::string shard = results[i]["ShardId"].GetString();
    const std::string sequence = results[i]["SequenceNumber"].GetString();
    EXPECT_TRUE(shard == "shardId-000000000000" || shard == "shardId-000000000001" ||
                shard == "shardId-000000000002")
        << shard;
    // Entry i belongs to record i: the same key always lands on the same shard.
    auto [it, inserted] = shard_of_key.emplace(records[i].key, shard);
    EXPECT_EQ(it->second, shard) << "record " << i;
    EXPECT_GT(sequence, last_sequence_of_shard[shard]) << "record " << i;
    last_sequence_of_shard[shard] = sequence;
  }
  EXPECT_GT(last_sequence_of_shard.size(), 1u) << "7 keys over 3 shards use more than one";
  const rapidjson::Document stats = Stats(endpoint);
  EXPECT_EQ(stats["records"].GetUint64(), 40u);
}

// ---------------------------------------------------------------- measurement

TEST(BenchKinesisMeasurement, LatencyIsArrivalMinusCommitTimestamp) {
  Endpoint endpoint({});
  // Tail path; the full-decode path (metadata first, a long record after it);
  // a Unix-microsecond timestamp; and a record without a timestamp.
  const std::string long_record = R"({"pad":")" + std::string(2000, 'p') + R"("})";
  const std::string metadata_first =
      R"({"metadata":{"commit_timestamp":"2026-11-27T10:00:00.122456Z","commit_lsn":5,"commit_idx":0},"record":)" +
      long_record + "}";
  ASSERT_EQ(
      Put(endpoint, {{Base64Encode(Message(1, 0)), "a"},
                     {Base64Encode(metadata_first), "b"},
                     {Base64Encode(R"({"metadata":{"commit_timestamp":1795773600121456}})"), "c"},
                     {Base64Encode(R"({"no":"timestamp"})"), "d"}})
          .status,
      200);
  const LatencySummary latency = endpoint.Latency();
  EXPECT_EQ(latency.count, 3u);
  EXPECT_EQ(latency.p50, 3500);
  EXPECT_EQ(latency.max, 4500);
  EXPECT_DOUBLE_EQ(latency.mean, 3500.0);
  EXPECT_EQ(endpoint.records(), 4u);
}

TEST(BenchKinesisMeasurement, PercentilesAreNearestRank) {
  Endpoint endpoint({});
  // Latencies 1..1000 µs.
  for (int i = 1; i <= 1000; ++i) {
    ASSERT_EQ(
        Put(endpoint, {{Base64Encode(Message(1, uint32_t(i))), "k"}}, 1795773600123456 + i).status,
        200);
  }
  const LatencySummary latency = endpoint.Latency();
  EXPECT_EQ(latency.count, 1000u);
  EXPECT_EQ(latency.p50, 500);
  EXPECT_EQ(latency.p90, 900);
  EXPECT_EQ(latency.p99, 990);
  EXPECT_EQ(latency.p999, 999);
  EXPECT_EQ(latency.max, 1000);
  EXPECT_DOUBLE_EQ(latency.mean, 500.5);
}

TEST(BenchKinesisMeasurement, OrderViolationsArePerPartitionKey) {
  Endpoint endpoint({});
  ASSERT_EQ(Put(endpoint, {{Base64Encode(Message(100, 1)), "a"},
                           {Base64Encode(Message(100, 0)), "a"},  // lower: a violation
                           {Base64Encode(Message(90, 0)), "b"},   // other key: fine
                           {Base64Encode(Message(100, 0)), "a"},  // equal (a redelivery): fine
                           {Base64Encode(Message(101, 0)), "a"}})
                .status,
            200);
  EXPECT_EQ(endpoint.order_violations(), 1u);
  ASSERT_EQ(Put(endpoint, {{Base64Encode(Message(99, 5)), "a"}}).status, 200);
  EXPECT_EQ(endpoint.order_violations(), 2u);
}

TEST(BenchKinesisMeasurement, StatsReportEverythingAndResetClearsItButNotSequenceNumbers) {
  EndpointOptions options;
  options.shards = 1;
  options.cpu_times = [] { return CpuTimes{1.25, 0.5}; };
  Endpoint endpoint(options);
  rapidjson::Document stats = Stats(endpoint);
  EXPECT_TRUE(stats["first_record_unix_us"].IsNull());
  EXPECT_TRUE(stats["latency_us"]["p50"].IsNull());

  const Answer first =
      Put(endpoint, {{Base64Encode(Message(2, 0)), "a"}, {Base64Encode(Message(1, 0)), "a"}});
  ASSERT_EQ(first.status, 200);
  Put(endpoint, {{Base64Encode("x"), ""}});  // rejected
  stats = Stats(endpoint);
  EXPECT_EQ(stats["requests"].GetUint64(), 2u);
  EXPECT_EQ(stats["records"].GetUint64(), 2u);
  EXPECT_EQ(stats["bytes"].GetUint64(), 2 * (Message(1, 0).size() + 1));
  EXPECT_EQ(stats["rejected_requests"].GetUint64(), 1u);
  EXPECT_EQ(stats["first_record_unix_us"].GetInt64(), kArrivalUs);
  EXPECT_EQ(stats["last_record_unix_us"].GetInt64(), kArrivalUs);
  EXPECT_EQ(stats["latency_us"]["count"].GetUint64(), 2u);
  EXPECT_EQ(stats["latency_us"]["p50"].GetInt(), 2500);
  EXPECT_EQ(stats["latency_us"]["p90"].GetInt(), 2500);
  EXPECT_EQ(stats["latency_us"]["p99"].GetInt(), 2500);
  EXPECT_EQ(stats["latency_us"]["p999"].GetInt(), 2500);
  EXPECT_EQ(stats["latency_us"]["max"].GetInt(), 2500);
  EXPECT_DOUBLE_EQ(stats["latency_us"]["mean"].GetDouble(), 2500.0);
  EXPECT_EQ(stats["order_violations"].GetUint64(), 1u);
  EXPECT_DOUBLE_EQ(stats["cpu_user_s"].GetDouble(), 1.25);
  EXPECT_DOUBLE_EQ(stats["cpu_sys_s"].GetDouble(), 0.5);

  std::string none;
  const Response reset = endpoint.Handle(Request{"POST", "/reset", "", none.data(), 0}, 0);
  EXPECT_EQ(reset.status, 200);
  stats = Stats(endpoint);
  for (const char* counter :
       {"requests", "records", "bytes", "rejected_requests", "order_violations"}) {
    EXPECT_EQ(stats[counter].GetUint64(), 0u) << counter;
  }
  EXPECT_EQ(stats["latency_us"]["count"].GetUint64(), 0u);
  EXPECT_TRUE(stats["last_record_unix_us"].IsNull());
  // Positions are forgotten too: a lower one after a reset is no violation.
  const Answer after = Put(endpoint, {{Base64Encode(Message(1, 0)), "a"}});
  EXPECT_EQ(endpoint.order_violations(), 0u);
  EXPECT_GT(std::string(after.json["Records"][0]["SequenceNumber"].GetString()),
            std::string(first.json["Records"][1]["SequenceNumber"].GetString()));
}

// ---------------------------------------------------------------- other operations

TEST(BenchKinesisOperations, DescribeStreamSummaryIsActiveWithNShardsAndEchoesTheStream) {
  Endpoint endpoint(EndpointOptions{.shards = 6});
  Answer answer = Call(endpoint, "DescribeStreamSummary",
                       R"({"StreamARN":"arn:aws:kinesis:eu-west-1:123456789012:stream/orders"})");
  ASSERT_EQ(answer.status, 200);
  const auto& summary = answer.json["StreamDescriptionSummary"];
  EXPECT_STREQ(summary["StreamStatus"].GetString(), "ACTIVE");
  EXPECT_EQ(summary["OpenShardCount"].GetInt(), 6);
  EXPECT_STREQ(summary["StreamName"].GetString(), "orders");
  EXPECT_STREQ(summary["StreamARN"].GetString(),
               "arn:aws:kinesis:eu-west-1:123456789012:stream/orders");
  EXPECT_FALSE(summary.HasMember("MaxRecordSizeInKiB"));

  answer = Call(endpoint, "DescribeStreamSummary", R"({"StreamName":"bench"})");
  EXPECT_STREQ(answer.json["StreamDescriptionSummary"]["StreamName"].GetString(), "bench");
}

TEST(BenchKinesisOperations, DescribeStreamListsNOpenShardsCoveringTheHashKeySpace) {
  Endpoint endpoint(EndpointOptions{.shards = 2});
  const Answer answer = Call(endpoint, "DescribeStream", R"({"StreamName":"bench"})");
  ASSERT_EQ(answer.status, 200);
  const auto& description = answer.json["StreamDescription"];
  EXPECT_STREQ(description["StreamStatus"].GetString(), "ACTIVE");
  const auto& shards = description["Shards"];
  ASSERT_EQ(shards.Size(), 2u);
  EXPECT_STREQ(shards[0]["HashKeyRange"]["StartingHashKey"].GetString(), "0");
  EXPECT_STREQ(shards[1]["HashKeyRange"]["EndingHashKey"].GetString(),
               "340282366920938463463374607431768211455");
  EXPECT_FALSE(shards[1]["SequenceNumberRange"].HasMember("EndingSequenceNumber"));
}

TEST(BenchKinesisOperations, CreateAndDeleteAreAcceptedAndUnknownOperationsAreNot) {
  Endpoint endpoint({});
  EXPECT_EQ(Call(endpoint, "CreateStream", R"({"StreamName":"s","ShardCount":4})").status, 200);
  EXPECT_EQ(Call(endpoint, "DeleteStream", R"({"StreamName":"s"})").status, 200);
  const Answer answer = Call(endpoint, "GetRecords", "{}");
  EXPECT_EQ(answer.status, 400);
  EXPECT_STREQ(answer.json["__type"].GetString(), "UnknownOperationException");
}

// ---------------------------------------------------------------- pieces

TEST(BenchKinesisBase64, DecodedSizeFollowsFromLengthAndPadding) {
  size_t bad = 0;
  EXPECT_EQ(Base64DecodedSize("", &bad), 0u);
  EXPECT_EQ(Base64DecodedSize("YQ==", &bad), 1u);
  EXPECT_EQ(Base64DecodedSize("YWI=", &bad), 2u);
  EXPECT_EQ(Base64DecodedSize("YWJj", &bad), 3u);
  EXPECT_FALSE(Base64DecodedSize("YW=j", &bad));
  EXPECT_EQ(bad, 2u);
  for (const std::string& text : std::vector<std::string>{"", "a", "ab", "abc", "hello, world",
                                                          std::string("\xff\x00\x10", 3)}) {
    std::string decoded;
    Base64Decode(Base64Encode(text), &decoded);
    EXPECT_EQ(decoded, text);
  }
}

TEST(BenchKinesisTimestamps, IsoTimestampsBecomeUnixMicroseconds) {
  EXPECT_EQ(ParseIsoTimestampUs("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(ParseIsoTimestampUs("2000-03-01T00:00:00.5Z"), 951868800500000);
  EXPECT_EQ(ParseIsoTimestampUs(kCommitIso), 1795773600123456);
  EXPECT_EQ(ParseIsoTimestampUs("1969-12-31T23:59:59.999999Z"), -1);
  EXPECT_FALSE(ParseIsoTimestampUs("2026-11-27T10:00:00.123456+01:00"));
  EXPECT_FALSE(ParseIsoTimestampUs("2026-13-27T10:00:00Z"));
  EXPECT_FALSE(ParseIsoTimestampUs("2026-02-29T10:00:00Z"));  // not a leap year
  EXPECT_EQ(ParseIsoTimestampUs("2024-02-29T00:00:00Z"), 1709164800000000);
}

TEST(BenchKinesisTimestamps, TheMetadataTimestampWinsOverAColumnOfTheSameName) {
  const std::string message =
      Message(42, 3, kCommitIso, R"({"commit_timestamp":"2000-01-01T00:00:00Z","commit_lsn":1})");
  const CommitInfo info = ScanCommitInfo(message);
  EXPECT_EQ(info.commit_unix_us, 1795773600123456);
  EXPECT_TRUE(info.has_position);
  EXPECT_EQ(info.commit_lsn, 42u);
  EXPECT_EQ(info.commit_idx, 3u);
}

// ---------------------------------------------------------------- HTTP

class BenchKinesisHttp : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.Listen("127.0.0.1", 0);
    thread_ = std::thread([this] { server_.Run(); });
  }
  void TearDown() override {
    server_.Stop();
    thread_.join();
  }

  // Sends raw bytes on a socket and reads until `responses` complete answers arrived.
  static std::string Exchange(int fd, const std::string& request, int responses) {
    EXPECT_EQ(send(fd, request.data(), request.size(), 0), ssize_t(request.size()));
    std::string got;
    char buf[65536];
    for (;;) {
      int complete = 0;
      size_t at = 0;
      for (;;) {
        const size_t head_end = got.find("\r\n\r\n", at);
        if (head_end == std::string::npos) break;
        const size_t length_at = got.find("Content-Length: ", at);
        size_t length = 0;
        if (length_at != std::string::npos && length_at < head_end) {
          length = std::stoul(got.substr(length_at + 16));
        }
        if (got.size() < head_end + 4 + length) break;
        at = head_end + 4 + length;
        ++complete;
      }
      if (complete >= responses) return got;
      const ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return got;
      got.append(buf, size_t(n));
    }
  }

  // The endpoint's record count, asked over HTTP (the endpoint belongs to
  // the server's thread).
  uint64_t RecordsSeen() {
    httplib::Client client("127.0.0.1", server_.port());
    const auto stats = client.Get("/stats");
    if (!stats) return UINT64_MAX;
    rapidjson::Document doc;
    doc.Parse(stats->body.c_str());
    return doc.HasParseError() || !doc.HasMember("records") ? UINT64_MAX
                                                            : doc["records"].GetUint64();
  }

  // A socket to the server; a read waits at most 10 s (a server that never
  // answers fails the test instead of hanging it).
  int Connect() {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    const timeval timeout{10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(uint16_t(server_.port()));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    return fd;
  }

  Endpoint endpoint_{EndpointOptions{}};
  HttpServer server_{[this](const Request& request, int64_t arrival_us) {
    return endpoint_.Handle(request, arrival_us);
  }};
  std::thread thread_;
};

TEST_F(BenchKinesisHttp, ServesKinesisRequestsOnKeptAliveConnections) {
  httplib::Client client("127.0.0.1", server_.port());
  client.set_keep_alive(true);
  const httplib::Headers put = {{"X-Amz-Target", "Kinesis_20131202.PutRecords"}};
  for (int i = 0; i < 3; ++i) {
    const auto result =
        client.Post("/", put, PutRecordsBody({{Base64Encode(Message(1, uint32_t(i))), "k"}}),
                    "application/x-amz-json-1.1");
    ASSERT_TRUE(result) << httplib::to_string(result.error());
    EXPECT_EQ(result->status, 200);
    EXPECT_EQ(result->get_header_value("Content-Type"), "application/x-amz-json-1.1");
  }
  auto stats = client.Get("/stats");
  ASSERT_TRUE(stats);
  rapidjson::Document doc;
  doc.Parse(stats->body.c_str());
  EXPECT_EQ(doc["records"].GetUint64(), 3u);
  EXPECT_EQ(doc["latency_us"]["count"].GetUint64(), 3u);

  ASSERT_TRUE(client.Post("/reset", "", "application/json"));
  stats = client.Get("/stats");
  doc.Parse(stats->body.c_str());
  EXPECT_EQ(doc["records"].GetUint64(), 0u);
  EXPECT_EQ(client.Get("/nothing")->status, 404);
}

TEST_F(BenchKinesisHttp, AnswersPipelinedRequestsAndExpectContinueOnOneSocket) {
  const int fd = Connect();
  const std::string body = PutRecordsBody({{Base64Encode("x"), "k"}});
  const std::string put =
      "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: Kinesis_20131202.PutRecords\r\n"
      "Content-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  std::string got = Exchange(fd, put + put, 2);
  size_t count = 0;
  for (size_t at = got.find("HTTP/1.1 200 OK"); at != std::string::npos;
       at = got.find("HTTP/1.1 200 OK", at + 1)) {
    ++count;
  }
  EXPECT_EQ(count, 2u) << got;

  const std::string head =
      "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: Kinesis_20131202.PutRecords\r\n"
      "Expect: 100-continue\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n";
  got = Exchange(fd, head, 1);
  EXPECT_EQ(got.rfind("HTTP/1.1 100 Continue\r\n\r\n", 0), 0u) << got;
  got = Exchange(fd, body, 1);
  EXPECT_EQ(got.rfind("HTTP/1.1 200 OK", 0), 0u) << got;
  close(fd);
  EXPECT_EQ(RecordsSeen(), 3u);
}

TEST_F(BenchKinesisHttp, RefusesChunkedBodiesAndClosesTheConnection) {
  const int fd = Connect();
  const std::string got =
      Exchange(fd, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 1);
  EXPECT_EQ(got.rfind("HTTP/1.1 501", 0), 0u) << got;
  EXPECT_NE(got.find("Connection: close"), std::string::npos) << got;
  char byte;
  EXPECT_EQ(recv(fd, &byte, 1, 0), 0) << "the server closes the connection";
  close(fd);
}

TEST(BenchKinesisListen, RefusesHostsOtherThanLoopback) {
  HttpServer server([](const Request&, int64_t) { return Response{}; });
  EXPECT_THROW(server.Listen("0.0.0.0", 0), std::runtime_error);
  EXPECT_THROW(server.Listen("192.168.1.10", 0), std::runtime_error);
  EXPECT_THROW(server.Listen("example.com", 0), std::runtime_error);
}

TEST(BenchKinesisListen, SplitsHostAndPort) {
  std::string host;
  int port = 0;
  EXPECT_TRUE(SplitHostPort("127.0.0.1:4567", &host, &port));
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, 4567);
  EXPECT_FALSE(SplitHostPort("127.0.0.1", &host, &port));
  EXPECT_FALSE(SplitHostPort("127.0.0.1:99999", &host, &port));
  EXPECT_FALSE(SplitHostPort("127.0.0.1:", &host, &port));
}

}  // namespace
}  // namespace bench_kinesis
