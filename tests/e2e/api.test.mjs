// The management API, /metrics and /health of a running sluice (issue 6),
// with real Postgres 15, kinesis-local and the AWS SDK reader behind it.
// Every endpoint's edge cases are covered by tests/unit/api against a fake
// Control; here the real ServiceControl answers: states and counts must match
// what the reader sees arrive, and actions must change what is delivered.
import assert from 'node:assert/strict';
import http from 'node:http';
import {test} from 'node:test';

import {useServices, waitFor, withPipeline} from './lib/harness.mjs';

const env = useServices('api');

const kToken = 'e2e-token';
const kTable = {name: 'public.api_items'};
const kSetup = 'DROP TABLE IF EXISTS api_items; ' +
    'CREATE TABLE api_items (id int PRIMARY KEY, note text NOT NULL)';
const kBig = 'x'.repeat(1100000);  // the message is over kinesis-local's 1 MiB record limit

function base() {
  return `http://127.0.0.1:${env.services.apiPort}`;
}

async function call(method, path, {token = kToken, body, rawBody, headers = {}} = {}) {
  const h = {...headers};
  if (token !== null) h.authorization = `Bearer ${token}`;
  let payload;
  if (rawBody !== undefined) {
    payload = rawBody;
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    h['content-type'] = 'application/json';
  }
  const res = await fetch(base() + path, {method, headers: h, body: payload});
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON (e.g. /metrics)
  }
  return {status: res.status, headers: res.headers, text, json};
}

async function ok(method, path, options) {
  const r = await call(method, path, options);
  assert.equal(r.status, 200, `${method} ${path}: ${r.text}`);
  return r.json;
}

// Parses the Prometheus text format strictly: every line is a comment of
// the two known kinds or a sample; returns samples as {name, labels, value}.
function parsePrometheus(text) {
  assert.ok(text.endsWith('\n'), 'the exposition ends with a newline');
  const samples = [];
  const typed = new Map();
  for (const line of text.slice(0, -1).split('\n')) {
    let m;
    if ((m = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .+$/.exec(line))) continue;
    if ((m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram)$/.exec(line))) {
      assert.ok(!typed.has(m[1]), `one TYPE line per family: ${m[1]}`);
      typed.set(m[1], m[2]);
      continue;
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*",?)*)\})? ([-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|NaN|\+Inf|-Inf)$/
        .exec(line);
    assert.ok(m, `a Prometheus sample line: ${JSON.stringify(line)}`);
    const labels = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[k] = v;
    const family = m[1].replace(/_(bucket|sum|count)$/, '');
    assert.ok(typed.has(m[1]) || typed.get(family) === 'histogram', `sample ${m[1]} has a TYPE`);
    samples.push({name: m[1], labels, value: Number(m[3])});
  }
  return samples;
}

function sample(samples, name, labels) {
  const found = samples.find((s) => s.name === name &&
      Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  assert.ok(found, `metric ${name}${JSON.stringify(labels)} is exposed`);
  return found.value;
}

async function metrics() {
  const r = await call('GET', '/metrics', {token: null});
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
  return parsePrometheus(r.text);
}

test('the API refuses a missing or wrong token with 401 and nothing else', () =>
  withPipeline(env, {tables: [kTable], setupSql: kSetup}, async (p) => {
    for (const token of [null, 'wrong-token', 'e2e-tokem', 'e2e-token2', '']) {
      for (const path of ['/api/sinks', `/api/sinks/${p.sinkName}`, '/api/sinks/no-such-sink',
                          `/api/sinks/${p.sinkName}/messages?state=failed`]) {
        const r = await call('GET', path, {token});
        assert.equal(r.status, 401, `GET ${path} with token ${JSON.stringify(token)}`);
        assert.equal(r.headers.get('www-authenticate'), 'Bearer');
        assert.equal(r.json?.error?.code, 'unauthorized');
        assert.deepEqual(Object.keys(r.json), ['error']);
        assert.ok(!r.text.includes(p.sinkName), 'a 401 names no sink');
      }
      const post = await call('POST', `/api/sinks/${p.sinkName}/pause`, {token});
      assert.equal(post.status, 401);
    }
    // The sink was not paused by any of those.
    assert.equal((await ok('GET', `/api/sinks/${p.sinkName}`)).status, 'active');

    // Errors with the right token: JSON with a code, naming what is wrong.
    const unknown = await call('GET', '/api/sinks/no-such-sink');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.json.error.code, 'not_found');
    assert.match(unknown.json.error.message, /no-such-sink/);
    const badId = await call('GET', `/api/sinks/${p.sinkName}/messages/12abc`);
    assert.equal(badId.status, 400);
    const badLimit = await call('GET', `/api/sinks/${p.sinkName}/messages?limit=1001`);
    assert.equal(badLimit.status, 400);
    assert.match(badLimit.json.error.message, /limit/);
    const badState = await call('GET', `/api/sinks/${p.sinkName}/messages?state=stuck`);
    assert.equal(badState.status, 400);
    const badCursor = await call('GET', `/api/sinks/${p.sinkName}/messages?cursor=zz`);
    assert.equal(badCursor.status, 400);
    assert.match(badCursor.json.error.message, /cursor/);
    const noMessage = await call('GET', `/api/sinks/${p.sinkName}/messages/999999999`);
    assert.equal(noMessage.status, 404);
    const bulkWithoutBody = await call('POST', `/api/sinks/${p.sinkName}/messages/discard`);
    assert.equal(bulkWithoutBody.status, 400);
    const huge = await call('POST', `/api/sinks/${p.sinkName}/messages/discard`,
                            {rawBody: JSON.stringify({state: 'all', pad: 'x'.repeat(70000)}),
                             headers: {'content-type': 'application/json'}});
    assert.equal(huge.status, 413);
    assert.equal(huge.json.error.code, 'payload_too_large');

    // DNS rebinding: a request addressed to another name is refused, even
    // for the unauthenticated /metrics.
    const rebound = await new Promise((resolve, reject) => {
      const req = http.request({host: '127.0.0.1', port: env.services.apiPort, path: '/metrics',
                                headers: {host: `attacker.example:${env.services.apiPort}`}}, (res) => {
        let body = '';
        res.on('data', (d) => { body += d; });
        res.on('end', () => resolve({status: res.statusCode, body}));
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(rebound.status, 403);
    assert.equal(JSON.parse(rebound.body).error.code, 'forbidden');
    assert.ok(!rebound.body.includes('sluice_messages'), 'no metrics for a rebound name');

    const health = await call('GET', '/health', {token: null});
    assert.deepEqual({status: health.status, body: health.json}, {status: 200, body: {status: 'ok'}});
    await waitFor('/health/ready', async () => (await call('GET', '/health/ready', {token: null})).status === 200);
  }));

test('sinks, delivered messages and metrics follow the changes that flow', () =>
  withPipeline(env, {tables: [kTable], setupSql: kSetup}, async (p) => {
    const before = await metrics();
    const deliveredBefore = sample(before, 'sluice_messages_delivered_total', {sink: p.sinkName});

    for (let i = 1; i <= 12; i++) await p.sql('INSERT INTO api_items VALUES ($1, $2)', [i, `n${i}`]);
    await p.readRecords({expect: 12});
    const sink = await waitFor('the API to count 12 delivered', async () => {
      const s = await ok('GET', `/api/sinks/${p.sinkName}`);
      return s.counts.delivered >= 12 ? s : null;
    });
    assert.equal(sink.name, p.sinkName);
    assert.equal(sink.stream_arn, p.streamArn);
    assert.equal(sink.status, 'active');
    assert.equal(sink.health, 'healthy');
    assert.equal(sink.counts.ingested, 12);
    assert.equal(sink.counts.failed_attempts, 0);
    assert.ok(sink.last_delivered_at, 'last_delivered_at is set');
    const list = await ok('GET', '/api/sinks');
    assert.deepEqual(list.sinks.map((s) => s.name), [p.sinkName]);

    // Recently delivered, newest first, paged with the cursor.
    const seen = [];
    let cursor = '';
    for (let page = 0; page < 10; page++) {
      const r = await ok('GET', `/api/sinks/${p.sinkName}/messages?state=delivered&limit=5` +
                                (cursor ? `&cursor=${cursor}` : ''));
      assert.ok(r.messages.length <= 5);
      seen.push(...r.messages);
      if (r.next_cursor === null) break;
      cursor = r.next_cursor;
    }
    assert.equal(seen.length, 12);
    const ids = seen.map((m) => m.id);
    assert.deepEqual(ids, [...ids].sort((a, b) => b - a), 'newest first');
    assert.equal(new Set(ids).size, 12, 'no message twice across pages');
    assert.deepEqual(seen.map((m) => m.partition_key), Array.from({length: 12}, (_, i) => String(12 - i)));
    for (const m of seen) {
      assert.equal(m.state, 'delivered');
      assert.equal(m.table, 'public.api_items');
      assert.equal(m.action, 'insert');
      assert.equal(m.stream_arn, p.streamArn);
      assert.match(m.shard_id, /^shardId-/);
      assert.match(m.sequence_number, /^\d+$/);
    }
    const one = await ok('GET', `/api/sinks/${p.sinkName}/messages/${ids[0]}`);
    assert.equal(one.message.id, ids[0]);
    assert.equal(one.message.state, 'delivered');
    // Nothing is held now.
    const held = await ok('GET', `/api/sinks/${p.sinkName}/messages`);
    assert.deepEqual(held, {messages: [], next_cursor: null});

    // Counters moved by what flowed; the histograms counted each delivery.
    const after = await metrics();
    assert.equal(sample(after, 'sluice_messages_delivered_total', {sink: p.sinkName}) - deliveredBefore, 12);
    assert.equal(sample(after, 'sluice_messages_ingested_total', {sink: p.sinkName}), 12);
    assert.equal(sample(after, 'sluice_end_to_end_latency_seconds_count', {sink: p.sinkName}), 12);
    assert.equal(sample(after, 'sluice_end_to_end_latency_seconds_bucket', {sink: p.sinkName, le: '+Inf'}), 12);
    assert.ok(sample(after, 'sluice_put_records_duration_seconds_count', {sink: p.sinkName}) >= 1);
    assert.equal(sample(after, 'sluice_messages_in_flight', {sink: p.sinkName}), 0);
    // Caught up and idle: the slot is acknowledged to within the last
    // transaction's WAL (the gauge is the server's WAL end minus that).
    assert.ok(sample(after, 'sluice_replication_lag_bytes', {database: 'app'}) < 1024 * 1024);
    // Every histogram's buckets are cumulative and end at its count.
    for (const name of ['sluice_end_to_end_latency_seconds', 'sluice_put_records_duration_seconds']) {
      const buckets = after.filter((x) => x.name === `${name}_bucket` && x.labels.sink === p.sinkName);
      assert.ok(buckets.length > 1, `${name} has buckets`);
      for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i].value >= buckets[i - 1].value);
      assert.equal(buckets.at(-1).labels.le, '+Inf');
      assert.equal(buckets.at(-1).value, sample(after, `${name}_count`, {sink: p.sinkName}));
    }
  }));

test('a failing message is listed, shown, discarded, and its group moves on', () =>
  withPipeline(env, {tables: [kTable], setupSql: kSetup, extraTopYaml: 'spill_after_ms: 1000'}, async (p) => {
    await p.sql('INSERT INTO api_items VALUES (1, $1)', [kBig]);
    await p.sql("UPDATE api_items SET note = 'small again' WHERE id = 1");
    await p.sql("INSERT INTO api_items VALUES (2, 'other key')");
    const [other] = await p.readMessages({expect: 1});
    assert.equal(other.message.record.id, 2);

    // The oversize head fails (backing off in memory, then failed in the
    // store); the later change of its key waits behind it.
    const failing = await waitFor('the oversize message to be listed as failing', async () => {
      for (const state of ['backing_off', 'failed']) {
        const r = await ok('GET', `/api/sinks/${p.sinkName}/messages?state=${state}`);
        if (r.messages.length > 0) return r.messages;
      }
      return null;
    });
    assert.equal(failing.length, 1);
    const [head] = failing;
    assert.equal(head.partition_key, '1');
    assert.equal(head.action, 'insert');
    assert.ok(head.deliver_count >= 1);
    assert.match(head.last_error, /^oversize: record is \d+ bytes/);
    assert.ok(head.next_attempt_at, 'a failing message has a next attempt time');
    const all = await ok('GET', `/api/sinks/${p.sinkName}/messages`);
    assert.deepEqual(all.messages.map((m) => [m.partition_key, m.action]), [['1', 'insert'], ['1', 'update']]);
    // "failing" lists backing_off and failed together: the head, not the update behind it.
    const failingList = await ok('GET', `/api/sinks/${p.sinkName}/messages?state=failing`);
    assert.deepEqual(failingList.messages.map((m) => m.id), [head.id]);
    if (head.next_attempt_at) {
      assert.ok(Date.parse(head.next_attempt_at) > Date.parse('2020-01-01'), 'a real next attempt time');
    }
    assert.equal(all.messages[1].state, 'pending');

    const sink = await ok('GET', `/api/sinks/${p.sinkName}`);
    assert.equal(sink.health, 'degraded');
    assert.match(sink.health_reason, /oversize/);
    assert.equal(sink.counts.oversize, 1);

    const detail = await ok('GET', `/api/sinks/${p.sinkName}/messages/${head.id}`);
    assert.equal(detail.message.id, head.id);
    assert.equal(detail.change.record.id, 1);
    assert.equal(detail.change.record.note.length, kBig.length);
    assert.equal(detail.change.action, 'insert');
    assert.equal(detail.payload.filtered, false);
    assert.equal(detail.payload.stream_arn, p.streamArn);
    assert.equal(detail.payload.error, null);

    // Redeliver: tried again at once (it fails again: still oversize).
    const before = head.deliver_count;
    await waitFor('a redeliver to be accepted (409 while an attempt is in flight)', async () => {
      const r = await call('POST', `/api/sinks/${p.sinkName}/messages/${head.id}/redeliver`);
      assert.ok(r.status === 200 || r.status === 409, `redeliver: ${r.status} ${r.text}`);
      return r.status === 200;
    });
    await waitFor('the redelivered message to be attempted again', async () => {
      const m = await ok('GET', `/api/sinks/${p.sinkName}/messages/${head.id}`);
      return m.message.deliver_count > before;
    });

    const discarded = await ok('POST', `/api/sinks/${p.sinkName}/messages/${head.id}/discard`);
    assert.deepEqual(discarded, {affected: 1, skipped: 0});
    const again = await call('POST', `/api/sinks/${p.sinkName}/messages/${head.id}/discard`);
    assert.equal(again.status, 404, 'a discarded message is gone');

    // The group moves on: key 1's update arrives.
    const records = await p.readMessages({expect: 2});
    assert.deepEqual(records.map((r) => [r.message.record.id, r.message.action]), [[2, 'insert'], [1, 'update']]);
    await waitFor('nothing held', async () =>
      (await ok('GET', `/api/sinks/${p.sinkName}/messages`)).messages.length === 0);
    const healed = await ok('GET', `/api/sinks/${p.sinkName}`);
    assert.equal(healed.counts.discarded, 1);
    assert.equal(healed.health, 'healthy');
  }));

test('bulk discard of failing messages leaves the others; pause holds delivery until resume', () =>
  withPipeline(env, {tables: [kTable], setupSql: kSetup}, async (p) => {
    await p.sql('INSERT INTO api_items VALUES (1, $1)', [kBig]);
    await p.sql('INSERT INTO api_items VALUES (2, $1)', [kBig]);
    await p.sql("INSERT INTO api_items VALUES (3, 'fine')");
    await p.readRecords({expect: 1});
    await waitFor('both oversize messages to fail', async () => {
      const r = await ok('GET', `/api/sinks/${p.sinkName}/messages`);
      return r.messages.length === 2 && r.messages.every((m) => m.deliver_count >= 1);
    });
    // A retry may be in flight at that moment (then it is skipped and left
    // alone): discard until both are gone.
    let discarded = 0;
    await waitFor('both failing messages discarded', async () => {
      const r = await ok('POST', `/api/sinks/${p.sinkName}/messages/discard`, {body: {state: 'failed'}});
      discarded += r.affected;
      return discarded >= 2;
    });
    assert.equal(discarded, 2);
    assert.deepEqual((await ok('GET', `/api/sinks/${p.sinkName}/messages`)).messages, []);

    const paused = await ok('POST', `/api/sinks/${p.sinkName}/pause`);
    assert.equal(paused.status, 'paused');
    assert.equal(paused.health, 'paused');
    const requestsAtPause = sample(await metrics(), 'sluice_put_records_requests_total', {sink: p.sinkName});
    for (let i = 10; i < 13; i++) await p.sql("INSERT INTO api_items VALUES ($1, 'while paused')", [i]);
    const pending = await waitFor('the changes made while paused to be held', async () => {
      const r = await ok('GET', `/api/sinks/${p.sinkName}/messages?state=pending`);
      return r.messages.length === 3 ? r.messages : null;
    });
    assert.deepEqual(pending.map((m) => m.partition_key), ['10', '11', '12']);
    assert.equal(sample(await metrics(), 'sluice_put_records_requests_total', {sink: p.sinkName}), requestsAtPause,
                 'a paused sink sends nothing');

    const resumed = await ok('POST', `/api/sinks/${p.sinkName}/resume`);
    assert.equal(resumed.status, 'active');
    const records = await p.readMessages({expect: 4});
    assert.deepEqual(records.map((r) => r.message.record.id), [3, 10, 11, 12]);
  }));

test('a message shows its raw change and its payload after the sink\'s functions', () =>
  withPipeline(env, {
    tables: [kTable], setupSql: kSetup,
    extraTopYaml: [
      'functions:',
      '  - name: shout',
      '    type: transform',
      '    code: |',
      '      function transform(action, record, changes, metadata)',
      '        return {id = record.id, note = string.upper(record.note), via = "transform"}',
      '      end',
    ].join('\n'),
    extraSinkYaml: '    transform: shout',
  }, async (p) => {
    await ok('POST', `/api/sinks/${p.sinkName}/pause`);
    await p.sql("INSERT INTO api_items VALUES (7, 'quiet words')");
    const [held] = await waitFor('the change to be held while paused', async () => {
      const r = await ok('GET', `/api/sinks/${p.sinkName}/messages?state=pending`);
      return r.messages.length === 1 ? r.messages : null;
    });
    const detail = await ok('GET', `/api/sinks/${p.sinkName}/messages/${held.id}`);
    assert.deepEqual(detail.change.record, {id: 7, note: 'quiet words'});
    assert.equal(detail.change.action, 'insert');
    assert.deepEqual(detail.payload.data, {id: 7, note: 'QUIET WORDS', via: 'transform'});
    assert.equal(detail.payload.stream_arn, p.streamArn);
    assert.equal(detail.payload.filtered, false);
    assert.equal(detail.payload.error, null);
    await ok('POST', `/api/sinks/${p.sinkName}/resume`);
    const [record] = await p.readMessages({expect: 1});
    assert.deepEqual(record.message, {id: 7, note: 'QUIET WORDS', via: 'transform'}, 'the payload is what was put');
  }));
