// A Kinesis client for the test tools: an explicit endpoint and region, and
// fixed dummy credentials so the SDK never consults any credential source
// (environment, profiles, container or instance metadata).
import {KinesisClient} from '@aws-sdk/client-kinesis';
import {NodeHttpHandler} from '@smithy/node-http-handler';
import http from 'node:http';

process.env.AWS_EC2_METADATA_DISABLED ??= 'true';
// The SDK warns on every node < 22 about its 2027 support window.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export const kDummyAccessKeyId = 'AKIAIOSFODNN7EXAMPLE';
export const kDummySecretAccessKey = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';

// credentials: {accessKeyId, secretAccessKey, sessionToken?}, default the
// dummy keys (e.g. for a signature-checking proxy that knows other keys).
export function makeKinesisClient({endpoint, region = 'us-east-1', credentials, maxAttempts = 5}) {
  if (!endpoint) throw new Error('an --endpoint is required (e.g. http://127.0.0.1:4567)');
  return new KinesisClient({
    endpoint,
    region,
    // A fresh object: the SDK annotates the credentials it is given.
    credentials: credentials ? {...credentials}
        : {accessKeyId: kDummyAccessKeyId, secretAccessKey: kDummySecretAccessKey},
    maxAttempts,
    // HTTP/1.1: the Kinesis client defaults to HTTP/2, which kinesis-local's
    // cleartext port answers with intermittent protocol errors.
    requestHandler: new NodeHttpHandler({
      httpAgent: new http.Agent({keepAlive: true}),
      connectionTimeout: 5000,
      requestTimeout: 30000,
    }),
  });
}

// Parses `--name value` / `--name=value` flags into an object; `spec` maps
// flag names to 'string' | 'int' | 'bool'. Unknown flags and missing values throw.
export function parseFlags(argv, spec) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    if (!arg.startsWith('--')) throw new Error(`unexpected argument: ${arg}`);
    arg = arg.slice(2);
    let value;
    const eq = arg.indexOf('=');
    if (eq >= 0) {
      value = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    if (!(arg in spec)) throw new Error(`unknown flag --${arg}`);
    if (spec[arg] === 'bool') {
      if (value !== undefined) throw new Error(`--${arg} takes no value`);
      value = true;
    } else if (value === undefined) {
      if (i + 1 >= argv.length) throw new Error(`--${arg} needs a value`);
      value = argv[++i];
    }
    if (spec[arg] === 'int') {
      if (!/^\d+$/.test(value)) throw new Error(`--${arg} must be a non-negative integer, got "${value}"`);
      value = Number(value);
    }
    out[arg.replace(/-([a-z])/g, (_, c) => c.toUpperCase())] = value;
  }
  return out;
}
