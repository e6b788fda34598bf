// ServiceControl: api::Control over a running service — its SinkRunners, the
// local store behind them, and the replication sources (for lag and
// readiness). Built by Service after the runners exist; holds plain pointers
// to them (the Service outlives it and stops the API server first).
//
// What it adds on top of the runners: message states and ids as the API
// names them, the raw change and the payload after functions for one message
// (made with a RecordMaker of its own per sink, under a mutex, so the senders'
// makers are never shared), health with a reason, throughput over the last
// 10 seconds, and the gauges /metrics reads at scrape time (registered in the
// service's registry at construction).
//
// Thread safety: every method may be called from any thread (the API server
// calls from its pool).
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "api/control.h"
#include "app/backfill_manager.h"
#include "base/clock.h"
#include "delivery/ack_tracker.h"
#include "delivery/record_maker.h"
#include "delivery/sink_runner.h"
#include "metrics/registry.h"
#include "source/replication_source.h"

namespace sluice::app {

struct ControlledSink {
  std::string database;
  delivery::SinkRunner* runner = nullptr;
  const delivery::AckTracker* acks = nullptr;         // of its database
  const source::ReplicationSource* source = nullptr;  // of its database
  BackfillManager* backfills = nullptr;               // of its database
};

class ServiceControl final : public api::Control {
 public:
  ServiceControl(std::vector<ControlledSink> sinks, metrics::Registry& registry,
                 const Clock& clock);
  ~ServiceControl() override;

  std::vector<api::SinkSummary> Sinks() override;
  Result<api::SinkSummary> Sink(std::string_view name) override;
  Result<api::MessagePage> Messages(std::string_view sink, const api::MessageQuery& query) override;
  Result<api::MessageDetail> Message(std::string_view sink, uint64_t id) override;
  Result<api::ActionResult> Redeliver(std::string_view sink, api::Selection selection,
                                      uint64_t id) override;
  Result<api::ActionResult> Discard(std::string_view sink, api::Selection selection,
                                    uint64_t id) override;
  Status Pause(std::string_view sink) override;
  Status Resume(std::string_view sink) override;
  Result<std::vector<api::BackfillInfo>> Backfills(std::string_view sink) override;
  Result<api::BackfillInfo> StartBackfill(std::string_view sink,
                                          const api::BackfillRequest& request) override;
  Result<api::BackfillInfo> CancelBackfill(std::string_view sink, uint64_t id) override;
  std::string MetricsText() override;
  api::Readiness Ready() override;

 private:
  struct Entry;
  Entry* Find(std::string_view name);
  Result<Entry*> FindOrError(std::string_view name);
  api::SinkSummary Summarize(Entry& e);
  // Cached for a second: a scrape reads it for several gauges.
  // fresh: ask the runner now (a summary), and refresh the cache.
  delivery::SinkBacklog BacklogOf(Entry& e, bool fresh = false);
  uint64_t LagBytes(const Entry& e) const;

  metrics::Registry& registry_;
  const Clock& clock_;
  std::vector<std::unique_ptr<Entry>> entries_;
};

}  // namespace sluice::app
