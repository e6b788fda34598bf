// Cost of EncodeMessage per change, the hot path of every delivered message.
//
//   ./encoder_bench --benchmark_min_time=1
//
// Rows are built the way the pgoutput decoder builds them (text values in
// one Tuple buffer); the output string is reused, as the delivery path does.

#include <benchmark/benchmark.h>

#include <memory>
#include <string>

#include "model/change.h"
#include "model/encoder.h"
#include "model/pg_types.h"

namespace sluice::model {
namespace {

std::shared_ptr<TransactionInfo> BenchTxn() {
  auto txn = std::make_shared<TransactionInfo>();
  txn->commit_lsn = Lsn(24023128);
  txn->commit_time_us = 1795773600123456;
  return txn;
}

// public.orders(id int8 pk, account_id int4, status text, total numeric,
//               created_at timestamptz, paid bool, email varchar, tags text[])
Change TypicalRow() {
  auto r = std::make_shared<Relation>();
  r->schema = "public";
  r->name = "orders";
  r->columns = {{"id", pg::kInt8, -1, true},
                {"account_id", pg::kInt4, -1, false},
                {"status", pg::kText, -1, false},
                {"total", pg::kNumeric, -1, false},
                {"created_at", pg::kTimestamptz, -1, false},
                {"paid", pg::kBool, -1, false},
                {"email", pg::kVarchar, -1, false},
                {"tags", pg::kTextArray, -1, false}};
  Change c;
  c.action = Action::kInsert;
  c.relation = r;
  c.txn = BenchTxn();
  c.new_tuple.AddText("1234567");
  c.new_tuple.AddText("42");
  c.new_tuple.AddText("paid");
  c.new_tuple.AddText("199.99");
  c.new_tuple.AddText("2026-11-27 10:00:00.123456+00");
  c.new_tuple.AddText("t");
  c.new_tuple.AddText("alice@example.com");
  c.new_tuple.AddText("{priority,\"gift wrap\"}");
  return c;
}

// public.events(id int8 pk, payload jsonb) with a ~2 KB payload.
Change JsonbRow() {
  auto r = std::make_shared<Relation>();
  r->schema = "public";
  r->name = "events";
  r->columns = {{"id", pg::kInt8, -1, true}, {"payload", pg::kJsonb, -1, false}};
  std::string payload = "{\"items\": [";
  for (int i = 0; payload.size() < 2000; ++i) {
    if (i > 0) payload += ", ";
    payload += "{\"sku\": \"SKU-" + std::to_string(10000 + i) +
               "\", \"qty\": " + std::to_string(i % 7 + 1) + ", \"price\": 12.50}";
  }
  payload += "]}";
  Change c;
  c.action = Action::kInsert;
  c.relation = r;
  c.txn = BenchTxn();
  c.new_tuple.AddText("98765");
  c.new_tuple.AddText(payload);
  return c;
}

void Run(benchmark::State& state, const Change& change) {
  const EncodeOptions options{"app", "kinesis-sink", TimestampStyle::kIso8601};
  std::string out;
  size_t bytes = 0;
  for (auto _ : state) {
    out.clear();
    EncodeMessage(change, options, &out);
    benchmark::DoNotOptimize(out.data());
    bytes += out.size();
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.counters["msg_bytes"] = static_cast<double>(out.size());
}

void BM_EncodeMessage_TypicalRow(benchmark::State& state) { Run(state, TypicalRow()); }
BENCHMARK(BM_EncodeMessage_TypicalRow);

void BM_EncodeMessage_Jsonb2KB(benchmark::State& state) { Run(state, JsonbRow()); }
BENCHMARK(BM_EncodeMessage_Jsonb2KB);

void BM_GroupAndPartitionKey(benchmark::State& state) {
  const Change change = TypicalRow();
  for (auto _ : state) {
    benchmark::DoNotOptimize(PartitionKeyForGroup(*GroupKey(change, {})));
  }
}
BENCHMARK(BM_GroupAndPartitionKey);

}  // namespace
}  // namespace sluice::model

BENCHMARK_MAIN();
