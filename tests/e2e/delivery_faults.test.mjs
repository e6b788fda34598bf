// Delivery through the fault proxy (tools/node/fault_proxy.mjs) in front of
// kinesis-local (SPEC §3, §4): partial PutRecords failures never cause an
// acknowledged entry to be put again, a failing group blocks only itself, and
// request-level faults (5xx, dropped connections, a stall past the request
// timeout) lose nothing and keep per-key order.
import assert from 'node:assert/strict';
import {describe, test} from 'node:test';

import {useServices, waitFor, withPipeline} from './lib/harness.mjs';
import {ChangeLoad, assertDelivered, assertNoAcknowledgedEntryResent, kLoadTable, kLoadTableSql,
        makePrng, readUntilDelivered, startProxy} from './lib/faults.mjs';

// Every pipeline here signs with a temporary key and session token (through
// the harness's sigv4 proxy, in front of the fault proxy).
const env = useServices('delivery-faults', {credentials: 'session'});

// Runs `body(pipeline, proxy)` with sluice putting through a fresh fault proxy
// that starts with `rules`. A failure's message carries the proxy's stats.
async function withProxiedPipeline(options, rules, body) {
  const proxy = await startProxy(env.services, rules);
  try {
    await withPipeline(env, {
      setupSql: kLoadTableSql, tables: [{name: kLoadTable}], shards: 2,
      endpoint: proxy.url, ...options,
    }, async (p) => {
      try {
        await body(p, proxy);
      } catch (err) {
        if (err instanceof Error) {
          err.message += `\n--- proxy stats ---\n${JSON.stringify(proxy.stats({withLog: false}))}` +
              `\n--- proxy rules ---\n${JSON.stringify(proxy.rules())}`;
        }
        throw err;
      }
    });
  } finally {
    await proxy.close();
  }
}

// Ids 1..`keys`, each inserted (or updated, if it exists) and then updated
// `updates` times, in transactions of `perTransaction` changes over keys in a
// seeded random order.
async function applyLoad(load, {keys, updates, perTransaction, seed}) {
  const ids = Array.from({length: keys}, (_, i) => i + 1);
  for (let i = 0; i < ids.length; i += 10) await load.transaction(ids.slice(i, i + 10));
  const ops = ids.flatMap((id) => Array(updates).fill(id));
  const random = makePrng(seed);
  for (let i = ops.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [ops[i], ops[j]] = [ops[j], ops[i]];
  }
  for (let i = 0; i < ops.length; i += perTransaction) await load.transaction(ops.slice(i, i + perTransaction));
}

async function runLoad(p, options) {
  const load = await ChangeLoad.open(p);
  try {
    await applyLoad(load, options);
  } finally {
    await load.close();
  }
  return load;
}

const ruleApplied = (proxy, index) => proxy.rules()[index]?.applied ?? 0;

// About 30% of entries fail. Each rule fails one entry at most twice, so a
// message waits at most 1 + 2 + 4 + 8 s of backoff (SPEC §4) and the test's
// time stays bounded; unbounded, a 0.3^7 streak among 1,000 messages (a
// 127 s wait) is likely enough to make the test slow.
test('partial failures: failed entries are retried alone, acknowledged ones never again, per-key order holds',
     {timeout: 180000}, (t) => withProxiedPipeline({batchSize: 50, extraTopYaml: 'spill_after_ms: 1000'}, [
       {type: 'failEntries', op: 'PutRecords', probability: 0.15, seed: 7, maxPerEntry: 2,
        errorCode: 'ProvisionedThroughputExceededException'},
       {type: 'failEntries', op: 'PutRecords', probability: 0.18, seed: 8, maxPerEntry: 2,
        errorCode: 'InternalFailure'},
     ], async (p, proxy) => {
  const load = await runLoad(p, {keys: 50, updates: 20, perTransaction: 5, seed: 42});
  const records = await readUntilDelivered(p, load, {timeoutMs: 120000});
  const {duplicates} = assertDelivered(records, load, {duplicates: 'none'});
  assert.equal(records.length, load.total, 'the stream holds each committed change exactly once');

  const stats = proxy.stats();
  const {entries, acknowledged} = assertNoAcknowledgedEntryResent(stats.putLog);
  assert.equal(acknowledged, load.total, 'every change was stored upstream and acknowledged once');
  assert.ok(ruleApplied(proxy, 0) >= 50 && ruleApplied(proxy, 1) >= 50,
            'both error codes were injected many times');
  const failuresPerEntry = new Map();
  for (const e of stats.failLog) failuresPerEntry.set(e.dataSha256, (failuresPerEntry.get(e.dataSha256) ?? 0) + 1);
  const retriedAndFailedAgain = [...failuresPerEntry.values()].filter((n) => n >= 2).length;
  assert.ok(retriedAndFailedAgain > 0, 'some entries failed again on retry');
  assert.ok(stats.operations.PutRecords.requests > 1, 'several PutRecords requests');
  t.diagnostic(`${load.total} changes in ${load.transactions} transactions; ` +
               `${stats.faults.failEntries} entries failed (${ruleApplied(proxy, 0)} throughput, ` +
               `${ruleApplied(proxy, 1)} internal) over ${stats.operations.PutRecords.requests} requests; ` +
               `${failuresPerEntry.size} entries failed at least once, ${retriedAndFailedAgain} twice or more; ` +
               `put log ${entries} entries; ${duplicates} duplicates`);
}));

// With spill_after_ms: 1000 the failing group goes to the local store early,
// and key 7's later changes queue behind it there.
test('a group whose entries keep failing blocks only itself, then drains in order',
     {timeout: 180000}, (t) => withProxiedPipeline({batchSize: 20, extraTopYaml: 'spill_after_ms: 1000'}, [
       {type: 'failEntries', op: 'PutRecords', key: '7', errorCode: 'InternalFailure'},
     ], async (p, proxy) => {
  const load = await ChangeLoad.open(p);
  let early;
  const others = Array.from({length: 12}, (_, i) => String(i + 1)).filter((k) => k !== '7');
  try {
    // The other groups all arrive while every attempt for key 7 fails,
    // before and after key 7 failed a few times.
    await applyLoad(load, {keys: 12, updates: 5, perTransaction: 4, seed: 3});
    early = await readUntilDelivered(p, load, {keys: others, timeoutMs: 60000});
    assertDelivered(early, load, {keys: others, duplicates: 'none'});
    await waitFor('three failed attempts at key 7', () => ruleApplied(proxy, 0) >= 3, {timeoutMs: 30000});
    await applyLoad(load, {keys: 12, updates: 5, perTransaction: 4, seed: 4});
  } finally {
    await load.close();
  }
  const later = await readUntilDelivered(p, load, {keys: others, timeoutMs: 60000});
  assertDelivered(later, load, {keys: others, duplicates: 'none'});
  const blocked = later.filter((r) => r.partitionKey === '7');
  assert.deepEqual(blocked.map((r) => r.data), [], 'nothing of key 7 is stored while its entries fail');
  const attempts = ruleApplied(proxy, 0);
  // Only key 7's first change was ever tried while it failed: nothing behind
  // it overtook it (every failed entry is that same record).
  const failedData = new Set(proxy.stats().failLog.filter((f) => f.partitionKey === '7').map((f) => f.dataSha256));
  assert.equal(failedData.size, 1, `attempts at key 7 while its head failed carried ${failedData.size} different records`);

  await proxy.setRules([]);
  const records = await readUntilDelivered(p, load, {timeoutMs: 120000});
  assertDelivered(records, load, {duplicates: 'none'});
  assertNoAcknowledgedEntryResent(proxy.stats().putLog);
  t.diagnostic(`key 7 failed ${attempts} times while ${later.length} records of ${others.length} other keys ` +
               `arrived; then its ${load.byKey.get('7').length} changes drained in order`);
}));

describe('request-level faults: every change arrives, per-key order holds', () => {
  const kLoad = {keys: 10, updates: 10, perTransaction: 3, seed: 5};

  test('500 and 503 answers', {timeout: 120000}, (t) => withProxiedPipeline({batchSize: 10}, [
    {type: 'status', op: 'PutRecords', status: 500, count: 2},
    {type: 'status', op: 'PutRecords', status: 503, count: 1},
  ], async (p, proxy) => {
    const load = await runLoad(p, kLoad);
    const records = await readUntilDelivered(p, load);
    assertDelivered(records, load, {duplicates: 'none'});
    assertNoAcknowledgedEntryResent(proxy.stats().putLog);
    assert.deepEqual(proxy.rules().map((r) => r.applied), [2, 1], 'every error answer was given');
  }));

  test('connections dropped before forwarding', {timeout: 120000}, (t) => withProxiedPipeline({batchSize: 10}, [
    {type: 'drop', op: 'PutRecords', when: 'before', count: 3},
  ], async (p, proxy) => {
    const load = await runLoad(p, kLoad);
    const records = await readUntilDelivered(p, load);
    assertDelivered(records, load, {duplicates: 'none'});
    assertNoAcknowledgedEntryResent(proxy.stats().putLog);
    assert.equal(ruleApplied(proxy, 0), 3, 'every drop happened');
  }));

  test('connections dropped after forwarding: stored but unacknowledged entries are put again',
       {timeout: 120000}, (t) => withProxiedPipeline({batchSize: 10}, [
         {type: 'drop', op: 'PutRecords', when: 'after', count: 3},
       ], async (p, proxy) => {
    const load = await runLoad(p, kLoad);
    const records = await readUntilDelivered(p, load);
    const {duplicates} = assertDelivered(records, load, {duplicates: 'allowed'});
    const {putLog} = proxy.stats();
    assertNoAcknowledgedEntryResent(putLog);
    assert.equal(ruleApplied(proxy, 0), 3, 'every drop happened');
    const unacknowledged = putLog.filter((e) => !e.acknowledged);
    assert.ok(unacknowledged.length > 0, 'some entries were stored without an answer');
    const acknowledged = new Set(putLog.filter((e) => e.acknowledged).map((e) => `${e.partitionKey}|${e.dataSha256}`));
    const neverAcknowledged = unacknowledged.filter((e) => !acknowledged.has(`${e.partitionKey}|${e.dataSha256}`));
    assert.deepEqual(neverAcknowledged, [], 'every unanswered entry was put again until answered');
    t.diagnostic(`${unacknowledged.length} entries stored unanswered; ${duplicates} duplicates in the stream`);
  }));

  test('a stall longer than request_timeout_ms', {timeout: 120000}, (t) => withProxiedPipeline({
    batchSize: 10, extraSinkYaml: '      request_timeout_ms: 1500',
  }, [
    {type: 'stall', op: 'PutRecords', ms: 20000, count: 2},
  ], async (p, proxy) => {
    const load = await runLoad(p, kLoad);
    const records = await readUntilDelivered(p, load);
    assertDelivered(records, load, {duplicates: 'none'});
    assertNoAcknowledgedEntryResent(proxy.stats().putLog);
    assert.equal(ruleApplied(proxy, 0), 2, 'both requests were stalled');
    // The stall outlasts the deadline: sluice gave up on both requests.
    await waitFor('sluice to abandon both stalled requests', () => proxy.stats({withLog: false}).abandoned === 2,
                  {timeoutMs: 10000});
  }));
});
