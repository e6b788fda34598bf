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
  // Part of the replica identity, as pgoutput flags it: the columns a
  // key-only old tuple carries. Every column of a REPLICA IDENTITY FULL table
  // is flagged, so this is not the primary key (see Relation::primary_key).
  bool is_key = false;
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
  // Primary key column indexes: the one source of the group, partition key
  // and record_pks (SPEC §3). The source always fills it: for REPLICA
  // IDENTITY DEFAULT / INDEX the Column::is_key columns in column order, for
  // FULL / NOTHING the catalog's primary key in key order (pg_index.indkey).
  // Empty: the table has no (known) primary key and is ungrouped.
  std::vector<int> primary_key;

  // "schema.name", as used in config (include_tables, tables[].name).
  std::string QualifiedName() const { return schema + "." + name; }
};

}  // namespace sluice::model
