// Reading Kinesis responses: pure functions from an HTTP response to data the
// client and the retry policy act on. No I/O, so canned responses in
// tests/testdata/kinesis/ check them exactly.
//
// JSON explicit nulls read as absent everywhere (kinesis-local sends
// "ErrorCode": null on successful entries and "MaxRecordSizeInKiB": null).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "base/result.h"
#include "http/transport.h"
#include "sink/kinesis/client.h"

namespace sluice::kinesis {

// An error reported by AWS in the JSON protocol.
struct AwsError {
  std::string code;  // the __type without its namespace prefix ("…#"), e.g. AccessDeniedException
  std::string message;  // "message" or "Message"; for a non-JSON body, its start
};

// Reads the error of a non-2xx response: code from the body's "__type" (or
// "code"), else from the x-amzn-errortype header; never fails (unknown shapes
// give an empty code and a message saying what came back).
AwsError ParseAwsError(const http::Response& response);

// Classifies a request that AWS answered with `http_status` and `error_code`:
//   throttling codes (ProvisionedThroughputExceededException, ThrottlingException,
//     LimitExceededException, KMSThrottlingException, …), HTTP 429 or 503 → kThrottled
//   ExpiredTokenException, ExpiredToken, UnrecognizedClientException,
//     InvalidClientTokenId (credentials expired, revoked or unknown) → kCredentials
//   other 5xx → kServer; other 4xx → kClient; anything else → kBadResponse.
// Signature errors (InvalidSignatureException, SignatureDoesNotMatch,
// IncompleteSignature, MissingAuthenticationToken) are kClient: they come from
// a wrong secret key or a skewed clock, which fetching credentials again does
// not fix; they are reported, not treated as expiry.
RequestFailure ClassifyFailure(int http_status, std::string_view error_code);

// Reads a PutRecords response to a request of `record_count` records. 2xx: one
// RecordOutcome per request record, by index; a record without ErrorCode must
// carry a SequenceNumber. A body that is not the expected JSON, or whose
// Records length differs from `record_count`, fails the whole request with
// kBadResponse (SPEC §4). Non-2xx: failure from ClassifyFailure, with the AWS
// code and message.
PutRecordsResult ParsePutRecordsResponse(const http::Response& response, size_t record_count);

// Reads a 2xx DescribeStreamSummary body. MaxRecordSizeInKiB absent or null
// means kDefaultMaxRecordBytes. kProtocol error when the body is not as expected.
Result<StreamSummary> ParseDescribeStreamSummary(std::string_view body);

// Reads a 2xx DescribeStream body (the fallback when DescribeStreamSummary is
// denied): status, open shards on the first page, the 1 MiB default limit,
// from_describe_stream = true.
Result<StreamSummary> ParseDescribeStream(std::string_view body);

}  // namespace sluice::kinesis
