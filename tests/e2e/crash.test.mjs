// kill -9 of sluice in the middle of a load, then a restart: every change
// arrives at least once and per-row order holds (SPEC §4 "at least once").
import assert from 'node:assert/strict';
import {test} from 'node:test';

import {useServices, waitFor, withPipeline} from './lib/harness.mjs';
import {assertPerKeyOrder} from './lib/messages.mjs';

const env = useServices('crash');

const kRows = 40;
const kTransactions = 3000;  // each: update one row; every 10th also inserts a row
const kPauseAt = 2000;       // the load waits here until sluice was killed
const kRestartAt = 2300;     // sluice restarts once the load got this far

// The changes the load makes, as "action:id:n" (n is unique per update).
function expectedChanges() {
  const out = [];
  for (let id = 1; id <= kRows; id++) out.push(`insert:${id}:0`);
  for (let i = 1; i <= kTransactions; i++) {
    out.push(`update:${(i % kRows) + 1}:${i}`);
    if (i % 10 === 0) out.push(`insert:${kRows + i / 10}:${i}`);
  }
  return out;
}

const changeOf = (m) => `${m.action}:${m.record.id}:${m.record.n}`;

test('kill -9 mid-load and restart: every change arrives at least once, per-row order holds',
     {timeout: 600000}, (t) => withPipeline(env, {
       setupSql: 'CREATE TABLE load (id int PRIMARY KEY, n int NOT NULL)',
       tables: [{name: 'public.load'}], shards: 2, batchSize: 50,
     }, async (p) => {
  let openGate;
  let committed = 0;  // load transactions committed so far
  const gate = new Promise((resolve) => (openGate = resolve));
  const load = (async () => {
    const client = await p.connect();
    try {
      await client.query(`INSERT INTO load SELECT g, 0 FROM generate_series(1, ${kRows}) g`);
      for (let i = 1; i <= kTransactions; i++) {
        if (i === kPauseAt) await gate;
        await client.query('BEGIN');
        await client.query('UPDATE load SET n = $1 WHERE id = $2', [i, (i % kRows) + 1]);
        if (i % 10 === 0) await client.query('INSERT INTO load VALUES ($1, $2)', [kRows + i / 10, i]);
        await client.query('COMMIT');
        committed = i;
      }
    } finally {
      await client.end();
    }
  })();
  load.catch(() => {});  // awaited below; avoid an unhandled rejection meanwhile

  // Kill once part of the load has reached Kinesis: sluice then has changes
  // read from the slot but not yet delivered or acknowledged.
  const before = await p.readRecords({until: (rs) => rs.length >= 300, settle: false,
                                      timeoutMs: 120000});
  const killed = await p.kill9();
  assert.equal(killed.signal, 'SIGKILL');
  t.diagnostic(`killed sluice with ${before.length}+ records in Kinesis and ` +
               `${committed} of ${kTransactions} load transactions committed`);
  // The load goes on while sluice is down, and after it is back.
  openGate();
  await waitFor('the load to pass the restart point', () => committed >= kRestartAt);
  await p.start();
  await load;

  const expected = expectedChanges();
  const wanted = new Set(expected);
  const records = await p.readMessages({
    until: (rs) => {
      const got = new Set();
      for (const r of rs) {
        const m = JSON.parse(r.data);
        if (m.record) got.add(changeOf(m));
      }
      return [...wanted].every((c) => got.has(c));
    },
    timeoutMs: 420000,
  });
  const seen = new Set(records.map((r) => changeOf(r.message)));
  const missing = expected.filter((c) => !seen.has(c));
  assert.deepEqual(missing, [], 'changes missing after the crash');
  assert.ok(records.every((r) => wanted.has(changeOf(r.message))), 'only the load\'s changes arrive');
  for (const r of records) assert.equal(r.partitionKey, String(r.message.record.id));
  assertPerKeyOrder(records);
  t.diagnostic(`${records.length} records for ${expected.length} changes ` +
               `(${records.length - new Set(records.map((r) => r.data)).size} redelivered)`);
  // Same idempotency key => same change (a redelivery, not a different row).
  const byKey = new Map();
  for (const r of records) {
    const k = r.message.metadata.idempotency_key;
    if (byKey.has(k)) assert.equal(byKey.get(k), r.data, `redelivery of ${k} differs`);
    byKey.set(k, r.data);
  }
}));
