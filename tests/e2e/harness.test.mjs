// The e2e harness itself, without sluice: the service scripts, the
// independent reader and the checks the other e2e files rely on.
import assert from 'node:assert/strict';
import {execFile} from 'node:child_process';
import {createRequire} from 'node:module';
import path from 'node:path';
import {describe, test} from 'node:test';
import {promisify} from 'node:util';

import {createStream} from '../../tools/node/create_stream.mjs';
import {makeKinesisClient} from '../../tools/node/kinesis_client.mjs';

import {useServices} from './lib/harness.mjs';
import {JsonNumber, num, parseExact} from './lib/json.mjs';
import {nonLoopbackListeners} from './lib/listeners.mjs';
import {assertPerKeyOrder} from './lib/messages.mjs';
import {kRepoRoot, kToolsDir} from './lib/services.mjs';

const run = promisify(execFile);
const {PutRecordsCommand} = createRequire(path.join(kToolsDir, 'package.json'))('@aws-sdk/client-kinesis');

async function putRecords(endpoint, stream, entries) {
  const client = makeKinesisClient({endpoint});
  try {
    const out = await client.send(new PutRecordsCommand({
      StreamName: stream,
      Records: entries.map(([key, data]) => ({PartitionKey: key, Data: Buffer.from(data, 'utf8')})),
    }));
    assert.equal(out.FailedRecordCount ?? 0, 0);
  } finally {
    client.destroy();
  }
}

// read_stream.mjs as a separate process, the way a user runs it.
async function readStreamCli(args) {
  try {
    const {stdout} = await run('node', [path.join(kToolsDir, 'read_stream.mjs'), ...args]);
    return {code: 0, lines: stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l))};
  } catch (err) {
    return {code: err.code, lines: err.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)),
            stderr: err.stderr};
  }
}

for (const flavour of ['kinesis-local', 'kinesalite']) {
  describe(`services with ${flavour}`, () => {
    const env = useServices(`harness-${flavour}`, {needsSluice: false, kinesisFlavour: flavour});

    test('Postgres and the emulator listen on loopback only', async () => {
      const pids = env.services.serverPids();
      assert.equal(pids.length, 2);
      assert.deepEqual(await nonLoopbackListeners(pids), []);
    });

    test('Postgres is set up for logical replication with database app', async () => {
      const rows = await env.services.sql(`
        SELECT current_setting('wal_level') AS wal_level,
               current_setting('max_replication_slots')::int AS slots,
               current_setting('max_wal_senders')::int AS senders,
               current_database() AS db`);
      assert.deepEqual(rows, [{wal_level: 'logical', slots: 20, senders: 20, db: 'app'}]);
    });

    test('read_stream prints every record in shard then sequence order, data decoded', async () => {
      const {endpoint} = env.services;
      const {arn, shards} = await createStream({endpoint, stream: 'harness-order', shards: 3});
      assert.match(arn, /^arn:aws:kinesis:us-east-1:\d{12}:stream\/harness-order$/);
      assert.equal(shards, 3);
      const entries = [];
      for (let i = 0; i < 30; i++) entries.push([`key-${i % 7}`, JSON.stringify({i, text: 'ünï ✓'})]);
      await putRecords(endpoint, 'harness-order', entries.slice(0, 15));
      await putRecords(endpoint, 'harness-order', entries.slice(15));
      const {code, lines} = await readStreamCli(['--endpoint', endpoint, '--stream', 'harness-order',
                                                 '--expect', '30']);
      assert.equal(code, 0);
      assert.equal(lines.length, 30);
      for (let i = 1; i < lines.length; i++) {
        const [a, b] = [lines[i - 1], lines[i]];
        assert.ok(a.shard < b.shard || (a.shard === b.shard && BigInt(a.sequence) < BigInt(b.sequence)),
                  `line ${i} out of order`);
      }
      // Per key, the reader shows the put order; every record once, intact.
      const byKey = new Map();
      for (const l of lines) byKey.set(l.partitionKey, [...(byKey.get(l.partitionKey) ?? []), JSON.parse(l.data).i]);
      for (const [key, is] of byKey) {
        const k = Number(key.split('-')[1]);
        assert.deepEqual(is, Array.from({length: 30}, (_, i) => i).filter((i) => i % 7 === k));
      }
      assert.equal(JSON.parse(lines[0].data).text, 'ünï ✓');
      assert.deepEqual(Object.keys(lines[0]).sort(), ['data', 'partitionKey', 'sequence', 'shard']);
    });

    test('kinesis.sh refuses a port that is already in use', async () => {
      const dir = path.join(env.services.tmp, 'second-emulator');
      await assert.rejects(
          run(path.join(kRepoRoot, 'scripts/kinesis.sh'), ['start', dir, String(env.services.kinesisPort), flavour]),
          /already in use/);
    });

    test('read_stream exits 3 with what it has when --expect is not reached in time', async () => {
      const {endpoint} = env.services;
      await createStream({endpoint, stream: 'harness-short', shards: 1});
      await putRecords(endpoint, 'harness-short', [['k', 'one'], ['k', 'two']]);
      const {code, lines, stderr} = await readStreamCli(['--endpoint', endpoint, '--stream', 'harness-short',
                                                         '--expect', '3', '--timeout-ms', '1000']);
      assert.equal(code, 3);
      assert.deepEqual(lines.map((l) => l.data), ['one', 'two']);
      assert.match(stderr, /timed out with 2 of 3 records/);
    });
  });
}

test('the service scripts reject bad arguments; stop of nothing succeeds', async () => {
  const kinesis = path.join(kRepoRoot, 'scripts/kinesis.sh');
  const pg = path.join(kRepoRoot, 'scripts/pg.sh');
  await assert.rejects(run(kinesis, ['start', '/tmp/sluice-harness-unused', 'not-a-port']), /usage/);
  await assert.rejects(run(kinesis, ['start', '/tmp/sluice-harness-unused', '25699', 'dynamo']), /usage/);
  await assert.rejects(run(pg, ['start', '/tmp/sluice-harness-unused']), /usage/);
  await run(kinesis, ['stop', '/tmp/sluice-harness-does-not-exist']);
  await run(pg, ['stop', '/tmp/sluice-harness-does-not-exist']);
});

test('parseExact keeps the digits of numbers a double cannot hold', () => {
  const v = parseExact('{"a":9223372036854775807,"b":1.5,"c":3.1400,"d":[1,-2.25e-300],"e":"\\u00e9"}');
  assert.deepEqual(v, {a: num('9223372036854775807'), b: 1.5, c: num('3.1400'), d: [1, -2.25e-300], e: 'é'});
  assert.ok(v.c instanceof JsonNumber);
  assert.notDeepStrictEqual(parseExact('3.14'), num('3.140'));
  assert.throws(() => parseExact('{"a":1,}'), SyntaxError);
  assert.throws(() => parseExact('[1] 2'), SyntaxError);
});

test('assertPerKeyOrder accepts redeliveries and rejects a reordering', () => {
  const rec = (key, lsn, idx) => ({
    partitionKey: key,
    message: {metadata: {commit_lsn: lsn, commit_idx: idx, idempotency_key: `${lsn}:${idx}`}},
  });
  // A crash redelivers 100:0 and 100:1 after 200:0 was sent: first occurrences stay ordered.
  assertPerKeyOrder([rec('a', 100, 0), rec('a', 100, 1), rec('b', 150, 0), rec('a', 100, 0),
                     rec('a', 100, 1), rec('a', 200, 0)]);
  assert.throws(() => assertPerKeyOrder([rec('a', 200, 0), rec('a', 100, 0)]), /arrived after/);
  assert.throws(() => assertPerKeyOrder([rec('a', 100, 1), rec('a', 100, 0)]), /arrived after/);
});
