// HttpTransport: the seam for HTTP. Production uses CurlTransport (keep-alive,
// timeouts, TLS verification on unless turned off); unit tests use a fake that
// replays scripted exchanges.
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "base/result.h"

namespace sluice::http {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Request {
  std::string method = "POST";
  std::string url;  // absolute: scheme://host[:port]/path?query
  Headers headers;  // sent as given (the signer adds its own before sending)
  std::string body;
  std::chrono::milliseconds timeout{30000};
  std::chrono::milliseconds connect_timeout{5000};
};

struct Response {
  int status = 0;
  Headers headers;  // names lower-cased
  std::string body;

  // First header with this lower-case name, or empty.
  std::string Header(const std::string& lower_name) const {
    for (const auto& [k, v] : headers)
      if (k == lower_name) return v;
    return {};
  }
};

// Thread safety: an instance serves one request at a time; use one per thread
// (each keeps its own keep-alive connection).
class Transport {
 public:
  virtual ~Transport() = default;
  // A transport-level failure (connect, TLS, timeout, reset) is an Error with
  // kNetwork or kTimeout; any HTTP status, including 5xx, is a Response.
  virtual Result<Response> Send(const Request& request) = 0;
};

}  // namespace sluice::http
