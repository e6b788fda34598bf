// sluice's signatures are checked (issue 5): every pipeline of the e2e suite
// sends through a signature-checking proxy (tools/node/sigv4_proxy.mjs, see
// tests/e2e/lib/harness.mjs) that fails the test on any rejected request.
// This file shows that the check is live for sluice's own requests: sluice
// holding a secret the proxy does not accept delivers nothing and logs AWS's
// InvalidSignatureException; once the proxy accepts its key, everything
// arrives, in order, with static keys and with a session token.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import {once} from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import {test} from 'node:test';

import {assertNoSecrets, makeTemporaryCredentials, proxyKeysFor, useServices, waitFor, withPipeline}
  from './lib/harness.mjs';
import {kDummyCredentials} from './lib/sluice.mjs';

const env = useServices('signing');

const kTableSql = 'DROP TABLE IF EXISTS signed; CREATE TABLE signed (id int PRIMARY KEY, note text)';

// sluice signs with `credentials`; the proxy knows the same key id with
// another secret until the test gives it the right one.
for (const [kind, makeCredentials] of [['static keys', () => ({...kDummyCredentials})],
                                       ['a session token', makeTemporaryCredentials]]) {
  test(`with ${kind}, a secret the proxy rejects: nothing delivered, InvalidSignatureException in sluice's log`,
       {timeout: 120000}, (t) => {
    const credentials = makeCredentials();
    const wrong = {...credentials, secretAccessKey: `${credentials.secretAccessKey}-not-this-one`};
    return withPipeline(env, {
      setupSql: kTableSql, tables: [{name: 'public.signed'}], credentials, proxyKeys: proxyKeysFor(wrong),
    }, async (p) => {
      await p.sql("INSERT INTO signed VALUES (1, 'first'), (2, 'second')");
      const log = () => fs.readFileSync(p.logPath, 'utf8');
      await waitFor('sluice to log a PutRecords refused with InvalidSignatureException',
                    () => log().split('\n').some((l) => l.includes('PutRecords') &&
                                                       l.includes('InvalidSignatureException')),
                    {timeoutMs: 30000, check: () => p.assertRunning()});
      const refused = p.sigv4.stats();
      assert.equal(refused.accepted, 0, 'the proxy accepted none of sluice\'s requests');
      assert.ok(refused.rejectedByReason.signatureMismatch >= 2,
                `DescribeStreamSummary and PutRecords were refused: ${JSON.stringify(refused.rejectedByReason)}`);
      assert.equal(refused.rejected, refused.rejectedByReason.signatureMismatch, 'for their signature only');
      assert.deepEqual(await p.readRecords({}), [], 'nothing reached the stream');
      assert.ok(p.sluice.running, 'sluice keeps retrying');

      // The proxy now accepts sluice's secret: the retried messages arrive.
      p.sigv4.setKeys(proxyKeysFor(credentials));
      const records = await p.readMessages({expect: 2});
      const notes = (rs) => rs.map((r) => r.message.record.note).sort();  // order holds per key only
      assert.deepEqual(notes(records), ['first', 'second']);
      // From here on nothing may be refused (finish() checks), and a new change still arrives.
      p.sigv4.resetStats();
      await p.sql("INSERT INTO signed VALUES (3, 'third')");
      const after = await p.readMessages({expect: 3});
      assert.deepEqual(notes(after), ['first', 'second', 'third']);
      t.diagnostic(`refused before the fix: ${JSON.stringify(refused.rejectedByReason)}; ` +
                   `accepted after: ${p.sigv4.stats().accepted} (${p.sigv4.stats().acceptedWithSessionToken} ` +
                   'with a session token)');
    });
  });
}

test('sluice configured without the session token of a temporary key is refused as an unrecognized client',
     {timeout: 120000}, (t) => {
  const temporary = makeTemporaryCredentials();
  const {sessionToken, ...withoutToken} = temporary;  // eslint-disable-line no-unused-vars
  return withPipeline(env, {
    setupSql: kTableSql, tables: [{name: 'public.signed'}], credentials: withoutToken,
    proxyKeys: proxyKeysFor(temporary),
  }, async (p) => {
    await p.sql("INSERT INTO signed VALUES (1, 'first')");
    await waitFor('sluice to log a PutRecords refused with UnrecognizedClientException',
                  () => fs.readFileSync(p.logPath, 'utf8').split('\n')
                      .some((l) => l.includes('PutRecords') && l.includes('UnrecognizedClientException')),
                  {timeoutMs: 30000, check: () => p.assertRunning()});
    const refused = p.sigv4.stats();
    assert.equal(refused.accepted, 0);
    assert.equal(refused.rejected, refused.rejectedByReason.invalidToken);
    assert.deepEqual(await p.readRecords({}), [], 'nothing reached the stream');

    // A key without a token is what sluice has: accepted, it delivers.
    p.sigv4.setKeys(proxyKeysFor(withoutToken));
    const records = await p.readMessages({expect: 1});
    assert.equal(records[0].message.record.note, 'first');
    p.sigv4.resetStats();
    await p.sql("INSERT INTO signed VALUES (2, 'second')");
    await p.readMessages({expect: 2});
    t.diagnostic(`refused: ${JSON.stringify(refused.rejectedByReason)}`);
  });
});

// use_task_role: the real binary runs the AWS credential chain. The container
// provider (AWS_CONTAINER_CREDENTIALS_FULL_URI, loopback here, with an
// authorization token) hands out temporary keys that only now become known to
// the sigv4 proxy; sluice signs with them and delivers.
test('use_task_role: keys from a container credentials endpoint on loopback sign what sluice sends',
     {timeout: 120000}, async (t) => {
  const authToken = `container-auth-${crypto.randomBytes(12).toString('hex')}`;
  const served = [];
  let refusedFetches = 0;
  let sigv4 = null;
  const server = http.createServer((req, res) => {
    if (req.url !== '/creds' || req.headers.authorization !== authToken) {
      ++refusedFetches;
      res.writeHead(401, {'content-type': 'application/json'});
      res.end('{"Code":"Unauthorized","Message":"wrong token"}');
      return;
    }
    const c = makeTemporaryCredentials();
    served.push(c);
    sigv4.setKey(c.accessKeyId, {secretAccessKey: c.secretAccessKey, sessionToken: c.sessionToken});
    res.writeHead(200, {'content-type': 'application/json'});
    res.end(JSON.stringify({AccessKeyId: c.accessKeyId, SecretAccessKey: c.secretAccessKey,
                            Token: c.sessionToken,
                            Expiration: new Date(Date.now() + 3600 * 1000).toISOString()}));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    await withPipeline(env, {
      setupSql: kTableSql, tables: [{name: 'public.signed'}], credentials: {useTaskRole: true},
      proxyKeys: {}, start: false,
      sluiceEnv: {AWS_CONTAINER_CREDENTIALS_FULL_URI: `http://127.0.0.1:${server.address().port}/creds`,
                  AWS_CONTAINER_AUTHORIZATION_TOKEN: authToken},
    }, async (p) => {
      sigv4 = p.sigv4;
      await p.start();
      await p.sql("INSERT INTO signed VALUES (1, 'first'), (2, 'second')");
      const records = await p.readMessages({expect: 2});
      assert.deepEqual(records.map((r) => r.message.record.note).sort(), ['first', 'second']);
      assert.ok(served.length >= 1, 'sluice fetched credentials from the container endpoint');
      assert.equal(refusedFetches, 0, 'every fetch carried the authorization token');
      const {acceptedByKey, acceptedWithSessionToken} = p.sigv4.stats();
      const servedIds = new Set(served.map((c) => c.accessKeyId));
      assert.ok(Object.keys(acceptedByKey).length > 0);
      for (const id of Object.keys(acceptedByKey)) assert.ok(servedIds.has(id), `signed with a served key: ${id}`);
      assert.ok(acceptedWithSessionToken > 0, 'requests carried the session token');
      const log = fs.readFileSync(p.logPath, 'utf8');
      for (const c of served) assertNoSecrets(log, c);
      assert.ok(!log.includes(authToken), 'the container authorization token is not logged');
      t.diagnostic(`${served.length} credential fetch(es); accepted ${JSON.stringify(acceptedByKey)}`);
    });
  } finally {
    server.close();
  }
});
