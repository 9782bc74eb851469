#!/usr/bin/env node
// list-usage.js lists UsageAggregates through the unmodified Azure SDK for
// JavaScript (@azure/arm-commerce 3.0.0) and prints what it read as JSON:
//
//   {"rows": n, "pages": n, "totalsByMeter": {meterId: "exact decimal"},
//    "floatTotalsByMeter": {meterId: number}}
//
// Usage:
//   node list-usage.js [--base-url URL] [--subscription GUID] [--start TIME]
//                      [--end TIME] [--granularity Daily|Hourly] [--show-details true|false]
//
// Each option may also come from the environment: RECKON_BASE_URL,
// RECKON_SUBSCRIPTION, RECKON_START, RECKON_END, RECKON_GRANULARITY,
// RECKON_SHOW_DETAILS; RECKON_TOKEN is the bearer token sent (any token
// works against "reckon serve --demo"). For a server with a self-signed
// certificate, set NODE_EXTRA_CA_CERTS to its PEM file.
//
// totalsByMeter is exact: each quantity the SDK decoded (a JavaScript
// number) is turned back into the decimal the server wrote, which is exact
// for quantities of up to 15 significant digits, and summed in integer
// billionths. floatTotalsByMeter is what a naive client adding numbers gets.
"use strict";

const { UsageManagementClient } = require("@azure/arm-commerce");

const options = {
  "base-url": "RECKON_BASE_URL",
  subscription: "RECKON_SUBSCRIPTION",
  start: "RECKON_START",
  end: "RECKON_END",
  granularity: "RECKON_GRANULARITY",
  "show-details": "RECKON_SHOW_DETAILS",
};

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
  for (const name of ["base-url", "subscription", "start", "end"]) {
    if (!out[name]) throw new Error(`--${name} (or ${options[name]}) is required`);
  }
  out.granularity = out.granularity || "Daily";
  const details = (out["show-details"] || "true").toLowerCase();
  if (details !== "true" && details !== "false") throw new Error("--show-details must be true or false");
  out.showDetails = details === "true";
  return out;
}

const NANOS = 1000000000n;

// toNanos returns the decimal a JavaScript number was decoded from, in
// billionths; its shortest round-trip form is that decimal when it has at
// most 15 significant digits.
function toNanos(x) {
  if (typeof x !== "number" || !Number.isFinite(x) || x < 0) throw new Error(`quantity ${x} is not a non-negative number`);
  const s = String(x);
  const m = /^(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/.exec(s);
  if (!m) throw new Error(`unexpected quantity ${s}`);
  const frac = m[2] || "";
  const digits = BigInt(m[1] + frac);
  const shift = (m[3] ? parseInt(m[3], 10) : 0) - frac.length + 9; // value = digits × 10^(shift-9)
  if (shift >= 0) return digits * 10n ** BigInt(shift);
  const div = 10n ** BigInt(-shift);
  if (digits % div !== 0n) throw new Error(`quantity ${s} has more than 9 fractional digits`);
  return digits / div;
}

function formatNanos(n) {
  const whole = n / NANOS;
  const frac = (n % NANOS).toString().padStart(9, "0").replace(/0+$/, "");
  return frac ? `${whole}.${frac}` : `${whole}`;
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
  const start = new Date(args.start);
  const end = new Date(args.end);
  const listOptions = { showDetails: args.showDetails, aggregationGranularity: args.granularity };

  let rows = 0;
  let pages = 0;
  const exact = new Map();
  const float = new Map();
  let page = await client.usageAggregates.list(start, end, listOptions);
  for (;;) {
    pages++;
    if (page.length > 1000) throw new Error(`page ${pages} has ${page.length} rows`);
    for (const row of page) {
      if (!row.meterId || row.type !== "Microsoft.Commerce/UsageAggregate" || !(row.usageStartTime instanceof Date)) {
        throw new Error(`unexpected row ${JSON.stringify(row)}`);
      }
      rows++;
      exact.set(row.meterId, (exact.get(row.meterId) || 0n) + toNanos(row.quantity));
      float.set(row.meterId, (float.get(row.meterId) || 0) + row.quantity);
    }
    if (!page.nextLink) break;
    if (pages >= 1000) throw new Error("more than 1000 pages");
    page = await client.usageAggregates.listNext(page.nextLink, start, end, listOptions);
  }
  const totalsByMeter = {};
  const floatTotalsByMeter = {};
  for (const id of [...exact.keys()].sort()) {
    totalsByMeter[id] = formatNanos(exact.get(id));
    floatTotalsByMeter[id] = float.get(id);
  }
  process.stdout.write(JSON.stringify({ rows, pages, totalsByMeter, floatTotalsByMeter }) + "\n");
}

main().catch((err) => {
  const detail = err && err.statusCode ? ` (HTTP ${err.statusCode}, code ${err.code})` : "";
  process.stderr.write(`list-usage: ${err && err.message ? err.message : err}${detail}\n`);
  process.exit(1);
});
