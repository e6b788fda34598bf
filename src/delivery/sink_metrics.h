// SinkMetrics: one sink's time series (docs/metrics.md), registered once when
// the sink is built and updated on the delivery path (a relaxed atomic add per
// update, no lock). The SinkRunner's Stats() reads the same counters, so the
// API and /metrics never disagree.
#pragma once

#include <string_view>

#include "metrics/registry.h"

namespace sluice::delivery {

struct SinkMetrics {
  // Registers (or finds) the families in `registry` and this sink's series.
  SinkMetrics(metrics::Registry& registry, std::string_view sink);

  metrics::Counter& ingested;
  metrics::Counter& delivered;
  metrics::Counter& failed;  // failed attempts
  metrics::Counter& retried;
  metrics::Counter& throttled;
  metrics::Counter& oversize;
  metrics::Counter& filtered;
  metrics::Counter& discarded;
  metrics::Counter& requests;
  metrics::Counter& request_failures;
  metrics::Counter& stored;
  metrics::Counter& loaded;
  metrics::Histogram& end_to_end_latency;
  metrics::Histogram& put_records_duration;
};

}  // namespace sluice::delivery
