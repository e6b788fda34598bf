#include "http/curl_transport.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <mutex>
#include <string>
#include <string_view>

namespace sluice::http {
namespace {

void InitCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct UrlParts {
  std::string scheme;
  std::string host_port;  // "host:port", the port filled in from the scheme
};

// Parses an absolute http(s) URL, for validation and for error messages.
Result<UrlParts> ParseUrl(const std::string& url) {
  CURLU* u = curl_url();
  if (u == nullptr) return Error(ErrorCode::kInternal, "curl_url() failed");
  UrlParts parts;
  Result<UrlParts> result = Error(ErrorCode::kInvalidArgument, "invalid URL '" + url + "'");
  if (curl_url_set(u, CURLUPART_URL, url.c_str(), 0) == CURLUE_OK) {
    char* scheme = nullptr;
    char* host = nullptr;
    char* port = nullptr;
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
      parts.scheme = scheme;
      parts.host_port = std::string(host) + ":" + port;
      if (parts.scheme == "http" || parts.scheme == "https") {
        result = parts;
      } else {
        result = Error(ErrorCode::kInvalidArgument,
                       "unsupported URL scheme '" + parts.scheme + "' in '" + url + "'");
      }
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
  }
  curl_url_cleanup(u);
  return result;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool HasHeader(const Headers& headers, std::string_view lower_name) {
  return std::any_of(headers.begin(), headers.end(),
                     [&](const auto& h) { return Lower(h.first) == lower_name; });
}

struct Exchange {
  Response response;
  bool body_too_large = false;
};

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* exchange = static_cast<Exchange*>(user);
  const size_t total = size * count;
  std::string_view line(data, total);
  // A new status line starts a new header block (after "100 Continue" or an
  // informational response): keep only the final response's headers.
  if (line.starts_with("HTTP/")) {
    exchange->response.headers.clear();
    return total;
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return total;  // blank line ending the block
  exchange->response.headers.emplace_back(Lower(Trim(line.substr(0, colon))),
                                          std::string(Trim(line.substr(colon + 1))));
  return total;
}

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* exchange = static_cast<Exchange*>(user);
  const size_t total = size * count;
  if (exchange->response.body.size() + total > kMaxResponseBodyBytes) {
    exchange->body_too_large = true;
    return 0;  // makes curl fail the transfer with CURLE_WRITE_ERROR
  }
  exchange->response.body.append(data, total);
  return total;
}

class HeaderList {
 public:
  ~HeaderList() { curl_slist_free_all(list_); }
  void Add(const std::string& line) { list_ = curl_slist_append(list_, line.c_str()); }
  curl_slist* get() const { return list_; }

 private:
  curl_slist* list_ = nullptr;
};

}  // namespace

struct CurlTransport::Handle {
  CURL* curl = nullptr;
  char error_buffer[CURL_ERROR_SIZE] = {};
};

CurlTransport::CurlTransport(TlsVerify tls_verify)
    : handle_(std::make_unique<Handle>()), tls_verify_(tls_verify) {
  InitCurlOnce();
  handle_->curl = curl_easy_init();
}

CurlTransport::~CurlTransport() {
  if (handle_->curl != nullptr) curl_easy_cleanup(handle_->curl);
}

Result<Response> CurlTransport::Send(const Request& request) {
  SLUICE_ASSIGN_OR_RETURN(UrlParts url, ParseUrl(request.url));
  const std::string where = request.method + " " + url.host_port;
  CURL* curl = handle_->curl;
  if (curl == nullptr) return Error(ErrorCode::kInternal, where + ": curl_easy_init() failed");

  // Reset clears the previous request's options but keeps the connection
  // cache, so the next request to the same host reuses the open connection.
  curl_easy_reset(curl);
  handle_->error_buffer[0] = '\0';
  Exchange exchange;

  curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_PROXY, "");  // ignore proxy environment variables
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, handle_->error_buffer);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout.count()));
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(request.connect_timeout.count()));
  const long verify = tls_verify_ == TlsVerify::kOn ? 1L : 0L;
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, verify);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, verify == 1L ? 2L : 0L);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &exchange);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &exchange);

  if (request.method == "GET" && request.body.empty()) {
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
  } else if (request.method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else {
    // Any other method carries the body (possibly empty, sent with
    // Content-Length: 0); curl's POST machinery with the method renamed.
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(request.body.size()));
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
    if (request.method != "POST")
      curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }

  HeaderList headers;
  for (const auto& [name, value] : request.headers) {
    // "Name;" is curl's syntax for a header with an empty value.
    headers.Add(value.empty() ? name + ";" : name + ": " + value);
  }
  // Suppress the headers curl would add on its own, so what is sent is what
  // the caller (and the signer) saw.
  headers.Add("Expect:");
  if (!HasHeader(request.headers, "accept")) headers.Add("Accept:");
  if (!HasHeader(request.headers, "content-type")) headers.Add("Content-Type:");
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers.get());

  const CURLcode code = curl_easy_perform(curl);
  if (code != CURLE_OK) {
    if (exchange.body_too_large) {
      return Error(ErrorCode::kProtocol, where + ": response body larger than " +
                                             std::to_string(kMaxResponseBodyBytes) + " bytes");
    }
    std::string message = where + ": " + curl_easy_strerror(code);
    if (handle_->error_buffer[0] != '\0')
      message += " (" + std::string(handle_->error_buffer) + ")";
    return Error(code == CURLE_OPERATION_TIMEDOUT ? ErrorCode::kTimeout : ErrorCode::kNetwork,
                 message);
  }
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  exchange.response.status = static_cast<int>(status);
  return std::move(exchange.response);
}

}  // namespace sluice::http
