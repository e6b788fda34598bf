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
  std::string status;  // ACTIVE, CREATING, UPDATING, DELETING
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

// How a whole request failed, as data for the retry policy.
enum class RequestFailure {
  kNone,
  kNetwork,      // connect/reset/timeout: retry with backoff
  kThrottled,    // 400 with a throttling code, or 503: retry with backoff
  kServer,       // 5xx: retry with backoff
  kCredentials,  // ExpiredToken / UnrecognizedClient: refresh credentials, retry
  kClient,       // other 4xx (AccessDenied, ResourceNotFound, Validation): retry with backoff, report
  kBadResponse,  // unparseable, or record count differs from the request: retry all
};

const char* RequestFailureName(RequestFailure failure);

struct PutRecordsResult {
  RequestFailure failure = RequestFailure::kNone;
  int http_status = 0;
  std::string error_code;     // AWS __type, e.g. ResourceNotFoundException
  std::string error_message;  // AWS message or transport error
  // One per request record, in request order, when failure == kNone.
  std::vector<RecordOutcome> records;
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

// The production client. `endpoint_url` empty means the regional AWS endpoint.
std::unique_ptr<KinesisClient> MakeKinesisClient(const config::KinesisDestination& destination,
                                                 std::shared_ptr<aws::CredentialsProvider> credentials,
                                                 TransportFactory transport_factory,
                                                 const Clock& clock);

}  // namespace sluice::kinesis
