// `sluice sinks …` and `sluice messages …` against a running sluice, through
// its API (issue 6, docs/operations.md "Command line: messages and sinks"),
// with real Postgres 15, kinesis-local and the AWS SDK reader behind it. The
// output formats and error mappings are covered by
// tests/unit/app/api_commands_test.cc; here the real server answers, and a
// pause must hold changes back until the resume.
import assert from 'node:assert/strict';
import {spawn} from 'node:child_process';
import {once} from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import {test} from 'node:test';

import {assertNoSecrets, useServices, waitFor, withPipeline} from './lib/harness.mjs';
import {sluiceBinary, sluiceEnv} from './lib/sluice.mjs';

const env = useServices('api_cli');

const kSink = 'kinesis-sink';
const kToken = 'e2e-token';  // api.token of sluiceConfig()
const kExitFailure = 1;
const kExitUsage = 64;
const kNotRunning = /^sluice is not running \(no answer at 127\.0\.0\.1:\d+\): acting on the local store directly$/;

// Runs `sluice <args>` to completion with stdout and stderr kept apart.
async function runSluice(args, {timeoutMs = 60000} = {}) {
  const child = spawn(sluiceBinary(), args, {env: sluiceEnv(), stdio: ['ignore', 'pipe', 'pipe']});
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code, signal] = await once(child, 'close');
  clearTimeout(timer);
  return {code, signal, stdout, stderr};
}

// `sluice <args> -c <config>`: must exit `code` by itself and print no secret.
async function cli(p, args, {code = 0, configPath = p.configPath} = {}) {
  const result = await runSluice([...args, '-c', configPath]);
  const shown = `sluice ${args.join(' ')}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`;
  assert.deepEqual({code: result.code, signal: result.signal}, {code, signal: null}, shown);
  assertNoSecrets(result.stdout + result.stderr);
  assert.ok(!(result.stdout + result.stderr).includes(kToken), `the token is never printed\n${shown}`);
  return result;
}

// The same, with --json, parsed; nothing on stderr.
async function cliJson(p, args) {
  const {stdout, stderr} = await cli(p, [...args, '--json']);
  assert.equal(stderr, '', `sluice ${args.join(' ')} --json: nothing on stderr`);
  return JSON.parse(stdout);
}

// The API answers once sluice has started its server.
async function waitForApi(p) {
  await waitFor('the API to answer', async () => {
    try {
      return (await fetch(`http://127.0.0.1:${env.services.apiPort}/health`)).ok;
    } catch {
      return false;
    }
  }, {check: () => p.assertRunning()});
}

const kSetup = 'DROP TABLE IF EXISTS cli_items; ' +
    'CREATE TABLE cli_items (id int PRIMARY KEY, note text NOT NULL)';

test('sinks list, pause and resume; messages list and show of a running sluice',
     {timeout: 150000}, () => withPipeline(env, {setupSql: kSetup, tables: [{name: 'public.cli_items'}]},
                                            async (p) => {
  await waitForApi(p);

  // Delivered: row 1 arrives, and the CLI lists it among the delivered.
  await p.sql("INSERT INTO cli_items VALUES (1, 'first')");
  await p.readMessages({expect: 1});
  const delivered = await waitFor('message of row 1 to be listed as delivered', async () => {
    const page = await cliJson(p, ['messages', 'list', '--state', 'delivered']);
    return page.messages.length > 0 ? page : null;
  });
  assert.deepEqual(Object.keys(delivered).sort(), ['messages', 'next_cursor']);
  const [first] = delivered.messages;
  assert.equal(first.state, 'delivered');
  assert.equal(first.table, 'public.cli_items');
  assert.equal(first.action, 'insert');
  assert.equal(first.partition_key, '1');

  const table = await cli(p, ['messages', 'list', '--state', 'delivered', '--sink', kSink]);
  assert.equal(table.stderr, '', 'no fallback notice while sluice runs');
  const lines = table.stdout.trimEnd().split('\n');
  assert.match(lines[0], /^ID +STATE +TABLE +ACTION +KEY +TRIES +NEXT ATTEMPT +LAST ERROR$/);
  assert.match(lines[1], new RegExp(`^${first.id} +delivered +public\\.cli_items +insert +1 +`));
  assert.equal(lines.at(-1), `1 message shown; no more delivered messages of sink ${kSink}`);

  const shown = await cli(p, ['messages', 'show', String(first.id)]);
  assert.match(shown.stdout, new RegExp(`^id: +${first.id}\n`));
  assert.match(shown.stdout, /\nstate: +delivered\n/);
  assert.match(shown.stdout, /\nshard: +shardId-\d+\n/);

  // Sinks: one, active, with the delivered message counted.
  const sinks = await cliJson(p, ['sinks', 'list']);
  assert.deepEqual(sinks.sinks.map((s) => [s.name, s.status]), [[kSink, 'active']]);
  assert.ok(sinks.sinks[0].counts.delivered >= 1, JSON.stringify(sinks.sinks[0].counts));
  const sinkTable = (await cli(p, ['sinks', 'list'])).stdout.trimEnd().split('\n');
  assert.match(sinkTable[0], /^NAME +STATUS +HEALTH +DELIVERED\/S +BACKLOG +LAG +DELIVERED +REASON$/);
  assert.match(sinkTable[1], new RegExp(`^${kSink} +active +healthy +`));

  // Pause: row 2 is held (pending), not sent.
  const paused = await cli(p, ['sinks', 'pause', kSink]);
  assert.equal(paused.stdout.split('\n')[0], `sink ${kSink} paused (status paused, health paused)`);
  await p.sql("INSERT INTO cli_items VALUES (2, 'second')");
  const held = await waitFor('row 2 to be held while the sink is paused', async () => {
    const page = await cliJson(p, ['messages', 'list', '--state', 'pending']);
    return page.messages.find((m) => m.partition_key === '2');
  }, {check: () => p.assertRunning()});
  assert.equal(held.deliver_count, 0);
  assert.deepEqual((await p.readMessages()).map((r) => r.message.record.id), [1],
                   'nothing of row 2 is sent while the sink is paused');
  assert.equal((await cliJson(p, ['sinks', 'list'])).sinks[0].status, 'paused');

  // Resume: row 2 arrives.
  const resumed = await cli(p, ['sinks', 'resume', kSink]);
  assert.match(resumed.stdout, new RegExp(`^sink ${kSink} resumed \\(status active, health \\w+\\)\n$`));
  const both = await p.readMessages({until: (rs) => rs.length >= 2});
  assert.deepEqual(both.map((r) => r.message.record.id), [1, 2]);

  // Errors come from the API; bulk discards need --yes (nothing is sent).
  const unknown = await cli(p, ['sinks', 'pause', 'nope'], {code: kExitFailure});
  assert.match(unknown.stderr, /^sluice: sink "nope" is not configured[^\n]*\n$/);
  const missing = await cli(p, ['messages', 'show', '999999'], {code: kExitFailure});
  assert.match(missing.stderr, /^sluice: .*999999.*\n$/);
  const bulk = await cli(p, ['messages', 'discard', '--all'], {code: kExitUsage});
  assert.equal(bulk.stderr,
               `sluice: discard --all drops messages of sink ${kSink} for good; add --yes to confirm\n`);

  // A wrong token is refused, and the CLI says where it came from.
  const wrongConfig = path.join(p.dir, 'wrong-token.yaml');
  fs.writeFileSync(wrongConfig, fs.readFileSync(p.configPath, 'utf8')
      .replace(`token: ${kToken}`, 'token: not-the-token'));
  const refused = await cli(p, ['sinks', 'list'], {code: kExitFailure, configPath: wrongConfig});
  assert.match(refused.stderr, /^sluice: sluice's API at 127\.0\.0\.1:\d+ refused the token from config api\.token; /);
  assert.ok(!refused.stderr.includes('not-the-token'), refused.stderr);

  // Stopped: sinks need sluice; messages fall back to the local store.
  assert.deepEqual(await p.stop(), {code: 0, signal: null});
  const down = await cli(p, ['sinks', 'list'], {code: kExitFailure});
  assert.match(down.stderr, /^sluice: sluice is not running \(no answer at 127\.0\.0\.1:\d+\): `sluice sinks` needs a running sluice\n$/);
  const offline = await cli(p, ['messages', 'list', '--json']);
  assert.match(offline.stderr.trimEnd(), kNotRunning);
  assert.deepEqual(JSON.parse(offline.stdout), {messages: [], next_cursor: null},
                   'delivered messages left the store');
  const noHistory = await cli(p, ['messages', 'list', '--state', 'delivered'], {code: kExitFailure});
  assert.equal(noHistory.stderr.split('\n')[1],
               'sluice: --state delivered needs a running sluice: a stopped one holds only pending ' +
               'and failed messages, in its local store');
}));
