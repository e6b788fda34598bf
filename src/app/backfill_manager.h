// BackfillManager: runs the backfills of one database's sinks
// (docs/backfill.md) on a thread of its own with a normal SQL connection.
//
// Per page: low watermark, keyset read, rows handed to BackfillPages, high
// watermark; the Router emits the rows when the stream reaches the high
// watermark. A page is complete when the AckTracker's acknowledged position
// passes the high watermark's transaction; then the backfill's last key and
// rows done are written to the local store, so a restart resumes after the
// last completed page. At most kMaxOutstandingPages pages per backfill are
// read and not yet complete, and none is read while the sink holds more than
// kMaxSinkBacklog messages (in memory or in the local store) or memory is
// above half the budget.
//
// Thread safety: List/Start/Cancel may be called from any thread (the API);
// Run happens on the manager's thread.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "api/control.h"
#include "app/backfill_pages.h"
#include "base/clock.h"
#include "config/settings.h"
#include "delivery/ack_tracker.h"
#include "delivery/memory_budget.h"
#include "delivery/message_store.h"
#include "delivery/sink_runner.h"

namespace sluice::app {

class BackfillManager {
 public:
  static constexpr size_t kMaxOutstandingPages = 2;
  static constexpr size_t kMaxSinkBacklog = 5000;

  struct Sink {
    const config::SinkSettings* settings = nullptr;
    delivery::SinkRunner* runner = nullptr;
  };

  // Everything passed must outlive the manager. `source_streaming` says
  // whether the database's replication stream runs: no watermark is emitted
  // before (the slot and publication may not exist yet, and the router must
  // see both watermarks of a page).
  BackfillManager(const config::DatabaseSettings& db, std::vector<Sink> sinks,
                  delivery::MessageStore& store, delivery::AckTracker& acks,
                  delivery::MemoryBudget& budget, const Clock& clock,
                  std::function<bool()> source_streaming);
  ~BackfillManager();
  BackfillManager(const BackfillManager&) = delete;
  BackfillManager& operator=(const BackfillManager&) = delete;

  // The router's side of the handoff.
  BackfillPages& pages() { return pages_; }

  // Loads the running backfills from the store and starts the thread (which
  // also records the sinks' initial backfills once it can reach the
  // database). Stop() is idempotent.
  Status Start();
  void Stop();

  bool HasSink(std::string_view sink) const;
  Result<std::vector<api::BackfillInfo>> List(std::string_view sink);
  Result<api::BackfillInfo> StartBackfill(std::string_view sink,
                                          const api::BackfillRequest& request);
  Result<api::BackfillInfo> Cancel(std::string_view sink, uint64_t id);

 private:
  struct Job;
  void Run();
  // One step of one job: completions, then maybe a page. Returns true if it
  // did something (the loop then goes on at once).
  bool Step(Job& job);
  bool ReadPage(Job& job);
  void Fail(Job& job, const std::string& error);
  void Persist(Job& job);
  // False if something failed: the next pass tries again.
  bool RecordInitialBackfills();
  api::BackfillInfo InfoOf(const delivery::BackfillRecord& record, const Job* job) const;
  const Sink* FindSink(std::string_view name) const;

  const config::DatabaseSettings& db_;
  const std::vector<Sink> sinks_;
  delivery::MessageStore& store_;
  delivery::AckTracker& acks_;
  delivery::MemoryBudget& budget_;
  const Clock& clock_;
  BackfillPages pages_;
  const std::function<bool()> source_streaming_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Job>> jobs_;  // GUARDED_BY(mu_): running ones
  bool stopping_ = false;                   // GUARDED_BY(mu_)
  bool initial_recorded_ = false;           // manager thread only
  std::thread thread_;
  struct Connection;
  std::unique_ptr<Connection> conn_;  // manager thread only
};

}  // namespace sluice::app
