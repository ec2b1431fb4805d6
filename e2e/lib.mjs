// Shared helpers for the browser end-to-end tests (smoke.mjs, casework.mjs).
//
// Each test script is its own node process, so the state kept here (the server, the browser,
// the problems the pages reported) belongs to that one run.
//
// Environment:
//   PASSAGE_BIN  path to the passage binary (default: ../target/debug/passage)
//   CHROMIUM     path to a Chromium executable (default: /usr/bin/chromium)
//   SMOKE_DEBUG=1 or E2E_DEBUG=1  print every console error the pages log, allowed or not

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const BIN = path.resolve(HERE, process.env.PASSAGE_BIN || '../target/debug/passage');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const SHOTS = path.join(HERE, 'screenshots');
export const START_TIMEOUT_MS = 60_000;
export const ACTION_TIMEOUT_MS = 30_000; // debug build + password hashing on a small machine
export const TABLET = { width: 1024, height: 768 };
export const PHONE = { width: 390, height: 844 };
const DEBUG = Boolean(process.env.SMOKE_DEBUG || process.env.E2E_DEBUG);

// ---------------------------------------------------------------------------------------
// Small helpers

export const log = (...a) => console.log(...a);
let server = null; // { child, stdout: string[], stderr: string[], exited?: true }
let tmpRoot = null;
let browser = null;
let passed = 0;

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Starts `passage demo` and resolves with its base URL once it says it is serving. */
export function startServer(dataDir, port) {
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, ['demo', '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    });
    const stdout = [];
    const stderr = [];
    server = { child, stdout, stderr };
    let done = false;
    const finish = (err, url) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      err ? reject(err) : resolve(url);
    };
    const timer = setTimeout(
      () => finish(new Error(`passage did not print "Passage is serving" within ${START_TIMEOUT_MS / 1000} s`)),
      START_TIMEOUT_MS,
    );
    let buf = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      stdout.push(chunk);
      buf += chunk;
      const m = buf.match(/Passage is serving (http:\/\/\S+?)\/?\s/);
      if (m) finish(null, m[1].replace(/\/$/, ''));
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => {
      stderr.push(chunk);
      // Every line is checked, not only the tail kept below.
      for (const secret of forbiddenInLogs) if (chunk.includes(secret)) leakedToLogs.add(secret);
      // keep only the tail in memory: the server logs every request
      if (stderr.length > 2000) stderr.splice(0, stderr.length - 1000);
    });
    child.on('error', (e) => finish(new Error(`cannot start ${BIN}: ${e.message}`)));
    child.on('exit', (code, signal) => {
      server.exited = true;
      finish(new Error(`passage exited early (code ${code}, signal ${signal})`));
    });
  });
}

// Personal values a test typed or read: none may ever reach the server's log.
const forbiddenInLogs = new Set();
const leakedToLogs = new Set();

/** From now on, the server's log must never contain any of `values`. */
export function forbidInLogs(...values) {
  for (const v of values) if (v && v.length >= 4) forbiddenInLogs.add(v);
}

/** Fails (without quoting them) if any forbidden value appeared in the server's log. */
export function assertLogsClean(where) {
  // Chunks may split a value: the kept tail is searched whole as well.
  const tail = server ? server.stderr.join('') : '';
  for (const secret of forbiddenInLogs) if (tail.includes(secret)) leakedToLogs.add(secret);
  assert.equal(leakedToLogs.size, 0, `${where}: ${leakedToLogs.size} personal value(s) appeared in the server log`);
  assert.ok(forbiddenInLogs.size > 0, `${where}: the log check had nothing to look for`);
}

export async function stopServer() {
  if (!server || server.exited) return;
  const { child } = server;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(t);
}

export function serverStderrTail(lines = 60) {
  if (!server) return '';
  return server.stderr.join('').split('\n').slice(-lines).join('\n');
}

/** username -> { password, role, organisation } from DIR/demo-accounts.txt */
export function readAccounts(dataDir) {
  const file = path.join(dataDir, 'demo-accounts.txt');
  const accounts = new Map();
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim() || line.startsWith('#')) continue;
    const [username, password, role, organisation] = line.split('\t');
    accounts.set(username, { password, role, organisation });
  }
  return accounts;
}

/** Runs one named check; the first failure aborts the run with the check's name. */
export async function check(name, fn) {
  try {
    await fn();
    passed += 1;
    log(`  ok   ${name}`);
  } catch (e) {
    e.checkName = name;
    throw e;
  }
}

/**
 * Checks the binary and Chromium are there, starts `passage demo` on a free port with a fresh
 * temporary data dir and launches headless Chromium.
 * Resolves with { base, dataDir, tmpRoot, accounts }.
 */
export async function startDemoAndBrowser(prefix) {
  assert.ok(fs.existsSync(BIN), `passage binary not found at ${BIN} (set PASSAGE_BIN)`);
  assert.ok(fs.existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM} (set CHROMIUM)`);
  fs.mkdirSync(SHOTS, { recursive: true });

  tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), `passage-${prefix}-`));
  const dataDir = path.join(tmpRoot, 'data');
  const port = await freePort();
  log(`Starting ${BIN} demo on 127.0.0.1:${port} (data dir ${dataDir})`);
  const base = await startServer(dataDir, port);
  log(`Server up at ${base}`);
  const accounts = readAccounts(dataDir);

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-quic',
      '--no-first-run',
    ],
  });
  log(`Chromium ${browser.version()}`);
  return { base, dataDir, tmpRoot, accounts };
}

// ---------------------------------------------------------------------------------------
// Browser-side instrumentation

/**
 * Every page made through here reports console errors, uncaught exceptions, CSP violations
 * and failed requests into `problems`. A document answered with an expected error status
 * (401 for a wrong password, 403 for a forbidden page) makes Chromium log
 * "Failed to load resource: ... status of 4xx"; those are allowed only for the exact URL and
 * status the test expects (see `expectStatus`).
 */
export const problems = [];
const expectedStatus = []; // { url, status }
export const bodySizes = new Map(); // url -> decoded body bytes (the server does not compress)
export const wireSizes = []; // { url, bytes } actually transferred, for information
export const pendingSizes = new Set(); // response handlers still reading bodies

export function expectStatus(url, status) {
  expectedStatus.push({ url, status });
}

export async function newPage(context, label) {
  const page = await context.newPage();
  page.setDefaultTimeout(ACTION_TIMEOUT_MS);
  page.setDefaultNavigationTimeout(ACTION_TIMEOUT_MS);
  // Surface CSP violations explicitly (they also appear as console errors).
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || '(inline)'} in ${e.sourceFile || e.documentURI}:${e.lineNumber}`);
    });
  });
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const text = msg.text();
    const where = msg.location()?.url || page.url();
    const allowed = expectedStatus.some(
      (x) => where === x.url && text.includes(`status of ${x.status}`) && text.startsWith('Failed to load resource'),
    );
    if (DEBUG) console.log(`[debug console] ${where}: ${text}`);
    if (!allowed) problems.push(`[${label}] console error at ${where}: ${text}`);
  });
  page.on('pageerror', (err) => problems.push(`[${label}] uncaught exception at ${page.url()}: ${err.message}`));
  page.on('requestfailed', (req) => {
    const err = req.failure()?.errorText;
    // A navigation that replaces a page cancels that page's unfinished requests; not a fault.
    if (err === 'net::ERR_ABORTED') return;
    problems.push(`[${label}] request failed: ${req.method()} ${req.url()}: ${err}`);
  });
  page.on('response', (res) => {
    const p = recordSize(res).finally(() => pendingSizes.delete(p));
    pendingSizes.add(p);
  });
  return page;
}

async function recordSize(res) {
  try {
    const req = res.request();
    if (req.method() !== 'GET' || res.status() >= 300 && res.status() < 400) return;
    const body = await res.body();
    bodySizes.set(res.url(), body.length);
    const sizes = await req.sizes();
    wireSizes.push({ url: res.url(), bytes: sizes.responseBodySize + sizes.responseHeadersSize });
  } catch {
    // the page may have navigated on; sizes of that response are then unknown
  }
}

export function assertNoProblems(where) {
  assert.deepEqual(problems, [], `console errors / CSP violations / failed requests ${where}:\n  ${problems.join('\n  ')}`);
}

/**
 * Signs in through the form. Where the user's role requires two-step verification, it goes on
 * like the user would: the first time it reads the key the set-up page shows (as a phone's
 * authenticator app would scan it), then types the app's current code. Returns the password
 * POST's response.
 */
export async function signIn(page, base, username, password) {
  await page.goto(`${base}/login`);
  await page.locator('input[name="username"]').fill(username);
  await page.locator('input[name="password"]').fill(password);
  const [res] = await Promise.all([
    page.waitForResponse((r) => r.url() === `${base}/login` && r.request().method() === 'POST'),
    page.getByRole('button', { name: 'Sign in' }).click(),
  ]);
  await page.waitForLoadState('load');
  await assertNotRefusedAsCrossSite(page, res);
  if (new URL(page.url()).pathname === '/login/second-factor') {
    await answerSecondFactor(page, base, username);
  }
  return res;
}

/** The demo users' authenticator apps: username -> { secret, lastStep }. */
export const phones = new Map();

function base32Decode(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const ch of text.replace(/\s+/g, '').toUpperCase()) {
    const v = alphabet.indexOf(ch);
    assert.ok(v >= 0, `not base32: ${ch}`);
    bits += v.toString(2).padStart(5, '0');
  }
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}

/** RFC 6238 (HMAC-SHA-1, 6 digits, 30 s), as authenticator apps compute it. */
export function totp(secret, step) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = crypto.createHmac('sha1', secret).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const value = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return String(value).padStart(6, '0');
}

/** The next code Passage has not seen yet (it refuses a code twice), waiting if need be. */
async function nextCode(username) {
  const phone = phones.get(username);
  assert.ok(phone, `${username} has no authenticator set up`);
  for (;;) {
    const now = Date.now() / 1000;
    const current = Math.floor(now / 30);
    const step = Math.max(phone.lastStep + 1, current);
    if (step <= current + 1) {
      phone.lastStep = step;
      return totp(phone.secret, step);
    }
    await new Promise((r) => setTimeout(r, ((step - 1) * 30 - now) * 1000 + 200));
  }
}

export async function answerSecondFactor(page, base, username) {
  const key = page.locator('[data-totp-secret]');
  if (await key.count()) phones.set(username, { secret: base32Decode(await key.innerText()), lastStep: 0 });
  await page.locator('input[name="code"]').fill(await nextCode(username));
  const [res] = await Promise.all([
    page.waitForResponse((r) => r.url() === `${base}/login/second-factor` && r.request().method() === 'POST'),
    page.locator('main form button[type="submit"]').click(),
  ]);
  await page.waitForLoadState('load');
  await assertNotRefusedAsCrossSite(page, res);
  assert.equal(res.status(), 303, `the second factor for ${username} answered ${res.status()}`);
}

/** Presses "Sign out" in the page header and waits for the sign-in page. */
export async function signOut(page, base) {
  const [res] = await Promise.all([
    page.waitForResponse((r) => r.url() === `${base}/logout` && r.request().method() === 'POST'),
    page.locator('header').getByRole('button', { name: 'Sign out' }).click(),
  ]);
  await page.waitForLoadState('load');
  await assertNotRefusedAsCrossSite(page, res);
  assert.equal(new URL(page.url()).pathname, '/login', `after sign-out the browser is at ${page.url()}`);
  return res;
}

/** A same-origin form POST must never meet the "Cross-site request refused" page. */
export async function assertNotRefusedAsCrossSite(page, res) {
  if (res.status() !== 403) return;
  const text = await page.locator('main').innerText().catch(() => '');
  const origin = await res.request().headerValue('origin');
  const site = await res.request().headerValue('sec-fetch-site');
  assert.ok(!/cross-site request refused/i.test(text),
    `${new URL(res.url()).pathname} refused a same-origin form POST (Origin: ${origin}, Sec-Fetch-Site: ${site})`);
}

export async function newContext() {
  return browser.newContext({ viewport: TABLET });
}

export function sessionCookie(cookies) {
  return cookies.find((c) => /passage_session$/.test(c.name));
}

// ---------------------------------------------------------------------------------------
// Running a test script

export async function cleanup() {
  try {
    if (browser) await browser.close();
  } catch (e) {
    console.error(`(closing the browser failed: ${e.message})`);
  }
  browser = null;
  try {
    await stopServer();
  } catch (e) {
    console.error(`(stopping the server failed: ${e.message})`);
  }
  if (tmpRoot) fs.rmSync(tmpRoot, { recursive: true, force: true });
  tmpRoot = null;
}

/**
 * Runs `run()`, reports `NAME: n passed, 0 failed` or the failing check with the server's
 * stderr tail, always cleans up, and exits 0 or 1. Cleans up on SIGINT / SIGTERM too.
 */
export async function main(name, run) {
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.once(sig, async () => {
      console.error(`\n${name}: interrupted by ${sig}, cleaning up`);
      await cleanup();
      process.exit(130);
    });
  }

  let code = 0;
  try {
    await run();
    log(`\n${name}: ${passed} passed, 0 failed`);
  } catch (e) {
    code = 1;
    console.error(`\n${name}: FAILED${e.checkName ? ` in check "${e.checkName}"` : ''}`);
    console.error(e.message || e);
    if (!(e instanceof assert.AssertionError) && e.stack) console.error(e.stack.split('\n').slice(1, 6).join('\n'));
    const tail = serverStderrTail();
    if (tail.trim()) console.error(`\n--- passage stderr (tail) ---\n${tail}`);
    console.error(`\n${name}: ${passed} passed, 1 failed`);
  } finally {
    await cleanup();
  }
  process.exit(code);
}
