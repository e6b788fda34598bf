// Backfill SQL: what a backfill asks of the database on a normal (not
// replication) connection — the table's layout from the catalog, keyset
// pages of rows, watermark messages, a row estimate (docs/backfill.md).
//
// Why here: these are the source's catalog and SQL skills; the backfill
// manager (app/backfill_manager.h) decides when to call them. Rows come back
// as model::Tuple in the same text forms pgoutput sends (the connection is
// set up with the same DateStyle, TimeZone, IntervalStyle, extra_float_digits and
// bytea_output hex: kSessionOptions of pg_connection.h, which Connect sets),
// so the encoder treats a read like an insert.
//
// Errors are values naming the table (kNotFound: no such table or column;
// kInvalidArgument: no primary key and no sort column; kPostgres: the query
// failed, with the server's message).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/lsn.h"
#include "base/result.h"
#include "model/change.h"
#include "model/relation.h"

struct pg_conn;

namespace sluice::source {

// One key value: nullopt is SQL NULL (a nullable sort column).
using KeyValue = std::optional<std::string>;

struct BackfillTable {
  // Columns as pgoutput sends them (attnum order; no dropped or generated
  // columns), type oids and modifiers, replica identity, primary_key filled
  // from pg_index (key order); Column::is_key marks the primary key.
  std::shared_ptr<const model::Relation> relation;
  std::string sort_column;  // empty: by primary key
  // Keyset order, as column indexes of `relation`: the sort column (if any)
  // then the primary key columns. With by_ctid, the ctid follows them.
  std::vector<int> key_columns;
  bool by_ctid = false;  // no primary key: (sort_column, ctid)
};

// Prepares a session for backfill reads (the settings above). Call once per
// connection.
Status PrepareBackfillSession(pg_conn* conn);

// Looks up "schema.table". A table without a primary key needs a sort column.
Result<BackfillTable> DescribeBackfillTable(pg_conn* conn, const std::string& qualified_name,
                                            const std::string& sort_column);

struct BackfillPage {
  std::vector<model::Tuple> rows;  // in key order; one field per relation column
  // The key of the last row (key_columns order, then the ctid with by_ctid);
  // pass it as `after` for the next page. Empty when rows is empty.
  std::vector<KeyValue> last_key;
};

// The first `limit` rows whose key is after `after` (empty: from the start),
// and whose sort column is >= start_position when given (a text literal cast
// to the column's type). Rows with a NULL sort column come last (NULLS LAST),
// so a sort column that is NULL for some rows still reaches every row.
Result<BackfillPage> ReadBackfillPage(pg_conn* conn, const BackfillTable& table,
                                      const std::vector<KeyValue>& after,
                                      const std::optional<std::string>& start_position,
                                      size_t limit);

// Emits a transactional logical message with kBackfillWatermarkPrefix and
// `content` in its own transaction; returns the message's LSN.
Result<Lsn> EmitBackfillWatermark(pg_conn* conn, const std::string& content);

// pg_class.reltuples, or count(*) when the table was never analyzed (-1).
Result<uint64_t> EstimateRows(pg_conn* conn, const BackfillTable& table);

// "schema.table" of every table in `publication` (pg_publication_tables), by
// name: what `initial_backfill: true` considers before the sink's filters.
Result<std::vector<std::string>> PublishedTables(pg_conn* conn, const std::string& publication);

}  // namespace sluice::source
