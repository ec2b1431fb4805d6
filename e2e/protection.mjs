#!/usr/bin/env node
// Browser end-to-end test of need to know on counter-trafficking cases (issue #7, item 4).
//
// Starts `passage demo` and drives headless Chromium through:
//   1. the caseworker lists counter-trafficking cases: those outside their cases show no name
//      ("Restricted"); opening one shows the case masked, with no way to change it;
//   2. they break the glass with a reason: the identity appears, with the time access ends;
//   3. the data protection focal point is told on the home page, reads who, which case and
//      why on the Data protection page, and marks it reviewed; from the case number they see
//      who accessed the person; the audit page highlights the access;
//   4. signing in, the caseworker (whose role requires it) sets up two-step verification from
//      the QR code's key; a wrong code is refused; the account page says it is on;
//   5. the focal point downloads everything held about the person as a PDF (read with
//      pdftotext: its parts and the case are there);
//   6. no console errors / CSP violations anywhere, and no name or reason in the server log.
//      Screenshots go to ./screenshots/.
//
//   cd e2e && npm ci && node protection.mjs
//
// Environment: PASSAGE_BIN, CHROMIUM, E2E_DEBUG (see lib.mjs).

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  SHOTS,
  answerSecondFactor,
  assertLogsClean,
  assertNoProblems,
  check,
  expectStatus,
  forbidInLogs,
  main,
  newContext,
  newPage,
  signIn,
  signOut,
  startDemoAndBrowser,
} from './lib.mjs';

const REASON = 'Shelter needs to confirm who arrives tonight; the case team cannot be reached';

async function run() {
  const { base, accounts } = await startDemoAndBrowser('protection');
  const ctx = await newContext();
  const page = await newPage(ctx, 'protection');
  forbidInLogs(REASON);

  await check('the caseworker sets up two-step verification at first sign-in; a wrong code is refused', async () => {
    await page.goto(`${base}/login`);
    await page.locator('input[name="username"]').fill('caseworker');
    await page.locator('input[name="password"]').fill(accounts.get('caseworker').password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${base}/login/second-factor`);
    await page.locator('.qr svg').waitFor();
    assert.match(await page.locator('[data-totp-secret]').innerText(), /^[A-Z2-7]{4}( [A-Z2-7]{4})+$/);
    await page.screenshot({ path: path.join(SHOTS, 'protection-second-factor.png'), fullPage: true });
    await page.goto(`${base}/cases`);
    assert.equal(new URL(page.url()).pathname, '/login/second-factor', 'nothing opens before the code');
    expectStatus(`${base}/login/second-factor`, 422);
    await page.locator('input[name="code"]').fill('000000');
    await page.locator('main form button[type="submit"]').click();
    await page.waitForLoadState('load');
    assert.match(await page.locator('[role="alert"]').innerText(), /not the current code/);
    await answerSecondFactor(page, base, 'caseworker');
    await page.goto(`${base}/account`);
    assert.match(await page.locator('#second-factor-state').innerText(), /^On/);
  });

  let number = '';
  await check('counter-trafficking cases outside the caseworker\'s cases are listed without a name', async () => {
    await page.goto(`${base}/cases?programme=ct`);
    const restricted = page.locator('#case-list tbody tr', { has: page.locator('.restricted-name') });
    assert.ok((await restricted.count()) >= 1, 'some CT cases are outside the caseworker\'s cases');
    number = (await restricted.first().locator('td').first().innerText()).trim();
    assert.match(number, /^CT-\d{4}-\d{6}$/);
    await page.screenshot({ path: path.join(SHOTS, 'protection-list.png'), fullPage: true });
    await restricted.first().locator('a').first().click();
    await page.waitForLoadState('load');
  });

  await check('the case opens masked, without edit or stage buttons', async () => {
    await page.locator('#need-to-know').waitFor();
    assert.equal(await page.locator('#case-person').count(), 0);
    assert.equal(await page.locator('#edit-case').count(), 0);
    assert.equal(await page.locator('form.move').count(), 0);
    await page.screenshot({ path: path.join(SHOTS, 'protection-masked.png'), fullPage: true });
  });

  await check('breaking the glass with a reason shows who the case is about, for a time', async () => {
    await page.locator('#need-to-know summary').click();
    await page.locator('#glass-reason').fill(REASON);
    await Promise.all([page.waitForURL(/\/cases\/[0-9a-f-]+$/), page.locator('#break-glass').click()]);
    await page.locator('#glass-open').waitFor();
    assert.match(await page.locator('#glass-open').innerText(), /Emergency access to this case until \d{4}-\d{2}-\d{2}/);
    const person = (await page.locator('#case-person').innerText()).trim();
    assert.ok(person.length > 0, 'the person is named');
    forbidInLogs(person, ...person.split(' ').filter((w) => w !== 'Demo'));
    assert.equal(await page.locator('#need-to-know').count(), 0);
    await page.screenshot({ path: path.join(SHOTS, 'protection-glass-open.png'), fullPage: true });
    await signOut(page, base);
  });

  await check('the focal point is told, reads the reason and marks it reviewed', async () => {
    await signIn(page, base, 'dpo', accounts.get('dpo').password);
    await page.locator('#glass-to-review').waitFor();
    await page.locator('#glass-to-review a').click();
    await page.waitForLoadState('load');
    const row = page.locator('#grants tbody tr.unreviewed').first();
    const text = await row.innerText();
    assert.ok(text.includes(number) && text.includes(REASON) && text.includes('Demo Caseworker'), text);
    await page.screenshot({ path: path.join(SHOTS, 'protection-review.png'), fullPage: true });
    await Promise.all([page.waitForURL(`${base}/data-protection`), row.getByRole('button', { name: 'Mark reviewed' }).click()]);
    assert.equal(await page.locator('#grants tbody tr.unreviewed').count(), 0);
    assert.match(await page.locator('#grants').innerText(), /Reviewed \d{4}-\d{2}-\d{2}/);
  });

  await check('the focal point sees who accessed the person of that case', async () => {
    await page.locator('#subject-access input[name="case_number"]').fill(number);
    await Promise.all([page.waitForURL(`${base}/data-protection/subject`), page.getByRole('button', { name: 'Who accessed them' }).click()]);
    const report = await page.locator('#access-report').innerText();
    assert.ok(report.includes('case.break_glass') && report.includes('case.view') && report.includes('Demo Caseworker'), report);
    await page.screenshot({ path: path.join(SHOTS, 'protection-access-report.png'), fullPage: true });
  });

  await check('the focal point downloads everything held about the person as a PDF', async () => {
    await page.locator('#subject-access input[name="case_number"]').fill(number);
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download everything held (PDF)' }).click(),
    ]);
    const file = path.join(SHOTS, 'protection-subject-access.pdf');
    await download.saveAs(file);
    assert.equal(fs.readFileSync(file).subarray(0, 5).toString(), '%PDF-');
    const text = execFileSync('pdftotext', ['-layout', file, '-']).toString();
    for (const heading of ['Subject access: everything held about one person', 'Identity', 'Consents', 'Cases', "Who accessed this person's records"]) {
      assert.ok(text.includes(heading), `the PDF has the heading ${heading}`);
    }
    assert.ok(text.includes(number), 'the PDF lists the case');
    assert.match(text, /case\.break_glass/);
    await signOut(page, base);
  });

  await check('the audit trail highlights the break-glass access', async () => {
    await signIn(page, base, 'auditor', accounts.get('auditor').password);
    await page.goto(`${base}/audit`);
    const highlighted = page.locator('tr.break-glass');
    assert.ok((await highlighted.count()) >= 1);
    assert.match(await highlighted.first().innerText(), /case\.break_glass/);
    await page.screenshot({ path: path.join(SHOTS, 'protection-audit.png') });
  });

  assertNoProblems('need to know');
  await check('no name or reason from this run appears in the server log', async () => assertLogsClean('need to know'));
}

main('protection', run);
