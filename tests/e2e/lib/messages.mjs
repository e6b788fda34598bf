// Assertions on sluice's messages (SPEC §2) as read back from Kinesis.
import assert from 'node:assert/strict';

import {JsonNumber} from './json.mjs';

export const kMessageKeys = ['action', 'changes', 'metadata', 'record'];
export const kMetadataKeys = [
  'commit_idx', 'commit_lsn', 'commit_timestamp', 'consumer', 'database_name',
  'idempotency_key', 'record_pks', 'table_name', 'table_schema', 'transaction_annotations',
];
const kIsoUtcMicros = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;

export function idempotencyKey(lsn, idx) {
  return Buffer.from(`${lsn}:${idx}`).toString('base64');
}

// The current WAL insert position as a number (bytes), via `client` or `sql`.
export async function walPosition(runSql) {
  const rows = await runSql("SELECT (pg_current_wal_insert_lsn() - '0/0')::text AS lsn");
  return Number(rows[0].lsn);
}

const asNumber = (v) => (v instanceof JsonNumber ? Number(v.text) : v);

// Checks the message's envelope and metadata. `expected` may give:
// schema, table, sink, database, pks (record_pks), annotations, and
// lsnAfter/lsnBefore (the commit LSN lies strictly between them).
export function assertEnvelope(message, expected) {
  assert.deepEqual(Object.keys(message).sort(), kMessageKeys, 'message keys');
  const m = message.metadata;
  assert.deepEqual(Object.keys(m).sort(), kMetadataKeys, 'metadata keys');
  assert.equal(m.table_schema, expected.schema ?? 'public');
  assert.equal(m.table_name, expected.table);
  assert.equal(m.database_name, expected.database ?? 'app');
  assert.deepEqual(m.consumer, {name: expected.sink ?? 'kinesis-sink'});
  assert.match(m.commit_timestamp, kIsoUtcMicros, 'commit_timestamp format');
  assert.equal(typeof m.commit_lsn, 'number', 'commit_lsn is a JSON number');
  assert.ok(Number.isInteger(m.commit_idx) && m.commit_idx >= 0, 'commit_idx');
  assert.equal(m.idempotency_key, idempotencyKey(m.commit_lsn, m.commit_idx), 'idempotency_key');
  if (expected.lsnAfter !== undefined) {
    assert.ok(m.commit_lsn > expected.lsnAfter && m.commit_lsn < expected.lsnBefore,
              `commit_lsn ${m.commit_lsn} within (${expected.lsnAfter}, ${expected.lsnBefore})`);
  }
  if (expected.pks !== undefined) assert.deepEqual(m.record_pks, expected.pks, 'record_pks');
  assert.deepEqual(m.transaction_annotations, expected.annotations ?? null, 'transaction_annotations');
}

// Order key of a message: its (commit_lsn, commit_idx).
export function position(message) {
  return [asNumber(message.metadata.commit_lsn), asNumber(message.metadata.commit_idx)];
}

export function comparePositions(a, b) {
  return a[0] !== b[0] ? a[0] - b[0] : a[1] - b[1];
}

// At-least-once order check: for every partition key, the first occurrences
// of its idempotency keys, in stream order, have strictly increasing
// (commit_lsn, commit_idx). `records` must be in shard + sequence order.
export function assertPerKeyOrder(records) {
  const seen = new Set();
  const last = new Map();
  for (const r of records) {
    const key = r.message.metadata.idempotency_key;
    if (seen.has(key)) continue;  // a redelivery
    seen.add(key);
    const pos = position(r.message);
    const prev = last.get(r.partitionKey);
    if (prev) {
      assert.ok(comparePositions(prev, pos) < 0,
                `partition key ${r.partitionKey}: ${pos} arrived after ${prev}`);
    }
    last.set(r.partitionKey, pos);
  }
}
