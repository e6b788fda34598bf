// BackfillPages: the handoff between a database's BackfillManager (its thread
// reads pages between watermarks) and its Router (the source thread meets the
// watermarks in the replication stream), docs/backfill.md.
//
// The manager Put()s a page's rows before it emits the page's high
// watermark, so when the router meets that watermark the rows are here; the
// router Take()s them, drops the rows whose key changed between the page's
// watermarks, enqueues the rest as reads of the high watermark's transaction,
// and reports where that transaction ends (Emitted) so the manager knows when
// the page is complete (acknowledged).
//
// Thread safety: every method may be called from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/lsn.h"
#include "model/change.h"
#include "model/relation.h"

namespace sluice::app {

// The content of a watermark message: JSON
// {"backfill":7,"run":"<run>","page":12,"mark":"low"|"high","table_oid":16384}.
struct Watermark {
  uint64_t backfill_id = 0;
  std::string run;  // the process run that emitted it: others are ignored
  uint64_t page = 0;
  bool high = false;
  uint32_t table_oid = 0;
};
std::string WatermarkContent(const Watermark& w);
// nullopt for content that is not a well-formed watermark.
std::optional<Watermark> ParseWatermark(std::string_view content);

struct PageRows {
  uint64_t backfill_id = 0;
  uint64_t page = 0;
  std::string sink;  // the backfill's sink: reads go to it only
  std::shared_ptr<const model::Relation> relation;
  std::vector<model::Tuple> rows;
};

class BackfillPages {
 public:
  explicit BackfillPages(std::string run) : run_(std::move(run)) {}

  const std::string& run() const { return run_; }

  void Put(PageRows page);
  std::optional<PageRows> Take(uint64_t backfill_id, uint64_t page);
  // Drops a page that will not be emitted (its high watermark failed).
  void Forget(uint64_t backfill_id, uint64_t page);

  // The router enqueued `reads` rows of the page in the transaction ending
  // at end_lsn (reported at its commit). redo: the router could not tell
  // which rows changed in the page's window (it never saw the low
  // watermark): it enqueued nothing and the page must be read again.
  void Emitted(uint64_t backfill_id, uint64_t page, Lsn end_lsn, uint64_t reads, bool redo);
  struct Emission {
    Lsn end_lsn;
    uint64_t reads = 0;
    bool redo = false;
  };
  std::optional<Emission> EmissionOf(uint64_t backfill_id, uint64_t page);

 private:
  const std::string run_;
  std::mutex mu_;
  std::map<std::pair<uint64_t, uint64_t>, PageRows> pages_;    // GUARDED_BY(mu_)
  std::map<std::pair<uint64_t, uint64_t>, Emission> emitted_;  // GUARDED_BY(mu_)
};

}  // namespace sluice::app
