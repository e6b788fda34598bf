#include "source/pgoutput.h"

#include <fmt/format.h>

#include <utility>

namespace sluice::source::pgoutput {
namespace {

// Names the field being read, for error messages. Formatted only when an
// error is built: the reader runs per column of every row, so it must not
// format strings on the success path.
class Field {
 public:
  Field(const char* name) : prefix_(name) {}         // NOLINT: implicit by design
  Field(std::string_view name) : prefix_(name) {}    // NOLINT
  Field(const std::string& name) : prefix_(name) {}  // NOLINT
  Field(std::string_view tuple, int column, const char* part)
      : prefix_(tuple), column_(column), part_(part) {}

  std::string ToString() const {
    std::string s(prefix_);
    if (column_ >= 0) s += fmt::format(" column {}", column_);
    if (part_ != nullptr) {
      s += ' ';
      s += part_;
    }
    return s;
  }

 private:
  std::string_view prefix_;
  int column_ = -1;
  const char* part_ = nullptr;
};

// Bounds-checked big-endian reader over one message. Every failure names the
// message type, the field being read and the offset where it starts.
class Reader {
 public:
  Reader(std::string_view data, char type) : data_(data), type_(type) {}

  size_t offset() const { return pos_; }
  size_t remaining() const { return data_.size() - pos_; }

  Error Fail(const Field& field, std::string_view what) const { return FailAt(pos_, field, what); }
  Error FailAt(size_t at, const Field& field, std::string_view what) const {
    return Error(ErrorCode::kProtocol,
                 fmt::format("pgoutput {} ('{}') message: {} at offset {}: {}",
                             MessageTypeName(type_), PrintableType(), field.ToString(), at, what));
  }

  Result<uint8_t> U8(const Field& field) {
    if (remaining() < 1) return Truncated(field, 1);
    return static_cast<uint8_t>(data_[pos_++]);
  }
  Result<uint16_t> U16(const Field& field) {
    if (remaining() < 2) return Truncated(field, 2);
    uint16_t v = static_cast<uint16_t>((Byte(0) << 8) | Byte(1));
    pos_ += 2;
    return v;
  }
  Result<uint32_t> U32(const Field& field) {
    if (remaining() < 4) return Truncated(field, 4);
    uint32_t v = (Byte(0) << 24) | (Byte(1) << 16) | (Byte(2) << 8) | Byte(3);
    pos_ += 4;
    return v;
  }
  Result<uint64_t> U64(const Field& field) {
    if (remaining() < 8) return Truncated(field, 8);
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | Byte(i);
    pos_ += 8;
    return v;
  }
  Result<int64_t> I64(const Field& field) {
    SLUICE_ASSIGN_OR_RETURN(uint64_t v, U64(field));
    return static_cast<int64_t>(v);
  }
  Result<Lsn> ReadLsn(const Field& field) {
    SLUICE_ASSIGN_OR_RETURN(uint64_t v, U64(field));
    return Lsn(v);
  }
  // Null-terminated string.
  Result<std::string> CString(const Field& field) {
    size_t end = data_.find('\0', pos_);
    if (end == std::string_view::npos) {
      return Fail(field, "string has no terminating zero byte before the end of the message");
    }
    std::string s(data_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return s;
  }
  Result<std::string_view> Bytes(const Field& field, size_t n) {
    if (remaining() < n) return Truncated(field, n);
    std::string_view s = data_.substr(pos_, n);
    pos_ += n;
    return s;
  }

  Status ExpectEnd() const {
    if (remaining() == 0) return OkStatus();
    return Fail("end of message", fmt::format("{} unexpected trailing byte(s)", remaining()));
  }

 private:
  uint32_t Byte(size_t i) const { return static_cast<uint8_t>(data_[pos_ + i]); }
  Error Truncated(const Field& field, size_t need) const {
    return Fail(field,
                fmt::format("message truncated: need {} byte(s), {} remain", need, remaining()));
  }
  std::string PrintableType() const {
    if (type_ >= 0x20 && type_ < 0x7f) return std::string(1, type_);
    return fmt::format("\\x{:02x}", static_cast<uint8_t>(type_));
  }

  std::string_view data_;
  char type_;
  size_t pos_ = 0;
};

// TupleData: Int16 column count, then per column a kind byte and, for 't',
// an Int32 length and the bytes. Validated in a first pass so the Tuple's
// buffer is allocated once at its exact size.
Result<model::Tuple> ReadTuple(Reader& r, std::string_view field) {
  SLUICE_ASSIGN_OR_RETURN(uint16_t ncols, r.U16(Field(field, -1, "column count")));
  size_t text_bytes = 0;
  {
    Reader probe = r;
    for (uint16_t i = 0; i < ncols; ++i) {
      const size_t at = probe.offset();
      SLUICE_ASSIGN_OR_RETURN(uint8_t kind, probe.U8(Field(field, i, "kind")));
      switch (kind) {
        case 'n':
        case 'u': break;
        case 't': {
          SLUICE_ASSIGN_OR_RETURN(uint32_t len, probe.U32(Field(field, i, "length")));
          if (len > 0x7fffffffu) {
            return probe.FailAt(at, Field(field, i, nullptr),
                                fmt::format("negative value length {}", static_cast<int32_t>(len)));
          }
          SLUICE_RETURN_IF_ERROR(probe.Bytes(Field(field, i, "value"), len));
          text_bytes += len;
          break;
        }
        case 'b':
          return probe.FailAt(at, Field(field, i, nullptr),
                              "binary column value ('b') received; sluice requests text format "
                              "and cannot decode binary values");
        default:
          return probe.FailAt(at, Field(field, i, "kind"),
                              fmt::format("unknown column kind byte 0x{:02x}", kind));
      }
    }
  }
  model::Tuple tuple;
  tuple.Reserve(ncols, text_bytes);
  for (uint16_t i = 0; i < ncols; ++i) {
    // Already validated above: these reads cannot fail.
    uint8_t kind = *r.U8("");
    if (kind == 'n') {
      tuple.AddNull();
    } else if (kind == 'u') {
      tuple.AddUnchangedToast();
    } else {
      uint32_t len = *r.U32("");
      tuple.AddText(*r.Bytes("", len));
    }
  }
  return tuple;
}

Result<Message> DecodeBegin(Reader& r) {
  BeginMessage m;
  SLUICE_ASSIGN_OR_RETURN(m.final_lsn, r.ReadLsn("final LSN"));
  SLUICE_ASSIGN_OR_RETURN(int64_t ts, r.I64("commit timestamp"));
  m.commit_time_us = PostgresToUnixMicros(ts);
  SLUICE_ASSIGN_OR_RETURN(m.xid, r.U32("xid"));
  SLUICE_RETURN_IF_ERROR(r.ExpectEnd());
  return Message(std::move(m));
}

Result<Message> DecodeCommit(Reader& r) {
  CommitMessage m;
  SLUICE_ASSIGN_OR_RETURN(m.flags, r.U8("flags"));
  SLUICE_ASSIGN_OR_RETURN(m.commit_lsn, r.ReadLsn("commit LSN"));
  SLUICE_ASSIGN_OR_RETURN(m.end_lsn, r.ReadLsn("end LSN"));
  SLUICE_ASSIGN_OR_RETURN(int64_t ts, r.I64("commit timestamp"));
  m.commit_time_us = PostgresToUnixMicros(ts);
  SLUICE_RETURN_IF_ERROR(r.ExpectEnd());
  return Message(std::move(m));
}

Result<Message> DecodeOrigin(Reader& r) {
  OriginMessage m;
  SLUICE_ASSIGN_OR_RETURN(m.commit_lsn, r.ReadLsn("commit LSN"));
  SLUICE_ASSIGN_OR_RETURN(m.name, r.CString("origin name"));
  SLUICE_RETURN_IF_ERROR(r.ExpectEnd());
  return Message(std::move(m));
}

Result<Message> DecodeRelation(Reader& r) {
  RelationMessage m;
  model::Relation& rel = m.relation;
  SLUICE_ASSIGN_OR_RETURN(rel.oid, r.U32("relation OID"));
  SLUICE_ASSIGN_OR_RETURN(rel.schema, r.CString("namespace"));
  SLUICE_ASSIGN_OR_RETURN(rel.name, r.CString("relation name"));
  const size_t ident_at = r.offset();
  SLUICE_ASSIGN_OR_RETURN(uint8_t ident, r.U8("replica identity"));
  switch (ident) {
    case 'd': rel.replica_identity = model::ReplicaIdentity::kDefault; break;
    case 'n': rel.replica_identity = model::ReplicaIdentity::kNothing; break;
    case 'f': rel.replica_identity = model::ReplicaIdentity::kFull; break;
    case 'i': rel.replica_identity = model::ReplicaIdentity::kIndex; break;
    default:
      return r.FailAt(ident_at, "replica identity",
                      fmt::format("unknown replica identity byte 0x{:02x}", ident));
  }
  SLUICE_ASSIGN_OR_RETURN(uint16_t ncols, r.U16("column count"));
  // A column takes at least 10 bytes; never reserve more than could follow.
  rel.columns.reserve(std::min<size_t>(ncols, r.remaining() / 10));
  for (uint16_t i = 0; i < ncols; ++i) {
    model::Column col;
    SLUICE_ASSIGN_OR_RETURN(uint8_t flags, r.U8(fmt::format("column {} flags", i)));
    col.is_key = (flags & 1) != 0;
    SLUICE_ASSIGN_OR_RETURN(col.name, r.CString(fmt::format("column {} name", i)));
    SLUICE_ASSIGN_OR_RETURN(col.type_oid, r.U32(fmt::format("column {} type OID", i)));
    SLUICE_ASSIGN_OR_RETURN(uint32_t typmod, r.U32(fmt::format("column {} type modifier", i)));
    col.type_modifier = static_cast<int32_t>(typmod);
    rel.columns.push_back(std::move(col));
  }
  SLUICE_RETURN_IF_ERROR(r.ExpectEnd());
  return Message(std::move(m));
}

Result<Message> DecodeType(Reader& r) {
  TypeMessage m;
  SLUICE_ASSIGN_OR_RETURN(m.oid, r.U32("type OID"));
  SLUICE_ASSIGN_OR_RETURN(m.schema, r.CString("namespace"));
  SLUICE_ASSIGN_OR_RETURN(m.name, r.CString("type name"));
  SLUICE_RETURN_IF_ERROR(r.ExpectEnd());
  return Message(std::move(m));
}

Status ExpectTag(Reader& r, char expected, std::string_view field) {
  const size_t at = r.offset();
  SLUICE_ASSIGN_OR_RETURN(uint8_t tag, r.U8(field));
  if (tag != static_cast<uint8_t>(expected)) {
    return r.FailAt(at, field, fmt::format("expected '{}', got byte 0x{:02x}", expected, tag));
  }
  return OkStatus();
}

Result<Message> DecodeInsert(Reader& r) {
  InsertMessage m;
  SLUICE_ASSIGN_OR_RETURN(m.relation_oid, r.U32("relation OID"));
  SLUICE_RETURN_IF_ERROR(ExpectTag(r, 'N', "new tuple marker"));
  SLUICE_ASSIGN_OR_RETURN(m.new_tuple, ReadTuple(r, "new tuple"));
  SLUICE_RETURN_IF_ERROR(r.ExpectEnd());
  return Message(std::move(m));
}

Result<Message> DecodeUpdate(Reader& r) {
  UpdateMessage m;
  SLUICE_ASSIGN_OR_RETURN(m.relation_oid, r.U32("relation OID"));
  const size_t tag_at = r.offset();
  SLUICE_ASSIGN_OR_RETURN(uint8_t tag, r.U8("tuple marker"));
  if (tag == 'K' || tag == 'O') {
    m.old_kind = tag == 'K' ? OldTuple::kKey : OldTuple::kFullRow;
    SLUICE_ASSIGN_OR_RETURN(m.old_tuple, ReadTuple(r, tag == 'K' ? "old key tuple" : "old tuple"));
    SLUICE_RETURN_IF_ERROR(ExpectTag(r, 'N', "new tuple marker"));
  } else if (tag != 'N') {
    return r.FailAt(tag_at, "tuple marker",
                    fmt::format("expected 'K', 'O' or 'N', got byte 0x{:02x}", tag));
  }
  SLUICE_ASSIGN_OR_RETURN(m.new_tuple, ReadTuple(r, "new tuple"));
  SLUICE_RETURN_IF_ERROR(r.ExpectEnd());
  return Message(std::move(m));
}

Result<Message> DecodeDelete(Reader& r) {
  DeleteMessage m;
  SLUICE_ASSIGN_OR_RETURN(m.relation_oid, r.U32("relation OID"));
  const size_t tag_at = r.offset();
  SLUICE_ASSIGN_OR_RETURN(uint8_t tag, r.U8("old tuple marker"));
  if (tag != 'K' && tag != 'O') {
    return r.FailAt(tag_at, "old tuple marker",
                    fmt::format("expected 'K' or 'O', got byte 0x{:02x}", tag));
  }
  m.old_kind = tag == 'K' ? OldTuple::kKey : OldTuple::kFullRow;
  SLUICE_ASSIGN_OR_RETURN(m.old_tuple, ReadTuple(r, tag == 'K' ? "old key tuple" : "old tuple"));
  SLUICE_RETURN_IF_ERROR(r.ExpectEnd());
  return Message(std::move(m));
}

Result<Message> DecodeTruncate(Reader& r) {
  TruncateMessage m;
  const size_t count_at = r.offset();
  SLUICE_ASSIGN_OR_RETURN(uint32_t count, r.U32("relation count"));
  SLUICE_ASSIGN_OR_RETURN(m.options, r.U8("options"));
  if (count > r.remaining() / 4) {
    return r.FailAt(count_at, "relation count",
                    fmt::format("{} relations need {} bytes, {} remain", count,
                                static_cast<uint64_t>(count) * 4, r.remaining()));
  }
  m.relation_oids.reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    SLUICE_ASSIGN_OR_RETURN(uint32_t oid, r.U32(fmt::format("relation {} OID", i)));
    m.relation_oids.push_back(oid);
  }
  SLUICE_RETURN_IF_ERROR(r.ExpectEnd());
  return Message(std::move(m));
}

Result<Message> DecodeLogicalMessage(Reader& r) {
  LogicalMessage m;
  SLUICE_ASSIGN_OR_RETURN(uint8_t flags, r.U8("flags"));
  m.transactional = (flags & 1) != 0;
  SLUICE_ASSIGN_OR_RETURN(m.lsn, r.ReadLsn("LSN"));
  SLUICE_ASSIGN_OR_RETURN(m.prefix, r.CString("prefix"));
  const size_t len_at = r.offset();
  SLUICE_ASSIGN_OR_RETURN(uint32_t len, r.U32("content length"));
  if (len > 0x7fffffffu) {
    return r.FailAt(len_at, "content length",
                    fmt::format("negative length {}", static_cast<int32_t>(len)));
  }
  SLUICE_ASSIGN_OR_RETURN(std::string_view content, r.Bytes("content", len));
  m.content.assign(content);
  SLUICE_RETURN_IF_ERROR(r.ExpectEnd());
  return Message(std::move(m));
}

}  // namespace

const char* MessageTypeName(char type) {
  switch (type) {
    case 'B': return "Begin";
    case 'C': return "Commit";
    case 'O': return "Origin";
    case 'R': return "Relation";
    case 'Y': return "Type";
    case 'I': return "Insert";
    case 'U': return "Update";
    case 'D': return "Delete";
    case 'T': return "Truncate";
    case 'M': return "Message";
    case 'S': return "Stream Start";
    case 'E': return "Stream Stop";
    case 'c': return "Stream Commit";
    case 'A': return "Stream Abort";
    case 'b': return "Begin Prepare";
    case 'P': return "Prepare";
    case 'K': return "Commit Prepared";
    case 'r': return "Rollback Prepared";
    case 'p': return "Stream Prepare";
    default: return "unknown";
  }
}

Result<Message> Decode(std::string_view payload) {
  if (payload.empty()) {
    return Error(ErrorCode::kProtocol, "pgoutput message: empty payload at offset 0");
  }
  const char type = payload[0];
  Reader r(payload, type);
  SLUICE_RETURN_IF_ERROR(r.U8("type"));
  switch (type) {
    case 'B': return DecodeBegin(r);
    case 'C': return DecodeCommit(r);
    case 'O': return DecodeOrigin(r);
    case 'R': return DecodeRelation(r);
    case 'Y': return DecodeType(r);
    case 'I': return DecodeInsert(r);
    case 'U': return DecodeUpdate(r);
    case 'D': return DecodeDelete(r);
    case 'T': return DecodeTruncate(r);
    case 'M': return DecodeLogicalMessage(r);
    case 'S':
    case 'E':
    case 'c':
    case 'A':
    case 'b':
    case 'P':
    case 'K':
    case 'r':
    case 'p':
      return r.FailAt(0, "type",
                      "message type is not part of protocol version 1 as sluice requests it "
                      "(streaming and two-phase are not enabled)");
    default:
      return r.FailAt(
          0, "type", fmt::format("unknown message type byte 0x{:02x}", static_cast<uint8_t>(type)));
  }
}

}  // namespace sluice::source::pgoutput
