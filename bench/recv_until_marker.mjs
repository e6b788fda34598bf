#!/usr/bin/env node
// Times a reader of the replication stream until a marker appears in its
// output: the pg_recvlogical ceiling of bench/run.sh.
//
//   node bench/recv_until_marker.mjs --out FILE --marker TEXT [--timeout-s N] -- COMMAND ARGS...
//
// Starts COMMAND (which must write its output to FILE), checks the last bytes
// of FILE every 10 ms for TEXT, and once they hold it stops COMMAND and prints
// "<microseconds from start to marker> <bytes in FILE>". Exits 1 if COMMAND
// ends first or the marker has not come after --timeout-s (default 600). One process polling
// a file costs far less than a shell loop forking tail and grep every 10 ms,
// which kept a vCPU busy enough to change the reader's own speed.
import {spawn} from 'node:child_process';
import fs from 'node:fs';

const argv = process.argv.slice(2);
const split = argv.indexOf('--');
const opts = {};
for (let i = 0; i < split; i += 2) opts[argv[i].replace(/^--/, '')] = argv[i + 1];
const command = argv.slice(split + 1);
if (split < 0 || !opts.out || !opts.marker || command.length === 0) {
  console.error('usage: recv_until_marker.mjs --out FILE --marker TEXT -- COMMAND ARGS...');
  process.exit(64);
}
const marker = Buffer.from(opts.marker);
const tailBytes = Math.max(512, marker.length * 2);

const start = process.hrtime.bigint();
const child = spawn(command[0], command.slice(1), {stdio: ['ignore', 'ignore', 'inherit']});
let exited = false;
child.on('exit', (code, signal) => {
  exited = true;
  if (!done) {
    console.error(`${command[0]} ended (${signal ?? `exit ${code}`}) before the marker`);
    process.exit(1);
  }
});

let done = false;
const buf = Buffer.alloc(tailBytes);
const timeoutS = Number(opts['timeout-s'] ?? 600);
setTimeout(() => {
  console.error(`no marker in ${opts.out} after ${timeoutS} s`);
  child.kill('SIGTERM');
  process.exit(1);
}, timeoutS * 1000).unref();
const timer = setInterval(() => {
  let fd;
  try {
    fd = fs.openSync(opts.out, 'r');
  } catch {
    return;  // not created yet
  }
  try {
    const size = fs.fstatSync(fd).size;
    const from = Math.max(0, size - tailBytes);
    const n = fs.readSync(fd, buf, 0, size - from, from);
    if (buf.subarray(0, n).includes(marker)) {
      done = true;
      const micros = (process.hrtime.bigint() - start) / 1000n;
      clearInterval(timer);
      if (!exited) child.kill('SIGTERM');
      process.stdout.write(`${micros} ${size}\n`);
    }
  } finally {
    fs.closeSync(fd);
  }
}, 10);
