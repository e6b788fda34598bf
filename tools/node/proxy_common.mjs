// Plumbing shared by the test proxies in front of a Kinesis emulator
// (fault_proxy.mjs, sigv4_proxy.mjs): request bodies, JSON answers, the
// loopback-only upstream check, hop-by-hop headers, a seeded PRNG and
// `--flag value` parsing.

// Headers a proxy must not forward as they are.
export const kHopByHop = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding',
                                  'te', 'trailer', 'upgrade', 'host', 'content-length', 'expect']);
export const kLoopbackHosts = new Set(['127.0.0.1', 'localhost', '[::1]']);

export function readBody(stream) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    stream.on('data', (c) => chunks.push(c));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
    stream.on('aborted', () => reject(new Error('client aborted')));
  });
}

export function sendJson(res, status, value, headers = {}) {
  const body = Buffer.from(JSON.stringify(value));
  res.writeHead(status, {'content-type': 'application/json', 'content-length': body.length, ...headers});
  res.end(body);
}

// The upstream URL: plain http on loopback only (tests never leave it).
export function parseUpstream(upstream) {
  let url;
  try {
    url = new URL(upstream);
  } catch {
    throw new Error(`upstream must be a URL like http://127.0.0.1:4567, got "${upstream}"`);
  }
  if (url.protocol !== 'http:') throw new Error(`upstream must be plain http://, got ${url.protocol}`);
  if (!kLoopbackHosts.has(url.hostname)) {
    throw new Error(`upstream must be on loopback (127.0.0.1, localhost, [::1]), got ${url.hostname}`);
  }
  return url;
}

// mulberry32: a small seeded PRNG, so random choices (probabilistic
// failures, kill moments) repeat run to run.
export function makePrng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// `--name value` / `--name=value` by `spec` ({name: 'string'|'int'}); names
// come back camelCased. Unknown flags, missing values and bad integers throw.
export function parseFlags(argv, spec) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    let name = argv[i];
    if (!name.startsWith('--')) throw new Error(`unexpected argument: ${name}`);
    name = name.slice(2);
    let value;
    const eq = name.indexOf('=');
    if (eq >= 0) [name, value] = [name.slice(0, eq), name.slice(eq + 1)];
    if (!(name in spec)) throw new Error(`unknown flag --${name}`);
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new Error(`--${name} needs a value`);
      value = argv[++i];
    }
    if (spec[name] === 'int') {
      if (!/^\d+$/.test(value)) throw new Error(`--${name} must be a non-negative integer, got "${value}"`);
      value = Number(value);
    }
    out[name.replace(/-([a-z])/g, (_, c) => c.toUpperCase())] = value;
  }
  return out;
}
