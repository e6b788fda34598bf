// The command line on bad input (docs/operations.md, issue 2): every invalid
// config, an unreachable database, wal_level not logical and a bad command
// line give a clear message (file:line: key path, the variable, host:port, the
// setting) and the documented exit code: 2 invalid config, 1 runtime failure
// or a failed check, 64 bad command line. Never a crash (death by a signal),
// never a secret in the output.
import assert from 'node:assert/strict';
import {spawn, spawnSync} from 'node:child_process';
import {once} from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import {test} from 'node:test';

import {createStream} from '../../tools/node/create_stream.mjs';

import {assertNoSecrets, useServices} from './lib/harness.mjs';
import {claimPorts, kPostgresPorts, releasePorts} from './lib/ports.mjs';
import {kDatabasePassword} from './lib/services.mjs';
import {kDummySecretAccessKey, sluiceBinary, sluiceConfig, sluiceEnv} from './lib/sluice.mjs';

// The Postgres of this file runs with wal_level = replica: the config tests
// never reach it, the wal_level tests need it that way.
// sluice check / run reach the emulator through the file's sigv4 proxy
// (env.services.signing), with the dummy static keys the config tests look for.
const env = useServices('cli', {pgExtraConf: 'wal_level = replica', credentials: 'static'});

const kExitFailure = 1;
const kExitConfigError = 2;
const kExitUsage = 64;

let fileCounter = 0;

// Writes `yaml` to a fresh file under the services' tmp dir; returns its path.
function writeConfig(yaml) {
  const dir = path.join(env.services.tmp, `cli-${++fileCounter}`);
  fs.mkdirSync(dir, {recursive: true});
  const file = path.join(dir, 'sluice.yaml');
  fs.writeFileSync(file, yaml);
  return file;
}

// Runs `sluice <args>` to completion with stdout and stderr kept apart.
// A process still running after timeoutMs is killed (and then fails the
// no-signal assertion of assertNoCrash).
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

// Exited by itself (no signal, so no crash and no hang), with `code`, and
// printed no secret of the config.
function assertExit(result, code) {
  const shown = `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`;
  assert.equal(result.signal, null, `sluice died from ${result.signal}\n${shown}`);
  assert.equal(result.code, code, `exit code\n${shown}`);
  assertNoSecrets(result.stdout + result.stderr);
}

// The 1-based line of the first line of `yaml` that starts (after
// indentation) with `prefix`.
function lineOf(yaml, prefix) {
  const index = yaml.split('\n').findIndex((l) => l.trimStart().startsWith(prefix));
  assert.ok(index >= 0, `no line starting with ${prefix} in\n${yaml}`);
  return index + 1;
}

// A valid config holding both secrets the tests look for (the database
// password and the AWS secret key). Nothing is contacted while it is only
// loaded.
function validConfig({databaseUrl, streamArn, endpoint} = {}) {
  const yaml = sluiceConfig({
    dataDir: path.join(env.services.tmp, 'data'),
    apiPort: env.services.apiPort,
    databaseUrl: databaseUrl ?? `postgres://postgres:${kDatabasePassword}@127.0.0.1:5432/app`,
    slot: 'sluice_slot',
    publication: 'sluice_pub',
    sinkName: 'kinesis-sink',
    streamArn: streamArn ?? 'arn:aws:kinesis:us-east-1:123456789012:stream/cli-orders',
    endpoint: endpoint ?? 'http://127.0.0.1:4567',
    tables: [{name: 'public.orders'}],
  });
  assert.ok(yaml.includes(kDatabasePassword) && yaml.includes(kDummySecretAccessKey),
            'the config holds the secrets the output is checked for');
  return yaml;
}

const replaceLine = (yaml, prefix, replacement) => {
  const lines = yaml.split('\n');
  lines[lineOf(yaml, prefix) - 1] = replacement;
  return lines.join('\n');
};

// Each case: a broken config and the one problem sluice must report, as
// `<file>:<line>: <key path>: <what>` (docs/operations.md).
const kConfigCases = [
  {
    name: 'malformed YAML (a second colon in a value)',
    yaml: () => replaceLine(validConfig(), 'batch_size:', '    batch_size: 10: 5'),
    problem: (file, yaml) => `${file}:${lineOf(yaml, 'batch_size:')}: invalid YAML: illegal map value`,
  },
  {
    // The parser notices the missing "]" at the next line, and says so there.
    name: 'malformed YAML (an unclosed flow sequence)',
    yaml: () => replaceLine(validConfig(), 'database: app', '    database: [app'),
    problem: (file, yaml) => `${file}:${lineOf(yaml, 'database: [app') + 1}: ` +
        'invalid YAML: end of sequence flow not found',
  },
  {
    name: 'an unknown key',
    yaml: () => replaceLine(validConfig(), 'batch_size:', '    batch_sise: 10'),
    problem: (file, yaml) => `${file}:${lineOf(yaml, 'batch_sise:')}: sinks[0].batch_sise: ` +
        'unknown key; did you mean "batch_size"?',
  },
  {
    name: 'a stream ARN with an 11-digit account',
    yaml: () => replaceLine(validConfig(), 'stream_arn:',
                            '      stream_arn: arn:aws:kinesis:us-east-1:12345678901:stream/orders'),
    problem: (file, yaml) => `${file}:${lineOf(yaml, 'stream_arn:')}: ` +
        'sinks[0].destination.stream_arn: account "12345678901" must be exactly 12 digits',
  },
  {
    name: 'a stream ARN of another service',
    yaml: () => replaceLine(validConfig(), 'stream_arn:',
                            '      stream_arn: arn:aws:sqs:us-east-1:123456789012:orders'),
    problem: (file, yaml) => new RegExp(`^${escape(file)}:${lineOf(yaml, 'stream_arn:')}: ` +
        `sinks\\[0\\]\\.destination\\.stream_arn: not a Kinesis ARN: service is "sqs".*$`),
  },
  {
    name: 'access_key_id without secret_access_key',
    yaml: () => validConfig().split('\n').filter((l) => !l.includes('secret_access_key')).join('\n'),
    problem: (file, yaml) => `${file}:${lineOf(yaml, 'access_key_id:')}: ` +
        'sinks[0].destination.secret_access_key: missing: access_key_id is given, ' +
        'so secret_access_key is required',
  },
  {
    name: 'batch_size 0',
    yaml: () => replaceLine(validConfig(), 'batch_size:', '    batch_size: 0'),
    problem: (file, yaml) => `${file}:${lineOf(yaml, 'batch_size:')}: sinks[0].batch_size: ` +
        'must be between 1 and 500, got 0',
  },
  {
    name: 'batch_size 501',
    yaml: () => replaceLine(validConfig(), 'batch_size:', '    batch_size: 501'),
    problem: (file, yaml) => `${file}:${lineOf(yaml, 'batch_size:')}: sinks[0].batch_size: ` +
        'must be between 1 and 500, got 501',
  },
  {
    name: '${VAR} of an unset variable without a default',
    yaml: () => replaceLine(validConfig(), 'api:',
                            'api: {listen: "127.0.0.1:7376", token: ${SLUICE_E2E_UNSET_TOKEN}}'),
    problem: (file, yaml) => `${file}:${lineOf(yaml, 'api:')}: api.token: environment variable ` +
        'SLUICE_E2E_UNSET_TOKEN is not set (write ${SLUICE_E2E_UNSET_TOKEN:-default} to give ' +
        'a default)',
  },
];

function escape(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

// stderr is the header and exactly the one expected problem: nothing else
// (no misleading second error, no stack trace).
function assertConfigProblem(stderr, expected) {
  const lines = stderr.trimEnd().split('\n');
  assert.equal(lines[0], 'sluice: invalid config:', stderr);
  assert.equal(lines.length, 2, `one problem reported:\n${stderr}`);
  if (expected instanceof RegExp) {
    assert.match(lines[1], expected);
  } else {
    assert.equal(lines[1], expected);
  }
}

for (const command of ['run', 'check']) {
  for (const c of kConfigCases) {
    test(`sluice ${command} with ${c.name}: exit 2 naming the place`, async () => {
      const yaml = c.yaml();
      const file = writeConfig(yaml);
      const result = await runSluice([command, '-c', file]);
      assertExit(result, kExitConfigError);
      assertConfigProblem(result.stderr, c.problem(file, yaml));
      assert.equal(result.stdout, '', 'nothing on stdout');
    });
  }

  test(`sluice ${command} with a missing config file: exit 2 naming the file`, async () => {
    const file = path.join(env.services.tmp, 'no-such-dir', 'sluice.yaml');
    const result = await runSluice([command, '-c', file]);
    assertExit(result, kExitConfigError);
    assertConfigProblem(result.stderr, `${file}: cannot open config file: No such file or directory`);
  });
}

// A working stream on the services' emulator, so that the database is the
// only thing wrong in the check tests below.
async function streamForCheck(name) {
  const {arn} = await createStream({endpoint: env.services.endpoint,
                                    stream: `cli-${process.pid}-${name}`});
  return arn;
}

test('unreachable database: run exits 1 naming host:port, check reports it', async () => {
  const port = await claimPorts(kPostgresPorts, 1);  // claimed, and nothing listens on it
  try {
    const yaml = validConfig({
      databaseUrl: `postgres://postgres:${kDatabasePassword}@127.0.0.1:${port}/app`,
      streamArn: await streamForCheck('unreachable'),
      endpoint: env.services.signing.endpoint,
    });
    const file = writeConfig(yaml);
    const expected = `database app: cannot connect to Postgres at 127.0.0.1:${port} ` +
        "(database 'app', user 'postgres'): ";

    const run = await runSluice(['run', '-c', file], {timeoutMs: 30000});
    assertExit(run, kExitFailure);
    assert.ok(run.stderr.split('\n').some((l) => / error /.test(l) && l.includes(expected)),
              `run names the database and 127.0.0.1:${port}:\n${run.stderr}`);

    const check = await runSluice(['check', '-c', file], {timeoutMs: 30000});
    assertExit(check, kExitFailure);
    const lines = check.stdout.trimEnd().split('\n');
    assert.ok(lines.some((l) => l.startsWith(`database app: error: cannot connect to Postgres at ` +
                                             `127.0.0.1:${port} (database 'app', user 'postgres'): `)),
              check.stdout);
    assert.ok(lines.some((l) => l.startsWith('sink kinesis-sink: stream ') && l.includes(' is ACTIVE')),
              `the stream itself checks fine:\n${check.stdout}`);
    assert.equal(lines.at(-1), '1 problem(s) found');
  } finally {
    releasePorts(port, 1);
  }
});

test('wal_level not logical: run exits 1 before creating anything, check reports it', async () => {
  await env.services.sql('CREATE TABLE orders (id int PRIMARY KEY, status text)');
  const yaml = validConfig({
    databaseUrl: env.services.databaseUrl,
    streamArn: await streamForCheck('wal-level'),
    endpoint: env.services.signing.endpoint,
  });
  const file = writeConfig(yaml);
  const finding = "wal_level is 'replica' but must be 'logical' for logical replication: set " +
      'wal_level = logical in postgresql.conf (or ALTER SYSTEM SET wal_level = logical) and ' +
      'restart Postgres';

  const run = await runSluice(['run', '-c', file], {timeoutMs: 30000});
  assertExit(run, kExitFailure);
  assert.ok(run.stderr.split('\n').some((l) => / error /.test(l) && l.endsWith(`database app: ${finding}`)),
            `run says wal_level must be 'logical':\n${run.stderr}`);
  const slots = await env.services.sql('SELECT slot_name FROM pg_replication_slots');
  const publications = await env.services.sql('SELECT pubname FROM pg_publication');
  assert.deepEqual([slots, publications], [[], []], 'run created no slot and no publication');

  const check = await runSluice(['check', '-c', file], {timeoutMs: 30000});
  assertExit(check, kExitFailure);
  const lines = check.stdout.trimEnd().split('\n');
  assert.ok(lines.includes(`database app: error: ${finding}`), check.stdout);
  assert.ok(lines.includes("database app: ok: table public.orders: REPLICA IDENTITY DEFAULT"),
            `the other checks still run:\n${check.stdout}`);
  assert.equal(lines.at(-1), '1 problem(s) found');
});

test('a bad command line exits 64 and names what is wrong', async () => {
  const cases = [
    [['frobnicate'],
     'sluice: unknown command "frobnicate" (commands: run, check, messages, sinks, backfill, version)'],
    [['messages', 'list'], '--config is required'],
    [['messages', 'frob', '-c', 'sluice.yaml'],
     'sluice: unknown command "messages frob" (commands: list, show, redeliver, discard)'],
    [['sinks', 'frob', '-c', 'sluice.yaml'],
     'sluice: unknown command "sinks frob" (commands: list, pause, resume)'],
    [['sinks', 'pause', '-c', 'sluice.yaml'], 'name is required'],
    [['messages', 'list', '--state', 'stuck', '-c', 'sluice.yaml'],
     '--state: stuck not in {all,pending,in_flight,backing_off,failed,failing,delivered,waiting}'],
    [['run', '--nope'], 'The following argument was not expected: --nope'],
    [['check', '-c'], '--config: 1 required TEXT missing'],
    [['--log-level', 'loud', 'version'], '--log-level: loud not in {debug,info,warn,error}'],
    [[], 'A subcommand is required'],
  ];
  for (const [args, named] of cases) {
    const result = await runSluice(args);
    assertExit(result, kExitUsage);
    assert.equal(result.stderr.split('\n')[0], named, `sluice ${args.join(' ')}`);
    assert.equal(result.stdout, '', `sluice ${args.join(' ')}: nothing on stdout`);
  }
});

// `sluice messages` works on the local store of a stopped sluice (issue 3):
// nothing answers at the config's api.listen here, so each command says so on
// stderr and falls back to the store (docs/operations.md).
const notRunning = () => `sluice is not running (no answer at 127.0.0.1:${env.services.apiPort}): ` +
    'acting on the local store directly\n';
function messagesConfig(name) {
  const dataDir = path.join(env.services.tmp, `messages-${name}`, 'data');
  const line = `data_dir: ${JSON.stringify(dataDir)}`;
  const yaml = validConfig().replace(/^data_dir: .*$/m, line);
  assert.ok(yaml.includes(line), 'the config names the data_dir');
  return {file: writeConfig(yaml), dataDir};
}

test('sluice messages list on an empty data_dir prints an empty list and exits 0', async () => {
  const {file} = messagesConfig('empty');
  const table = await runSluice(['messages', 'list', '--config', file]);
  assertExit(table, 0);
  assert.equal(table.stdout, 'no messages of sink kinesis-sink in the local store\n');
  assert.equal(table.stderr, notRunning());
  // --json prints the API's document, whether or not sluice runs.
  const json = await runSluice(['messages', 'list', '--config', file, '--json']);
  assertExit(json, 0);
  assert.equal(json.stdout, '{"messages":[],"next_cursor":null}\n');
  // Pages go by cursor offline too; --after is its alias.
  for (const [option, state] of [['--cursor', 'failing'], ['--after', 'waiting']]) {
    const paged = await runSluice(['messages', 'list', '--state', state, option, '5', '-c', file, '--json']);
    assertExit(paged, 0);
    assert.equal(paged.stdout, '{"messages":[],"next_cursor":null}\n', `${option} 5 --state ${state}`);
  }
  const show = await runSluice(['messages', 'show', '7', '--sink', 'kinesis-sink', '--config', file]);
  assertExit(show, kExitFailure);
  assert.equal(show.stderr, notRunning() + 'sluice: no message 7 in sink kinesis-sink\n');
  // --sink may be left out: the config has one sink.
  const only = await runSluice(['messages', 'show', '7', '--config', file]);
  assertExit(only, kExitFailure);
  assert.equal(only.stderr, notRunning() + 'sluice: no message 7 in sink kinesis-sink\n');
  // A bulk discard without --yes is refused before anything is tried.
  const bulk = await runSluice(['messages', 'discard', '--all', '--sink', 'kinesis-sink', '-c', file]);
  assertExit(bulk, kExitUsage);
  assert.equal(bulk.stderr,
               'sluice: discard --all drops messages of sink kinesis-sink for good; add --yes to confirm\n');
  const sink = await runSluice(['messages', 'list', '--sink', 'nope', '-c', file]);
  assertExit(sink, kExitUsage);
  assert.match(sink.stderr, /no sink named "nope"/);
  // The states only a running sluice has are refused offline.
  const delivered = await runSluice(['messages', 'list', '--state', 'delivered', '-c', file]);
  assertExit(delivered, kExitFailure);
  assert.equal(delivered.stderr, notRunning() + 'sluice: --state delivered needs a running ' +
               'sluice: a stopped one holds only pending and failed messages, in its local store\n');
  const cursor = await runSluice(['messages', 'list', '--cursor', 'abc', '-c', file]);
  assertExit(cursor, kExitUsage);
  assert.equal(cursor.stderr, notRunning() + 'sluice: --cursor must be the next_cursor of an ' +
               'earlier page (a message id), got "abc"\n');
  // sluice sinks needs a running sluice.
  const sinks = await runSluice(['sinks', 'list', '-c', file]);
  assertExit(sinks, kExitFailure);
  assert.equal(sinks.stderr, `sluice: sluice is not running (no answer at 127.0.0.1:${env.services.apiPort}): ` +
               '`sluice sinks` needs a running sluice\n');
  assert.equal(sinks.stdout, '');
});

// The lock is held by the sqlite3 shell (Debian package sqlite3).
const haveSqliteShell = spawnSync('sqlite3', ['-version']).status === 0;

test('sluice messages on a data_dir whose store is locked exits 1 saying to stop sluice',
     {skip: haveSqliteShell ? false : 'the sqlite3 shell is not installed'}, async () => {
  const {file, dataDir} = messagesConfig('locked');
  const first = await runSluice(['messages', 'list', '-c', file]);  // creates the store
  assertExit(first, 0);
  // Another process takes the store's exclusive lock, as a running sluice
  // does (sluice run cannot start here: this file's Postgres has
  // wal_level = replica).
  const holder = spawn('sqlite3', [path.join(dataDir, 'store.sqlite3')],
                       {stdio: ['pipe', 'pipe', 'inherit']});
  try {
    holder.stdin.write('PRAGMA locking_mode = EXCLUSIVE;\nBEGIN EXCLUSIVE;\nSELECT \'locked\';\n');
    // The shell prints the locking mode ("exclusive"), then "locked" once the
    // transaction holds the lock.
    let printed = '';
    while (!printed.split('\n').includes('locked')) {
      const [chunk] = await once(holder.stdout, 'data');
      printed += chunk;
    }
    const result = await runSluice(['messages', 'list', '-c', file]);
    assertExit(result, kExitFailure);
    assert.equal(result.stderr,
                 notRunning() +
                 `sluice: data_dir ${dataDir} is in use by a running sluice (its message store ` +
                 'is locked); stop sluice first, then run this command again\n');
    assert.equal(result.stdout, '');
  } finally {
    holder.stdin.end();
    await once(holder, 'close');
  }
});
