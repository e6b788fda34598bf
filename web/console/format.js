// How numbers, sizes, times and ARNs are shown.

const kInteger = new Intl.NumberFormat(undefined, {maximumFractionDigits: 0});
const kOneDecimal = new Intl.NumberFormat(undefined, {minimumFractionDigits: 1, maximumFractionDigits: 1});

export function formatCount(n) {
  return n === null || n === undefined ? '—' : kInteger.format(n);
}

export function formatRate(perSecond) {
  if (!perSecond) return '0/s';
  return `${perSecond < 10 ? kOneDecimal.format(perSecond) : kInteger.format(perSecond)}/s`;
}

const kUnits = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function formatBytes(bytes) {
  if (bytes === null || bytes === undefined) return '—';
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < kUnits.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${kOneDecimal.format(value)} ${kUnits[unit]}`;
}

// 850 ms -> "0s", 75 s -> "1m 15s", 26 h -> "1d 2h".
export function formatDuration(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const hours = Math.floor(m / 60);
  if (hours < 24) return `${hours}h ${m % 60}m`;
  return `${Math.floor(hours / 24)}d ${hours % 24}h`;
}

// "12s ago", "in 4s", "now" for an ISO time; "—" for none.
export function formatRelative(iso, now = Date.now()) {
  if (!iso) return '—';
  const delta = Date.parse(iso) - now;
  if (Math.abs(delta) < 1000) return 'now';
  return delta > 0 ? `in ${formatDuration(delta)}` : `${formatDuration(-delta)} ago`;
}

// Local time, "2026-11-27 10:00:00.123".
export function formatTimestamp(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const pad = (n, w = 2) => String(n).padStart(w, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
      `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

// "arn:aws:kinesis:us-east-1:000000000000:stream/orders" -> "orders".
export function streamName(arn) {
  if (!arn) return '—';
  const at = arn.lastIndexOf(':stream/');
  return at >= 0 ? arn.slice(at + ':stream/'.length) : arn;
}

export function plural(n, one, many = `${one}s`) {
  return `${formatCount(n)} ${n === 1 ? one : many}`;
}
