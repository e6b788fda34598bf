// The console's Backfills tab (issue 7, docs/backfill.md) in Debian's
// chromium, driven by playwright-core, with real sluice, Postgres and
// kinesis-local behind it: a table without a primary key is refused with the
// API's own message, then a backfill of 2,000 existing rows is started from
// the form, followed to done in the browser, and every row arrives in Kinesis
// as a `read` message. Screenshots are saved to
// ${SLUICE_TEST_ARTIFACTS:-build/test-artifacts}/console_backfill/.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import {createRequire} from 'node:module';
import path from 'node:path';
import {after, before, test} from 'node:test';
import {fileURLToPath} from 'node:url';

import {useServices, waitFor, withPipeline} from './lib/harness.mjs';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
// playwright-core lives with the other test packages in tools/node.
const {chromium} = createRequire(path.join(repoRoot, 'tools/node/package.json'))('playwright-core');

const env = useServices('console_backfill');

const kToken = 'e2e-token';  // tests/e2e/lib/sluice.mjs: api.token of every pipeline
const kRows = 2000;
const kTable = 'console_bf_orders';
const kNoKeyTable = 'console_bf_log';
// The rows exist before sluice starts: only a backfill can send them.
const kSetup = `DROP TABLE IF EXISTS ${kTable}, ${kNoKeyTable};
  CREATE TABLE ${kTable} (id int PRIMARY KEY, v text NOT NULL);
  INSERT INTO ${kTable} SELECT i, 'row ' || i FROM generate_series(1, ${kRows}) AS i;
  CREATE TABLE ${kNoKeyTable} (at timestamptz NOT NULL, line text);
  INSERT INTO ${kNoKeyTable} VALUES (now(), 'a')`;
const kTables = [{name: `public.${kTable}`}, {name: `public.${kNoKeyTable}`}];
const kUiTimeoutMs = 30000;
const kBackfillTimeoutMs = 180000;  // two shared cores, an emulator taking ~1,200 records/s

const artifacts = path.join(process.env.SLUICE_TEST_ARTIFACTS || path.join(repoRoot, 'build/test-artifacts'),
                            'console_backfill');

let browser = null;

before(async () => {
  fs.mkdirSync(artifacts, {recursive: true});
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync',
           // Nothing but loopback: any other host name fails to resolve.
           '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1'],
  });
});

after(async () => {
  await browser?.close();
});

function consoleUrl() {
  return `http://127.0.0.1:${env.services.apiPort}/`;
}

// The API straight, as the console calls it.
async function apiCall(method, apiPath, body) {
  const response = await fetch(`${consoleUrl()}${apiPath.replace(/^\//, '')}`, {
    method,
    headers: {Authorization: `Bearer ${kToken}`, ...(body ? {'Content-Type': 'application/json'} : {})},
    body: body ? JSON.stringify(body) : undefined,
  });
  return {status: response.status, json: await response.json()};
}

// A fresh page (own storage) that records script errors and CSP violations.
// The refused start (400 on .../backfills) is the only failed load expected.
async function openPage() {
  const context = await browser.newContext({viewport: {width: 1400, height: 900}});
  const page = await context.newPage();
  page.setDefaultTimeout(kUiTimeoutMs);
  const problems = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    if (/status of 400/.test(msg.text()) && /\/backfills$/.test(msg.location().url ?? '')) return;
    problems.push(`console error: ${msg.text()}`);
  });
  return {
    page,
    assertClean: () => assert.deepEqual(problems, [], 'the console ran without script errors or CSP violations'),
    close: () => context.close(),
  };
}

// After the running CSS transitions (a progress bar growing) end.
async function screenshot(page, name) {
  await page.evaluate(() => Promise.all(document.getAnimations().filter((a) => a instanceof CSSTransition)
    .map((a) => a.finished.catch(() => {}))));
  await page.screenshot({path: path.join(artifacts, `${name}.png`), fullPage: true});
}

// Waits until `locator`'s text matches `pattern`; returns the text.
async function waitForText(locator, pattern, what, timeoutMs = kUiTimeoutMs) {
  return waitFor(`${what} to match ${pattern}`, async () => {
    const text = await locator.textContent();
    return pattern.test(text ?? '') ? text : null;
  }, {timeoutMs, intervalMs: 100});
}

test('a backfill started from the Backfills tab runs to done in the browser and sends every row as read',
     {timeout: 280000}, () => withPipeline(env, {setupSql: kSetup, tables: kTables}, async (p) => {
  const {page, assertClean, close} = await openPage();
  try {
    await page.goto(consoleUrl());
    await page.getByTestId('signin-token').fill(kToken);
    await page.getByTestId('signin-submit').click();
    const card = page.locator(`[data-testid=sink-card][data-sink="${p.sinkName}"]`);
    await card.getByTestId('sink-link').click();
    await page.getByTestId('sink-page').waitFor();

    // The tab: no backfill yet, the form ready.
    await page.getByTestId('tab-backfills').click();
    await page.getByTestId('backfills-tab').waitFor();
    assert.match(page.url(), /#\/sinks\/[^/]+\/backfills$/, 'the tab has its own address');
    await page.getByTestId('backfills-empty').waitFor();
    assert.equal(await page.getByTestId('tab-backfills').getAttribute('aria-selected'), 'true');
    assert.equal(await page.getByTestId('messages-tab').isHidden(), true, 'the Messages tab is hidden');
    assert.equal(await page.getByTestId('backfill-start-position').isDisabled(), true,
                 'a start position needs a sort column');

    // A table without a primary key and no sort column: the API's message, word for word.
    const refused = await apiCall('POST', `/api/sinks/${p.sinkName}/backfills`, {table: `public.${kNoKeyTable}`});
    assert.equal(refused.status, 400, JSON.stringify(refused.json));
    assert.match(refused.json.error.message, /no primary key/);
    await page.getByTestId('backfill-table-input').fill(`public.${kNoKeyTable}`);
    await page.getByTestId('backfill-submit').click();
    await waitForText(page.getByTestId('backfill-form-error'), /\S/, 'the form error');
    assert.equal(await page.getByTestId('backfill-form-error').textContent(), refused.json.error.message);
    assert.equal(await page.getByTestId('backfill-table-input').inputValue(), `public.${kNoKeyTable}`,
                 'the form keeps what was typed');
    assert.equal(await page.getByTestId('backfill-row').count(), 0, 'nothing started');
    await screenshot(page, '1-refused');

    // The real one, by primary key.
    await page.getByTestId('backfill-table-input').fill(`public.${kTable}`);
    await page.getByTestId('backfill-submit').click();
    await waitForText(page.getByTestId('toast').last(), new RegExp(`^Started backfill #\\d+ of public\\.${kTable}`),
                      'the toast');
    assert.equal(await page.getByTestId('backfill-form-error').isHidden(), true, 'the old error is gone');
    assert.equal(await page.getByTestId('backfill-table-input').inputValue(), '', 'the form is cleared');
    const row = page.getByTestId('backfill-row');
    await row.first().waitFor();
    assert.equal(await row.count(), 1);
    assert.equal(await row.getByTestId('backfill-table').textContent(), `public.${kTable}`);
    assert.equal(await row.getByTestId('backfill-order').textContent(), 'by primary key');
    const id = await row.getAttribute('data-id');
    const [listed] = (await apiCall('GET', `/api/sinks/${p.sinkName}/backfills`)).json.backfills;
    assert.equal(String(listed.id), id, 'the row is the API\'s backfill');
    assert.equal(listed.origin, 'api');

    // Followed live to the end: done, 2,000 rows, a full bar, no cancel button.
    await page.locator(`[data-testid=backfill-row][data-id="${id}"][data-state=done]`)
      .waitFor({timeout: kBackfillTimeoutMs});
    assert.equal(await row.getByTestId('backfill-state').textContent(), 'done');
    assert.equal(await row.getAttribute('data-rows-done'), String(kRows));
    assert.match(await row.getByTestId('backfill-rows-done').textContent(), /^2[,.\u00a0\u202f]?000$/);
    assert.equal(await row.getByTestId('backfill-percent').textContent(), '100%');
    assert.equal(await row.getByTestId('backfill-progress').getAttribute('aria-valuenow'), '100');
    assert.equal(await row.getByTestId('backfill-cancel').isHidden(), true, 'a finished backfill has no cancel');
    assert.equal(await row.getByTestId('backfill-error').isHidden(), true);
    assert.notEqual(await row.getByTestId('backfill-finished').textContent(), '—');
    await waitForText(page.getByTestId('backfills-summary'), /^0 running · 1 finished$/, 'the summary');
    assert.equal(await page.getByTestId('sink-backfill').isHidden(), true, 'no running line once done');
    assert.equal(await page.getByTestId('tab-backfills-running').textContent(), '', 'no running count');
    await screenshot(page, '2-done');

    // Kinesis got every row, once or more (at least once), each as `read`.
    const messages = await p.readMessages({until: (rs) => new Set(rs.map((r) => r.partitionKey)).size >= kRows,
                                           timeoutMs: 120000});
    assert.ok(messages.every((r) => r.message.action === 'read'),
              `only read messages: ${JSON.stringify([...new Set(messages.map((r) => r.message.action))])}`);
    const ids = new Set(messages.map((r) => Number(r.message.record.id)));
    assert.equal(ids.size, kRows);
    assert.ok([...ids].every((i) => Number.isInteger(i) && i >= 1 && i <= kRows), 'the rows of the table');
    assert.equal(messages.length, kRows, 'no row sent twice in a run without restarts');

    // The overview card shows nothing running either.
    await page.getByTestId('brand').click();
    await card.waitFor();
    assert.equal(await card.getByTestId('sink-backfill').isHidden(), true);
    assertClean();
  } finally {
    await close();
  }
}));

// Far more rows than kinesis-local takes in the seconds before the cancel
// (~1,200 records/s): the backfill still runs when it is cancelled.
const kBigRows = 50000;
const kBigTable = 'console_bf_events';
const kBigSetup = `DROP TABLE IF EXISTS ${kBigTable};
  CREATE TABLE ${kBigTable} (id int PRIMARY KEY, v text NOT NULL);
  INSERT INTO ${kBigTable} SELECT i, 'event ' || i FROM generate_series(1, ${kBigRows}) AS i;
  ANALYZE ${kBigTable}`;

test('a running backfill shows on the overview card and is cancelled from its tab after a confirmation',
     {timeout: 280000}, () => withPipeline(env, {setupSql: kBigSetup, tables: [{name: `public.${kBigTable}`}]},
                                           async (p) => {
  const {page, assertClean, close} = await openPage();
  try {
    await page.goto(consoleUrl());
    await page.getByTestId('signin-token').fill(kToken);
    await page.getByTestId('signin-submit').click();
    const card = page.locator(`[data-testid=sink-card][data-sink="${p.sinkName}"]`);
    await card.waitFor();
    assert.equal(await card.getByTestId('sink-backfill').isHidden(), true, 'nothing runs yet');

    const started = await apiCall('POST', `/api/sinks/${p.sinkName}/backfills`, {table: `public.${kBigTable}`});
    assert.equal(started.status, 201, JSON.stringify(started.json));
    const {id} = started.json;

    // The card: "Backfilling public.console_bf_events", a share once rows are done.
    const line = card.getByTestId('sink-backfill');
    await line.waitFor();
    assert.equal(await line.getByTestId('sink-backfill-label').textContent(), `Backfilling public.${kBigTable}`);
    await waitForText(line.getByTestId('sink-backfill-amount'), /^([1-9]\d?%|[1-9][\d,.\u00a0\u202f]* rows?)$/,
                      'the share done');
    await screenshot(page, '3-overview-running');

    // The line leads to the tab: the backfill running, with a Cancel button.
    await line.click();
    await page.getByTestId('backfills-tab').waitFor();
    const row = page.locator(`[data-testid=backfill-row][data-id="${id}"]`);
    await row.waitFor();
    assert.equal(await row.getAttribute('data-state'), 'running');
    await waitForText(page.getByTestId('tab-backfills-running'), /^1$/, 'the running count on the tab');
    await screenshot(page, '4-running');

    // Cancel asks first; "Keep running" leaves it alone.
    await row.getByTestId('backfill-cancel').click();
    await waitForText(page.getByTestId('confirm-title'), new RegExp(`^Cancel the backfill of public\\.${kBigTable}\\?$`),
                      'the dialog');
    assert.match(await page.getByTestId('confirm-body').textContent(), /rows already read are still delivered/);
    assert.equal(await page.getByTestId('confirm-cancel').textContent(), 'Keep running');
    await page.getByTestId('confirm-cancel').click();
    const [kept] = (await apiCall('GET', `/api/sinks/${p.sinkName}/backfills`)).json.backfills;
    assert.equal(kept.state, 'running', 'Keep running does not cancel');

    await row.getByTestId('backfill-cancel').click();
    await page.getByTestId('confirm-ok').click();
    await waitForText(page.getByTestId('toast').last(), new RegExp(`^Cancelled backfill #${id} of public\\.${kBigTable}`),
                      'the toast');
    await page.locator(`[data-testid=backfill-row][data-id="${id}"][data-state=cancelled]`).waitFor();
    assert.equal(await row.getByTestId('backfill-state').textContent(), 'cancelled');
    assert.equal(await row.getByTestId('backfill-cancel').isHidden(), true);
    assert.ok(Number(await row.getAttribute('data-rows-done')) < kBigRows, 'it stopped before the end');
    await waitForText(page.getByTestId('backfills-summary'), /^0 running · 1 finished$/, 'the summary');
    assert.equal(await page.getByTestId('sink-backfill').isHidden(), true, 'the header line is gone');
    const [cancelled] = (await apiCall('GET', `/api/sinks/${p.sinkName}/backfills`)).json.backfills;
    assert.equal(cancelled.state, 'cancelled');
    await screenshot(page, '5-cancelled');
    assertClean();
  } finally {
    await close();
  }
}));
