// Server: the HTTP server of the management API (docs/api.md), /metrics,
// /health and the web console's files.
//
// Why a class of its own: it only turns requests into calls on api::Control
// and their results into JSON; everything it reports or changes is behind
// that seam, so it is tested with a fake Control and a real HTTP client.
//
// Every path under /api needs `Authorization: Bearer <token>`; the token is
// checked before anything else there (before routing, body reading or sink
// lookup), so a client without it learns nothing. Every error is JSON
// {"error":{"code","message"}} (docs/api.md, "Errors").
//
// Threads: Start() binds, then serves on a thread of its own that hands
// connections to a pool of `threads` workers; Control is called from those
// workers, concurrently. Start, Stop and port() are for one owner thread.
// Lifetime: `control` must outlive the Server (Stop() or destruction joins
// every thread that uses it).
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "api/control.h"
#include "base/result.h"
#include "base/secret.h"

namespace sluice::api {

struct ServerOptions {
  // host:port, as api.listen ("127.0.0.1:7376", "[::1]:7376"). Port 0 picks a
  // free port (port() tells which).
  std::string listen = "127.0.0.1:7376";
  Secret token;                       // must not be empty
  size_t max_body_bytes = 64 * 1024;  // larger request bodies get 413
  int threads = 8;                    // workers serving requests
};

class Server {
 public:
  Server(Control& control, ServerOptions options);
  ~Server();  // Stop()s
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds options.listen and starts serving. kConfig for a malformed listen
  // address or an empty token, kIo naming api.listen and the address when
  // it cannot be bound (e.g. the port is in use); kInternal if called twice.
  Status Start();

  // The bound port once Start() succeeded, else 0.
  int port() const;

  // Stops accepting, lets the requests being served finish and joins every
  // thread. Idempotent; a stopped Server does not start again.
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::api
