// The fault-injecting proxy (tools/node/fault_proxy.mjs) in front of a real
// kinesis-local, without sluice: each fault does what delivery tests rely on.
import assert from 'node:assert/strict';
import {spawn} from 'node:child_process';
import crypto from 'node:crypto';
import http from 'node:http';
import {once} from 'node:events';
import {createRequire} from 'node:module';
import path from 'node:path';
import readline from 'node:readline';
import {after, describe, test} from 'node:test';

import {createStream} from '../../tools/node/create_stream.mjs';
import {startFaultProxy} from '../../tools/node/fault_proxy.mjs';
import {makeKinesisClient} from '../../tools/node/kinesis_client.mjs';
import {readStream} from '../../tools/node/read_stream.mjs';

import {useServices, waitFor} from './lib/harness.mjs';
import {nonLoopbackListeners, tcpListeners} from './lib/listeners.mjs';
import {kToolsDir} from './lib/services.mjs';

const {PutRecordsCommand} = createRequire(path.join(kToolsDir, 'package.json'))('@aws-sdk/client-kinesis');

// kinesis-local wants an Authorization header but does not check signatures.
const kAuth = 'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20240101/us-east-1/kinesis/aws4_request, ' +
    `SignedHeaders=host;x-amz-date, Signature=${'0'.repeat(64)}`;

// One Kinesis JSON-protocol call, no retries: {status, body} or a rejection
// when the connection fails.
async function call(url, op, body, {signal} = {}) {
  const res = await fetch(`${url}/`, {
    method: 'POST', signal,
    headers: {'content-type': 'application/x-amz-json-1.1', 'x-amz-target': `Kinesis_20131202.${op}`,
              'authorization': kAuth, 'x-amz-date': '20240101T000000Z'},
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return {status: res.status, body: text ? JSON.parse(text) : null};
}

const entry = (key, data) => ({PartitionKey: key, Data: Buffer.from(data, 'utf8').toString('base64')});
const sha256 = (text) => crypto.createHash('sha256').update(Buffer.from(text, 'utf8')).digest('hex');

let streamCounter = 0;

describe('fault proxy in front of kinesis-local', () => {
  const env = useServices('fault-proxy', {needsSluice: false});
  const proxies = [];
  after(async () => {
    for (const p of proxies) await p.close();
  });

  async function setup(rules = []) {
    const stream = `proxy-${process.pid}-${++streamCounter}`;
    await createStream({endpoint: env.services.endpoint, stream, shards: 2});
    const proxy = await startFaultProxy({upstream: env.services.endpoint, port: 0, rules});
    proxies.push(proxy);
    const put = (records) => call(proxy.url, 'PutRecords', {StreamName: stream, Records: records});
    const read = async (expect = 0) => {
      const {records, complete} = await readStream({endpoint: env.services.endpoint, stream, expect});
      assert.ok(complete, `reading ${stream}`);
      return records;
    };
    return {stream, proxy, put, read};
  }

  test('without rules it forwards every operation unchanged, for the AWS SDK too', async () => {
    const {stream, proxy, read} = await setup();
    const client = makeKinesisClient({endpoint: proxy.url});
    try {
      const out = await client.send(new PutRecordsCommand({
        StreamName: stream,
        Records: ['one', 'two', 'three'].map((d, i) => ({PartitionKey: `k${i}`, Data: Buffer.from(d)})),
      }));
      assert.equal(out.FailedRecordCount, 0);
      assert.equal(out.Records.length, 3);
      const records = await read(3);
      assert.deepEqual(records.map((r) => r.data).sort(), ['one', 'three', 'two']);
      const stats = proxy.stats();
      assert.equal(stats.operations.PutRecords.requests, 1);
      assert.equal(stats.operations.PutRecords.recordsForwarded, 3);
      assert.equal(stats.operations.PutRecords.entriesFailed, 0);
      // The log names what upstream stored: key, SHA-256 of Data, sequence number.
      assert.deepEqual(stats.putLog.map((e) => [e.partitionKey, e.dataSha256, e.sequenceNumber, e.acknowledged]),
                       out.Records.map((r, i) => [`k${i}`, sha256(['one', 'two', 'three'][i]), r.SequenceNumber, true]));
    } finally {
      client.destroy();
    }
  });

  test('it listens on 127.0.0.1 only and keeps connections alive', async () => {
    const {proxy, stream} = await setup();
    const mine = (await tcpListeners()).filter((l) => l.port === proxy.port && l.pids.includes(process.pid));
    assert.deepEqual(mine.map((l) => l.address), ['127.0.0.1']);
    // One client connection (an agent with one socket) serves every request.
    const agent = new http.Agent({keepAlive: true, maxSockets: 1});
    const post = (body) => new Promise((resolve, reject) => {
      const req = http.request(`${proxy.url}/`, {
        method: 'POST', agent,
        headers: {'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'Kinesis_20131202.PutRecords',
                  'authorization': kAuth, 'x-amz-date': '20240101T000000Z'},
      }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode));
      });
      req.on('error', reject);
      req.end(JSON.stringify(body));
    });
    try {
      for (let i = 0; i < 5; i++) {
        assert.equal(await post({StreamName: stream, Records: [entry('a', `v${i}`)]}), 200);
      }
    } finally {
      agent.destroy();
    }
    assert.equal(proxy.stats().connections, 1);
    assert.equal(proxy.stats().operations.PutRecords.recordsForwarded, 5);
  });

  test('failEntries fails the chosen entries in place and forwards only the others', async () => {
    const {proxy, put, read} = await setup([
      {type: 'failEntries', keys: ['b'], errorCode: 'InternalFailure'},
      {type: 'failEntries', dataIncludes: 'poison'},
      {type: 'failEntries', keyPattern: '^z\\d+$', indexes: [7]},
    ]);
    const records = [entry('a', 'a1'), entry('b', 'b1'), entry('c', 'c1 poison'), entry('a', 'a2'),
                     entry('b', 'b2'), entry('c', 'c2'), entry('z1', 'z-kept'), entry('z2', 'z-failed')];
    const {status, body} = await put(records);
    assert.equal(status, 200);
    assert.equal(body.FailedRecordCount, 4);
    assert.equal(body.Records.length, 8);
    const codes = body.Records.map((r) => r.ErrorCode ?? 'ok');
    assert.deepEqual(codes, ['ok', 'InternalFailure', 'ProvisionedThroughputExceededException', 'ok',
                             'InternalFailure', 'ok', 'ok', 'ProvisionedThroughputExceededException']);
    assert.equal(body.Records[1].ErrorMessage, 'Internal service failure.');
    assert.match(body.Records[2].ErrorMessage, /^Rate exceeded for shard shardId-\d+ in stream proxy-.* under account \d{12}\.$/);
    for (const i of [0, 3, 5, 6]) assert.match(body.Records[i].SequenceNumber, /^\d+$/);

    const stored = await read(4);
    assert.deepEqual(stored.map((r) => r.data).sort(), ['a1', 'a2', 'c2', 'z-kept']);
    // Each success the client saw is the one upstream stored, with its sequence number.
    const bySeq = new Map(stored.map((r) => [r.sequence, r.data]));
    assert.deepEqual([0, 3, 5, 6].map((i) => bySeq.get(body.Records[i].SequenceNumber)), ['a1', 'a2', 'c2', 'z-kept']);
    const stats = proxy.stats();
    assert.equal(stats.operations.PutRecords.entriesFailed, 4);
    assert.equal(stats.operations.PutRecords.recordsForwarded, 4);
    assert.deepEqual(stats.putLog.map((e) => e.dataSha256).sort(), ['a1', 'a2', 'c2', 'z-kept'].map(sha256).sort());
  });

  test('when every entry fails, upstream is not called', async () => {
    const {proxy, put, read, stream} = await setup([{type: 'failEntries'}]);
    const {status, body} = await put([entry('a', '1'), entry('b', '2')]);
    assert.equal(status, 200);
    assert.equal(body.FailedRecordCount, 2);
    assert.ok(body.Records.every((r) => r.ErrorCode === 'ProvisionedThroughputExceededException'));
    assert.equal(proxy.stats().operations.PutRecords.forwarded, 0);
    // Other operations still pass, and nothing reached the stream.
    const described = await call(proxy.url, 'DescribeStreamSummary', {StreamName: stream});
    assert.equal(described.status, 200);
    assert.deepEqual(await read(), []);
  });

  test('probability failures are reproducible from the seed', async () => {
    const rule = {type: 'failEntries', probability: 0.5, seed: 42};
    const a = await setup([rule]);
    const b = await setup([rule]);
    const records = Array.from({length: 40}, (_, i) => entry(`k${i}`, `v${i}`));
    const failedA = (await a.put(records)).body.Records.map((r) => r.ErrorCode != null);
    const failedB = (await b.put(records)).body.Records.map((r) => r.ErrorCode != null);
    assert.deepEqual(failedA, failedB);
    const n = failedA.filter(Boolean).length;
    assert.ok(n > 0 && n < 40, `${n} of 40 failed`);
    const c = await setup([{...rule, seed: 7}]);
    const failedC = (await c.put(records)).body.Records.map((r) => r.ErrorCode != null);
    assert.notDeepEqual(failedC, failedA);
  });

  test('a rule expires after count applications', async () => {
    const {proxy, put, read} = await setup([
      {type: 'failEntries', key: 'k', count: 2},
      {type: 'status', op: 'PutRecords', status: 500, count: 1},
    ]);
    const first = await put([entry('k', 'x')]);
    assert.equal(first.status, 500);  // the status rule decides first; failEntries is not consumed
    const outcomes = [];
    for (let i = 0; i < 3; i++) outcomes.push((await put([entry('k', `try${i}`)])).body.Records[0].ErrorCode ?? 'ok');
    assert.deepEqual(outcomes, ['ProvisionedThroughputExceededException', 'ProvisionedThroughputExceededException', 'ok']);
    assert.deepEqual(proxy.rules().map((r) => [r.remaining, r.applied]), [[0, 2], [0, 1]]);
    assert.deepEqual((await read(1)).map((r) => r.data), ['try2']);
  });

  test('maxPerEntry fails each entry at most that many times, and the fail log lists them', async () => {
    const {proxy, put, read} = await setup([{type: 'failEntries', keys: ['a', 'b'], maxPerEntry: 2}]);
    const outcomes = [];
    for (let i = 0; i < 3; i++) {
      const {body} = await put([entry('a', 'same-a'), entry('b', 'same-b'), entry('c', `c${i}`)]);
      outcomes.push(body.Records.map((r) => r.ErrorCode ?? 'ok'));
    }
    const e = 'ProvisionedThroughputExceededException';
    assert.deepEqual(outcomes, [[e, e, 'ok'], [e, e, 'ok'], ['ok', 'ok', 'ok']]);
    assert.deepEqual((await read(5)).map((r) => r.data).sort(), ['c0', 'c1', 'c2', 'same-a', 'same-b']);
    const failLog = proxy.stats().failLog;
    assert.equal(failLog.length, 4);
    assert.deepEqual(failLog.map((f) => f.partitionKey).sort(), ['a', 'a', 'b', 'b']);
    const viaHttp = await fetch(`${proxy.url}/__proxy/faillog?from=3`).then((r) => r.json());
    assert.equal(viaHttp.total, 4);
    assert.equal(viaHttp.entries.length, 1);
  });

  test('status answers 500, 503 and 400 with a __type, without forwarding', async () => {
    const {proxy, put, read} = await setup();
    const cases = [
      [{status: 500}, 'InternalFailure'],
      [{status: 503}, 'ServiceUnavailable'],
      [{status: 400}, 'ProvisionedThroughputExceededException'],
      [{status: 400, errorType: 'ExpiredTokenException', message: 'The security token included in the request is expired'},
       'ExpiredTokenException'],
    ];
    for (const [spec, type] of cases) {
      await proxy.setRules([{type: 'status', ...spec}]);
      const {status, body} = await put([entry('a', 'never')]);
      assert.equal(status, spec.status);
      assert.equal(body.__type, type);
      assert.equal(typeof body.message, 'string');
    }
    assert.equal(proxy.stats().operations.PutRecords.forwarded, 0);
    await proxy.setRules([]);
    assert.equal((await put([entry('a', 'after')])).status, 200);
    assert.deepEqual((await read(1)).map((r) => r.data), ['after']);
  });

  test('drop before forwarding loses the request; drop after stores it unacknowledged', async () => {
    const {proxy, put, read} = await setup([{type: 'drop', count: 1}, {type: 'drop', when: 'after', count: 1}]);
    await assert.rejects(put([entry('a', 'dropped-before')]), /fetch failed/);
    await assert.rejects(put([entry('a', 'dropped-after')]), /fetch failed/);
    assert.equal((await put([entry('a', 'acknowledged')])).status, 200);
    assert.deepEqual((await read(2)).map((r) => r.data), ['dropped-after', 'acknowledged']);
    assert.deepEqual(proxy.stats().putLog.map((e) => [e.dataSha256, e.acknowledged]),
                     [[sha256('dropped-after'), false], [sha256('acknowledged'), true]]);
    assert.equal(proxy.stats().faults.drop, 2);
  });

  test('a stall holds its request while others pass, until the rules change', async () => {
    const {proxy, put, read, stream} = await setup([{type: 'stall', op: 'PutRecords', count: 1}]);
    const events = [];
    const stalled = put([entry('a', 'stalled')]).then((r) => {
      events.push('stalled answered');
      return r;
    });
    await waitFor('the stall to hold the request', () => proxy.stats().faults.stall === 1);
    assert.equal((await call(proxy.url, 'DescribeStreamSummary', {StreamName: stream})).status, 200);
    assert.equal((await put([entry('b', 'passing')])).status, 200);  // count 1: the stall expired
    events.push('others answered');
    await proxy.setRules([]);
    assert.equal((await stalled).status, 200);
    assert.deepEqual(events, ['others answered', 'stalled answered']);
    assert.deepEqual((await read(2)).map((r) => r.data).sort(), ['passing', 'stalled']);
  });

  test('a stall with ms forwards by itself; then: drop drops; a client that gave up is not forwarded',
       async () => {
         const {proxy, put, read} = await setup([{type: 'stall', ms: 50, count: 1}]);
         assert.equal((await put([entry('a', 'late')])).status, 200);
         await proxy.setRules([{type: 'stall', ms: 50, then: 'drop', count: 1}]);
         await assert.rejects(put([entry('a', 'stalled-dropped')]), /fetch failed/);
         await proxy.setRules([{type: 'stall', count: 1}]);
         const abort = new AbortController();
         const abandoned = call(proxy.url, 'PutRecords', {StreamName: 'unused', Records: [entry('a', 'gave-up')]},
                                {signal: abort.signal});
         await waitFor('the stall to hold the request', () => proxy.stats().faults.stall === 3);
         abort.abort();
         await assert.rejects(abandoned, /abort/i);
         await waitFor('the proxy to notice', () => proxy.stats().abandoned === 1);
         assert.equal((await put([entry('a', 'last')])).status, 200);
         assert.deepEqual((await read(2)).map((r) => r.data), ['late', 'last']);
       });

  test('down refuses connections until cleared, like a stopped emulator', async () => {
    const {proxy, put, read} = await setup();
    assert.equal((await put([entry('a', 'before-down')])).status, 200);
    await proxy.setRules([{type: 'down'}]);
    await assert.rejects(put([entry('a', 'while-down')]), (err) => err.cause?.code === 'ECONNREFUSED');
    assert.equal(proxy.stats().down, true);
    await proxy.setRules([]);
    assert.equal((await put([entry('a', 'after-down')])).status, 200);
    assert.deepEqual((await read(2)).map((r) => r.data), ['before-down', 'after-down']);
    await proxy.setRules([{type: 'down', ms: 20}]);
    await waitFor('the down rule to expire', () => !proxy.stats().down);
    assert.equal((await put([entry('a', 'after-expiry')])).status, 200);
  });

  test('invalid rules are rejected with what and where', async () => {
    const {proxy} = await setup();
    await assert.rejects(proxy.setRules([{type: 'explode'}]), /rules\[0\]\.type: must be one of/);
    await assert.rejects(proxy.setRules([{type: 'failEntries'}, {type: 'failEntries', errorCode: 'Nope'}]),
                         /rules\[1\]\.errorCode: must be one of ProvisionedThroughputExceededException, InternalFailure/);
    await assert.rejects(proxy.setRules([{type: 'status', ms: 3}]), /rules\[0\]\.ms: unknown field for a status rule/);
    await assert.rejects(proxy.setRules([{type: 'failEntries', keyPattern: '('}]), /rules\[0\]\.keyPattern: /);
    await assert.rejects(proxy.setRules([{type: 'failEntries', op: 'PutRecord'}]), /PutRecords only/);
    await assert.rejects(startFaultProxy({upstream: 'http://10.0.0.1:4567'}), /must be on loopback/);
    assert.deepEqual(proxy.rules(), []);
  });

  test('the CLI binds loopback only and is driven through its control endpoint', async () => {
    const stream = `proxy-${process.pid}-${++streamCounter}`;
    await createStream({endpoint: env.services.endpoint, stream, shards: 1});
    const child = spawn('node', [path.join(kToolsDir, 'fault_proxy.mjs'), '--upstream', env.services.endpoint,
                                 '--port', '0', '--control-port', '0'], {stdio: ['ignore', 'pipe', 'inherit']});
    try {
      const [line] = await once(readline.createInterface({input: child.stdout}), 'line');
      const {url, controlUrl} = JSON.parse(line);
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.notEqual(controlUrl, url);
      const listeners = (await tcpListeners()).filter((l) => l.pids.includes(child.pid));
      assert.equal(listeners.length, 2);
      assert.deepEqual(await nonLoopbackListeners([child.pid]), []);

      const control = async (method, route, body) => {
        const res = await fetch(`${controlUrl}/__proxy/${route}`, {method, body: body && JSON.stringify(body)});
        return {status: res.status, body: await res.json()};
      };
      const put = (data) => call(url, 'PutRecords', {StreamName: stream, Records: [entry('k', data)]});
      assert.equal((await put('first')).status, 200);

      const bad = await control('PUT', 'rules', [{type: 'drop', when: 'later'}]);
      assert.equal(bad.status, 400);
      assert.match(bad.body.error, /rules\[0\]\.when: must be "before" or "after"/);

      assert.equal((await control('PUT', 'rules', {rules: [{type: 'failEntries', key: 'k', count: 1}]})).status, 200);
      assert.equal((await put('failed')).body.FailedRecordCount, 1);
      const rules = await control('GET', 'rules');
      assert.deepEqual(rules.body.rules.map((r) => [r.type, r.remaining, r.applied]), [['failEntries', 0, 1]]);

      // down, set through the proxy's own port, cleared through the control port.
      const res = await fetch(`${url}/__proxy/rules`, {method: 'PUT', body: JSON.stringify([{type: 'down'}])});
      assert.equal(res.status, 200);
      await res.text();
      await assert.rejects(put('while-down'), (err) => err.cause?.code === 'ECONNREFUSED');
      assert.equal((await control('DELETE', 'rules')).status, 200);
      assert.equal((await put('second')).status, 200);

      const stats = await control('GET', 'stats');
      assert.equal(stats.body.operations.PutRecords.requests, 3);
      assert.equal(stats.body.operations.PutRecords.entriesFailed, 1);
      assert.equal(stats.body.putLogLength, 2);
      const log = await control('GET', 'log?from=1');
      assert.deepEqual(log.body.entries.map((e) => e.dataSha256), [sha256('second')]);
      const {records} = await readStream({endpoint: env.services.endpoint, stream, expect: 2});
      assert.deepEqual(records.map((r) => r.data), ['first', 'second']);
      assert.equal(records[1].sequence, log.body.entries[0].sequenceNumber);
    } finally {
      child.kill('SIGTERM');
    }
    const [code] = await once(child, 'exit');
    assert.equal(code, 0);
  });
});
