// Relation: a table as described by pgoutput's Relation message.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sluice::model {

struct Column {
  std::string name;
  uint32_t type_oid = 0;
  int32_t type_modifier = -1;
  bool is_key = false;  // part of the replica identity key
};

// REPLICA IDENTITY setting of the table, as pgoutput reports it.
enum class ReplicaIdentity : char {
  kDefault = 'd',  // primary key
  kNothing = 'n',
  kFull = 'f',
  kIndex = 'i',
};

struct Relation {
  uint32_t oid = 0;
  std::string schema;
  std::string name;
  ReplicaIdentity replica_identity = ReplicaIdentity::kDefault;
  std::vector<Column> columns;
  // Primary key column indexes in key order (pg_index.indkey), when known.
  // pgoutput flags every column as a key column (Column::is_key) for REPLICA
  // IDENTITY FULL tables, so the source fills this for them; when empty the
  // key is the columns with is_key, in column order.
  std::vector<int> primary_key;

  // "schema.name", as used in config (include_tables, tables[].name).
  std::string QualifiedName() const { return schema + "." + name; }
};

}  // namespace sluice::model
