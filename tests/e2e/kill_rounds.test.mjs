// 20 rounds of kill -9 at random moments under continuous load, with the
// emulator failing some entries (SPEC §4): after each kill sluice restarts on
// the same data_dir; at the end every committed change has arrived at least
// once, per-key order holds (first occurrences), and the local store passes
// SQLite's integrity check after every kill and after the final stop.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import {test} from 'node:test';
import {setTimeout as delay} from 'node:timers/promises';

import {useServices, waitFor, withPipeline} from './lib/harness.mjs';
import {ChangeLoad, assertDelivered, kLoadTable, kLoadTableSql, makePrng, readUntilDelivered, startProxy,
        inspectStore, storePath} from './lib/faults.mjs';

const kRounds = 20;
const kKeys = 40;                   // ids 1..40; 1..5 are hot
const kTransactionsPerSecond = 60;  // 1-3 changes each
const kSeed = 20240611;

const env = useServices('kill-rounds');

test(`${kRounds} rounds of kill -9 under load with failing entries: at least once, per-key order, sound store`,
     {timeout: 420000}, async (t) => {
  const proxy = await startProxy(env.services, [
    {type: 'failEntries', op: 'PutRecords', probability: 0.05, seed: 31,
     errorCode: 'ProvisionedThroughputExceededException'},
    {type: 'failEntries', op: 'PutRecords', probability: 0.05, seed: 32, errorCode: 'InternalFailure'},
  ]);
  try {
    await withPipeline(env, {
      setupSql: kLoadTableSql, tables: [{name: kLoadTable}], shards: 2, batchSize: 50,
      endpoint: proxy.url, extraTopYaml: 'spill_after_ms: 500',
    }, async (p) => {
      const random = makePrng(kSeed);          // the load's keys
      const killRandom = makePrng(kSeed + 1);  // the kill moments, the same every run
      const load = await ChangeLoad.open(p);
      let stopLoad = false;
      const loading = load.paced({
        perSecond: kTransactionsPerSecond,
        stop: () => stopLoad,
        nextOps: () => {
          const ops = [1 + Math.floor(random() * 5)];
          const more = Math.floor(random() * 3);
          for (let k = 0; k < more; k++) ops.push(1 + Math.floor(random() * kKeys));
          return ops;
        },
      });
      let loadError = null;
      loading.catch((err) => (loadError = err));  // also awaited below
      const kills = [];
      try {
        for (let round = 1; round <= kRounds; round++) {
          const loadMs = 200 + Math.floor(killRandom() * 1800);
          await delay(loadMs);  // the random moment of this round's kill
          if (loadError) throw loadError;
          const puts = proxy.stats({withLog: false}).putLogLength;
          const exit = await p.kill9();
          assert.deepEqual(exit, {code: null, signal: 'SIGKILL'},
                           `round ${round}: sluice was running until killed`);
          const store = await inspectStore(p);
          assert.equal(store.integrity, 'ok', `round ${round}: store integrity after kill -9`);
          kills.push({round, loadMs, committed: load.total, puts, stored: store.messages});
          await p.start();
        }
        // The last start succeeded on a store killed 20 times; the load goes
        // on a little, then stops.
        await waitFor('the load to commit 100 more changes after the last restart',
                      () => load.total >= kills.at(-1).committed + 100,
                      {timeoutMs: 30000, check: () => p.assertRunning()});
        stopLoad = true;
        await loading;
      } finally {
        stopLoad = true;
        await loading.catch(() => {});
        await load.close();
      }

      const records = await readUntilDelivered(p, load, {timeoutMs: 180000});
      const {duplicates} = assertDelivered(records, load, {duplicates: 'allowed'});

      // A redelivery must be an in-order replay. After a record of a key that
      // goes back (index i below the highest seen), the key's next record is
      // i+1 or goes back again; a jump forward (skipping i+1), or the stream
      // ending there, means an old change was put after a newer one that was
      // not sent again: the reader's state for that key went backwards.
      const violations = [];
      const byKey = new Map();
      for (const r of records) {
        const k = r.partitionKey;
        const idx = (load.byKey.get(k) ?? []).indexOf(
            `${r.message.action}:${r.message.record?.id}:${r.message.record?.n}`);
        if (!byKey.has(k)) byKey.set(k, []);
        byKey.get(k).push(idx);
      }
      for (const [k, seq] of byKey) {
        let max = -1;
        for (let i = 0; i < seq.length; i++) {
          const cur = seq[i];
          if (cur < max) {
            const next = i + 1 < seq.length ? seq[i + 1] : null;
            if (next === null ? cur < max : next > cur + 1) {
              violations.push(`key ${k}: #${cur} put again after #${max}, then ${next === null ? 'end' : '#' + next} ` +
                              `(around ${seq.slice(Math.max(0, i - 4), i + 3).join(',')})`);
            }
          }
          max = Math.max(max, cur);
        }
      }
      assert.deepEqual(violations, [], 'an old change was put after a newer one without an in-order replay');
      const exit = await p.stop();
      assert.deepEqual(exit, {code: 0, signal: null}, 'sluice exits 0 on SIGTERM after the rounds');
      const store = await inspectStore(p);
      assert.equal(store.integrity, 'ok', 'store integrity after the final stop');
      // The store was exercised: some kills left messages in it.
      assert.ok(kills.some((k) => k.stored > 0), 'some kill -9 found messages in the local store');
      const stats = proxy.stats({withLog: false});
      assert.ok(stats.faults.failEntries > 0, 'the proxy failed some entries');
      t.diagnostic(`${load.total} changes over ${load.byKey.size} keys; kills after ` +
                   `${kills.map((k) => k.loadMs).join('/')} ms with ${kills.map((k) => k.stored).join('/')} ` +
                   `messages stored; ${store.messages} left after the final stop; ${records.length} records, ` +
                   `${duplicates} duplicates; ${stats.faults.failEntries} entries failed by the proxy; ` +
                   `store ${fs.statSync(storePath(p)).size} bytes`);
    });
  } finally {
    await proxy.close();
  }
});
