// `changes` under REPLICA IDENTITY FULL and DEFAULT, partition keys from
// composite primary keys and group_column_names, long keys hashed (SPEC §2, §3),
// and `sluice check` on a working setup.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import {test} from 'node:test';

import {assertNoSecrets, useServices, withPipeline} from './lib/harness.mjs';
import {num} from './lib/json.mjs';
import {assertEnvelope, comparePositions, position} from './lib/messages.mjs';
import {runSluiceCommand} from './lib/sluice.mjs';

const env = useServices('keys');

const byCommit = (rs) => [...rs].sort((a, b) => comparePositions(position(a.message), position(b.message)));

const kOrdersDdl = (table, identity) => `
  CREATE TABLE ${table} (id int PRIMARY KEY, status text, total numeric(10, 2), note text);
  ALTER TABLE ${table} REPLICA IDENTITY ${identity};`;

test('REPLICA IDENTITY FULL: changes holds the old values of changed columns, delete the whole row',
     {timeout: 120000}, () => withPipeline(env, {
       setupSql: kOrdersDdl('orders_full', 'FULL'), tables: [{name: 'public.orders_full'}],
     }, async (p) => {
  await p.sql("INSERT INTO orders_full VALUES (7, 'pending', 10.50, 'n')");
  await p.sql("UPDATE orders_full SET status = 'paid', total = 199.99 WHERE id = 7");
  await p.sql("UPDATE orders_full SET note = NULL WHERE id = 7");
  await p.sql('DELETE FROM orders_full WHERE id = 7');
  const [insert, update1, update2, del] = byCommit(await p.readMessages({expect: 4}));
  assert.deepEqual(insert.message.record, {id: 7, status: 'pending', total: num('10.50'), note: 'n'});
  assert.equal(insert.message.changes, null);
  assert.equal(update1.message.action, 'update');
  assert.deepEqual(update1.message.record, {id: 7, status: 'paid', total: num('199.99'), note: 'n'});
  assert.deepEqual(update1.message.changes, {status: 'pending', total: num('10.50')});
  assert.deepEqual(update2.message.record, {id: 7, status: 'paid', total: num('199.99'), note: null});
  assert.deepEqual(update2.message.changes, {note: 'n'});
  assert.equal(del.message.action, 'delete');
  assert.deepEqual(del.message.record, {id: 7, status: 'paid', total: num('199.99'), note: null});
  assert.equal(del.message.changes, null);
  for (const r of [insert, update1, update2, del]) {
    assert.equal(r.partitionKey, '7', `${r.message.action}: the partition key is the primary key`);
    assertEnvelope(r.message, {table: 'orders_full', pks: ['7']});
  }
}));

test('REPLICA IDENTITY DEFAULT: changes is {} and delete carries the key only',
     {timeout: 120000}, () => withPipeline(env, {
       setupSql: kOrdersDdl('orders_default', 'DEFAULT'), tables: [{name: 'public.orders_default'}],
     }, async (p) => {
  await p.sql("INSERT INTO orders_default VALUES (8, 'pending', 1.00, 'n')");
  await p.sql("UPDATE orders_default SET status = 'paid' WHERE id = 8");
  await p.sql('DELETE FROM orders_default WHERE id = 8');
  const [insert, update, del] = byCommit(await p.readMessages({expect: 3}));
  assert.equal(insert.message.action, 'insert');
  assert.deepEqual(update.message.record, {id: 8, status: 'paid', total: num('1.00'), note: 'n'});
  assert.deepEqual(update.message.changes, {});
  assert.deepEqual(del.message.record, {id: 8});
  assert.equal(del.message.changes, null);
}));

test('a composite primary key gives partition key "a:b" and record_pks in key order',
     {timeout: 120000}, () => withPipeline(env, {
       setupSql: `CREATE TABLE pairs (tenant int, code text, v text, PRIMARY KEY (tenant, code))`,
       tables: [{name: 'public.pairs'}], shards: 2,
     }, async (p) => {
  await p.sql("INSERT INTO pairs VALUES (1, 'x', 'one'), (2, 'y:z', 'two')");
  await p.sql("UPDATE pairs SET v = 'uno' WHERE tenant = 1 AND code = 'x'");
  const messages = byCommit(await p.readMessages({expect: 3}));
  const got = messages.map((r) => [r.partitionKey, r.message.metadata.record_pks, r.message.record.v]);
  assert.deepEqual(got, [['1:x', ['1', 'x'], 'one'], ['2:y:z', ['2', 'y:z'], 'two'], ['1:x', ['1', 'x'], 'uno']]);
}));

test('group_column_names set the partition key; record_pks stay the primary key',
     {timeout: 120000}, () => withPipeline(env, {
       setupSql: `CREATE TABLE accounts_orders (id int PRIMARY KEY, account_id int, region text, amount int)`,
       tables: [{name: 'public.accounts_orders', groupColumns: ['account_id', 'region']}], shards: 2,
     }, async (p) => {
  await p.sql(`INSERT INTO accounts_orders VALUES (1, 42, 'eu', 5), (2, 42, 'eu', 6), (3, 43, 'us', 7)`);
  await p.sql('UPDATE accounts_orders SET amount = amount + 1 WHERE id = 2');
  const messages = byCommit(await p.readMessages({expect: 4}));
  const got = messages.map((r) => [r.partitionKey, r.message.metadata.record_pks, r.message.record.amount]);
  assert.deepEqual(got, [['42:eu', ['1'], 5], ['42:eu', ['2'], 6], ['43:us', ['3'], 7], ['42:eu', ['2'], 7]]);
}));

test('a partition key over 256 bytes becomes its MD5 in lowercase hex; 256 bytes stays',
     {timeout: 120000}, () => withPipeline(env, {
       setupSql: 'CREATE TABLE long_keys (k text PRIMARY KEY, v int)',
       tables: [{name: 'public.long_keys'}], shards: 2,
     }, async (p) => {
  const exactly256 = 'é'.repeat(128);  // 256 bytes of UTF-8
  const over256 = 'é'.repeat(129);     // 258 bytes, 129 characters
  const ascii300 = 'k'.repeat(300);
  await p.sql('INSERT INTO long_keys VALUES ($1, 1)', [exactly256]);
  await p.sql('INSERT INTO long_keys VALUES ($1, 2)', [over256]);
  await p.sql('INSERT INTO long_keys VALUES ($1, 3)', [ascii300]);
  const messages = byCommit(await p.readMessages({expect: 3}));
  const md5 = (s) => crypto.createHash('md5').update(s, 'utf8').digest('hex');
  assert.deepEqual(messages.map((r) => r.partitionKey), [exactly256, md5(over256), md5(ascii300)]);
  assert.deepEqual(messages.map((r) => r.message.record.k), [exactly256, over256, ascii300]);
  assert.deepEqual(messages[2].message.metadata.record_pks, [ascii300]);
}));

test('sluice check passes on a reachable database and stream', {timeout: 120000},
     () => withPipeline(env, {
       setupSql: 'CREATE TABLE checked (id int PRIMARY KEY)', tables: [{name: 'public.checked'}],
       start: false,
     }, async (p) => {
  const {code, signal, output} = await runSluiceCommand(['check', '-c', p.configPath]);
  assert.equal(signal, null, output);
  assert.equal(code, 0, `sluice check failed:\n${output}`);
  assertNoSecrets(output);
}));
