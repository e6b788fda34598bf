// ChangeAssembler: decoded pgoutput messages → model::Change values handed
// to a ChangeHandler, in WAL order.
//
// It keeps the relation cache (Relation messages; a newer message for the same
// OID replaces the entry, while changes already emitted keep the old layout
// through their shared_ptr) and the state of the open transaction: its shared
// TransactionInfo, the next commit_idx, and transaction annotations set by
// logical messages. Transactional backfill watermark messages
// (kBackfillWatermarkPrefix) go to ChangeHandler::OnBackfillWatermark in
// stream order. It also fills unchanged TOAST values from the old row when
// the old row was sent (REPLICA IDENTITY FULL), and fills every cached
// Relation's primary_key (see PrimaryKeyLookup).
//
// Not thread-safe: one replication connection's thread drives it. Pure apart
// from calls into the handler, so tests feed it golden bytes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

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

// Why: pgoutput's Relation message flags the replica identity columns
// (Column::is_key), which is the primary key only for REPLICA IDENTITY
// DEFAULT. A FULL table has every column flagged and a NOTHING table none, so
// for those the assembler asks the database's catalog for the real primary
// key (and, for a DEFAULT table with a composite key, its order). Called from
// the assembler's thread only, once per Relation message of such a table.
class PrimaryKeyLookup {
 public:
  virtual ~PrimaryKeyLookup() = default;
  // The primary key's column names in key order (pg_index.indkey); empty if
  // the table has none. `schema` and `table` name it for messages. An error
  // (the catalog could not be asked) fails the Relation message.
  virtual Result<std::vector<std::string>> PrimaryKeyColumns(uint32_t relation_oid,
                                                             const std::string& schema,
                                                             const std::string& table) = 0;
};

class ChangeAssembler {
 public:
  // `handler` and `primary_keys` must outlive this object. `primary_keys` may
  // be null: FULL and NOTHING tables then have an empty primary_key.
  explicit ChangeAssembler(ChangeHandler& handler, PrimaryKeyLookup* primary_keys = nullptr)
      : handler_(handler), primary_keys_(primary_keys) {}

  // Decodes one XLogData payload and applies it.
  Status Process(std::string_view payload);

  // Applies one decoded message. A Relation message gets its primary_key
  // filled: for REPLICA IDENTITY DEFAULT or INDEX the columns pgoutput flags
  // as key, in column order (DEFAULT with a composite key: in the lookup's key
  // order when it names exactly the flagged columns); for FULL or NOTHING the
  // lookup's columns in key order. A table the catalog gives no primary key
  // has an empty one; a lookup naming a column the relation lacks gives an
  // empty primary_key, a logged warning and handler.OnWarning for the table.
  // A lookup that fails is an error (kNetwork if the lookup's was, else
  // kUnavailable; it names the table and the reason) and the relation is not
  // cached: guessing a key would change grouping and partition keys, so the
  // session must end and ask again. Errors (kProtocol): a change for a
  // relation OID with no preceding Relation message, a tuple whose column
  // count differs from the relation's, a change or Commit outside a
  // transaction, a Begin inside one, or a Commit whose LSN differs from its
  // Begin's.
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
  Result<std::vector<int>> PrimaryKeyOf(const model::Relation& rel);
  // The retryable error for a failed lookup.
  static Error LookupFailed(const model::Relation& rel, const Error& why);
  void WarnNoPrimaryKey(const model::Relation& rel, const std::string& why);

  ChangeHandler& handler_;
  PrimaryKeyLookup* const primary_keys_;  // may be null
  // shared: Change values keep the layout they were decoded with after a
  // Relation message replaces the cache entry.
  std::unordered_map<uint32_t, std::shared_ptr<const model::Relation>> relations_;
  std::unordered_map<uint32_t, pgoutput::TypeMessage> types_;
  std::unordered_set<uint32_t> toast_warned_;  // relation OIDs already warned about
  std::unordered_set<uint32_t> key_warned_;    // likewise, for unusable primary keys
  // shared: every change of the transaction points at it.
  std::shared_ptr<const model::TransactionInfo> txn_;  // null outside a transaction
  uint32_t next_commit_idx_ = 0;
};

}  // namespace sluice::source
