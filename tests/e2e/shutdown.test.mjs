// SIGTERM with a PutRecords request stalled past shutdown_timeout_ms:
// sluice abandons it, exits 0 within the deadline, and the change arrives
// after a restart (it was never acknowledged).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import {test} from 'node:test';

import {useServices, waitFor, withPipeline} from './lib/harness.mjs';
import {startProxy} from './lib/faults.mjs';

const env = useServices('shutdown');

test('SIGTERM abandons a stalled request at the deadline, exits 0, nothing lost', {timeout: 120000}, async () => {
  const proxy = await startProxy(env.services, [{type: 'stall', op: 'PutRecords', count: 1}]);
  try {
    await withPipeline(env, {
      setupSql: 'DROP TABLE IF EXISTS t; CREATE TABLE t (id int PRIMARY KEY, v int)',
      tables: [{name: 'public.t'}], endpoint: proxy.url,
      extraTopYaml: 'shutdown_timeout_ms: 2000',
      extraSinkYaml: '      request_timeout_ms: 600000',
    }, async (p) => {
      await p.sql('INSERT INTO t VALUES (1, 1)');
      await waitFor('a stalled PutRecords', () => proxy.rules()[0].applied === 1, {timeoutMs: 30000});
      const t0 = Date.now();
      const exit = await p.stop();  // SIGKILL after 30 s
      const ms = Date.now() - t0;  // for the message only: no timing assertion
      assert.deepEqual(exit, {code: 0, signal: null}, `exit after ${ms} ms`);
      const log = fs.readFileSync(p.logPath, 'utf8');
      assert.match(log, /still in flight at the shutdown deadline/);
      await proxy.setRules([]);
      await p.start();
      const msgs = await p.readMessages({expect: 1});
      assert.equal(msgs.length >= 1, true);
      assert.equal(msgs[0].message.record.id, 1);
    });
  } finally {
    await proxy.close();
  }
});
