// Message store throughput: Put in batches (one transaction each) with
// synchronous FULL and NORMAL, and paged reads (LoadPage, which decodes every
// change).
//
//   ./message_store_bench --benchmark_min_time=1
//
// Each change carries ~1 KB of column text. The store lives in a temporary
// directory under $TMPDIR (the disk matters: FULL waits for an fsync at
// every commit).

#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "delivery/message_store.h"

namespace sluice::delivery {
namespace {

namespace fs = std::filesystem;

class BenchDir {
 public:
  BenchDir() {
    std::string tmpl = (fs::temp_directory_path() / "sluice-store-bench-XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~BenchDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

StoredMessage KilobyteMessage(uint64_t id) {
  static const auto relation = [] {
    auto r = std::make_shared<model::Relation>();
    r->oid = 16390;
    r->schema = "public";
    r->name = "events";
    r->columns = {{"id", 20, -1, true}, {"payload", 3802, -1, false}};
    r->primary_key = {0};
    return r;
  }();
  static const std::string payload(1000, 'x');
  StoredMessage m;
  m.id = id;
  m.sink = "bench";
  m.group_key = std::to_string(id % 1000);
  m.partition_key = m.group_key;
  auto txn = std::make_shared<model::TransactionInfo>();
  txn->commit_lsn = Lsn(1000000 + id);
  m.change.txn = txn;
  m.change.relation = relation;
  m.change.new_tuple.AddText(m.group_key);
  m.change.new_tuple.AddText(payload);
  m.created_at = WallTime(std::chrono::milliseconds(1700000000000));
  return m;
}

// Args: batch size, 0 = FULL / 1 = NORMAL.
void BM_Put(benchmark::State& state) {
  const size_t batch_size = static_cast<size_t>(state.range(0));
  const StoreSync sync = state.range(1) == 0 ? StoreSync::kFull : StoreSync::kNormal;
  BenchDir dir;
  auto store = MessageStore::Open({dir.path(), sync});
  if (!store.ok()) {
    state.SkipWithError(store.error().message().c_str());
    return;
  }
  uint64_t next_id = 1;
  std::vector<StoredMessage> batch;
  for (auto _ : state) {
    state.PauseTiming();
    batch.clear();
    for (size_t i = 0; i < batch_size; ++i) batch.push_back(KilobyteMessage(next_id++));
    state.ResumeTiming();
    auto put = (*store)->Put(batch);
    if (!put.ok()) {
      state.SkipWithError(put.error().message().c_str());
      return;
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * batch_size));
  state.SetLabel(sync == StoreSync::kFull ? "synchronous=FULL" : "synchronous=NORMAL");
}
BENCHMARK(BM_Put)
    ->Args({100, 0})
    ->Args({1000, 0})
    ->Args({100, 1})
    ->Args({1000, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// Reads a 20,000-message store in pages of `range(0)`, from the start.
void BM_LoadPage(benchmark::State& state) {
  const size_t page_size = static_cast<size_t>(state.range(0));
  BenchDir dir;
  auto store = MessageStore::Open({dir.path(), StoreSync::kNormal});
  if (!store.ok()) {
    state.SkipWithError(store.error().message().c_str());
    return;
  }
  constexpr uint64_t kMessages = 20000;
  std::vector<StoredMessage> batch;
  for (uint64_t id = 1; id <= kMessages; ++id) {
    batch.push_back(KilobyteMessage(id));
    if (batch.size() == 1000) {
      if (!(*store)->Put(batch).ok()) {
        state.SkipWithError("put failed");
        return;
      }
      batch.clear();
    }
  }
  uint64_t cursor = 0;
  int64_t read = 0;
  for (auto _ : state) {
    auto page = (*store)->LoadPage("bench", cursor, page_size);
    if (!page.ok()) {
      state.SkipWithError(page.error().message().c_str());
      return;
    }
    read += static_cast<int64_t>(page->messages.size());
    cursor = page->more ? page->next_after : 0;
    benchmark::DoNotOptimize(page->messages.data());
  }
  state.SetItemsProcessed(read);
}
BENCHMARK(BM_LoadPage)->Arg(100)->Arg(1000)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace sluice::delivery
BENCHMARK_MAIN();
