// ApiClient: the command line's side of the management API (docs/api.md),
// used by `sluice messages …` and `sluice sinks …` (app/api_commands.h).
//
// Why a class: every command sends the same bearer token to the same address
// and turns the same error documents into Errors, so a command is a few calls
// and its output. It talks through http::Transport: production passes a
// CurlTransport, tests a scripted one.
//
// Errors (each names what was asked as "GET /api/..." — the path without its
// query — and never the token):
//   kNetwork          nothing answered at the address (connection refused,
//                     reset, unresolvable host): sluice is most likely not
//                     running; callers decide what that means
//   kTimeout          connected, but no answer in time
//   kInvalidArgument  400 or 413: the API's message (it names the parameter)
//   kAuth             401: the token was refused (or none was found) and
//                     where it came from
//   kNotFound         404: the API's message ("sink \"x\" is not configured")
//   kUnavailable      409: the API's message (a message in flight)
//   kInternal         500: the API's message (the local store failed)
//   kProtocol         any other status, or a body that is not JSON
//
// Thread safety: none; one client per command, used from one thread (the
// transport serves one request at a time).
#pragma once

#include <rapidjson/document.h>

#include <string>
#include <string_view>

#include "api/token.h"
#include "base/result.h"
#include "config/settings.h"
#include "http/transport.h"

namespace sluice::app {

// Where the API is.
struct ApiAddress {
  std::string base_url;   // "http://127.0.0.1:7376", no trailing slash
  std::string host_port;  // "127.0.0.1:7376", for messages
  std::string given;      // --api as given on the command line; empty: from the config
};

// The API's address: `override_url` (--api: "http://host:port", "https://…"
// or "host:port"; no path or query) when given, else the config's api.listen,
// where a wildcard host (0.0.0.0, [::]) becomes the loopback address of its
// family. kInvalidArgument for a malformed --api.
Result<ApiAddress> ResolveApiAddress(const config::Settings& settings,
                                     std::string_view override_url);

// One answer of the API with a 2xx status.
struct ApiReply {
  int status = 0;
  std::string body;          // exactly as sent (for --json)
  rapidjson::Document json;  // the parsed body; null for an empty body
};

class ApiClient {
 public:
  // `token`: from api::ResolveApiToken(settings, /*create=*/false). When it is
  // an error, requests go without a token (so a stopped sluice is still told
  // apart from a running one) and a 401 says why no token was found.
  // `transport` must outlive the client.
  ApiClient(http::Transport& transport, ApiAddress address, Result<api::ResolvedToken> token);

  // `path` starts with "/api/"; its segments must already be escaped
  // (PathSegment). `query` is "a=b&c=d" without "?", already escaped.
  Result<ApiReply> Get(const std::string& path, const std::string& query = "");
  // A POST with a JSON body ("" sends none).
  Result<ApiReply> Post(const std::string& path, const std::string& body = "");

  const ApiAddress& address() const { return address_; }

 private:
  Result<ApiReply> Send(const std::string& method, const std::string& path,
                        const std::string& query, const std::string& body);
  Error ErrorFor(const std::string& what, const http::Response& response) const;

  http::Transport& transport_;
  const ApiAddress address_;
  const Result<api::ResolvedToken> token_;
};

// `text` percent-encoded for one URL path segment or query value (everything
// but A-Z a-z 0-9 - . _ ~).
std::string PathSegment(std::string_view text);

}  // namespace sluice::app
