// Helpers for delivery tests through the fault proxy (tools/node/fault_proxy.mjs):
// a load whose every change is identifiable, checks of what the reader saw
// against what was committed, the proxy's put log, the slot's confirmed LSN
// and the local store's integrity.
//
// Changes are rows of `kLoadTableSql`: every insert or update sets `n` to a
// value unique over the whole load, so a change is "<action>:<id>:<n>" and
// the changes of one key, in commit order, are a known list.
import assert from 'node:assert/strict';
import {execFile} from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {setTimeout as delay} from 'node:timers/promises';
import {promisify} from 'node:util';

import {startFaultProxy} from '../../../tools/node/fault_proxy.mjs';
import {readStream} from '../../../tools/node/read_stream.mjs';

import {parseExact} from './json.mjs';
import {assertPerKeyOrder} from './messages.mjs';

const run = promisify(execFile);

export const kLoadTable = 'public.load';
// Tests of one file share a database: each pipeline starts from a fresh table.
export const kLoadTableSql = 'DROP TABLE IF EXISTS load; CREATE TABLE load (id int PRIMARY KEY, n bigint NOT NULL)';

export {makePrng} from '../../../tools/node/proxy_common.mjs';

// A fault proxy in front of the test file's emulator; closed by the caller.
export function startProxy(services, rules = []) {
  return startFaultProxy({upstream: services.endpoint, port: 0, rules});
}

const changeOf = (m) => `${m.action}:${m.record?.id}:${m.record?.n}`;

// Transactions on the load table over one connection, remembering every
// committed change per key in commit order.
export class ChangeLoad {
  constructor(client) {
    this.client = client;
    this.next = 0;               // last n used
    this.byKey = new Map();      // String(id) -> ["insert:id:n", "update:id:n", ...]
    this.total = 0;              // committed changes
    this.transactions = 0;       // committed transactions
  }

  static async open(pipeline) {
    return new ChangeLoad(await pipeline.connect());
  }

  // One transaction: `ops` is a list of ids; an id not inserted yet is
  // inserted, else updated. The changes count once COMMIT returned.
  async transaction(ops) {
    const pending = [];
    const fresh = new Set();
    await this.client.query('BEGIN');
    try {
      for (const id of ops) {
        const n = ++this.next;
        const key = String(id);
        if (!this.byKey.has(key) && !fresh.has(key)) {
          await this.client.query('INSERT INTO load VALUES ($1, $2)', [id, n]);
          fresh.add(key);
          pending.push([key, `insert:${id}:${n}`]);
        } else {
          await this.client.query('UPDATE load SET n = $1 WHERE id = $2', [n, id]);
          pending.push([key, `update:${id}:${n}`]);
        }
      }
      await this.client.query('COMMIT');
    } catch (err) {
      await this.client.query('ROLLBACK').catch(() => {});
      throw err;
    }
    for (const [key, change] of pending) {
      if (!this.byKey.has(key)) this.byKey.set(key, []);
      this.byKey.get(key).push(change);
    }
    this.total += pending.length;
    this.transactions++;
  }

  // Runs `nextOps()` transactions at about `perSecond` of them until `stop()`
  // returns true (checked before each). Resolves when it stopped.
  async paced({perSecond, nextOps, stop}) {
    const start = Date.now();
    for (let i = 0; !stop(); i++) {
      await this.transaction(nextOps(i));
      const due = start + ((i + 1) * 1000) / perSecond;
      const ahead = due - Date.now();
      if (ahead > 0) await delay(ahead);  // pacing the load, not waiting for a result
    }
  }

  expected() {
    return new Set([...this.byKey.values()].flat());
  }

  async close() {
    await this.client.end();
  }
}

// Per key, the first occurrence of each change in stream order.
function firstOccurrences(records) {
  const byKey = new Map();
  const seen = new Set();
  for (const r of records) {
    const change = changeOf(r.message);
    if (seen.has(change)) continue;
    seen.add(change);
    if (!byKey.has(r.partitionKey)) byKey.set(r.partitionKey, []);
    byKey.get(r.partitionKey).push(change);
  }
  return byKey;
}

function summarize(list, max = 8) {
  return list.length <= max ? list.join(', ') : `${list.slice(0, max).join(', ')}, ... (${list.length} in all)`;
}

// Asserts that `records` (parsed, in shard + sequence order) hold every change
// of `load` (restricted to `keys` if given) and nothing else, each key's
// changes first arriving in commit order. duplicates: 'none' (exactly once)
// or 'allowed' (at least once; a redelivery must carry the same Data).
export function assertDelivered(records, load, {keys, duplicates = 'none'} = {}) {
  const wantedKeys = keys ? new Set(keys.map(String)) : new Set(load.byKey.keys());
  const relevant = records.filter((r) => wantedKeys.has(r.partitionKey));
  for (const r of records) {
    assert.equal(r.partitionKey, String(r.message.record?.id),
                 `record ${changeOf(r.message)} has partition key ${r.partitionKey}`);
  }
  const expected = new Set([...wantedKeys].flatMap((k) => load.byKey.get(k) ?? []));
  const got = firstOccurrences(relevant);
  const arrived = new Set([...got.values()].flat());
  const missing = [...expected].filter((c) => !arrived.has(c));
  const unexpected = [...arrived].filter((c) => !expected.has(c));
  assert.deepEqual({missing: summarize(missing), unexpected: summarize(unexpected)},
                   {missing: '', unexpected: ''},
                   `${missing.length} committed changes never arrived; ${unexpected.length} arrived uncommitted`);
  for (const key of wantedKeys) {
    const want = load.byKey.get(key) ?? [];
    const have = got.get(key) ?? [];
    const firstWrong = want.findIndex((c, i) => have[i] !== c);
    assert.equal(firstWrong, -1,
                 `key ${key}: change ${firstWrong} should be ${want[firstWrong]}, got ${have[firstWrong]} ` +
                 `(first occurrences: ${summarize(have, 12)})`);
  }
  assertPerKeyOrder(relevant);  // also by (commit_lsn, commit_idx)
  const byChange = new Map();
  const dupes = [];
  for (const r of relevant) {
    const change = changeOf(r.message);
    if (byChange.has(change)) {
      dupes.push(change);
      assert.equal(r.data, byChange.get(change), `redelivery of ${change} carries different Data`);
    }
    byChange.set(change, r.data);
  }
  if (duplicates === 'none') {
    assert.deepEqual(dupes, [], `changes put more than once: ${summarize(dupes)}`);
  }
  return {records: relevant.length, duplicates: dupes.length};
}

// Reads the pipeline's stream (directly from the emulator) until every change
// of `load` for `keys` (default: all) has arrived, or timeoutMs passed; then
// returns the parsed records of the whole stream. It does not assert; pass
// the result to assertDelivered, which says what is missing.
export async function readUntilDelivered(pipeline, load, {keys, timeoutMs = 90000} = {}) {
  const wantedKeys = keys ? new Set(keys.map(String)) : null;
  const expected = wantedKeys ? [...wantedKeys].flatMap((k) => load.byKey.get(k) ?? []) : [...load.expected()];
  const parsed = new Map();  // record -> change
  const seen = new Set();
  const {records} = await readStream({
    endpoint: pipeline.services.endpoint, stream: pipeline.stream, timeoutMs,
    until: (rs) => {
      for (const r of rs) {
        if (parsed.has(r)) continue;
        const change = changeOf(JSON.parse(r.data));
        parsed.set(r, change);
        seen.add(change);
      }
      return expected.every((c) => seen.has(c));
    },
  });
  return records.map((r) => ({...r, message: parseExact(r.data)}));
}

// The proxy's put log: no entry that was acknowledged to sluice as stored is
// ever stored again (same stream, partition key and Data). Returns counts.
export function assertNoAcknowledgedEntryResent(putLog) {
  const acknowledged = new Map();  // identity -> index in the log
  const resent = [];
  putLog.forEach((e, i) => {
    const id = `${e.stream}|${e.partitionKey}|${e.dataSha256}`;
    if (acknowledged.has(id)) resent.push(`key ${e.partitionKey} data ${e.dataSha256.slice(0, 12)} ` +
                                          `(log #${acknowledged.get(id)} acknowledged, stored again as #${i})`);
    if (e.acknowledged && !acknowledged.has(id)) acknowledged.set(id, i);
  });
  assert.deepEqual(resent, [], `acknowledged entries put again: ${summarize(resent, 5)}`);
  return {entries: putLog.length, acknowledged: acknowledged.size};
}

// The slot's confirmed_flush_lsn as a number (bytes).
export async function confirmedFlushLsn(pipeline) {
  const rows = await pipeline.sql(
      "SELECT (confirmed_flush_lsn - '0/0')::text AS lsn FROM pg_replication_slots WHERE slot_name = $1",
      [pipeline.slot]);
  assert.equal(rows.length, 1, `replication slot ${pipeline.slot} exists`);
  return Number(rows[0].lsn);
}

export const storePath = (pipeline) => path.join(pipeline.dataDir, 'store.sqlite3');

// The local store seen through python3's sqlite3 module (not sluice's code),
// read-only: {integrity, messages}, the output of PRAGMA integrity_check ("ok"
// when sound) and the number of stored messages (the `messages` table of
// src/delivery/message_store.cc). sluice must not be running (it holds the
// file in exclusive locking mode).
export async function inspectStore(pipeline) {
  const file = storePath(pipeline);
  assert.ok(fs.existsSync(file), `the local store ${file} exists`);
  const script = [
    'import json, sqlite3, sys',
    'c = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)',
    'integrity = "\\n".join(r[0] for r in c.execute("PRAGMA integrity_check"))',
    'messages = c.execute("SELECT count(*) FROM messages").fetchone()[0]',
    'print(json.dumps({"integrity": integrity, "messages": messages}))',
  ].join('\n');
  const {stdout} = await run('python3', ['-c', script, file]);
  return JSON.parse(stdout);
}
