// SPEC §2 end to end: every column type's JSON, the four actions, NULLs,
// transaction annotations; checked on what an AWS SDK reader gets back.
import assert from 'node:assert/strict';
import {test} from 'node:test';

import {useServices, withPipeline} from './lib/harness.mjs';
import {JsonNumber, num} from './lib/json.mjs';
import {assertEnvelope, comparePositions, position, walPosition} from './lib/messages.mjs';

const env = useServices('types');

const kTypesDdl = `
  CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
  CREATE TABLE all_types (
    id bigint PRIMARY KEY,
    c_bool boolean,
    c_int2 smallint,
    c_int4 integer,
    c_int8 bigint,
    c_float4 real,
    c_float8 double precision,
    c_float8_nan double precision,
    c_float8_inf double precision,
    c_numeric numeric,
    c_numeric_scaled numeric(12, 4),
    c_numeric_nan numeric,
    c_json json,
    c_jsonb jsonb,
    c_int_array integer[],
    c_nested_array integer[],
    c_text_array text[],
    c_empty_array integer[],
    c_timestamptz timestamptz,
    c_timestamptz_whole timestamptz,
    c_timestamp timestamp,
    c_date date,
    c_time time,
    c_bytea bytea,
    c_interval interval,
    c_interval_negative interval,
    c_uuid uuid,
    c_text text,
    c_varchar varchar(20),
    c_mood mood,
    c_inet inet,
    c_null_text text,
    c_null_int integer
  );`;

const kUnicodeText = 'héllo wörld ✓ 🚀 "quoted" back\\slash tab\there\nnewline';

const kInsertRow1 = `
  INSERT INTO all_types VALUES (
    1, true, -32768, 2147483647, 9223372036854775807,
    1.5, -2.25e-300, 'NaN', '-Infinity',
    '12345678901234567890.123456789012345678901234567890', 3.14, 'NaN',
    '{"a": [1, 2.5, {"b": null}], "s": "x"}', '{"k": "v", "n": [true, false]}',
    '{1,2,3}', '{{1,2},{3,NULL}}', '{"a b",NULL,"c,d","q\\"uote","","ünï"}', '{}',
    '2026-11-27 12:00:00.123456+02', '2026-01-02 03:04:05+00',
    '2026-11-27 10:00:00.654321', '2026-11-27', '10:11:12.123456',
    '\\x00ff10', '1 year 2 mons 3 days 04:05:06.789', '-1 days -00:00:01',
    'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', $1, 'varchar', 'happy', '192.168.0.1/24',
    NULL, NULL)`;

const kExpectedRow1 = {
  id: 1,
  c_bool: true,
  c_int2: -32768,
  c_int4: 2147483647,
  c_int8: num('9223372036854775807'),
  c_float4: 1.5,
  c_float8: -2.25e-300,
  c_float8_nan: 'NaN',
  c_float8_inf: '-Infinity',
  c_numeric: num('12345678901234567890.123456789012345678901234567890'),
  c_numeric_scaled: num('3.1400'),
  c_numeric_nan: 'NaN',
  c_json: {a: [1, 2.5, {b: null}], s: 'x'},
  c_jsonb: {k: 'v', n: [true, false]},
  c_int_array: [1, 2, 3],
  c_nested_array: [[1, 2], [3, null]],
  c_text_array: ['a b', null, 'c,d', 'q"uote', '', 'ünï'],
  c_empty_array: [],
  c_timestamptz: '2026-11-27T10:00:00.123456Z',
  c_timestamptz_whole: '2026-01-02T03:04:05.000000Z',
  c_timestamp: '2026-11-27T10:00:00.654321',
  c_date: '2026-11-27',
  c_time: '10:11:12.123456',
  c_bytea: '\\x00ff10',
  c_interval: {months: 14, days: 3, microseconds: 14706789000},
  c_interval_negative: {months: 0, days: -1, microseconds: -1000000},
  c_uuid: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
  c_text: kUnicodeText,
  c_varchar: 'varchar',
  c_mood: 'happy',
  c_inet: '192.168.0.1/24',
  c_null_text: null,
  c_null_int: null,
};

// Floats are JSON numbers; compare their values, not their spelling.
function floatsAsValues(record) {
  const out = {...record};
  for (const k of ['c_float4', 'c_float8']) {
    if (out[k] instanceof JsonNumber) out[k] = Number(out[k].text);
  }
  return out;
}

function sortByCommit(messages) {
  return [...messages].sort((a, b) => comparePositions(position(a.message), position(b.message)));
}

test('insert, update, delete and truncate of every SPEC type give the exact JSON', {timeout: 180000},
     () => withPipeline(env, {setupSql: kTypesDdl, tables: [{name: 'public.all_types'}]}, async (p) => {
  const sql = (text, params) => p.sql(text, params);
  const steps = [];
  const step = async (text, params) => {
    const lsnAfter = await walPosition(sql);
    await sql(text, params);
    steps.push({lsnAfter, lsnBefore: await walPosition(sql)});
  };
  await step(kInsertRow1, [kUnicodeText]);
  await step('INSERT INTO all_types (id) VALUES (2)');
  await step("UPDATE all_types SET c_text = 'changed', c_int4 = 7 WHERE id = 1");
  await step('DELETE FROM all_types WHERE id = 1');
  await step('TRUNCATE all_types');

  const messages = sortByCommit(await p.readMessages({expect: 5}));
  assert.equal(messages.length, 5);
  const [insert1, insert2, update, del, truncate] = messages;

  assert.equal(insert1.partitionKey, '1');
  assert.equal(insert1.message.action, 'insert');
  assert.deepEqual(floatsAsValues(insert1.message.record), kExpectedRow1);
  assert.equal(insert1.message.changes, null);
  assertEnvelope(insert1.message, {table: 'all_types', pks: ['1'], ...steps[0]});
  assert.equal(insert1.message.metadata.commit_idx, 0);

  const allNull = Object.fromEntries(Object.keys(kExpectedRow1).map((k) => [k, null]));
  assert.equal(insert2.partitionKey, '2');
  assert.deepEqual(insert2.message.record, {...allNull, id: 2});
  assert.equal(insert2.message.action, 'insert');
  assertEnvelope(insert2.message, {table: 'all_types', pks: ['2'], ...steps[1]});

  assert.equal(update.partitionKey, '1');
  assert.equal(update.message.action, 'update');
  assert.deepEqual(floatsAsValues(update.message.record),
                   {...kExpectedRow1, c_text: 'changed', c_int4: 7});
  assert.deepEqual(update.message.changes, {}, 'REPLICA IDENTITY DEFAULT: changes is {}');
  assertEnvelope(update.message, {table: 'all_types', pks: ['1'], ...steps[2]});

  assert.equal(del.partitionKey, '1');
  assert.equal(del.message.action, 'delete');
  assert.deepEqual(del.message.record, {id: 1}, 'delete without FULL: the key columns');
  assert.equal(del.message.changes, null);
  assertEnvelope(del.message, {table: 'all_types', pks: ['1'], ...steps[3]});

  assert.equal(truncate.message.action, 'truncate');
  assert.equal(truncate.message.record, null);
  assert.equal(truncate.message.changes, null);
  assert.equal(truncate.message.metadata.table_name, 'all_types');
  assert.equal(truncate.message.metadata.table_schema, 'public');
  const m = truncate.message.metadata;
  assert.ok(m.commit_lsn > steps[4].lsnAfter && m.commit_lsn < steps[4].lsnBefore);
}));

test('timestamptz is UTC whatever the server time zone', {timeout: 120000},
     () => withPipeline(env, {
       setupSql: `CREATE TABLE tz (id int PRIMARY KEY, at timestamptz);
                  ALTER DATABASE app SET timezone = 'Asia/Kolkata';`,
       tables: [{name: 'public.tz'}],
     }, async (p) => {
  try {
    await p.sql("INSERT INTO tz VALUES (1, '2026-11-27 15:30:00.000001+05:30'), (2, '2026-11-27 00:00:00-08')");
  } finally {
    await p.sql('ALTER DATABASE app RESET timezone');
  }
  const messages = await p.readMessages({expect: 2});
  const byId = Object.fromEntries(messages.map((r) => [r.message.record.id, r.message.record.at]));
  assert.deepEqual(byId, {1: '2026-11-27T10:00:00.000001Z', 2: '2026-11-27T08:00:00.000000Z'});
}));

test('transaction annotations apply to the changes after them in their transaction',
     {timeout: 120000}, () => withPipeline(env, {
       setupSql: 'CREATE TABLE notes (id int PRIMARY KEY, body text)',
       tables: [{name: 'public.notes'}],
     }, async (p) => {
  await p.sql(`
    BEGIN;
    INSERT INTO notes VALUES (1, 'before');
    SELECT pg_logical_emit_message(true, 'sluice:transaction_annotations.set',
                                   '{"user": "alice", "reason": "e2e"}');
    INSERT INTO notes VALUES (2, 'after');
    COMMIT;
    BEGIN;
    SELECT pg_logical_emit_message(true, 'sequin:transaction_annotations.set', '{"via": "sequin"}');
    INSERT INTO notes VALUES (3, 'sequin prefix');
    COMMIT;
    INSERT INTO notes VALUES (4, 'next transaction');`);
  const messages = sortByCommit(await p.readMessages({expect: 4}));
  const got = messages.map((r) => [r.message.record.id, r.message.metadata.transaction_annotations]);
  assert.deepEqual(got, [
    [1, null],
    [2, {user: 'alice', reason: 'e2e'}],
    [3, {via: 'sequin'}],
    [4, null],
  ]);
}));
