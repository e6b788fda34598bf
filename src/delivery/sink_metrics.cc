#include "delivery/sink_metrics.h"

#include <string>
#include <vector>

namespace sluice::delivery {
namespace {

metrics::Counter& SinkCounter(metrics::Registry& registry, std::string name, std::string help,
                              std::string_view sink) {
  return registry.AddCounter(std::move(name), std::move(help), {"sink"}).WithLabels({sink});
}

const std::vector<double>& LatencyBounds() {
  static const std::vector<double> bounds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,  1,   2.5,
                                             5,     10,   30,    60,   180, 600,  1800, 3600};
  return bounds;
}

const std::vector<double>& RequestBounds() {
  static const std::vector<double> bounds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                             0.5,   1,    2.5,   5,    10,  30};
  return bounds;
}

}  // namespace

SinkMetrics::SinkMetrics(metrics::Registry& r, std::string_view sink)
    : ingested(SinkCounter(r, "sluice_messages_ingested_total",
                           "Messages the sink made from replicated changes.", sink)),
      delivered(SinkCounter(r, "sluice_messages_delivered_total", "Messages Kinesis acknowledged.",
                            sink)),
      failed(SinkCounter(r, "sluice_messages_failed_total",
                         "Failed delivery attempts (per message, per attempt).", sink)),
      retried(SinkCounter(r, "sluice_messages_retried_total",
                          "Puts of a message that had failed before.", sink)),
      throttled(SinkCounter(r, "sluice_records_throttled_total",
                            "Records Kinesis refused for throughput.", sink)),
      oversize(SinkCounter(r, "sluice_messages_oversize_total",
                           "Messages over the stream's maximum record size (once each).", sink)),
      filtered(SinkCounter(r, "sluice_messages_filtered_total",
                           "Messages the sink's filter function dropped.", sink)),
      discarded(SinkCounter(r, "sluice_messages_discarded_total",
                            "Messages discarded by an operator or after max_retry_count.", sink)),
      requests(
          SinkCounter(r, "sluice_put_records_requests_total", "PutRecords requests sent.", sink)),
      request_failures(SinkCounter(r, "sluice_put_records_request_failures_total",
                                   "PutRecords requests that failed as a whole.", sink)),
      stored(SinkCounter(r, "sluice_messages_stored_total", "Messages written to the local store.",
                         sink)),
      loaded(SinkCounter(r, "sluice_messages_loaded_total",
                         "Messages loaded back from the local store.", sink)),
      end_to_end_latency(
          r.AddHistogram("sluice_end_to_end_latency_seconds",
                         "From the transaction's commit to Kinesis's acknowledgement.", {"sink"},
                         LatencyBounds())
              .WithLabels({sink})),
      put_records_duration(r.AddHistogram("sluice_put_records_duration_seconds",
                                          "PutRecords request latency.", {"sink"}, RequestBounds())
                               .WithLabels({sink})) {}

}  // namespace sluice::delivery
