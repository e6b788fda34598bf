#include "sink/kinesis/response.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "sink/kinesis/limits.h"

namespace sluice::kinesis {
namespace {

std::string Testdata(const std::string& name) {
  std::ifstream in(std::string(SLUICE_TESTDATA_DIR) + "/kinesis/" + name, std::ios::binary);
  EXPECT_TRUE(in.good()) << "missing testdata " << name;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

http::Response Reply(int status, std::string body, http::Headers headers = {}) {
  http::Response r;
  r.status = status;
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}

TEST(PutRecordsResponse, MixedResultsAreReportedByIndex) {
  const auto result = ParsePutRecordsResponse(Reply(200, Testdata("put_records_mixed.json")), 4);
  ASSERT_EQ(result.failure, RequestFailure::kNone) << result.error_message;
  ASSERT_EQ(result.records.size(), 4u);
  EXPECT_EQ(result.failed_record_count, 2u);
  EXPECT_TRUE(result.records[0].ok);
  EXPECT_EQ(result.records[0].sequence_number,
            "49543463076548007577105092703039560359975228518395019266");
  EXPECT_EQ(result.records[0].shard_id, "shardId-000000000000");
  EXPECT_FALSE(result.records[1].ok);
  EXPECT_EQ(result.records[1].error_code, "ProvisionedThroughputExceededException");
  EXPECT_EQ(result.records[1].error_message,
            "Rate exceeded for shard shardId-000000000001 in stream my-stream under account "
            "123456789012.");
  EXPECT_TRUE(result.records[2].ok);
  EXPECT_EQ(result.records[2].shard_id, "shardId-000000000001");
  EXPECT_FALSE(result.records[3].ok);
  EXPECT_EQ(result.records[3].error_code, "InternalFailure");
}

TEST(PutRecordsResponse, ExplicitNullErrorCodesMeanSuccess) {
  const auto result = ParsePutRecordsResponse(
      Reply(200, Testdata("put_records_all_success_kinesis_local.json")), 2);
  ASSERT_EQ(result.failure, RequestFailure::kNone) << result.error_message;
  ASSERT_EQ(result.records.size(), 2u);
  EXPECT_EQ(result.failed_record_count, 0u);
  for (const auto& r : result.records) {
    EXPECT_TRUE(r.ok);
    EXPECT_TRUE(r.error_code.empty());
    EXPECT_TRUE(r.error_message.empty());
    EXPECT_FALSE(r.sequence_number.empty());
  }
  EXPECT_EQ(result.records[1].shard_id, "shardId-000000000000");
}

TEST(PutRecordsResponse, AllFailedRecordsKeepTheirCodes) {
  const auto result =
      ParsePutRecordsResponse(Reply(200, Testdata("put_records_all_failed.json")), 3);
  ASSERT_EQ(result.failure, RequestFailure::kNone);
  EXPECT_EQ(result.failed_record_count, 3u);
  EXPECT_EQ(result.records[1].error_code, "KMSThrottlingException");
  EXPECT_EQ(result.records[1].error_message, "Rate exceeded for KMS key.");
  EXPECT_TRUE(result.records[1].sequence_number.empty());
}

TEST(PutRecordsResponse, LengthMismatchFailsWholeRequest) {
  const auto result =
      ParsePutRecordsResponse(Reply(200, Testdata("put_records_length_mismatch.json")), 3);
  EXPECT_EQ(result.failure, RequestFailure::kBadResponse);
  EXPECT_TRUE(result.records.empty());
  EXPECT_EQ(result.error_message, "PutRecords response has 2 records for a request of 3");
}

TEST(PutRecordsResponse, MalformedJsonIsBadResponse) {
  const auto result =
      ParsePutRecordsResponse(Reply(200, Testdata("put_records_truncated.json")), 1);
  EXPECT_EQ(result.failure, RequestFailure::kBadResponse);
  EXPECT_EQ(result.http_status, 200);
  EXPECT_NE(result.error_message.find("PutRecords response is not JSON"), std::string::npos)
      << result.error_message;
  EXPECT_TRUE(result.records.empty());
}

TEST(PutRecordsResponse, MissingRecordsArrayIsBadResponse) {
  EXPECT_EQ(ParsePutRecordsResponse(Reply(200, R"({"FailedRecordCount":0})"), 1).failure,
            RequestFailure::kBadResponse);
  EXPECT_EQ(ParsePutRecordsResponse(Reply(200, R"({"Records":null})"), 0).failure,
            RequestFailure::kBadResponse);
  EXPECT_EQ(ParsePutRecordsResponse(Reply(200, R"([1,2])"), 2).failure,
            RequestFailure::kBadResponse);
}

TEST(PutRecordsResponse, EntryWithNeitherSequenceNumberNorErrorIsBadResponse) {
  const auto result = ParsePutRecordsResponse(
      Reply(
          200,
          R"({"Records":[{"SequenceNumber":"1","ShardId":"s"},{"ShardId":"s","ErrorCode":null}]})"),
      2);
  EXPECT_EQ(result.failure, RequestFailure::kBadResponse);
  EXPECT_EQ(result.error_message,
            "PutRecords response record 1 has neither ErrorCode nor SequenceNumber");
}

TEST(PutRecordsResponse, FieldOfWrongTypeIsBadResponse) {
  const auto result = ParsePutRecordsResponse(
      Reply(200, R"({"Records":[{"SequenceNumber":12,"ShardId":"s"}]})"), 1);
  EXPECT_EQ(result.failure, RequestFailure::kBadResponse);
  EXPECT_EQ(result.error_message, "PutRecords response record 0 has a field of the wrong type");
}

struct ErrorCase {
  const char* name;
  int status;
  const char* file;  // testdata, or empty for an empty body
  RequestFailure failure;
  const char* code;
  const char* message;  // expected substring
};

class ErrorClassification : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(ErrorClassification, ClassifiesRequestLevelErrors) {
  const ErrorCase& c = GetParam();
  const std::string body = *c.file ? Testdata(c.file) : "";
  const auto result = ParsePutRecordsResponse(Reply(c.status, body), 5);
  EXPECT_EQ(result.failure, c.failure) << RequestFailureName(result.failure);
  EXPECT_EQ(result.http_status, c.status);
  EXPECT_EQ(result.error_code, c.code);
  EXPECT_NE(result.error_message.find(c.message), std::string::npos) << result.error_message;
  EXPECT_TRUE(result.records.empty());
}

INSTANTIATE_TEST_SUITE_P(
    CannedResponses, ErrorClassification,
    ::testing::Values(
        ErrorCase{"ResourceNotFound", 400, "error_resource_not_found_kinesis_local.json",
                  RequestFailure::kClient, "ResourceNotFoundException",
                  "Stream arn arn:aws:kinesis:us-east-1:000000000000:stream/nope not found"},
        ErrorCase{"AccessDeniedWithNamespaceAndCapitalMessage", 400, "error_access_denied.json",
                  RequestFailure::kClient, "AccessDeniedException",
                  "is not authorized to perform: kinesis:DescribeStreamSummary"},
        ErrorCase{"InvalidArgument", 400, "error_invalid_argument_kinesis_local.json",
                  RequestFailure::kClient, "InvalidArgumentException", "Partition key must be"},
        ErrorCase{"ThroughputExceeded", 400, "error_throughput_exceeded.json",
                  RequestFailure::kThrottled, "ProvisionedThroughputExceededException",
                  "Rate exceeded for stream orders"},
        ErrorCase{"LimitExceeded", 400, "error_limit_exceeded.json", RequestFailure::kThrottled,
                  "LimitExceededException", "Rate exceeded"},
        ErrorCase{"ExpiredToken", 400, "error_expired_token.json", RequestFailure::kCredentials,
                  "ExpiredTokenException", "security token included in the request is expired"},
        ErrorCase{"UnrecognizedClient", 400, "error_unrecognized_client.json",
                  RequestFailure::kCredentials, "UnrecognizedClientException",
                  "security token included in the request is invalid"},
        ErrorCase{"InvalidSignatureIsNotExpiry", 400, "error_invalid_signature.json",
                  RequestFailure::kClient, "InvalidSignatureException",
                  "does not match the signature you provided"},
        ErrorCase{"InternalFailureWithNullMessage", 500, "error_internal_failure.json",
                  RequestFailure::kServer, "InternalFailure", "HTTP 500"},
        ErrorCase{"ServiceUnavailable", 503, "error_service_unavailable.json",
                  RequestFailure::kThrottled, "ServiceUnavailable", "HTTP 503"},
        ErrorCase{"BadGatewayHtml", 502, "error_502_html.txt", RequestFailure::kServer, "",
                  "HTTP 502: <html><body>502 Bad Gateway</body></html>"},
        ErrorCase{"TooManyRequestsEmptyBody", 429, "", RequestFailure::kThrottled, "", "HTTP 429"},
        ErrorCase{"PayloadTooLargeEmptyBody", 413, "", RequestFailure::kClient, "", "HTTP 413"}),
    [](const ::testing::TestParamInfo<ErrorCase>& info) { return std::string(info.param.name); });

TEST(AwsError, CodeFromHeaderWhenBodyHasNone) {
  const auto error = ParseAwsError(Reply(
      400, "",
      {{"x-amzn-errortype",
        "ThrottlingException:http://internal.amazon.com/coral/com.amazon.coral.availability/"}}));
  EXPECT_EQ(error.code, "ThrottlingException");
  EXPECT_EQ(error.message, "HTTP 400");
  EXPECT_EQ(ClassifyFailure(400, error.code), RequestFailure::kThrottled);
}

TEST(AwsError, BodyCodeWinsOverHeaderAndLowercaseCodeKeyIsRead) {
  const auto error = ParseAwsError(Reply(400, R"({"code":"ExpiredToken","Message":"expired"})",
                                         {{"x-amzn-errortype", "Other"}}));
  EXPECT_EQ(error.code, "ExpiredToken");
  EXPECT_EQ(error.message, "expired");
  EXPECT_EQ(ClassifyFailure(403, error.code), RequestFailure::kCredentials);
}

TEST(ClassifyFailure, StatusDecidesWhenCodeIsUnknown) {
  EXPECT_EQ(ClassifyFailure(400, "ValidationException"), RequestFailure::kClient);
  EXPECT_EQ(ClassifyFailure(403, "AccessDeniedException"), RequestFailure::kClient);
  EXPECT_EQ(ClassifyFailure(500, ""), RequestFailure::kServer);
  EXPECT_EQ(ClassifyFailure(504, ""), RequestFailure::kServer);
  EXPECT_EQ(ClassifyFailure(503, ""), RequestFailure::kThrottled);
  EXPECT_EQ(ClassifyFailure(429, ""), RequestFailure::kThrottled);
  EXPECT_EQ(ClassifyFailure(302, ""), RequestFailure::kBadResponse);
  EXPECT_EQ(ClassifyFailure(400, "SignatureDoesNotMatch"), RequestFailure::kClient);
  EXPECT_EQ(ClassifyFailure(403, "InvalidClientTokenId"), RequestFailure::kCredentials);
  EXPECT_EQ(ClassifyFailure(500, "ThrottlingException"), RequestFailure::kThrottled);
}

TEST(RequestFailureName, NamesEveryFailure) {
  EXPECT_STREQ(RequestFailureName(RequestFailure::kNone), "none");
  EXPECT_STREQ(RequestFailureName(RequestFailure::kThrottled), "throttled");
  EXPECT_STREQ(RequestFailureName(RequestFailure::kCredentials), "credentials");
  EXPECT_STREQ(RequestFailureName(RequestFailure::kBadResponse), "bad_response");
}

TEST(DescribeStreamSummaryResponse, NullMaxRecordSizeMeansOneMiB) {
  const auto summary =
      ParseDescribeStreamSummary(Testdata("describe_stream_summary_kinesis_local.json"));
  ASSERT_TRUE(summary.ok()) << summary.error().message();
  EXPECT_EQ(summary->status, "ACTIVE");
  EXPECT_EQ(summary->open_shard_count, 2);
  EXPECT_EQ(summary->max_record_bytes, kDefaultMaxRecordBytes);
  EXPECT_FALSE(summary->from_describe_stream);
}

TEST(DescribeStreamSummaryResponse, ReadsMaxRecordSizeInKiB) {
  const auto summary =
      ParseDescribeStreamSummary(Testdata("describe_stream_summary_max_record_size.json"));
  ASSERT_TRUE(summary.ok()) << summary.error().message();
  EXPECT_EQ(summary->status, "UPDATING");
  EXPECT_EQ(summary->open_shard_count, 4);
  EXPECT_EQ(summary->max_record_bytes, 10u * 1024 * 1024);
}

TEST(DescribeStreamSummaryResponse, UnexpectedShapesAreProtocolErrors) {
  for (const char* body :
       {"", "{", "[]", R"({"StreamDescriptionSummary":null})",
        R"({"StreamDescriptionSummary":{"OpenShardCount":1}})",
        R"({"StreamDescriptionSummary":{"StreamStatus":"ACTIVE","MaxRecordSizeInKiB":"big"}})",
        R"({"StreamDescriptionSummary":{"StreamStatus":"ACTIVE","MaxRecordSizeInKiB":-1}})"}) {
    const auto summary = ParseDescribeStreamSummary(body);
    ASSERT_FALSE(summary.ok()) << body;
    EXPECT_EQ(summary.error().code(), ErrorCode::kProtocol) << body;
    EXPECT_NE(summary.error().message().find("DescribeStreamSummary response"), std::string::npos)
        << summary.error().message();
  }
}

TEST(DescribeStreamResponse, CountsOpenShardsAndAssumesOneMiB) {
  const auto summary = ParseDescribeStream(Testdata("describe_stream_one_closed_shard.json"));
  ASSERT_TRUE(summary.ok()) << summary.error().message();
  EXPECT_EQ(summary->status, "ACTIVE");
  EXPECT_EQ(summary->open_shard_count, 1);
  EXPECT_EQ(summary->max_record_bytes, kDefaultMaxRecordBytes);
  EXPECT_TRUE(summary->from_describe_stream);
}

TEST(DescribeStreamResponse, MissingStatusIsProtocolError) {
  const auto summary = ParseDescribeStream(R"({"StreamDescription":{"StreamStatus":null}})");
  ASSERT_FALSE(summary.ok());
  EXPECT_EQ(summary.error().message(), "DescribeStream response has no StreamStatus");
}

}  // namespace
}  // namespace sluice::kinesis
