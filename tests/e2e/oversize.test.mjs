// An oversize record (issue 3, last bullet): a row whose message is over the
// stream's maximum record size (kinesis-local: 1 MiB) is never sent. It fails
// locally with an "oversize" error, and after spill_after_ms its group goes to
// the local store while other keys flow. With sluice stopped, `sluice messages`
// shows it; discarding it lets its group's later changes through, and so does
// redelivering it once a transform shrinks it.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import {test} from 'node:test';

import {useServices, waitFor, withPipeline} from './lib/harness.mjs';
import {confirmedFlushLsn} from './lib/faults.mjs';
import {walPosition} from './lib/messages.mjs';
import {runSluiceCommand} from './lib/sluice.mjs';

const env = useServices('oversize');

const kMaxRecordBytes = 1048576;  // kinesis-local reports no MaxRecordSizeInKiB: the 1 MiB default
const kBig = 'x'.repeat(1100000);  // ~1.1 MB of text: the message is over 1 MiB
const kSink = 'kinesis-sink';

// Runs `statements` ([sql, params] pairs) in one transaction.
async function transaction(p, statements) {
  const client = await p.connect();
  try {
    await client.query('BEGIN');
    for (const [sql, params] of statements) await client.query(sql, params);
    await client.query('COMMIT');
  } finally {
    await client.end();
  }
}

// Waits until the slot confirmed everything committed so far. A message that
// keeps failing holds the slot back until it is written to the local store,
// so this is the signal that the oversize message and its group are stored.
async function waitUntilConfirmed(p, what) {
  const wal = await walPosition((q) => p.sql(q));
  await waitFor(`confirmed_flush_lsn to reach ${wal} (${what})`,
                async () => (await confirmedFlushLsn(p)) >= wal,
                {timeoutMs: 60000, intervalMs: 200, check: () => p.assertRunning()});
}

async function messagesCommand(p, args) {
  const {code, signal, output} = await runSluiceCommand(['messages', ...args, '-c', p.configPath, '--json']);
  assert.deepEqual({code, signal}, {code: 0, signal: null}, `sluice messages ${args.join(' ')}:\n${output}`);
  return JSON.parse(output.trimEnd().split("\n").at(-1));  // stdout's one line, after the fallback notice
}

// The store's messages of the sink, by id (= commit order), listed as the API
// lists them (docs/api.md): {"messages": [...], "next_cursor": null on the last page}.
async function storedMessages(p, state = 'all') {
  const page = await messagesCommand(p, ['list', '--sink', kSink, '--limit', '1000', '--state', state]);
  assert.deepEqual(Object.keys(page).sort(), ['messages', 'next_cursor']);
  assert.equal(page.next_cursor, null);
  return page.messages;
}

// Asserts that `stored` is the oversize head of key `key` with the later
// changes of that key waiting behind it; returns the head.
function assertOversizeGroup(stored, key, laterCount) {
  assert.deepEqual(stored.map((m) => m.partition_key), Array(1 + laterCount).fill(key),
                   `the store holds key ${key}'s oversize message and its ${laterCount} later changes: ` +
                   JSON.stringify(stored));
  const [head, ...later] = stored;
  assert.equal(head.action, 'insert');
  assert.equal(head.state, 'failed');
  assert.ok(head.deliver_count >= 1, `the head was attempted: ${JSON.stringify(head)}`);
  assert.ok(Date.parse(head.next_attempt_at) > Date.parse('2020-01-01T00:00:00Z'),
            `a failed message has its next attempt: ${JSON.stringify(head)}`);
  const m = new RegExp("^oversize: record is (\\d+) bytes \\(data (\\d+) \\+ partition key (\\d+)\\), " +
                       "over the stream's maximum record size of (\\d+) bytes").exec(head.last_error);
  assert.ok(m, `the last error names the size and the limit: ${head.last_error}`);
  const [total, data, keyBytes, limit] = m.slice(1).map(Number);
  assert.equal(limit, kMaxRecordBytes);
  assert.equal(keyBytes, key.length);
  assert.equal(total, data + keyBytes);
  assert.ok(data > kBig.length && total > limit, `the record size ${total} is the message's`);
  for (const w of later) {
    assert.equal(w.state, 'pending', `a later change waits behind the head: ${JSON.stringify(w)}`);
    assert.equal(w.next_attempt_at, null);
    assert.ok(w.id > head.id);
  }
  return head;
}

// [action, v] of each record of `key`, in stream order, without duplicates of
// an idempotency key (at-least-once).
function changesOf(messages, key) {
  const seen = new Set();
  const out = [];
  for (const r of messages) {
    if (r.partitionKey !== key || seen.has(r.message.metadata.idempotency_key)) continue;
    seen.add(r.message.metadata.idempotency_key);
    out.push([r.message.action, r.message.record.v ?? null]);  // a delete has the key only
  }
  return out;
}

const kNoBigYaml = `functions:
  - name: no-big
    type: transform
    code: |
      function transform(action, record, changes, metadata)
        local slim = sluice.object()
        for k, v in pairs(record) do
          if k ~= "big" then slim[k] = v end
        end
        return { action = action, record = slim, changes = changes, metadata = metadata }
      end`;

test('an oversize record goes to the store; discard lets its key move on; ' +
     'a shrinking transform and redeliver deliver it',
     {timeout: 150000}, () => withPipeline(env, {
       setupSql: 'CREATE TABLE docs (id int PRIMARY KEY, v int NOT NULL, big text)',
       tables: [{name: 'public.docs'}], extraTopYaml: 'spill_after_ms: 500',
     }, async (p) => {
  // Round 1: key 1 is oversize; keys 2..4 change around it.
  await p.sql('INSERT INTO docs VALUES (1, 1, $1)', [kBig]);
  await transaction(p, [
    ["INSERT INTO docs VALUES (2, 1, 'a'), (3, 1, 'b')"],
    ["UPDATE docs SET v = 2, big = 'small' WHERE id = 1"],
    ['UPDATE docs SET v = 2 WHERE id = 2'],
  ]);
  await p.sql('UPDATE docs SET v = 3 WHERE id = 1');
  await transaction(p, [
    ["INSERT INTO docs VALUES (4, 1, 'c')"],
    ['DELETE FROM docs WHERE id = 3'],
    ['UPDATE docs SET v = 4 WHERE id = 1'],
  ]);
  const others = await p.readMessages({expect: 5});
  assert.deepEqual(changesOf(others, '2'), [['insert', 1], ['update', 2]]);
  assert.deepEqual(changesOf(others, '3'), [['insert', 1], ['delete', null]]);
  assert.deepEqual(changesOf(others, '4'), [['insert', 1]]);
  await waitUntilConfirmed(p, 'key 1 stored');
  assert.deepEqual(changesOf(await p.readMessages(), '1'), [], 'nothing of key 1 is sent');
  const log = fs.readFileSync(p.logPath, 'utf8');
  assert.match(log, / warning sink kinesis-sink: message \d+ \(public\.docs, commit_lsn \S+\): oversize: record is /,
               'the first failure is logged');
  assert.deepEqual(await p.stop(), {code: 0, signal: null}, 'sluice exits 0 on SIGTERM');

  const first = assertOversizeGroup(await storedMessages(p), '1', 3);
  assert.deepEqual((await storedMessages(p, 'failing')).map((m) => m.id), [first.id],
                   '--state failing lists the attempted message only');
  assert.deepEqual(await messagesCommand(p, ['discard', String(first.id), '--sink', kSink]),
                   {affected: 1, skipped: 0});
  assert.deepEqual((await storedMessages(p)).map((m) => m.id).includes(first.id), false);

  await p.start();
  const afterDiscard = await p.readMessages({until: (rs) => rs.filter((r) => r.partitionKey === '1').length >= 3});
  assert.deepEqual(changesOf(afterDiscard, '1'), [['update', 2], ['update', 3], ['update', 4]],
                   'the later changes of key 1 arrive in order; the discarded insert never does');
  assert.deepEqual(afterDiscard.filter((r) => r.partitionKey === '1').map((r) => r.message.record.big),
                   ['small', 'small', 'small']);

  // Round 2: key 10 is oversize, then shrunk by a transform and redelivered.
  await p.sql('INSERT INTO docs VALUES (10, 1, $1)', [kBig]);
  await transaction(p, [
    ["UPDATE docs SET v = 2, big = 'tiny' WHERE id = 10"],
    ["INSERT INTO docs VALUES (11, 1, 'd')"],
  ]);
  await p.sql('UPDATE docs SET v = 3 WHERE id = 10');
  await p.readMessages({until: (rs) => rs.some((r) => r.partitionKey === '11')});
  await waitUntilConfirmed(p, 'key 10 stored');
  assert.deepEqual(changesOf(await p.readMessages(), '10'), [], 'nothing of key 10 is sent');
  assert.deepEqual(await p.stop(), {code: 0, signal: null}, 'sluice exits 0 on SIGTERM');

  const second = assertOversizeGroup(await storedMessages(p), '10', 2);
  const yaml = fs.readFileSync(p.configPath, 'utf8');
  assert.ok(yaml.includes('\napi:') && yaml.endsWith('\n'));
  fs.writeFileSync(p.configPath, yaml.replace('\napi:', `\n${kNoBigYaml}\napi:`) + '    transform: no-big\n');
  // show computes the payload with the sink's functions, as the API does.
  const shown = await messagesCommand(p, ['show', String(second.id), '--sink', kSink]);
  assert.deepEqual(Object.keys(shown).sort(), ['change', 'message', 'payload']);
  assert.equal(shown.message.id, second.id);
  assert.equal(shown.change.record.big, kBig, 'the change is the message before the functions');
  assert.deepEqual(Object.keys(shown.payload.data.record).sort(), ['id', 'v'],
                   `the payload is after the transform: ${JSON.stringify(shown.payload.data)}`);
  assert.equal(shown.payload.filtered, false);
  assert.equal(shown.payload.error, null);
  const before = Date.now();
  assert.deepEqual(await messagesCommand(p, ['redeliver', String(second.id), '--sink', kSink]),
                   {affected: 1, skipped: 0});
  const due = (await storedMessages(p)).find((m) => m.id === second.id);
  const dueAt = Date.parse(due.next_attempt_at);
  assert.ok(dueAt >= before - 1000 && dueAt <= Date.now(),
            `a redelivered message is due now (not at 1970): ${due.next_attempt_at}`);

  await p.start();
  const all = await p.readMessages({until: (rs) => rs.filter((r) => r.partitionKey === '10').length >= 3});
  assert.deepEqual(changesOf(all, '10'), [['insert', 1], ['update', 2], ['update', 3]],
                   'key 10 arrives, its oversize insert first, then its later changes in order');
  for (const r of all.filter((x) => x.partitionKey === '10')) {
    assert.deepEqual(Object.keys(r.message.record).sort(), ['id', 'v'], 'the transform dropped big');
  }
  assert.deepEqual(await p.stop(), {code: 0, signal: null}, 'sluice exits 0 on SIGTERM');
  assert.deepEqual(await storedMessages(p), [], 'delivered messages leave the store');
}));
