#include "model/encoder.h"

#include <rapidjson/reader.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <string>

#include "base/encoding.h"
#include "model/json_text.h"

namespace sluice::model {
namespace {

const Relation kNoRelation;
const TransactionInfo kNoTransaction;

// One column value after filling an unchanged TOAST value from the old row.
struct FieldText {
  ValueKind kind = ValueKind::kNull;
  std::string_view text;
};

FieldText Resolve(const Tuple& tuple, int index, const Tuple* old) {
  if (index < 0 || static_cast<size_t>(index) >= tuple.size()) return {};
  const size_t i = static_cast<size_t>(index);
  const ValueKind kind = tuple.kind(i);
  if (kind == ValueKind::kText) return {kind, tuple.text(i)};
  if (kind == ValueKind::kUnchangedToast && old != nullptr && i < old->size() &&
      old->kind(i) == ValueKind::kText) {
    return {ValueKind::kText, old->text(i)};
  }
  return {kind, {}};
}

// Calls fn(index) for each primary key column, in key order. Column::is_key
// is not consulted: for a REPLICA IDENTITY FULL table it flags every column.
template <typename F>
void ForEachKeyColumn(const Relation& relation, F fn) {
  for (int i : relation.primary_key) {
    if (i >= 0 && static_cast<size_t>(i) < relation.columns.size()) fn(i);
  }
}

void AppendUint(uint64_t v, std::string* out) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out->append(buf, r.ptr);
}

void AppendInt(int64_t v, std::string* out) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out->append(buf, r.ptr);
}

void AppendFieldValue(uint32_t type_oid, const FieldText& field, std::string* out) {
  switch (field.kind) {
    case ValueKind::kNull: out->append("null"); return;
    case ValueKind::kUnchangedToast: out->append("\"unchanged_toast\""); return;
    case ValueKind::kText: EncodeValue(type_oid, field.text, out); return;
  }
}

void AppendRecord(const Relation& relation, const Tuple& tuple, const Tuple* old,
                  bool key_columns_only, std::string* out) {
  out->push_back('{');
  const size_t n = std::min(tuple.size(), relation.columns.size());
  bool first = true;
  for (size_t i = 0; i < n; ++i) {
    const Column& column = relation.columns[i];
    if (key_columns_only && !column.is_key) continue;
    if (!first) out->push_back(',');
    first = false;
    AppendJsonString(column.name, out);
    out->push_back(':');
    AppendFieldValue(column.type_oid, Resolve(tuple, static_cast<int>(i), old), out);
  }
  out->push_back('}');
}

// Old values of the columns whose value differs between the full old row and
// the new row.
void AppendChangedOldValues(const Relation& relation, const Tuple& new_tuple,
                            const Tuple& old_tuple, std::string* out) {
  out->push_back('{');
  const size_t n = std::min({new_tuple.size(), old_tuple.size(), relation.columns.size()});
  bool first = true;
  for (size_t i = 0; i < n; ++i) {
    const ValueKind new_kind = new_tuple.kind(i);
    const ValueKind old_kind = old_tuple.kind(i);
    if (new_kind == ValueKind::kUnchangedToast || old_kind == ValueKind::kUnchangedToast) continue;
    if (new_kind == old_kind &&
        (new_kind != ValueKind::kText || new_tuple.text(i) == old_tuple.text(i))) {
      continue;
    }
    const Column& column = relation.columns[i];
    if (!first) out->push_back(',');
    first = false;
    AppendJsonString(column.name, out);
    out->push_back(':');
    AppendFieldValue(column.type_oid, Resolve(old_tuple, static_cast<int>(i), nullptr), out);
  }
  out->push_back('}');
}

// Writes v (>= 0) as exactly `width` digits, zero-padded, at p.
void PutDigits(int64_t v, int width, char* p) {
  for (int k = width - 1; k >= 0; --k) {
    p[k] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
}

// Microseconds since the Unix epoch → "YYYY-MM-DDTHH:MM:SS.ffffffZ" (UTC),
// quoted. Years outside 0..9999 are not reachable from a commit time.
void AppendIsoTimestampMicros(int64_t us, std::string* out) {
  constexpr int64_t kUsPerDay = 86'400'000'000;
  int64_t days = us / kUsPerDay;
  int64_t rem = us % kUsPerDay;
  if (rem < 0) {
    rem += kUsPerDay;
    --days;
  }
  // Days since 1970-01-01 → proleptic Gregorian civil date (H. Hinnant's
  // civil_from_days).
  const int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t day = doy - (153 * mp + 2) / 5 + 1;
  const int64_t month = mp < 10 ? mp + 3 : mp - 9;
  int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  if (year < 0 || year > 9999) year = year < 0 ? 0 : 9999;  // clamp: keep the shape

  const int64_t seconds = rem / 1'000'000;
  char b[29] = "\"0000-00-00T00:00:00.000000Z";
  PutDigits(year, 4, b + 1);
  PutDigits(month, 2, b + 6);
  PutDigits(day, 2, b + 9);
  PutDigits(seconds / 3600, 2, b + 12);
  PutDigits(seconds / 60 % 60, 2, b + 15);
  PutDigits(seconds % 60, 2, b + 18);
  PutDigits(rem % 1'000'000, 6, b + 21);
  b[28] = '"';
  out->append(b, 29);
}

// A backfill read (docs/backfill.md): base64("<backfill id>:<record_pks
// values joined by ','>"), NULL as the empty string, so that every read of a
// row in one backfill has the same key (a page read again after a restart
// repeats it). A table without a primary key has no record_pks; its rows are
// told apart by the MD5 of their values instead (identical rows share a key,
// as they share everything else).
void AppendReadIdempotencyKey(const Change& change, std::string* out) {
  const Relation& relation = change.relation ? *change.relation : kNoRelation;
  const Tuple& row = change.new_tuple;
  std::string text = std::to_string(change.backfill_id);
  text.push_back(':');
  if (!relation.primary_key.empty()) {
    bool first = true;
    ForEachKeyColumn(relation, [&](int i) {
      if (!first) text.push_back(',');
      first = false;
      const FieldText field = Resolve(row, i, nullptr);
      if (field.kind == ValueKind::kText) text.append(field.text);
    });
  } else {
    // Each value as kind, length and text, so that no two rows encode alike.
    std::string values;
    for (size_t i = 0; i < row.size(); ++i) {
      if (row.kind(i) == ValueKind::kText) {
        values.append("t").append(std::to_string(row.text(i).size())).push_back(':');
        values.append(row.text(i));
      } else {
        values.push_back('n');
      }
    }
    text.append(Md5Hex(values));
  }
  Base64Append(text, out);
}

void AppendIdempotencyKey(const Change& change, std::string* out) {
  if (change.action == Action::kRead) {
    AppendReadIdempotencyKey(change, out);
    return;
  }
  const TransactionInfo& txn = change.txn ? *change.txn : kNoTransaction;
  // At most 20 digits, ':', 10 digits.
  char buf[40];
  char* p = std::to_chars(buf, buf + 20, txn.commit_lsn.value()).ptr;
  p[0] = ':';
  p = std::to_chars(p + 1, p + 11, change.commit_idx).ptr;
  Base64Append(std::string_view(buf, static_cast<size_t>(p - buf)), out);
}

bool IsValidJson(std::string_view text) {
  rapidjson::Reader reader;
  rapidjson::MemoryStream stream(text.data(), text.size());
  rapidjson::BaseReaderHandler<> handler;
  return !reader.Parse<rapidjson::kParseValidateEncodingFlag>(stream, handler).IsError();
}

void AppendAnnotations(const std::string& annotations, std::string* out) {
  if (annotations.empty()) {
    out->append("null");
  } else if (IsValidJson(annotations)) {
    out->append(annotations);
  } else {
    AppendJsonString(annotations, out);
  }
}

}  // namespace

void EncodeMessage(const Change& change, const EncodeOptions& options, std::string* out) {
  const Relation& relation = change.relation ? *change.relation : kNoRelation;
  const TransactionInfo& txn = change.txn ? *change.txn : kNoTransaction;
  const Tuple* old = change.old_tuple ? &*change.old_tuple : nullptr;
  const bool is_delete = change.action == Action::kDelete;
  const bool is_truncate = change.action == Action::kTruncate;

  // One growth step for the whole message in the common case.
  size_t estimate = 320 + relation.schema.size() + relation.name.size() +
                    options.database_name.size() + options.consumer_name.size() +
                    txn.annotations.size() + relation.columns.size() * 24 +
                    change.new_tuple.data_bytes() * 9 / 8;
  if (old != nullptr) estimate += old->data_bytes() * 9 / 8;
  out->reserve(out->size() + estimate);

  // The row the record and its key come from, and the old row that can fill
  // its unchanged TOAST values.
  const Tuple* row = is_delete ? old : (is_truncate ? nullptr : &change.new_tuple);
  const Tuple* toast_source = is_delete ? nullptr : old;

  out->append("{\"record\":");
  if (is_truncate) {
    out->append("null");
  } else if (row == nullptr) {
    out->append("{}");
  } else {
    const bool key_columns_only = is_delete && !change.old_is_full_row;
    AppendRecord(relation, *row, toast_source, key_columns_only, out);
  }

  out->append(",\"changes\":");
  if (change.action != Action::kUpdate) {
    out->append("null");
  } else if (old != nullptr && change.old_is_full_row) {
    AppendChangedOldValues(relation, change.new_tuple, *old, out);
  } else {
    out->append("{}");
  }

  out->append(",\"action\":\"");
  out->append(ActionName(change.action));
  out->append("\",\"metadata\":{\"table_schema\":");
  AppendJsonString(relation.schema, out);
  out->append(",\"table_name\":");
  AppendJsonString(relation.name, out);
  out->append(",\"commit_timestamp\":");
  if (options.timestamp_style == TimestampStyle::kUnixMicrosecond) {
    AppendInt(txn.commit_time_us, out);
  } else {
    AppendIsoTimestampMicros(txn.commit_time_us, out);
  }
  out->append(",\"commit_lsn\":");
  AppendUint(txn.commit_lsn.value(), out);
  out->append(",\"commit_idx\":");
  AppendUint(change.commit_idx, out);
  out->append(",\"idempotency_key\":\"");
  AppendIdempotencyKey(change, out);
  out->append("\",\"record_pks\":[");
  if (row != nullptr) {
    bool first = true;
    ForEachKeyColumn(relation, [&](int i) {
      if (!first) out->push_back(',');
      first = false;
      const FieldText field = Resolve(*row, i, toast_source);
      if (field.kind == ValueKind::kText) {
        AppendJsonString(field.text, out);
      } else if (field.kind == ValueKind::kUnchangedToast) {
        out->append("\"unchanged_toast\"");
      } else {
        out->append("null");
      }
    });
  }
  out->append("],\"transaction_annotations\":");
  AppendAnnotations(txn.annotations, out);
  out->append(",\"database_name\":");
  AppendJsonString(options.database_name, out);
  out->append(",\"consumer\":{\"name\":");
  AppendJsonString(options.consumer_name, out);
  out->append("}}}");
}

std::string IdempotencyKey(const Change& change) {
  std::string key;
  AppendIdempotencyKey(change, &key);
  return key;
}

std::optional<std::string> GroupKey(const Change& change, const std::vector<int>& group_columns) {
  if (change.action == Action::kTruncate || !change.relation) return std::nullopt;
  const Relation& relation = *change.relation;
  const std::vector<int>& columns = group_columns.empty() ? relation.primary_key : group_columns;
  if (columns.empty()) return std::nullopt;

  const Tuple* row = nullptr;
  const Tuple* toast_source = nullptr;
  bool key_columns_only = false;
  if (!change.new_tuple.empty()) {
    row = &change.new_tuple;
    toast_source = change.old_tuple ? &*change.old_tuple : nullptr;
  } else if (change.old_tuple) {
    row = &*change.old_tuple;
    key_columns_only = !change.old_is_full_row;
  } else {
    return std::nullopt;
  }

  std::string key;
  bool first = true;
  for (int i : columns) {
    if (i < 0 || static_cast<size_t>(i) >= relation.columns.size()) return std::nullopt;
    if (key_columns_only && !relation.columns[static_cast<size_t>(i)].is_key) {
      return std::nullopt;
    }
    const FieldText field = Resolve(*row, i, toast_source);
    if (!first) key.push_back(':');
    first = false;
    if (field.kind == ValueKind::kNull) {
      // Resolve also reports an index past the tuple's end as NULL.
      if (static_cast<size_t>(i) >= row->size()) return std::nullopt;
    } else if (field.kind == ValueKind::kUnchangedToast) {
      return std::nullopt;
    } else {
      key.append(field.text);
    }
  }
  return key;
}

std::string PartitionKeyForGroup(std::string group) {
  if (group.empty() || group.size() > kMaxPartitionKeyBytes) return Md5Hex(group);
  return group;
}

}  // namespace sluice::model
