// Service: the composition root of `sluice run`. Builds, per database, the
// AckTracker, one SinkRunner per sink (with its Kinesis client), the Router
// and the ReplicationSource, and runs them until asked to stop.
//
// It also opens the local message store (<data_dir>/store.sqlite3), shared
// by every sink, and starts message ids above the highest one stored.
//
// Shutdown order matters for at-least-once: senders finish their in-flight
// requests first, within `shutdown_timeout` (their outcomes resolve
// tickets), messages bound for the store are written, then each source sends
// a last standby status with the acknowledged LSN and disconnects.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "config/settings.h"
#include "delivery/memory_budget.h"
#include "delivery/message_store.h"
#include "metrics/registry.h"

namespace sluice::api {
class Server;
}

namespace sluice::app {

class ServiceControl;

class Service {
 public:
  // `settings` and `clock` must outlive the service.
  static Result<std::unique_ptr<Service>> Create(const config::Settings& settings,
                                                 const Clock& clock);
  ~Service();

  // Starts the sender and source threads, then the API server (api.listen);
  // an address that cannot be bound is an error.
  Status Start();
  // The API server's port once started (0 before).
  int api_port() const;
  // Asks Wait() to return (from a signal thread, say). Thread-safe.
  void RequestStop();
  // Blocks until a source ends on its own (a fatal error) or RequestStop().
  // Returns the source's error, if any.
  Status Wait();
  // Drains and stops everything; idempotent. Call from the thread that owns
  // the service, after Wait(). Returns false if a request was still in
  // flight at the shutdown deadline: its thread still runs, so the caller
  // must end the process at once (std::_Exit) without destroying the service.
  bool Stop();

 private:
  struct Database;
  Service(const config::Settings& settings, const Clock& clock);
  void OnSourceExit(const Status& status);

  const config::Settings& settings_;
  const Clock& clock_;
  delivery::MemoryBudget budget_;
  metrics::Registry registry_;
  std::atomic<uint64_t> next_message_id_{0};
  std::unique_ptr<delivery::MessageStore> store_;
  std::vector<std::unique_ptr<Database>> databases_;
  std::unique_ptr<ServiceControl> control_;
  std::unique_ptr<api::Server> server_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool finished_ = false;        // GUARDED_BY(mu_)
  std::optional<Error> fatal_;   // GUARDED_BY(mu_)
  bool stop_requested_ = false;  // GUARDED_BY(mu_)
  bool stopped_ = false;         // GUARDED_BY(mu_)
  bool stop_clean_ = true;       // GUARDED_BY(mu_)
};

}  // namespace sluice::app
