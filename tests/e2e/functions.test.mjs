// A sink's Lua functions at work (issue 4, docs/functions.md): a filter drops
// rows, a routing function spreads the others over two streams by region, a
// transform reshapes each message keeping the numeric digits exact; a runtime
// error in a function fails only the messages it fails on; `sluice check`
// compiles the functions and says that sluice takes Lua, not Elixir.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import {test} from 'node:test';

import {createStream} from '../../tools/node/create_stream.mjs';
import {readStream} from '../../tools/node/read_stream.mjs';

import {assertNoSecrets, useServices, waitFor, withPipeline} from './lib/harness.mjs';
import {makePrng} from './lib/faults.mjs';
import {num, parseExact} from './lib/json.mjs';
import {runSluiceCommand} from './lib/sluice.mjs';

const env = useServices('functions');

const kOrdersSql = (table) => `
  CREATE TABLE ${table} (id int PRIMARY KEY, region text NOT NULL, amount numeric(14, 2) NOT NULL,
                         note text);
  ALTER TABLE ${table} REPLICA IDENTITY FULL;`;

// The top-level `functions:` block: filter, routing and transform. `usArn`
// is not written out: the routing function derives it with sluice.stream_arn
// from the stream name and the sink's own ARN.
function orderFunctionsYaml({streamA, streamB}) {
  return `functions:
  - name: non-negative
    type: filter
    code: |
      function filter(action, record, changes, metadata)
        return record.amount >= 0
      end
  - name: by-region
    type: routing
    code: |
      function route(action, record, changes, metadata)
        if record.region == "us" then
          return { stream_arn = sluice.stream_arn(${JSON.stringify(streamB)}) }
        elseif record.region == "apac" then
          return { stream_arn = ${JSON.stringify(streamA)} }
        end
        return nil
      end
  - name: slim
    type: transform
    code: |
      function transform(action, record, changes, metadata)
        return { id = record.id, region = record.region, amount = record.amount,
                 note = record.note, action = action }
      end`;
}

const kOrderSinkYaml = '    filter: non-negative\n    routing: by-region\n    transform: slim';

// Amounts as Postgres prints numeric(14, 2): "-0.50", "12.00", "9876543210.25".
function amountText(cents) {
  const abs = Math.abs(cents);
  return `${cents < 0 ? '-' : ''}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
}

// Random inserts, updates (amount, region and note; hot ids again and again)
// and deletes over `transactions` transactions, with the changes each one
// makes in commit order: {id, action, row (the row after, or the deleted
// row), cents}.
function orderWorkload({transactions, seed}) {
  const random = makePrng(seed);
  const pick = (list) => list[Math.floor(random() * list.length)];
  const regions = ['eu', 'us', 'apac'];
  const rows = new Map();
  const changes = [];
  const sql = [];
  let noteCounter = 0;
  const newAmount = () => {
    const r = random();
    if (r < 0.1) return Math.floor(random() * 1e12);  // up to 10 digits before the point
    if (r < 0.35) return -Math.floor(random() * 20000);
    return Math.floor(random() * 200000);
  };
  for (let t = 0; t < transactions; t++) {
    const statements = [];
    const ops = 8 + Math.floor(random() * 10);
    for (let i = 0; i < ops; i++) {
      const id = random() < 0.4 ? 1 + Math.floor(random() * 8) : 9 + Math.floor(random() * 72);
      const old = rows.get(id);
      if (!old) {
        const row = {region: pick(regions), cents: newAmount(), note: `n${++noteCounter}`};
        rows.set(id, row);
        statements.push(`INSERT INTO orders VALUES (${id}, '${row.region}', ${amountText(row.cents)}, '${row.note}')`);
        changes.push({id, action: 'insert', row: {...row}});
      } else if (random() < 0.8) {
        const row = {...old, note: `n${++noteCounter}`};
        if (random() < 0.3) row.region = pick(regions);
        if (random() < 0.6) row.cents = newAmount();
        rows.set(id, row);
        statements.push(`UPDATE orders SET region = '${row.region}', amount = ${amountText(row.cents)}, ` +
                        `note = '${row.note}' WHERE id = ${id}`);
        changes.push({id, action: 'update', row: {...row}});
      } else {
        rows.delete(id);
        statements.push(`DELETE FROM orders WHERE id = ${id}`);
        changes.push({id, action: 'delete', row: {...old}});
      }
    }
    sql.push(`BEGIN; ${statements.join('; ')}; COMMIT`);
  }
  return {sql, changes};
}

// partition key -> the records' Data, parsed, in stream order, each distinct
// Data once (a redelivery repeats a Data; every change here has its own).
function byKey(records) {
  const out = {};
  const seen = new Set();
  for (const r of records) {
    if (seen.has(r.data)) continue;
    seen.add(r.data);
    (out[r.partitionKey] ??= []).push(parseExact(r.data));
  }
  return out;
}

const distinctData = (records) => new Set(records.map((r) => r.data)).size;

async function readDistinct({endpoint, stream, count, timeoutMs = 60000}) {
  const {records, complete} = await readStream({
    endpoint, stream, until: (rs) => distinctData(rs) >= count, timeoutMs,
  });
  if (!complete) {
    throw new Error(`stream ${stream}: ${distinctData(records)} distinct records after ${timeoutMs} ms, ` +
                    `expected ${count}`);
  }
  return records;
}

test('filter, routing and transform: each stream gets exactly its reshaped rows in per-key order',
     {timeout: 150000}, async () => {
  const streamB = `e2e-fn-us-${process.pid}`;
  await createStream({endpoint: env.services.endpoint, stream: streamB});
  // The routing function needs stream A's ARN, which withPipeline creates:
  // the config is written with a placeholder and fixed up before the start.
  await withPipeline(env, {
    setupSql: kOrdersSql('orders'), tables: [{name: 'public.orders'}], shards: 2, batchSize: 50,
    extraTopYaml: orderFunctionsYaml({streamA: '@STREAM_A@', streamB}), extraSinkYaml: kOrderSinkYaml,
    start: false,
  }, async (p) => {
    const yaml = fs.readFileSync(p.configPath, 'utf8');
    fs.writeFileSync(p.configPath, yaml.replace('@STREAM_A@', p.streamArn));

    const check = await runSluiceCommand(['check', '-c', p.configPath]);
    assert.equal(check.code, 0, `sluice check on the valid config:\n${check.output}`);
    assert.match(check.output, /^functions: 3 compiled/m, check.output);
    assertNoSecrets(check.output);

    await p.start();
    const {sql, changes} = orderWorkload({transactions: 24, seed: 4});
    for (const statement of sql) await p.sql(statement);

    // What each stream must hold, per partition key (the id), in commit order.
    const expected = {A: {}, B: {}};
    let dropped = 0;
    for (const c of changes) {
      if (c.row.cents < 0) {
        ++dropped;
        continue;
      }
      const stream = c.row.region === 'us' ? 'B' : 'A';
      (expected[stream][String(c.id)] ??= []).push({
        id: c.id, region: c.row.region, amount: num(amountText(c.row.cents)), note: c.row.note,
        action: c.action,
      });
    }
    const count = (m) => Object.values(m).reduce((n, list) => n + list.length, 0);
    assert.ok(changes.length >= 200 && dropped >= 20 && count(expected.B) >= 40 && count(expected.A) >= 40,
              `the workload covers every path: ${changes.length} changes, ${dropped} filtered, ` +
              `${count(expected.A)} to A, ${count(expected.B)} to B`);
    assert.ok(changes.some((c) => c.action === 'delete' && c.row.cents >= 0) &&
              changes.some((c) => c.row.cents >= 1e11) &&
              changes.some((c) => c.row.cents > 0 && c.row.cents % 10 === 0),
              'deletes, 10-digit amounts and amounts with a trailing zero (a sluice.decimal in Lua) are sent');

    const endpoint = env.services.endpoint;
    const gotA = await readDistinct({endpoint, stream: p.stream, count: count(expected.A)});
    const gotB = await readDistinct({endpoint, stream: streamB, count: count(expected.B)});
    for (const [name, got] of [['A', gotA], ['B', gotB]]) {
      for (const r of got) {
        const m = parseExact(r.data);
        assert.deepEqual(Object.keys(m).sort(), ['action', 'amount', 'id', 'note', 'region'],
                         `stream ${name}: the transformed shape, got ${r.data}`);
        assert.equal(r.partitionKey, String(m.id), `stream ${name}: the partition key is the id`);
      }
    }
    assert.deepEqual(byKey(gotA), expected.A, 'stream A: exactly the eu and apac rows, per key in order');
    assert.deepEqual(byKey(gotB), expected.B, 'stream B: exactly the us rows, per key in order');
  });
});

// Line 2 fails for rows whose note is NULL (sluice.null in Lua, see
// docs/functions.md: the key stays, so the error says "sluice.null value").
const kMeasureYaml = `functions:
  - name: measure
    type: transform
    code: |
      function transform(action, record, changes, metadata)
        local size = #record.note
        return { id = record.id, note = record.note, size = size, action = action }
      end`;

test('a function runtime error fails only the messages it fails on, and the log names the function and line',
     {timeout: 120000}, () => withPipeline(env, {
       setupSql: 'CREATE TABLE tickets (id int PRIMARY KEY, note text)', tables: [{name: 'public.tickets'}],
       extraTopYaml: kMeasureYaml, extraSinkYaml: '    transform: measure',
     }, async (p) => {
  const bad = new Set([6, 12, 18, 24, 30]);
  const noteOf = (id) => (bad.has(id) ? null : `note ${id}`);
  const expected = {};
  const values = [];
  for (let id = 1; id <= 30; id++) {
    values.push(`(${id}, ${noteOf(id) === null ? 'NULL' : `'${noteOf(id)}'`})`);
    if (!bad.has(id)) expected[String(id)] = [{id, note: noteOf(id), size: noteOf(id).length, action: 'insert'}];
  }
  await p.sql(`INSERT INTO tickets VALUES ${values.join(', ')}`);
  // Later changes: of the good rows they arrive; of the bad rows they would
  // work, but wait behind their group's failing first message.
  await p.sql(`UPDATE tickets SET note = 'later ' || id WHERE id % 3 = 0`);
  for (let id = 3; id <= 30; id += 3) {
    if (bad.has(id)) continue;
    const note = `later ${id}`;
    expected[String(id)].push({id, note, size: note.length, action: 'update'});
  }
  for (let id = 31; id <= 35; id++) {
    await p.sql('INSERT INTO tickets VALUES ($1, $2)', [id, `note ${id}`]);
    expected[String(id)] = [{id, note: `note ${id}`, size: `note ${id}`.length, action: 'insert'}];
  }

  const error = "function 'measure' (transform): measure:2: attempt to get length of a sluice.null value " +
      "(field 'note')";
  const errorLines = () => fs.readFileSync(p.logPath, 'utf8').split('\n').filter((l) => l.includes(error));
  await waitFor(`the function error logged for each of the ${bad.size} failing inserts`,
                () => errorLines().length >= bad.size, {check: () => p.assertRunning()});
  const count = Object.values(expected).reduce((n, list) => n + list.length, 0);
  const records = await readDistinct({endpoint: env.services.endpoint, stream: p.stream, count});
  const got = byKey(records);
  for (const id of bad) assert.equal(got[String(id)], undefined, `nothing of id ${id} arrives`);
  assert.deepEqual(got, expected, 'every other message arrives, transformed, in order');
  // Once per failing message (not at every retry), naming the table.
  const lines = errorLines();
  assert.equal(lines.length, bad.size, `one log line per failing message:\n${lines.join('\n')}`);
  for (const line of lines) {
    assert.match(line, / warning sink kinesis-sink: message \d+ \(public\.tickets, commit_lsn \S+, commit_idx \d+\): /);
  }
}));

test('sluice check and run on an Elixir-looking function say that sluice takes Lua', {timeout: 60000},
     () => withPipeline(env, {
       setupSql: 'CREATE TABLE elixir_orders (id int PRIMARY KEY)', tables: [{name: 'public.elixir_orders'}],
       extraTopYaml: `functions:
  - name: shape
    type: transform
    code: |
      def transform(action, record, changes, metadata) do
        %{id: record["id"], action: action}
      end`,
       extraSinkYaml: '    transform: shape', start: false,
     }, async (p) => {
  const {code, signal, output} = await runSluiceCommand(['check', '-c', p.configPath]);
  assert.equal(signal, null, output);
  assert.equal(code, 1, `sluice check fails:\n${output}`);
  assert.equal(output.trimEnd().split('\n').at(-1), '1 problem(s) found', output);
  assert.match(output, /function 'shape' \(transform\): this looks like Elixir, but sluice functions are Lua 5\.4/,
               output);
  assert.ok(output.includes('function transform(action, record, changes, metadata)'),
            `the error shows the Lua shape:\n${output}`);
  assert.doesNotMatch(output, /functions: \d+ compiled/, output);
  assertNoSecrets(output);

  // `sluice run` does not start with it either.
  const run = await runSluiceCommand(['run', '-c', p.configPath], {timeoutMs: 30000});
  assert.equal(run.signal, null, run.output);
  assert.equal(run.code, 2, `sluice run refuses it as a config error:\n${run.output}`);
  assert.match(run.output, / error \S+sluice\.yaml: function 'shape' \(transform\): this looks like Elixir/,
               run.output);
  assertNoSecrets(run.output);
}));
