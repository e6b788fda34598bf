// Cost of a metric update on the delivery path: Counter::Increment and Histogram::Observe, from
// one thread and from two threads updating the same metric (sharded cells keep them off each
// other's cache lines). A single shared std::atomic is measured alongside for comparison.
//
//   ./metrics_bench --benchmark_min_time=1
//
// Also the cost of rendering a scrape of a registry sized like a service with 10 sinks.

#include <benchmark/benchmark.h>

#include <atomic>
#include <string>

#include "metrics/prometheus.h"
#include "metrics/registry.h"

namespace sluice::metrics {
namespace {

Registry& BenchRegistry() {
  static Registry registry;
  return registry;
}

void BM_CounterIncrement(benchmark::State& state) {
  static Counter& counter =
      BenchRegistry().AddCounter("bench_total", "Bench.", {"sink"}).WithLabels({"orders"});
  for (auto _ : state) counter.Increment();
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CounterIncrement)->Threads(1)->Threads(2)->UseRealTime();

// Baseline: every thread adds to one atomic.
void BM_SharedAtomicIncrement(benchmark::State& state) {
  static std::atomic<uint64_t> value{0};
  for (auto _ : state) value.fetch_add(1, std::memory_order_relaxed);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SharedAtomicIncrement)->Threads(1)->Threads(2)->UseRealTime();

void BM_HistogramObserve(benchmark::State& state) {
  static Histogram& histogram =
      BenchRegistry()
          .AddHistogram("bench_seconds", "Bench.", {"sink"}, ExponentialBuckets(0.001, 2, 16))
          .WithLabels({"orders"});
  double value = 0.0001;
  for (auto _ : state) {
    histogram.Observe(value);
    value = value < 60 ? value * 1.37 : 0.0001;  // walk across the buckets
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HistogramObserve)->Threads(1)->Threads(2)->UseRealTime();

void BM_GaugeAdd(benchmark::State& state) {
  static Gauge& gauge =
      BenchRegistry().AddGauge("bench_in_flight", "Bench.", {"sink"}).WithLabels({"orders"});
  for (auto _ : state) {
    gauge.Increment();
    gauge.Decrement();
  }
  state.SetItemsProcessed(state.iterations() * 2);
}
BENCHMARK(BM_GaugeAdd)->Threads(1)->Threads(2)->UseRealTime();

void BM_RenderTenSinks(benchmark::State& state) {
  Registry registry;
  for (int i = 0; i < 10; ++i) {
    std::string sink = "sink-" + std::to_string(i);
    for (const char* name : {"sluice_messages_ingested_total", "sluice_messages_delivered_total",
                             "sluice_messages_failed_total", "sluice_messages_retried_total"}) {
      registry.AddCounter(name, "Bench.", {"sink"}).WithLabels({sink}).Increment(12345);
    }
    registry.AddGauge("sluice_messages_in_flight", "Bench.", {"sink"}).WithLabels({sink}).Set(7);
    for (const char* name :
         {"sluice_end_to_end_latency_seconds", "sluice_put_records_duration_seconds"}) {
      registry.AddHistogram(name, "Bench.", {"sink"}, ExponentialBuckets(0.001, 2, 16))
          .WithLabels({sink})
          .Observe(0.02);
    }
  }
  size_t bytes = 0;
  for (auto _ : state) {
    std::string text = RenderPrometheusText(registry);
    bytes = text.size();
    benchmark::DoNotOptimize(text);
  }
  state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_RenderTenSinks);

}  // namespace
}  // namespace sluice::metrics

BENCHMARK_MAIN();
