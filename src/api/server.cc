#include "api/server.h"

#include <httplib.h>
#include <strings.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <exception>
#include <optional>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "api/params.h"
#include "api/render.h"
#include "api/token.h"
#include "base/log.h"
#include "console/assets.h"

namespace sluice::api {
namespace {

using httplib::ContentReader;
using httplib::Request;
using httplib::Response;

constexpr const char* kJsonType = "application/json";
constexpr const char* kMetricsType = "text/plain; version=0.0.4; charset=utf-8";
// The console loads only its own files and talks only to this server.
constexpr const char* kConsolePolicy = "default-src 'self'; frame-ancestors 'none'";

// Every request reaches Handle, which routes by itself ('.' alone would
// not match a %0A decoded into the path).
constexpr const char* kAnyPath = R"([\s\S]*)";

// How much of an oversized body is read and dropped before the 413.
constexpr size_t kMaxDrainBytes = 1024 * 1024;

struct ListenAddress {
  std::string host;  // without the brackets of an IPv6 address
  int port = 0;
};

Result<ListenAddress> ParseListen(const std::string& listen) {
  auto bad = [&] {
    return Error(ErrorCode::kConfig,
                 "api.listen must be host:port with a port from 0 to 65535 (e.g. 127.0.0.1:7376), "
                 "got " +
                     QuoteForMessage(listen));
  };
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) return bad();
  std::string host = listen.substr(0, colon);
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return bad();
    host = host.substr(1, host.size() - 2);
  }
  const std::string_view port_text = std::string_view(listen).substr(colon + 1);
  int port = -1;
  auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || port_text.front() < '0' || port_text.front() > '9' ||
      ec != std::errc() || ptr != port_text.data() + port_text.size() || port < 0 || port > 65535) {
    return bad();
  }
  return ListenAddress{std::move(host), port};
}

// Only SO_REUSEADDR (a restart may bind while old connections linger):
// httplib's default also sets SO_REUSEPORT, with which a second server could
// bind the same port instead of being told it is in use.
void SetSocketOptions(socket_t sock) {
  int yes = 1;
  setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
}

// The path of the request target as sent (still %-encoded), without query.
std::string_view RawPath(const Request& req) {
  std::string_view target = req.target;
  return target.substr(0, target.find('?'));
}

bool UnderApi(std::string_view path) { return path == "/api" || path.starts_with("/api/"); }

// The host part of a Host header or listen address ("[::1]:7376" -> "[::1]").
std::string_view HostPart(std::string_view hostport) {
  if (hostport.starts_with('[')) {
    const size_t close = hostport.find(']');
    return close == std::string_view::npos ? hostport : hostport.substr(0, close + 1);
  }
  return hostport.substr(0, hostport.rfind(':'));
}

// RFC 9112: a request has a body only with Content-Length or
// Transfer-Encoding.
bool HasBody(const Request& req) {
  return req.has_header("Transfer-Encoding") ||
         req.get_header_value<uint64_t>("Content-Length") > 0;
}

// For a log line: the path with anything unprintable as '?'.
std::string Printable(std::string_view text) {
  std::string out(text.substr(0, 512));
  for (char& c : out) {
    if (c < 0x20 || c > 0x7e) c = '?';
  }
  return out;
}

const char* CodeForStatus(int status) {
  switch (status) {
    case 401: return "unauthorized";
    case 403: return "forbidden";
    case 404: return "not_found";
    case 405: return "method_not_allowed";
    case 409: return "conflict";
    case 413: return "payload_too_large";
    case 414: return "uri_too_long";
    default: return status >= 500 ? "internal" : "bad_request";
  }
}

// For the answers httplib makes itself.
std::string MessageForStatus(int status) {
  switch (status) {
    case 400: return "the request is malformed";
    case 413: return "the request body is too large";
    case 414: return "the request URI is too long";
    default: return "the request failed (HTTP " + std::to_string(status) + ")";
  }
}

void ReplyJson(Response& res, int status, const std::string& body) {
  res.status = status;
  res.set_header("Cache-Control", "no-store");
  res.set_content(body, kJsonType);
}

void ReplyError(Response& res, int status, std::string_view message) {
  ReplyJson(res, status, ErrorJson(CodeForStatus(status), message));
}

void ReplyUnauthorized(Response& res) {
  res.set_header("WWW-Authenticate", "Bearer");
  ReplyError(res, 401, "a valid API token is required: send Authorization: Bearer <token>");
}

void ReplyNotFound(const Request& req, Response& res) {
  ReplyError(res, 404, "there is nothing at " + QuoteForMessage(RawPath(req)));
}

// How an error from Control is answered (api/control.h).
void ReplyControlError(Response& res, const Error& error) {
  switch (error.code()) {
    case ErrorCode::kNotFound: ReplyError(res, 404, error.message()); return;
    case ErrorCode::kUnavailable: ReplyError(res, 409, error.message()); return;
    case ErrorCode::kInvalidArgument: ReplyError(res, 400, error.message()); return;
    default:
      SLUICE_LOG_WARN("api: {}", error.message());
      ReplyError(res, 500, error.message());
      return;
  }
}

// One request being answered.
struct Exchange {
  const Request& req;
  Response& res;
  const ContentReader* reader;  // null for methods without a body (GET, OPTIONS)
  bool body_read = false;
  std::string body;
};

}  // namespace

struct Server::Impl {
  Impl(Control& c, ServerOptions o) : control(c), options(std::move(o)) {}

  void Configure();
  void Handle(const Request& req, Response& res, const ContentReader* reader);
  void HandleApi(Exchange& ex, std::string_view path);
  void HandleOther(Exchange& ex, std::string_view path);
  bool Authorized(const Request& req) const;
  bool ReadBody(Exchange& ex);

  void ListSinks(Exchange& ex);
  void GetSink(Exchange& ex, const std::string& sink);
  void ListMessages(Exchange& ex, const std::string& sink);
  void GetMessage(Exchange& ex, const std::string& sink, const std::string& id_text);
  void ActOnOne(Exchange& ex, const std::string& sink, const std::string& id_text,
                BulkAction action);
  void ActOnMany(Exchange& ex, const std::string& sink, BulkAction action);
  void PauseOrResume(Exchange& ex, const std::string& sink, bool pause);
  void ListBackfills(Exchange& ex, const std::string& sink);
  void GetBackfill(Exchange& ex, const std::string& sink, const std::string& id_text);
  void StartBackfill(Exchange& ex, const std::string& sink);
  void CancelBackfill(Exchange& ex, const std::string& sink, const std::string& id_text);

  Control& control;
  const ServerOptions options;
  httplib::Server http;
  std::thread loop;
  std::atomic<bool> loop_done{false};
  int port = 0;
  bool started = false;
};

namespace {

// True when the request's method is `method` (HEAD counts as GET); else
// answers 405 with Allow.
bool Allow(Exchange& ex, const char* method) {
  const std::string& m = ex.req.method;
  if (m == method || (m == "HEAD" && std::strcmp(method, "GET") == 0)) return true;
  ex.res.set_header("Allow", method);
  ReplyError(ex.res, 405,
             m + " is not allowed on " + QuoteForMessage(RawPath(ex.req)) + "; use " + method);
  return false;
}

// For a path that takes GET and POST: true for either (HEAD counts as GET);
// else answers 405 with Allow: GET, POST.
bool AllowGetOrPost(Exchange& ex) {
  const std::string& m = ex.req.method;
  if (m == "GET" || m == "HEAD" || m == "POST") return true;
  ex.res.set_header("Allow", "GET, POST");
  ReplyError(ex.res, 405,
             m + " is not allowed on " + QuoteForMessage(RawPath(ex.req)) + "; use GET or POST");
  return false;
}

}  // namespace

void Server::Impl::Configure() {
  const int threads = options.threads > 0 ? options.threads : 1;
  // httplib takes ownership of the queue it is given.
  http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  // An idle keep-alive connection holds a worker until it times out: keep
  // that short, so idle browsers and CLIs neither starve the pool nor
  // delay a shutdown by more than a second.
  http.set_keep_alive_timeout(1);
  http.set_keep_alive_max_count(100);
  http.set_read_timeout(5, 0);
  http.set_write_timeout(5, 0);
  http.set_socket_options(SetSocketOptions);
  http.set_payload_max_length(options.max_body_bytes);
  http.set_default_headers({{"X-Content-Type-Options", "nosniff"}});

  httplib::Server::Handler plain = [this](const Request& req, Response& res) {
    Handle(req, res, nullptr);
  };
  httplib::Server::HandlerWithContentReader with_body = [this](const Request& req, Response& res,
                                                               const ContentReader& reader) {
    Handle(req, res, &reader);
  };
  http.Get(kAnyPath, plain);
  http.Options(kAnyPath, plain);
  http.Post(kAnyPath, with_body);
  http.Put(kAnyPath, with_body);
  http.Patch(kAnyPath, with_body);
  http.Delete(kAnyPath, with_body);

  // Answers that httplib makes itself (a malformed request line, a method it
  // routes nowhere, a body over the limit) get the same JSON shape as ours.
  httplib::Server::HandlerWithResponse on_error = [](const Request& req, Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    if (res.status == 404) {
      ReplyNotFound(req, res);
    } else {
      ReplyError(res, res.status, MessageForStatus(res.status));
    }
    return httplib::Server::HandlerResponse::Handled;
  };
  http.set_error_handler(std::move(on_error));
  http.set_exception_handler([](const Request& req, Response& res, std::exception_ptr ep) {
    std::string what = "unknown exception";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    SLUICE_LOG_ERROR("api: {} {} failed: {}", req.method, Printable(RawPath(req)), what);
    ReplyError(res, 500, "the request failed inside sluice; its log says why");
  });
  http.set_logger([](const Request& req, const Response& res) {
    SLUICE_LOG_DEBUG("api: {} {} {}", req.method, Printable(RawPath(req)), res.status);
  });
}

bool Server::Impl::Authorized(const Request& req) const {
  if (req.get_header_value_count("Authorization") != 1) return false;
  const std::string value = req.get_header_value("Authorization");
  constexpr std::string_view kScheme = "Bearer ";  // the scheme is case-insensitive
  if (value.size() <= kScheme.size() ||
      strncasecmp(value.data(), kScheme.data(), kScheme.size()) != 0) {
    return false;
  }
  return TokenMatches(options.token, std::string_view(value).substr(kScheme.size()));
}

bool Server::Impl::ReadBody(Exchange& ex) {
  ex.body_read = true;
  if (ex.reader == nullptr || !HasBody(ex.req)) return true;
  const size_t max = options.max_body_bytes;
  size_t seen = 0;
  const bool ok = (*ex.reader)([&](const char* data, size_t size) {
    seen += size;
    if (seen <= max) {
      ex.body.append(data, size);
      return true;
    }
    // Over the limit: read on, a bounded amount, so that the client can
    // finish sending and then read the 413 (closing on unread data resets
    // the connection, and the client would see no answer at all).
    return seen - max <= kMaxDrainBytes;
  });
  // What is not read cannot be told from the next request.
  if (!ok) ex.res.set_header("Connection", "close");
  if (seen > max || ex.res.status == 413) {
    ReplyError(ex.res, 413, "the request body is over " + std::to_string(max) + " bytes");
    return false;
  }
  if (!ok) {
    ReplyError(ex.res, 400, "the request body could not be read");
    return false;
  }
  return true;
}

void Server::Impl::Handle(const Request& req, Response& res, const ContentReader* reader) {
  Exchange ex{req, res, reader, false, {}};
  const std::string_view path = RawPath(req);
  // DNS rebinding: a web page whose name resolves to 127.0.0.1 could make a
  // browser read the unauthenticated /metrics or console. Served on loopback,
  // sluice answers only requests addressed to a loopback name.
  if (IsLoopbackHost(HostPart(options.listen))) {
    const std::string host = req.get_header_value("Host");
    if (!host.empty() && !IsLoopbackHost(HostPart(host))) {
      ReplyError(res, 403,
                 "Host " + QuoteForMessage(host) +
                     " is not a loopback name: sluice on a loopback address answers only "
                     "requests to 127.0.0.1, localhost or [::1]");
      if (HasBody(req)) res.set_header("Connection", "close");
      return;
    }
  }
  if (UnderApi(path)) {
    HandleApi(ex, path);
  } else {
    HandleOther(ex, path);
  }
  // A body left unread would be taken for the next request.
  if (!ex.body_read && HasBody(req)) res.set_header("Connection", "close");
}

void Server::Impl::HandleApi(Exchange& ex, std::string_view path) {
  // Before anything else: without the token, nothing about sinks is told.
  if (!Authorized(ex.req)) {
    ReplyUnauthorized(ex.res);
    return;
  }
  auto split = SplitPath(path);
  if (!split.ok()) {
    ReplyError(ex.res, 400, split.error().message());
    return;
  }
  const std::vector<std::string>& seg = *split;  // seg[0] == "api"
  const size_t n = seg.size();
  if (n < 2 || seg[1] != "sinks") return ReplyNotFound(ex.req, ex.res);
  if (n == 2) {
    if (Allow(ex, "GET")) ListSinks(ex);
    return;
  }
  const std::string& sink = seg[2];
  if (sink.empty()) return ReplyNotFound(ex.req, ex.res);
  if (n == 3) {
    if (Allow(ex, "GET")) GetSink(ex, sink);
    return;
  }
  const std::string& part = seg[3];
  if (n == 4 && part == "messages") {
    if (Allow(ex, "GET")) ListMessages(ex, sink);
    return;
  }
  if (n == 4 && (part == "pause" || part == "resume")) {
    if (Allow(ex, "POST")) PauseOrResume(ex, sink, part == "pause");
    return;
  }
  if (part == "backfills") {
    if (n == 4) {
      if (!AllowGetOrPost(ex)) return;
      if (ex.req.method == "POST") {
        StartBackfill(ex, sink);
      } else {
        ListBackfills(ex, sink);
      }
      return;
    }
    if (n == 5 && !seg[4].empty()) {
      if (Allow(ex, "GET")) GetBackfill(ex, sink, seg[4]);
      return;
    }
    if (n == 6 && seg[5] == "cancel") {
      if (Allow(ex, "POST")) CancelBackfill(ex, sink, seg[4]);
      return;
    }
    return ReplyNotFound(ex.req, ex.res);
  }
  if (part != "messages") return ReplyNotFound(ex.req, ex.res);
  const std::string& item = seg[4];  // a message id or a bulk action
  if (n == 5 && (item == "redeliver" || item == "discard")) {
    if (Allow(ex, "POST")) {
      ActOnMany(ex, sink, item == "redeliver" ? BulkAction::kRedeliver : BulkAction::kDiscard);
    }
    return;
  }
  if (n == 5 && !item.empty()) {  // ".../messages/" is no path
    if (Allow(ex, "GET")) GetMessage(ex, sink, item);
    return;
  }
  if (n == 6 && (seg[5] == "redeliver" || seg[5] == "discard")) {
    if (Allow(ex, "POST")) {
      ActOnOne(ex, sink, item,
               seg[5] == "redeliver" ? BulkAction::kRedeliver : BulkAction::kDiscard);
    }
    return;
  }
  ReplyNotFound(ex.req, ex.res);
}

void Server::Impl::HandleOther(Exchange& ex, std::string_view path) {
  if (path == "/metrics") {
    if (!Allow(ex, "GET")) return;
    ex.res.status = 200;
    ex.res.set_header("Cache-Control", "no-store");
    ex.res.set_content(control.MetricsText(), kMetricsType);
    return;
  }
  if (path == "/health") {
    if (Allow(ex, "GET")) ReplyJson(ex.res, 200, R"({"status":"ok"})");
    return;
  }
  if (path == "/health/ready") {
    if (!Allow(ex, "GET")) return;
    const Readiness readiness = control.Ready();
    ReplyJson(ex.res, readiness.ready ? 200 : 503, ReadinessJson(readiness));
    return;
  }
  const console::Asset* asset = console::FindAsset(path);
  if (asset == nullptr) return ReplyNotFound(ex.req, ex.res);
  if (!Allow(ex, "GET")) return;
  ex.res.status = 200;
  ex.res.set_header("Cache-Control", "no-cache");
  ex.res.set_header("Content-Security-Policy", kConsolePolicy);
  const std::string type(asset->content_type);
  ex.res.set_content(asset->body.data(), asset->body.size(), type.c_str());
}

void Server::Impl::ListSinks(Exchange& ex) { ReplyJson(ex.res, 200, SinksJson(control.Sinks())); }

void Server::Impl::GetSink(Exchange& ex, const std::string& sink) {
  auto found = control.Sink(sink);
  if (!found.ok()) return ReplyControlError(ex.res, found.error());
  ReplyJson(ex.res, 200, SinkJson(*found));
}

void Server::Impl::ListMessages(Exchange& ex, const std::string& sink) {
  for (const char* name : {"state", "limit", "cursor"}) {
    if (ex.req.get_param_value_count(name) > 1) {
      return ReplyError(ex.res, 400, std::string(name) + " is given more than once");
    }
  }
  MessageQuery query;
  const std::string state_param = ex.req.get_param_value("state");
  query.failing = state_param == "failing";
  auto state = query.failing ? Result<std::optional<MessageState>>(std::nullopt)
                             : ParseStateParam(state_param);
  if (!state.ok()) return ReplyError(ex.res, 400, state.error().message());
  auto limit = ParseLimit(ex.req.get_param_value("limit"));
  if (!limit.ok()) return ReplyError(ex.res, 400, limit.error().message());
  auto cursor = ParseCursor(ex.req.get_param_value("cursor"));
  if (!cursor.ok()) return ReplyError(ex.res, 400, cursor.error().message());
  query.state = *state;
  query.limit = *limit;
  query.cursor = std::move(*cursor);
  auto page = control.Messages(sink, query);
  if (!page.ok()) return ReplyControlError(ex.res, page.error());
  ReplyJson(ex.res, 200, MessagePageJson(*page));
}

void Server::Impl::GetMessage(Exchange& ex, const std::string& sink, const std::string& id_text) {
  auto id = ParseMessageId(id_text);
  if (!id.ok()) return ReplyError(ex.res, 400, id.error().message());
  auto detail = control.Message(sink, *id);
  if (!detail.ok()) {
    return ReplyControlError(ex.res, detail.error());
  }
  auto json = MessageDetailJson(*detail);
  if (!json.ok()) return ReplyControlError(ex.res, json.error());
  ReplyJson(ex.res, 200, *json);
}

void Server::Impl::ActOnOne(Exchange& ex, const std::string& sink, const std::string& id_text,
                            BulkAction action) {
  auto id = ParseMessageId(id_text);
  if (!id.ok()) return ReplyError(ex.res, 400, id.error().message());
  if (!ReadBody(ex)) return;  // none is needed; one is read so the connection stays usable
  auto result = action == BulkAction::kRedeliver ? control.Redeliver(sink, Selection::kOne, *id)
                                                 : control.Discard(sink, Selection::kOne, *id);
  if (!result.ok()) return ReplyControlError(ex.res, result.error());
  ReplyJson(ex.res, 200, ActionResultJson(*result));
}

void Server::Impl::ActOnMany(Exchange& ex, const std::string& sink, BulkAction action) {
  if (!ReadBody(ex)) return;
  auto selection = ParseBulkBody(action, ex.body);
  if (!selection.ok()) return ReplyError(ex.res, 400, selection.error().message());
  auto result = action == BulkAction::kRedeliver ? control.Redeliver(sink, *selection, 0)
                                                 : control.Discard(sink, *selection, 0);
  if (!result.ok()) return ReplyControlError(ex.res, result.error());
  ReplyJson(ex.res, 200, ActionResultJson(*result));
}

void Server::Impl::PauseOrResume(Exchange& ex, const std::string& sink, bool pause) {
  if (!ReadBody(ex)) return;
  Status done = pause ? control.Pause(sink) : control.Resume(sink);
  if (!done.ok()) return ReplyControlError(ex.res, done.error());
  GetSink(ex, sink);
}

void Server::Impl::ListBackfills(Exchange& ex, const std::string& sink) {
  auto backfills = control.Backfills(sink);
  if (!backfills.ok()) return ReplyControlError(ex.res, backfills.error());
  ReplyJson(ex.res, 200, BackfillsJson(*backfills));
}

// Control has no call for one backfill: it is looked up in the sink's list,
// which is short (one entry per backfill ever started on the sink).
void Server::Impl::GetBackfill(Exchange& ex, const std::string& sink, const std::string& id_text) {
  auto id = ParseBackfillId(id_text);
  if (!id.ok()) return ReplyError(ex.res, 400, id.error().message());
  auto backfills = control.Backfills(sink);
  if (!backfills.ok()) return ReplyControlError(ex.res, backfills.error());
  for (const BackfillInfo& b : *backfills) {
    if (b.id == *id) return ReplyJson(ex.res, 200, BackfillJson(b));
  }
  ReplyError(ex.res, 404,
             "backfill " + std::to_string(*id) + " is not one of sink " + QuoteForMessage(sink));
}

void Server::Impl::StartBackfill(Exchange& ex, const std::string& sink) {
  if (!ReadBody(ex)) return;
  auto request = ParseBackfillBody(ex.body);
  if (!request.ok()) return ReplyError(ex.res, 400, request.error().message());
  auto started = control.StartBackfill(sink, *request);
  if (!started.ok()) return ReplyControlError(ex.res, started.error());
  ReplyJson(ex.res, 201, BackfillJson(*started));
}

void Server::Impl::CancelBackfill(Exchange& ex, const std::string& sink,
                                  const std::string& id_text) {
  auto id = ParseBackfillId(id_text);
  if (!id.ok()) return ReplyError(ex.res, 400, id.error().message());
  if (!ReadBody(ex)) return;  // none is needed; one is read so the connection stays usable
  auto cancelled = control.CancelBackfill(sink, *id);
  if (!cancelled.ok()) return ReplyControlError(ex.res, cancelled.error());
  ReplyJson(ex.res, 200, BackfillJson(*cancelled));
}

Server::Server(Control& control, ServerOptions options)
    : impl_(std::make_unique<Impl>(control, std::move(options))) {
  impl_->Configure();
}

Server::~Server() { Stop(); }

Status Server::Start() {
  Impl& s = *impl_;
  if (s.started) return Error(ErrorCode::kInternal, "the API server was started already");
  if (s.options.token.empty()) {
    return Error(ErrorCode::kConfig, "the API token is empty; the API would refuse every request");
  }
  SLUICE_ASSIGN_OR_RETURN(ListenAddress where, ParseListen(s.options.listen));
  errno = 0;
  int port = where.port;
  if (port == 0) {
    port = s.http.bind_to_any_port(where.host);
  } else if (!s.http.bind_to_port(where.host, port)) {
    port = -1;
  }
  if (port <= 0) {
    const int err = errno;
    std::string why = err == EADDRINUSE ? "the address is in use (by another sluice?)"
                      : err != 0        ? std::strerror(err)
                                        : "the host cannot be resolved or bound";
    return Error(ErrorCode::kIo, "api.listen: cannot listen on " + s.options.listen + ": " + why);
  }
  s.port = port;
  s.started = true;
  s.loop = std::thread([&s] {
    s.http.listen_after_bind();
    s.loop_done = true;
  });
  // httplib's stop() does nothing until the accept loop runs; wait for it so
  // that Stop() right after Start() is not lost.
  while (!s.http.is_running() && !s.loop_done) std::this_thread::yield();
  const bool v6 = where.host.find(':') != std::string::npos;
  SLUICE_LOG_INFO("api: serving on {}{}{}:{}", v6 ? "[" : "", where.host, v6 ? "]" : "", port);
  return OkStatus();
}

int Server::port() const { return impl_->port; }

void Server::Stop() {
  Impl& s = *impl_;
  if (!s.loop.joinable()) return;
  s.http.stop();
  s.loop.join();
}

}  // namespace sluice::api
