// Signs a request with the AWS SDK's own SigV4 signer (@smithy/signature-v4,
// the one @aws-sdk/client-kinesis uses) and prints the signed headers as JSON.
// The output is sluice's golden for its own signer (tests/testdata/sigv4/).
//
//   node tools/node/sign_reference.mjs tests/testdata/sigv4/putrecords_inputs.json <case>
//
// The inputs file maps case names to
//   { method, url, headers: [[name, value], ...], body, region, service,
//     signing_date (ISO 8601), access_key_id, secret_access_key,
//     session_token (optional), apply_checksum }.
// Printed: { "case", "request": <the inputs, verbatim>, "sdk_headers": {...} }
// with header names lower-cased and sorted. Nothing is sent anywhere.
import { readFileSync } from "node:fs";
import { Sha256 } from "@aws-crypto/sha256-js";
import { SignatureV4 } from "@smithy/signature-v4";

function usage(message) {
  process.stderr.write(`sign_reference: ${message}\n`);
  process.stderr.write("usage: node sign_reference.mjs <inputs.json> <case>\n");
  process.exit(2);
}

const [inputsPath, caseName] = process.argv.slice(2);
if (!inputsPath || !caseName) usage("missing arguments");
const inputs = JSON.parse(readFileSync(inputsPath, "utf8"));
const input = inputs[caseName];
if (!input) usage(`no case "${caseName}" in ${inputsPath}`);

const url = new URL(input.url);
const query = {};
for (const [key, value] of url.searchParams) query[key] = value;
const headers = {};
for (const [name, value] of input.headers) {
  if (name in headers) usage(`header ${name} given twice`);
  headers[name] = value;
}

const credentials = {
  accessKeyId: input.access_key_id,
  secretAccessKey: input.secret_access_key,
};
if (input.session_token) credentials.sessionToken = input.session_token;

const signer = new SignatureV4({
  credentials,
  region: input.region,
  service: input.service,
  sha256: Sha256,
  applyChecksum: input.apply_checksum,
});

const signed = await signer.signRequest(
  {
    method: input.method,
    protocol: url.protocol,
    hostname: url.hostname,
    port: url.port ? Number(url.port) : undefined,
    path: url.pathname,
    query,
    headers,
    body: input.body,
  },
  { signingDate: new Date(input.signing_date) },
);

const sdkHeaders = {};
const names = Object.keys(signed.headers).map((name) => [name.toLowerCase(), name]);
names.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
for (const [lower, name] of names) sdkHeaders[lower] = signed.headers[name];
process.stdout.write(
  JSON.stringify({ case: caseName, request: input, sdk_headers: sdkHeaders }, null, 2) + "\n",
);
