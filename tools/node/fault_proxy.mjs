#!/usr/bin/env node
// A fault-injecting HTTP proxy in front of a Kinesis emulator (kinesis-local's
// plain-HTTP port), for delivery tests: it forwards Kinesis JSON-protocol
// requests (POST /, X-Amz-Target) and, by rules changeable at run time, fails
// chosen PutRecords entries, answers with error statuses, drops connections,
// stalls requests, or stops listening altogether.
//
// Failed PutRecords entries are never forwarded: the proxy forwards only the
// surviving entries, then answers the client with one entry per original
// record in the original order (successes from upstream, failures made up
// here). Every entry upstream stored is logged (stream, partition key, SHA-256
// of Data, sequence number, whether the client got the answer, time), so a
// test can prove that no acknowledged entry is ever put again; every entry
// failed here is logged too (the fail log: stream, partition key, SHA-256 of
// Data, error code, time).
//
// Importable:
//   const proxy = await startFaultProxy({upstream: 'http://127.0.0.1:4567', port: 0});
//   proxy.url; await proxy.setRules([...]); proxy.rules(); proxy.stats(); await proxy.close();
//
// CLI (prints {"url": ..., "controlUrl": ...} on one line, runs until SIGTERM/SIGINT):
//   node fault_proxy.mjs --upstream URL [--port N] [--control-port N] [--rules JSON|@FILE]
//
// Control endpoint, on the proxy's port (and on --control-port if given, which
// stays reachable while a `down` rule has closed the proxy's port):
//   GET    /__proxy/rules          -> {"rules": [...]}   (each with `remaining`, `applied`)
//   PUT    /__proxy/rules          <- [...] or {"rules": [...]}; 400 {"error"} if invalid
//   DELETE /__proxy/rules          clears every rule (and releases stalled requests)
//   GET    /__proxy/stats          -> counters (see stats() below), without the put log
//   GET    /__proxy/log?from=N     -> {"from": N, "total": T, "entries": [...]}
//   GET    /__proxy/faillog?from=N -> the same for the fail log
//   DELETE /__proxy/stats          resets counters, the put log and the fail log
//
// Rules: a list, evaluated per request in order. Common fields:
//   type     'failEntries' | 'status' | 'drop' | 'stall' | 'down'
//   op       operation name(s) to match (X-Amz-Target after the dot, e.g.
//            'PutRecords'), a string or a list; default every operation
//   stream   stream name to match (StreamName, or the name in StreamARN)
//   count    the rule expires after this many applications (failEntries:
//            after this many failed entries); default never
// Types:
//   failEntries  PutRecords only. Fails the entries selected by every given
//                selector: key (exact), keys (list), keyPattern (regex
//                source), dataIncludes (substring of the UTF-8 decoded Data),
//                indexes (positions in the request), probability (0..1, a
//                PRNG seeded by `seed`, default 1), maxPerEntry (this rule
//                fails one entry -- same stream, partition key and Data --
//                at most this many times, bounding a test's retry backoff;
//                checked before the probability draw). errorCode
//                'ProvisionedThroughputExceededException' (default) or
//                'InternalFailure'; errorMessage overrides the realistic one.
//                Several failEntries rules may fail entries of one request;
//                an entry is failed by the first rule that selects it.
//   status       answers without forwarding: status (500 default, 503, 400,
//                ...), errorType (__type; defaults by status), message.
//   drop         destroys the client's connection without answering.
//                when: 'before' (default: not forwarded) or 'after' (forwarded,
//                upstream's answer discarded: stored, but never acknowledged).
//   stall        holds the request `ms` milliseconds, or without `ms` until the
//                rules are next replaced or cleared; then `then`: 'forward'
//                (default) or 'drop'. A request whose client gave up during
//                the stall is not forwarded (counted as `abandoned`).
//   down         the emulator stopped: the proxy closes its listening socket
//                (new connections are refused) and every open connection,
//                until the rule is removed or `ms` passes. No op/stream/count.
// The first matching status/drop/stall rule decides the request's fate; the
// failEntries rules then apply to whatever is forwarded.
import crypto from 'node:crypto';
import http from 'node:http';
import fs from 'node:fs';
import {pathToFileURL} from 'node:url';

import {kHopByHop, makePrng, parseFlags, parseUpstream, readBody, sendJson} from './proxy_common.mjs';

export const kErrorCodes = Object.freeze(['ProvisionedThroughputExceededException', 'InternalFailure']);
const kRuleTypes = ['failEntries', 'status', 'drop', 'stall', 'down'];
const kCommonFields = ['type', 'op', 'stream', 'count'];
const kFieldsByType = {
  failEntries: ['key', 'keys', 'keyPattern', 'dataIncludes', 'indexes', 'probability', 'seed',
                'maxPerEntry', 'errorCode', 'errorMessage'],
  status: ['status', 'errorType', 'message'],
  drop: ['when'],
  stall: ['ms', 'then'],
  down: ['ms'],
};
const kDefaultErrorType = {500: 'InternalFailure', 503: 'ServiceUnavailable',
                           400: 'ProvisionedThroughputExceededException'};
const kControlPrefix = '/__proxy/';

class RuleError extends Error {}

// SHA-256 (hex) of a PutRecords entry's Data, given as base64.
const sha256Hex = (base64) => crypto.createHash('sha256').update(Buffer.from(String(base64 ?? ''), 'base64'))
    .digest('hex');

function check(cond, where, what) {
  if (!cond) throw new RuleError(`${where}: ${what}`);
}

const isCount = (v) => Number.isInteger(v) && v >= 0;

// Validates one rule spec; returns the internal rule (spec + state).
function compileRule(spec, i) {
  const where = `rules[${i}]`;
  check(spec !== null && typeof spec === 'object' && !Array.isArray(spec), where, 'must be an object');
  check(kRuleTypes.includes(spec.type), `${where}.type`, `must be one of ${kRuleTypes.join(', ')}`);
  const allowed = [...kCommonFields, ...kFieldsByType[spec.type]];
  for (const field of Object.keys(spec)) {
    check(allowed.includes(field), `${where}.${field}`, `unknown field for a ${spec.type} rule`);
  }
  const rule = {spec: {...spec}, remaining: spec.count ?? Infinity, applied: 0, prng: null,
                keyPattern: null, ops: null};
  if (spec.op !== undefined) {
    const ops = Array.isArray(spec.op) ? spec.op : [spec.op];
    check(ops.length > 0 && ops.every((o) => typeof o === 'string' && o), `${where}.op`,
          'must be an operation name or a list of them');
    rule.ops = new Set(ops);
  }
  if (spec.stream !== undefined) check(typeof spec.stream === 'string', `${where}.stream`, 'must be a string');
  if (spec.count !== undefined) check(isCount(spec.count), `${where}.count`, 'must be a non-negative integer');
  switch (spec.type) {
    case 'failEntries':
      check(!rule.ops || (rule.ops.size === 1 && rule.ops.has('PutRecords')), `${where}.op`,
            'failEntries applies to PutRecords only');
      if (spec.key !== undefined) check(typeof spec.key === 'string', `${where}.key`, 'must be a string');
      if (spec.keys !== undefined) {
        check(Array.isArray(spec.keys) && spec.keys.every((k) => typeof k === 'string'), `${where}.keys`,
              'must be a list of strings');
      }
      if (spec.keyPattern !== undefined) {
        check(typeof spec.keyPattern === 'string', `${where}.keyPattern`, 'must be a regex source string');
        try {
          rule.keyPattern = new RegExp(spec.keyPattern);
        } catch (err) {
          check(false, `${where}.keyPattern`, err.message);
        }
      }
      if (spec.dataIncludes !== undefined) {
        check(typeof spec.dataIncludes === 'string', `${where}.dataIncludes`, 'must be a string');
      }
      if (spec.indexes !== undefined) {
        check(Array.isArray(spec.indexes) && spec.indexes.every(isCount), `${where}.indexes`,
              'must be a list of non-negative integers');
      }
      if (spec.probability !== undefined) {
        check(typeof spec.probability === 'number' && spec.probability >= 0 && spec.probability <= 1,
              `${where}.probability`, 'must be a number from 0 to 1');
      }
      if (spec.seed !== undefined) check(Number.isInteger(spec.seed), `${where}.seed`, 'must be an integer');
      if (spec.maxPerEntry !== undefined) {
        check(Number.isInteger(spec.maxPerEntry) && spec.maxPerEntry >= 1, `${where}.maxPerEntry`,
              'must be a positive integer');
        rule.failedPerEntry = new Map();  // entry identity -> times this rule failed it
      }
      rule.prng = makePrng(spec.seed ?? 1);
      check(spec.errorCode === undefined || kErrorCodes.includes(spec.errorCode), `${where}.errorCode`,
            `must be one of ${kErrorCodes.join(', ')}`);
      if (spec.errorMessage !== undefined) {
        check(typeof spec.errorMessage === 'string', `${where}.errorMessage`, 'must be a string');
      }
      break;
    case 'status':
      check(spec.status === undefined || (Number.isInteger(spec.status) && spec.status >= 400 && spec.status <= 599),
            `${where}.status`, 'must be an HTTP error status (400-599)');
      for (const f of ['errorType', 'message']) {
        if (spec[f] !== undefined) check(typeof spec[f] === 'string', `${where}.${f}`, 'must be a string');
      }
      break;
    case 'drop':
      check(spec.when === undefined || ['before', 'after'].includes(spec.when), `${where}.when`,
            'must be "before" or "after"');
      break;
    case 'stall':
      if (spec.ms !== undefined) check(isCount(spec.ms), `${where}.ms`, 'must be a non-negative integer');
      check(spec.then === undefined || ['forward', 'drop'].includes(spec.then), `${where}.then`,
            'must be "forward" or "drop"');
      break;
    case 'down':
      check(spec.op === undefined && spec.stream === undefined && spec.count === undefined, where,
            'a down rule takes no op, stream or count');
      if (spec.ms !== undefined) check(isCount(spec.ms), `${where}.ms`, 'must be a non-negative integer');
      break;
  }
  return rule;
}

export function compileRules(specs) {
  if (specs && !Array.isArray(specs) && typeof specs === 'object' && 'rules' in specs) specs = specs.rules;
  check(Array.isArray(specs), 'rules', 'must be a list');
  return specs.map(compileRule);
}

function streamNameOf(body) {
  if (typeof body?.StreamName === 'string') return body.StreamName;
  const arn = typeof body?.StreamARN === 'string' ? body.StreamARN : '';
  const slash = arn.indexOf(':stream/');
  return slash >= 0 ? arn.slice(slash + ':stream/'.length) : '';
}

function accountOf(body) {
  const parts = typeof body?.StreamARN === 'string' ? body.StreamARN.split(':') : [];
  return parts.length >= 6 && parts[4] ? parts[4] : '000000000000';
}

function ruleMatches(rule, op, stream) {
  return rule.remaining > 0 && (!rule.ops || rule.ops.has(op)) &&
      (rule.spec.stream === undefined || rule.spec.stream === stream);
}

const entryIdentity = (stream, entry) => `${stream}|${entry?.PartitionKey}|${entry?.Data}`;

function entrySelected(rule, entry, index, decodedData, identity) {
  const s = rule.spec;
  const key = entry?.PartitionKey;
  if (s.key !== undefined && key !== s.key) return false;
  if (s.keys !== undefined && !s.keys.includes(key)) return false;
  if (rule.keyPattern && !(typeof key === 'string' && rule.keyPattern.test(key))) return false;
  if (s.indexes !== undefined && !s.indexes.includes(index)) return false;
  if (s.dataIncludes !== undefined && !decodedData().includes(s.dataIncludes)) return false;
  if (rule.failedPerEntry && (rule.failedPerEntry.get(identity()) ?? 0) >= s.maxPerEntry) return false;
  if (s.probability !== undefined && !(rule.prng() < s.probability)) return false;
  return true;
}

function entryError(rule, stream, account) {
  const code = rule.spec.errorCode ?? 'ProvisionedThroughputExceededException';
  const message = rule.spec.errorMessage ?? (code === 'InternalFailure' ? 'Internal service failure.'
      : `Rate exceeded for shard shardId-000000000000 in stream ${stream} under account ${account}.`);
  return {ErrorCode: code, ErrorMessage: message};
}

function newOpStats() {
  return {requests: 0, forwarded: 0, recordsForwarded: 0, entriesFailed: 0, faults: 0};
}

function newStats() {
  return {operations: {}, faults: {failEntries: 0, status: 0, drop: 0, stall: 0, down: 0},
          connections: 0, abandoned: 0, upstreamErrors: 0, putLog: [], failLog: []};
}

class FaultProxy {
  constructor({upstream, port, host}) {
    this.upstream = parseUpstream(upstream);
    this.port = port;
    this.host = host;
    this.agent = new http.Agent({keepAlive: true, maxSockets: 64});
    this.rulesList = [];
    this.statsData = newStats();
    this.stalls = new Set();     // {release} of requests held by a stall rule
    this.sockets = new Set();    // open client connections to the proxy port
    this.listening = false;
    this.downTimer = null;
    this.closed = false;
    this.server = http.createServer((req, res) => this.onRequest(req, res, false));
    // Longer than clients' idle pools, so a reused connection is not closed under them.
    this.server.keepAliveTimeout = 65000;
    this.server.headersTimeout = 66000;
    this.server.requestTimeout = 0;
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      this.statsData.connections++;
      socket.on('close', () => this.sockets.delete(socket));
    });
    this.controlServer = null;
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  get controlUrl() {
    return this.controlServer ? `http://127.0.0.1:${this.controlServer.address().port}` : this.url;
  }

  listen(server, port) {
    return new Promise((resolve, reject) => {
      const onError = (err) => reject(err);
      server.once('error', onError);
      server.listen(port, this.host, () => {
        server.off('error', onError);
        resolve(server.address().port);
      });
    });
  }

  async start({controlPort} = {}) {
    this.port = await this.listen(this.server, this.port ?? 0);
    this.listening = true;
    if (controlPort !== undefined) {
      this.controlServer = http.createServer((req, res) => this.onRequest(req, res, true));
      await this.listen(this.controlServer, controlPort);
    }
    return this;
  }

  // Replaces the rules; releases stalled requests; opens or closes the port
  // as a `down` rule requires. Resolves when the port is in that state.
  async setRules(specs, keep = null) {
    const rules = compileRules(specs);
    this.rulesList = rules;
    for (const stall of [...this.stalls]) stall.release();
    clearTimeout(this.downTimer);
    this.downTimer = null;
    const down = rules.find((r) => r.spec.type === 'down');
    if (down) {
      down.applied++;
      this.statsData.faults.down++;
      if (down.spec.ms !== undefined) {
        this.downTimer = setTimeout(() => {
          this.rulesList = this.rulesList.filter((r) => r !== down);
          this.syncListening().catch(() => {});
        }, down.spec.ms);
      }
    }
    await this.syncListening(keep);
    return this.rules();
  }

  rules() {
    return this.rulesList.map((r) => ({...r.spec, remaining: r.remaining === Infinity ? null : r.remaining,
                                       applied: r.applied}));
  }

  // Closing stops new connections at once (they are refused); open ones are
  // destroyed, but `keep` (a control request being answered) ends by itself.
  async syncListening(keep = null) {
    const down = this.rulesList.some((r) => r.spec.type === 'down');
    if (this.closed) return;
    if (down && this.listening) {
      this.listening = false;
      this.server.close();
      for (const socket of this.sockets) if (socket !== keep) socket.destroy();
    } else if (!down && !this.listening) {
      this.listening = true;
      await this.listen(this.server, this.port);
    }
  }

  stats({withLog = true} = {}) {
    const s = this.statsData;
    const out = {operations: structuredClone(s.operations), faults: {...s.faults},
                 connections: s.connections, abandoned: s.abandoned,
                 upstreamErrors: s.upstreamErrors, putLogLength: s.putLog.length,
                 failLogLength: s.failLog.length, down: !this.listening};
    if (withLog) {
      out.putLog = s.putLog.map((e) => ({...e}));
      out.failLog = s.failLog.map((e) => ({...e}));
    }
    return out;
  }

  resetStats() {
    this.statsData = newStats();
  }

  opStats(op) {
    return (this.statsData.operations[op] ??= newOpStats());
  }

  async close() {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.downTimer);
    for (const stall of [...this.stalls]) stall.release();
    const waits = [];
    if (this.listening) waits.push(new Promise((resolve) => this.server.close(() => resolve())));
    for (const socket of this.sockets) socket.destroy();
    if (this.controlServer) {
      waits.push(new Promise((resolve) => this.controlServer.close(() => resolve())));
      this.controlServer.closeAllConnections();
    }
    this.agent.destroy();
    await Promise.all(waits);
  }

  async onRequest(req, res, controlOnly) {
    try {
      const path = new URL(req.url, 'http://proxy').pathname;
      if (path.startsWith(kControlPrefix)) return await this.onControl(req, res, path);
      if (controlOnly) return sendJson(res, 404, {error: `the control port serves ${kControlPrefix} only`});
      await this.onKinesis(req, res);
    } catch (err) {
      if (!res.headersSent && !res.destroyed) {
        sendJson(res, 500, {__type: 'InternalFailure', message: `fault proxy: ${err.message}`});
      } else {
        res.destroy();
      }
    }
  }

  async onControl(req, res, path) {
    const route = `${req.method} ${path.slice(kControlPrefix.length)}`;
    const body = await readBody(req);
    switch (route) {
      case 'GET rules':
        return sendJson(res, 200, {rules: this.rules()});
      case 'PUT rules':
      case 'DELETE rules': {
        let specs = [];
        if (req.method === 'PUT') {
          try {
            specs = JSON.parse(body.toString('utf8'));
            compileRules(specs);
          } catch (err) {
            return sendJson(res, 400, {error: `invalid rules: ${err.message}`});
          }
        }
        // A down rule takes effect before the answer, on every connection
        // but this one, which closes after the answer.
        const rules = await this.setRules(specs, req.socket);
        sendJson(res, 200, {rules}, this.listening ? {} : {connection: 'close'});
        return undefined;
      }
      case 'GET stats':
        return sendJson(res, 200, this.stats({withLog: false}));
      case 'DELETE stats':
        this.resetStats();
        return sendJson(res, 200, this.stats({withLog: false}));
      case 'GET log':
      case 'GET faillog': {
        const from = Number(new URL(req.url, 'http://proxy').searchParams.get('from') ?? 0);
        if (!isCount(from)) return sendJson(res, 400, {error: 'from must be a non-negative integer'});
        const log = route === 'GET log' ? this.statsData.putLog : this.statsData.failLog;
        return sendJson(res, 200, {from, total: log.length, entries: log.slice(from)});
      }
      default:
        return sendJson(res, 404, {error: `no control route ${route}`});
    }
  }

  // The first matching status/drop/stall rule, its count consumed.
  takeRequestRule(op, stream) {
    const rule = this.rulesList.find((r) => ['status', 'drop', 'stall'].includes(r.spec.type) &&
                                             ruleMatches(r, op, stream));
    if (rule) {
      rule.remaining--;
      rule.applied++;
      this.statsData.faults[rule.spec.type]++;
      this.opStats(op).faults++;
    }
    return rule;
  }

  stall(rule, res) {
    return new Promise((resolve) => {
      const stall = {
        release: () => {
          clearTimeout(stall.timer);
          this.stalls.delete(stall);
          resolve();
        },
        timer: null,
      };
      if (rule.spec.ms !== undefined) stall.timer = setTimeout(stall.release, rule.spec.ms);
      res.on('close', () => stall.release());  // the client gave up
      this.stalls.add(stall);
    });
  }

  async onKinesis(req, res) {
    const raw = await readBody(req);
    const target = req.headers['x-amz-target'] ?? '';
    const op = target.includes('.') ? target.slice(target.indexOf('.') + 1) : target || '(none)';
    let body = null;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      // not JSON: forwarded untouched, no entry-level faults
    }
    const stream = streamNameOf(body);
    this.opStats(op).requests++;

    const rule = this.takeRequestRule(op, stream);
    let dropAfter = false;
    if (rule?.spec.type === 'status') {
      const status = rule.spec.status ?? 500;
      const type = rule.spec.errorType ?? kDefaultErrorType[status] ?? 'InternalFailure';
      const message = rule.spec.message ?? (type === 'ProvisionedThroughputExceededException'
          ? `Rate exceeded for stream ${stream} under account ${accountOf(body)}.`
          : status >= 500 ? 'Internal service failure.' : `${type}`);
      return sendJson(res, status, {__type: type, message},
                      {'content-type': 'application/x-amz-json-1.1', 'x-amzn-errortype': type,
                       'x-amzn-requestid': crypto.randomUUID()});
    }
    if (rule?.spec.type === 'drop') {
      if ((rule.spec.when ?? 'before') === 'before') return void res.destroy();
      dropAfter = true;
    }
    if (rule?.spec.type === 'stall') {
      await this.stall(rule, res);
      if (res.destroyed || res.writableEnded || req.socket.destroyed) {
        this.statsData.abandoned++;
        return undefined;
      }
      if (rule.spec.then === 'drop') return void res.destroy();
    }

    if (op === 'PutRecords' && Array.isArray(body?.Records)) {
      return this.putRecords(req, res, raw, body, stream, dropAfter);
    }
    let answer;
    try {
      answer = await this.forward(req, raw);
    } catch {
      this.statsData.upstreamErrors++;
      return void res.destroy();
    }
    this.opStats(op).forwarded++;
    if (dropAfter) return void res.destroy();
    return this.reply(res, answer, answer.body);
  }

  // Marks the entries failEntries rules select: failures[i] = {ErrorCode, ErrorMessage} | null.
  failEntries(body, stream) {
    const records = body.Records;
    const failures = new Array(records.length).fill(null);
    const account = accountOf(body);
    for (const rule of this.rulesList) {
      if (rule.spec.type !== 'failEntries' || !ruleMatches(rule, 'PutRecords', stream)) continue;
      for (let i = 0; i < records.length && rule.remaining > 0; i++) {
        if (failures[i]) continue;
        let decoded = null;
        const data = () => (decoded ??= Buffer.from(String(records[i]?.Data ?? ''), 'base64').toString('utf8'));
        const identity = () => entryIdentity(stream, records[i]);
        if (!entrySelected(rule, records[i], i, data, identity)) continue;
        failures[i] = entryError(rule, stream, account);
        if (rule.failedPerEntry) rule.failedPerEntry.set(identity(), (rule.failedPerEntry.get(identity()) ?? 0) + 1);
        this.statsData.failLog.push({stream, partitionKey: records[i]?.PartitionKey,
                                     dataSha256: sha256Hex(records[i]?.Data), errorCode: failures[i].ErrorCode,
                                     at: Date.now()});
        rule.remaining--;
        rule.applied++;
        this.statsData.faults.failEntries++;
      }
    }
    return failures;
  }

  async putRecords(req, res, raw, body, stream, dropAfter) {
    const ops = this.opStats('PutRecords');
    const records = body.Records;
    const failures = this.failEntries(body, stream);
    const survivors = [];
    failures.forEach((f, i) => (f ? ops.entriesFailed++ : survivors.push(i)));
    if (survivors.length < records.length) ops.faults++;

    let upstreamRecords = [];
    let answer = null;
    if (survivors.length > 0) {
      const forwardBody = survivors.length === records.length ? raw
          : Buffer.from(JSON.stringify({...body, Records: survivors.map((i) => records[i])}));
      try {
        answer = await this.forward(req, forwardBody);
      } catch {
        this.statsData.upstreamErrors++;
        return void res.destroy();
      }
      ops.forwarded++;
      ops.recordsForwarded += survivors.length;
      let parsed = null;
      try {
        parsed = JSON.parse(answer.body.toString('utf8'));
      } catch {
        // not JSON: passed through below
      }
      if (answer.status !== 200 || !Array.isArray(parsed?.Records) ||
          parsed.Records.length !== survivors.length) {
        if (dropAfter) return void res.destroy();
        return this.reply(res, answer, answer.body);  // upstream's own error, as it is
      }
      upstreamRecords = parsed.Records;
      const acknowledged = !dropAfter;
      upstreamRecords.forEach((r, j) => {
        if (typeof r.SequenceNumber !== 'string') return;  // failed upstream
        const entry = records[survivors[j]];
        this.statsData.putLog.push({
          stream, partitionKey: entry.PartitionKey,
          dataSha256: sha256Hex(entry.Data),
          sequenceNumber: r.SequenceNumber, shardId: r.ShardId, acknowledged, at: Date.now(),
        });
      });
      if (dropAfter) return void res.destroy();
      if (survivors.length === records.length) return this.reply(res, answer, answer.body);
      body = parsed;
    } else if (dropAfter) {
      return void res.destroy();
    }

    const merged = [];
    let j = 0;
    for (let i = 0; i < records.length; i++) merged.push(failures[i] ?? upstreamRecords[j++]);
    const failed = merged.filter((r) => r.ErrorCode != null).length;  // kinesis-local sends ErrorCode: null
    const out = {FailedRecordCount: failed, Records: merged};
    if (answer && body.EncryptionType !== undefined) out.EncryptionType = body.EncryptionType;
    const bytes = Buffer.from(JSON.stringify(out));
    if (answer) return this.reply(res, answer, bytes);
    res.writeHead(200, {'content-type': 'application/x-amz-json-1.1', 'content-length': bytes.length,
                        'x-amzn-requestid': crypto.randomUUID()});
    res.end(bytes);
    return undefined;
  }

  forward(req, body) {
    const headers = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (!kHopByHop.has(name)) headers[name] = value;
    }
    headers.host = this.upstream.host;
    headers['content-length'] = body.length;
    return new Promise((resolve, reject) => {
      const up = http.request({
        host: this.upstream.hostname.replace(/^\[|\]$/g, ''), port: this.upstream.port || 80,
        method: req.method, path: req.url, headers, agent: this.agent,
      }, async (upRes) => {
        try {
          resolve({status: upRes.statusCode, headers: upRes.headers, body: await readBody(upRes)});
        } catch (err) {
          reject(err);
        }
      });
      up.on('error', reject);
      up.end(body);
    });
  }

  reply(res, answer, body) {
    if (res.destroyed) return;
    const headers = {};
    for (const [name, value] of Object.entries(answer.headers)) {
      if (!kHopByHop.has(name)) headers[name] = value;
    }
    headers['content-length'] = body.length;
    res.writeHead(answer.status, headers);
    res.end(body);
  }
}

// Starts a proxy on 127.0.0.1:`port` (0: any free port) in front of
// `upstream`. Returns {url, controlUrl, port, setRules(rules) -> Promise<rules>,
// rules(), stats(), resetStats(), close() -> Promise}.
export async function startFaultProxy({upstream, port = 0, controlPort, rules = []}) {
  const proxy = new FaultProxy({upstream, port, host: '127.0.0.1'});
  compileRules(rules);
  await proxy.start({controlPort});
  await proxy.setRules(rules);
  return {
    get url() {
      return proxy.url;
    },
    get controlUrl() {
      return proxy.controlUrl;
    },
    port: proxy.port,
    setRules: (specs) => proxy.setRules(specs),
    rules: () => proxy.rules(),
    stats: (options) => proxy.stats(options),
    resetStats: () => proxy.resetStats(),
    close: () => proxy.close(),
  };
}

function parseArgs(argv) {
  const spec = {upstream: 'string', port: 'int', 'control-port': 'int', rules: 'string'};
  const out = parseFlags(argv, spec);
  if (!out.upstream) throw new Error('--upstream URL is required (kinesis-local\'s plain-HTTP port)');
  return out;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  let rules = [];
  if (args.rules !== undefined) {
    const text = args.rules.startsWith('@') ? fs.readFileSync(args.rules.slice(1), 'utf8') : args.rules;
    rules = JSON.parse(text);
  }
  const proxy = await startFaultProxy({upstream: args.upstream, port: args.port ?? 0,
                                       controlPort: args.controlPort, rules});
  process.stdout.write(JSON.stringify({url: proxy.url, controlUrl: proxy.controlUrl}) + '\n');
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.on(sig, () => proxy.close().then(() => process.exit(0)));
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => {
    process.stderr.write(`fault_proxy: ${err.message}\n`);
    process.exit(2);
  });
}
