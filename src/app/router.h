// Router: the ChangeHandler of one database. It decides which sinks want a
// change (tables, schemas, actions, status), makes one Message per wanted
// sink with its ordering group and partition key, and keeps the AckTracker
// in step with transactions so the slot advances only past resolved work.
//
// Thread safety: called from the database's source thread only, except
// AcknowledgedLsn (any thread).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "app/backfill_pages.h"
#include "config/settings.h"
#include "delivery/ack_tracker.h"
#include "delivery/memory_budget.h"
#include "delivery/sink_runner.h"
#include "source/change_handler.h"

namespace sluice::app {

// One sink as the router sees it.
struct RoutedSink {
  const config::SinkSettings* settings;  // owned by Settings, outlives the router
  delivery::SinkRunner* runner;          // owned by the Service
};

class Router final : public source::ChangeHandler {
 public:
  // `pages`: the database's backfill handoff (null: watermarks are ignored).
  Router(std::vector<RoutedSink> sinks, delivery::AckTracker& acks, delivery::MemoryBudget& budget,
         std::atomic<uint64_t>& next_message_id, BackfillPages* pages = nullptr);

  void OnBegin(const std::shared_ptr<const model::TransactionInfo>& txn) override;
  void OnChange(model::Change change) override;
  void OnCommit(Lsn commit_lsn, Lsn end_lsn) override;
  void OnIdle(Lsn lsn) override;
  void OnSlotPosition(Lsn confirmed_flush) override;
  void OnReconnect() override;
  void OnWarning(const std::string& table, const std::string& message) override;
  // Backfill watermarks (docs/backfill.md): a low one opens the page's
  // window on its table; a high one closes it and enqueues the page's rows
  // whose key did not change in the window as reads of this transaction.
  void OnBackfillWatermark(std::string_view content) override;
  bool WaitForCapacity(std::chrono::milliseconds timeout) override;
  Lsn AcknowledgedLsn() const override;

  // How a sink treats one relation; computed once per relation layout.
  struct TablePlan {
    bool wanted = false;
    bool grouped = false;
    std::vector<int> group_columns;  // empty with grouped: primary key
  };
  static TablePlan PlanFor(const config::SinkSettings& sink, const model::Relation& relation);

 private:
  const TablePlan& PlanCached(size_t sink_index, const std::shared_ptr<const model::Relation>& rel);
  static bool ActionWanted(const config::SinkSettings& sink, model::Action action);
  // Whether the sink takes any of the actions (bits of model::Action).
  static bool WantsAny(const config::SinkSettings& sink, uint8_t action_bits);
  // Makes the change's message for sink i (group, partition key) and
  // enqueues it; the caller added it to the ticket.
  void EnqueueTo(size_t i, const TablePlan& plan, model::Change change);
  // Backfill windows: records the key(s) of a change of a table with a page
  // window open.
  void NoteWindowChange(const model::Change& change);
  void EmitPage(const Watermark& w);

  std::vector<RoutedSink> sinks_;
  delivery::AckTracker& acks_;
  delivery::MemoryBudget& budget_;
  std::atomic<uint64_t>& next_message_id_;
  std::shared_ptr<delivery::TxnTicket> ticket_;  // open transaction, if any
  uint32_t seen_in_txn_ = 0;  // OnChange calls in the open transaction, routed or not
  // After a reconnect the server re-sends committed transactions that were
  // not acknowledged yet; those already routed are still queued here, so
  // their second copy is skipped instead of delivered twice.
  Lsn last_routed_commit_;
  bool skipping_txn_ = false;
  // A reconnect inside a transaction: the server re-sends it from its Begin.
  // Its ticket stays open (its routed changes are still queued) and the
  // first `seen` changes of the re-sent copy are skipped.
  struct Resume {
    std::shared_ptr<delivery::TxnTicket> ticket;
    uint32_t seen = 0;
  };
  std::optional<Resume> resume_;
  uint32_t skip_changes_ = 0;
  // Keyed by Relation pointer: a new Relation message makes a new layout.
  std::vector<std::unordered_map<const model::Relation*, TablePlan>> plans_;
  std::vector<std::shared_ptr<const model::Relation>> plan_relations_;  // keeps keys alive
  // (sink index, its plan) for the change being routed; plans are stable
  // map nodes until the next reconnect.
  std::vector<std::pair<size_t, const TablePlan*>> wanted_scratch_;

  // Backfill: open page windows by table oid, and pages emitted in the open
  // transaction (reported with its end LSN at commit).
  BackfillPages* const pages_;
  std::shared_ptr<const model::TransactionInfo> txn_;  // the open transaction's
  struct Window {
    uint64_t backfill_id = 0;
    uint64_t page = 0;
    // Primary key values (KeyOf) changed in the window, with the actions
    // seen (a bit per model::Action): a row is dropped from the page only if
    // the page's sink takes one of them, or it would never get the row.
    std::unordered_map<std::string, uint8_t> changed;
    bool truncated = false;
  };
  std::unordered_map<uint32_t, std::vector<Window>> windows_;
  struct Emitted {
    uint64_t backfill_id = 0;
    uint64_t page = 0;
    uint64_t reads = 0;
    bool redo = false;
  };
  std::vector<Emitted> emitted_in_txn_;
  uint32_t reads_in_txn_ = 0;  // commit_idx of reads in the open transaction
};

}  // namespace sluice::app
