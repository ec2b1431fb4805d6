#!/usr/bin/env node
// End-to-end test of field collection with real ODK form engines (OpenRosa 1.0).
//
// Starts `passage demo` (which issues two demo devices, listed in DATA_DIR/demo-devices.txt:
// the caseworker's tablet at IOM Liberia and the border post's) and:
//
//   1. JavaRosa, Collect's engine (odk/CollectLike.java, compiled here against the jar in the
//      pyxform wheel), fills and submits the four case forms from the tablet — AVRR with a photo
//      split over two POSTs, the others with two of each repeat — and border_crossing from the
//      border post by URL token and by HTTP Digest;
//   2. the ODK Web Forms engine (odk/webforms.mjs) fills and submits all five forms; Enketo
//      (odk/enketo.mjs: enketo-core in Chromium) opens Web Forms' CT case, validates it and
//      submits the edit it makes of it, and sends a draft (an RR case) as a new record;
//   3. an edit made here (JavaRosa's crossing with another carrier, a new instanceID and
//      <deprecatedID>) is accepted; a re-send answers 202, another XML under a used instanceID
//      409, HEAD 204 with X-OpenRosa-Version, an unknown device key 401;
//   4. in Chromium the admin finds nothing quarantined and every submission processed, in its
//      organisation; the caseworker sees the photo on the AVRR case, the border officer the
//      edited carrier on the crossing;
//   5. the admin issues a device (QR code and URL shown), Web Forms submits through it, the
//      admin revokes it and its URL answers 401;
//   6. no console errors / CSP violations. Screenshots go to ./screenshots/odk-*.png.
//
//   cd e2e && npm ci && node odk.mjs      (needs javac, and `pip install pyxform==4.5.0`)

import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { bundleEnketo, enketoSubmit } from './odk/enketo.mjs';
import {
  HERE, SHOTS, assertNoProblems, check, log, main, newContext, newPage, signIn, startDemoAndBrowser,
} from './lib.mjs';

const run = promisify(execFile);
const EDITED = 'Demo edited carrier';
const OPENROSA = { 'X-OpenRosa-Version': '1.0' };

/** A real 8×8 grey baseline JPEG (every coefficient zero), built byte by byte: no image library needed. */
function jpeg(comment) {
  const seg = (marker, body) => {
    const b = Buffer.from(body);
    return Buffer.concat([Buffer.from([0xff, marker, (b.length + 2) >> 8, (b.length + 2) & 0xff]), b]);
  };
  const oneCode = (tableClass) => [tableClass, 1, ...new Array(15).fill(0), 0x00]; // one 1-bit code: symbol 0
  return Buffer.concat([
    Buffer.from([0xff, 0xd8]), // SOI
    seg(0xe0, [...Buffer.from('JFIF\0'), 1, 1, 0, 0, 1, 0, 1, 0, 0]),
    seg(0xfe, Buffer.from(comment)), // COM: makes each file distinct
    seg(0xdb, [0, ...new Array(64).fill(1)]), // DQT
    seg(0xc0, [8, 0, 8, 0, 8, 1, 1, 0x11, 0]), // SOF0: 8×8, one component
    seg(0xc4, oneCode(0x00)), // DHT DC: only "difference 0"
    seg(0xc4, oneCode(0x10)), // DHT AC: only end-of-block
    seg(0xda, [1, 1, 0x00, 0, 63, 0]), // SOS
    Buffer.from([0x3f, 0xff, 0xd9]), // scan bits 00 + padding, EOI
  ]);
}

/** The demo's devices: [{ name, path, user, password }], tablet first, border post second. */
function readDevices(dataDir) {
  return fs.readFileSync(path.join(dataDir, 'demo-devices.txt'), 'utf8').split('\n')
    .filter((l) => l.trim() && !l.startsWith('#'))
    .map((l) => { const [name, p, user, password] = l.split('\t'); return { name, path: p, user, password }; });
}

/** Runs a harness; resolves with its JSON line, or fails with its stderr. */
async function harness(cmd, args) {
  try {
    const { stdout } = await run(cmd, args, { timeout: 120_000, maxBuffer: 8 << 20 });
    return JSON.parse(stdout.trim().split('\n').pop());
  } catch (e) {
    throw new Error(`${path.basename(cmd)} ${args.filter((a) => !a.includes('/key/')).join(' ')} failed:\n${e.stderr || e.message}`);
  }
}

function postXml(url, xml, headers = {}) {
  const form = new FormData();
  form.append('xml_submission_file', new Blob([xml], { type: 'text/xml' }), 'submission.xml');
  return fetch(url, { method: 'POST', body: form, headers: { ...OPENROSA, ...headers } });
}

/** The crossing with another carrier, a new instanceID and the old one as deprecatedID; <meta> may carry a prefix. */
function editOf(xml, newId) {
  const meta = xml.match(/<((?:[\w.-]+:)?)meta\b[^>]*>[\s\S]*?<\/\1meta>/);
  assert.ok(meta, 'the instance has a <meta> block');
  const p = meta[1];
  const oldId = meta[0].match(new RegExp(`<${p}instanceID>([^<]+)</${p}instanceID>`))[1];
  const newMeta = meta[0]
    .replace(new RegExp(`<${p}deprecatedID>[^<]*</${p}deprecatedID>`), '')
    .replace(`<${p}instanceID>${oldId}</${p}instanceID>`,
      `<${p}instanceID>${newId}</${p}instanceID><${p}deprecatedID>${oldId}</${p}deprecatedID>`);
  const edited = xml.replace(meta[0], newMeta).replace(/<carrier>[^<]*<\/carrier>|<carrier\s*\/>/, `<carrier>${EDITED}</carrier>`);
  assert.ok(edited.includes(`<carrier>${EDITED}</carrier>`), 'the crossing has a <carrier> answer to change');
  return { edited, oldId };
}

async function odk() {
  const { base, dataDir, tmpRoot, accounts } = await startDemoAndBrowser('odk');
  const [tablet, post] = readDevices(dataDir);
  const tabletUrl = base + tablet.path;
  const postUrl = base + post.path;
  const out = path.join(tmpRoot, 'instances');
  const classes = path.join(tmpRoot, 'classes');
  const photo = path.join(tmpRoot, 'photo.jpg');
  const stray = path.join(tmpRoot, 'stray.jpg'); // a second file so Collect's split has somewhere to cut
  fs.writeFileSync(photo, jpeg('Passage e2e photo (fictional)'));
  fs.writeFileSync(stray, jpeg('another file in the instance folder'));
  const iomOrg = accounts.get('caseworker').organisation;
  const lisOrg = accounts.get('border').organisation;
  const made = { [iomOrg]: [], [lisOrg]: [] }; // instanceIDs submitted, per organisation
  let jar = '';
  let collect = null; // the JavaRosa client
  const webforms = (server, form, extra = []) =>
    harness(process.execPath, [path.join(HERE, 'odk/webforms.mjs'), '--server', server, '--form', form, '--out', out, ...extra]);

  await check('JavaRosa client compiles against the jar in the pyxform wheel', async () => {
    try {
      jar = execFileSync(process.env.PYTHON || 'python3', ['-c', 'import pyxform,os;print(os.path.dirname(pyxform.__file__))'], { encoding: 'utf8' }).trim()
        + '/validators/odk_validate/bin/ODK_Validate.jar';
    } catch {
      assert.fail('pyxform is not installed for python3 (pip install pyxform==4.5.0): its ODK_Validate.jar carries JavaRosa');
    }
    assert.ok(fs.existsSync(jar), `no JavaRosa jar at ${jar} (pip install pyxform==4.5.0)`);
    try {
      execFileSync('javac', ['-cp', jar, '-d', classes, path.join(HERE, 'odk/CollectLike.java')], { stdio: 'pipe' });
    } catch (e) {
      assert.fail(e.code === 'ENOENT' ? 'javac not found (apt-get install default-jdk-headless)' : `javac failed:\n${e.stderr}`);
    }
    collect = (server, form, extra = []) =>
      harness('java', ['-cp', `${jar}:${classes}`, 'CollectLike', '--server', server, '--form', form, '--out', out, ...extra]);
  });

  const results = {}; // label -> harness JSON
  await check('JavaRosa: AVRR with a photo, split over two POSTs (--max-bytes)', async () => {
    const r = await collect(tabletUrl, 'avrr_case', ['--attach', photo, '--attach', stray, '--max-bytes', '1000']);
    // Collect cuts only between files: POST 1 = XML + photo (*isIncomplete*), POST 2 = XML + the
    // stray file, which the record does not name, so Passage already has everything: 202.
    assert.deepEqual(r.posts, [201, 202], `answers ${r.posts}: ${r.message}`);
    made[iomOrg].push(r.instance_id);
    results.jrAvrr = r;
  });

  await check('JavaRosa: ct_victim_case, rr_case, capacity_activity with two of every repeat', async () => {
    for (const form of ['ct_victim_case', 'rr_case', 'capacity_activity']) {
      const r = await collect(tabletUrl, form, ['--repeats', '2']);
      assert.deepEqual(r.posts, [201], `${form} answered ${r.posts}: ${r.message}`);
      made[iomOrg].push(r.instance_id);
    }
  });

  await check('JavaRosa: border_crossing from the border post by URL token and by Digest', async () => {
    results.jrCrossing = await collect(postUrl, 'border_crossing');
    const digest = await collect(base, 'border_crossing', ['--user', post.user, '--password', post.password]);
    for (const r of [results.jrCrossing, digest]) {
      assert.deepEqual(r.posts, [201], `answered ${r.posts}: ${r.message}`);
      made[lisOrg].push(r.instance_id);
    }
  });

  await check('Web Forms: the four case forms from the tablet (AVRR with the photo)', async () => {
    for (const form of ['avrr_case', 'ct_victim_case', 'rr_case', 'capacity_activity']) {
      const r = await webforms(tabletUrl, form, form === 'avrr_case' ? ['--attach', photo] : ['--repeats', '2']);
      assert.deepEqual(r.posts, [201], `${form} answered ${r.posts}: ${r.message}`);
      if (form === 'avrr_case') assert.equal(r.attachments.length, 1, 'the photo went with the AVRR submission');
      if (form === 'ct_victim_case') results.wfCt = r;
      if (form === 'rr_case') results.wfRr = r;
      made[iomOrg].push(r.instance_id);
    }
  });

  await check('Web Forms: border_crossing from the border post', async () => {
    const r = await webforms(postUrl, 'border_crossing');
    assert.deepEqual(r.posts, [201], `answered ${r.posts}: ${r.message}`);
    made[lisOrg].push(r.instance_id);
  });

  await check("Enketo (enketo-core in Chromium): edits Web Forms' CT case, as Kobo's \"edit in Enketo\" does: 201", async () => {
    // Opened on a registered record, Enketo makes an edit: a new instanceID, the old one as
    // deprecatedID.
    const bundle = bundleEnketo(tmpRoot);
    const record = fs.readFileSync(results.wfCt.instance_file, 'utf8');
    const ctx = await newContext();
    const r = await enketoSubmit(ctx, base, bundle, tabletUrl, 'ct_victim_case', record).finally(() => ctx.close());
    assert.deepEqual(r.loadErrors, [], 'Enketo loaded the record without errors');
    assert.equal(r.valid, true, 'Enketo finds the record valid');
    assert.equal(r.head, 204);
    assert.equal(r.status, 201, r.body);
    assert.match(r.body, /<OpenRosaResponse[^>]*xmlns="http:\/\/openrosa.org\/http\/response"/);
    assert.ok(r.data.includes(`<deprecatedID>${results.wfCt.instance_id}</deprecatedID>`), r.data);
    const id = r.data.match(/<instanceID>([^<]+)<\/instanceID>/)?.[1];
    assert.ok(id && id !== results.wfCt.instance_id, 'a new instanceID');
    results.enketoEdit = id;
    made[iomOrg].push(id);
  });

  await check('Enketo: a draft saved on the device (another RR case, new instanceID) is sent as a new record: 201', async () => {
    const bundle = path.join(tmpRoot, 'enketo-bundle.js');
    const id = `uuid:${crypto.randomUUID()}`;
    const rr = results.wfRr;
    const draft = fs.readFileSync(rr.instance_file, 'utf8')
      .replace(/<instanceID>[^<]*<\/instanceID>/, `<instanceID>${id}</instanceID>`);
    const ctx = await newContext();
    const r = await enketoSubmit(ctx, base, bundle, tabletUrl, 'rr_case', draft, false).finally(() => ctx.close());
    assert.deepEqual([r.loadErrors, r.valid, r.head, r.status], [[], true, 204, 201], r.body);
    assert.ok(r.data.includes(`<instanceID>${id}</instanceID>`) && !r.data.includes('<deprecatedID>'), r.data);
    made[iomOrg].push(id);
  });

  const original = fs.readFileSync(results.jrCrossing.instance_file, 'utf8');
  const editId = `uuid:${crypto.randomUUID()}`;
  await check('an edit of the crossing (new instanceID, deprecatedID) answers 201', async () => {
    const { edited, oldId } = editOf(original, editId);
    assert.equal(oldId, results.jrCrossing.instance_id);
    const res = await postXml(`${postUrl}/submission`, edited);
    assert.equal(res.status, 201, `edit answered ${res.status}: ${await res.text()}`);
    made[lisOrg].push(editId);
  });

  await check('re-sending identical XML answers 202 (do not resend)', async () => {
    const res = await postXml(`${postUrl}/submission`, original);
    const body = await res.text();
    assert.equal(res.status, 202, `re-send answered ${res.status}: ${body}`);
    assert.match(body, /<OpenRosaResponse[^>]*xmlns="http:\/\/openrosa.org\/http\/response"/);
  });

  await check('another XML under a used instanceID answers 409', async () => {
    const other = original.replace(/<carrier>[^<]*<\/carrier>/, '<carrier>Demo other carrier</carrier>');
    assert.notEqual(other, original);
    const res = await postXml(`${postUrl}/submission`, other);
    assert.equal(res.status, 409, `answered ${res.status}: ${await res.text()}`);
  });

  await check('HEAD /submission answers 204 with X-OpenRosa-Version: 1.0; without a key, a Digest challenge', async () => {
    const res = await fetch(`${tabletUrl}/submission`, { method: 'HEAD', headers: OPENROSA });
    assert.equal(res.status, 204);
    assert.equal(res.headers.get('x-openrosa-version'), '1.0');
    const anon = await fetch(`${base}/submission`, { method: 'HEAD', headers: OPENROSA });
    assert.equal(anon.status, 401);
    assert.match(anon.headers.get('www-authenticate') ?? '', /^Digest /);
  });

  await check('an unknown device key answers 401', async () => {
    const res = await fetch(`${base}/key/${'x'.repeat(32)}/formList`, { headers: OPENROSA });
    assert.equal(res.status, 401);
  });

  // ---- In the browser
  const admin = await newPage(await newContext(), 'admin');
  const pathOf = (page) => new URL(page.url()).pathname;
  const caseLinks = new Map(); // instanceID -> /cases/{id}
  const showOrg = async (name) => {
    await admin.locator('#org').selectOption({ label: name });
    await Promise.all([admin.waitForURL(/\/collection\?/), admin.locator('#org-picker').getByRole('button', { name: 'Show' }).click()]);
  };

  const processedRows = async (org) => {
    await showOrg(org);
    await Promise.all([admin.waitForURL(/state=processed/), admin.getByRole('link', { name: 'processed', exact: true }).click()]);
    return admin.locator('#submissions tbody tr').evaluateAll((trs) => trs.map((tr) => ({
      // Admins may not read records: the row names its record's id, without a link.
      id: tr.cells[2].innerText.trim(), state: tr.cells[3].innerText.trim(),
      href: tr.cells[3].dataset.case ? `/cases/${tr.cells[3].dataset.case}` : null, link: tr.cells[3].querySelector('a'),
    })));
  };

  await check('admin opens Collection from the menu: nothing quarantined', async () => {
    await signIn(admin, base, 'admin', accounts.get('admin').password);
    await admin.locator('header nav').getByRole('link', { name: 'Collection' }).click();
    await admin.waitForLoadState('load');
    assert.equal(pathOf(admin), '/collection');
    for (const org of [iomOrg, lisOrg]) {
      await showOrg(org);
      assert.equal(await admin.locator('#no-submissions').count(), 1, `quarantined submissions at ${org}:\n${await admin.locator('main').innerText()}`);
    }
  });

  await check('every submission is processed and names its record, in its organisation (14)', async () => {
    for (const org of [iomOrg, lisOrg]) {
      const rows = await processedRows(org);
      for (const r of rows) if (r.href) caseLinks.set(r.id, r.href);
      for (const id of made[org]) {
        const row = rows.find((r) => r.id === id);
        assert.ok(row, `${id} is not among ${org}'s processed submissions`);
        assert.equal(row.state, 'processed');
        assert.match(row.href ?? '', /^\/cases\/[0-9a-f-]{36}$/, `${id} names its record`);
        assert.equal(row.link, null, 'no link an administrator could not follow');
      }
      await admin.screenshot({ path: path.join(SHOTS, org === iomOrg ? 'odk-collection.png' : 'odk-collection-border.png'), fullPage: true });
    }
    assert.equal(made[iomOrg].length + made[lisOrg].length, 14);
    assert.match(await admin.locator('#submissions tbody tr', { hasText: editId }).innerText(), /\(edit\)/);
    assert.equal(caseLinks.get(editId), caseLinks.get(results.jrCrossing.instance_id), 'the edit changed the crossing it edits');
    assert.equal(caseLinks.get(results.enketoEdit), caseLinks.get(results.wfCt.instance_id), "Enketo's edit changed the case it edits");
  });

  await check('caseworker finds the JavaRosa AVRR case newest first and its photo among the documents', async () => {
    const page = await newPage(await newContext(), 'caseworker');
    await signIn(page, base, 'caseworker', accounts.get('caseworker').password);
    await page.goto(`${base}/cases?programme=avrr&sort=newest`);
    // Newest first: the Web Forms AVRR case, then JavaRosa's ("Demo Collectlike").
    const row = page.locator('#case-list tbody tr').filter({ hasText: 'Demo Collectlike' }).first();
    const href = await row.locator('td').first().getByRole('link').getAttribute('href');
    assert.equal(href, caseLinks.get(results.jrAvrr.instance_id), 'the newest Collectlike AVRR case is the JavaRosa submission');
    await Promise.all([page.waitForURL(base + href), row.locator('td').first().getByRole('link').click()]);
    const doc = page.locator('#documents li a').first();
    assert.equal(await doc.count(), 1, `no document on the case: ${await page.locator('#documents').innerText()}`);
    const body = await (await page.request.get(base + (await doc.getAttribute('href')))).body();
    assert.ok(body.equals(fs.readFileSync(photo)), 'the document is the photo, byte for byte');
    // …and a real JPEG: Chromium decodes it (8×8).
    const width = await page.evaluate((b64) => new Promise((ok, no) => {
      const img = new Image(); img.onload = () => ok(img.naturalWidth); img.onerror = () => no(new Error('not decodable')); img.src = `data:image/jpeg;base64,${b64}`;
    }), body.toString('base64'));
    assert.equal(width, 8);
    await page.locator('#documents').scrollIntoViewIfNeeded();
    await page.screenshot({ path: path.join(SHOTS, 'odk-avrr-photo.png') }); // the case page is 6000 px long
    await page.context().close();
  });

  await check('border officer sees the edited carrier on the crossing', async () => {
    const page = await newPage(await newContext(), 'border');
    await signIn(page, base, 'border', accounts.get('border').password);
    const res = await page.goto(base + caseLinks.get(editId));
    assert.equal(res.status(), 200);
    assert.ok((await page.locator('main').innerText()).includes(EDITED), `"${EDITED}" is not on the crossing`);
    // Applied as a change of that record (versioned), not as a second crossing.
    assert.match(await page.locator('#case-history tbody tr').first().innerText(), /Changed Carrier/);
    await page.screenshot({ path: path.join(SHOTS, 'odk-crossing-edited.png'), fullPage: true });
    await page.context().close();
  });

  await check('a record its form refuses waits for a correction; the border officer corrects it and it is registered', async () => {
    const badId = `uuid:${crypto.randomUUID()}`;
    const bad = original.replace(results.jrCrossing.instance_id, badId).replace(/<sex>[^<]*<\/sex>/, '<sex>zz-unknown</sex>');
    assert.ok(bad.includes('<sex>zz-unknown</sex>') && bad.includes(badId));
    assert.equal((await postXml(`${postUrl}/submission`, bad)).status, 201, 'stored, so the device does not send it again');
    const page = await newPage(await newContext(), 'border-fix');
    await signIn(page, base, 'border', accounts.get('border').password);
    await page.goto(`${base}/cases`);
    await Promise.all([page.waitForURL(/\/collection\/quarantine$/), page.locator('#quarantine-link').click()]);
    const row = page.locator('#quarantine tbody tr').first();
    assert.match(await row.innerText(), /sex: is not one of the choices/);
    await Promise.all([page.waitForURL(/\/fix$/), row.getByRole('link', { name: 'Correct' }).click()]);
    assert.match(await page.locator('main').innerText(), /Sent from the field but not registered/);
    await page.locator('select[name="sex"]').selectOption('female');
    await page.screenshot({ path: path.join(SHOTS, 'odk-quarantine-fix.png'), fullPage: true });
    await Promise.all([page.waitForURL(/\/cases\/[0-9a-f-]{36}$/), page.getByRole('button', { name: 'Register case' }).click()]);
    await page.goto(`${base}/collection/quarantine`);
    assert.equal(await page.locator('#no-quarantine').count(), 1, 'nothing waits any more');
    await page.context().close();
  });

  let issuedUrl = '';
  const deviceName = 'E2E tablet (fictional)';
  await check('admin issues a device to the caseworker: QR code and server URL shown once', async () => {
    await admin.goto(`${base}/collection`);
    await showOrg(iomOrg);
    await admin.locator('#device-name').fill(deviceName);
    const labels = await admin.locator('#device-user option').allInnerTexts();
    const caseworker = labels.find((l) => /\(caseworker, /.test(l));
    assert.ok(caseworker, `no caseworker among ${labels.join(' | ')}`);
    await admin.locator('#device-user').selectOption({ label: caseworker });
    await Promise.all([admin.waitForURL(/\/collection\?org=.*&issued=/), admin.locator('#issue-device').getByRole('button', { name: 'Issue' }).click()]);
    assert.equal(await admin.locator('#issued #device-qr svg').count(), 1, 'a QR code (SVG)');
    issuedUrl = (await admin.locator('#device-url').innerText()).trim();
    assert.ok(issuedUrl.startsWith(`${base}/key/`), `device URL ${issuedUrl}`);
    assert.match(await admin.locator('#device-password').innerText(), /\S{16,}/);
    await admin.screenshot({ path: path.join(SHOTS, 'odk-device-issued.png'), fullPage: true });
    // Shown once: a reload neither shows the secrets again nor issues a second device.
    await admin.reload();
    assert.equal(await admin.locator('#issued').count(), 0, 'the secrets are not shown twice');
    assert.equal(await admin.locator('#devices tbody tr', { hasText: deviceName }).count(), 1, 'one device issued');
  });

  await check('Web Forms submits rr_case through the new device: a record', async () => {
    const r = await webforms(issuedUrl, 'rr_case');
    assert.deepEqual(r.posts, [201], `answered ${r.posts}: ${r.message}`);
    await admin.goto(`${base}/collection`);
    assert.ok((await processedRows(iomOrg)).some((row) => row.id === r.instance_id), 'processed at IOM Liberia');
  });

  await check('admin revokes the device; its URL answers 401', async () => {
    await admin.goto(`${base}/collection`);
    await showOrg(iomOrg);
    const row = admin.locator('#devices tbody tr', { hasText: deviceName });
    await Promise.all([admin.waitForURL(/notice=revoked/), row.getByRole('button', { name: 'Revoke' }).click()]);
    assert.match(await admin.locator('#collection-notice').innerText(), /revoked/);
    assert.match(await row.innerText(), /revoked/);
    const res = await fetch(`${issuedUrl}/formList`, { headers: OPENROSA });
    assert.equal(res.status, 401);
  });

  await check('no console errors or CSP violations', async () => assertNoProblems('during field collection'));
  log(`       ${made[iomOrg].length} submissions at ${iomOrg}, ${made[lisOrg].length} at ${lisOrg}`);
}

main('odk', odk);
