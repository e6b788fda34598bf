#include "source/change_assembler.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <utility>

#include "base/log.h"

namespace sluice::source {
namespace {

template <size_t N>
bool PrefixIn(std::string_view prefix, const std::string_view (&list)[N]) {
  return std::find(std::begin(list), std::end(list), prefix) != std::end(list);
}

// Minimal RFC 8259 validator (no DOM, bounded nesting) for annotation text,
// which the encoder embeds verbatim. Returns an empty string if `text` is one
// valid JSON value, else what is wrong and where.
class JsonValidator {
 public:
  explicit JsonValidator(std::string_view text) : s_(text) {}

  std::string Check() {
    SkipSpace();
    if (!Value(0)) return Problem();
    SkipSpace();
    if (pos_ != s_.size()) {
      why_ = "unexpected text after the value";
      return Problem();
    }
    return {};
  }

 private:
  static constexpr int kMaxDepth = 64;

  std::string Problem() const { return fmt::format("{} at offset {}", why_, pos_); }
  bool Fail(const char* why) {
    why_ = why;
    return false;
  }
  bool AtEnd() const { return pos_ >= s_.size(); }
  char Peek() const { return AtEnd() ? '\0' : s_[pos_]; }
  void SkipSpace() {
    while (!AtEnd() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) {
      ++pos_;
    }
  }
  bool Literal(std::string_view word) {
    if (s_.substr(pos_, word.size()) != word) return Fail("invalid literal");
    pos_ += word.size();
    return true;
  }
  bool Digits() {
    if (AtEnd() || !std::isdigit(static_cast<unsigned char>(s_[pos_]))) {
      return Fail("digit expected");
    }
    while (!AtEnd() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) ++pos_;
    return true;
  }
  bool Number() {
    if (Peek() == '-') ++pos_;
    if (Peek() == '0') {
      ++pos_;
    } else if (!Digits()) {
      return false;
    }
    if (Peek() == '.') {
      ++pos_;
      if (!Digits()) return false;
    }
    if (Peek() == 'e' || Peek() == 'E') {
      ++pos_;
      if (Peek() == '+' || Peek() == '-') ++pos_;
      if (!Digits()) return false;
    }
    return true;
  }
  bool String() {
    ++pos_;  // opening quote
    while (!AtEnd()) {
      const unsigned char c = static_cast<unsigned char>(s_[pos_]);
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (c < 0x20) return Fail("control character in string");
      if (c == '\\') {
        ++pos_;
        const char e = Peek();
        if (e == 'u') {
          for (int i = 1; i <= 4; ++i) {
            if (pos_ + i >= s_.size() || !std::isxdigit(static_cast<unsigned char>(s_[pos_ + i]))) {
              return Fail("bad \\u escape");
            }
          }
          pos_ += 4;
        } else if (std::string_view("\"\\/bfnrt").find(e) == std::string_view::npos || AtEnd()) {
          return Fail("bad escape");
        }
      }
      ++pos_;
    }
    return Fail("unterminated string");
  }
  bool Value(int depth) {
    if (depth > kMaxDepth) return Fail("nested too deeply");
    switch (Peek()) {
      case '{': return Container(depth, '}', /*object=*/true);
      case '[': return Container(depth, ']', /*object=*/false);
      case '"': return String();
      case 't': return Literal("true");
      case 'f': return Literal("false");
      case 'n': return Literal("null");
      default:
        if (Peek() == '-' || std::isdigit(static_cast<unsigned char>(Peek()))) return Number();
        return Fail(AtEnd() ? "value expected, text ended" : "value expected");
    }
  }
  bool Container(int depth, char close, bool object) {
    ++pos_;
    SkipSpace();
    if (Peek() == close) {
      ++pos_;
      return true;
    }
    while (true) {
      SkipSpace();
      if (object) {
        if (Peek() != '"') return Fail("object key expected");
        if (!String()) return false;
        SkipSpace();
        if (Peek() != ':') return Fail("':' expected");
        ++pos_;
        SkipSpace();
      }
      if (!Value(depth + 1)) return false;
      SkipSpace();
      if (Peek() == ',') {
        ++pos_;
        continue;
      }
      if (Peek() == close) {
        ++pos_;
        return true;
      }
      return Fail(object ? "',' or '}' expected" : "',' or ']' expected");
    }
  }

  std::string_view s_;
  size_t pos_ = 0;
  const char* why_ = "";
};

std::string JsonError(std::string_view text) { return JsonValidator(text).Check(); }

}  // namespace

Status ChangeAssembler::Process(std::string_view payload) {
  SLUICE_ASSIGN_OR_RETURN(pgoutput::Message m, pgoutput::Decode(payload));
  return Apply(std::move(m));
}

Status ChangeAssembler::Apply(pgoutput::Message message) {
  return std::visit(
      [this](auto& m) -> Status {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, pgoutput::BeginMessage>)
          return OnBegin(m);
        else if constexpr (std::is_same_v<T, pgoutput::CommitMessage>)
          return OnCommit(m);
        else if constexpr (std::is_same_v<T, pgoutput::OriginMessage>)
          return OkStatus();
        else if constexpr (std::is_same_v<T, pgoutput::RelationMessage>)
          return OnRelation(m);
        else if constexpr (std::is_same_v<T, pgoutput::TypeMessage>) {
          const uint32_t oid = m.oid;
          types_.insert_or_assign(oid, std::move(m));
          return OkStatus();
        } else if constexpr (std::is_same_v<T, pgoutput::InsertMessage>)
          return OnInsert(m);
        else if constexpr (std::is_same_v<T, pgoutput::UpdateMessage>)
          return OnUpdate(m);
        else if constexpr (std::is_same_v<T, pgoutput::DeleteMessage>)
          return OnDelete(m);
        else if constexpr (std::is_same_v<T, pgoutput::TruncateMessage>)
          return OnTruncate(m);
        else
          return OnLogicalMessage(m);
      },
      message);
}

void ChangeAssembler::Reset() {
  txn_.reset();
  next_commit_idx_ = 0;
  relations_.clear();
  types_.clear();
}

std::shared_ptr<const model::Relation> ChangeAssembler::FindRelation(uint32_t oid) const {
  auto it = relations_.find(oid);
  return it == relations_.end() ? nullptr : it->second;
}

const pgoutput::TypeMessage* ChangeAssembler::FindType(uint32_t oid) const {
  auto it = types_.find(oid);
  return it == types_.end() ? nullptr : &it->second;
}

Status ChangeAssembler::OnBegin(pgoutput::BeginMessage& m) {
  if (txn_) {
    return Error(ErrorCode::kProtocol,
                 fmt::format("pgoutput Begin (xid {}, final LSN {}) while transaction xid {} is "
                             "still open",
                             m.xid, m.final_lsn.ToString(), txn_->xid));
  }
  auto txn = std::make_shared<model::TransactionInfo>();
  txn->commit_lsn = m.final_lsn;
  txn->commit_time_us = m.commit_time_us;
  txn->xid = m.xid;
  txn_ = std::move(txn);
  next_commit_idx_ = 0;
  handler_.OnBegin(txn_);
  return OkStatus();
}

Status ChangeAssembler::OnCommit(pgoutput::CommitMessage& m) {
  if (!txn_) {
    return Error(ErrorCode::kProtocol,
                 fmt::format("pgoutput Commit (commit LSN {}) without a preceding Begin",
                             m.commit_lsn.ToString()));
  }
  if (m.commit_lsn != txn_->commit_lsn) {
    return Error(ErrorCode::kProtocol,
                 fmt::format("pgoutput Commit LSN {} differs from its Begin's final LSN {} "
                             "(xid {})",
                             m.commit_lsn.ToString(), txn_->commit_lsn.ToString(), txn_->xid));
  }
  txn_.reset();
  handler_.OnCommit(m.commit_lsn, m.end_lsn);
  return OkStatus();
}

Status ChangeAssembler::OnRelation(pgoutput::RelationMessage& m) {
  const uint32_t oid = m.relation.oid;
  SLUICE_ASSIGN_OR_RETURN(m.relation.primary_key, PrimaryKeyOf(m.relation));
  relations_.insert_or_assign(oid, std::make_shared<const model::Relation>(std::move(m.relation)));
  return OkStatus();
}

Result<std::vector<int>> ChangeAssembler::PrimaryKeyOf(const model::Relation& rel) {
  std::vector<int> key;
  if (rel.replica_identity == model::ReplicaIdentity::kDefault ||
      rel.replica_identity == model::ReplicaIdentity::kIndex) {
    for (size_t i = 0; i < rel.columns.size(); ++i) {
      if (rel.columns[i].is_key) key.push_back(static_cast<int>(i));
    }
    // pgoutput flags key columns in table order; the group follows the
    // primary key's own order (SPEC §3), which the catalog knows. Use it
    // when it names exactly the flagged columns (DEFAULT identity is the
    // primary key); otherwise keep the flags' order.
    if (rel.replica_identity == model::ReplicaIdentity::kDefault && key.size() > 1 &&
        primary_keys_ != nullptr) {
      auto names = primary_keys_->PrimaryKeyColumns(rel.oid, rel.schema, rel.name);
      if (!names.ok()) return LookupFailed(rel, names.error());
      if (names->size() == key.size()) {
        std::vector<int> ordered;
        for (const std::string& name : *names) {
          auto it = std::find_if(rel.columns.begin(), rel.columns.end(),
                                 [&](const model::Column& c) { return c.name == name; });
          if (it == rel.columns.end() || !it->is_key) break;
          ordered.push_back(static_cast<int>(it - rel.columns.begin()));
        }
        if (ordered.size() == key.size()) return ordered;
      }
    }
    return key;
  }
  // FULL flags every column as key and NOTHING none: ask the catalog.
  if (primary_keys_ == nullptr) return key;
  Result<std::vector<std::string>> names =
      primary_keys_->PrimaryKeyColumns(rel.oid, rel.schema, rel.name);
  if (!names.ok()) return LookupFailed(rel, names.error());
  for (const std::string& name : *names) {
    auto it = std::find_if(rel.columns.begin(), rel.columns.end(),
                           [&](const model::Column& c) { return c.name == name; });
    if (it == rel.columns.end()) {
      // The catalog is newer than this Relation message (a column renamed
      // or dropped since); a partial key would group rows wrongly.
      WarnNoPrimaryKey(rel, fmt::format("primary key column \"{}\" is not among the columns "
                                        "the replication stream sent",
                                        name));
      return std::vector<int>{};
    }
    key.push_back(static_cast<int>(it - rel.columns.begin()));
  }
  return key;
}

Error ChangeAssembler::LookupFailed(const model::Relation& rel, const Error& why) {
  // Retryable: the session ends, and the new one's Relation message asks again.
  return Error(why.code() == ErrorCode::kNetwork ? ErrorCode::kNetwork : ErrorCode::kUnavailable,
               fmt::format("cannot look up the primary key of table {} (OID {}), which its "
                           "changes are grouped and ordered by: {}",
                           rel.QualifiedName(), rel.oid, why.message()));
}

void ChangeAssembler::WarnNoPrimaryKey(const model::Relation& rel, const std::string& why) {
  const std::string message = fmt::format(
      "could not determine the primary key of table {} (OID {}, REPLICA IDENTITY {}): {}; its "
      "changes are delivered without a group, so they have no per-row ordering",
      rel.QualifiedName(), rel.oid,
      rel.replica_identity == model::ReplicaIdentity::kFull ? "FULL" : "NOTHING", why);
  SLUICE_LOG_WARN("{}", message);
  if (key_warned_.insert(rel.oid).second) handler_.OnWarning(rel.QualifiedName(), message);
}

Result<std::shared_ptr<const model::Relation>> ChangeAssembler::RelationFor(char type,
                                                                            uint32_t oid) {
  if (!txn_) {
    return Error(ErrorCode::kProtocol,
                 fmt::format("pgoutput {} for relation OID {} outside a transaction (no Begin)",
                             pgoutput::MessageTypeName(type), oid));
  }
  auto rel = FindRelation(oid);
  if (!rel) {
    return Error(ErrorCode::kProtocol,
                 fmt::format("pgoutput {} refers to unknown relation OID {} (no Relation "
                             "message for it on this connection)",
                             pgoutput::MessageTypeName(type), oid));
  }
  return rel;
}

Status ChangeAssembler::CheckTuple(char type, const model::Relation& rel, const model::Tuple& tuple,
                                   std::string_view which) const {
  if (tuple.size() == rel.columns.size()) return OkStatus();
  return Error(ErrorCode::kProtocol,
               fmt::format("pgoutput {} on {}: {} has {} columns, the relation has {}",
                           pgoutput::MessageTypeName(type), rel.QualifiedName(), which,
                           tuple.size(), rel.columns.size()));
}

void ChangeAssembler::Emit(model::Change change) {
  change.txn = txn_;
  change.commit_idx = next_commit_idx_++;
  handler_.OnChange(std::move(change));
}

void ChangeAssembler::FillUnchangedToast(const model::Relation& rel, model::Change& change) {
  model::Tuple& tuple = change.new_tuple;
  bool missing = false;
  for (size_t i = 0; i < tuple.size(); ++i) {
    if (tuple.kind(i) != model::ValueKind::kUnchangedToast) continue;
    if (change.old_tuple && change.old_is_full_row &&
        change.old_tuple->kind(i) == model::ValueKind::kText) {
      tuple.SetText(i, change.old_tuple->text(i));
    } else {
      missing = true;
    }
  }
  if (missing && toast_warned_.insert(rel.oid).second) {
    handler_.OnWarning(rel.QualifiedName(),
                       "an update left a large (TOASTed) column unchanged and the old row was "
                       "not sent, so its value is delivered as \"unchanged_toast\"; set "
                       "REPLICA IDENTITY FULL on the table to receive the value");
  }
}

Status ChangeAssembler::OnInsert(pgoutput::InsertMessage& m) {
  SLUICE_ASSIGN_OR_RETURN(auto rel, RelationFor('I', m.relation_oid));
  SLUICE_RETURN_IF_ERROR(CheckTuple('I', *rel, m.new_tuple, "new tuple"));
  model::Change change;
  change.action = model::Action::kInsert;
  change.relation = std::move(rel);
  change.new_tuple = std::move(m.new_tuple);
  Emit(std::move(change));
  return OkStatus();
}

Status ChangeAssembler::OnUpdate(pgoutput::UpdateMessage& m) {
  SLUICE_ASSIGN_OR_RETURN(auto rel, RelationFor('U', m.relation_oid));
  SLUICE_RETURN_IF_ERROR(CheckTuple('U', *rel, m.new_tuple, "new tuple"));
  if (m.old_tuple) SLUICE_RETURN_IF_ERROR(CheckTuple('U', *rel, *m.old_tuple, "old tuple"));
  model::Change change;
  change.action = model::Action::kUpdate;
  change.new_tuple = std::move(m.new_tuple);
  change.old_tuple = std::move(m.old_tuple);
  change.old_is_full_row = m.old_kind == pgoutput::OldTuple::kFullRow;
  FillUnchangedToast(*rel, change);
  change.relation = std::move(rel);
  Emit(std::move(change));
  return OkStatus();
}

Status ChangeAssembler::OnDelete(pgoutput::DeleteMessage& m) {
  SLUICE_ASSIGN_OR_RETURN(auto rel, RelationFor('D', m.relation_oid));
  SLUICE_RETURN_IF_ERROR(CheckTuple('D', *rel, m.old_tuple, "old tuple"));
  model::Change change;
  change.action = model::Action::kDelete;
  change.relation = std::move(rel);
  change.old_tuple = std::move(m.old_tuple);
  change.old_is_full_row = m.old_kind == pgoutput::OldTuple::kFullRow;
  Emit(std::move(change));
  return OkStatus();
}

Status ChangeAssembler::OnTruncate(pgoutput::TruncateMessage& m) {
  // Resolve every relation first so a bad OID emits nothing.
  std::vector<std::shared_ptr<const model::Relation>> rels;
  rels.reserve(m.relation_oids.size());
  for (uint32_t oid : m.relation_oids) {
    SLUICE_ASSIGN_OR_RETURN(auto rel, RelationFor('T', oid));
    rels.push_back(std::move(rel));
  }
  for (auto& rel : rels) {
    model::Change change;
    change.action = model::Action::kTruncate;
    change.relation = std::move(rel);
    Emit(std::move(change));
  }
  return OkStatus();
}

Status ChangeAssembler::OnLogicalMessage(pgoutput::LogicalMessage& m) {
  if (m.prefix == kBackfillWatermarkPrefix) {
    if (!m.transactional || !txn_) {
      SLUICE_LOG_WARN(
          "ignoring non-transactional logical message with prefix '{}': a backfill watermark "
          "is only meaningful in the transaction order of the stream "
          "(pg_logical_emit_message(true, ...))",
          m.prefix);
      return OkStatus();
    }
    handler_.OnBackfillWatermark(m.content);
    return OkStatus();
  }
  const bool set = PrefixIn(m.prefix, kAnnotationsSetPrefixes);
  const bool clear = PrefixIn(m.prefix, kAnnotationsClearPrefixes);
  if (!set && !clear) return OkStatus();  // someone else's message
  if (!m.transactional || !txn_) {
    SLUICE_LOG_WARN(
        "ignoring non-transactional logical message with prefix '{}': "
        "annotations apply only to the transaction that emits them "
        "(pg_logical_emit_message(true, ...))",
        m.prefix);
    return OkStatus();
  }
  std::string annotations;
  if (set) {
    std::string why = JsonError(m.content);
    if (!why.empty()) {
      SLUICE_LOG_WARN(
          "ignoring transaction annotations of xid {} (prefix '{}'): content is not "
          "valid JSON: {}",
          txn_->xid, m.prefix, why);
      return OkStatus();
    }
    annotations = std::move(m.content);
  }
  auto txn = std::make_shared<model::TransactionInfo>(*txn_);
  txn->annotations = std::move(annotations);
  txn_ = std::move(txn);
  return OkStatus();
}

}  // namespace sluice::source
