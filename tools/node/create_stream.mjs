#!/usr/bin/env node
// Creates a Kinesis stream and waits until it is ACTIVE.
//
//   node create_stream.mjs --endpoint http://127.0.0.1:4567 --stream NAME
//                          [--shards N (default 1)] [--region us-east-1] [--timeout-ms 30000]
//
// Prints {"stream": NAME, "arn": ARN, "shards": N} on stdout. An existing
// stream is an error. Also importable: createStream(options) -> {stream, arn, shards}.
import {CreateStreamCommand, DescribeStreamSummaryCommand} from '@aws-sdk/client-kinesis';
import {pathToFileURL} from 'node:url';
import {setTimeout as delay} from 'node:timers/promises';

import {makeKinesisClient, parseFlags} from './kinesis_client.mjs';

export async function createStream({endpoint, region = 'us-east-1', stream, shards = 1,
                                    timeoutMs = 30000}) {
  if (!stream) throw new Error('a --stream name is required');
  const client = makeKinesisClient({endpoint, region});
  try {
    await client.send(new CreateStreamCommand({StreamName: stream, ShardCount: shards}));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const {StreamDescriptionSummary: summary} =
          await client.send(new DescribeStreamSummaryCommand({StreamName: stream}));
      if (summary.StreamStatus === 'ACTIVE') {
        return {stream, arn: summary.StreamARN, shards: summary.OpenShardCount ?? shards};
      }
      if (Date.now() > deadline) {
        throw new Error(`stream ${stream} still ${summary.StreamStatus} after ${timeoutMs} ms`);
      }
      await delay(50);  // polling the emulator's state machine
    }
  } finally {
    client.destroy();
  }
}

async function main() {
  const flags = parseFlags(process.argv.slice(2), {
    endpoint: 'string', stream: 'string', shards: 'int', region: 'string', 'timeout-ms': 'int',
  });
  const result = await createStream(flags);
  process.stdout.write(JSON.stringify(result) + '\n');
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => {
    process.stderr.write(`create_stream: ${err.name ?? 'Error'}: ${err.message}\n`);
    process.exit(1);
  });
}
