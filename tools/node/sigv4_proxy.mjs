#!/usr/bin/env node
// A signature-checking HTTP proxy in front of a Kinesis endpoint (kinesis-local,
// or a fault proxy in front of it), for end-to-end tests: every request must
// carry a valid AWS Signature Version 4 Authorization header, as AWS requires.
// The proxy recomputes each request's signature with the AWS SDK's own signer
// (@smithy/signature-v4, what @aws-sdk/client-kinesis signs with) from the
// request as received -- method, path, query, the headers named in
// SignedHeaders, the body -- at the request's X-Amz-Date, with the secret key
// it knows for the request's access key id, and compares. A request that fails
// any check is answered as Kinesis answers it (JSON body {"__type", "message"}
// and an x-amzn-ErrorType header) and is not forwarded; a request that passes
// is forwarded unchanged (Host aside) and upstream's answer relayed as it is.
//
// Checks, in order, each with its reason (the stats key) and AWS's error:
//   missingAuthentication  no Authorization header     MissingAuthenticationTokenException
//   incompleteSignature    Authorization malformed, no X-Amz-Date, Host or
//                          X-Amz-Date not signed       IncompleteSignatureException
//   expired                X-Amz-Date more than 5 minutes from the proxy's
//                          clock                       InvalidSignatureException
//   badScope               credential scope date not X-Amz-Date's day, service
//                          not kinesis, region not the expected one
//                                                      InvalidSignatureException
//   unknownAccessKey       access key id not in the key table
//                                                      UnrecognizedClientException
//   invalidToken           X-Amz-Security-Token missing or wrong for a temporary
//                          key, or sent with a permanent key
//                                                      UnrecognizedClientException
//   payloadHashMismatch    an X-Amz-Content-SHA256 header that is not the
//                          body's SHA-256              InvalidSignatureException
//   signatureMismatch      the recomputed signature differs
//                                                      InvalidSignatureException
// The HTTP status is 400, as Kinesis answers these errors (AWS SDKs report
// "Service: AmazonKinesis; Status Code: 400; Error Code:
// InvalidSignatureException"); `rejectStatus: 403` answers like services that
// use 403.
//
// Importable:
//   const proxy = await startSigV4Proxy({upstream: 'http://127.0.0.1:4567', port: 0,
//       keys: {AKID: {secretAccessKey: '...', sessionToken: '...'(temporary keys only)}}});
//   proxy.url; proxy.setKey(akid, {secretAccessKey, sessionToken}); proxy.removeKey(akid);
//   proxy.setKeys(keys); proxy.keys(); proxy.stats(); proxy.resetStats(); await proxy.close();
//
// CLI (prints {"url": ...} on one line, runs until SIGTERM/SIGINT):
//   node sigv4_proxy.mjs --upstream URL [--port N] --keys JSON|@FILE [--region R]
//                        [--reject-status 400|403]
//
// Control endpoint, on the proxy's port, never signature-checked (loopback only):
//   GET    /__sigv4/stats         -> counters (see stats() below)
//   DELETE /__sigv4/stats         resets them
//   GET    /__sigv4/keys          -> {"keys": [{"accessKeyId", "temporary"}]} (no secrets)
//   PUT    /__sigv4/keys          <- {AKID: {secretAccessKey, sessionToken?}, ...}: replaces the table
//   PUT    /__sigv4/keys/AKID     <- {secretAccessKey, sessionToken?}: adds or replaces one key
//   DELETE /__sigv4/keys/AKID     removes one key
// A bad control request gets 400 {"error"}.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import {pathToFileURL} from 'node:url';

import {Sha256} from '@aws-crypto/sha256-js';
import {SignatureV4} from '@smithy/signature-v4';

import {kHopByHop, parseFlags, parseUpstream, readBody, sendJson} from './proxy_common.mjs';

export const kReasons = Object.freeze(['missingAuthentication', 'incompleteSignature', 'expired', 'badScope',
                                       'unknownAccessKey', 'invalidToken', 'payloadHashMismatch',
                                       'signatureMismatch']);
const kMaxSkewMs = 5 * 60 * 1000;
const kAlgorithm = 'AWS4-HMAC-SHA256';
const kControlPrefix = '/__sigv4/';
const kMaxRejectionsKept = 100;
const kSignatureMismatchMessage = 'The request signature we calculated does not match the signature you provided. ' +
    'Check your AWS Secret Access Key and signing method. Consult the service documentation for details.';
const kInvalidTokenMessage = 'The security token included in the request is invalid.';

// A failed check: the reason (stats key), the AWS error type and message.
class Rejection extends Error {
  constructor(reason, errorType, message) {
    super(message);
    this.reason = reason;
    this.errorType = errorType;
  }
}

const incomplete = (message) => new Rejection('incompleteSignature', 'IncompleteSignatureException', message);

class KeyError extends Error {}

// Validates one key table entry; returns {secretAccessKey, sessionToken|null}.
function checkKey(accessKeyId, entry) {
  const where = `keys.${accessKeyId}`;
  if (!/^[A-Z0-9]{16,128}$/.test(accessKeyId)) {
    throw new KeyError(`${where}: an access key id is 16-128 upper-case letters and digits`);
  }
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
    throw new KeyError(`${where}: must be an object {secretAccessKey, sessionToken?}`);
  }
  for (const field of Object.keys(entry)) {
    if (!['secretAccessKey', 'sessionToken'].includes(field)) throw new KeyError(`${where}.${field}: unknown field`);
  }
  if (typeof entry.secretAccessKey !== 'string' || entry.secretAccessKey === '') {
    throw new KeyError(`${where}.secretAccessKey: must be a non-empty string`);
  }
  if (entry.sessionToken !== undefined && entry.sessionToken !== null &&
      (typeof entry.sessionToken !== 'string' || entry.sessionToken === '')) {
    throw new KeyError(`${where}.sessionToken: must be a non-empty string when given`);
  }
  return {secretAccessKey: entry.secretAccessKey, sessionToken: entry.sessionToken || null};
}

export function compileKeys(keys) {
  if (keys === null || typeof keys !== 'object' || Array.isArray(keys)) {
    throw new KeyError('keys: must be an object mapping access key ids to {secretAccessKey, sessionToken?}');
  }
  const table = new Map();
  for (const [id, entry] of Object.entries(keys)) table.set(id, checkKey(id, entry));
  return table;
}

// "20240611T101500Z" -> Date, or null when not in ISO 8601 basic format.
function parseAmzDate(text) {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  if (!m) return null;
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number);
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  return date.getUTCDate() === d && date.getUTCMonth() === mo - 1 && h < 24 && mi < 60 && s < 60 ? date : null;
}

const formatAmzDate = (ms) => new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');

// Parses "AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request,
// SignedHeaders=a;b, Signature=hex" into its parts, or throws a Rejection.
export function parseAuthorization(value) {
  const space = value.indexOf(' ');
  const algorithm = space < 0 ? value : value.slice(0, space);
  if (algorithm !== kAlgorithm) {
    throw incomplete(`Unsupported AWS 'algorithm': '${algorithm}'`);
  }
  const params = {};
  for (const part of value.slice(space + 1).split(',')) {
    const item = part.trim();
    if (item === '') continue;
    const eq = item.indexOf('=');
    if (eq <= 0) throw incomplete(`Authorization header requires each component to be of the form key=value: '${item}'`);
    const name = item.slice(0, eq);
    if (name in params) throw incomplete(`Authorization header has '${name}' twice`);
    params[name] = item.slice(eq + 1);
  }
  const missing = ['Credential', 'Signature', 'SignedHeaders'].filter((n) => !params[n]);
  if (missing.length > 0) {
    throw incomplete(missing.map((n) => `Authorization header requires '${n}' parameter.`).join(' ') +
                     ` Authorization=${algorithm} ...`);
  }
  const scope = params.Credential.split('/');
  if (scope.length !== 5 || scope.some((s) => s === '') || scope[4] !== 'aws4_request') {
    throw incomplete(`Credential must have exactly 5 slash-delimited elements, e.g. ` +
                     `keyid/date/region/service/aws4_request, got '${params.Credential}'.`);
  }
  if (!/^[0-9a-f]{64}$/.test(params.Signature)) {
    throw incomplete('Signature must be 64 lower-case hexadecimal characters.');
  }
  const signedHeaders = params.SignedHeaders.split(';');
  const sorted = [...signedHeaders].sort();
  if (signedHeaders.some((h, i) => h === '' || h !== h.toLowerCase() || h !== sorted[i] || h === sorted[i - 1])) {
    throw incomplete(`SignedHeaders must be lower-case, sorted and separated by ';': '${params.SignedHeaders}'`);
  }
  const [accessKeyId, date, region, service] = scope;
  return {accessKeyId, date, region, service, signedHeaders, signature: params.Signature};
}

// Header values by lower-case name, repeated headers joined by ',' (SigV4's
// canonical form of a multi-valued header).
function headerValues(rawHeaders) {
  const out = new Map();
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i].toLowerCase();
    out.set(name, out.has(name) ? `${out.get(name)},${rawHeaders[i + 1]}` : rawHeaders[i + 1]);
  }
  return out;
}

function newStats() {
  return {accepted: 0, acceptedWithSessionToken: 0, acceptedByKey: {}, rejected: 0,
          rejectedByReason: Object.fromEntries(kReasons.map((r) => [r, 0])),
          rejections: [], upstreamErrors: 0, abandoned: 0, connections: 0};
}

class SigV4Proxy {
  constructor({upstream, port, keys, region, service, rejectStatus, now}) {
    this.upstream = parseUpstream(upstream);
    this.port = port;
    this.table = compileKeys(keys ?? {});
    if (region !== undefined && (typeof region !== 'string' || !/^[a-z0-9-]+$/.test(region))) {
      throw new Error(`region must be a region name like us-east-1, got "${region}"`);
    }
    this.region = region ?? null;  // null: any region
    this.service = service;
    if (![400, 403].includes(rejectStatus)) throw new Error(`rejectStatus must be 400 or 403, got ${rejectStatus}`);
    this.rejectStatus = rejectStatus;
    this.now = now;
    this.statsData = newStats();
    this.agent = new http.Agent({keepAlive: true, maxSockets: 64});
    this.sockets = new Set();
    this.server = http.createServer((req, res) => this.onRequest(req, res));
    // Longer than clients' idle pools, so a reused connection is not closed under them.
    this.server.keepAliveTimeout = 65000;
    this.server.headersTimeout = 66000;
    this.server.requestTimeout = 0;
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      this.statsData.connections++;
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  start() {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.port ?? 0, '127.0.0.1', () => {
        this.server.off('error', reject);
        this.port = this.server.address().port;
        resolve(this);
      });
    });
  }

  async close() {
    const closed = new Promise((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    this.agent.destroy();
    await closed;
  }

  keys() {
    return [...this.table].map(([accessKeyId, k]) => ({accessKeyId, temporary: k.sessionToken !== null}));
  }

  setKeys(keys) {
    this.table = compileKeys(keys);
    return this.keys();
  }

  setKey(accessKeyId, entry) {
    this.table.set(accessKeyId, checkKey(accessKeyId, entry));
    return this.keys();
  }

  removeKey(accessKeyId) {
    this.table.delete(accessKeyId);
    return this.keys();
  }

  stats() {
    const s = this.statsData;
    return {...s, acceptedByKey: {...s.acceptedByKey}, rejectedByReason: {...s.rejectedByReason},
            rejections: s.rejections.map((r) => ({...r}))};
  }

  resetStats() {
    const connections = this.statsData.connections;
    this.statsData = newStats();
    this.statsData.connections = connections;
  }

  async onRequest(req, res) {
    try {
      const path = new URL(req.url, 'http://proxy').pathname;
      if (path.startsWith(kControlPrefix)) return await this.onControl(req, res, path);
      await this.onService(req, res);
    } catch (err) {
      if (!res.headersSent && !res.destroyed) {
        sendJson(res, 500, {__type: 'InternalFailure', message: `sigv4 proxy: ${err.message}`});
      } else {
        res.destroy();
      }
    }
    return undefined;
  }

  async onControl(req, res, path) {
    const route = path.slice(kControlPrefix.length);
    const body = await readBody(req);
    const parse = () => JSON.parse(body.toString('utf8'));
    try {
      if (route === 'stats' && req.method === 'GET') return sendJson(res, 200, this.stats());
      if (route === 'stats' && req.method === 'DELETE') {
        this.resetStats();
        return sendJson(res, 200, this.stats());
      }
      if (route === 'keys' && req.method === 'GET') return sendJson(res, 200, {keys: this.keys()});
      if (route === 'keys' && req.method === 'PUT') return sendJson(res, 200, {keys: this.setKeys(parse())});
      if (route.startsWith('keys/')) {
        const id = decodeURIComponent(route.slice('keys/'.length));
        if (req.method === 'PUT') return sendJson(res, 200, {keys: this.setKey(id, parse())});
        if (req.method === 'DELETE') return sendJson(res, 200, {keys: this.removeKey(id)});
      }
    } catch (err) {
      return sendJson(res, 400, {error: err.message});
    }
    return sendJson(res, 404, {error: `no control route ${req.method} ${route}`});
  }

  async onService(req, res) {
    const body = await readBody(req);
    let verified;
    try {
      verified = await this.verify(req, body);
    } catch (err) {
      if (!(err instanceof Rejection)) throw err;
      return this.reject(req, res, err);
    }
    const s = this.statsData;
    s.accepted++;
    s.acceptedByKey[verified.accessKeyId] = (s.acceptedByKey[verified.accessKeyId] ?? 0) + 1;
    if (verified.sessionToken) s.acceptedWithSessionToken++;
    return this.forward(req, res, body);
  }

  reject(req, res, rejection) {
    const s = this.statsData;
    s.rejected++;
    s.rejectedByReason[rejection.reason]++;
    const auth = req.headers.authorization ?? '';
    s.rejections.push({
      reason: rejection.reason, errorType: rejection.errorType, message: rejection.message,
      accessKeyId: /Credential=([^/,\s]*)/.exec(auth)?.[1] ?? null,
      target: req.headers['x-amz-target'] ?? null, amzDate: req.headers['x-amz-date'] ?? null,
      at: Date.now(),
    });
    if (s.rejections.length > kMaxRejectionsKept) s.rejections.shift();
    sendJson(res, this.rejectStatus, {__type: rejection.errorType, message: rejection.message},
             {'content-type': 'application/x-amz-json-1.1', 'x-amzn-errortype': rejection.errorType,
              'x-amzn-requestid': crypto.randomUUID()});
  }

  // The checks of the header comment, in order. Returns {accessKeyId,
  // sessionToken} of an accepted request; throws a Rejection.
  async verify(req, body) {
    const headers = headerValues(req.rawHeaders);
    const url = new URL(req.url, 'http://proxy');
    if (!headers.has('authorization')) {
      if (url.searchParams.has('X-Amz-Signature')) {
        throw incomplete('Query-string (presigned) authentication is not accepted here; sign the Authorization header.');
      }
      throw new Rejection('missingAuthentication', 'MissingAuthenticationTokenException', 'Missing Authentication Token');
    }
    const auth = parseAuthorization(headers.get('authorization'));
    for (const required of ['host', 'x-amz-date']) {
      if (!auth.signedHeaders.includes(required)) {
        throw incomplete(`'${required === 'host' ? 'Host' : 'X-Amz-Date'}' must be a 'SignedHeader' in the ` +
                         'AWS Authorization.');
      }
    }
    const amzDateText = headers.get('x-amz-date');
    if (amzDateText === undefined) {
      throw incomplete("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.");
    }
    const signingDate = parseAmzDate(amzDateText);
    if (signingDate === null) {
      throw incomplete(`X-Amz-Date must be in ISO 8601 basic format (YYYYMMDD'T'HHMMSS'Z'), got '${amzDateText}'`);
    }
    const now = this.now();
    if (signingDate.getTime() < now - kMaxSkewMs) {
      throw new Rejection('expired', 'InvalidSignatureException',
                          `Signature expired: ${amzDateText} is now earlier than ${formatAmzDate(now - kMaxSkewMs)} ` +
                          `(${formatAmzDate(now)} - 5 min.)`);
    }
    if (signingDate.getTime() > now + kMaxSkewMs) {
      throw new Rejection('expired', 'InvalidSignatureException',
                          `Signature not yet current: ${amzDateText} is still later than ` +
                          `${formatAmzDate(now + kMaxSkewMs)} (${formatAmzDate(now)} + 5 min.)`);
    }
    if (auth.date !== amzDateText.slice(0, 8)) {
      throw new Rejection('badScope', 'InvalidSignatureException',
                          'Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from ' +
                          `HTTP: '${auth.date}' != '${amzDateText.slice(0, 8)}', from '${amzDateText}'.`);
    }
    if (auth.service !== this.service) {
      throw new Rejection('badScope', 'InvalidSignatureException',
                          `Credential should be scoped to correct service: '${this.service}'.`);
    }
    if (this.region !== null && auth.region !== this.region) {
      throw new Rejection('badScope', 'InvalidSignatureException',
                          `Credential should be scoped to a valid region, not '${auth.region}'.`);
    }
    const key = this.table.get(auth.accessKeyId);
    if (!key) throw new Rejection('unknownAccessKey', 'UnrecognizedClientException', kInvalidTokenMessage);
    const token = headers.get('x-amz-security-token');
    if ((key.sessionToken ?? undefined) !== token) {
      throw new Rejection('invalidToken', 'UnrecognizedClientException', kInvalidTokenMessage);
    }
    const declaredHash = headers.get('x-amz-content-sha256');
    if (declaredHash !== undefined &&
        declaredHash !== crypto.createHash('sha256').update(body).digest('hex')) {
      throw new Rejection('payloadHashMismatch', 'InvalidSignatureException',
                          "The provided 'x-amz-content-sha256' header does not match what was computed.");
    }

    // The request as the client signed it: only the headers it signed.
    const signed = {};
    for (const name of auth.signedHeaders) {
      if (name === 'x-amz-date' || name === 'x-amz-security-token') continue;  // the signer adds these
      signed[name] = headers.get(name) ?? '';
    }
    const query = {};
    for (const [name, value] of url.searchParams) {
      if (!(name in query)) query[name] = value;
      else query[name] = [].concat(query[name], value);
    }
    const signer = new SignatureV4({
      credentials: {accessKeyId: auth.accessKeyId, secretAccessKey: key.secretAccessKey,
                    ...(key.sessionToken ? {sessionToken: key.sessionToken} : {})},
      region: auth.region, service: auth.service, sha256: Sha256, applyChecksum: false,
    });
    const hostHeader = headers.get('host') ?? '';
    const expected = await signer.signRequest({
      method: req.method, protocol: 'http:', hostname: hostHeader.replace(/:\d+$/, ''),
      path: req.url.split('?')[0], query, headers: signed, body,
    }, {signingDate, signableHeaders: new Set(auth.signedHeaders)});
    const expectedAuth = parseAuthorization(expected.headers.authorization);
    const same = expectedAuth.signedHeaders.join(';') === auth.signedHeaders.join(';') &&
        crypto.timingSafeEqual(Buffer.from(expectedAuth.signature), Buffer.from(auth.signature));
    if (!same) throw new Rejection('signatureMismatch', 'InvalidSignatureException', kSignatureMismatchMessage);
    return {accessKeyId: auth.accessKeyId, sessionToken: key.sessionToken};
  }

  // Sends the request upstream and relays the answer. A client that goes away
  // first (e.g. its request timeout) aborts the upstream request, so a proxy
  // behind this one sees the client give up; an upstream failure (refused,
  // reset) drops the client's connection, as a failed emulator would.
  forward(req, res, body) {
    const headers = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (!kHopByHop.has(name)) headers[name] = value;
    }
    headers.host = this.upstream.host;
    headers['content-length'] = body.length;
    return new Promise((resolve) => {
      const up = http.request({
        host: this.upstream.hostname.replace(/^\[|\]$/g, ''), port: this.upstream.port || 80,
        method: req.method, path: req.url, headers, agent: this.agent,
      }, (upRes) => {
        readBody(upRes).then((answer) => {
          if (res.destroyed) return resolve();
          const out = {};
          for (const [name, value] of Object.entries(upRes.headers)) {
            if (!kHopByHop.has(name)) out[name] = value;
          }
          out['content-length'] = answer.length;
          res.writeHead(upRes.statusCode, out);
          res.end(answer);
          return resolve();
        }, () => {
          this.statsData.upstreamErrors++;
          res.destroy();
          resolve();
        });
      });
      up.on('error', () => {
        if (!res.writableEnded && !res.destroyed) {
          this.statsData.upstreamErrors++;
          res.destroy();
        }
        resolve();
      });
      res.on('close', () => {
        if (!res.writableFinished && !up.destroyed) {
          this.statsData.abandoned++;
          up.destroy();
        }
      });
      up.end(body);
    });
  }
}

// Starts a proxy on 127.0.0.1:`port` (0: any free port) in front of
// `upstream`, accepting requests signed with the keys of `keys`
// ({AKID: {secretAccessKey, sessionToken?}}). region: the one region accepted
// in credential scopes (default any); service: default 'kinesis';
// rejectStatus: 400 (default, Kinesis's) or 403; now: the clock (ms), for
// tests. Returns {url, port, keys(), setKeys(keys), setKey(id, entry),
// removeKey(id), stats(), resetStats(), close() -> Promise}.
export async function startSigV4Proxy({upstream, port = 0, keys = {}, region, service = 'kinesis',
                                       rejectStatus = 400, now = Date.now}) {
  const proxy = new SigV4Proxy({upstream, port, keys, region, service, rejectStatus, now});
  await proxy.start();
  return {
    url: proxy.url,
    port: proxy.port,
    keys: () => proxy.keys(),
    setKeys: (k) => proxy.setKeys(k),
    setKey: (id, entry) => proxy.setKey(id, entry),
    removeKey: (id) => proxy.removeKey(id),
    stats: () => proxy.stats(),
    resetStats: () => proxy.resetStats(),
    close: () => proxy.close(),
  };
}

function parseArgs(argv) {
  const spec = {upstream: 'string', port: 'int', keys: 'string', region: 'string', 'reject-status': 'int'};
  const out = parseFlags(argv, spec);
  if (!out.upstream) throw new Error('--upstream URL is required (the Kinesis endpoint to protect)');
  if (!out.keys) throw new Error('--keys JSON|@FILE is required: {"AKID": {"secretAccessKey": ..., "sessionToken"?: ...}}');
  return out;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const text = args.keys.startsWith('@') ? fs.readFileSync(args.keys.slice(1), 'utf8') : args.keys;
  let keys;
  try {
    keys = JSON.parse(text);
  } catch (err) {
    throw new Error(`--keys is not JSON: ${err.message}`);
  }
  const proxy = await startSigV4Proxy({upstream: args.upstream, port: args.port ?? 0, keys, region: args.region,
                                       rejectStatus: args.rejectStatus ?? 400});
  process.stdout.write(JSON.stringify({url: proxy.url}) + '\n');
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.on(sig, () => proxy.close().then(() => process.exit(0)));
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => {
    process.stderr.write(`sigv4_proxy: ${err.message}\n`);
    process.exit(2);
  });
}
