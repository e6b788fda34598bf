// sluice as a child process: its config file, start, graceful stop, kill -9.
import {spawn} from 'node:child_process';
import fs from 'node:fs';
import {once} from 'node:events';

import {pidsFile} from './services.mjs';

export const kDummyAccessKeyId = 'AKIAIOSFODNN7EXAMPLE';
export const kDummySecretAccessKey = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
export const kDummyCredentials = Object.freeze({accessKeyId: kDummyAccessKeyId,
                                                secretAccessKey: kDummySecretAccessKey});

export function sluiceBinary() {
  const bin = process.env.SLUICE_BIN;
  if (!bin) {
    throw new Error('SLUICE_BIN is not set: run through ctest, or export SLUICE_BIN=build/src/cli/sluice');
  }
  if (!fs.existsSync(bin)) throw new Error(`SLUICE_BIN=${bin} does not exist`);
  return bin;
}

const yamlString = (s) => JSON.stringify(String(s));  // JSON strings are YAML strings

// The YAML of one database and one Kinesis sink (SPEC §1). `tables` is a list
// of {name: 'public.t', groupColumns?: [...]}; all of them are included.
// extraTopYaml: top-level lines (e.g. 'spill_after_ms: 1000'); extraSinkYaml:
// lines appended after the destination (indent 6 to add destination keys).
// credentials: {accessKeyId, secretAccessKey, sessionToken?} (default the
// dummy static keys), or {useTaskRole: true} for the AWS credential chain.
export function sluiceConfig({dataDir, apiPort, databaseUrl, slot, publication, sinkName,
                              streamArn, endpoint, tables, batchSize = 10, messageGrouping,
                              credentials = kDummyCredentials, extraSinkYaml = '', extraTopYaml = ''}) {
  const lines = [
    `data_dir: ${yamlString(dataDir)}`,
    ...(extraTopYaml ? [extraTopYaml] : []),
    `api: {listen: ${yamlString(`127.0.0.1:${apiPort}`)}, token: e2e-token}`,
    'databases:',
    '  - name: app',
    `    url: ${yamlString(databaseUrl)}`,
    `    slot: {name: ${slot}, create_if_not_exists: true}`,
    `    publication: {name: ${publication}, create_if_not_exists: true}`,
    'sinks:',
    `  - name: ${sinkName}`,
    '    database: app',
    `    source: {include_tables: [${tables.map((t) => t.name).join(', ')}]}`,
  ];
  const grouped = tables.filter((t) => t.groupColumns);
  if (grouped.length > 0) {
    lines.push('    tables:');
    for (const t of grouped) {
      lines.push(`      - {name: ${t.name}, group_column_names: [${t.groupColumns.join(', ')}]}`);
    }
  }
  if (messageGrouping !== undefined) lines.push(`    message_grouping: ${messageGrouping}`);
  lines.push(
      `    batch_size: ${batchSize}`,
      '    destination:',
      '      type: kinesis',
      `      stream_arn: ${yamlString(streamArn)}`,
      ...(credentials.useTaskRole ? ['      use_task_role: true'] : [
        `      access_key_id: ${yamlString(credentials.accessKeyId)}`,
        `      secret_access_key: ${yamlString(credentials.secretAccessKey)}`,
        ...(credentials.sessionToken ? [`      session_token: ${yamlString(credentials.sessionToken)}`] : []),
      ]),
      `      endpoint_url: ${yamlString(endpoint)}`,
      '      tls_verify: false',
  );
  if (extraSinkYaml) lines.push(extraSinkYaml);
  return lines.join('\n') + '\n';
}

// The environment sluice runs with: no AWS credentials or profiles from the
// caller, no instance metadata lookups.
export function sluiceEnv() {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('AWS_')) env[k] = v;
  }
  env.AWS_EC2_METADATA_DISABLED = 'true';
  env.AWS_CONFIG_FILE = '/dev/null';
  env.AWS_SHARED_CREDENTIALS_FILE = '/dev/null';
  return env;
}

// Runs `sluice <args>` to completion; resolves {code, signal, output}.
export async function runSluiceCommand(args, {timeoutMs = 60000} = {}) {
  const child = spawn(sluiceBinary(), args, {env: sluiceEnv(), stdio: ['ignore', 'pipe', 'pipe']});
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code, signal] = await once(child, 'exit');
  clearTimeout(timer);
  return {code, signal, output};
}

// One `sluice run` process. Its stdout and stderr go to logPath.
export class SluiceProcess {
  // extraEnv: variables added to sluiceEnv() (e.g. a loopback container
  // credentials endpoint for use_task_role).
  constructor({configPath, logPath, tmp, extraEnv = {}}) {
    this.configPath = configPath;
    this.logPath = logPath;
    this.tmp = tmp;
    fs.appendFileSync(logPath, `--- sluice run -c ${configPath}\n`);
    const log = fs.openSync(logPath, 'a');
    this.child = spawn(sluiceBinary(), ['run', '-c', configPath],
                       {env: {...sluiceEnv(), ...extraEnv}, stdio: ['ignore', log, log]});
    fs.closeSync(log);
    fs.appendFileSync(pidsFile(tmp), `${this.child.pid}\n`);
    this.exit = null;
    this.exited = once(this.child, 'exit').then(([code, signal]) => {
      this.exit = {code, signal};
      return this.exit;
    });
  }

  get running() {
    return this.exit === null;
  }

  // SIGTERM, then waits for the exit (SIGKILL after timeoutMs). Resolves {code, signal}.
  async stop({timeoutMs = 30000} = {}) {
    if (!this.running) return this.exit;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    const result = await this.exited;
    clearTimeout(timer);
    return result;
  }

  async kill9() {
    if (!this.running) return this.exit;
    this.child.kill('SIGKILL');
    return this.exited;
  }

  logTail(lines = 80) {
    return logTail(this.logPath, lines);
  }
}

export function logTail(logPath, lines = 80) {
  try {
    return fs.readFileSync(logPath, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
