#!/usr/bin/env node
// An independent Kinesis reader (AWS SDK for JavaScript, not sluice's code):
// reads every shard of a stream from TRIM_HORIZON and prints one JSON line per
// record, in shard then sequence-number order:
//   {"shard": ..., "sequence": ..., "partitionKey": ..., "data": "<UTF-8 text>"}
//
//   node read_stream.mjs --endpoint URL --stream NAME [--region us-east-1]
//                        [--expect N] [--timeout-ms 60000]
//   node read_stream.mjs --endpoint URL --stream NAME --follow [--format pretty|json]
//
// Without --expect it reads until every shard is caught up. With --expect N it
// polls until at least N records arrived (then reads each shard to its end
// once more, so surplus records show too) or the timeout passes: then it
// prints what it has and exits 3. --follow prints records as they arrive until
// killed. Importable: readStream(options) -> {records, complete}.
import {GetRecordsCommand, GetShardIteratorCommand, ListShardsCommand} from '@aws-sdk/client-kinesis';
import {pathToFileURL} from 'node:url';
import {setTimeout as delay} from 'node:timers/promises';

import {makeKinesisClient, parseFlags} from './kinesis_client.mjs';

const kPollInterval = 100;  // ms between rounds that found nothing new
const kUtf8 = new TextDecoder('utf-8', {fatal: false});

async function listShards(client, stream) {
  const shards = [];
  let token;
  do {
    const out = await client.send(new ListShardsCommand(
        token ? {NextToken: token} : {StreamName: stream}));
    shards.push(...(out.Shards ?? []).map((s) => s.ShardId));
    token = out.NextToken;
  } while (token);
  return shards.sort();
}

function toRecord(shard, r) {
  return {
    shard,
    sequence: r.SequenceNumber,
    partitionKey: r.PartitionKey,
    data: kUtf8.decode(r.Data),
  };
}

export function compareRecords(a, b) {
  if (a.shard !== b.shard) return a.shard < b.shard ? -1 : 1;
  const x = BigInt(a.sequence), y = BigInt(b.sequence);
  return x < y ? -1 : x > y ? 1 : 0;
}

// Reads the stream. `onRecord` (optional) sees each record as it arrives.
// Without follow it stops when the goal is met and a further round over all
// shards found nothing new -- the goal being `until(records)` if given, else
// at least `expect` records, else nothing (read to the end) -- or when
// timeoutMs passes (complete = false), or when `signal` aborts. With
// settle = false it stops as soon as the goal is met.
export async function readStream({endpoint, region = 'us-east-1', stream, expect, until,
                                  timeoutMs = 60000, follow = false, settle = true, onRecord,
                                  signal}) {
  const goal = until ?? (expect === undefined ? () => true : (rs) => rs.length >= expect);
  if (!stream) throw new Error('a --stream name is required');
  const client = makeKinesisClient({endpoint, region});
  const records = [];
  try {
    const shards = await listShards(client, stream);
    const iterators = new Map();
    for (const shard of shards) {
      const out = await client.send(new GetShardIteratorCommand(
          {StreamName: stream, ShardId: shard, ShardIteratorType: 'TRIM_HORIZON'}));
      iterators.set(shard, out.ShardIterator);
    }
    const deadline = follow ? Infinity : Date.now() + timeoutMs;
    for (;;) {
      if (signal?.aborted) return {records: records.sort(compareRecords), complete: false};
      let fresh = 0;
      let caughtUp = true;
      for (const shard of shards) {
        const iterator = iterators.get(shard);
        if (!iterator) continue;  // closed shard, fully read
        const out = await client.send(new GetRecordsCommand({ShardIterator: iterator, Limit: 10000}));
        iterators.set(shard, out.NextShardIterator);
        for (const r of out.Records ?? []) {
          const record = toRecord(shard, r);
          records.push(record);
          onRecord?.(record);
        }
        const n = out.Records?.length ?? 0;
        fresh += n;
        if (n > 0 || (out.MillisBehindLatest ?? 0) > 0) caughtUp = false;
      }
      if (!follow) {
        if ((caughtUp || !settle) && goal(records)) break;
        if (Date.now() > deadline) {
          return {records: records.sort(compareRecords), complete: false};
        }
      }
      if (fresh === 0) await delay(kPollInterval);
    }
  } finally {
    client.destroy();
  }
  return {records: records.sort(compareRecords), complete: true};
}

function prettyLine(record) {
  let body = record.data;
  try {
    const m = JSON.parse(record.data);
    const where = m?.metadata ? `${m.metadata.table_schema}.${m.metadata.table_name}` : '';
    body = `${m?.action ?? '?'} ${where} record=${JSON.stringify(m?.record ?? null)}` +
        (m?.changes ? ` changes=${JSON.stringify(m.changes)}` : '') +
        (m?.metadata?.commit_lsn !== undefined ? ` lsn=${m.metadata.commit_lsn}:${m.metadata.commit_idx}` : '');
  } catch {
    // not JSON: print the raw text
  }
  return `${record.shard} key=${record.partitionKey} ${body}`;
}

async function main() {
  process.stdout.on('error', (err) => {  // e.g. piped into `head`
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  const flags = parseFlags(process.argv.slice(2), {
    endpoint: 'string', stream: 'string', region: 'string', expect: 'int', 'timeout-ms': 'int',
    follow: 'bool', format: 'string',
  });
  const follow = flags.follow === true;
  const format = flags.format ?? 'json';
  if (!['json', 'pretty'].includes(format)) throw new Error('--format is json or pretty');
  const print = (r) => process.stdout.write(
      (format === 'pretty' ? prettyLine(r) : JSON.stringify(r)) + '\n');
  if (follow) {
    const abort = new AbortController();
    for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => abort.abort());
    await readStream({...flags, follow: true, onRecord: print, signal: abort.signal});
    return;
  }
  const {records, complete} = await readStream(flags);
  for (const r of records) print(r);
  if (!complete) {
    process.stderr.write(`read_stream: timed out with ${records.length} of ${flags.expect} records\n`);
    process.exitCode = 3;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => {
    process.stderr.write(`read_stream: ${err.name ?? 'Error'}: ${err.message}\n`);
    process.exit(1);
  });
}
