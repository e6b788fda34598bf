// Postgres and a Kinesis emulator for one test file, started through the same
// scripts the demo and benchmarks use (scripts/pg.sh, scripts/kinesis.sh).
//
// A detached reaper shell watches the test process: if it dies without
// cleaning up (a ctest timeout kills it with SIGKILL), the reaper stops the
// servers and kills any sluice still listed in the pids file.
import {execFile, spawn} from 'node:child_process';
import fs from 'node:fs';
import {createRequire} from 'node:module';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {promisify} from 'node:util';

import {claimPorts, kClaimDir, kKinesisPorts, kPostgresPorts, releasePorts} from './ports.mjs';

const run = promisify(execFile);

export const kRepoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const kToolsDir = path.join(kRepoRoot, 'tools/node');

// npm packages live in tools/node/node_modules.
const pg = createRequire(path.join(kToolsDir, 'package.json'))('pg');

export const kDatabasePassword = 'e2e-db-password-4f1c';

// Children (sluice processes) the reaper must kill: one pid per line.
export function pidsFile(tmp) {
  return path.join(tmp, 'children.pids');
}

function startReaper(tmp, pgDir, kinesisDir) {
  const script = `
    while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done
    if [ -f '${pidsFile(tmp)}' ]; then
      while read -r pid; do
        # only a sluice of ours: its command line names a config under tmp
        tr '\\0' ' ' < /proc/$pid/cmdline 2>/dev/null | grep -qF '${tmp}' && kill -9 "$pid"
      done < '${pidsFile(tmp)}'
    fi
    '${kRepoRoot}/scripts/kinesis.sh' stop '${kinesisDir}' >/dev/null 2>&1
    '${kRepoRoot}/scripts/pg.sh' stop '${pgDir}' >/dev/null 2>&1
    for f in ${kClaimDir}/*; do [ "$(cat "$f" 2>/dev/null)" = ${process.pid} ] && rm -f "$f"; done
    ${process.env.SLUICE_E2E_KEEP ? '' : `rm -rf '${tmp}'`}
  `;
  const child = spawn('setsid', ['bash', '-c', script], {detached: true, stdio: 'ignore'});
  child.unref();
}

// Environment for one test file. Call stop() in an after() hook.
// pgExtraConf: postgresql.conf lines added after the harness's own (a later
// line wins, e.g. 'wal_level = replica').
export class Services {
  static async start({name = 'e2e', kinesisFlavour = 'kinesis-local', pgExtraConf = ''} = {}) {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `sluice-${name}-`));
    fs.chmodSync(tmp, 0o755);  // the postgres user must reach tmp/pg
    const services = new Services(tmp);
    const pgDir = path.join(tmp, 'pg');
    const kinesisDir = path.join(tmp, 'kinesis');
    startReaper(tmp, pgDir, kinesisDir);
    try {
      services.pgPort = await claimPorts(kPostgresPorts, 1);
      await run(path.join(kRepoRoot, 'scripts/pg.sh'), ['start', pgDir, String(services.pgPort)], {
        env: {...process.env,
              PG_EXTRA_CONF: `fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n${pgExtraConf}`},
      });
      services.pgDir = pgDir;
      // kinesis-local: plain port, TLS port; then one port for sluice's API.
      services.kinesisPort = await claimPorts(kKinesisPorts, 3);
      services.apiPort = services.kinesisPort + 2;
      await run(path.join(kRepoRoot, 'scripts/kinesis.sh'),
                ['start', kinesisDir, String(services.kinesisPort), kinesisFlavour]);
      services.kinesisDir = kinesisDir;
    } catch (err) {
      await services.stop();
      throw new Error(`starting services failed: ${err.message}\n${err.stderr ?? ''}`);
    }
    return services;
  }

  constructor(tmp) {
    this.tmp = tmp;
    this.pgDir = null;
    this.kinesisDir = null;
  }

  get endpoint() {
    return `http://127.0.0.1:${this.kinesisPort}`;
  }

  // The URL sluice connects with. Trust auth ignores the password; it is
  // there so tests can check that it never shows up in output.
  get databaseUrl() {
    return `postgres://postgres:${kDatabasePassword}@127.0.0.1:${this.pgPort}/app`;
  }

  // A pg client over the unix socket in the cluster directory.
  async connect() {
    const client = new pg.Client({host: this.pgDir, port: this.pgPort, user: 'postgres', database: 'app'});
    await client.connect();
    return client;
  }

  // Runs SQL on a short-lived connection; returns the last result's rows.
  async sql(text, params) {
    const client = await this.connect();
    try {
      const result = await client.query(text, params);
      return Array.isArray(result) ? result.at(-1).rows : result.rows;
    } finally {
      await client.end();
    }
  }

  // Pids of the postmaster and the emulator (for listener checks).
  serverPids() {
    const pids = [];
    const postmaster = path.join(this.pgDir ?? '', 'data/postmaster.pid');
    if (this.pgDir && fs.existsSync(postmaster)) {
      pids.push(Number(fs.readFileSync(postmaster, 'utf8').split('\n')[0]));
    }
    const emulator = path.join(this.kinesisDir ?? '', 'kinesis.pid');
    if (this.kinesisDir && fs.existsSync(emulator)) pids.push(Number(fs.readFileSync(emulator, 'utf8')));
    return pids;
  }

  async stop() {
    if (this.kinesisDir) {
      await run(path.join(kRepoRoot, 'scripts/kinesis.sh'), ['stop', this.kinesisDir]).catch(() => {});
      this.kinesisDir = null;
    }
    if (this.pgDir) {
      await run(path.join(kRepoRoot, 'scripts/pg.sh'), ['stop', this.pgDir]).catch(() => {});
      this.pgDir = null;
    }
    if (this.kinesisPort) releasePorts(this.kinesisPort, 3);
    if (this.pgPort) releasePorts(this.pgPort, 1);
    if (!process.env.SLUICE_E2E_KEEP) fs.rmSync(this.tmp, {recursive: true, force: true});
  }
}
