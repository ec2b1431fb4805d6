#!/usr/bin/env node
// Browser smoke test for Passage.
//
// Starts `passage demo` on a free loopback port with a fresh temporary data dir, drives
// headless Chromium through playwright-core (no browser download: it uses the system
// Chromium), and checks the sign-in flow, roles, cookies, page weight and the absence of
// console errors / CSP violations. Screenshots go to ./screenshots/. Shared helpers: lib.mjs.
//
//   cd e2e && npm ci && node smoke.mjs
//
// Environment:
//   PASSAGE_BIN  path to the passage binary (default: ../target/debug/passage)
//   CHROMIUM     path to a Chromium executable (default: /usr/bin/chromium)
//   SMOKE_DEBUG=1  print every console error the pages log, allowed or not
//
// Exits 0 when every check passed, 1 otherwise (the failing check is named on stderr).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  PHONE,
  SHOTS,
  TABLET,
  assertNoProblems,
  assertNotRefusedAsCrossSite,
  bodySizes,
  check,
  expectStatus,
  log,
  main,
  newContext,
  newPage,
  pendingSizes,
  sessionCookie,
  signIn,
  startDemoAndBrowser,
  wireSizes,
} from './lib.mjs';

const PAGE_WEIGHT_LIMIT = 100 * 1024;

// ---------------------------------------------------------------------------------------
// Page weight

/**
 * Cold-cache weight of the page now shown: the document's body plus every stylesheet,
 * script and image it references (counted whether or not the browser had them cached).
 */
async function pageWeight(page, base) {
  await Promise.all([...pendingSizes]);
  const docUrl = page.url();
  const docHtml = await page.evaluate(() => document.documentElement.outerHTML);
  const urls = await page.evaluate(() =>
    [
      ...[...document.querySelectorAll('link[rel~="stylesheet"][href], link[rel~="icon"][href]')].map((e) => e.href),
      ...[...document.querySelectorAll('script[src]')].map((e) => e.src),
      ...[...document.querySelectorAll('img[src]')].map((e) => e.currentSrc || e.src),
    ].filter((u) => u && !u.startsWith('data:')),
  );
  let doc = bodySizes.get(docUrl);
  if (doc === undefined) doc = Buffer.byteLength(docHtml); // e.g. a POST-rendered page
  let total = doc;
  const parts = [`document ${doc}`];
  for (const u of new Set(urls)) {
    let n = bodySizes.get(u);
    if (n === undefined) {
      assert.ok(u.startsWith(base), `page ${docUrl} loads a resource from another origin: ${u}`);
      const r = await page.context().request.get(u);
      n = (await r.body()).length;
      bodySizes.set(u, n);
    }
    total += n;
    parts.push(`${new URL(u).pathname} ${n}`);
  }
  return { total, detail: parts.join(', ') };
}

async function assertWeight(page, base, label) {
  const { total, detail } = await pageWeight(page, base);
  log(`       weight of ${label}: ${(total / 1024).toFixed(1)} KB (${detail})`);
  assert.ok(total < PAGE_WEIGHT_LIMIT, `${label} weighs ${total} bytes (limit ${PAGE_WEIGHT_LIMIT}): ${detail}`);
}

// ---------------------------------------------------------------------------------------
// The checks

async function run() {
  const { base, tmpRoot, accounts } = await startDemoAndBrowser('smoke');
  const caseworker = accounts.get('caseworker');
  const admin = accounts.get('admin');
  assert.ok(caseworker?.password, 'demo-accounts.txt has no caseworker account');
  assert.ok(admin?.password, 'demo-accounts.txt has no admin account');

  // --- caseworker ----------------------------------------------------------------------
  const ctx = await newContext();
  const page = await newPage(ctx, 'caseworker');

  await check('login page renders with a sign-in form', async () => {
    const res = await page.goto(`${base}/login`);
    assert.equal(res.status(), 200);
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    assert.equal(await page.locator('input[name="username"]').count(), 1);
    assert.equal(await page.locator('input[name="password"][type="password"]').count(), 1);
    const csp = res.headers()['content-security-policy'] || '';
    assert.match(csp, /script-src 'self'/, `login page CSP is ${JSON.stringify(csp)}`);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/, `login page CSP is ${JSON.stringify(csp)}`);
    await page.screenshot({ path: path.join(SHOTS, 'login.png'), fullPage: true });
    await assertWeight(page, base, '/login');
    assertNoProblems('on /login');
  });

  await check('wrong password gives 401 and an error message', async () => {
    expectStatus(`${base}/login`, 401);
    const res = await signIn(page, base, 'caseworker', `${caseworker.password}-wrong`);
    assert.equal(res.status(), 401, `POST /login with a wrong password answered ${res.status()}`);
    assert.equal(new URL(page.url()).pathname, '/login');
    const alert = page.getByRole('alert');
    await alert.waitFor();
    assert.match(await alert.innerText(), /wrong username or password/i);
    await page.screenshot({ path: path.join(SHOTS, 'login-wrong-password.png'), fullPage: true });
    assert.equal(sessionCookie(await ctx.cookies()), undefined, 'a failed sign-in set a session cookie');
    assertNoProblems('after a wrong password');
  });

  await check('caseworker signs in and lands on the home page', async () => {
    await signIn(page, base, 'caseworker', caseworker.password);
    assert.equal(new URL(page.url()).pathname, '/', `after sign-in the browser is at ${page.url()}`);
    assert.match(await page.locator('h1').first().innerText(), /Welcome/);
    assert.equal((await page.locator('#count-counties').innerText()).trim(), '15');
    for (const id of ['#count-crossing-points', '#count-organisations']) {
      assert.match((await page.locator(id).innerText()).trim(), /^\d+$/, `${id} is not a number`);
    }
    assert.ok(Number(await page.locator('#count-crossing-points').innerText()) > 0, 'no crossing points');
    assert.ok(Number(await page.locator('#count-organisations').innerText()) > 0, 'no organisations');
    // Caseworkers may not read the audit log, so the menu should not offer it.
    assert.equal(await page.locator('header nav a[href="/audit"]').count(), 0, 'caseworker menu links to /audit');
    await page.screenshot({ path: path.join(SHOTS, 'home-caseworker.png'), fullPage: true });
    await assertWeight(page, base, '/ (caseworker)');
    assertNoProblems('on / (caseworker)');
  });

  await check('home page fits a phone screen', async () => {
    await page.setViewportSize(PHONE);
    await page.reload();
    await page.screenshot({ path: path.join(SHOTS, 'home-caseworker-phone.png'), fullPage: true });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `home page is ${overflow}px wider than a ${PHONE.width}px phone screen`);
    await page.setViewportSize(TABLET);
    assertNoProblems('on / (phone)');
  });

  let cwCookie;
  await check('session cookie is HttpOnly and SameSite=Lax', async () => {
    cwCookie = sessionCookie(await ctx.cookies());
    assert.ok(cwCookie, `no session cookie among ${JSON.stringify((await ctx.cookies()).map((c) => c.name))}`);
    assert.equal(cwCookie.httpOnly, true, 'session cookie is not HttpOnly');
    assert.equal(cwCookie.sameSite, 'Lax', `session cookie SameSite is ${cwCookie.sameSite}`);
    assert.equal(cwCookie.path, '/', `session cookie path is ${cwCookie.path}`);
    const visible = await page.evaluate(() => document.cookie);
    assert.ok(!visible.includes(cwCookie.value), 'session token readable from document.cookie');
  });

  await check('caseworker gets 403 on /audit', async () => {
    expectStatus(`${base}/audit`, 403);
    const res = await page.goto(`${base}/audit`);
    assert.equal(res.status(), 403, `/audit answered ${res.status()} for a caseworker`);
    assert.match(await page.locator('h1').first().innerText(), /403/);
    assert.equal(await page.locator('#events').count(), 0, '403 page shows audit events');
    await page.screenshot({ path: path.join(SHOTS, 'audit-403-caseworker.png'), fullPage: true });
    assertNoProblems('on /audit (caseworker)');
  });

  await check('/places lists Bo Waterside', async () => {
    const res = await page.goto(`${base}/places`);
    assert.equal(res.status(), 200);
    await page.getByRole('cell', { name: 'Bo Waterside', exact: true }).first().waitFor();
    await page.screenshot({ path: path.join(SHOTS, 'places-caseworker.png'), fullPage: true });
    await assertWeight(page, base, '/places');
    assertNoProblems('on /places');
  });

  await check('signing out returns to /login and ends the session', async () => {
    await page.goto(`${base}/`);
    const [res] = await Promise.all([
      page.waitForResponse((r) => r.url() === `${base}/logout` && r.request().method() === 'POST'),
      page.locator('header').getByRole('button', { name: 'Sign out' }).click(),
    ]);
    await page.waitForLoadState('load');
    await assertNotRefusedAsCrossSite(page, res);
    assert.equal(new URL(page.url()).pathname, '/login', `after sign-out the browser is at ${page.url()}`);
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    const again = await page.goto(`${base}/`);
    assert.equal(new URL(page.url()).pathname, '/login', `after sign-out / shows ${page.url()}`);
    assert.equal(again.status(), 200);
    assertNoProblems('after sign-out');
  });

  await check('the signed-out session token no longer works', async () => {
    // Replay the old cookie in a clean context: the server must have ended the session,
    // not merely asked the browser to forget it.
    const replay = await newContext();
    try {
      await replay.addCookies([{ ...cwCookie }]);
      const p = await newPage(replay, 'replayed cookie');
      await p.goto(`${base}/`);
      assert.equal(new URL(p.url()).pathname, '/login', `old session cookie still opens ${p.url()}`);
      assertNoProblems('with a replayed cookie');
    } finally {
      await replay.close();
    }
  });
  await ctx.close();

  // --- administrator --------------------------------------------------------------------
  const actx = await newContext();
  const apage = await newPage(actx, 'admin');

  await check('admin signs in and sees IOM Liberia among organisations', async () => {
    await signIn(apage, base, 'admin', admin.password);
    assert.equal(new URL(apage.url()).pathname, '/', `after sign-in the browser is at ${apage.url()}`);
    assert.match(await apage.locator('h1').first().innerText(), /Welcome/);
    const res = await apage.goto(`${base}/organisations`);
    assert.equal(res.status(), 200);
    await apage.getByRole('link', { name: 'IOM Liberia', exact: true }).waitFor();
    await assertWeight(apage, base, '/organisations');
    assertNoProblems('on /organisations');
  });

  await check('IOM Liberia lists caseworker as a member', async () => {
    await Promise.all([
      apage.waitForURL((u) => /^\/organisations\/[^/]+$/.test(u.pathname)),
      apage.getByRole('link', { name: 'IOM Liberia', exact: true }).click(),
    ]);
    assert.match(await apage.locator('h1').first().innerText(), /IOM Liberia/);
    const members = apage.locator('table').first();
    await members.waitFor();
    assert.match(await members.locator('thead').innerText(), /Username/);
    const usernames = await members.locator('tbody tr td:nth-child(2)').allInnerTexts();
    assert.ok(
      usernames.map((s) => s.trim()).includes('caseworker'),
      `members table usernames: ${JSON.stringify(usernames)}`,
    );
    await apage.screenshot({ path: path.join(SHOTS, 'organisation-admin.png'), fullPage: true });
    await assertWeight(apage, base, apage.url().slice(base.length));
    assertNoProblems('on the organisation page');
  });

  await check('a bad form upload is refused with its reasons, nothing changed', async () => {
    await apage.goto(`${base}/forms`);
    const before = await apage.locator('tbody tr').allInnerTexts();
    assert.equal(before.length, 5, `programmes listed: ${JSON.stringify(before)}`);
    const bad = path.join(tmpRoot, 'not-a-form.xlsx');
    fs.writeFileSync(bad, 'this is not a spreadsheet');
    await apage.selectOption('#form-programme', 'ct');
    await apage.setInputFiles('#form-file', bad);
    const action = await apage.locator('form[enctype="multipart/form-data"]').getAttribute('action');
    expectStatus(`${base}${action}`, 422);
    const [res] = await Promise.all([
      apage.waitForResponse((r) => r.url().startsWith(`${base}/forms/upload`) && r.request().method() === 'POST'),
      apage.getByRole('button', { name: 'Upload' }).click(),
    ]);
    assert.equal(res.status(), 422);
    const problems = await apage.locator('#form-problems').innerText();
    assert.match(problems, /nothing was changed/);
    assert.match(problems, /workbook: not a readable \.xlsx/);
    assert.deepEqual(await apage.locator('tbody tr').allInnerTexts(), before, 'the current forms are unchanged');
    await apage.screenshot({ path: path.join(SHOTS, 'forms-refused.png'), fullPage: true });
    assertNoProblems('on the forms page');
  });
  await actx.close();

  const wire = wireSizes.reduce((s, x) => s + x.bytes, 0);
  log(`       ${wireSizes.length} GET responses, ${(wire / 1024).toFixed(1)} KB over the wire in total`);
  assertNoProblems('at the end');
}

// ---------------------------------------------------------------------------------------

await main('smoke', run);
