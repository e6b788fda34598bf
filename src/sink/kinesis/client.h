// KinesisClient: the two Kinesis calls sluice makes, over the HTTP seam.
//
// PutRecords bodies are built by PutRecordsBuilder (put_records.h) straight
// from encoded messages; the client signs, sends and classifies the response
// (per record, by index) without interpreting the records themselves.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "aws/credentials.h"
#include "base/result.h"
#include "config/settings.h"
#include "http/transport.h"

namespace sluice::kinesis {

struct StreamSummary {
  std::string status;           // ACTIVE, CREATING, UPDATING, DELETING
  size_t max_record_bytes = 0;  // from MaxRecordSizeInKiB, or the 1 MiB default
  int open_shard_count = 0;
  bool from_describe_stream = false;  // DescribeStreamSummary was denied
};

// What happened to one record of a PutRecords request.
struct RecordOutcome {
  bool ok = false;
  std::string error_code;  // e.g. ProvisionedThroughputExceededException
  std::string error_message;
  std::string sequence_number;
  std::string shard_id;
};

// How a whole request failed, as data for the retry policy (see
// ClassifyFailure in response.h for the exact mapping).
enum class RequestFailure {
  kNone,
  // Connect / reset / timeout: retry with backoff.
  kNetwork,
  // Throttling code (ProvisionedThroughputExceeded, Throttling, LimitExceeded,
  // ...) or HTTP 429 / 503: retry with backoff.
  kThrottled,
  // Other 5xx: retry with backoff.
  kServer,
  // ExpiredToken / UnrecognizedClient / InvalidClientTokenId, or no credentials
  // could be had: retry (after a rejection the client called Invalidate()).
  kCredentials,
  // Other 4xx (AccessDenied, ResourceNotFound, Validation, signature errors):
  // retry with backoff, report.
  kClient,
  // Unparseable, or record count differs from the request: retry all.
  kBadResponse,
};

const char* RequestFailureName(RequestFailure failure);

struct PutRecordsResult {
  RequestFailure failure = RequestFailure::kNone;
  int http_status = 0;
  std::string error_code;     // AWS __type, e.g. ResourceNotFoundException
  std::string error_message;  // AWS message or transport error
  // One per request record, in request order, when failure == kNone.
  std::vector<RecordOutcome> records;
  // Records with ok == false (counted from `records`, not trusted from the
  // response's FailedRecordCount).
  size_t failed_record_count = 0;
};

// Thread-safe: sender threads call PutRecords concurrently; each call uses a
// transport of its own from an internal pool (keep-alive per connection).
class KinesisClient {
 public:
  virtual ~KinesisClient() = default;
  // DescribeStreamSummary, falling back to DescribeStream when it is denied.
  virtual Result<StreamSummary> DescribeStream(const config::StreamArn& stream) = 0;
  // Sends a body built by PutRecordsBuilder holding `record_count` records.
  virtual PutRecordsResult PutRecords(const config::StreamArn& stream, const std::string& body,
                                      size_t record_count) = 0;
};

using TransportFactory = std::function<std::unique_ptr<http::Transport>()>;

// The production client. Each call:
//   POST to destination.endpoint_url, or https://kinesis.<region>.amazonaws.com/
//   (amazonaws.com.cn in the aws-cn partition) with the region of the call's
//   stream ARN; Content-Type application/x-amz-json-1.1, X-Amz-Target
//   Kinesis_20131202.<Action>; signed (aws::SignRequest, service "kinesis",
//   region from the stream ARN) with credentials->Get() at the time of the call
//   and clock.WallNow(); destination's request and connect timeouts.
// On a credentials rejection (ExpiredToken, UnrecognizedClient,
// InvalidClientTokenId) it calls credentials->Invalidate(id), `id` being the
// access key id the rejected request was signed with, and sends the
// request once more, signed with what Get() returns then; if that is rejected
// too it invalidates again and reports kCredentials (retrying further is the
// caller's business). `transport_factory` is called (from any sender thread)
// whenever no idle transport is available; transports are kept for reuse.
// `credentials` is shared: one provider (and its cache) serves every sink that
// uses the same credentials. `clock` must outlive the client.
std::unique_ptr<KinesisClient> MakeKinesisClient(
    const config::KinesisDestination& destination,
    std::shared_ptr<aws::CredentialsProvider> credentials, TransportFactory transport_factory,
    const Clock& clock);

}  // namespace sluice::kinesis
