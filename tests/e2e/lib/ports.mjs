// Free TCP ports from a fixed range, safe across test processes running in
// parallel: a port is claimed by creating /tmp/sluice-e2e-ports/<port> (O_EXCL)
// holding the claiming pid, and only if nothing listens on it. Claims of dead
// processes are taken over.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export const kClaimDir = '/tmp/sluice-e2e-ports';

// The harness's ranges: Postgres 25600-25649, Kinesis emulators (and the
// sluice API) 25650-25699. Below Linux's ephemeral range (32768-60999), so a
// client connection's local port never holds a port a server must bind.
export const kPostgresPorts = Object.freeze({first: 25600, last: 25649});
export const kKinesisPorts = Object.freeze({first: 25650, last: 25699});

function pidAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

function tryClaim(port) {
  fs.mkdirSync(kClaimDir, {recursive: true, mode: 0o777});
  const file = path.join(kClaimDir, String(port));
  try {
    fs.writeFileSync(file, String(process.pid), {flag: 'wx'});
    return true;
  } catch (err) {
    if (err.code !== 'EEXIST') throw err;
  }
  const owner = Number(fs.readFileSync(file, 'utf8'));
  if (owner === process.pid || (owner && pidAlive(owner))) return false;
  fs.rmSync(file, {force: true});  // stale: its process is gone
  try {
    fs.writeFileSync(file, String(process.pid), {flag: 'wx'});
    return true;
  } catch {
    return false;
  }
}

function canListen(port) {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

const claimed = new Set();
process.on('exit', () => {
  for (const port of claimed) fs.rmSync(path.join(kClaimDir, String(port)), {force: true});
});

// Claims `count` consecutive free ports from `range`; returns the first.
export async function claimPorts(range, count = 1) {
  const span = range.last - range.first + 1;
  const offset = Math.floor(Math.random() * span);
  for (let i = 0; i < span; i++) {
    const first = range.first + ((offset + i) % span);
    if (first + count - 1 > range.last) continue;
    const taken = [];
    let ok = true;
    for (let p = first; p < first + count; p++) {
      if (!tryClaim(p)) {
        ok = false;
        break;
      }
      taken.push(p);
      if (!(await canListen(p))) {
        ok = false;
        break;
      }
    }
    if (ok) {
      taken.forEach((p) => claimed.add(p));
      return first;
    }
    for (const p of taken) fs.rmSync(path.join(kClaimDir, String(p)), {force: true});
  }
  throw new Error(`no ${count} free consecutive ports in ${range.first}-${range.last}`);
}

export function releasePorts(first, count = 1) {
  for (let p = first; p < first + count; p++) {
    claimed.delete(p);
    fs.rmSync(path.join(kClaimDir, String(p)), {force: true});
  }
}
