#!/usr/bin/env node
// Reads a whole Kinesis stream back (AWS SDK, not sluice's code) and checks
// per-key order: within each shard, in sequence-number order, the records of
// one partition key must carry increasing (commit_lsn, commit_idx). Prints
//   {"records": N, "unique": N, "duplicates": N, "order_violations": N}
// where a duplicate is a record whose (commit_lsn, commit_idx) was already
// seen for its key (at-least-once delivery allows it) and a violation is one
// that comes after a later change of its key.
//
//   node bench/check_order.mjs --endpoint URL --stream NAME --expect N [--timeout-ms 120000]
//
// Exits 3 when fewer than N records arrived before the timeout.
import {parseFlags} from '../tools/node/kinesis_client.mjs';
import {readStream} from '../tools/node/read_stream.mjs';

// (commit_lsn, commit_idx) as one BigInt, so order is a plain comparison.
function positionOf(data) {
  const m = JSON.parse(data).metadata;
  return (BigInt(m.commit_lsn) << 32n) + BigInt(m.commit_idx);
}

async function main() {
  const flags = parseFlags(process.argv.slice(2), {
    endpoint: 'string', stream: 'string', region: 'string', expect: 'int', 'timeout-ms': 'int',
  });
  const {records, complete} = await readStream({...flags, timeoutMs: flags['timeout-ms'] ?? 120000});
  const last = new Map();  // partition key -> highest position seen
  const seen = new Set();
  let duplicates = 0;
  let violations = 0;
  for (const r of records) {  // shard, then sequence order
    const position = positionOf(r.data);
    const id = `${r.partitionKey}\u0000${position}`;
    if (seen.has(id)) {
      duplicates++;
      continue;
    }
    seen.add(id);
    const previous = last.get(r.partitionKey);
    if (previous !== undefined && position < previous) {
      violations++;
    } else {
      last.set(r.partitionKey, position);
    }
  }
  process.stdout.write(JSON.stringify({
    records: records.length, unique: seen.size, duplicates, order_violations: violations,
  }) + '\n');
  if (!complete) process.exitCode = 3;
}

main().catch((err) => {
  process.stderr.write(`check_order: ${err.name ?? 'Error'}: ${err.message}\n`);
  process.exit(1);
});
