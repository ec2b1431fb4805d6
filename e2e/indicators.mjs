#!/usr/bin/env node
// Browser end-to-end test of indicators and reports (issue #5, item 7).
//
// Starts `passage demo` (built with `--features pdf`) and drives headless Chromium as the
// M&E officer:
//
//   1. opens Indicators from the menu: headline cards with server-drawn SVG charts;
//   2. filters to one county: the page and its links keep the county;
//   3. opens an indicator and its data tables (five-year trend, breakdown by sex);
//   4. downloads the indicator's CSV;
//   5. opens Reports and downloads the GCM voluntary review as PDF: a real PDF whose text
//      (read with poppler's pdftotext) has the 23 objective headings;
//   6. enters a manual indicator's value with an evidence file, which downloads again;
//   7. no console errors / CSP violations. Screenshots go to ./screenshots/.
//
//   cd e2e && npm ci && node indicators.mjs

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  SHOTS,
  assertNoProblems,
  check,
  main,
  newContext,
  newPage,
  signIn,
  startDemoAndBrowser,
} from './lib.mjs';

async function run() {
  const { base, accounts, tmpRoot } = await startDemoAndBrowser('indicators');
  const ctx = await newContext();
  const page = await newPage(ctx, 'indicators');
  const url = () => new URL(page.url());

  await check('the M&E officer opens Indicators from the menu', async () => {
    await signIn(page, base, 'meofficer', accounts.get('meofficer').password);
    await page.locator('header nav').getByRole('link', { name: 'Indicators' }).click();
    await page.waitForLoadState('load');
    assert.equal(url().pathname, '/indicators');
    assert.ok((await page.locator('.indicator-card').count()) >= 25, 'at least 25 indicators');
    assert.ok((await page.locator('.indicator-card svg.chart').count()) >= 25, 'each computed one has its chart');
    await page.screenshot({ path: path.join(SHOTS, 'indicators-dashboard.png'), fullPage: true });
  });

  await check('filtering to one county keeps the county in the page and its links', async () => {
    await page.locator('select[name=county]').selectOption('LR-MO');
    await page.getByRole('button', { name: 'Show' }).click();
    await page.waitForLoadState('load');
    assert.equal(url().searchParams.get('county'), 'LR-MO');
    assert.equal(await page.locator('select[name=county]').inputValue(), 'LR-MO');
    const link = await page.locator('#card-AVRR-01 h3 a').getAttribute('href');
    assert.match(link, /county=LR-MO/);
  });

  await check("an indicator's data tables sit under its charts", async () => {
    await page.locator('#card-AVRR-01 h3 a').click();
    await page.waitForLoadState('load');
    assert.equal(url().pathname, '/indicators/AVRR-01');
    assert.equal(await page.locator('#trend-table tbody tr').count(), 5, 'five years');
    const bySex = page.locator('#breakdown-0');
    assert.match(await bySex.locator('h2').innerText(), /By sex/i);
    assert.ok((await page.locator('svg.chart').count()) >= 2);
    assert.match(await page.locator('dl.answers').innerText(), /GCM-O21/);
    await page.screenshot({ path: path.join(SHOTS, 'indicators-detail.png'), fullPage: true });
  });

  await check("the indicator's figures download as CSV", async () => {
    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#csv-download').click()]);
    const file = path.join(tmpRoot, download.suggestedFilename());
    await download.saveAs(file);
    const text = fs.readFileSync(file, 'utf8');
    assert.match(download.suggestedFilename(), /^AVRR-01-\d{4}\.csv$/);
    assert.match(text.split('\n')[0], /^indicator,year,disaggregation,category_code,category,value,unit,records,status/);
  });

  await check('the GCM voluntary review downloads as a PDF with the objective headings', async () => {
    await page.locator('header nav').getByRole('link', { name: 'Reports' }).click();
    await page.waitForLoadState('load');
    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#gcm-review-pdf').click()]);
    const file = path.join(tmpRoot, 'review.pdf');
    await download.saveAs(file);
    assert.equal(fs.readFileSync(file).subarray(0, 5).toString(), '%PDF-');
    const text = execFileSync('pdftotext', ['-layout', file, '-']).toString();
    for (let n = 1; n <= 23; n += 1) assert.match(text, new RegExp(`Objective ${n}:`), `objective ${n} heading`);
    assert.match(text, /Global Compact for Migration: voluntary review/);
    await page.screenshot({ path: path.join(SHOTS, 'reports.png'), fullPage: true });
  });

  await check('a manual value is entered with its evidence as a file, which downloads again', async () => {
    await page.goto(`${base}/indicators/SDG-10.7.2`);
    const year = String(new Date().getUTCFullYear() - 1);
    await page.locator('#value-year').fill(year);
    await page.locator('#value-value').fill('4');
    await page.locator('#value-source').fill('National review of migration policies (fictional)');
    const pdf = Buffer.from('%PDF-1.4\n% fictional evidence for the browser test\n');
    await page.locator('#value-file').setInputFiles({ name: 'review-fictional.pdf', mimeType: 'application/pdf', buffer: pdf });
    await page.getByRole('button', { name: 'Save value' }).click();
    await page.waitForLoadState('load');
    assert.match(await page.locator('#indicator-notice').innerText(), /saved/i);
    const link = page.locator('#manual-values a.evidence-file');
    assert.equal(await link.innerText(), 'review-fictional.pdf');
    await page.screenshot({ path: path.join(SHOTS, 'indicators-evidence.png'), fullPage: true });
    const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
    const file = path.join(tmpRoot, download.suggestedFilename());
    await download.saveAs(file);
    assert.equal(download.suggestedFilename(), `evidence-SDG-10-7-2-${year}.pdf`);
    assert.deepEqual(fs.readFileSync(file), pdf);
  });

  await check('no console errors or CSP violations', async () => assertNoProblems('during indicators and reports'));
}

main('indicators', run);
