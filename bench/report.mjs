#!/usr/bin/env node
// Turns bench/run.sh's raw measurements into its results: latest.json (every
// figure plus the raw measurements), latest.md (the table and the issue-8
// targets) and the data files the gnuplot scripts read (throughput.dat,
// latency-percentiles.dat, latency-rate.dat).
//
//   node bench/report.mjs --results RESULTS.jsonl --meta JSON --out DIR
//
// RESULTS.jsonl has one object per scenario as run.sh prints them (times in
// µs since the epoch, CPU in clock ticks, memory in KiB); latency rows name
// the pgbench progress and delivered-count sample files of their run.
import fs from 'node:fs';
import path from 'node:path';

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--') || i + 1 >= argv.length) {
      throw new Error(`expected --name value pairs, got "${argv[i]}"`);
    }
    out[argv[i].slice(2)] = argv[i + 1];
  }
  for (const required of ['results', 'meta', 'out']) {
    if (!out[required]) throw new Error(`--${required} is required`);
  }
  return out;
}

const round = (x, digits = 0) => (x === null || !Number.isFinite(x) ? null : Number(x.toFixed(digits)));
const kilo = (n) => (n >= 1e6 && n % 1e6 === 0 ? `${n / 1e6}M` : n >= 1000 && n % 1000 === 0 ? `${n / 1000}k` : `${n}`);

// Short labels for the plot's x axis.
function shortLabel(s, meta) {
  const n = kilo(s.changes);
  switch (s.key) {
    case 'big_txn': return `${n}-row txn`;
    case 'single_txns': return `${n} 1-row txns`;
    case 'hot_updates': return `${n} updates, ${meta.hot_rows} rows`;
    case 'wide_rows': return `${n} wide rows`;
    case 'lua_transform': return `${n}-row txn, Lua`;
    case 'kinesalite': return `${n} 1-row txns, kinesalite`;
    default: return s.key;
  }
}

function throughputFigures(r) {
  const recvSeconds = r.recv_us / 1e6;
  const sluiceSeconds = (r.sluice_end_us - r.sluice_start_us) / 1e6;
  const windowSeconds = (r.sluice_seen_us - r.sluice_start_us) / 1e6;
  const stats = r.endpoint_stats;
  const order = r.order_check;
  const firstRecord = stats?.first_record_unix_us;
  return {
    key: r.key,
    title: r.title,
    changes: r.changes,
    endpoint: r.endpoint,
    pg_recvlogical_rows_per_s: round(r.changes / recvSeconds),
    sluice_rows_per_s: round(r.changes / sluiceSeconds),
    ratio: round(recvSeconds / sluiceSeconds, 2),
    sluice_cpu_us_per_change: round((r.sluice_cpu_ticks / r.hz) * 1e6 / r.changes, 2),
    sluice_peak_rss_mb: round(r.sluice_hwm_kb / 1024),
    endpoint_cpu_pct_of_core: round((100 * r.endpoint_cpu_ticks / r.hz) / windowSeconds, 1),
    order_violations: stats?.order_violations ?? order?.order_violations ?? null,
    records_received: stats?.records ?? order?.records ?? null,
    // Distinct records (at least once: a retried record may arrive twice).
    unique_records: order?.unique ?? stats?.records ?? null,
    sluice_first_record_ms: firstRecord ? round((firstRecord - r.sluice_start_us) / 1000) : null,
    seconds: {load: round(r.load_us / 1e6, 2), pg_recvlogical: round(recvSeconds, 2),
              sluice: round(sluiceSeconds, 2)},
    raw: r,
  };
}

function latencyFigures(r) {
  const seconds = (r.end_us - r.start_us) / 1e6;
  const l = r.endpoint_stats?.latency_us;
  const ms = (us) => (us === undefined || us === null ? null : round(us / 1000, 1));
  return {
    key: r.key,
    title: r.title,
    changes: r.changes,
    endpoint: r.endpoint,
    offered_rate: r.offered_rate,
    seconds: r.seconds,
    max_in_flight: r.max_in_flight,
    pgbench_tps: round(r.pgbench_tps),
    pgbench_schedule_lag_ms: r.pgbench_schedule_lag_ms,
    sluice_rows_per_s: round(r.changes / seconds),
    sluice_cpu_us_per_change: round((r.sluice_cpu_ticks / r.hz) * 1e6 / r.changes, 2),
    sluice_cpu_pct_of_core: round((100 * r.sluice_cpu_ticks / r.hz) / seconds, 1),
    sluice_peak_rss_mb: round(r.sluice_hwm_kb / 1024),
    endpoint_cpu_pct_of_core: round((100 * r.endpoint_cpu_ticks / r.hz) / seconds, 1),
    order_violations: r.endpoint_stats?.order_violations ?? null,
    records_received: r.endpoint_stats?.records ?? null,
    unique_records: r.endpoint_stats?.records ?? null,
    latency_ms: l ? {count: l.count, p50: ms(l.p50), p90: ms(l.p90), p99: ms(l.p99),
                     p999: ms(l.p999), max: ms(l.max), mean: ms(l.mean)} : null,
    per_second: readRate(r.pgbench_progress_file, r.delivered_file, r.start_us),
    // The sample files were in the run's temp dir: their data is per_second.
    raw: Object.fromEntries(Object.entries(r).filter(([k]) => !k.endsWith('_file'))),
  };
}

// The issue's targets, each with what was measured.
function targets(scenarios, latencies) {
  const out = [];
  const byKey = Object.fromEntries(scenarios.map((s) => [s.key, s]));
  for (const key of ['big_txn', 'single_txns']) {
    const s = byKey[key];
    if (s && s.endpoint === 'bench') {
      out.push({target: `${s.title}: at least 0.8× pg_recvlogical`, measured: `${s.ratio}×`,
                met: s.ratio >= 0.8});
    }
  }
  const all = [...scenarios, ...latencies];
  if (all.length === 0) return out;
  // Every scenario on the low-CPU endpoint, the fixed-rate latency runs too
  // (there the process also pays for waking up between changes).
  const cpu = all.filter((s) => s.endpoint === 'bench');
  if (cpu.length === 0) cpu.push(...all);
  const worstCpu = cpu.reduce((a, s) => (s.sluice_cpu_us_per_change > a.sluice_cpu_us_per_change ? s : a));
  out.push({target: 'at most 5 µs of sluice CPU per change (every scenario on the bench endpoint)',
            measured: `${worstCpu.sluice_cpu_us_per_change} µs (${worstCpu.key}); ` +
                cpu.filter((s) => s.sluice_cpu_us_per_change > 5).map((s) => s.key).join(', ') +
                (cpu.some((s) => s.sluice_cpu_us_per_change > 5) ? ' over' : 'none over'),
            met: cpu.every((s) => s.sluice_cpu_us_per_change <= 5)});
  for (const latency of latencies.filter((l) => l.latency_ms)) {
    out.push({target: `p99 latency under 25 ms at ${latency.offered_rate} changes/s ` +
                      `(max_in_flight ${latency.max_in_flight})`,
              measured: `${latency.latency_ms.p99} ms`,
              met: latency.latency_ms.p99 !== null && latency.latency_ms.p99 < 25});
  }
  const worstRss = all.reduce((a, s) => (s.sluice_peak_rss_mb > a.sluice_peak_rss_mb ? s : a));
  out.push({target: 'peak RSS under 200 MB in every scenario',
            measured: `${worstRss.sluice_peak_rss_mb} MB (${worstRss.key})`,
            met: all.every((s) => s.sluice_peak_rss_mb < 200)});
  const checked = all.filter((s) => s.order_violations !== null);
  if (checked.length > 0) {
    out.push({target: 'no order violations',
              measured: `${checked.reduce((a, s) => a + s.order_violations, 0)} in ` +
                  `${checked.length} checked scenarios`,
              met: checked.every((s) => s.order_violations === 0)});
  }
  return out;
}

const dash = '—';
const cell = (v) => (v === null || v === undefined ? dash : String(v));

function markdown(meta, scenarios, latencies, goals) {
  const lines = [];
  lines.push(`Command: \`${meta.command}\`${meta.quick ? ' (quick: a tenth of the sizes; a smoke run, not figures to quote)' : ''}`);
  lines.push('');
  lines.push(`Run ${meta.date.replace('T', ' ').replace('Z', ' UTC')} on ${meta.machine}; ` +
             `sluice ${meta.build} build at commit ${meta.commit}; endpoint ` +
             (meta.endpoint === 'bench' ? 'tools/bench_kinesis' : 'kinesalite') +
             `; sink \`batch_size: ${meta.config.batch_size}\`, \`max_in_flight: ${meta.config.max_in_flight}\`, ` +
             `\`max_memory_mb: ${meta.config.max_memory_mb}\`. Wide rows average ${meta.wide_row_bytes} bytes in Postgres.`);
  lines.push('');
  lines.push('| scenario | changes | pg_recvlogical rows/s | sluice rows/s | ratio | sluice CPU µs/change | peak RSS MB | endpoint CPU % of a core | order violations | latency p50 / p99 / max ms |');
  lines.push('|---|---|---|---|---|---|---|---|---|---|');
  for (const s of scenarios) {
    lines.push(`| ${s.title} | ${s.changes} | ${cell(s.pg_recvlogical_rows_per_s)} | ${cell(s.sluice_rows_per_s)} | ` +
               `${cell(s.ratio)} | ${cell(s.sluice_cpu_us_per_change)} | ${cell(s.sluice_peak_rss_mb)} | ` +
               `${cell(s.endpoint_cpu_pct_of_core)} | ${cell(s.order_violations)} | ${dash} |`);
  }
  for (const latency of latencies) {
    const l = latency.latency_ms;
    lines.push(`| ${latency.title} (pgbench achieved ${latency.pgbench_tps}/s) | ${latency.changes} | ${dash} | ` +
               `${cell(latency.sluice_rows_per_s)} | ${dash} | ${cell(latency.sluice_cpu_us_per_change)} (${cell(latency.sluice_cpu_pct_of_core)}% of a core) | ` +
               `${cell(latency.sluice_peak_rss_mb)} | ${cell(latency.endpoint_cpu_pct_of_core)} | ` +
               `${cell(latency.order_violations)} | ${l ? `${l.p50} / ${l.p99} / ${l.max}` : dash} |`);
  }
  lines.push('');
  lines.push('sluice\'s time runs from process start to the endpoint\'s receipt of the last record; ' +
             'its CPU (user + system, all threads) over the same span, start-up included (latency rows: ' +
             'the measured span only, and as a share of one core). Latency rows: pgbench offers single-row insert transactions ' +
             '(synchronous_commit on) while sluice streams; the endpoint times each record from its ' +
             'commit_timestamp to its arrival (the acknowledgement answers that request).');
  lines.push('');
  lines.push('Targets (issue 8):');
  lines.push('');
  for (const g of goals) lines.push(`- ${g.met ? 'met' : '**missed**'}: ${g.target} — ${g.measured}`);
  lines.push('');
  return lines.join('\n');
}

function readRate(progressFile, deliveredFile, startUs) {
  const offered = [];
  if (progressFile && fs.existsSync(progressFile)) {
    for (const line of fs.readFileSync(progressFile, 'utf8').split('\n')) {
      const m = /^progress: ([\d.]+) s, ([\d.]+) tps/.exec(line);
      if (m) offered.push([Number(m[1]), Number(m[2])]);
    }
  }
  const delivered = [];
  if (deliveredFile && fs.existsSync(deliveredFile)) {
    const samples = fs.readFileSync(deliveredFile, 'utf8').trim().split('\n')
        .map((l) => l.split(' ').map(Number)).filter((p) => p.length === 2 && p.every(Number.isFinite));
    for (let i = 1; i < samples.length; i++) {
      const dt = (samples[i][0] - samples[i - 1][0]) / 1e6;
      if (dt > 0) delivered.push([(samples[i][0] - startUs) / 1e6, (samples[i][1] - samples[i - 1][1]) / dt]);
    }
  }
  return {offered, delivered};
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  const meta = JSON.parse(args.meta);
  const rows = fs.readFileSync(args.results, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const scenarios = rows.filter((r) => r.kind === 'throughput').map(throughputFigures);
  const latencies = rows.filter((r) => r.kind === 'latency').map(latencyFigures);
  const goals = targets(scenarios, latencies);

  fs.mkdirSync(args.out, {recursive: true});
  fs.writeFileSync(path.join(args.out, 'latest.json'),
                   JSON.stringify({meta, scenarios, latency: latencies, targets: goals}, null, 2) + '\n');
  fs.writeFileSync(path.join(args.out, 'latest.md'), markdown(meta, scenarios, latencies, goals));

  // Plot data: "label" pg_recvlogical sluice ratio (ratio blank where the endpoint was kinesalite).
  fs.writeFileSync(path.join(args.out, 'throughput.dat'),
                   '# scenario pg_recvlogical_rows_per_s sluice_rows_per_s ratio\n' +
                   scenarios.map((s) => `"${shortLabel(s, meta)}" ${s.pg_recvlogical_rows_per_s} ` +
                                        `${s.sluice_rows_per_s} ${s.ratio.toFixed(2)}`).join('\n') + '\n');
  // One column per latency run (0: not measured); the header names the runs.
  const ladder = [['p50', 'p50'], ['p90', 'p90'], ['p99', 'p99'], ['p99.9', 'p999'], ['max', 'max']];
  fs.writeFileSync(path.join(args.out, 'latency-percentiles.dat'),
                   '# milliseconds from commit to acknowledgement, one column per latency run\n' +
                   `percentile ${latencies.map((l) => `max_in_flight=${l.max_in_flight}`).join(' ')}\n` +
                   ladder.map(([name, field]) => `"${name}" ` +
                              latencies.map((l) => l.latency_ms?.[field] ?? 0).join(' ')).join('\n') + '\n');
  // index 0: the first run's offered rate; index i: run i's delivered rate.
  const blocks = [latencies[0]?.per_second.offered ?? []]
      .concat(latencies.map((l) => l.per_second.delivered))
      .map((points) => points.map((p) => p.map((x) => x.toFixed(1)).join(' ')).join('\n') || '0 0');
  fs.writeFileSync(path.join(args.out, 'latency-rate.dat'),
                   '# index 0: seconds offered_tps (pgbench, first run); index i: seconds ' +
                   `delivered_per_s of run i (${latencies.map((l) => `max_in_flight=${l.max_in_flight}`).join(', ')})\n` +
                   blocks.join('\n\n\n') + '\n');
}

main();
