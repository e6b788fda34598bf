#include "bench_kinesis/http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>
#include <stdexcept>
#include <string_view>

namespace bench_kinesis {
namespace {

int64_t NowUnixUs() {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  return int64_t{now.tv_sec} * 1000000 + now.tv_nsec / 1000;
}

const char* Reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 413: return "Payload Too Large";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    default: return "Error";
  }
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

bool ContainsIgnoreCase(std::string_view haystack, std::string_view needle) {
  if (needle.size() > haystack.size()) return false;
  for (size_t i = 0; i + needle.size() <= haystack.size(); ++i) {
    if (EqualsIgnoreCase(haystack.substr(i, needle.size()), needle)) return true;
  }
  return false;
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

[[noreturn]] void Fail(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

}  // namespace

struct HttpServer::Connection {
  int fd = -1;
  // Received bytes are [0, in_len); one spare byte always stays so that the
  // body can be NUL-terminated in place.
  std::string in;
  size_t in_len = 0;
  size_t scanned = 0;  // the search for the end of the head resumes here

  // The current request, once its head is parsed (head_len > 0).
  size_t head_len = 0;
  size_t body_len = 0;
  bool keep_alive = true;
  bool expect_continue = false;
  bool continue_sent = false;
  std::string method, path, target;

  std::string out;
  size_t out_sent = 0;
  bool close_after_flush = false;
  bool want_write = false;
};

HttpServer::HttpServer(Handler handler) : handler_(std::move(handler)) {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) Fail("epoll_create1");
  stop_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (stop_fd_ < 0) Fail("eventfd");
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.fd = stop_fd_;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, stop_fd_, &event) != 0) Fail("epoll_ctl");
}

HttpServer::~HttpServer() {
  for (auto& [fd, connection] : connections_) close(fd);
  if (listen_fd_ >= 0) close(listen_fd_);
  if (stop_fd_ >= 0) close(stop_fd_);
  if (epoll_fd_ >= 0) close(epoll_fd_);
}

bool SplitHostPort(const std::string& listen, std::string* host, int* port) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  *host = listen.substr(0, colon);
  const char* begin = listen.data() + colon + 1;
  const char* end = listen.data() + listen.size();
  auto [ptr, ec] = std::from_chars(begin, end, *port);
  return ec == std::errc() && ptr == end && begin != end && *port >= 0 && *port <= 65535;
}

void HttpServer::Listen(const std::string& host, int port) {
  in_addr address{};
  const std::string numeric = host == "localhost" ? "127.0.0.1" : host;
  if (inet_pton(AF_INET, numeric.c_str(), &address) != 1 || (ntohl(address.s_addr) >> 24) != 127) {
    throw std::runtime_error("bench_kinesis listens on loopback only: '" + host +
                             "' is not a 127.0.0.0/8 address or localhost");
  }
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) Fail("socket");
  const int one = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in bind_address{};
  bind_address.sin_family = AF_INET;
  bind_address.sin_addr = address;
  bind_address.sin_port = htons(static_cast<uint16_t>(port));
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&bind_address), sizeof bind_address) != 0) {
    Fail("bind " + host + ":" + std::to_string(port));
  }
  if (listen(listen_fd_, 128) != 0) Fail("listen");
  socklen_t length = sizeof bind_address;
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&bind_address), &length);
  port_ = ntohs(bind_address.sin_port);
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.fd = listen_fd_;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &event) != 0) Fail("epoll_ctl");
}

void HttpServer::Stop() {
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t written = write(stop_fd_, &one, sizeof one);
}

void HttpServer::Run() {
  epoll_event events[64];
  for (;;) {
    const int ready = epoll_wait(epoll_fd_, events, 64, -1);
    if (ready < 0) {
      if (errno == EINTR) continue;
      Fail("epoll_wait");
    }
    for (int i = 0; i < ready; ++i) {
      const int fd = events[i].data.fd;
      if (fd == stop_fd_) {
        uint64_t count = 0;
        [[maybe_unused]] ssize_t got = read(stop_fd_, &count, sizeof count);
        return;
      }
      if (fd == listen_fd_) {
        Accept();
        continue;
      }
      auto it = connections_.find(fd);
      if (it == connections_.end()) continue;  // closed earlier in this batch
      Connection& connection = *it->second;
      if ((events[i].events & EPOLLOUT) != 0) {
        OnWritable(connection);
        if (connections_.find(fd) == connections_.end()) continue;
      }
      if ((events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0) OnReadable(connection);
    }
  }
}

void HttpServer::Accept() {
  for (;;) {
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN, or a connection that went away
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto connection = std::make_unique<Connection>();
    connection->fd = fd;
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.fd = fd;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event) != 0) {
      close(fd);
      continue;
    }
    connections_.emplace(fd, std::move(connection));
  }
}

void HttpServer::OnReadable(Connection& c) {
  if (c.close_after_flush) {  // answered with an error: discard the rest
    char discard[4096];
    if (recv(c.fd, discard, sizeof discard, 0) <= 0) Close(c);
    return;
  }
  // Room for the whole current request when its size is known, so that a
  // body arrives in as few recv calls as the socket allows.
  size_t want = std::max<size_t>(c.in_len + 16 * 1024, 64 * 1024);
  if (c.head_len > 0) want = std::max(want, c.head_len + c.body_len + 1);
  if (c.in.size() < want) c.in.resize(std::max(want, c.in.size() + c.in.size() / 2));
  // One recv per readiness event; the loop comes back while data is left.
  ssize_t got;
  do {
    got = recv(c.fd, c.in.data() + c.in_len, c.in.size() - c.in_len - 1, 0);
  } while (got < 0 && errno == EINTR);
  if (got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
    Close(c);
    return;
  }
  if (got > 0) c.in_len += static_cast<size_t>(got);
  ServeBuffered(c);
}

void HttpServer::OnWritable(Connection& c) { Flush(c); }

bool HttpServer::ServeBuffered(Connection& c) {
  auto respond = [&c](const Response& response) {
    char head[256];
    const int length = std::snprintf(
        head, sizeof head, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s\r\n",
        response.status, Reason(response.status), response.content_type.c_str(),
        response.body.size(), c.keep_alive ? "" : "Connection: close\r\n");
    c.out.append(head, static_cast<size_t>(length));
    c.out.append(response.body);
  };
  auto refuse = [&](int status, std::string message) {
    c.keep_alive = false;
    respond(Response{status, "application/json", "{\"message\":\"" + message + "\"}"});
    c.close_after_flush = true;
  };

  while (!c.close_after_flush) {
    if (c.head_len == 0) {
      const std::string_view received(c.in.data(), c.in_len);
      const size_t from = c.scanned >= 3 ? c.scanned - 3 : 0;
      const size_t end = received.find("\r\n\r\n", from);
      if (end == std::string_view::npos) {
        c.scanned = c.in_len;
        if (c.in_len > kMaxHeadBytes) refuse(431, "request head too large");
        break;
      }
      // Request line.
      const std::string_view head = received.substr(0, end + 2);
      const size_t line_end = head.find("\r\n");
      const std::string_view line = head.substr(0, line_end);
      const size_t sp1 = line.find(' ');
      const size_t sp2 = line.rfind(' ');
      if (sp1 == std::string_view::npos || sp2 == sp1) {
        refuse(400, "bad request line");
        break;
      }
      const std::string_view version = line.substr(sp2 + 1);
      std::string_view uri = line.substr(sp1 + 1, sp2 - sp1 - 1);
      uri = uri.substr(0, uri.find('?'));
      c.method.assign(line.substr(0, sp1));
      c.path.assign(uri);
      c.target.clear();
      c.keep_alive = version == "HTTP/1.1";
      c.expect_continue = false;
      c.body_len = 0;
      // Header fields.
      bool chunked = false;
      bool bad = false;
      size_t at = line_end + 2;
      while (at < head.size()) {
        const size_t eol = head.find("\r\n", at);
        const std::string_view field = head.substr(at, eol - at);
        at = eol + 2;
        const size_t colon = field.find(':');
        if (colon == std::string_view::npos) {
          bad = true;
          break;
        }
        const std::string_view name = field.substr(0, colon);
        const std::string_view value = Trim(field.substr(colon + 1));
        if (EqualsIgnoreCase(name, "content-length")) {
          auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), c.body_len);
          bad = bad || ec != std::errc() || ptr != value.data() + value.size();
        } else if (EqualsIgnoreCase(name, "x-amz-target")) {
          c.target.assign(value);
        } else if (EqualsIgnoreCase(name, "connection")) {
          if (ContainsIgnoreCase(value, "close")) c.keep_alive = false;
          if (ContainsIgnoreCase(value, "keep-alive")) c.keep_alive = true;
        } else if (EqualsIgnoreCase(name, "expect")) {
          c.expect_continue = EqualsIgnoreCase(value, "100-continue");
        } else if (EqualsIgnoreCase(name, "transfer-encoding")) {
          chunked = !EqualsIgnoreCase(value, "identity");
        }
      }
      if (bad) {
        refuse(400, "bad request head");
        break;
      }
      if (chunked) {
        refuse(501, "chunked request bodies are not supported: send Content-Length");
        break;
      }
      if (c.body_len > kMaxBodyBytes) {
        refuse(413, "request body over " + std::to_string(kMaxBodyBytes) + " bytes");
        break;
      }
      c.head_len = end + 4;
      c.continue_sent = false;
    }
    const size_t total = c.head_len + c.body_len;
    if (c.in_len < total) {
      if (c.expect_continue && !c.continue_sent) {
        c.out.append("HTTP/1.1 100 Continue\r\n\r\n");
        c.continue_sent = true;
      }
      if (c.in.size() < total + 1) c.in.resize(total + 1);
      break;
    }
    char* body = c.in.data() + c.head_len;
    const char saved = c.in[total];
    c.in[total] = '\0';
    const Request request{c.method, c.path, c.target, body, c.body_len};
    const Response response = handler_(request, NowUnixUs());
    c.in[total] = saved;
    respond(response);
    if (!c.keep_alive) c.close_after_flush = true;
    std::memmove(c.in.data(), c.in.data() + total, c.in_len - total);
    c.in_len -= total;
    c.head_len = 0;
    c.scanned = 0;
  }
  return Flush(c);
}

bool HttpServer::Flush(Connection& c) {
  while (c.out_sent < c.out.size()) {
    const ssize_t sent =
        send(c.fd, c.out.data() + c.out_sent, c.out.size() - c.out_sent, MSG_NOSIGNAL);
    if (sent > 0) {
      c.out_sent += static_cast<size_t>(sent);
      continue;
    }
    if (sent < 0 && errno == EINTR) continue;
    if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      WantWrite(c, true);
      return true;
    }
    Close(c);
    return false;
  }
  c.out.clear();
  c.out_sent = 0;
  WantWrite(c, false);
  if (c.close_after_flush) {
    Close(c);
    return false;
  }
  return true;
}

void HttpServer::WantWrite(Connection& c, bool want) {
  if (c.want_write == want) return;
  c.want_write = want;
  epoll_event event{};
  event.events = EPOLLIN | (want ? EPOLLOUT : 0u);
  event.data.fd = c.fd;
  epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &event);
}

void HttpServer::Close(Connection& c) {
  const int fd = c.fd;
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  close(fd);
  connections_.erase(fd);  // destroys c
}

}  // namespace bench_kinesis
