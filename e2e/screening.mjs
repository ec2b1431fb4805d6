#!/usr/bin/env node
// Browser end-to-end test of watchlist screening at a border post (issue #4, item 4).
//
// Starts `passage demo` (which loads a fictional alert list for the immigration service before
// generating its border crossings, so some crossings are flagged) and drives headless Chromium:
//
//   1. border officer opens Screening from the menu: the demo list and the hits awaiting review,
//      each with its crossing, list entry id, score and reasons — and no listed name;
//   2. uploads a list with a ragged row: refused with 422, the line named, nothing saved;
//   3. uploads a valid list: saved, listed, notice shown;
//   4. dismisses a hit: it leaves the queue and shows as dismissed among decided hits;
//   5. a caseworker of another organisation has no Screening link and gets 403 on the page;
//   6. that caseworker opens Duplicates (the demo registers one person twice), merges the pair
//      and undoes the merge;
//   7. no console errors / CSP violations. Screenshots go to ./screenshots/.
//
//   cd e2e && npm ci && node screening.mjs

import assert from 'node:assert/strict';
import path from 'node:path';
import {
  SHOTS,
  PHONE,
  assertNoProblems,
  check,
  expectStatus,
  main,
  newContext,
  newPage,
  signIn,
  signOut,
  startDemoAndBrowser,
} from './lib.mjs';

const BAD_LIST = 'id,full_name,date_of_birth\nT-1,Demo Listed Person,1980\nT-2,Demo Ragged Row\n';
const GOOD_LIST = 'id,full_name,aliases,date_of_birth,nationality,list,reason\nT-1,Demo Listed Person,Demo L. Person,1980,LBR,E2E list,fictional\n';

async function uploadList(page, name, csv) {
  await page.locator('#list-name').fill(name);
  await page.locator('#list-file').setInputFiles({ name: 'list.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
  const [res] = await Promise.all([
    page.waitForResponse((r) => r.url().includes('/screening/watchlists') && r.request().method() === 'POST'),
    page.getByRole('button', { name: 'Upload' }).click(),
  ]);
  await page.waitForLoadState('load');
  return res;
}

async function run() {
  const { base, accounts } = await startDemoAndBrowser('screening');
  const ctx = await newContext();
  const page = await newPage(ctx, 'screening');
  const pathOf = () => new URL(page.url()).pathname;

  await check('border officer opens Screening from the menu', async () => {
    await signIn(page, base, 'border', accounts.get('border').password);
    await page.locator('header nav').getByRole('link', { name: 'Screening' }).click();
    await page.waitForLoadState('load');
    assert.equal(pathOf(), '/screening');
    assert.match(await page.locator('#lists').innerText(), /Demo alert list \(fictional\)\s+256/);
  });

  let firstCrossing = '';
  await check('the demo crossings that match the list wait for review with their reasons', async () => {
    const rows = page.locator('#hits tbody tr');
    assert.ok((await rows.count()) >= 1, 'at least one hit');
    const first = await rows.first().innerText();
    assert.match(first, /BORDER-\d{4}-\d{6}/);
    assert.match(first, /DEMO-\d{3}/);
    assert.match(first, /name parts matched/);
    firstCrossing = first.match(/BORDER-\d{4}-\d{6}/)[0];
    // Reasons say which parts agreed; the listed names themselves are never on the page.
    const table = await page.locator('#hits').innerText();
    assert.ok(!/Demo [A-Z][a-z]+ Demo/.test(table), 'no listed names in the queue');
    await page.screenshot({ path: path.join(SHOTS, 'screening-queue.png'), fullPage: true });
  });

  await check('a list with a ragged row is refused whole, the line named', async () => {
    // Uploads carry the CSRF token in the form's action (multipart bodies are read after the check).
    const csrf = await page.locator('body').getAttribute('data-csrf');
    expectStatus(`${base}/screening/watchlists?csrf_token=${csrf}`, 422);
    const res = await uploadList(page, 'E2E list', BAD_LIST);
    assert.equal(res.status(), 422);
    const problems = await page.locator('#screening-problems').innerText();
    assert.match(problems, /nothing was changed/);
    assert.match(problems, /line 3/);
    assert.ok(!problems.includes('Ragged'), 'the bad row is named by line, not by value');
    assert.ok(!(await page.locator('#lists').innerText()).includes('E2E list'));
    await page.screenshot({ path: path.join(SHOTS, 'screening-list-refused.png'), fullPage: true });
  });

  await check('a valid list is saved and listed', async () => {
    await page.goto(`${base}/screening`);
    const res = await uploadList(page, 'E2E list', GOOD_LIST);
    assert.equal(res.status(), 303);
    assert.match(await page.locator('#screening-notice').innerText(), /saved with 1 entries/);
    assert.match(await page.locator('#lists').innerText(), /E2E list\s+1/);
  });

  await check('dismissing a hit takes it out of the queue', async () => {
    const rowsOf = () => page.locator('#hits tbody tr', { hasText: firstCrossing });
    const before = await rowsOf().count();
    await Promise.all([page.waitForURL(`${base}/screening`), rowsOf().first().getByRole('button', { name: 'Not the same' }).click()]);
    assert.equal(await rowsOf().count(), before - 1, 'the dismissed hit left the queue');
    await page.getByRole('link', { name: 'Show decided hits too' }).click();
    await page.waitForLoadState('load');
    assert.equal(await page.locator('#hits tbody tr', { hasText: firstCrossing }).filter({ hasText: 'dismissed' }).count(), 1);
    await page.setViewportSize(PHONE);
    await page.screenshot({ path: path.join(SHOTS, 'screening-decided-phone.png'), fullPage: true });
  });

  await check('a caseworker of another organisation has no screening page', async () => {
    await signOut(page, base);
    await signIn(page, base, 'caseworker', accounts.get('caseworker').password);
    assert.equal(await page.locator('header nav').getByRole('link', { name: 'Screening' }).count(), 0);
    expectStatus(`${base}/screening`, 403);
    const res = await page.goto(`${base}/screening`);
    assert.equal(res.status(), 403);
  });

  // The demo registers one person twice (a misspelt family name): the caseworker's queue.
  await check('a caseworker merges the person registered twice, then undoes it', async () => {
    await page.goto(base + '/');
    await page.locator('header nav').getByRole('link', { name: 'Duplicates' }).click();
    await page.waitForLoadState('load');
    assert.match(await page.locator('#match-model').innerText(), /^Scored by the (standard model|model learned from \d+ )/);
    const row = page.locator('#duplicates tbody tr').first();
    assert.match(await row.innerText(), /date_of_birth exact[\s\S]*surname close spelling/);
    await page.screenshot({ path: path.join(SHOTS, 'duplicates-queue.png'), fullPage: true });
    await Promise.all([page.waitForURL(`${base}/persons/duplicates`), row.getByRole('button', { name: /^Merge into / }).click()]);
    assert.equal(await page.locator('#no-duplicates').count(), 1, 'the pair left the queue');
    assert.match(await page.locator('#merges tbody tr').first().innerText(), /\b1\b/);
    await Promise.all([page.waitForURL(`${base}/persons/duplicates`), page.locator('#merges').getByRole('button', { name: 'Undo' }).click()]);
    assert.match(await page.locator('#merges tbody tr').first().innerText(), /undone/);
    assert.equal(await page.locator('#duplicates tbody tr').count(), 1, 'the pair is offered again');
  });

  await check('no console errors or CSP violations', async () => assertNoProblems('during screening and duplicates'));
}

main('screening', run);
