#include "app/clients.h"

#include "aws/chain.h"
#include "config/environment.h"
#include "http/curl_transport.h"

namespace sluice::app {

Status CheckSinkSupported(const config::SinkSettings& sink) { return OkStatus(); }

std::shared_ptr<aws::CredentialsProvider> MakeSinkCredentials(const config::SinkSettings& sink,
                                                              const Clock& clock) {
  // Credential endpoints (STS, the container agent, IMDS) always verify TLS:
  // tls_verify is about the Kinesis endpoint (emulators).
  return MakeSinkCredentials(
      sink, config::Environment::Process(),
      []() -> std::unique_ptr<http::Transport> {
        return std::make_unique<http::CurlTransport>(http::TlsVerify::kOn);
      },
      clock);
}

std::shared_ptr<aws::CredentialsProvider> MakeSinkCredentials(
    const config::SinkSettings& sink, config::Environment env,
    aws::TransportFactory transport_factory, const Clock& clock) {
  const auto& d = sink.destination;
  if (d.use_task_role) {
    // STS in the stream's own region and partition (regional endpoint).
    return aws::MakeDefaultCredentialsChain(aws::StsLocation{d.stream.region, d.stream.partition},
                                            std::move(env), std::move(transport_factory), clock);
  }
  aws::Credentials creds;
  creds.access_key_id = d.access_key_id;
  creds.secret_access_key = d.secret_access_key;
  creds.session_token = d.session_token;
  return std::make_shared<aws::StaticCredentialsProvider>(std::move(creds));
}

Result<std::unique_ptr<kinesis::KinesisClient>> MakeSinkClient(const config::SinkSettings& sink,
                                                               const Clock& clock) {
  return MakeSinkClient(sink, MakeSinkCredentials(sink, clock), clock);
}

Result<std::unique_ptr<kinesis::KinesisClient>> MakeSinkClient(
    const config::SinkSettings& sink, std::shared_ptr<aws::CredentialsProvider> credentials,
    const Clock& clock) {
  SLUICE_RETURN_IF_ERROR(CheckSinkSupported(sink));
  const auto tls = sink.destination.tls_verify ? http::TlsVerify::kOn : http::TlsVerify::kOff;
  return kinesis::MakeKinesisClient(
      sink.destination, std::move(credentials),
      [tls]() -> std::unique_ptr<http::Transport> {
        return std::make_unique<http::CurlTransport>(tls);
      },
      clock);
}

}  // namespace sluice::app
