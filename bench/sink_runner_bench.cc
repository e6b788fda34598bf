// How SinkRunner turns a stream of changes into PutRecords requests: one
// producer thread enqueues messages as the Router makes them (each row its own
// group, as in a large insert) at a fixed rate, the runner's senders put them to a fake
// Kinesis client whose every request costs a fixed `request_us` of CPU (the
// per-request work of a real one: signing, curl, the response). Reported:
// changes per second, records per request, and the runner's CPU per change
// (the process's minus the producer thread's).
//
//   ./sink_runner_bench --benchmark_min_time=1
//
// Arguments: changes per second offered, request cost in µs, linger in ms
// (SinkRunnerOptions::linger).
// The figure that matters is records/request: with a request per handful of
// changes, the per-request cost dominates sluice's CPU (bench/ e2e profile).

#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "delivery/sink_runner.h"

namespace sluice::delivery {
namespace {

// CPU seconds of the process (RUSAGE_SELF) or of the calling thread.
double CpuSeconds(int who) {
  rusage usage{};
  getrusage(who, &usage);
  auto seconds = [](const timeval& t) { return double(t.tv_sec) + double(t.tv_usec) / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// Answers every record with success after spinning for `cost` (a request's
// CPU in the real client).
class SpinningKinesis final : public kinesis::KinesisClient {
 public:
  explicit SpinningKinesis(std::chrono::microseconds cost) : cost_(cost) {}

  Result<kinesis::StreamSummary> DescribeStream(const config::StreamArn&) override {
    return kinesis::StreamSummary{"ACTIVE", 1024 * 1024, 4, false};
  }
  kinesis::PutRecordsResult PutRecords(const config::StreamArn&, const std::string&,
                                       size_t record_count) override {
    const auto until = std::chrono::steady_clock::now() + cost_;
    while (std::chrono::steady_clock::now() < until) {
    }
    requests.fetch_add(1, std::memory_order_relaxed);
    kinesis::PutRecordsResult result;
    result.records.resize(record_count);
    for (auto& r : result.records) {
      r.ok = true;
      r.shard_id = "shardId-000000000000";
      r.sequence_number = "49590338271490256608559692538361571095921575989136588898";
    }
    return result;
  }

  std::atomic<uint64_t> requests{0};

 private:
  const std::chrono::microseconds cost_;
};

void BM_SinkRunnerLargeTransaction(benchmark::State& state) {
  const auto period = std::chrono::nanoseconds(1'000'000'000 / state.range(0));
  const auto request_cost = std::chrono::microseconds(state.range(1));
  constexpr int kChanges = 10000;

  auto rel = std::make_shared<model::Relation>();
  rel->oid = 16384;
  rel->schema = "public";
  rel->name = "bench_rows";
  rel->columns = {{"id", 20, -1, true},
                  {"account", 23, -1, false},
                  {"status", 25, -1, false},
                  {"total", 1700, -1, false},
                  {"created_at", 1184, -1, false}};
  rel->primary_key = {0};
  auto txn = std::make_shared<model::TransactionInfo>();
  txn->commit_lsn = Lsn(0x1000);
  txn->commit_time_us = 1'790'000'000'000'000;
  txn->xid = 42;

  uint64_t requests = 0;
  uint64_t records = 0;
  double cpu = 0;
  for (auto _ : state) {
    SpinningKinesis kinesis(request_cost);
    AckTracker acks;
    MemoryBudget budget(size_t{1} << 30);
    SinkRunnerOptions options;
    options.sink_name = "bench";
    std::string why;
    options.stream =
        *config::StreamArn::Parse("arn:aws:kinesis:us-east-1:000000000000:stream/bench", &why);
    options.batch_size = 500;
    options.max_in_flight = 8;
    options.linger = std::chrono::milliseconds(state.range(2));
    options.encode.database_name = "app";
    options.encode.consumer_name = "bench";
    SinkRunner runner(options, kinesis, acks, budget, SystemClock::Instance(), [] { return 0.5; });
    if (!runner.Start().ok()) {
      state.SkipWithError("runner did not start");
      return;
    }
    auto ticket = acks.Begin(txn->commit_lsn);
    acks.AddPending(ticket, kChanges);
    const double cpu0 = CpuSeconds(RUSAGE_SELF) - CpuSeconds(RUSAGE_THREAD);
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < kChanges; ++i) {
      // The source's pace (the walsender's): spin to the i-th change's time.
      while (std::chrono::steady_clock::now() < start + i * period) {
      }
      auto m = std::make_unique<Message>();
      m->id = static_cast<uint64_t>(i) + 1;
      m->change.relation = rel;
      m->change.txn = txn;
      m->change.commit_idx = static_cast<uint32_t>(i);
      const std::string id = std::to_string(i + 1);
      m->change.new_tuple.Reserve(5, 64);
      m->change.new_tuple.AddText(id);
      m->change.new_tuple.AddText("17");
      m->change.new_tuple.AddText("new");
      m->change.new_tuple.AddText("10.50");
      m->change.new_tuple.AddText("2026-11-27 10:00:00.123456+00");
      m->group = "16384/" + id;
      m->partition_key = id;
      m->ticket = ticket;
      m->memory_bytes = Dispatcher::MemoryBytes(*m);
      runner.Enqueue(std::move(m));
    }
    acks.Commit(ticket, Lsn(0x2000));
    runner.WaitUntilEmpty(std::chrono::minutes(1));
    cpu += CpuSeconds(RUSAGE_SELF) - CpuSeconds(RUSAGE_THREAD) - cpu0;
    runner.Stop();
    requests += kinesis.requests.load();
    records += kChanges;
  }
  state.SetItemsProcessed(static_cast<int64_t>(records));
  state.counters["records_per_request"] =
      static_cast<double>(records) / static_cast<double>(requests ? requests : 1);
  // The runner's threads only (the producer's pacing spin is left out).
  state.counters["cpu_us_per_change"] = cpu * 1e6 / static_cast<double>(records);
}
BENCHMARK(BM_SinkRunnerLargeTransaction)
    ->ArgNames({"per_s", "request_us", "linger_ms"})
    ->Args({150'000, 100, 0})
    ->Args({150'000, 100, 5})
    ->Args({25'000, 100, 0})
    ->Args({25'000, 100, 5})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace sluice::delivery

BENCHMARK_MAIN();
