// Cost per message of each function type on a typical update message.
// Run: ./build/bench/functions_bench
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "functions/runtime.h"

namespace {

using sluice::config::FunctionSettings;
using sluice::functions::FunctionRuntime;

constexpr std::string_view kMessage =
    R"({"record":{"id":7,"account_id":42,"type":"order","status":"paid","total":199.99,)"
    R"("note":null,"created_at":"2026-11-27T10:00:00.123456Z"},)"
    R"("changes":{"status":"pending"},"action":"update",)"
    R"("metadata":{"table_schema":"public","table_name":"orders",)"
    R"("commit_timestamp":"2026-11-27T10:00:00.123456Z","commit_lsn":24023128,"commit_idx":0,)"
    R"("idempotency_key":"MjQwMjMxMjg6MA==","record_pks":["7"],"transaction_annotations":null,)"
    R"("database_name":"app","consumer":{"name":"kinesis-sink"}}})";

FunctionSettings Fn(const char* name, const char* type, const char* code) {
  FunctionSettings f;
  f.name = name;
  f.type = type;
  f.code = code;
  return f;
}

std::unique_ptr<FunctionRuntime> Runtime() {
  sluice::functions::RuntimeOptions options;
  options.default_stream = sluice::config::StreamArn::Parse(
      "arn:aws:kinesis:us-east-1:123456789012:stream/main", nullptr);
  auto r = FunctionRuntime::Create(
      {Fn("f", "filter", "function filter(a, r) return r.status == 'paid' end"),
       Fn("r", "routing",
          "function route(a, r) return {stream_arn = sluice.stream_arn(r.type .. '-events')} end"),
       Fn("t", "transform",
          "function transform(a, r, c, m)\n"
          "  return {id = r.id, status = r.status, total = r.total, table = m.table_name}\n"
          "end")},
      options);
  if (!r.ok()) std::abort();
  return std::move(r).value();
}

void BM_Filter(benchmark::State& state) {
  auto rt = Runtime();
  for (auto _ : state) benchmark::DoNotOptimize(rt->Filter("f", kMessage));
}
BENCHMARK(BM_Filter);

void BM_Route(benchmark::State& state) {
  auto rt = Runtime();
  for (auto _ : state) benchmark::DoNotOptimize(rt->Route("r", kMessage));
}
BENCHMARK(BM_Route);

void BM_Transform(benchmark::State& state) {
  auto rt = Runtime();
  for (auto _ : state) benchmark::DoNotOptimize(rt->Transform("t", kMessage));
}
BENCHMARK(BM_Transform);

void BM_Path(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(sluice::functions::ApplyPath("record", kMessage));
}
BENCHMARK(BM_Path);

}  // namespace

BENCHMARK_MAIN();
