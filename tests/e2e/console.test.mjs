// The web console (issue 6) in Debian's chromium, driven by playwright-core,
// with real sluice, Postgres and kinesis-local behind it: sign in with the
// API token, see a sink degraded by an oversize row, find the failing message
// in the sink's Messages tab, open it, discard it, and see its group move on
// in Kinesis and in the console. Screenshots of each step are saved to
// ${SLUICE_TEST_ARTIFACTS:-build/test-artifacts}/console/.
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

const env = useServices('console');

const kToken = 'e2e-token';  // tests/e2e/lib/sluice.mjs: api.token of every pipeline
const kBig = 'x'.repeat(1100000);  // the message is over kinesis-local's 1 MiB record limit
const kTable = 'console_docs';
const kSetup = `DROP TABLE IF EXISTS ${kTable}; CREATE TABLE ${kTable} (id int PRIMARY KEY, v int NOT NULL, big text)`;
const kUiTimeoutMs = 30000;

const artifacts = path.join(process.env.SLUICE_TEST_ARTIFACTS || path.join(repoRoot, 'build/test-artifacts'), 'console');

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

// A fresh page (own storage) that records script errors and CSP violations.
// Resolves {page, assertClean, close}: assertClean() fails the test on any
// such problem. The 401s of a refused token are the only failed loads expected.
async function openPage() {
  const context = await browser.newContext({viewport: {width: 1400, height: 900}});
  const page = await context.newPage();
  page.setDefaultTimeout(kUiTimeoutMs);
  const problems = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    if (/Failed to load resource: the server responded with a status of 401/.test(msg.text())) return;
    problems.push(`console error: ${msg.text()}`);
  });
  return {
    page,
    assertClean: () => assert.deepEqual(problems, [], 'the console ran without script errors or CSP violations'),
    close: () => context.close(),
  };
}

async function screenshot(page, name) {
  await page.screenshot({path: path.join(artifacts, `${name}.png`), fullPage: true});
}

async function signIn(page, token) {
  await page.getByTestId('signin-token').fill(token);
  await page.getByTestId('signin-submit').click();
}

// Waits until `locator`'s text matches `pattern`; returns the text.
async function waitForText(locator, pattern, what) {
  return waitFor(`${what} to match ${pattern}`, async () => {
    const text = await locator.textContent();
    return pattern.test(text ?? '') ? text : null;
  }, {timeoutMs: kUiTimeoutMs, intervalMs: 100});
}

test('the sign-in panel refuses a wrong token, and a token refused later returns to it',
     {timeout: 120000}, () => withPipeline(env, {setupSql: kSetup, tables: [{name: `public.${kTable}`}]},
                                           async (p) => {
  const {page, assertClean, close} = await openPage();
  try {
    await page.goto(consoleUrl());
    await page.getByTestId('signin').waitFor();
    await signIn(page, 'not-the-token');
    await waitForText(page.getByTestId('signin-error'), /refused \(401\)/, 'the sign-in error');
    assert.equal(await page.getByTestId('sink-card').count(), 0, 'nothing of the API shows without the token');
    assert.equal(await page.evaluate(() => sessionStorage.length), 0, 'a refused token is not kept');
    assert.ok(!page.url().includes('not-the-token'), 'the token never goes into the URL');

    await signIn(page, kToken);
    const card = page.locator(`[data-testid=sink-card][data-sink="${p.sinkName}"]`);
    await card.waitFor();
    assert.ok(!page.url().includes(kToken), 'the token never goes into the URL');

    // The token stops working (e.g. sluice restarted with a new one): the
    // next refresh returns to the sign-in panel and says why.
    await page.evaluate(() => sessionStorage.setItem('sluice.api-token', 'stale-token'));
    await waitForText(page.getByTestId('signin-error'), /refused the token \(401\)/, 'the sign-in panel after a 401');
    assertClean();
  } finally {
    await close();
  }
}));

test('a failing oversize message is shown, opened and discarded in the browser; its group moves on',
     {timeout: 240000}, () => withPipeline(env, {setupSql: kSetup, tables: [{name: `public.${kTable}`}]},
                                           async (p) => {
  await p.sql(`INSERT INTO ${kTable} VALUES (1, 1, 'a'), (2, 1, 'b'), (3, 1, 'c')`);
  await p.readRecords({expect: 3, settle: false});
  // Key 10: an oversize insert, then a small change queued behind it; key 11 flows.
  await p.sql(`INSERT INTO ${kTable} VALUES (10, 1, $1)`, [kBig]);
  await p.sql(`UPDATE ${kTable} SET v = 2, big = 'small' WHERE id = 10`);
  await p.sql(`INSERT INTO ${kTable} VALUES (11, 1, 'd')`);
  await p.readRecords({until: (rs) => rs.some((r) => r.partitionKey === '11'), settle: false});

  const {page, assertClean, close} = await openPage();
  try {
    await page.goto(consoleUrl());
    await signIn(page, kToken);

    // Overview: the sink with its health, counters and stream.
    const card = page.locator(`[data-testid=sink-card][data-sink="${p.sinkName}"]`);
    await waitForText(card.getByTestId('sink-health'), /^degraded$/, 'the sink health');
    await waitForText(card.getByTestId('stat-oversize'), /^1$/, 'the oversize count');
    assert.match(await card.getByTestId('sink-health-reason').textContent(), /\S/, 'a degraded sink says why');
    assert.equal(await card.getByTestId('sink-stream').textContent(), p.stream);
    assert.equal(await card.getByTestId('sink-stream').getAttribute('title'), p.streamArn);
    assert.equal(await card.getByTestId('sink-pause').textContent(), 'Pause');
    await screenshot(page, '1-overview');

    // The sink's Messages tab: the failing head of key 10, the change queued behind it.
    await card.getByTestId('sink-link').click();
    await page.getByTestId('sink-page').waitFor();
    const failing = page.locator('[data-testid=message-row][data-state=backing_off], ' +
                                 '[data-testid=message-row][data-state=failed]');
    await failing.first().waitFor();
    assert.equal(await failing.count(), 1, 'one message is failing');
    const id = await failing.getAttribute('data-id');
    assert.equal(await failing.getByTestId('cell-key').textContent(), '10');
    assert.equal(await failing.getByTestId('cell-action').textContent(), 'insert');
    assert.equal(await failing.getByTestId('cell-table').textContent(), `public.${kTable}`);
    await waitForText(failing.getByTestId('cell-count'), /^[1-9]\d*$/, 'the deliver count');
    assert.match(await failing.getByTestId('cell-error').textContent(), /oversize: record is \d+ bytes/);
    const queued = page.locator('[data-testid=message-row][data-state=pending]');
    await queued.first().waitFor();
    assert.deepEqual(await queued.getByTestId('cell-key').allTextContents(), ['10'],
                     'the later change of key 10 waits behind the failing one');
    assert.ok(Number(await queued.getAttribute('data-id')) > Number(id));
    assert.match(await page.getByTestId('filter-all').textContent(), /2$/, 'the "All held" chip counts both');
    await screenshot(page, '2-messages');

    // The message: every field, the full error, the change and the payload.
    await failing.getByTestId('message-link').click();
    await page.locator(`[data-testid=message-page][data-id="${id}"]`).waitFor();
    await waitForText(page.getByTestId('message-state'), /^(backing off|failed)$/, 'the message state');
    assert.equal(await page.getByTestId('field-partition_key').textContent(), '10');
    assert.match(await page.getByTestId('message-last-error').textContent(),
                 /^oversize: record is \d+ bytes .*maximum record size of 1048576 bytes/);
    const change = page.getByTestId('message-change');
    await waitForText(change, /"id": 10,/, 'the change JSON');
    assert.match(await change.textContent(), /"action": "insert"/);
    assert.match(await change.textContent(), /more characters\)/, 'the 1.1 MB value is cut for display');
    assert.ok((await change.locator('.j-key').count()) > 0, 'the JSON is coloured');
    assert.match(await page.getByTestId('message-payload').textContent(), /"big": "xxx/);
    await screenshot(page, '3-message');

    // Discard it: a confirmation first, then back to the list with a toast.
    await page.getByTestId('message-discard').click();
    await waitForText(page.getByTestId('confirm-title'), new RegExp(`^Discard message ${id}\\?$`), 'the dialog');
    assert.match(await page.getByTestId('confirm-body').textContent(), /partition key 10 moves on/);
    await page.getByTestId('confirm-ok').click();
    await page.getByTestId('sink-page').waitFor();
    await waitForText(page.getByTestId('toast').last(), new RegExp(`^Discarded message ${id}`), 'the toast');

    // The group moves on: key 10's queued update arrives, its insert never does.
    const records = await p.readMessages({until: (rs) => rs.some((r) => r.partitionKey === '10')});
    const key10 = records.filter((r) => r.partitionKey === '10');
    assert.deepEqual(key10.map((r) => [r.message.action, r.message.record.v, r.message.record.big]),
                     [['update', 2, 'small']], 'only the change queued behind the discarded insert arrives');

    // ... and the console shows it: nothing held, the sink healthy again.
    await page.getByTestId('messages-empty').waitFor();
    assert.equal(await page.locator(`[data-testid=message-row][data-id="${id}"]`).count(), 0);
    await waitForText(page.getByTestId('sink-health'), /^healthy$/, 'the sink health after the discard');
    await waitForText(page.getByTestId('stat-discarded'), /^1$/, 'the discarded count');
    await screenshot(page, '4-after-discard');
    assertClean();
  } finally {
    await close();
  }
}));
