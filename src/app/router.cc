#include "app/router.h"

#include <algorithm>

#include "base/log.h"
#include "model/encoder.h"

namespace sluice::app {
namespace {

bool Contains(const std::vector<std::string>& list, const std::string& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

// A row's primary key values as one string (length-prefixed, so no two keys
// collide); nullopt when the table has no primary key.
std::optional<std::string> KeyOf(const model::Relation& rel, const model::Tuple& row) {
  if (rel.primary_key.empty()) return std::nullopt;
  std::string key;
  for (int i : rel.primary_key) {
    if (static_cast<size_t>(i) >= row.size() ||
        row.kind(static_cast<size_t>(i)) != model::ValueKind::kText) {
      key += "-;";
      continue;
    }
    const std::string_view text = row.text(static_cast<size_t>(i));
    key += std::to_string(text.size());
    key += ':';
    key += text;
  }
  return key;
}

}  // namespace

Router::Router(std::vector<RoutedSink> sinks, delivery::AckTracker& acks,
               delivery::MemoryBudget& budget, std::atomic<uint64_t>& next_message_id,
               BackfillPages* pages)
    : sinks_(std::move(sinks)),
      acks_(acks),
      budget_(budget),
      next_message_id_(next_message_id),
      plans_(sinks_.size()),
      pages_(pages) {}

Router::TablePlan Router::PlanFor(const config::SinkSettings& sink, const model::Relation& rel) {
  TablePlan plan;
  const std::string qualified = rel.QualifiedName();
  if (!sink.include_schemas.empty() && !Contains(sink.include_schemas, rel.schema)) return plan;
  if (Contains(sink.exclude_schemas, rel.schema)) return plan;
  if (!sink.include_tables.empty() && !Contains(sink.include_tables, qualified)) return plan;
  if (Contains(sink.exclude_tables, qualified)) return plan;
  plan.wanted = true;
  if (!sink.message_grouping) return plan;

  for (const auto& table : sink.tables) {
    if (table.name != qualified || table.group_column_names.empty()) continue;
    std::vector<int> columns;
    for (const auto& name : table.group_column_names) {
      auto it = std::find_if(rel.columns.begin(), rel.columns.end(),
                             [&](const model::Column& c) { return c.name == name; });
      if (it == rel.columns.end()) {
        SLUICE_LOG_ERROR(
            "sink {}: tables[{}].group_column_names names column \"{}\", which {} does not have; "
            "grouping {} by its primary key instead",
            sink.name, qualified, name, qualified, qualified);
        columns.clear();
        break;
      }
      columns.push_back(static_cast<int>(it - rel.columns.begin()));
    }
    if (!columns.empty()) {
      if (rel.replica_identity != model::ReplicaIdentity::kFull &&
          std::any_of(columns.begin(), columns.end(),
                      [&](int c) { return !rel.columns[c].is_key; })) {
        SLUICE_LOG_WARN(
            "sink {}: group_column_names of {} include columns outside its replica identity; "
            "deletes do not carry them, so a delete is delivered without a group (no ordering "
            "with the row's earlier changes). Run ALTER TABLE {} REPLICA IDENTITY FULL to fix",
            sink.name, qualified, qualified);
      }
      plan.grouped = true;
      plan.group_columns = std::move(columns);
      return plan;
    }
  }
  plan.grouped = !rel.primary_key.empty();
  return plan;
}

const Router::TablePlan& Router::PlanCached(size_t i,
                                            const std::shared_ptr<const model::Relation>& rel) {
  auto& cache = plans_[i];
  auto it = cache.find(rel.get());
  if (it != cache.end()) return it->second;
  plan_relations_.push_back(rel);
  TablePlan plan = PlanFor(*sinks_[i].settings, *rel);
  if (plan.wanted && !plan.grouped) {
    SLUICE_LOG_WARN(
        "sink {}: table {} has no primary key and no group_column_names (or message_grouping is "
        "false): its changes have no per-row ordering",
        sinks_[i].settings->name, rel->QualifiedName());
  }
  return cache.emplace(rel.get(), std::move(plan)).first->second;
}

bool Router::WantsAny(const config::SinkSettings& sink, uint8_t action_bits) {
  for (auto action : {model::Action::kInsert, model::Action::kUpdate, model::Action::kDelete}) {
    if ((action_bits & (1u << static_cast<unsigned>(action))) != 0 && ActionWanted(sink, action)) {
      return true;
    }
  }
  return false;
}

bool Router::ActionWanted(const config::SinkSettings& sink, model::Action action) {
  switch (action) {
    case model::Action::kInsert: return sink.action_insert;
    case model::Action::kUpdate: return sink.action_update;
    case model::Action::kDelete: return sink.action_delete;
    case model::Action::kTruncate: return sink.action_truncate;
    case model::Action::kRead: return true;
  }
  return false;
}

void Router::OnBegin(const std::shared_ptr<const model::TransactionInfo>& txn) {
  seen_in_txn_ = 0;
  skip_changes_ = 0;
  skipping_txn_ = !last_routed_commit_.IsZero() && txn->commit_lsn <= last_routed_commit_;
  if (skipping_txn_) return;
  if (resume_) {
    if (txn->commit_lsn == resume_->ticket->commit_lsn()) {
      ticket_ = std::move(resume_->ticket);
      skip_changes_ = resume_->seen;
      resume_.reset();
      txn_ = txn;
      return;
    }
    // Postgres re-sends an unacknowledged transaction before any later one,
    // so this cannot happen; if it does, stop holding the slot for it.
    SLUICE_LOG_ERROR(
        "transaction with commit LSN {} was not re-sent after a reconnect (next is {}); its {} "
        "queued changes are delivered but no longer hold the slot",
        resume_->ticket->commit_lsn().ToString(), txn->commit_lsn.ToString(), resume_->seen);
    resume_.reset();
    acks_.AbandonOpen();
  }
  ticket_ = acks_.Begin(txn->commit_lsn);
  txn_ = txn;
  reads_in_txn_ = 0;
}

void Router::OnChange(model::Change change) {
  if (skipping_txn_) return;
  ++seen_in_txn_;
  if (skip_changes_ > 0) {
    --skip_changes_;
    return;
  }
  if (!ticket_ || !change.relation) {
    SLUICE_LOG_ERROR("change outside a transaction or without relation; ignored by the router");
    return;
  }
  if (!windows_.empty()) NoteWindowChange(change);
  // Find the wanted sinks first so the common single-sink case moves the change.
  auto& wanted = wanted_scratch_;
  wanted.clear();
  for (size_t i = 0; i < sinks_.size(); ++i) {
    if (!ActionWanted(*sinks_[i].settings, change.action)) continue;
    const TablePlan& plan = PlanCached(i, change.relation);
    if (plan.wanted) wanted.push_back({i, &plan});
  }
  const size_t n = wanted.size();
  if (n == 0) return;
  acks_.AddPending(ticket_, static_cast<int64_t>(n));
  for (size_t k = 0; k < n; ++k) {
    const auto [i, plan_ptr] = wanted[k];
    EnqueueTo(i, *plan_ptr, (k + 1 == n) ? std::move(change) : change);
  }
}

void Router::EnqueueTo(size_t i, const TablePlan& plan, model::Change change) {
  auto message = std::make_unique<delivery::Message>();
  message->id = next_message_id_.fetch_add(1, std::memory_order_relaxed) + 1;
  message->change = std::move(change);
  const model::Change& c = message->change;
  std::optional<std::string> group;
  if (plan.grouped && c.action != model::Action::kTruncate) {
    group = model::GroupKey(c, plan.group_columns);
  }
  if (!group) {
    // Ungrouped: a group of its own, spread over shards by idempotency key.
    message->partition_key = model::IdempotencyKey(c);
    message->group = "#" + std::to_string(message->id);
  } else {
    message->group = std::to_string(c.relation->oid);
    message->group += '/';
    message->group += *group;
    message->partition_key = model::PartitionKeyForGroup(std::move(*group));
  }
  message->ticket = ticket_;
  message->memory_bytes = delivery::Dispatcher::MemoryBytes(*message);
  sinks_[i].runner->Enqueue(std::move(message));
}

void Router::NoteWindowChange(const model::Change& change) {
  auto it = windows_.find(change.relation->oid);
  if (it == windows_.end()) return;
  if (change.action == model::Action::kTruncate) {
    for (Window& w : it->second) w.truncated = true;
    return;
  }
  const model::Relation& rel = *change.relation;
  std::optional<std::string> key;
  if (!change.new_tuple.empty()) key = KeyOf(rel, change.new_tuple);
  std::optional<std::string> old_key;
  if (change.old_tuple) old_key = KeyOf(rel, *change.old_tuple);
  for (Window& w : it->second) {
    const uint8_t bit = static_cast<uint8_t>(1u << static_cast<unsigned>(change.action));
    if (key) w.changed[*key] |= bit;
    if (old_key) w.changed[*old_key] |= bit;
  }
}

void Router::OnBackfillWatermark(std::string_view content) {
  if (skipping_txn_ || pages_ == nullptr || !ticket_) return;
  auto w = ParseWatermark(content);
  if (!w) {
    SLUICE_LOG_WARN("ignoring a malformed backfill watermark: {}", content);
    return;
  }
  if (w->run != pages_->run()) return;  // another run's: its rows are not here
  if (!w->high) {
    auto& list = windows_[w->table_oid];
    for (const Window& open : list) {
      if (open.backfill_id == w->backfill_id && open.page == w->page) return;
    }
    list.push_back(Window{w->backfill_id, w->page, {}, false});
    return;
  }
  EmitPage(*w);
}

void Router::EmitPage(const Watermark& w) {
  std::optional<Window> window;
  if (auto it = windows_.find(w.table_oid); it != windows_.end()) {
    auto& list = it->second;
    for (auto wi = list.begin(); wi != list.end(); ++wi) {
      if (wi->backfill_id == w.backfill_id && wi->page == w.page) {
        window = std::move(*wi);
        list.erase(wi);
        break;
      }
    }
    if (list.empty()) windows_.erase(it);
  }
  auto page = pages_->Take(w.backfill_id, w.page);
  if (!page) return;  // not this run's page any more (cancelled, or already emitted)
  if (!window) {
    // Which rows changed in the window is unknown: send none, read it again.
    emitted_in_txn_.push_back({w.backfill_id, w.page, 0, true});
    return;
  }
  size_t sink = sinks_.size();
  for (size_t i = 0; i < sinks_.size(); ++i) {
    if (sinks_[i].settings->name == page->sink) sink = i;
  }
  uint64_t reads = 0;
  if (sink < sinks_.size() && !window->truncated) {
    const TablePlan& plan = PlanCached(sink, page->relation);
    std::vector<model::Tuple> kept;
    kept.reserve(page->rows.size());
    for (auto& row : page->rows) {
      auto key = KeyOf(*page->relation, row);
      if (key) {
        auto it = window->changed.find(*key);
        if (it != window->changed.end() && WantsAny(*sinks_[sink].settings, it->second)) {
          continue;  // the live change wins
        }
      }
      kept.push_back(std::move(row));
    }
    if (!kept.empty()) acks_.AddPending(ticket_, static_cast<int64_t>(kept.size()));
    for (auto& row : kept) {
      model::Change change;
      change.action = model::Action::kRead;
      change.relation = page->relation;
      change.txn = txn_;
      change.commit_idx = reads_in_txn_++;
      change.backfill_id = w.backfill_id;
      change.new_tuple = std::move(row);
      EnqueueTo(sink, plan, std::move(change));
      ++reads;
    }
  }
  emitted_in_txn_.push_back({w.backfill_id, w.page, reads, false});
}

void Router::OnCommit(Lsn commit_lsn, Lsn end_lsn) {
  if (skipping_txn_) {
    skipping_txn_ = false;
    return;
  }
  if (!ticket_) return;
  acks_.Commit(ticket_, end_lsn);
  ticket_.reset();
  txn_.reset();
  last_routed_commit_ = commit_lsn;
  for (const Emitted& e : emitted_in_txn_) {
    pages_->Emitted(e.backfill_id, e.page, end_lsn, e.reads, e.redo);
  }
  emitted_in_txn_.clear();
}

void Router::OnIdle(Lsn lsn) {
  if (!ticket_) acks_.Idle(lsn);
}

void Router::OnSlotPosition(Lsn confirmed_flush) { acks_.AdvanceRead(confirmed_flush); }

void Router::OnReconnect() {
  // Cut again while still skipping the re-sent part: the changes already
  // taken are those seen plus those still to skip.
  if (ticket_) resume_ = Resume{std::move(ticket_), seen_in_txn_ + skip_changes_};
  ticket_.reset();
  skipping_txn_ = false;
  skip_changes_ = 0;
  seen_in_txn_ = 0;
  // The new session announces its relations again: forget the old layouts.
  for (auto& cache : plans_) cache.clear();
  plan_relations_.clear();
}

void Router::OnWarning(const std::string& table, const std::string& message) {
  SLUICE_LOG_WARN("table {}: {}", table, message);
}

bool Router::WaitForCapacity(std::chrono::milliseconds timeout) {
  return budget_.WaitBelowLimit(timeout);
}

Lsn Router::AcknowledgedLsn() const { return acks_.Acknowledged(); }

}  // namespace sluice::app
