#include "sink/kinesis/client.h"

#include <mutex>
#include <string_view>
#include <utility>

#include "aws/sigv4.h"
#include "base/json_text.h"
#include "sink/kinesis/put_records.h"
#include "sink/kinesis/response.h"

namespace sluice::kinesis {
namespace {

constexpr std::string_view kTargetPrefix = "Kinesis_20131202.";
constexpr std::string_view kContentType = "application/x-amz-json-1.1";
constexpr std::string_view kService = "kinesis";

// Transports not in use, handed to one caller at a time so each keeps its own
// keep-alive connection. Grows to the number of concurrent callers.
class TransportPool {
 public:
  explicit TransportPool(TransportFactory factory) : factory_(std::move(factory)) {}

  std::unique_ptr<http::Transport> Acquire() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!idle_.empty()) {
        auto transport = std::move(idle_.back());
        idle_.pop_back();
        return transport;
      }
    }
    return factory_();
  }

  void Release(std::unique_ptr<http::Transport> transport) {
    std::lock_guard<std::mutex> lock(mu_);
    idle_.push_back(std::move(transport));
  }

 private:
  const TransportFactory factory_;
  std::mutex mu_;
  std::vector<std::unique_ptr<http::Transport>> idle_;  // GUARDED_BY(mu_)
};

// The Kinesis endpoint for a stream: https://kinesis.<region>.amazonaws.com
// (amazonaws.com.cn in the aws-cn partition), or the configured endpoint_url.
std::string EndpointUrl(const std::string& endpoint_url, const config::StreamArn& stream) {
  if (endpoint_url.empty()) {
    const char* suffix = stream.partition == "aws-cn" ? "amazonaws.com.cn" : "amazonaws.com";
    return "https://kinesis." + stream.region + "." + suffix + "/";
  }
  // A bare scheme://host[:port] gets the root path the API is served on.
  const size_t authority = endpoint_url.find("://");
  const size_t path = endpoint_url.find('/', authority == std::string::npos ? 0 : authority + 3);
  return path == std::string::npos ? endpoint_url + "/" : endpoint_url;
}

std::string StreamRequestBody(const config::StreamArn& stream) {
  std::string body = "{\"StreamName\":";
  AppendJsonString(stream.stream_name, &body);
  body += ",\"StreamARN\":";
  AppendJsonString(stream.arn, &body);
  body += "}";
  return body;
}

// Maps a classified failure to the Error code a caller of DescribeStream sees.
ErrorCode ErrorCodeFor(RequestFailure failure, std::string_view aws_code) {
  if (aws_code == "ResourceNotFoundException") return ErrorCode::kNotFound;
  if (aws_code == "AccessDeniedException") return ErrorCode::kAuth;
  switch (failure) {
    case RequestFailure::kCredentials: return ErrorCode::kAuth;
    case RequestFailure::kThrottled: return ErrorCode::kUnavailable;
    case RequestFailure::kBadResponse: return ErrorCode::kProtocol;
    case RequestFailure::kNetwork: return ErrorCode::kNetwork;
    default: return ErrorCode::kAws;
  }
}

class Client final : public KinesisClient {
 public:
  Client(const config::KinesisDestination& destination,
         std::shared_ptr<aws::CredentialsProvider> credentials, TransportFactory factory,
         const Clock& clock)
      : endpoint_url_(destination.endpoint_url),
        request_timeout_(destination.request_timeout),
        connect_timeout_(destination.connect_timeout),
        credentials_(std::move(credentials)),
        pool_(std::move(factory)),
        clock_(clock) {}

  Result<StreamSummary> DescribeStream(const config::StreamArn& stream) override {
    const std::string body = StreamRequestBody(stream);
    bool denied = false;
    auto summary =
        Describe("DescribeStreamSummary", stream, body, &ParseDescribeStreamSummary, &denied);
    if (summary.ok() || !denied) return summary;
    // The seed IAM policy grants kinesis:DescribeStream only (SPEC §5).
    auto described = Describe("DescribeStream", stream, body, &ParseDescribeStream, &denied);
    if (!described.ok()) {
      return described.error().WithContext("after kinesis:DescribeStreamSummary was denied");
    }
    return described;
  }

  PutRecordsResult PutRecords(const config::StreamArn& stream, const std::string& body,
                              size_t record_count) override {
    std::string signed_with;
    auto response = CallRenewingCredentials("PutRecords", stream, body, &signed_with);
    if (!response.ok()) {
      PutRecordsResult result;
      result.failure = response.error().code() == ErrorCode::kAuth ? RequestFailure::kCredentials
                                                                   : RequestFailure::kNetwork;
      result.error_message = response.error().message();
      return result;
    }
    PutRecordsResult result = ParsePutRecordsResponse(response.value(), record_count);
    if (result.failure == RequestFailure::kCredentials) credentials_->Invalidate(signed_with);
    return result;
  }

 private:
  using Parser = Result<StreamSummary> (*)(std::string_view);

  // One Describe* call; errors name the action, the stream and what AWS said.
  // Sets *denied when AWS answered AccessDeniedException.
  Result<StreamSummary> Describe(std::string_view action, const config::StreamArn& stream,
                                 const std::string& body, Parser parse, bool* denied) {
    *denied = false;
    const std::string what = "kinesis:" + std::string(action) + " on " + stream.arn;
    std::string signed_with;
    auto response = CallRenewingCredentials(action, stream, body, &signed_with);
    if (!response.ok()) return response.error().WithContext(what);
    const http::Response& r = response.value();
    if (r.status >= 200 && r.status <= 299) {
      auto summary = parse(r.body);
      if (!summary.ok()) return summary.error().WithContext(what);
      return summary;
    }
    const AwsError error = ParseAwsError(r);
    const RequestFailure failure = ClassifyFailure(r.status, error.code);
    if (failure == RequestFailure::kCredentials) credentials_->Invalidate(signed_with);
    *denied = error.code == "AccessDeniedException";
    const std::string verb = *denied ? " denied: " : " failed: ";
    return Error(ErrorCodeFor(failure, error.code),
                 what + verb + (error.code.empty() ? "" : error.code + ": ") + error.message +
                     " (HTTP " + std::to_string(r.status) + ")");
  }

  // Call(), and when AWS rejects the credentials (ExpiredToken,
  // UnrecognizedClient, InvalidClientTokenId) invalidates them and sends the
  // request once more with fresh ones, so an expired token costs no failed
  // request. A second rejection is returned as it is. *signed_with: the access
  // key id the returned response answers (for Invalidate()).
  Result<http::Response> CallRenewingCredentials(std::string_view action,
                                                 const config::StreamArn& stream,
                                                 const std::string& body,
                                                 std::string* signed_with) {
    auto response = Call(action, stream, body, signed_with);
    if (!response.ok() || (response->status >= 200 && response->status <= 299)) return response;
    if (ClassifyFailure(response->status, ParseAwsError(*response).code) !=
        RequestFailure::kCredentials) {
      return response;
    }
    credentials_->Invalidate(*signed_with);
    return Call(action, stream, body, signed_with);
  }

  // Builds, signs and sends one request. Errors: kAuth when no credentials
  // could be had, else the transport's kNetwork / kTimeout. *signed_with: the
  // access key id the request was signed with.
  Result<http::Response> Call(std::string_view action, const config::StreamArn& stream,
                              const std::string& body, std::string* signed_with) {
    http::Request request;
    request.method = "POST";
    request.url = EndpointUrl(endpoint_url_, stream);
    request.headers = {{"Content-Type", std::string(kContentType)},
                       {"X-Amz-Target", std::string(kTargetPrefix) + std::string(action)}};
    request.body = body;
    request.timeout = request_timeout_;
    request.connect_timeout = connect_timeout_;

    auto credentials = credentials_->Get();
    if (!credentials.ok()) {
      // The provider's message says what failed ("no provider is configured:
      // ...", "container: GET ...: HTTP 500").
      return Error(ErrorCode::kAuth, "no AWS credentials from " + credentials_->Name() + ": " +
                                         credentials.error().message());
    }
    *signed_with = credentials->access_key_id;
    aws::SignRequest(&request, credentials.value(),
                     aws::SigningScope{stream.region, std::string(kService)}, clock_.WallNow());

    std::unique_ptr<http::Transport> transport = pool_.Acquire();
    if (transport == nullptr) return Error(ErrorCode::kInternal, "transport factory returned null");
    auto response = transport->Send(request);
    pool_.Release(std::move(transport));
    return response;
  }

  const std::string endpoint_url_;
  const std::chrono::milliseconds request_timeout_;
  const std::chrono::milliseconds connect_timeout_;
  const std::shared_ptr<aws::CredentialsProvider> credentials_;
  TransportPool pool_;
  const Clock& clock_;
};

}  // namespace

std::unique_ptr<KinesisClient> MakeKinesisClient(
    const config::KinesisDestination& destination,
    std::shared_ptr<aws::CredentialsProvider> credentials, TransportFactory transport_factory,
    const Clock& clock) {
  return std::make_unique<Client>(destination, std::move(credentials), std::move(transport_factory),
                                  clock);
}

}  // namespace sluice::kinesis
