#!/usr/bin/env node
// list-invoices.js reads invoices through the unmodified Azure SDK for
// JavaScript (@azure/arm-billing 4.1.0, API 2020-05-01) and prints what it
// read as JSON:
//
//   {"subscription": {"pages": n, "invoices": [invoice…]},   listByBillingSubscription
//    "account":      {"pages": n, "invoices": [invoice…]},   listByBillingAccount
//    "get":          invoice,                                 get (by billing account)
//    "getById":      invoice,                                 getById (billingAccounts/default)
//    "download":     {"url", "expiryTime", "status", "contentType", "sha256"}}
//
// where invoice is {"name", "status", "documentType", "subscriptionId",
// "invoicePeriodStartDate", "invoicePeriodEndDate", "invoiceDate", "dueDate" (ISO
// strings), "totalAmount", "amountDue", "subTotal", "taxAmount" (numbers), "currency"}.
// The download is beginDownloadInvoiceAndWait (a long-running operation);
// its URL is then fetched without a token and the body hashed.
//
// Usage:
//   node list-invoices.js --base-url URL --subscription GUID --account NAME
//                         --start YYYY-MM-DD --end YYYY-MM-DD --invoice NAME
//
// Each option may also come from the environment (RECKON_BASE_URL,
// RECKON_SUBSCRIPTION, RECKON_ACCOUNT, RECKON_START, RECKON_END,
// RECKON_INVOICE); RECKON_TOKEN is the bearer token sent. For a server with
// a self-signed certificate, set NODE_EXTRA_CA_CERTS to its PEM file (the
// client insists on HTTPS for bearer tokens).
"use strict";

const crypto = require("crypto");
const https = require("https");
const { BillingManagementClient } = require("@azure/arm-billing");

const options = {
  "base-url": "RECKON_BASE_URL",
  subscription: "RECKON_SUBSCRIPTION",
  account: "RECKON_ACCOUNT",
  start: "RECKON_START",
  end: "RECKON_END",
  invoice: "RECKON_INVOICE",
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
  for (const name of Object.keys(options)) {
    if (!out[name]) throw new Error(`--${name} (or ${options[name]}) is required`);
  }
  return out;
}

const iso = (d) => (d instanceof Date ? d.toISOString() : d);

function invoice(inv) {
  return {
    name: inv.name,
    status: inv.status,
    documentType: inv.documentType,
    subscriptionId: inv.subscriptionId,
    invoicePeriodStartDate: iso(inv.invoicePeriodStartDate),
    invoicePeriodEndDate: iso(inv.invoicePeriodEndDate),
    invoiceDate: iso(inv.invoiceDate),
    dueDate: iso(inv.dueDate),
    totalAmount: inv.totalAmount && inv.totalAmount.value,
    amountDue: inv.amountDue && inv.amountDue.value,
    subTotal: inv.subTotal && inv.subTotal.value,
    taxAmount: inv.taxAmount && inv.taxAmount.value,
    currency: inv.totalAmount && inv.totalAmount.currency,
  };
}

async function pages(iter) {
  const out = { pages: 0, invoices: [] };
  for await (const page of iter.byPage()) {
    out.pages++;
    for (const inv of page) out.invoices.push(invoice(inv));
  }
  return out;
}

function fetch(url) {
  return new Promise((resolve, reject) => {
    https
      .get(url, (res) => {
        const hash = crypto.createHash("sha256");
        res.on("data", (chunk) => hash.update(chunk));
        res.on("end", () =>
          resolve({ status: res.statusCode, contentType: res.headers["content-type"], sha256: hash.digest("hex") }),
        );
        res.on("error", reject);
      })
      .on("error", reject);
  });
}

async function main() {
  const o = parseArgs(process.argv.slice(2), process.env);
  const token = process.env.RECKON_TOKEN || "any-token";
  const credential = { getToken: async () => ({ token, expiresOnTimestamp: Date.now() + 3600e3 }) };
  const client = new BillingManagementClient(credential, o.subscription, {
    endpoint: o["base-url"],
    credentialScopes: ["https://management.core.windows.net//.default"],
    retryOptions: { maxRetries: 0 },
  });
  const out = {};
  out.subscription = await pages(client.invoices.listByBillingSubscription(o.start, o.end));
  out.account = await pages(client.invoices.listByBillingAccount(o.account, o.start, o.end));
  out.get = invoice(await client.invoices.get(o.account, o.invoice));
  out.getById = invoice(await client.invoices.getById(o.invoice));
  const dl = await client.invoices.beginDownloadInvoiceAndWait(o.account, o.invoice, "DRS_" + o.invoice, {
    updateIntervalInMs: 1000,
  });
  out.download = { url: dl.url, expiryTime: dl.expiryTime, ...(await fetch(dl.url)) };
  process.stdout.write(JSON.stringify(out) + "\n");
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n${err.statusCode ? `status ${err.statusCode} code ${err.code}\n` : ""}`);
  process.exit(1);
});
