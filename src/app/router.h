// Router: the ChangeHandler of one database. It decides which sinks want a
// change (tables, schemas, actions, status), makes one Message per wanted
// sink with its ordering group and partition key, and keeps the AckTracker
// in step with transactions so the slot advances only past resolved work.
//
// Thread safety: called from the database's source thread only, except
// AcknowledgedLsn (any thread).
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

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
  Router(std::vector<RoutedSink> sinks, delivery::AckTracker& acks, delivery::MemoryBudget& budget,
         std::atomic<uint64_t>& next_message_id);

  void OnBegin(const std::shared_ptr<const model::TransactionInfo>& txn) override;
  void OnChange(model::Change change) override;
  void OnCommit(Lsn commit_lsn, Lsn end_lsn) override;
  void OnIdle(Lsn lsn) override;
  void OnSlotPosition(Lsn confirmed_flush) override;
  void OnReconnect() override;
  void OnWarning(const std::string& table, const std::string& message) override;
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
};

}  // namespace sluice::app
