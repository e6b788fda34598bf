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
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {setTimeout as delay} from 'node:timers/promises';
import {after, before} from 'node:test';

import {createStream} from '../../../tools/node/create_stream.mjs';
import {readStream} from '../../../tools/node/read_stream.mjs';

import {parseExact} from './json.mjs';
import {nonLoopbackListeners} from './listeners.mjs';
import {Services, kDatabasePassword} from './services.mjs';
import {SluiceProcess, kDummySecretAccessKey, logTail, sluiceBinary, sluiceConfig} from './sluice.mjs';

process.env.AWS_EC2_METADATA_DISABLED = 'true';

// Registers before/after hooks that start and stop the services of this test
// file. The returned object's `services` is set once before() ran.
// Options: kinesisFlavour ('kinesis-local' | 'kinesalite'), needsSluice
// (default true: fail early and clearly when SLUICE_BIN is missing).
export function useServices(name, {needsSluice = true, ...options} = {}) {
  const env = {services: null};
  before(async () => {
    if (needsSluice) sluiceBinary();
    env.services = await Services.start({name, ...options});
  });
  after(async () => {
    await env.services?.stop();
  });
  return env;
}

let pipelineCounter = 0;

// SPEC §1: secrets are never logged.
export function assertNoSecrets(text) {
  assert.ok(!text.includes(kDatabasePassword), 'the database password appears in sluice output');
  assert.ok(!text.includes(kDummySecretAccessKey), 'the secret access key appears in sluice output');
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
  }

  async create() {
    const {services, options} = this;
    if (options.setupSql) await services.sql(options.setupSql);
    const {arn} = await createStream({endpoint: services.endpoint, stream: this.stream,
                                      shards: options.shards ?? 1});
    this.streamArn = arn;
    fs.writeFileSync(this.configPath, sluiceConfig({
      dataDir: this.dataDir,
      apiPort: services.apiPort,
      databaseUrl: services.databaseUrl,
      slot: this.slot,
      publication: this.publication,
      sinkName: this.sinkName,
      streamArn: arn,
      endpoint: options.endpoint ?? services.endpoint,
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
                                     tmp: this.services.tmp});
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

  // Graceful stop (must exit 0), no secret in the log, removal of the slot.
  async finish() {
    if (this.sluice?.running) {
      const exit = await this.sluice.stop();
      assert.deepEqual(exit, {code: 0, signal: null}, 'sluice exits 0 on SIGTERM');
    }
    assertNoSecrets(fs.existsSync(this.logPath) ? fs.readFileSync(this.logPath, 'utf8') : '');
    await this.dropSlot();
  }

  async abandon() {
    await this.sluice?.kill9();
    await this.dropSlot().catch(() => {});
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
// extraTopYaml / extraSinkYaml (see sluiceConfig).
export async function withPipeline(env, options, body) {
  assert.ok(env.services, 'services did not start');
  const p = new Pipeline(env.services, options);
  try {
    await p.create();
    if (options.start !== false) await p.start();
    await body(p);
    await p.finish();
  } catch (err) {
    await p.abandon();
    // The reporter prints the stack, which already holds the message.
    const tail = `\n--- sluice log ${p.logPath} (last lines) ---\n${logTail(p.logPath, 60)}`;
    if (err instanceof Error) {
      err.message += tail;
      if (typeof err.stack === 'string') err.stack += tail;
    }
    throw err;
  }
}
