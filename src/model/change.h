// Change: one committed row change (or truncate) as decoded from the WAL, and
// the tuple layout that carries column values.
//
// Tuple stores every column's bytes in one buffer with offsets: one allocation
// per row, and values are read in place by the encoder (no per-column strings).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/lsn.h"
#include "model/relation.h"

namespace sluice::model {

enum class Action : uint8_t { kInsert, kUpdate, kDelete, kRead, kTruncate };

const char* ActionName(Action action);  // "insert", "update", ...

// pgoutput TupleData column kinds.
enum class ValueKind : uint8_t {
  kNull,            // 'n'
  kUnchangedToast,  // 'u': value not sent because it was not changed
  kText,            // 't': text output of the type's output function
};

class Tuple {
 public:
  struct Field {
    ValueKind kind = ValueKind::kNull;
    uint32_t offset = 0;
    uint32_t length = 0;
  };

  size_t size() const { return fields_.size(); }
  bool empty() const { return fields_.empty(); }
  // Total bytes of column text held (for output size estimates).
  size_t data_bytes() const { return data_.size(); }
  ValueKind kind(size_t i) const { return fields_[i].kind; }
  std::string_view text(size_t i) const {
    return std::string_view(data_).substr(fields_[i].offset, fields_[i].length);
  }

  void Reserve(size_t columns, size_t bytes) {
    fields_.reserve(columns);
    data_.reserve(bytes);
  }
  void AddNull() { fields_.push_back({ValueKind::kNull, 0, 0}); }
  void AddUnchangedToast() { fields_.push_back({ValueKind::kUnchangedToast, 0, 0}); }
  void AddText(std::string_view v) {
    fields_.push_back(
        {ValueKind::kText, static_cast<uint32_t>(data_.size()), static_cast<uint32_t>(v.size())});
    data_.append(v);
  }
  // Replaces field i (used to fill unchanged TOAST values from the old row).
  void SetText(size_t i, std::string_view v) {
    fields_[i] = {ValueKind::kText, static_cast<uint32_t>(data_.size()),
                  static_cast<uint32_t>(v.size())};
    data_.append(v);
  }

  // Approximate heap footprint, for memory accounting.
  size_t ByteSize() const { return data_.capacity() + fields_.capacity() * sizeof(Field); }

 private:
  std::vector<Field> fields_;
  std::string data_;
};

// Commit-level facts shared by every change of one transaction.
struct TransactionInfo {
  Lsn commit_lsn;              // LSN of the commit record (Begin's final_lsn)
  int64_t commit_time_us = 0;  // microseconds since the Unix epoch
  uint32_t xid = 0;
  // JSON text set by a 'sluice:transaction_annotations.set' message, or empty.
  std::string annotations;
};

struct Change {
  Action action = Action::kInsert;
  // shared: the relation cache replaces its entry on a schema change while
  // earlier changes that point at the old layout are still waiting delivery.
  std::shared_ptr<const Relation> relation;
  std::shared_ptr<const TransactionInfo> txn;
  uint32_t commit_idx = 0;  // position of this change within its transaction
  // Backfill reads (Action::kRead): the backfill's id, for the idempotency
  // key (base64("<backfill id>:<record_pks joined by ','>")). 0 otherwise.
  uint64_t backfill_id = 0;
  Tuple new_tuple;  // insert, update (empty for delete/truncate)
  // update/delete: old key columns ('K') or the whole old row ('O'), if sent.
  std::optional<Tuple> old_tuple;
  bool old_is_full_row = false;

  size_t ByteSize() const {
    return sizeof(Change) + new_tuple.ByteSize() + (old_tuple ? old_tuple->ByteSize() : 0);
  }
};

}  // namespace sluice::model
