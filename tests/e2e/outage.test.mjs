// The Kinesis emulator "stopped" (the fault proxy's `down` rule: connections
// refused) for OUTAGE seconds under steady load (SPEC §4): nothing is lost,
// the slot's confirmed_flush_lsn keeps advancing during the outage because
// messages go to the local store, and once Kinesis is back the backlog drains
// with per-key order.
//
// OUTAGE = SLUICE_OUTAGE_SECONDS, else 20 when CI is set, else 180.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import {test} from 'node:test';
import {setTimeout as delay} from 'node:timers/promises';

import {useServices, waitFor, withPipeline} from './lib/harness.mjs';
import {ChangeLoad, assertDelivered, assertNoAcknowledgedEntryResent, confirmedFlushLsn, kLoadTable,
        kLoadTableSql, makePrng, readUntilDelivered, startProxy, storePath} from './lib/faults.mjs';
import {walPosition} from './lib/messages.mjs';

const kOutageSeconds = Number(process.env.SLUICE_OUTAGE_SECONDS ?? (process.env.CI ? 20 : 180));
const kHotKeys = 10;                 // ids 1..10, updated again and again
const kTransactionsPerSecond = 120;  // 1-3 changes each: a few hundred rows/s
const kDrainMs = 240000 + kOutageSeconds * 1500;  // backoff reaches ~OUTAGE (capped at 3 min)

const env = useServices('outage');

const fileSize = (file) => (fs.existsSync(file) ? fs.statSync(file).size : 0);

test(`a ${kOutageSeconds} s Kinesis outage under load: nothing lost, the slot advances, the backlog drains in order`,
     {timeout: (kOutageSeconds * 1000) + kDrainMs + 120000}, async (t) => {
  assert.ok(Number.isFinite(kOutageSeconds) && kOutageSeconds >= 5, 'SLUICE_OUTAGE_SECONDS is at least 5');
  const proxy = await startProxy(env.services);
  try {
    await withPipeline(env, {
      setupSql: kLoadTableSql, tables: [{name: kLoadTable}], shards: 4, batchSize: 100,
      endpoint: proxy.url, extraTopYaml: 'spill_after_ms: 1000',
    }, async (p) => {
      const load = await ChangeLoad.open(p);
      const random = makePrng(1234);
      let lastCold = kHotKeys;
      let stopLoad = false;
      const loading = load.paced({
        perSecond: kTransactionsPerSecond,
        stop: () => stopLoad,
        nextOps: (i) => {
          const ops = [];
          if (i % 2 === 0) ops.push(1 + Math.floor(random() * kHotKeys));
          if (lastCold === kHotKeys || random() < 0.5) ops.push(++lastCold);
          else ops.push(kHotKeys + 1 + Math.floor(random() * (lastCold - kHotKeys)));
          if (random() < 0.5) ops.push(kHotKeys + 1 + Math.floor(random() * (lastCold - kHotKeys)));
          return ops;
        },
      });
      let loadError = null;
      loading.catch((err) => (loadError = err));  // also awaited below
      const check = () => {
        p.assertRunning();
        if (loadError) throw loadError;
      };
      try {
        await waitFor('200 records to pass the proxy before the outage',
                      () => proxy.stats({withLog: false}).putLogLength >= 200, {timeoutMs: 60000, check});

        // The outage.
        await proxy.setRules([{type: 'down'}]);
        const downAt = Date.now();
        const endsAt = downAt + kOutageSeconds * 1000;
        const putsAtDown = proxy.stats({withLog: false}).putLogLength;
        const confirmedAtDown = await confirmedFlushLsn(p);
        const committedAtDown = load.total;
        // Requests in flight when the port closed may still finish upstream.
        await delay(2000);
        const putsEarlyInOutage = proxy.stats({withLog: false}).putLogLength;

        // At a quarter and at half of the outage, note the WAL position: the
        // slot must confirm past it while Kinesis is still down.
        const checkpoints = [];
        for (const fraction of [0.25, 0.5]) {
          const at = downAt + fraction * kOutageSeconds * 1000;
          if (Date.now() < at) await delay(at - Date.now());  // the outage's planned timeline
          const wal = await walPosition((q) => p.sql(q));
          await waitFor(`confirmed_flush_lsn to pass ${wal} (WAL at ${fraction} of the outage) before it ends`,
                        async () => (await confirmedFlushLsn(p)) >= wal,
                        {timeoutMs: Math.max(0, endsAt - Date.now()), intervalMs: 250, check});
          checkpoints.push({fraction, wal, confirmedAfter: (Date.now() - downAt) / 1000});
        }
        if (Date.now() < endsAt) await delay(endsAt - Date.now());
        const confirmedAtEnd = await confirmedFlushLsn(p);
        const stats = proxy.stats({withLog: false});
        assert.equal(stats.down, true, 'the proxy port stayed closed');
        assert.equal(stats.putLogLength, putsEarlyInOutage, 'nothing reached Kinesis during the outage');
        assert.ok(confirmedAtEnd > confirmedAtDown, 'the slot advanced during the outage');
        const committedInOutage = load.total - committedAtDown;
        t.diagnostic(`outage ${kOutageSeconds} s: ${putsEarlyInOutage - putsAtDown} entries stored as it began, ` +
                     `${committedInOutage} changes committed; confirmed_flush_lsn ` +
                     `${confirmedAtDown} -> ${confirmedAtEnd}; checkpoints ${JSON.stringify(checkpoints)}; ` +
                     `store ${fileSize(storePath(p))} + wal ${fileSize(`${storePath(p)}-wal`)} bytes`);

        // Kinesis is back; the load goes on a little, then stops.
        await proxy.setRules([]);
        const upAt = Date.now();
        await delay(3000);  // load running after the outage, by design
        stopLoad = true;
        await loading;
        const records = await readUntilDelivered(p, load, {timeoutMs: kDrainMs});
        const drainSeconds = (Date.now() - upAt) / 1000;
        const {duplicates} = assertDelivered(records, load, {duplicates: 'allowed'});
        // Entries upstream stored as the port closed may never have been
        // answered (they may come again); every other one was acknowledged.
        const putLog = proxy.stats().putLog.map(
            (e, i) => (i >= putsAtDown && i < putsEarlyInOutage ? {...e, acknowledged: false} : e));
        assertNoAcknowledgedEntryResent(putLog);
        t.diagnostic(`${load.total} changes over ${load.byKey.size} keys in ${load.transactions} transactions; ` +
                     `backlog drained ${drainSeconds.toFixed(1)} s after the outage; ${duplicates} duplicates`);
      } finally {
        stopLoad = true;
        await loading.catch(() => {});
        await load.close();
      }
    });
  } finally {
    await proxy.close();
  }
});
