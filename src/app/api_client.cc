#include "app/api_client.h"

#include <rapidjson/error/en.h>

#include <cctype>
#include <chrono>
#include <utility>

#include "api/params.h"

namespace sluice::app {
namespace {

constexpr std::chrono::milliseconds kRequestTimeout{30000};
constexpr std::chrono::milliseconds kConnectTimeout{5000};

// "127.0.0.1:7376" with a wildcard host turned into loopback: the CLI runs
// on the machine that serves the API.
std::string ConnectableHostPort(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  const std::string host = listen.substr(0, colon);
  const std::string port = listen.substr(colon + 1);
  if (host == "0.0.0.0" || host.empty()) return "127.0.0.1:" + port;
  if (host == "[::]") return "[::1]:" + port;
  return listen;
}

bool ValidHostPort(std::string_view hp) {
  const size_t colon = hp.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == hp.size()) return false;
  for (char c : hp.substr(colon + 1)) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  if (hp.substr(colon + 1).size() > 5) return false;
  for (char c : hp.substr(0, colon)) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) ||
                    std::string_view("-._[]:").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

// The "message" of an error document {"error":{"code":…,"message":…}}, or
// empty.
std::string ApiErrorMessage(const std::string& body) {
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (doc.HasParseError() || !doc.IsObject()) return {};
  auto error = doc.FindMember("error");
  if (error == doc.MemberEnd() || !error->value.IsObject()) return {};
  auto message = error->value.FindMember("message");
  if (message == error->value.MemberEnd() || !message->value.IsString()) return {};
  return message->value.GetString();
}

}  // namespace

Result<ApiAddress> ResolveApiAddress(const config::Settings& settings,
                                     std::string_view override_url) {
  if (override_url.empty()) {
    const std::string hp = ConnectableHostPort(settings.api.listen);
    return ApiAddress{"http://" + hp, hp, ""};
  }
  std::string_view rest = override_url;
  std::string scheme = "http";
  if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
  } else if (rest.starts_with("https://")) {
    scheme = "https";
    rest.remove_prefix(8);
  } else if (rest.find("://") != std::string_view::npos) {
    return Error(ErrorCode::kInvalidArgument,
                 "--api takes an http:// or https:// address like http://127.0.0.1:7376, got \"" +
                     std::string(override_url) + "\"");
  }
  if (rest.ends_with("/")) rest.remove_suffix(1);
  if (!ValidHostPort(rest)) {
    return Error(ErrorCode::kInvalidArgument,
                 "--api must be scheme://host:port without a path, like http://127.0.0.1:7376, "
                 "got \"" +
                     std::string(override_url) + "\"");
  }
  // The token goes with every request: never in clear over a network.
  std::string_view host =
      rest.starts_with('[') ? rest.substr(0, rest.find(']') + 1) : rest.substr(0, rest.rfind(':'));
  const bool loopback = api::IsLoopbackHost(host);
  if (scheme == "http" && !loopback) {
    return Error(ErrorCode::kInvalidArgument,
                 "--api " + std::string(override_url) +
                     ": the API token would cross the network in clear; use https:// or a "
                     "loopback address (127.0.0.1, localhost, [::1])");
  }
  return ApiAddress{scheme + "://" + std::string(rest), std::string(rest),
                    std::string(override_url)};
}

std::string PathSegment(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char ch : text) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

ApiClient::ApiClient(http::Transport& transport, ApiAddress address,
                     Result<api::ResolvedToken> token)
    : transport_(transport), address_(std::move(address)), token_(std::move(token)) {}

Result<ApiReply> ApiClient::Get(const std::string& path, const std::string& query) {
  return Send("GET", path, query, "");
}

Result<ApiReply> ApiClient::Post(const std::string& path, const std::string& body) {
  return Send("POST", path, "", body);
}

Result<ApiReply> ApiClient::Send(const std::string& method, const std::string& path,
                                 const std::string& query, const std::string& body) {
  http::Request request;
  request.method = method;
  request.url = address_.base_url + path + (query.empty() ? "" : "?" + query);
  request.timeout = kRequestTimeout;
  request.connect_timeout = kConnectTimeout;
  request.headers.emplace_back("accept", "application/json");
  if (token_.ok()) {
    request.headers.emplace_back("authorization", "Bearer " + token_->token.Reveal());
  }
  if (!body.empty()) {
    request.headers.emplace_back("content-type", "application/json");
    request.body = body;
  }
  // What was asked, for messages: never the query (it may hold a cursor the
  // operator did not type) and never the token.
  const std::string what = method + " " + path;

  auto sent = transport_.Send(request);
  if (!sent.ok()) {
    const ErrorCode code =
        sent.error().code() == ErrorCode::kTimeout ? ErrorCode::kTimeout : ErrorCode::kNetwork;
    return Error(code, "no answer from sluice's API at " + address_.host_port + " (" + what +
                           "): " + sent.error().message());
  }
  http::Response& response = *sent;
  if (response.status < 200 || response.status > 299) return ErrorFor(what, response);

  ApiReply reply;
  reply.status = response.status;
  reply.body = std::move(response.body);
  if (!reply.body.empty()) {
    reply.json.Parse(reply.body.data(), reply.body.size());
    if (reply.json.HasParseError()) {
      return Error(ErrorCode::kProtocol,
                   "sluice's API at " + address_.host_port + " answered " + what +
                       " with a body that is not JSON (" +
                       rapidjson::GetParseError_En(reply.json.GetParseError()) + " at byte " +
                       std::to_string(reply.json.GetErrorOffset()) + ")");
    }
  }
  return reply;
}

Error ApiClient::ErrorFor(const std::string& what, const http::Response& response) const {
  const std::string message = ApiErrorMessage(response.body);
  const std::string status = "HTTP " + std::to_string(response.status);
  const std::string said = message.empty() ? status : message;
  switch (response.status) {
    case 400:
    case 413: return Error(ErrorCode::kInvalidArgument, said);
    case 401: {
      if (!token_.ok()) {
        return Error(ErrorCode::kAuth,
                     "sluice's API at " + address_.host_port +
                         " needs a token and none was found: " + token_.error().message());
      }
      return Error(ErrorCode::kAuth,
                   "sluice's API at " + address_.host_port + " refused the token from " +
                       token_->source +
                       "; it must be the token of the running sluice (config api.token, "
                       "environment SLUICE_API_TOKEN or <data_dir>/api-token, in that order)");
    }
    case 404: return Error(ErrorCode::kNotFound, said);
    case 409: return Error(ErrorCode::kUnavailable, said);
    case 500: return Error(ErrorCode::kInternal, said);
    default: break;
  }
  return Error(ErrorCode::kProtocol, "sluice's API at " + address_.host_port + " answered " + what +
                                         " with " + status +
                                         (message.empty() ? "" : ": " + message));
}

}  // namespace sluice::app
