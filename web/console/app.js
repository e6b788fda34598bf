// sluice's web console: sign-in, the sinks overview, a sink's Messages and
// Backfills tabs and one message, over the HTTP API (docs/api.md). Hash routes:
//   #/                                  sinks overview
//   #/sinks/<name>[?state=<state>]      a sink's messages, optionally one state
//   #/sinks/<name>/backfills            a sink's backfills (docs/backfill.md)
//   #/sinks/<name>/messages/<id>        one message
// The current view refreshes every 2 s; a refresh updates the DOM in place
// (no re-render), so nothing jumps, hover and selection survive.
import {ApiError, api, paths, request, token} from './client.js';
import {confirmAction, copyText, h, setAttr, setClass, setText, toast} from './dom.js';
import {formatBytes, formatCount, formatDuration, formatRate, formatRelative, formatTimestamp, plural, streamName}
  from './format.js';
import {RawNumber, parseExact, renderJson, stringifyExact} from './json.js';

const kRefreshMs = 2000;
const kPageSize = 50;
const kMaxLimit = 1000;  // the API's largest page
const kShownStringChars = 240;  // longer JSON strings are cut until "Show all"

const kStateLabels = {
  pending: 'pending', in_flight: 'in flight', backing_off: 'backing off', failed: 'failed', delivered: 'delivered',
};

// The Messages tab's filters; `count` reads a sink's backlog.
const kFilters = [
  {state: '', label: 'All held', count: (b) => b.pending + b.in_flight + b.backing_off + b.failed,
   empty: 'Nothing waiting — every change has been delivered.'},
  {state: 'pending', label: 'Pending', count: (b) => b.pending, empty: 'No pending messages.'},
  {state: 'in_flight', label: 'In flight', count: (b) => b.in_flight, empty: 'Nothing in flight right now.'},
  {state: 'backing_off', label: 'Backing off', count: (b) => b.backing_off,
   empty: 'No messages backing off — all caught up.'},
  {state: 'failed', label: 'Failed', count: (b) => b.failed, empty: 'No failing messages — all caught up.'},
  {state: 'delivered', label: 'Delivered', count: null, empty: 'Nothing delivered since sluice started.'},
];

const failingCount = (b) => b.backing_off + b.failed;
const actionableCount = (b) => b.pending + b.backing_off + b.failed;  // in flight is left alone

const enc = encodeURIComponent;
const links = {
  overview: () => '#/',
  sink: (name, state = '') => `#/sinks/${enc(name)}${state ? `?state=${enc(state)}` : ''}`,
  message: (name, id) => `#/sinks/${enc(name)}/messages/${enc(id)}`,
  backfills: (name) => `#/sinks/${enc(name)}/backfills`,
};

function parseRoute() {
  const [path, query = ''] = location.hash.replace(/^#/, '').split('?');
  let parts;
  try {
    parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    return {view: 'unknown'};
  }
  if (parts.length === 0) return {view: 'overview'};
  if (parts[0] !== 'sinks') return {view: 'unknown'};
  if (parts.length === 2) {
    const state = new URLSearchParams(query).get('state') ?? '';
    return {view: 'sink', sink: parts[1], tab: 'messages',
            state: kFilters.some((f) => f.state === state) ? state : ''};
  }
  if (parts.length === 3 && parts[2] === 'backfills') return {view: 'sink', sink: parts[1], tab: 'backfills'};
  if (parts.length === 4 && parts[2] === 'messages' && /^\d+$/.test(parts[3])) {
    return {view: 'message', sink: parts[1], id: parts[3]};
  }
  return {view: 'unknown'};
}

// ---------------------------------------------------------------------------
// Pieces shared by the views

function healthBadge() {
  return h('span', {class: 'badge', testid: 'sink-health'});
}

function updateHealthBadge(el, health) {
  setClass(el, `badge health-${health}`);
  setText(el, health);
}

function stateBadge(state) {
  return h('span', {class: `badge state-${state}`, testid: 'state-badge', dataset: {state}},
           kStateLabels[state] ?? state);
}

function emptyState(text, testid = 'empty') {
  return h('div', {class: 'empty', testid}, h('span', {class: 'empty-mark', 'aria-hidden': 'true'}, '✓'), text);
}

function errorState(title, message, back) {
  return h('div', {class: 'error-state card', testid: 'error-state'},
           h('h2', null, title), h('p', null, message),
           back ? h('a', {class: 'btn', href: back.href}, back.label) : null);
}

const unwell = (sink) => sink.health === 'degraded' || sink.health === 'failing';

// Counters and gauges of a sink, as a row of label/value pairs. Cumulative
// failure counters are red only while the sink is unwell.
const kStats = [
  {key: 'ingested', label: 'Ingested', value: (s) => formatCount(s.counts.ingested)},
  {key: 'delivered', label: 'Delivered', value: (s) => formatCount(s.counts.delivered)},
  {key: 'rate', label: 'Delivered/s', value: (s) => formatRate(s.delivered_per_second)},
  {key: 'failed', label: 'Failed attempts', value: (s) => formatCount(s.counts.failed_attempts),
   alert: (s) => s.counts.failed_attempts > 0 && unwell(s)},
  {key: 'filtered', label: 'Filtered', value: (s) => formatCount(s.counts.filtered)},
  {key: 'discarded', label: 'Discarded', value: (s) => formatCount(s.counts.discarded)},
  {key: 'oversize', label: 'Oversize', value: (s) => formatCount(s.counts.oversize),
   alert: (s) => s.counts.oversize > 0 && unwell(s)},
  {key: 'throttled', label: 'Throttled', value: (s) => formatCount(s.counts.throttled)},
  {key: 'lag', label: 'Lag', value: (s) => formatBytes(s.lag_bytes),
   title: (s) => `${formatCount(s.lag_bytes)} bytes of WAL kept for this sink's slot`},
  {key: 'oldest', label: 'Oldest waiting',
   value: (s, now) => (s.oldest_waiting_committed_at ? formatDuration(now - Date.parse(s.oldest_waiting_committed_at)) : '—'),
   title: (s) => (s.oldest_waiting_committed_at ? `committed ${formatTimestamp(s.oldest_waiting_committed_at)}` : 'nothing waits')},
];

const kBacklogParts = ['pending', 'in_flight', 'backing_off', 'failed'];

// A sink's header: name, health, stream, reason, actions, counters and
// (optionally) a bar of what it holds. Used by the overview's cards and the
// sink page.
class SinkPanel {
  constructor(name, {onToggle, link, headingLevel = 'h2', showBacklog = true}) {
    this.name = name;
    this.badge = healthBadge();
    this.pausedTag = h('span', {class: 'tag', hidden: true}, 'paused');
    this.toggle = h('button', {type: 'button', class: 'btn btn-small', onclick: () => onToggle(this)});
    this.stream = h('span', {class: 'mono', testid: 'sink-stream'});
    this.database = h('span', null);
    this.lastDelivered = h('span', null);
    this.reason = h('p', {class: 'reason', testid: 'sink-health-reason'});
    this.stats = new Map();
    const statList = h('dl', {class: 'stats'});
    for (const stat of kStats) {
      const dd = h('dd', {testid: `stat-${stat.key}`});
      statList.append(h('div', {class: 'stat'}, h('dt', null, stat.label), dd));
      this.stats.set(stat, dd);
    }
    const title = link ? h('a', {href: links.sink(name), testid: 'sink-link'}, name) : name;
    this.el = h('div', {class: 'sink-panel'},
                h('div', {class: 'panel-head'},
                  h('div', {class: 'panel-title'},
                    h(headingLevel, {class: 'sink-name', testid: 'sink-name'}, title), this.badge, this.pausedTag),
                  h('div', {class: 'panel-actions'}, this.toggle)),
                h('div', {class: 'meta'}, this.stream, h('span', {class: 'sep'}, '·'), this.database,
                  h('span', {class: 'sep'}, '·'), this.lastDelivered),
                this.reason, this.backfillLine(name), statList);
    if (showBacklog) {
      this.bar = h('div', {class: 'backlog-bar', 'aria-hidden': 'true'});
      this.legend = h('div', {class: 'backlog-legend', testid: 'sink-backlog'});
      this.segments = {};
      this.legendItems = {};
      for (const part of kBacklogParts) {
        this.segments[part] = h('span', {class: `seg state-${part}`});
        this.bar.append(this.segments[part]);
        this.legendItems[part] = h('span', {testid: `backlog-${part}`});
        this.legend.append(h('a', {class: 'legend-item', href: links.sink(name, part)},
                             h('i', {class: `dot state-${part}`}), this.legendItems[part]));
      }
      this.stored = h('span', {class: 'legend-stored', testid: 'backlog-stored'});
      this.legend.append(this.stored);
      this.el.append(h('div', {class: 'backlog'}, this.bar, this.legend));
    }
  }

  // "Backfilling public.orders [bar] 48%": the newest running backfill, a link
  // to the Backfills tab; hidden while none runs.
  backfillLine(name) {
    this.backfill = {
      label: h('span', {class: 'backfill-line-label', testid: 'sink-backfill-label'}),
      bar: new ProgressBar({small: true}),
      amount: h('span', {class: 'backfill-line-amount', testid: 'sink-backfill-amount'}),
      more: h('span', {class: 'backfill-line-more'}),
    };
    const b = this.backfill;
    b.el = h('a', {class: 'backfill-line', href: links.backfills(name), testid: 'sink-backfill', hidden: true},
             h('span', {class: 'backfill-line-icon', 'aria-hidden': 'true'}, '↻'), b.label, b.bar.el, b.amount, b.more);
    return b.el;
  }

  // `backfills`: the API's list (newest first), or null when it could not be read.
  updateBackfills(backfills) {
    if (!backfills) return;
    const running = backfills.filter((b) => b.state === 'running');
    const b = this.backfill;
    b.el.hidden = running.length === 0;
    if (running.length === 0) return;
    const first = running[0];
    const share = backfillShare(first);
    setText(b.label, `Backfilling ${first.table}${first.waiting ? ' (waiting)' : ''}`);
    b.bar.update(share, first);
    setText(b.amount, share === null ? plural(first.rows_done, 'row') : formatShare(share));
    setText(b.more, running.length > 1 ? `+${running.length - 1} more` : '');
    setAttr(b.el, 'title', `${plural(first.rows_done, 'row')} done` +
                           (first.rows_estimate ? ` of about ${formatCount(first.rows_estimate)}` : '') +
                           (hasEta(first) ? ` · ETA ${formatDuration(first.eta_seconds * 1000)}` : ''));
  }

  update(sink, now) {
    this.sink = sink;
    updateHealthBadge(this.badge, sink.health);
    this.pausedTag.hidden = !(sink.status === 'paused' && sink.health !== 'paused');
    const paused = sink.status === 'paused';
    setText(this.toggle, paused ? 'Resume' : 'Pause');
    setAttr(this.toggle, 'data-testid', paused ? 'sink-resume' : 'sink-pause');
    setAttr(this.toggle, 'title', paused ? 'Send to Kinesis again' : 'Stop sending; messages collect and wait');
    setText(this.stream, streamName(sink.stream_arn));
    setAttr(this.stream, 'title', sink.stream_arn);
    setText(this.database, `database ${sink.database}`);
    setText(this.lastDelivered, sink.last_delivered_at
      ? `last delivered ${formatRelative(sink.last_delivered_at, now)}` : 'nothing delivered yet');
    setAttr(this.lastDelivered, 'title', sink.last_delivered_at ? formatTimestamp(sink.last_delivered_at) : null);
    const reason = sink.health_reason || (sink.health === 'healthy' ? 'Delivering normally.' : '');
    setText(this.reason, reason);
    setAttr(this.reason, 'title', sink.health_reason || null);
    setClass(this.reason, `reason reason-${sink.health}`);
    for (const [stat, dd] of this.stats) {
      setText(dd, stat.value(sink, now));
      setAttr(dd, 'title', stat.title ? stat.title(sink) : null);
      setClass(dd, stat.alert?.(sink) ? 'alert' : '');
    }
    if (this.bar) {
      const b = sink.backlog;
      const total = kBacklogParts.reduce((sum, part) => sum + b[part], 0);
      for (const part of kBacklogParts) {
        // flex-grow through the CSSOM: allowed by the CSP (no inline style attribute).
        this.segments[part].style.flexGrow = String(b[part]);
        this.segments[part].hidden = b[part] === 0;
        setText(this.legendItems[part], `${formatCount(b[part])} ${kStateLabels[part]}`);
      }
      this.bar.classList.toggle('is-empty', total === 0);
      setText(this.stored, b.stored ? `${formatCount(b.stored)} in the local store` : '');
    }
  }
}

// Pause or resume from a SinkPanel; answers the sink.
async function togglePause(panel, app) {
  const paused = panel.sink?.status === 'paused';
  panel.toggle.disabled = true;
  try {
    const sink = await api((paused ? paths.resume : paths.pause)(panel.name), {method: 'POST'});
    panel.update(sink, Date.now());
    toast(`${paused ? 'Resumed' : 'Paused'} ${panel.name}`, 'success');
  } catch (err) {
    app.actionFailed(err);
  } finally {
    panel.toggle.disabled = false;
  }
}

// ---------------------------------------------------------------------------
// Sign-in

function signInView(app, message) {
  const input = h('input', {id: 'token', type: 'password', autocomplete: 'off', spellcheck: 'false',
                            required: true, testid: 'signin-token', 'aria-describedby': 'token-hint'});
  const error = h('p', {class: 'signin-error', testid: 'signin-error', role: 'alert', hidden: !message}, message ?? '');
  const submit = h('button', {type: 'submit', class: 'btn btn-primary', testid: 'signin-submit'}, 'Sign in');
  const form = h('form', {class: 'card signin-card', testid: 'signin', novalidate: true},
                 h('div', {class: 'signin-brand'}, h('img', {src: 'favicon.svg', alt: '', width: 28, height: 28}),
                   h('h1', null, 'sluice')),
                 h('label', {for: 'token'}, 'Paste the API token ',
                   h('span', {class: 'muted', id: 'token-hint'}, '(sluice writes it to ', h('code', null, '<data_dir>/api-token'), ')')),
                 input, error, submit,
                 h('p', {class: 'fine-print'},
                   'The token stays in this tab (sessionStorage) and goes only into the Authorization header. ',
                   'Set it yourself with ', h('code', null, 'api.token'), ' or ', h('code', null, 'SLUICE_API_TOKEN'), '.'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const value = input.value.trim();
    const show = (text) => {
      setText(error, text);
      error.hidden = false;
      input.focus();
      input.select();
    };
    if (!value) return show('Paste the token first.');
    submit.disabled = true;
    try {
      await request(paths.sinks(), {bearer: value});
      token.set(value);
      app.route();
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        show('That token was refused (401). Copy it again from <data_dir>/api-token, or from api.token / SLUICE_API_TOKEN.');
      } else {
        show(err.message);
      }
    } finally {
      submit.disabled = false;
    }
  });
  return {el: h('section', {class: 'signin'}, form), focus: input, signIn: true, crumbs: []};
}

// ---------------------------------------------------------------------------
// Sinks overview

class OverviewView {
  constructor(app) {
    this.app = app;
    this.crumbs = [{label: 'Sinks'}];
    this.panels = new Map();
    this.grid = h('div', {class: 'sink-grid', testid: 'sink-list'});
    this.summary = h('span', {class: 'muted'}, 'Loading…');
    this.empty = emptyState('No sinks are running. Sinks with status: disabled are not started.', 'sinks-empty');
    this.empty.hidden = true;
    this.el = h('section', {class: 'page', testid: 'overview'},
                h('div', {class: 'page-head'}, h('h1', null, 'Sinks'), this.summary),
                this.grid, this.empty);
  }

  async refresh() {
    const {sinks} = await api(paths.sinks());
    // The running backfill line of each card; a sink whose list fails keeps its last.
    const backfills = await Promise.all(sinks.map((sink) => api(paths.backfills(sink.name))
      .then((answer) => answer.backfills, () => null)));
    const now = Date.now();
    const seen = new Set();
    for (const [i, sink] of sinks.entries()) {
      seen.add(sink.name);
      let entry = this.panels.get(sink.name);
      if (!entry) {
        const panel = new SinkPanel(sink.name, {link: true, onToggle: (p) => togglePause(p, this.app)});
        entry = {panel, card: h('article', {class: 'card sink-card', testid: 'sink-card', dataset: {sink: sink.name}},
                                panel.el)};
        this.panels.set(sink.name, entry);
      }
      entry.panel.update(sink, now);
      entry.panel.updateBackfills(backfills[i]);
      this.grid.append(entry.card);  // moves it into config order
    }
    for (const [name, entry] of this.panels) {
      if (!seen.has(name)) {
        entry.card.remove();
        this.panels.delete(name);
      }
    }
    this.empty.hidden = sinks.length > 0;
    const attention = sinks.filter(unwell).length;
    setText(this.summary, `${plural(sinks.length, 'sink')}` +
                          (attention ? ` · ${attention} ${attention === 1 ? 'needs' : 'need'} attention` : ''));
  }
}

// ---------------------------------------------------------------------------
// A sink's page: header, Messages and Backfills tabs

class SinkView {
  constructor(app, name, {tab, state}) {
    this.app = app;
    this.name = name;
    this.tab = tab;
    this.state = state ?? '';
    this.pages = 1;
    this.nextCursor = null;
    this.rows = new Map();  // id -> {tr, cells}
    this.crumbs = [{label: 'Sinks', href: links.overview()}, {label: name}];
    this.panel = new SinkPanel(name, {headingLevel: 'h1', showBacklog: false,
                                      onToggle: (p) => togglePause(p, app)});

    this.chips = new Map();
    const chipBar = h('div', {class: 'chips', role: 'group', 'aria-label': 'Message state'});
    for (const filter of kFilters) {
      const count = h('span', {class: 'chip-count'});
      const chip = h('a', {class: 'chip', href: links.sink(name, filter.state),
                           testid: `filter-${filter.state || 'all'}`},
                     filter.label, count);
      if (!filter.count) chip.title = 'The last 1000 delivered messages';
      chipBar.append(chip);
      this.chips.set(filter.state, {chip, count, filter});
    }

    this.bulk = {
      redeliver: h('button', {type: 'button', class: 'btn btn-small', testid: 'bulk-redeliver-failing',
                              onclick: () => this.bulkAction('redeliver', 'failed')}),
      discardFailing: h('button', {type: 'button', class: 'btn btn-small btn-danger-quiet',
                                   testid: 'bulk-discard-failing', onclick: () => this.bulkAction('discard', 'failed')}),
      discardAll: h('button', {type: 'button', class: 'btn btn-small btn-danger-quiet', testid: 'bulk-discard-all',
                               onclick: () => this.bulkAction('discard', 'all')}),
    };

    this.nextHeader = h('th', {class: 'col-next'});
    this.tbody = h('tbody', null);
    this.table = h('table', {class: 'messages', testid: 'messages-table'},
                   h('colgroup', null, ...['id', 'state', 'table', 'action', 'key', 'count', 'error', 'next', 'committed']
                     .map((c) => h('col', {class: `col-${c}`}))),
                   h('thead', null, h('tr', null,
                     h('th', null, 'ID'), h('th', null, 'State'), h('th', null, 'Table'), h('th', null, 'Action'),
                     h('th', null, 'Partition key'), h('th', {class: 'num', title: 'Deliver count'}, 'Attempts'),
                     h('th', null, 'Last error'), this.nextHeader, h('th', null, 'Committed'))),
                   this.tbody);
    this.empty = emptyState('', 'messages-empty');
    this.empty.hidden = true;
    this.loading = h('div', {class: 'loading'}, 'Loading messages…');
    this.shown = h('span', {class: 'muted', testid: 'messages-shown'});
    this.loadMore = h('button', {type: 'button', class: 'btn btn-small', testid: 'load-more', hidden: true,
                                 onclick: () => this.more()}, 'Load more');
    this.messagesPane = h('div', {role: 'tabpanel', testid: 'messages-tab'},
                          h('div', {class: 'toolbar'}, chipBar,
                            h('div', {class: 'bulk'}, this.bulk.redeliver, this.bulk.discardFailing,
                              this.bulk.discardAll)),
                          h('div', {class: 'card table-card'},
                            h('div', {class: 'table-scroll'}, this.table), this.loading, this.empty,
                            this.foot = h('div', {class: 'table-foot', hidden: true}, this.shown, this.loadMore)));
    this.backfills = new BackfillsTab(app, name);
    this.runningCount = h('span', {class: 'tab-count', testid: 'tab-backfills-running'});
    this.tabs = {
      messages: h('a', {class: 'tab', role: 'tab', href: links.sink(name), testid: 'tab-messages'}, 'Messages'),
      backfills: h('a', {class: 'tab', role: 'tab', href: links.backfills(name), testid: 'tab-backfills'},
                   'Backfills', this.runningCount),
    };
    this.content = h('div', null,
                     h('div', {class: 'card header-card'}, this.panel.el),
                     h('div', {class: 'tabs', role: 'tablist'}, this.tabs.messages, this.tabs.backfills),
                     this.messagesPane, this.backfills.el);
    this.el = h('section', {class: 'page', testid: 'sink-page', dataset: {sink: name}}, this.content);
    this.applyState();
    this.applyTab();
  }

  // Another tab or filter of this sink keeps the page (no flash of the
  // header). Answers whether anything changed.
  setRoute({tab, state}) {
    const tabChanged = tab !== this.tab;
    if (tabChanged) {
      this.tab = tab;
      this.applyTab();
    }
    return (tab === 'messages' && this.setState(state)) || tabChanged;
  }

  applyTab() {
    for (const [tab, link] of Object.entries(this.tabs)) setAttr(link, 'aria-selected', String(tab === this.tab));
    this.messagesPane.hidden = this.tab !== 'messages';
    this.backfills.el.hidden = this.tab !== 'backfills';
  }

  // A new filter reloads only the list.
  setState(state) {
    if (state === this.state) return false;
    this.state = state;
    this.pages = 1;
    this.nextCursor = null;
    this.rows.clear();
    this.tbody.replaceChildren();
    this.loading.hidden = false;
    this.empty.hidden = true;
    this.applyState();
    return true;
  }

  applyState() {
    for (const [state, {chip}] of this.chips) {
      chip.classList.toggle('active', state === this.state);
      setAttr(chip, 'aria-current', state === this.state ? 'true' : null);
    }
    setAttr(this.tabs.messages, 'href', links.sink(this.name, this.state));
    setText(this.nextHeader, this.state === 'delivered' ? 'Delivered' : 'Next attempt');
    setText(this.empty.lastChild, kFilters.find((f) => f.state === this.state).empty);
  }

  // The sink and the open tab's list. The Messages tab reads the backfills
  // too (the header's line, the tab's count), but does not fail without them.
  async refresh() {
    const {tab, state} = this;
    const limit = Math.min(kMaxLimit, kPageSize * this.pages);
    const backfills = api(paths.backfills(this.name)).then((answer) => answer.backfills);
    const list = tab === 'backfills' ? backfills : api(paths.messages(this.name, {state, limit}));
    if (tab !== 'backfills') backfills.catch(() => {});
    const [sink, page] = await Promise.allSettled([api(paths.sink(this.name)), list]);
    if (sink.status === 'rejected') {
      if (sink.reason instanceof ApiError && sink.reason.status === 404) return this.gone(sink.reason.message);
      throw sink.reason;
    }
    if (page.status === 'rejected') throw page.reason;
    if (tab !== this.tab || state !== this.state) return;  // the tab or filter changed meanwhile
    const now = Date.now();
    this.panel.update(sink.value, now);
    if (tab === 'backfills') {
      this.showBackfills(page.value, now);
      this.backfills.suggestFrom(this.name);
      return;
    }
    this.updateToolbar(sink.value);
    this.showMessages(page.value.messages, page.value.next_cursor, now);
    this.backfills.addTables(page.value.messages.map((m) => m.table));
    const running = await backfills.catch(() => null);
    if (running && tab === this.tab) this.showBackfills(running, now, {list: false});
  }

  showBackfills(backfills, now, {list = true} = {}) {
    this.panel.updateBackfills(backfills);
    const running = backfills.filter((b) => b.state === 'running').length;
    setText(this.runningCount, running ? formatCount(running) : '');
    setAttr(this.runningCount, 'title', running ? `${plural(running, 'backfill')} running` : null);
    if (list) this.backfills.show(backfills, now);
  }

  gone(message) {
    this.el.replaceChildren(errorState(`Sink “${this.name}” is not running`, message,
                                       {href: links.overview(), label: 'All sinks'}));
  }

  updateToolbar(sink) {
    const b = sink.backlog;
    for (const {count, filter} of this.chips.values()) {
      setText(count, filter.count ? formatCount(filter.count(b)) : '');
    }
    const failing = failingCount(b);
    const all = actionableCount(b);
    setText(this.bulk.redeliver, `Redeliver failing (${formatCount(failing)})`);
    setText(this.bulk.discardFailing, `Discard failing (${formatCount(failing)})`);
    setText(this.bulk.discardAll, `Discard all (${formatCount(all)})`);
    this.bulk.redeliver.disabled = failing === 0;
    this.bulk.discardFailing.disabled = failing === 0;
    this.bulk.discardAll.disabled = all === 0;
    this.counts = {failing, all, inFlight: b.in_flight};
  }

  showMessages(messages, nextCursor, now) {
    const keep = new Set();
    let previous = null;
    for (const m of messages) {
      keep.add(m.id);
      let row = this.rows.get(m.id);
      if (!row) {
        row = this.makeRow(m);
        this.rows.set(m.id, row);
      }
      this.updateRow(row, m, now);
      // Keeps the order of the answer, moving only rows that are out of place.
      const expected = previous ? previous.nextSibling : this.tbody.firstChild;
      if (expected !== row.tr) this.tbody.insertBefore(row.tr, expected);
      previous = row.tr;
    }
    for (const [id, row] of this.rows) {
      if (!keep.has(id)) {
        row.tr.remove();
        this.rows.delete(id);
      }
    }
    this.nextCursor = nextCursor;
    this.loading.hidden = true;
    this.empty.hidden = messages.length > 0;
    this.table.hidden = messages.length === 0;
    this.loadMore.hidden = !nextCursor || this.rows.size >= kMaxLimit;
    this.foot.hidden = messages.length === 0;
    setText(this.shown, messages.length === 0 ? '' : `Showing ${plural(this.rows.size, 'message')}` +
                        (nextCursor ? ' · more below' : ''));
  }

  async more() {
    if (!this.nextCursor) return;
    this.loadMore.disabled = true;
    const state = this.state;
    try {
      const page = await api(paths.messages(this.name, {state, limit: kPageSize, cursor: this.nextCursor}));
      if (state !== this.state) return;
      this.pages++;
      const now = Date.now();
      for (const m of page.messages) {
        if (this.rows.has(m.id)) continue;
        const row = this.makeRow(m);
        this.rows.set(m.id, row);
        this.updateRow(row, m, now);
        this.tbody.append(row.tr);
      }
      this.nextCursor = page.next_cursor;
      this.loadMore.hidden = !page.next_cursor;
      setText(this.shown, `Showing ${plural(this.rows.size, 'message')}` + (page.next_cursor ? ' · more below' : ''));
    } catch (err) {
      this.app.actionFailed(err);
    } finally {
      this.loadMore.disabled = false;
    }
  }

  makeRow(m) {
    const href = links.message(this.name, m.id);
    const cells = {
      id: h('td', {class: 'mono'}, h('a', {href, testid: 'message-link'}, String(m.id))),
      state: h('td', null),
      table: h('td', {class: 'mono ellipsis'}),
      action: h('td', null),
      key: h('td', {class: 'mono ellipsis'}),
      count: h('td', {class: 'num'}),
      error: h('td', {class: 'error-cell ellipsis'}),
      next: h('td', {class: 'time'}),
      committed: h('td', {class: 'time'}),
    };
    for (const [key, td] of Object.entries(cells)) td.dataset.testid = `cell-${key}`;
    const tr = h('tr', {testid: 'message-row', dataset: {id: String(m.id)}}, Object.values(cells));
    // The whole row opens the message; the id is the keyboard's link.
    tr.addEventListener('click', (event) => {
      if (event.target.closest('a') || String(window.getSelection())) return;
      location.hash = href;
    });
    return {tr, cells, state: null};
  }

  updateRow(row, m, now) {
    const {tr, cells} = row;
    setAttr(tr, 'data-state', m.state);
    if (row.state !== m.state) {
      cells.state.replaceChildren(stateBadge(m.state));
      row.state = m.state;
    }
    setText(cells.table, m.table);
    setAttr(cells.table, 'title', m.table);
    setText(cells.action, m.action);
    setText(cells.key, m.partition_key);
    setAttr(cells.key, 'title', m.partition_key);
    setText(cells.count, formatCount(m.deliver_count));
    setText(cells.error, m.last_error || '');
    setAttr(cells.error, 'title', m.last_error || null);
    const nextAt = m.state === 'delivered' ? m.delivered_at : m.next_attempt_at;
    setText(cells.next, nextAt ? formatRelative(nextAt, now) : '—');
    setAttr(cells.next, 'title', nextAt ? formatTimestamp(nextAt) : null);
    setText(cells.committed, formatRelative(m.committed_at, now));
    setAttr(cells.committed, 'title', m.committed_at ? `${formatTimestamp(m.committed_at)} · LSN ${m.commit_lsn}` : null);
  }

  async bulkAction(action, selection) {
    const c = this.counts;
    if (!c) return;
    const n = selection === 'failed' ? c.failing : c.all;
    const what = selection === 'failed' ? plural(n, 'failing message') : plural(n, 'held message');
    const inFlight = c.inFlight ? ` ${plural(c.inFlight, 'message')} in flight ${c.inFlight === 1 ? 'is' : 'are'} left alone.` : '';
    const dialogs = {
      redeliver: {title: `Redeliver ${what}?`,
                  body: `Every message of ${this.name} whose last attempt failed (backing off or failed) becomes due ` +
                        `now. Deliver counts are kept.${inFlight}`,
                  confirmLabel: `Redeliver ${formatCount(n)}`, danger: false},
      discard: {title: selection === 'failed' ? `Discard ${what}?` : `Discard all ${what}?`,
                body: (selection === 'failed'
                  ? `${plural(n, 'message')} of ${this.name} whose last attempt failed will be dropped and never sent; ` +
                    'the changes queued behind them move on.'
                  : `Every message ${this.name} holds — pending, backing off and failed — will be dropped and never sent.`) +
                      `${inFlight} This cannot be undone.`,
                confirmLabel: `Discard ${formatCount(n)}`},
    };
    if (!(await confirmAction(dialogs[action]))) return;
    const button = action === 'redeliver' ? this.bulk.redeliver
      : selection === 'failed' ? this.bulk.discardFailing : this.bulk.discardAll;
    button.disabled = true;
    try {
      const result = await api(paths.bulkAction(this.name, action), {method: 'POST', body: {state: selection}});
      const verb = action === 'redeliver' ? 'Redelivered' : 'Discarded';
      toast(`${verb} ${plural(result.affected, 'message')}` +
            (result.skipped ? `; ${formatCount(result.skipped)} in flight left alone` : ''), 'success');
      this.app.refreshNow();
    } catch (err) {
      this.app.actionFailed(err);
      button.disabled = false;
    }
  }
}

// ---------------------------------------------------------------------------
// A sink's Backfills tab (docs/backfill.md)

// A backfill's share done, 0..1, or null while unknown (no row estimate). The
// estimate (pg_class.reltuples) is approximate: the share stops at 1, and a
// backfill that is done is whole.
function backfillShare(b) {
  if (b.state === 'done') return 1;
  if (!b.rows_estimate) return null;
  return Math.min(1, b.rows_done / b.rows_estimate);
}

const formatShare = (share) => `${Math.floor(share * 100)}%`;
const hasEta = (b) => typeof b.eta_seconds === 'number';

// A bar coloured by the backfill's state; one without a share moves while it
// runs (indeterminate).
class ProgressBar {
  constructor({testid, small = false}) {
    this.base = small ? 'progress progress-small' : 'progress';
    this.fill = h('span', {class: 'progress-fill'});
    this.el = h('div', {class: this.base, role: 'progressbar', testid, 'aria-valuemin': '0', 'aria-valuemax': '100'},
                this.fill);
  }

  update(share, backfill) {
    const running = backfill.state === 'running';
    const indeterminate = share === null && running;
    setClass(this.el, `${this.base} bf-${backfill.state}${indeterminate ? ' is-indeterminate' : ''}` +
                      `${running && backfill.waiting ? ' is-waiting' : ''}`);
    // The width through the CSSOM: allowed by the CSP (no inline style attribute).
    const width = share === null ? '' : `${(share * 100).toFixed(2)}%`;
    if (this.fill.style.width !== width) this.fill.style.width = width;
    setAttr(this.el, 'aria-valuenow', share === null ? null : Math.floor(share * 100));
    setAttr(this.el, 'aria-valuetext', share === null ? `${plural(backfill.rows_done, 'row')}, total unknown` : null);
  }
}

function backfillBadge() {
  return h('span', {class: 'badge', testid: 'backfill-state'});
}

function updateBackfillBadge(el, state) {
  setClass(el, `badge bf-${state}`);
  setText(el, state);
  setAttr(el, 'data-state', state);
}

const kBackfillStats = [
  {key: 'rows', label: 'Rows'},
  {key: 'rate', label: 'Rows/s'},
  {key: 'eta', label: 'ETA'},
  {key: 'page', label: 'Page size'},
  {key: 'started', label: 'Started'},
  {key: 'finished', label: 'Finished'},
];

// One backfill of the list, updated in place.
class BackfillItem {
  constructor(tab, b) {
    this.backfill = b;
    this.badge = backfillBadge();
    this.origin = h('span', {class: 'tag', testid: 'backfill-origin'});
    this.waiting = h('span', {class: 'tag tag-warn', testid: 'backfill-waiting', hidden: true,
                              title: 'No page is read while the sink holds more than 5,000 messages in memory or ' +
                                     'memory is above half of max_memory_mb, so live changes keep flowing.'},
                     'waiting for the sink’s backlog');
    this.cancel = h('button', {type: 'button', class: 'btn btn-small btn-danger-quiet', testid: 'backfill-cancel',
                               onclick: () => tab.cancel(this)}, 'Cancel…');
    this.order = h('span', {testid: 'backfill-order'});
    this.bar = new ProgressBar({testid: 'backfill-progress'});
    this.percent = h('span', {class: 'backfill-percent', testid: 'backfill-percent'});
    this.stats = {};
    const statList = h('dl', {class: 'backfill-stats'});
    for (const {key, label} of kBackfillStats) {
      this.stats[key] = h('dd', {testid: `backfill-${key}`});
      statList.append(h('div', {class: 'stat'}, h('dt', null, label), this.stats[key]));
    }
    this.rowsDone = h('span', {testid: 'backfill-rows-done'});
    this.rowsOf = h('span', {class: 'backfill-rows-of'});
    this.stats.rows.append(this.rowsDone, this.rowsOf);
    this.error = h('pre', {class: 'last-error', testid: 'backfill-error', hidden: true});
    this.el = h('article', {class: 'backfill', testid: 'backfill-row', dataset: {id: String(b.id)}},
                h('div', {class: 'panel-head'},
                  h('div', {class: 'panel-title'},
                    h('h3', {class: 'backfill-title'}, h('span', {class: 'backfill-id'}, `#${b.id}`),
                      h('span', {class: 'mono', testid: 'backfill-table', title: b.table}, b.table)),
                    this.badge, this.waiting),
                  h('div', {class: 'panel-actions'}, this.cancel)),
                h('div', {class: 'meta'}, this.order, h('span', {class: 'sep'}, '·'), this.origin),
                h('div', {class: 'backfill-bar'}, this.bar.el, this.percent),
                statList, this.error);
  }

  update(b, now) {
    this.backfill = b;
    const running = b.state === 'running';
    setAttr(this.el, 'data-state', b.state);
    setAttr(this.el, 'data-rows-done', b.rows_done);
    updateBackfillBadge(this.badge, b.state);
    this.waiting.hidden = !(running && b.waiting);
    this.cancel.hidden = !running;
    setText(this.order, b.sort_column
      ? `by ${b.sort_column}${typeof b.start_position === 'string' ? ` from ${b.start_position}` : ''}`
      : 'by primary key');
    setText(this.origin, b.origin === 'config' ? 'initial_backfill (config)' : 'started on demand');
    const share = backfillShare(b);
    this.bar.update(share, b);
    setText(this.percent, share === null ? '' : formatShare(share));
    setAttr(this.percent, 'title', share === null ? null : 'Of the estimated row count (approximate)');
    setText(this.rowsDone, formatCount(b.rows_done));
    setText(this.rowsOf, b.state === 'done' ? '' : b.rows_estimate ? ` of ~${formatCount(b.rows_estimate)}` : ' of ?');
    setAttr(this.stats.rows, 'title', b.rows_estimate ? `The table held about ${formatCount(b.rows_estimate)} rows ` +
                                                        'when the backfill started' : 'No row estimate');
    const took = b.started_at && b.finished_at ? Date.parse(b.finished_at) - Date.parse(b.started_at) : null;
    if (running) {
      setText(this.stats.rate, b.rows_per_second ? formatRate(b.rows_per_second) : '—');
      setAttr(this.stats.rate, 'title', b.rows_per_second ? 'Over the last pages' : 'Measured once pages complete');
    } else {
      // A finished backfill: its average.
      setText(this.stats.rate, took > 0 ? formatRate(b.rows_done / (took / 1000)) : '—');
      setAttr(this.stats.rate, 'title', took > 0 ? 'Average over the run' : null);
    }
    setText(this.stats.eta, running && hasEta(b) ? formatDuration(b.eta_seconds * 1000)
      : running && b.waiting ? 'waiting' : '—');
    setText(this.stats.page, b.page_size ? plural(b.page_size, 'row') : '—');
    setText(this.stats.started, b.started_at ? formatRelative(b.started_at, now) : 'not yet');
    setAttr(this.stats.started, 'title', b.started_at ? formatTimestamp(b.started_at) : null);
    setText(this.stats.finished, b.finished_at ? formatRelative(b.finished_at, now) : '—');
    setAttr(this.stats.finished, 'title', b.finished_at
      ? `${formatTimestamp(b.finished_at)}${took !== null ? ` · took ${formatDuration(took)}` : ''}` : null);
    this.error.hidden = !(b.state === 'failed' && b.error);
    setText(this.error, b.error || '');
  }
}

class BackfillsTab {
  constructor(app, sink) {
    this.app = app;
    this.sink = sink;
    this.items = new Map();  // id -> BackfillItem
    this.tables = new Set();  // the form's suggestions
    this.suggested = false;

    const input = (id, testid, placeholder) => h('input', {id, class: 'input mono', type: 'text', placeholder, testid,
                                                           autocomplete: 'off', spellcheck: 'false'});
    this.tableInput = input('backfill-table', 'backfill-table-input', 'schema.table');
    this.tableInput.setAttribute('list', 'backfill-tables');
    this.sortInput = input('backfill-sort', 'backfill-sort-column', 'primary key');
    this.positionInput = input('backfill-position', 'backfill-start-position', 'the first row');
    this.positionInput.disabled = true;
    this.positionInput.title = 'Give a sort column first';
    this.sortInput.addEventListener('input', () => {
      const none = !this.sortInput.value.trim();
      this.positionInput.disabled = none;
      setAttr(this.positionInput, 'title', none ? 'Give a sort column first' : null);
    });
    this.suggestions = h('datalist', {id: 'backfill-tables'});
    this.submit = h('button', {type: 'submit', class: 'btn btn-primary', testid: 'backfill-submit'}, 'Start backfill');
    this.formError = h('p', {class: 'form-error', role: 'alert', testid: 'backfill-form-error', hidden: true});
    const field = (input, label, hint) => h('div', {class: 'form-field'},
                                            h('label', {for: input.id}, label,
                                              hint ? h('span', {class: 'muted'}, ` ${hint}`) : null),
                                            input);
    this.form = h('form', {class: 'card form-card', testid: 'backfill-form', novalidate: true},
                  h('div', {class: 'card-head'},
                    h('div', null, h('h2', null, 'Start a backfill'),
                      h('p', {class: 'muted'}, 'Sends the rows a table holds now as ', h('code', null, 'read'),
                        ' messages, page by page between the live changes; a row is never sent after a newer ',
                        'change of it.'))),
                  h('div', {class: 'form-row'},
                    field(this.tableInput, 'Table'),
                    field(this.sortInput, 'Sort column', 'optional'),
                    field(this.positionInput, 'Start position', 'optional'),
                    h('div', {class: 'form-actions'}, this.submit)),
                  this.formError, this.suggestions);
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.start();
    });

    this.summary = h('span', {class: 'muted', testid: 'backfills-summary'});
    this.list = h('div', {class: 'backfill-list', testid: 'backfill-list', hidden: true});
    this.loading = h('div', {class: 'loading'}, 'Loading backfills…');
    this.empty = h('div', {class: 'empty', testid: 'backfills-empty', hidden: true},
                   h('span', {class: 'empty-mark empty-mark-quiet', 'aria-hidden': 'true'}, '↻'),
                   'No backfills of this sink yet.',
                   h('span', {class: 'fine-print'}, 'Start one above, or set ', h('code', null, 'initial_backfill'),
                     ' in the sink’s config.'));
    this.el = h('div', {role: 'tabpanel', testid: 'backfills-tab'},
                this.form,
                h('div', {class: 'section-head'}, h('h2', null, 'Backfills'), this.summary),
                h('div', {class: 'card'}, this.list, this.loading, this.empty));
  }

  show(backfills, now) {
    const keep = new Set();
    let previous = null;
    for (const b of backfills) {
      keep.add(b.id);
      let item = this.items.get(b.id);
      if (!item) {
        item = new BackfillItem(this, b);
        this.items.set(b.id, item);
      }
      item.update(b, now);
      const expected = previous ? previous.nextSibling : this.list.firstChild;
      if (expected !== item.el) this.list.insertBefore(item.el, expected);
      previous = item.el;
    }
    for (const [id, item] of this.items) {
      if (!keep.has(id)) {
        item.el.remove();
        this.items.delete(id);
      }
    }
    this.addTables(backfills.map((b) => b.table));
    this.loading.hidden = true;
    this.list.hidden = backfills.length === 0;
    this.empty.hidden = backfills.length > 0;
    const running = backfills.filter((b) => b.state === 'running').length;
    setText(this.summary, backfills.length === 0 ? '' : `${formatCount(running)} running · ` +
                          `${plural(backfills.length - running, 'finished', 'finished')}`);
  }

  addTables(tables) {
    for (const table of tables) {
      if (!table || this.tables.has(table)) continue;
      this.tables.add(table);
      this.suggestions.append(h('option', {value: table}));
    }
  }

  // The tables of recently delivered messages, once, as suggestions.
  suggestFrom(sink) {
    if (this.suggested) return;
    this.suggested = true;
    api(paths.messages(sink, {state: 'delivered', limit: 200}))
      .then((page) => this.addTables(page.messages.map((m) => m.table)), () => {});
  }

  showFormError(text) {
    setText(this.formError, text);
    this.formError.hidden = !text;
  }

  async start() {
    const table = this.tableInput.value.trim();
    const sortColumn = this.sortInput.value.trim();
    const startPosition = this.positionInput.value;
    if (!table) {
      this.showFormError('Give the table to backfill, as schema.table.');
      this.tableInput.focus();
      return;
    }
    const body = {table};
    if (sortColumn) body.sort_column = sortColumn;
    if (sortColumn && startPosition.trim()) body.start_position = startPosition;
    this.submit.disabled = true;
    try {
      const b = await api(paths.backfills(this.sink), {method: 'POST', body});
      this.showFormError('');
      this.form.reset();
      this.positionInput.disabled = true;
      toast(`Started backfill #${b.id} of ${b.table}`, 'success');
      this.app.refreshNow();
    } catch (err) {
      if (this.app.unauthorized(err)) return;
      this.showFormError(err.message);
      if (!(err instanceof ApiError)) console.error(err);
    } finally {
      this.submit.disabled = false;
    }
  }

  async cancel(item) {
    const b = item.backfill;
    const left = b.rows_estimate > b.rows_done ? ` (about ${formatCount(b.rows_estimate - b.rows_done)})` : '';
    const sure = await confirmAction({
      title: `Cancel the backfill of ${b.table}?`,
      body: `Backfill #${b.id} reads no further page; the rows already read are still delivered. ` +
            `The rows not read yet${left} are not sent, unless you start a new backfill.`,
      confirmLabel: 'Cancel backfill', cancelLabel: 'Keep running'});
    if (!sure) return;
    item.cancel.disabled = true;
    try {
      const answer = await api(paths.cancelBackfill(this.sink, b.id), {method: 'POST'});
      item.update(answer, Date.now());
      toast(`Cancelled backfill #${b.id} of ${b.table}`, 'success');
      this.app.refreshNow();
    } catch (err) {
      this.app.actionFailed(err);
    } finally {
      item.cancel.disabled = false;
    }
  }
}

// ---------------------------------------------------------------------------
// One message

// A card with a title, a copy button and coloured JSON.
class JsonCard {
  constructor({title, subtitle, testid}) {
    this.pre = h('pre', {class: 'json', testid, tabindex: '0'});
    this.copy = h('button', {type: 'button', class: 'btn btn-small', testid: `copy-${testid}`,
                             onclick: () => this.copyJson()}, 'Copy');
    this.expand = h('button', {type: 'button', class: 'btn btn-small btn-ghost', hidden: true,
                               onclick: () => this.showAll()}, 'Show all');
    this.extra = h('div', {class: 'json-extra'});
    this.text = undefined;  // what is shown: JSON text, or null for `absent`
    this.el = h('div', {class: 'card code-card'},
                h('div', {class: 'card-head'},
                  h('div', null, h('h2', null, title), h('p', {class: 'muted'}, subtitle)),
                  h('div', {class: 'card-tools'}, this.expand, this.copy)),
                this.extra, this.pre);
  }

  // value: a parseExact value, or undefined for none (with `absent` shown).
  show(value, absent) {
    const text = value === undefined ? null : stringifyExact(value);
    if (text === this.text) return;
    this.text = text;
    this.value = value;
    this.copy.disabled = text === null;
    if (text === null) {
      this.pre.replaceChildren(h('span', {class: 'muted'}, absent));
      this.expand.hidden = true;
      return;
    }
    const long = hasLongString(value, kShownStringChars);
    this.expand.hidden = !long;
    this.pre.replaceChildren(renderJson(value, {maxString: long ? kShownStringChars : Infinity}));
  }

  showAll() {
    this.expand.hidden = true;
    this.pre.replaceChildren(renderJson(this.value));
  }

  async copyJson() {
    if (this.text === null) return;
    toast(await copyText(this.text) ? 'Copied to the clipboard' : 'Could not copy: select the text instead',
          'info');
  }
}

function hasLongString(value, max) {
  if (typeof value === 'string') return value.length > max;
  if (value === null || typeof value !== 'object' || value instanceof RawNumber) return false;
  return Object.values(value).some((v) => hasLongString(v, max));
}

class MessageView {
  constructor(app, sink, id) {
    this.app = app;
    this.sink = sink;
    this.id = id;
    this.crumbs = [{label: 'Sinks', href: links.overview()}, {label: sink, href: app.sinkLink(sink)},
                   {label: `Message ${id}`}];
    this.badge = h('span', null);
    this.redeliver = h('button', {type: 'button', class: 'btn', testid: 'message-redeliver',
                                  onclick: () => this.act('redeliver')}, 'Redeliver now');
    this.discard = h('button', {type: 'button', class: 'btn btn-danger', testid: 'message-discard',
                                onclick: () => this.act('discard')}, 'Discard…');
    this.notice = h('div', {class: 'notice', testid: 'message-gone', hidden: true});
    this.fields = new Map();
    const fieldList = h('dl', {class: 'fields', testid: 'message-fields'});
    for (const [key, label, mono] of [
      ['table', 'Table', true], ['action', 'Action', false], ['partition_key', 'Partition key', true],
      ['deliver_count', 'Deliver count', false], ['commit_lsn', 'Commit LSN', true],
      ['committed_at', 'Committed at', false], ['next_attempt_at', 'Next attempt', false],
      ['delivered_at', 'Delivered at', false], ['stream_arn', 'Stream', true], ['shard_id', 'Shard', true],
      ['sequence_number', 'Sequence number', true]]) {
      const dd = h('dd', {class: mono ? 'mono' : '', testid: `field-${key}`});
      const item = h('div', {class: 'field'}, h('dt', null, label), dd);
      fieldList.append(item);
      this.fields.set(key, {item, dd});
    }
    this.error = h('pre', {class: 'last-error', testid: 'message-last-error'});
    this.errorCard = h('div', {class: 'card error-card', hidden: true},
                       h('div', {class: 'card-head'}, h('h2', null, 'Last error'),
                         h('div', {class: 'card-tools'},
                           h('button', {type: 'button', class: 'btn btn-small', testid: 'copy-last-error',
                                        onclick: async () => toast(await copyText(this.error.textContent)
                                          ? 'Copied to the clipboard' : 'Could not copy', 'info')}, 'Copy'))),
                       this.error);
    this.change = new JsonCard({title: 'Change', subtitle: 'As sluice made it from the replicated row, before functions.',
                                testid: 'message-change'});
    this.payload = new JsonCard({title: 'Payload', subtitle: 'The record as it would be put now, after the sink’s functions.',
                                 testid: 'message-payload'});
    this.changeTable = h('span', {class: 'mono'});
    this.changeLsn = h('span', {class: 'mono'});
    this.change.extra.append(h('div', {class: 'meta'}, h('span', null, 'from '), this.changeTable,
                               h('span', {class: 'sep'}, '·'), h('span', null, 'commit '), this.changeLsn));
    this.payloadStream = h('span', {class: 'mono'});
    this.payloadTo = h('div', {class: 'meta'}, h('span', null, 'to '), this.payloadStream);
    this.payloadFiltered = h('span', {class: 'tag tag-warn', testid: 'payload-filtered', hidden: true},
                             'filtered: not sent');
    this.payloadError = h('pre', {class: 'last-error', testid: 'payload-error', hidden: true});
    this.payloadTo.append(this.payloadFiltered);
    this.payload.extra.append(this.payloadTo, this.payloadError);
    this.title = h('h1', null, 'Message ', h('span', {class: 'mono'}, id));
    this.content = h('div', null,
                     h('div', {class: 'card header-card'},
                       h('div', {class: 'panel-head'},
                         h('div', {class: 'panel-title'}, this.title, this.badge),
                         h('div', {class: 'panel-actions'}, this.redeliver, this.discard)),
                       this.notice, fieldList),
                     this.errorCard,
                     h('div', {class: 'code-grid'}, this.change.el, this.payload.el));
    this.el = h('section', {class: 'page', testid: 'message-page', dataset: {id}}, this.content);
  }

  async refresh() {
    let answer;
    try {
      answer = await request(paths.message(this.sink, this.id));
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return this.gone(err.message);
      throw err;
    }
    const exact = parseExact(answer.text);
    this.show(answer.json.message, exact, Date.now());
  }

  gone(message) {
    if (!this.message) {
      this.el.replaceChildren(errorState(`Message ${this.id} is not held`, message,
                                         {href: this.app.sinkLink(this.sink), label: 'Back to messages'}));
      return;
    }
    setText(this.notice, `${message} It was delivered or discarded; what is shown is how it was.`);
    this.notice.hidden = false;
    this.redeliver.disabled = true;
    this.discard.disabled = true;
  }

  show(m, exact, now) {
    this.message = m;
    this.notice.hidden = true;
    if (this.badge.dataset.state !== m.state) {
      const badge = stateBadge(m.state);
      badge.dataset.testid = 'message-state';
      this.badge.replaceWith(badge);
      this.badge = badge;
    }
    const values = {
      table: m.table, action: m.action, partition_key: m.partition_key, deliver_count: formatCount(m.deliver_count),
      commit_lsn: m.commit_lsn,
      committed_at: m.committed_at ? `${formatTimestamp(m.committed_at)} (${formatRelative(m.committed_at, now)})` : null,
      next_attempt_at: m.next_attempt_at ? `${formatTimestamp(m.next_attempt_at)} (${formatRelative(m.next_attempt_at, now)})` : null,
      delivered_at: m.delivered_at ? `${formatTimestamp(m.delivered_at)} (${formatRelative(m.delivered_at, now)})` : null,
      stream_arn: m.stream_arn || null, shard_id: m.shard_id || null, sequence_number: m.sequence_number || null,
    };
    for (const [key, {item, dd}] of this.fields) {
      const value = values[key];
      item.hidden = value === null || value === undefined || value === '';
      if (!item.hidden) setText(dd, value);
    }
    setText(this.changeTable, m.table);
    setText(this.changeLsn, m.commit_lsn);
    this.errorCard.hidden = !m.last_error;
    setText(this.error, m.last_error || '');
    const actionable = m.state !== 'in_flight' && m.state !== 'delivered';
    const why = m.state === 'in_flight' ? 'In a request to Kinesis now; wait a moment'
      : m.state === 'delivered' ? 'Already delivered' : null;
    for (const button of [this.redeliver, this.discard]) {
      button.disabled = !actionable;
      setAttr(button, 'title', why);
    }
    this.change.show(exact.change ?? undefined,
                     m.state === 'delivered' ? 'Not kept for delivered messages.' : 'No change.');
    const payload = exact.payload;
    if (!payload) {
      this.payload.show(undefined, m.state === 'delivered' ? 'Not kept for delivered messages.' : 'No payload.');
      this.payloadTo.hidden = true;
      this.payloadFiltered.hidden = true;
      this.payloadError.hidden = true;
      return;
    }
    this.streamArn = payload.stream_arn;
    this.payloadTo.hidden = !payload.stream_arn && !payload.filtered;
    setText(this.payloadStream, streamName(payload.stream_arn));
    setAttr(this.payloadStream, 'title', payload.stream_arn || null);
    this.payloadFiltered.hidden = !payload.filtered;
    this.payloadError.hidden = !payload.error;
    setText(this.payloadError, payload.error ? `The sink's functions fail: ${payload.error}` : '');
    this.payload.show(payload.data ?? undefined,
                      payload.filtered ? 'Filtered out: this message is not sent.' : payload.error ? 'No data: the functions fail.' : 'No data.');
  }

  async act(action) {
    const m = this.message;
    if (!m) return;
    if (action === 'discard') {
      const sure = await confirmAction({
        title: `Discard message ${m.id}?`,
        body: `It is dropped and never sent${this.streamArn ? ` to ${streamName(this.streamArn)}` : ''}; ` +
              `the next change of partition key ${m.partition_key} moves on. This cannot be undone.`,
        confirmLabel: 'Discard 1 message'});
      if (!sure) return;
    }
    const button = action === 'discard' ? this.discard : this.redeliver;
    button.disabled = true;
    try {
      await api(paths.messageAction(this.sink, m.id, action), {method: 'POST'});
      if (action === 'discard') {
        toast(`Discarded message ${m.id}`, 'success');
        location.hash = this.app.sinkLink(this.sink);
        return;
      }
      toast(`Message ${m.id} is due now`, 'success');
      this.app.refreshNow();
    } catch (err) {
      this.app.actionFailed(err);
    } finally {
      button.disabled = false;
    }
  }
}

// ---------------------------------------------------------------------------
// The app: routing, polling, errors

class App {
  constructor() {
    this.main = document.getElementById('main');
    this.crumbs = document.getElementById('crumbs');
    this.banner = document.getElementById('banner');
    this.live = document.getElementById('live');
    this.signOut = document.getElementById('sign-out');
    this.view = null;
    this.timer = null;
    this.polling = false;
    this.filters = new Map();  // sink -> the Messages tab's last state filter
    this.signOut.addEventListener('click', () => {
      token.clear();
      this.showSignIn('Signed out.');
    });
    window.addEventListener('hashchange', () => this.route());
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden) this.refreshNow();
    });
  }

  // Where "back to the messages" goes: the sink's list with its last filter.
  sinkLink(sink) {
    return links.sink(sink, this.filters.get(sink) ?? '');
  }

  route() {
    if (!token.get()) return this.showSignIn();
    const route = parseRoute();
    if (route.view === 'sink' && route.tab === 'messages') this.filters.set(route.sink, route.state);
    if (route.view === 'sink' && this.view instanceof SinkView && this.view.name === route.sink) {
      if (this.view.setRoute(route)) this.refreshNow();
      return;
    }
    let view;
    if (route.view === 'overview') view = new OverviewView(this);
    else if (route.view === 'sink') view = new SinkView(this, route.sink, route);
    else if (route.view === 'message') view = new MessageView(this, route.sink, route.id);
    else {
      view = {crumbs: [{label: 'Sinks', href: links.overview()}], refresh: async () => {},
              el: h('section', {class: 'page'}, errorState('No such page', `Nothing lives at ${location.hash}.`,
                                                           {href: links.overview(), label: 'All sinks'}))};
    }
    this.mount(view);
    this.signOut.hidden = false;
    this.refreshNow();
  }

  mount(view) {
    this.view = view;
    clearTimeout(this.timer);
    this.main.replaceChildren(view.el);
    this.crumbs.replaceChildren(...view.crumbs.flatMap((c, i) => [
      ...(i > 0 ? [h('span', {class: 'crumb-sep', 'aria-hidden': 'true'}, '/')] : []),
      c.href ? h('a', {href: c.href}, c.label) : h('span', {'aria-current': 'page'}, c.label),
    ]));
    document.title = view.crumbs.length ? `${view.crumbs.at(-1).label} · sluice` : 'sluice';
    this.hideBanner();
    window.scrollTo(0, 0);
  }

  showSignIn(message) {
    clearTimeout(this.timer);
    const view = signInView(this, message);
    this.mount(view);
    this.signOut.hidden = true;
    this.live.hidden = true;
    view.focus.focus();
  }

  // Refreshes the view now, then every kRefreshMs while the tab is visible.
  async refreshNow() {
    clearTimeout(this.timer);
    const view = this.view;
    if (!view || view.signIn) return;
    if (this.polling) {
      this.pending = true;  // one more refresh right after the one running
      return;
    }
    this.polling = true;
    try {
      await view.refresh();
      if (view === this.view) this.markLive(true);
    } catch (err) {
      if (view === this.view) this.refreshFailed(err);
    } finally {
      this.polling = false;
    }
    if (view !== this.view || this.view.signIn) return;
    if (this.pending) {
      this.pending = false;
      return this.refreshNow();
    }
    if (!document.hidden) this.timer = setTimeout(() => this.refreshNow(), kRefreshMs);
  }

  refreshFailed(err) {
    if (this.unauthorized(err)) return;
    this.markLive(false);
    this.showBanner(`Cannot refresh: ${err.message} Showing the last data; retrying every ${kRefreshMs / 1000} s.`);
    if (!(err instanceof ApiError)) console.error(err);
  }

  // A failed button press: a toast with the API's message.
  actionFailed(err) {
    if (this.unauthorized(err)) return;
    toast(err.message, 'error');
    if (!(err instanceof ApiError)) console.error(err);
  }

  unauthorized(err) {
    if (!(err instanceof ApiError) || err.status !== 401) return false;
    token.clear();
    this.showSignIn('The API refused the token (401): sluice may have restarted with a new one. Paste the current token.');
    return true;
  }

  markLive(ok) {
    this.live.hidden = false;
    setClass(this.live, ok ? 'live' : 'live live-stale');
    setText(this.live, ok ? 'Live' : 'Reconnecting');
    setAttr(this.live, 'title', ok ? `Updated ${formatTimestamp(new Date().toISOString())}; refreshes every 2 s`
      : 'The last refresh failed');
    if (ok) this.hideBanner();
  }

  showBanner(text) {
    setText(this.banner, text);
    this.banner.hidden = false;
  }

  hideBanner() {
    this.banner.hidden = true;
  }
}

new App().route();
