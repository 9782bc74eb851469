#!/usr/bin/env node
// get-ratecard.js reads a RateCard through the unmodified Azure SDK for
// JavaScript (@azure/arm-commerce 3.0.0, rateCard.get) and prints what the
// SDK decoded, as JSON on one line:
//
//   {"result": <the decoded ResourceRateCardInfo>, "apiVersion": "...",
//    "contentEncoding": "gzip" | null}
//
// The result is printed as the SDK returns it: camelCase properties,
// numbers as JavaScript numbers, EffectiveDate as a Date (printed with
// milliseconds, "2017-09-01T00:00:00.000Z"), offer terms as the SDK's
// polymorphic types (their "name" is the wire Name), and properties the
// SDK's model does not know (MeterStatus) kept as the server sent them.
// When the server refuses the query, it prints
//
//   {"error": {"statusCode": 400, "code": "InvalidFilter", "message": "..."}}
//
// and exits with status 3; any other failure exits with status 1.
//
// Usage:
//   node get-ratecard.js [--base-url URL] [--subscription GUID] [--filter FILTER]
//                        [--api-version 2015-06-01-preview|2016-08-31-preview]
//
// Each option may also come from the environment: RECKON_BASE_URL,
// RECKON_SUBSCRIPTION, RECKON_FILTER, RECKON_API_VERSION. The filter
// defaults to Azure's example ("OfferDurableId eq 'MS-AZR-0003P' and
// Currency eq 'USD' and Locale eq 'en-US' and RegionInfo eq 'US'"); the
// api-version to the SDK's own (2015-06-01-preview). RECKON_TOKEN is the
// bearer token sent (any token works against "reckon serve --demo"). For a
// server with a self-signed certificate, set NODE_EXTRA_CA_CERTS to its PEM
// file.
"use strict";

const { UsageManagementClient } = require("@azure/arm-commerce");

const options = {
  "base-url": "RECKON_BASE_URL",
  subscription: "RECKON_SUBSCRIPTION",
  filter: "RECKON_FILTER",
  "api-version": "RECKON_API_VERSION",
};

const defaultFilter =
  "OfferDurableId eq 'MS-AZR-0003P' and Currency eq 'USD' and Locale eq 'en-US' and RegionInfo eq 'US'";

function parseArgs(argv, env) {
  const out = {};
  for (const [name, variable] of Object.entries(options)) {
    if (env[variable]) out[name] = env[variable];
  }
  for (let i = 0; i < argv.length; i++) {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(argv[i]);
    if (!m || !(m[1] in options)) throw new Error(`unknown argument ${argv[i]}`);
    out[m[1]] = m[2] !== undefined ? m[2] : argv[++i];
    if (out[m[1]] === undefined) throw new Error(`--${m[1]} needs a value`);
  }
  for (const name of ["base-url", "subscription"]) {
    if (!out[name]) throw new Error(`--${name} (or ${options[name]}) is required`);
  }
  if (out.filter === undefined) out.filter = defaultFilter;
  return out;
}

async function main() {
  const args = parseArgs(process.argv.slice(2), process.env);
  const token = process.env.RECKON_TOKEN || "fake-token";
  // Any object with getToken is a TokenCredential to the SDK.
  const credential = {
    getToken: async () => ({ token, expiresOnTimestamp: Date.now() + 3600 * 1000 }),
  };
  const client = new UsageManagementClient(credential, args.subscription, {
    baseUri: args["base-url"],
    noRetryPolicy: true,
  });
  if (args["api-version"]) client.apiVersion = args["api-version"];
  let result;
  try {
    result = await client.rateCard.get(args.filter);
  } catch (err) {
    if (err && err.statusCode) {
      const error = { statusCode: err.statusCode, code: err.code, message: err.message };
      process.stdout.write(JSON.stringify({ error }) + "\n");
      process.exit(3);
    }
    throw err;
  }
  const response = result._response; // not enumerable: JSON.stringify leaves it out
  const apiVersion = new URL(response.request.url).searchParams.get("api-version");
  const contentEncoding = response.headers.get("content-encoding") || null;
  process.stdout.write(JSON.stringify({ result, apiVersion, contentEncoding }) + "\n");
}

main().catch((err) => {
  process.stderr.write(`get-ratecard: ${err && err.message ? err.message : err}\n`);
  process.exit(1);
});
