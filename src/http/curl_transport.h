// CurlTransport: the production http::Transport, one libcurl easy handle per
// instance. The handle is reused across requests so its connection stays open
// (keep-alive); give each thread its own instance.
//
// Proxies: environment proxy variables (http_proxy, HTTPS_PROXY, ALL_PROXY,
// NO_PROXY) are ignored; every request goes straight to the URL's host. sluice
// talks to one known endpoint (AWS, a VPC endpoint or an emulator on loopback),
// and a proxy picked up silently from the environment would reroute signed
// traffic, loopback included. An explicit proxy option would be added here.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>

#include "http/transport.h"

namespace sluice::http {

// Whether to verify the server's TLS certificate and host name.
enum class TlsVerify {
  kOn,
  kOff,  // only for emulators with self-signed certificates
};

// A response body larger than this fails the request (kProtocol).
inline constexpr size_t kMaxResponseBodyBytes = 64 * 1024 * 1024;

class CurlTransport final : public Transport {
 public:
  explicit CurlTransport(TlsVerify tls_verify = TlsVerify::kOn);
  ~CurlTransport() override;
  CurlTransport(const CurlTransport&) = delete;
  CurlTransport& operator=(const CurlTransport&) = delete;

  // Sends `request` with its method, headers and body as given (curl's own
  // default Accept / Content-Type / Expect headers are suppressed), waiting at
  // most request.connect_timeout to connect and request.timeout in all.
  // Redirects are not followed. Errors: kInvalidArgument (bad URL), kTimeout,
  // kNetwork (resolve, connect, TLS, reset), kProtocol (response too large);
  // the message names host:port and carries curl's explanation.
  Result<Response> Send(const Request& request) override;

 private:
  struct Handle;
  std::unique_ptr<Handle> handle_;
  const TlsVerify tls_verify_;
};

}  // namespace sluice::http
