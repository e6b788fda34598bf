// ChangeAssembler: decoded pgoutput messages → model::Change values handed
// to a ChangeHandler, in WAL order.
//
// It keeps the relation cache (Relation messages; a newer message for the same
// OID replaces the entry, while changes already emitted keep the old layout
// through their shared_ptr) and the state of the open transaction: its shared
// TransactionInfo, the next commit_idx, and transaction annotations set by
// logical messages. It also fills unchanged TOAST values from the old row when
// the old row was sent (REPLICA IDENTITY FULL).
//
// Not thread-safe: one replication connection's thread drives it. Pure apart
// from calls into the handler, so tests feed it golden bytes.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "base/result.h"
#include "model/change.h"
#include "model/relation.h"
#include "source/change_handler.h"
#include "source/pgoutput.h"

namespace sluice::source {

// Logical message prefixes that annotate the following changes of their
// transaction (content: JSON text). `.clear` removes the annotations.
inline constexpr std::string_view kAnnotationsSetPrefixes[] = {
    "sluice:transaction_annotations.set", "sequin:transaction_annotations.set"};
inline constexpr std::string_view kAnnotationsClearPrefixes[] = {
    "sluice:transaction_annotations.clear", "sequin:transaction_annotations.clear"};

class ChangeAssembler {
 public:
  explicit ChangeAssembler(ChangeHandler& handler) : handler_(handler) {}

  // Decodes one XLogData payload and applies it.
  Status Process(std::string_view payload);

  // Applies one decoded message. Errors (kProtocol): a change for a relation
  // OID with no preceding Relation message, a tuple whose column count differs
  // from the relation's, a change or Commit outside a transaction, a Begin
  // inside one, or a Commit whose LSN differs from its Begin's.
  Status Apply(pgoutput::Message message);

  // Forgets the open transaction and the relation and type caches (the server
  // re-sends Relation messages on a new connection). Per-relation warnings
  // already given are remembered.
  void Reset();

  bool InTransaction() const { return txn_ != nullptr; }

  std::shared_ptr<const model::Relation> FindRelation(uint32_t oid) const;
  // A type announced by a Type message (custom types, e.g. enums), or null.
  const pgoutput::TypeMessage* FindType(uint32_t oid) const;

 private:
  Status OnBegin(pgoutput::BeginMessage& m);
  Status OnCommit(pgoutput::CommitMessage& m);
  Status OnRelation(pgoutput::RelationMessage& m);
  Status OnInsert(pgoutput::InsertMessage& m);
  Status OnUpdate(pgoutput::UpdateMessage& m);
  Status OnDelete(pgoutput::DeleteMessage& m);
  Status OnTruncate(pgoutput::TruncateMessage& m);
  Status OnLogicalMessage(pgoutput::LogicalMessage& m);

  // Looks up the relation of a change and checks the transaction is open.
  Result<std::shared_ptr<const model::Relation>> RelationFor(char type, uint32_t oid);
  Status CheckTuple(char type, const model::Relation& rel, const model::Tuple& tuple,
                    std::string_view which) const;
  void Emit(model::Change change);
  void FillUnchangedToast(const model::Relation& rel, model::Change& change);

  ChangeHandler& handler_;
  // shared: Change values keep the layout they were decoded with after a
  // Relation message replaces the cache entry.
  std::unordered_map<uint32_t, std::shared_ptr<const model::Relation>> relations_;
  std::unordered_map<uint32_t, pgoutput::TypeMessage> types_;
  std::unordered_set<uint32_t> toast_warned_;  // relation OIDs already warned about
  // shared: every change of the transaction points at it.
  std::shared_ptr<const model::TransactionInfo> txn_;  // null outside a transaction
  uint32_t next_commit_idx_ = 0;
};

}  // namespace sluice::source
