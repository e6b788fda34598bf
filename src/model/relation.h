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

  // "schema.name", as used in config (include_tables, tables[].name).
  std::string QualifiedName() const { return schema + "." + name; }
};

}  // namespace sluice::model
