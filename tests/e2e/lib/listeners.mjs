// Which addresses processes listen on, from `ss -ltnpH`.
import {execFile} from 'node:child_process';
import {promisify} from 'node:util';

const run = promisify(execFile);

// [{address, port, pids: [..]}] for every listening TCP socket.
export async function tcpListeners() {
  const {stdout} = await run('ss', ['-ltnpH']);
  return stdout.split('\n').filter(Boolean).map((line) => {
    const cols = line.trim().split(/\s+/);
    const local = cols[3];
    const sep = local.lastIndexOf(':');
    return {
      address: local.slice(0, sep),
      port: Number(local.slice(sep + 1)),
      pids: [...line.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1])),
    };
  });
}

const isLoopback = (address) => address === '127.0.0.1' || address === '[::1]' ||
    address.startsWith('127.');

// Listeners of `pids` on anything but loopback (e.g. 0.0.0.0, [::], *).
export async function nonLoopbackListeners(pids) {
  const wanted = new Set(pids);
  return (await tcpListeners()).filter((l) => l.pids.some((p) => wanted.has(p)) && !isLoopback(l.address));
}
