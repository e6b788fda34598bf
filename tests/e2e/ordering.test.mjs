// Per-row commit order and completeness under load (SPEC §3, §4).
import assert from 'node:assert/strict';
import {test} from 'node:test';

import {useServices, withPipeline} from './lib/harness.mjs';
import {assertEnvelope, comparePositions, position} from './lib/messages.mjs';

const env = useServices('ordering');

test('500 updates of one row arrive in commit order', {timeout: 300000}, () => withPipeline(env, {
  setupSql: 'CREATE TABLE counter (id int PRIMARY KEY, n int NOT NULL)',
  tables: [{name: 'public.counter'}], shards: 4, batchSize: 100,
}, async (p) => {
  const client = await p.connect();
  try {
    await client.query('INSERT INTO counter VALUES (1, 0)');
    for (let i = 1; i <= 500; i++) {
      await client.query('UPDATE counter SET n = $1 WHERE id = 1', [i]);  // one transaction each
    }
  } finally {
    await client.end();
  }
  // One partition key, so one shard: stream order is delivery order.
  const records = await p.readMessages({expect: 501, timeoutMs: 180000});
  assert.equal(records.length, 501);
  assert.deepEqual(new Set(records.map((r) => r.partitionKey)), new Set(['1']));
  assert.deepEqual(records.map((r) => r.message.record.n), Array.from({length: 501}, (_, i) => i));
  assert.deepEqual(records.map((r) => r.message.action), ['insert', ...Array(500).fill('update')]);
  for (let i = 1; i < records.length; i++) {
    assert.ok(comparePositions(position(records[i - 1].message), position(records[i].message)) < 0,
              `record ${i} is not after record ${i - 1} in commit order`);
  }
}));

test('10,000 rows inserted over 100 transactions all arrive, exactly once', {timeout: 600000},
     () => withPipeline(env, {
       setupSql: 'CREATE TABLE bulk (id int PRIMARY KEY, label text NOT NULL, batch int NOT NULL)',
       tables: [{name: 'public.bulk'}], shards: 4, batchSize: 500,
     }, async (p) => {
  const client = await p.connect();
  try {
    for (let batch = 0; batch < 100; batch++) {
      await client.query(
          `INSERT INTO bulk SELECT g, 'row ' || g, $1 FROM generate_series($2::int, $3::int) g`,
          [batch, batch * 100 + 1, batch * 100 + 100]);
    }
  } finally {
    await client.end();
  }
  const records = await p.readMessages({expect: 10000, timeoutMs: 420000});
  assert.equal(records.length, 10000, 'no change is missing or duplicated');
  const ids = records.map((r) => r.message.record.id).sort((a, b) => a - b);
  assert.deepEqual(ids, Array.from({length: 10000}, (_, i) => i + 1));
  const byBatch = new Map();
  for (const r of records) {
    const {record, metadata, action} = r.message;
    assert.equal(action, 'insert');
    assert.deepEqual(record, {id: record.id, label: `row ${record.id}`, batch: Math.floor((record.id - 1) / 100)});
    assert.equal(r.partitionKey, String(record.id));
    assert.deepEqual(metadata.record_pks, [String(record.id)]);
    if (!byBatch.has(record.batch)) byBatch.set(record.batch, []);
    byBatch.get(record.batch).push(r.message);
  }
  // Each transaction: one commit_lsn, commit_idx 0..99 in id order; later
  // transactions have higher commit LSNs.
  let previousLsn = -1;
  for (let batch = 0; batch < 100; batch++) {
    const messages = byBatch.get(batch).sort((a, b) => a.metadata.commit_idx - b.metadata.commit_idx);
    assert.deepEqual(messages.map((m) => m.metadata.commit_idx), Array.from({length: 100}, (_, i) => i));
    assert.deepEqual(messages.map((m) => m.record.id), Array.from({length: 100}, (_, i) => batch * 100 + i + 1));
    assert.equal(new Set(messages.map((m) => m.metadata.commit_lsn)).size, 1);
    assert.ok(messages[0].metadata.commit_lsn > previousLsn);
    previousLsn = messages[0].metadata.commit_lsn;
    assertEnvelope(messages[0], {table: 'bulk'});
  }
}));
