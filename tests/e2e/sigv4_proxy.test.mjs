// The signature-checking proxy (tools/node/sigv4_proxy.mjs) in front of a real
// kinesis-local, without sluice: requests signed by the AWS SDK get through
// with static keys and with session tokens; every kind of bad signature is
// answered like Kinesis answers it and never forwarded. sluice's own requests
// through it are covered by every sluice e2e test (tests/e2e/lib/harness.mjs)
// and by signing.test.mjs.
import assert from 'node:assert/strict';
import {spawn} from 'node:child_process';
import {once} from 'node:events';
import http from 'node:http';
import {createRequire} from 'node:module';
import path from 'node:path';
import readline from 'node:readline';
import {after, describe, test} from 'node:test';

import {createStream} from '../../tools/node/create_stream.mjs';
import {startFaultProxy} from '../../tools/node/fault_proxy.mjs';
import {makeKinesisClient} from '../../tools/node/kinesis_client.mjs';
import {readStream} from '../../tools/node/read_stream.mjs';
import {startSigV4Proxy} from '../../tools/node/sigv4_proxy.mjs';

import {makeTemporaryCredentials, proxyKeysFor, useServices, waitFor} from './lib/harness.mjs';
import {nonLoopbackListeners, tcpListeners} from './lib/listeners.mjs';
import {kToolsDir} from './lib/services.mjs';

const toolsRequire = createRequire(path.join(kToolsDir, 'package.json'));
const {DescribeStreamSummaryCommand, PutRecordsCommand} = toolsRequire('@aws-sdk/client-kinesis');
const {SignatureV4} = toolsRequire('@smithy/signature-v4');
const {Sha256} = toolsRequire('@aws-crypto/sha256-js');

const kStatic = Object.freeze({accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
                               secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'});
const kMinute = 60 * 1000;

const entry = (key, data) => ({PartitionKey: key, Data: Buffer.from(data, 'utf8').toString('base64')});

// Signs a Kinesis JSON-protocol request to `url` with the AWS SDK's signer
// (credentials, date, region, service as given) and returns {headers, body}.
async function signRequest(url, {op = 'PutRecords', body, credentials, date = new Date(), region = 'us-east-1',
                                 service = 'kinesis', contentSha256 = false}) {
  const {host, hostname, port} = new URL(url);
  const signer = new SignatureV4({credentials, region, service, sha256: Sha256, applyChecksum: contentSha256});
  const signed = await signer.signRequest({
    method: 'POST', protocol: 'http:', hostname, port: Number(port), path: '/', query: {},
    headers: {'host': host, 'content-type': 'application/x-amz-json-1.1',
              'x-amz-target': `Kinesis_20131202.${op}`},
    body,
  }, {signingDate: date});
  return {headers: signed.headers, body};
}

// Sends a request as it is (no retries); resolves {status, headers, body}
// (body parsed as JSON when it is), rejects when the connection fails.
function send(url, {headers, body}, {agent, onRequest} = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}/`, {method: 'POST', headers, agent}, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          // not JSON: kept as text
        }
        resolve({status: res.statusCode, headers: res.headers, body: parsed});
      });
    });
    req.on('error', reject);
    onRequest?.(req);
    req.end(body);
  });
}

const putBody = (stream, data) => JSON.stringify({StreamName: stream, Records: [entry('k', data)]});

// Asserts an answer is the AWS error `type` with HTTP `status`.
function assertAwsError(answer, status, type, messagePattern) {
  assert.equal(answer.status, status, JSON.stringify(answer.body));
  assert.equal(answer.body.__type, type);
  assert.equal(answer.headers['x-amzn-errortype'], type);
  if (messagePattern) assert.match(answer.body.message, messagePattern);
}

let streamCounter = 0;

describe('sigv4 proxy in front of kinesis-local', () => {
  const env = useServices('sigv4-proxy', {needsSluice: false});
  const closers = [];
  after(async () => {
    for (const close of closers) await close();
  });

  // A fresh stream and a proxy in front of `upstream` (default the emulator).
  async function setup({keys = proxyKeysFor(kStatic), upstream, ...options} = {}) {
    const stream = `sigv4-${process.pid}-${++streamCounter}`;
    await createStream({endpoint: env.services.endpoint, stream, shards: 1});
    const proxy = await startSigV4Proxy({upstream: upstream ?? env.services.endpoint, keys, ...options});
    closers.push(() => proxy.close());
    const stored = async () => (await readStream({endpoint: env.services.endpoint, stream})).records.map((r) => r.data);
    return {proxy, stream, stored};
  }

  function client(proxy, credentials) {
    const c = makeKinesisClient({endpoint: proxy.url, credentials, maxAttempts: 1});
    closers.push(async () => c.destroy());
    return c;
  }

  test('the AWS SDK gets through with static keys and with a session token', async () => {
    const temporary = makeTemporaryCredentials();
    const {proxy, stream, stored} = await setup({keys: {...proxyKeysFor(kStatic), ...proxyKeysFor(temporary)}});
    for (const [credentials, data] of [[kStatic, 'static'], [temporary, 'session']]) {
      const sdk = client(proxy, credentials);
      const summary = await sdk.send(new DescribeStreamSummaryCommand({StreamName: stream}));
      assert.equal(summary.StreamDescriptionSummary.StreamName, stream);
      const put = await sdk.send(new PutRecordsCommand({StreamName: stream, Records: [
        {PartitionKey: 'k', Data: Buffer.from(data)}]}));
      assert.equal(put.FailedRecordCount ?? 0, 0);
    }
    assert.deepEqual(await stored(), ['static', 'session']);
    const stats = proxy.stats();
    assert.deepEqual({accepted: stats.accepted, withToken: stats.acceptedWithSessionToken, rejected: stats.rejected,
                      byKey: stats.acceptedByKey},
                     {accepted: 4, withToken: 2, rejected: 0,
                      byKey: {[kStatic.accessKeyId]: 2, [temporary.accessKeyId]: 2}});
  });

  test('a wrong secret key: 400 InvalidSignatureException, nothing forwarded (403 when asked)', async () => {
    const {proxy, stream, stored} = await setup();
    const wrong = {...kStatic, secretAccessKey: `${kStatic.secretAccessKey.slice(0, -1)}X`};
    const err = await client(proxy, wrong).send(new PutRecordsCommand({StreamName: stream, Records: [
      {PartitionKey: 'k', Data: Buffer.from('forged')}]})).then(() => null, (e) => e);
    assert.ok(err, 'the request was refused');
    assert.equal(err.name, 'InvalidSignatureException');
    assert.equal(err.$metadata.httpStatusCode, 400);
    assert.match(err.message, /^The request signature we calculated does not match the signature you provided/);
    assert.equal(proxy.stats().rejectedByReason.signatureMismatch, 1);
    assert.equal(proxy.stats().accepted, 0);
    assert.deepEqual(await stored(), []);

    const strict = await startSigV4Proxy({upstream: env.services.endpoint, keys: proxyKeysFor(kStatic),
                                          rejectStatus: 403});
    closers.push(() => strict.close());
    const answer = await send(strict.url, await signRequest(strict.url, {body: putBody(stream, 'forged'),
                                                                          credentials: wrong}));
    assertAwsError(answer, 403, 'InvalidSignatureException');
    assert.deepEqual(await stored(), []);
  });

  test('an unknown access key: UnrecognizedClientException', async () => {
    const {proxy, stream} = await setup();
    const err = await client(proxy, makeTemporaryCredentials())
        .send(new DescribeStreamSummaryCommand({StreamName: stream})).then(() => null, (e) => e);
    assert.equal(err?.name, 'UnrecognizedClientException');
    assert.equal(err.$metadata.httpStatusCode, 400);
    assert.equal(err.message, 'The security token included in the request is invalid.');
    assert.equal(proxy.stats().rejectedByReason.unknownAccessKey, 1);
  });

  test('a body other than the signed one is refused', async () => {
    const {proxy, stream, stored} = await setup();
    const signed = await signRequest(proxy.url, {body: putBody(stream, 'signed'), credentials: kStatic});
    assertAwsError(await send(proxy.url, {...signed, body: putBody(stream, 'tampered')}),
                   400, 'InvalidSignatureException', /does not match the signature you provided/);
    // The same with the body's hash in X-Amz-Content-SHA256: the header no longer matches the body.
    const hashed = await signRequest(proxy.url, {body: putBody(stream, 'signed'), credentials: kStatic,
                                                 contentSha256: true});
    assert.ok(hashed.headers['x-amz-content-sha256']);
    assertAwsError(await send(proxy.url, {...hashed, body: putBody(stream, 'tampered')}),
                   400, 'InvalidSignatureException', /x-amz-content-sha256/);
    assert.deepEqual(await stored(), []);
    // Sent as signed, both pass.
    assert.equal((await send(proxy.url, signed)).status, 200);
    assert.equal((await send(proxy.url, hashed)).status, 200);
    assert.deepEqual(await stored(), ['signed', 'signed']);
    assert.deepEqual([proxy.stats().rejectedByReason.signatureMismatch,
                      proxy.stats().rejectedByReason.payloadHashMismatch], [1, 1]);
  });

  test('a temporary key needs its own session token, signed', async () => {
    const temporary = makeTemporaryCredentials();
    const {proxy, stream, stored} = await setup({keys: {...proxyKeysFor(temporary), ...proxyKeysFor(kStatic)}});
    const body = putBody(stream, 'data');
    const withoutToken = {accessKeyId: temporary.accessKeyId, secretAccessKey: temporary.secretAccessKey};
    // No token at all (through the SDK, which would sign one if it had it).
    const err = await client(proxy, withoutToken).send(new DescribeStreamSummaryCommand({StreamName: stream}))
        .then(() => null, (e) => e);
    assert.equal(err?.name, 'UnrecognizedClientException');
    // Another token.
    const other = {...temporary, sessionToken: makeTemporaryCredentials().sessionToken};
    assertAwsError(await send(proxy.url, await signRequest(proxy.url, {body, credentials: other})),
                   400, 'UnrecognizedClientException', /security token included in the request is invalid/);
    // The right token, sent but left out of the signature.
    const unsigned = await signRequest(proxy.url, {body, credentials: withoutToken});
    unsigned.headers['x-amz-security-token'] = temporary.sessionToken;
    assertAwsError(await send(proxy.url, unsigned), 400, 'InvalidSignatureException');
    // A token sent with a permanent key.
    assertAwsError(await send(proxy.url, await signRequest(proxy.url, {
      body, credentials: {...kStatic, sessionToken: temporary.sessionToken}})), 400, 'UnrecognizedClientException');
    assert.deepEqual(await stored(), []);
    assert.equal((await send(proxy.url, await signRequest(proxy.url, {body, credentials: temporary}))).status, 200);
    assert.deepEqual(await stored(), ['data']);
    const stats = proxy.stats();
    assert.deepEqual([stats.rejectedByReason.invalidToken, stats.rejectedByReason.signatureMismatch,
                      stats.acceptedWithSessionToken], [3, 1, 1]);
  });

  test('X-Amz-Date more than 5 minutes off is refused', async () => {
    const {proxy, stream, stored} = await setup();
    const at = (offset) => signRequest(proxy.url, {body: putBody(stream, `at ${offset}`), credentials: kStatic,
                                                   date: new Date(Date.now() + offset)});
    assertAwsError(await send(proxy.url, await at(-6 * kMinute)), 400, 'InvalidSignatureException',
                   /^Signature expired: \d{8}T\d{6}Z is now earlier than \d{8}T\d{6}Z \(\d{8}T\d{6}Z - 5 min\.\)$/);
    assertAwsError(await send(proxy.url, await at(6 * kMinute)), 400, 'InvalidSignatureException',
                   /^Signature not yet current: /);
    assert.deepEqual(await stored(), []);
    assert.equal((await send(proxy.url, await at(-4 * kMinute))).status, 200);
    assert.equal((await send(proxy.url, await at(4 * kMinute))).status, 200);
    assert.equal(proxy.stats().rejectedByReason.expired, 2);
  });

  test('a missing or malformed Authorization, or a wrong credential scope, is refused', async () => {
    const {proxy, stream, stored} = await setup({region: 'us-east-1'});
    const body = putBody(stream, 'x');
    const good = await signRequest(proxy.url, {body, credentials: kStatic});
    const without = ({authorization, ...rest}) => rest;  // eslint-disable-line no-unused-vars
    assertAwsError(await send(proxy.url, {headers: without(good.headers), body}),
                   400, 'MissingAuthenticationTokenException', /^Missing Authentication Token$/);
    const withAuth = (authorization) => send(proxy.url, {headers: {...good.headers, authorization}, body});
    assertAwsError(await withAuth('AWS4-HMAC-SHA256 Credential=x'), 400, 'IncompleteSignatureException',
                   /requires 'Signature' parameter/);
    assertAwsError(await withAuth('AWS3 whatever'), 400, 'IncompleteSignatureException', /Unsupported AWS 'algorithm'/);
    assertAwsError(await withAuth(good.headers.authorization.replace(/SignedHeaders=[^,]*/, 'SignedHeaders=x-amz-date')),
                   400, 'IncompleteSignatureException', /'Host' must be a 'SignedHeader'/);
    const {'x-amz-date': _, ...noDate} = good.headers;  // eslint-disable-line no-unused-vars
    assertAwsError(await send(proxy.url, {headers: noDate, body}), 400, 'IncompleteSignatureException',
                   /X-Amz-Date/);
    for (const [options, pattern] of [[{service: 'dynamodb'}, /scoped to correct service: 'kinesis'/],
                                      [{region: 'eu-west-1'}, /scoped to a valid region/]]) {
      const signed = await signRequest(proxy.url, {body, credentials: kStatic, ...options});
      assertAwsError(await send(proxy.url, signed), 400, 'InvalidSignatureException', pattern);
    }
    assert.deepEqual(await stored(), []);
    const {rejectedByReason, accepted} = proxy.stats();
    assert.deepEqual([rejectedByReason.missingAuthentication, rejectedByReason.incompleteSignature,
                      rejectedByReason.badScope, accepted], [1, 4, 2, 0]);
  });

  test('a client that gives up aborts the upstream request; an upstream failure drops the connection', async () => {
    const faults = await startFaultProxy({upstream: env.services.endpoint, port: 0,
                                          rules: [{type: 'stall', op: 'PutRecords', count: 1}]});
    closers.push(() => faults.close());
    const {proxy, stream, stored} = await setup({upstream: faults.url});
    let request;
    const answer = send(proxy.url, await signRequest(proxy.url, {body: putBody(stream, 'stalled'), credentials: kStatic}),
                        {onRequest: (r) => (request = r)});
    await waitFor('the fault proxy to stall the request', () => faults.stats().faults.stall === 1);
    request.destroy();
    await assert.rejects(answer);
    await waitFor('the fault proxy to see the request abandoned', () => faults.stats({withLog: false}).abandoned === 1);
    assert.equal(proxy.stats().abandoned, 1);
    assert.deepEqual(await stored(), []);

    await faults.setRules([{type: 'down'}]);
    await assert.rejects(send(proxy.url, await signRequest(proxy.url, {body: putBody(stream, 'down'), credentials: kStatic})),
                         (err) => ['ECONNRESET'].includes(err.code) || /socket hang up/.test(err.message));
    assert.equal(proxy.stats().upstreamErrors, 1);
    await faults.setRules([]);
    assert.equal((await send(proxy.url, await signRequest(proxy.url, {body: putBody(stream, 'up'),
                                                                      credentials: kStatic}))).status, 200);
    assert.deepEqual(await stored(), ['up']);
  });

  test('the CLI binds loopback only; keys change at run time through the control endpoint', async () => {
    const {stream} = await setup();
    const temporary = makeTemporaryCredentials();
    const child = spawn('node', [path.join(kToolsDir, 'sigv4_proxy.mjs'), '--upstream', env.services.endpoint,
                                 '--port', '0', '--keys', JSON.stringify(proxyKeysFor(kStatic))],
                        {stdio: ['ignore', 'pipe', 'inherit']});
    try {
      const [line] = await once(readline.createInterface({input: child.stdout}), 'line');
      const {url} = JSON.parse(line);
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
      const listeners = (await tcpListeners()).filter((l) => l.pids.includes(child.pid));
      assert.equal(listeners.length, 1);
      assert.deepEqual(await nonLoopbackListeners([child.pid]), []);

      const control = async (method, route, body) => {
        const res = await fetch(`${url}/__sigv4/${route}`, {method, body: body && JSON.stringify(body)});
        return {status: res.status, body: await res.json()};
      };
      const put = async (credentials, data) => send(url, await signRequest(url, {body: putBody(stream, data),
                                                                                credentials}));
      assert.equal((await put(kStatic, 'one')).status, 200);
      assertAwsError(await put(temporary, 'two'), 400, 'UnrecognizedClientException');

      const added = await control('PUT', `keys/${temporary.accessKeyId}`,
                                  {secretAccessKey: temporary.secretAccessKey, sessionToken: temporary.sessionToken});
      assert.equal(added.status, 200);
      assert.ok(!JSON.stringify(added.body).includes(temporary.secretAccessKey), 'no secret in the answer');
      assert.deepEqual((await control('GET', 'keys')).body.keys,
                       [{accessKeyId: kStatic.accessKeyId, temporary: false},
                        {accessKeyId: temporary.accessKeyId, temporary: true}]);
      assert.equal((await put(temporary, 'three')).status, 200);

      const bad = await control('PUT', 'keys/lower-case', {secretAccessKey: 'x'});
      assert.equal(bad.status, 400);
      assert.match(bad.body.error, /keys\.lower-case: an access key id is/);
      assert.equal((await control('PUT', 'keys', {[kStatic.accessKeyId]: {}})).status, 400);

      assert.equal((await control('DELETE', `keys/${kStatic.accessKeyId}`)).status, 200);
      assertAwsError(await put(kStatic, 'four'), 400, 'UnrecognizedClientException');

      const stats = await control('GET', 'stats');
      assert.deepEqual([stats.body.accepted, stats.body.rejected, stats.body.rejectedByReason.unknownAccessKey],
                       [2, 2, 2]);
      assert.equal((await control('DELETE', 'stats')).body.rejected, 0);
      const {records} = await readStream({endpoint: env.services.endpoint, stream});
      assert.deepEqual(records.map((r) => r.data), ['one', 'three']);
    } finally {
      child.kill('SIGTERM');
    }
    const [code] = await once(child, 'exit');
    assert.equal(code, 0);
  });
});
