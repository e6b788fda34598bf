// The e2e harness: one Postgres + kinesis-local per test file (useServices),
// and per test a fresh stream, slot, publication and sluice (withPipeline).
//
//   const env = useServices('types');
//   test('...', () => withPipeline(env, {tables: [...], setupSql: '...'}, async (p) => {
//     await p.sql('INSERT ...');
//     const msgs = await p.readMessages({expect: 3});
//   }));
//
// A failing test's error carries the tail of sluice's log. At the end of a
// passing test sluice gets SIGTERM and must exit 0.
//
// Signatures (issue 5): sluice never talks to the emulator directly. Each
// pipeline starts a signature-checking proxy (tools/node/sigv4_proxy.mjs) in
// front of its Kinesis endpoint -- the emulator, or a fault proxy given as
// `endpoint` -- and sluice's endpoint_url is that proxy:
//   sluice -> sigv4 proxy -> [fault proxy ->] kinesis-local
// (the fault proxy rewrites Host and, for failed entries, the body, so it can
// only stand behind the check). The proxy knows the pipeline's credentials:
// static keys or a temporary key with a session token, by the file's
// `credentials` mode (see useServices). Any rejected request fails the test at
// finish(), so a signing bug cannot hide behind sluice's retries. Readers (the
// AWS SDK) go to the emulator directly.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {setTimeout as delay} from 'node:timers/promises';
import {after, before} from 'node:test';

import {createStream} from '../../../tools/node/create_stream.mjs';
import {readStream} from '../../../tools/node/read_stream.mjs';
import {startSigV4Proxy} from '../../../tools/node/sigv4_proxy.mjs';

import {parseExact} from './json.mjs';
import {nonLoopbackListeners} from './listeners.mjs';
import {Services, kDatabasePassword} from './services.mjs';
import {SluiceProcess, kDummyCredentials, kDummySecretAccessKey, logTail, sluiceBinary, sluiceConfig}
  from './sluice.mjs';

process.env.AWS_EC2_METADATA_DISABLED = 'true';

const kCredentialModes = ['static', 'session', 'alternate'];

// Fresh temporary credentials, shaped like STS's: an ASIA key id, a 40
// character secret and a long base64 session token (with '+', '/' and '=').
export function makeTemporaryCredentials() {
  const alnum = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const id = Array.from(crypto.randomBytes(16), (b) => alnum[b % alnum.length]).join('');
  return {
    accessKeyId: `ASIA${id}`,
    secretAccessKey: crypto.randomBytes(30).toString('base64').replace(/^./, '/'),
    sessionToken: `IQoJb3JpZ2luX2VjE${crypto.randomBytes(301).toString('base64')}+/=`,
  };
}

// The key table of a sigv4 proxy that accepts `credentials`.
export function proxyKeysFor(credentials) {
  const entry = {secretAccessKey: credentials.secretAccessKey};
  if (credentials.sessionToken) entry.sessionToken = credentials.sessionToken;
  return {[credentials.accessKeyId]: entry};
}

// Credentials for the n-th pipeline of a file in `mode`: 'static' (the dummy
// keys), 'session' (a fresh temporary key and session token) or 'alternate'
// (odd pipelines session, even ones static). SLUICE_E2E_CREDENTIALS
// ('static' | 'session') overrides the mode of files that alternate.
function credentialsFor(mode, n) {
  const session = mode === 'session' || (mode === 'alternate' && n % 2 === 1);
  return session ? makeTemporaryCredentials() : {...kDummyCredentials};
}

// Fails with the proxy's rejections when it refused any request: sluice's
// signatures must always be right, whatever it retried.
export function assertNoRejections(proxy, what) {
  const {rejected, rejectedByReason, rejections} = proxy.stats();
  assert.equal(rejected, 0, `the sigv4 proxy of ${what} rejected ${rejected} request(s) ` +
               `${JSON.stringify(rejectedByReason)}; last: ${JSON.stringify(rejections.slice(-3))}`);
}

// Registers before/after hooks that start and stop the services of this test
// file. The returned object's `services` is set once before() ran.
// Options: kinesisFlavour ('kinesis-local' | 'kinesalite'), needsSluice
// (default true: fail early and clearly when SLUICE_BIN is missing),
// credentials: how sluice signs ('static', 'session' or 'alternate', the
// default; see credentialsFor).
//
// services.signing: a sigv4 proxy in front of the emulator for sluice runs
// outside withPipeline (e.g. `sluice check` on a config of the test's own):
// {endpoint, credentials}; its rejections fail the file in after().
export function useServices(name, {needsSluice = true, credentials = 'alternate', ...options} = {}) {
  const mode = credentials === 'alternate' ? (process.env.SLUICE_E2E_CREDENTIALS || credentials) : credentials;
  assert.ok(kCredentialModes.includes(mode), `credentials mode must be one of ${kCredentialModes.join(', ')}`);
  const env = {services: null};
  let signing = null;
  before(async () => {
    if (needsSluice) sluiceBinary();
    env.services = await Services.start({name, ...options});
    env.services.credentialsMode = mode;
    const fileCredentials = credentialsFor(mode, 1);
    signing = await startSigV4Proxy({upstream: env.services.endpoint, keys: proxyKeysFor(fileCredentials)});
    env.services.signing = {endpoint: signing.url, credentials: fileCredentials, proxy: signing};
  });
  after(async () => {
    try {
      if (signing) assertNoRejections(signing, `test file ${name}`);
    } finally {
      await signing?.close();
      await env.services?.stop();
    }
  });
  return env;
}

let pipelineCounter = 0;

// SPEC §1: secrets are never logged. `credentials`: the run's own keys, if
// not the dummy ones.
export function assertNoSecrets(text, credentials = null) {
  assert.ok(!text.includes(kDatabasePassword), 'the database password appears in sluice output');
  assert.ok(!text.includes(kDummySecretAccessKey), 'the secret access key appears in sluice output');
  if (credentials?.secretAccessKey) {
    assert.ok(!text.includes(credentials.secretAccessKey), 'the secret access key appears in sluice output');
  }
  if (credentials?.sessionToken) {
    assert.ok(!text.includes(credentials.sessionToken), 'the session token appears in sluice output');
  }
}

// Polls `probe` until it returns a truthy value; `check` runs before each
// attempt and may throw (e.g. "sluice exited").
export async function waitFor(what, probe, {timeoutMs = 30000, intervalMs = 100, check} = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    check?.();
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(intervalMs);
  }
}

export class Pipeline {
  constructor(services, options) {
    const n = ++pipelineCounter;
    const tag = `${process.pid}_${n}`;
    this.services = services;
    this.options = options;
    this.dir = path.join(services.tmp, `pipeline-${n}`);
    fs.mkdirSync(this.dir, {recursive: true});
    this.stream = `e2e-${tag}`;
    this.slot = `sluice_slot_${tag}`;
    this.publication = `sluice_pub_${tag}`;
    this.sinkName = options.sinkName ?? 'kinesis-sink';
    this.dataDir = path.join(this.dir, 'data');
    this.configPath = path.join(this.dir, 'sluice.yaml');
    this.logPath = path.join(this.dir, 'sluice.log');
    this.sluice = null;
    this.slotPid = null;  // walsender serving sluice, once started
    // What sluice signs with; the sigv4 proxy knows options.proxyKeys, else these.
    this.credentials = options.credentials ?? credentialsFor(services.credentialsMode ?? 'alternate', n);
    this.sigv4 = null;  // the signature-checking proxy sluice sends to
    this.started = false;
  }

  get credentialsKind() {
    if (this.credentials.useTaskRole) return 'use_task_role';
    return this.credentials.sessionToken ? 'session token' : 'static keys';
  }

  async create() {
    const {services, options} = this;
    if (options.setupSql) await services.sql(options.setupSql);
    const {arn} = await createStream({endpoint: services.endpoint, stream: this.stream,
                                      shards: options.shards ?? 1});
    this.streamArn = arn;
    this.sigv4 = await startSigV4Proxy({
      upstream: options.endpoint ?? services.endpoint,
      keys: options.proxyKeys ?? proxyKeysFor(this.credentials),
      region: arn.split(':')[3],
    });
    fs.writeFileSync(this.configPath, sluiceConfig({
      dataDir: this.dataDir,
      apiPort: services.apiPort,
      databaseUrl: services.databaseUrl,
      slot: this.slot,
      publication: this.publication,
      sinkName: this.sinkName,
      streamArn: arn,
      endpoint: this.sigv4.url,
      credentials: this.credentials,
      tables: options.tables,
      batchSize: options.batchSize,
      messageGrouping: options.messageGrouping,
      extraSinkYaml: options.extraSinkYaml,
      extraTopYaml: options.extraTopYaml,
    }));
  }

  // Starts sluice and waits until its replication slot is active: changes
  // committed from then on are captured.
  async start() {
    assert.ok(!this.sluice?.running, 'sluice is already running');
    this.sluice = new SluiceProcess({configPath: this.configPath, logPath: this.logPath,
                                     tmp: this.services.tmp, extraEnv: this.options.sluiceEnv});
    this.started = true;
    // After a kill -9 the old walsender may hold the slot a moment longer:
    // wait for a walsender other than the last one seen.
    const previous = this.slotPid;
    this.slotPid = await waitFor(`replication slot ${this.slot} to become active`, async () => {
      const rows = await this.services.sql(
          'SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1 AND active', [this.slot]);
      const pid = rows[0]?.active_pid;
      return pid && pid !== previous ? pid : null;
    }, {check: () => this.assertRunning()});
    const exposed = await nonLoopbackListeners([this.sluice.child.pid]);
    assert.deepEqual(exposed, [], 'sluice listens on loopback only');
  }

  assertRunning() {
    if (this.sluice && !this.sluice.running) {
      throw new Error(`sluice exited (${JSON.stringify(this.sluice.exit)}) unexpectedly`);
    }
  }

  async stop() {
    return this.sluice?.stop();
  }

  async kill9() {
    return this.sluice?.kill9();
  }

  sql(text, params) {
    return this.services.sql(text, params);
  }

  connect() {
    return this.services.connect();
  }

  // Raw records of the stream ({shard, sequence, partitionKey, data}), in
  // shard then sequence order. Throws if `expect` / `until` is not met in time.
  // settle: false returns as soon as the goal is met (see read_stream.mjs).
  async readRecords({expect, until, timeoutMs = 60000, settle = true} = {}) {
    const {records, complete} = await readStream({
      endpoint: this.services.endpoint, stream: this.stream, expect, until, timeoutMs, settle,
    });
    if (!complete) {
      throw new Error(`stream ${this.stream}: ${records.length} records after ${timeoutMs} ms` +
                      (expect !== undefined ? `, expected ${expect}` : ', condition not met'));
    }
    return records;
  }

  // Records with their Data parsed exactly (see json.mjs) as `message`.
  async readMessages(options) {
    const records = await this.readRecords(options);
    return records.map((r) => ({...r, message: parseExact(r.data)}));
  }

  // Graceful stop (must exit 0), no secret in the log, no request rejected
  // by the sigv4 proxy (and some accepted, if sluice ran), removal of the slot.
  async finish() {
    if (this.sluice?.running) {
      const exit = await this.sluice.stop();
      assert.deepEqual(exit, {code: 0, signal: null}, 'sluice exits 0 on SIGTERM');
    }
    assertNoSecrets(fs.existsSync(this.logPath) ? fs.readFileSync(this.logPath, 'utf8') : '', this.credentials);
    if (this.sigv4) {
      assertNoRejections(this.sigv4, `pipeline ${this.stream} (${this.credentialsKind})`);
      if (this.started && !this.credentials.useTaskRole) {  // task-role keys are the test's to check
        const {acceptedByKey} = this.sigv4.stats();
        assert.ok((acceptedByKey[this.credentials.accessKeyId] ?? 0) > 0,
                  `sluice's requests went through the sigv4 proxy, signed with ${this.credentialsKind}`);
      }
      await this.sigv4.close();
    }
    await this.dropSlot();
  }

  async abandon() {
    await this.sluice?.kill9();
    await this.sigv4?.close().catch(() => {});
    await this.dropSlot().catch(() => {});
  }

  // One line on the sigv4 proxy's counters, for failure messages.
  signingSummary() {
    if (!this.sigv4) return '(no sigv4 proxy)';
    const {accepted, acceptedWithSessionToken, rejected, rejectedByReason, rejections} = this.sigv4.stats();
    return `${this.credentialsKind}: accepted ${accepted} (${acceptedWithSessionToken} with a session token), ` +
        `rejected ${rejected} ${JSON.stringify(rejectedByReason)}` +
        (rejections.length > 0 ? `; last: ${JSON.stringify(rejections.at(-1))}` : '');
  }

  async dropSlot() {
    await this.services.sql(
        'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1',
        [this.slot]);
  }
}

// Creates the pipeline's table(s) (setupSql), stream and config, starts
// sluice, runs `body(pipeline)`, then stops sluice. Errors carry sluice's log.
// Options: setupSql, tables, shards, batchSize, messageGrouping, sinkName,
// start (false: the body starts sluice), endpoint (the Kinesis endpoint sluice
// uses, e.g. a fault proxy; the reader always reads the emulator directly),
// extraTopYaml / extraSinkYaml (see sluiceConfig), credentials (what sluice
// signs with; default by the file's mode), proxyKeys (the sigv4 proxy's key
// table; default the pipeline's credentials), sluiceEnv (extra environment
// for sluice run).
export async function withPipeline(env, options, body) {
  assert.ok(env.services, 'services did not start');
  const p = new Pipeline(env.services, options);
  try {
    await p.create();
    if (options.start !== false) await p.start();
    await body(p);
    await p.finish();
  } catch (err) {
    const signing = `\n--- sigv4 proxy ---\n${p.signingSummary()}`;
    await p.abandon();
    // The reporter prints the stack, which already holds the message.
    const tail = `${signing}\n--- sluice log ${p.logPath} (last lines) ---\n${logTail(p.logPath, 60)}`;
    if (err instanceof Error) {
      err.message += tail;
      if (typeof err.stack === 'string') err.stack += tail;
    }
    throw err;
  }
}
