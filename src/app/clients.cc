#include "app/clients.h"

#include "aws/credentials.h"
#include "http/curl_transport.h"

namespace sluice::app {

Status CheckSinkSupported(const config::SinkSettings& sink) {
  if (sink.destination.use_task_role) {
    return Error(ErrorCode::kConfig,
                 "sink " + sink.name +
                     ": destination.use_task_role: the AWS credential chain is not available in "
                     "this build yet; give access_key_id and secret_access_key");
  }
  return OkStatus();
}

Result<std::unique_ptr<kinesis::KinesisClient>> MakeSinkClient(const config::SinkSettings& sink,
                                                               const Clock& clock) {
  SLUICE_RETURN_IF_ERROR(CheckSinkSupported(sink));
  const auto& d = sink.destination;
  aws::Credentials creds;
  creds.access_key_id = d.access_key_id;
  creds.secret_access_key = d.secret_access_key;
  creds.session_token = d.session_token;
  const auto tls = d.tls_verify ? http::TlsVerify::kOn : http::TlsVerify::kOff;
  return kinesis::MakeKinesisClient(
      d, std::make_shared<aws::StaticCredentialsProvider>(std::move(creds)),
      [tls]() -> std::unique_ptr<http::Transport> {
        return std::make_unique<http::CurlTransport>(tls);
      },
      clock);
}

}  // namespace sluice::app
