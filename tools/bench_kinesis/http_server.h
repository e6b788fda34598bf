// HttpServer: a single-threaded epoll loop serving HTTP/1.1 on a loopback
// address, with keep-alive and any number of connections.
//
// Why not cpp-httplib: it holds a thread per keep-alive connection and reads
// bodies 4 KiB per recv with a poll before each; this loop reads a body with
// as few recv calls as the socket allows, straight into its buffer, and the
// handler parses it in place. Enough HTTP for AWS SDKs, curl and sluice:
// Content-Length bodies (no chunked uploads: 501), "Expect: 100-continue",
// "Connection: close", HTTP/1.0. No TLS.
//
// Run() and the handler run on the calling thread; Stop() may be called from
// any thread or a signal handler.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "bench_kinesis/endpoint.h"

namespace bench_kinesis {

class HttpServer {
 public:
  // Called with each complete request and its arrival time (CLOCK_REALTIME µs,
  // taken when the body is complete).
  using Handler = std::function<Response(const Request&, int64_t arrival_unix_us)>;

  // Largest request head and body accepted (431 / 413 beyond, then close).
  static constexpr size_t kMaxHeadBytes = 64 * 1024;
  static constexpr size_t kMaxBodyBytes = 64 * 1024 * 1024;

  explicit HttpServer(Handler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and listens on host:port. Only loopback hosts (127.0.0.0/8 or
  // "localhost") are accepted; port 0 picks a free port (see port()). Throws
  // std::runtime_error when the host is not loopback or the bind fails.
  void Listen(const std::string& host, int port);
  int port() const { return port_; }

  // Serves until Stop(). Throws std::runtime_error if epoll fails.
  void Run();
  // Makes Run() return (async-signal-safe: one write to an eventfd).
  void Stop();

 private:
  struct Connection;

  void Accept();
  void OnReadable(Connection& connection);
  void OnWritable(Connection& connection);
  // Answers every complete request in the buffer; false if the connection closed.
  bool ServeBuffered(Connection& connection);
  bool Flush(Connection& connection);
  void WantWrite(Connection& connection, bool want);
  void Close(Connection& connection);

  Handler handler_;
  int listen_fd_ = -1;
  int epoll_fd_ = -1;
  int stop_fd_ = -1;
  int port_ = 0;
  std::unordered_map<int, std::unique_ptr<Connection>> connections_;
};

// "127.0.0.1:4567" → host and port; false if it does not parse.
bool SplitHostPort(const std::string& listen, std::string* host, int* port);

}  // namespace bench_kinesis
