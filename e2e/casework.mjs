#!/usr/bin/env node
// Browser end-to-end test of case work in Passage (issue #3, item 7).
//
// Starts `passage demo` on a free loopback port with a fresh temporary data dir and drives
// headless Chromium (the system one, through playwright-core) through:
//
//   1. caseworker (IOM Liberia) registers an AVRR case through the XLSForm-driven page
//      (an empty form and a form missing the answers `relevant` makes required are refused
//      with 422 and messages at the inputs), moves it to Counselling, and sees that the next
//      step needs approval;
//   2. manager approves (Eligibility approved); caseworker moves it on to Travel arranged and
//      Departed; the history lists every move;
//   3. caseworker records a service, assigns the case with a due date (/cases?assignee=me
//      lists it) and edits an answer ("Changed …" in the history);
//   4. caseworker registers a CT case and refers it to Safe Haven Shelter, sharing two answers;
//   5. shelter.caseworker reads the referral (only the shared answers), accepts it, and gets
//      404 without any case number or name for both cases and their people; the caseworker
//      then sees the referral accepted;
//   6. caseworker registers the AVRR person again with a misspelt surname: before anything is
//      saved the page shows the person already known, with reasons; choosing them links the case;
//   7. no console errors / CSP violations anywhere, and none of the names typed in the server
//      log. Screenshots go to ./screenshots/.
//
//   cd e2e && npm ci && node casework.mjs
//
// Environment: PASSAGE_BIN, CHROMIUM, E2E_DEBUG (see lib.mjs), and
//
// Exits 0 when every check passed, 1 otherwise (the failing check is named on stderr).

import assert from 'node:assert/strict';
import path from 'node:path';
import {
  SHOTS,
  assertLogsClean,
  assertNoProblems,
  assertNotRefusedAsCrossSite,
  check,
  expectStatus,
  forbidInLogs,
  log,
  main,
  newContext,
  newPage,
  signIn,
  signOut,
  startDemoAndBrowser,
} from './lib.mjs';

// ---------------------------------------------------------------------------------------
// Test data (fictional)

const DAY_MS = 24 * 60 * 60 * 1000;
/** YYYY-MM-DD in UTC (the server's "today" is UTC: Liberia keeps GMT all year). */
const utcDate = (offsetDays = 0) => new Date(Date.now() + offsetDays * DAY_MS).toISOString().slice(0, 10);
// Yesterday, so that "not after today" constraints hold even if the run crosses midnight.
const REGISTERED_ON = utcDate(-1);
const DUE_ON = utcDate(14);

// Names the demo's record generator does not use (it draws from its own short lists), so
// that they identify these two people wherever they appear.
const AVRR_PERSON = { first: 'Yatta', last: 'Zwannah' };
const CT_PERSON = { first: 'Garmai', last: 'Wolokollie' };
const PERSON_NAMES = [AVRR_PERSON.first, AVRR_PERSON.last, CT_PERSON.first, CT_PERSON.last];

const MANAGER_NAME = 'Demo Programme Manager (fictional)';
const CASEWORKER_NAME = 'Demo Caseworker (fictional)';
const SHELTER = 'Safe Haven Shelter (fictional NGO)';

/**
 * AVRR answers, in three layers: what any AVRR case needs, then what the form's `relevant`
 * logic makes required once `case_type` = return_from_lr and `dob_known` = no.
 */
const AVRR_BASE = {
  registration_date: REGISTERED_ON,
  case_type: 'return_from_lr',
  office_county: 'LR-MO',
  case_status: 'registered',
  first_name: AVRR_PERSON.first,
  last_name: AVRR_PERSON.last,
  sex: 'female',
  dob_known: 'no',
  nationality: 'SLE',
  migrant_category: 'irregular_migrant',
  has_household: 'no',
  valid_travel_document: 'no',
  voluntariness_ack: 'OK',
  consent_processing: 'yes',
  vulnerability_flags: ['none'],
  travel_mode: 'land',
  lr_crossing_point: 'BOW', // Bo Waterside, a land crossing (choice_filter mode = travel_mode)
};
const AVRR_RELEVANT = {
  age_stated: '34', // dob_known = no
  country_of_return: 'SLE', // case_type = return_from_lr ...
  current_county: 'LR-MO',
  deportation_order: 'no', // ... the eligibility group
  eligibility_decision: 'eligible',
  fit_to_travel: 'fit', // ... the pre-departure group
  escort_type: 'none',
};
/** Required with no answer on a blank AVRR form (a sample; each must show "is required"). */
const AVRR_ALWAYS_REQUIRED = ['registration_date', 'case_type', 'first_name', 'last_name', 'sex', 'voluntariness_ack'];

const CT_ANSWERS = {
  registration_date: REGISTERED_ON,
  identification_county: 'LR-MO',
  identification_channel: 'hotline',
  cas_Status: 'Active',
  referred_in: 'no',
  consent_points: ['purpose', 'data_use', 'research_use', 'right_of_access', 'retention', 'withdrawal'],
  con_Consent: 'TRUE',
  consent_given_by: 'self',
  consent_date: REGISTERED_ON,
  consent_sharing: ['service_providers'],
  prs_FirstName: CT_PERSON.first,
  prs_SecondName: CT_PERSON.last,
  sex: 'female',
  dob_known: 'no',
  age_stated: '22',
  nationality: 'LBR',
  migratory_status: 'national',
  prs_MailingCountry: 'LBR',
  prs_MailingState: 'LR-MO',
  prs_PrimaryLanguage: 'eng',
  vic_TraffickingStatus: 'PossibleVictimOfTrafficking',
  vic_TraffickingStatusDecisionMakingOrg: 'NGO',
  vic_TypeOfExploitation: ['Servitude'],
  vic_MethodsOfControl: ['WithholdsDocuments'],
  // The page always shows one instance of each repeat; these two are relevant here.
  'hte[1]/hte_Type': 'Exploitation',
  'hte[1]/hte_Country': 'LBR',
  'spl[1]/spl_Type': 'Accommodation',
  'spl[1]/spl_StartDate': REGISTERED_ON,
  'spl[1]/spl_Status': 'planned',
};

// ---------------------------------------------------------------------------------------
// Helpers

const pathOf = (page) => new URL(page.url()).pathname;

/**
 * Clicks something that submits a form, and resolves with the response to the POST once the
 * page it leads to (the redirect target, or the page re-rendered with problems) has loaded.
 */
async function submit(page, clickable) {
  const [res] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && r.request().isNavigationRequest()),
    page.waitForEvent('load'),
    clickable.click(),
  ]);
  await assertNotRefusedAsCrossSite(page, res);
  return res;
}

/** Answers form inputs by name: selects by value, checkbox groups by values, text as typed. */
async function fillAnswers(page, answers) {
  for (const [name, value] of Object.entries(answers)) {
    const inputs = page.locator(`form.case-form [name="${name}"]`);
    const n = await inputs.count();
    assert.ok(n > 0, `the form has no input named ${name}`);
    const kind = await inputs.first().evaluate((e) => `${e.tagName}/${e.type}`);
    if (kind.startsWith('SELECT')) {
      await inputs.selectOption(value);
    } else if (kind === 'INPUT/checkbox') {
      for (const v of [].concat(value)) await page.locator(`form.case-form [name="${name}"][value="${v}"]`).check();
    } else {
      await inputs.fill(String(value));
    }
  }
}

/** name -> message of every input the page marks invalid. */
async function fieldErrors(page) {
  return page.evaluate(() =>
    Object.fromEntries(
      [...document.querySelectorAll('form.case-form .field.invalid')].map((f) => [
        f.querySelector('input, select')?.name,
        f.querySelector('.error-text')?.textContent.trim(),
      ]),
    ),
  );
}

/** The required-field marker: the label (or group label) of input `name` ends with " *". */
async function isMarkedRequired(page, name) {
  return page.evaluate((n) => {
    const input = document.querySelector(`form.case-form [name="${CSS.escape(n)}"]`);
    const label = input?.closest('.field')?.querySelector('label[for], span.label');
    return Boolean(label && label.textContent.trim().endsWith('*'));
  }, name);
}

async function caseStage(page) {
  return (await page.locator('#case-stage').innerText()).trim();
}

/** Presses "Move to LABEL[ (approval)]" on the case page; the page reloads at the new stage. */
async function moveTo(page, caseId, label, { approval = false } = {}) {
  const name = `Move to ${label}${approval ? ' (approval)' : ''}`;
  const res = await submit(page, page.getByRole('button', { name, exact: true }));
  assert.equal(res.status(), 303, `POST /cases/${caseId}/stage (${name}) answered ${res.status()}`);
  assert.equal(pathOf(page), `/cases/${caseId}`, `after "${name}" the browser is at ${page.url()}`);
  const alert = page.locator('main [role="alert"]');
  assert.equal(await alert.count(), 0, `case page shows an error after "${name}": ${await alert.allInnerTexts()}`);
  assert.equal(await caseStage(page), label, `after "${name}"`);
}

async function historyRows(page) {
  return (await page.locator('#case-history tbody tr').allInnerTexts()).map((t) => t.replace(/\s+/g, ' ').trim());
}

/** Opens /cases/ID and checks it is the case page of NUMBER. */
async function openCase(page, base, id, number) {
  const res = await page.goto(`${base}/cases/${id}`);
  assert.equal(res.status(), 200, `/cases/${id} answered ${res.status()}`);
  assert.equal((await page.locator('h1').first().innerText()).split(' · ')[0].trim(), number);
}

// ---------------------------------------------------------------------------------------
// The checks

async function run() {
  const { base, accounts } = await startDemoAndBrowser('casework');
  // The names this run types pass through every kind of request; never into the log.
  forbidInLogs(...PERSON_NAMES);
  for (const u of ['caseworker', 'manager', 'shelter.caseworker']) {
    assert.ok(accounts.get(u)?.password, `demo-accounts.txt has no ${u} account`);
  }
  const as = (u) => signIn(page, base, u, accounts.get(u).password).then(() => {
    assert.equal(pathOf(page), '/', `after signing in as ${u} the browser is at ${page.url()}`);
  });

  const ctx = await newContext();
  const page = await newPage(ctx, 'casework');
  const avrr = { id: '', number: '', personId: '' };
  const ct = { id: '', number: '', personId: '' };
  let referralId = '';

  // --- 1. caseworker registers an AVRR case ---------------------------------------------
  await check('caseworker signs in', () => as('caseworker'));

  const newAvrrUrl = `${base}/cases/new?programme=avrr`;
  await check('an empty AVRR form is refused with 422 and messages at the required inputs', async () => {
    const res = await page.goto(newAvrrUrl);
    assert.equal(res.status(), 200, `${newAvrrUrl} answered ${res.status()}`);
    assert.match(await page.locator('h1').innerText(), /New case/);
    for (const name of AVRR_ALWAYS_REQUIRED) {
      assert.ok(await isMarkedRequired(page, name), `${name} is not marked with *`);
    }
    const defaults = await page.evaluate(() => ({
      registration_date: document.querySelector('[name="registration_date"]')?.value,
      case_status: document.querySelector('[name="case_status"]')?.value,
    }));
    // The form's `default` column fills a new record: today() and a literal.
    assert.match(defaults.registration_date ?? '', /^\d{4}-\d{2}-\d{2}$/, `registration_date: ${defaults.registration_date}`);
    assert.equal(defaults.case_status, 'registered');
    expectStatus(newAvrrUrl, 422);
    const post = await submit(page, page.getByRole('button', { name: 'Register case' }));
    assert.equal(post.status(), 422, `POST of an empty AVRR form answered ${post.status()}`);
    assert.match(await page.locator('#case-problems').innerText(), /The case was not saved/);
    const errors = await fieldErrors(page);
    for (const name of AVRR_ALWAYS_REQUIRED.filter((n) => n !== 'registration_date')) {
      assert.equal(errors[name], 'is required', `message at ${name} (all: ${JSON.stringify(errors)})`);
    }
    assert.equal(errors.registration_date, undefined, 'the defaulted date was kept');
    // Not relevant until case_type = return_from_lr, so not yet required.
    assert.equal(errors.country_of_return, undefined, `country_of_return already required: ${JSON.stringify(errors)}`);
    await page.screenshot({ path: path.join(SHOTS, 'casework-avrr-refused.png'), fullPage: true });
    assertNoProblems('on the refused AVRR form');
  });

  await check('answers that `relevant` makes required are asked for next', async () => {
    await fillAnswers(page, AVRR_BASE);
    const post = await submit(page, page.getByRole('button', { name: 'Register case' }));
    assert.equal(post.status(), 422, `POST without the relevant answers answered ${post.status()}`);
    const errors = await fieldErrors(page);
    assert.deepEqual(Object.keys(errors).sort(), Object.keys(AVRR_RELEVANT).sort(), `invalid inputs: ${JSON.stringify(errors)}`);
    for (const [name, msg] of Object.entries(errors)) assert.equal(msg, 'is required', `message at ${name}`);
    // What was typed is kept on the re-rendered page.
    assert.equal(await page.locator('[name="first_name"]').inputValue(), AVRR_PERSON.first);
    assert.equal(await page.locator('[name="case_type"]').inputValue(), 'return_from_lr');
    assert.ok(await page.locator('[name="voluntariness_ack"]').isChecked(), 'voluntariness_ack was unticked');
    assertNoProblems('on the refused AVRR form');
  });

  await check('caseworker registers the AVRR case', async () => {
    await fillAnswers(page, AVRR_RELEVANT);
    const post = await submit(page, page.getByRole('button', { name: 'Register case' }));
    const errors = post.status() === 303 ? {} : await fieldErrors(page);
    assert.equal(post.status(), 303, `POST of the AVRR form answered ${post.status()}; invalid inputs ${JSON.stringify(errors)}`);
    const m = pathOf(page).match(/^\/cases\/([0-9a-f-]{36})$/);
    assert.ok(m, `after registering the browser is at ${page.url()}`);
    avrr.id = m[1];
    avrr.number = (await page.locator('h1').first().innerText()).split(' · ')[0].trim();
    assert.match(avrr.number, /^AVRR-\d{4}-\d+$/, `case number ${avrr.number}`);
    assert.equal((await page.locator('#case-person').innerText()).trim(), `${AVRR_PERSON.first} ${AVRR_PERSON.last}`);
    avrr.personId = (await page.locator('#case-person').getAttribute('href')).split('/').pop();
    assert.equal(await caseStage(page), 'Registered');
    log(`       registered ${avrr.number} (/cases/${avrr.id})`);
    assertNoProblems('on the new AVRR case');
  });

  await check('caseworker moves the case to Counselling', () => moveTo(page, avrr.id, 'Counselling'));

  await check('the approval step is awaiting approval, with no button for the caseworker', async () => {
    const notice = page.locator('#awaiting-approval');
    await notice.waitFor();
    assert.match(await notice.innerText(), /Eligibility approved.*needs approval/s);
    assert.equal(await page.getByRole('button', { name: /Eligibility approved/ }).count(), 0,
      'caseworker is offered a button to Eligibility approved');
    assert.equal(await page.getByRole('button', { name: /\(approval\)/ }).count(), 0,
      'caseworker is offered an approval button');
    assertNoProblems('on the case page (caseworker)');
  });

  // --- 2. manager approves; caseworker moves on to Departed ------------------------------
  await check('manager approves: Move to Eligibility approved (approval)', async () => {
    await signOut(page, base);
    await as('manager');
    await openCase(page, base, avrr.id, avrr.number);
    assert.equal(await page.locator('#awaiting-approval').count(), 0, 'manager is told to wait for approval');
    await moveTo(page, avrr.id, 'Eligibility approved', { approval: true });
    assertNoProblems('on the case page (manager)');
  });

  await check('caseworker moves the case to Travel arranged, then Departed', async () => {
    await signOut(page, base);
    await as('caseworker');
    await openCase(page, base, avrr.id, avrr.number);
    await moveTo(page, avrr.id, 'Travel arranged');
    await moveTo(page, avrr.id, 'Departed');
    assert.equal(await page.locator('.stages li.current').innerText(), 'Departed');
    assertNoProblems('on the case page (caseworker)');
  });

  await check('the history lists every move, with who made it', async () => {
    const rows = await historyRows(page);
    const expected = [
      ['Registered to Counselling', CASEWORKER_NAME],
      ['Counselling to Eligibility approved', MANAGER_NAME],
      ['Eligibility approved to Travel arranged', CASEWORKER_NAME],
      ['Travel arranged to Departed', CASEWORKER_NAME],
    ];
    for (const [move, who] of expected) {
      assert.ok(rows.some((r) => r.includes(`Moved from ${move}`) && r.includes(who)),
        `no history row "Moved from ${move}" by ${who} in:\n  ${rows.join('\n  ')}`);
    }
    assert.ok(rows.some((r) => /\bRegistered$/.test(r) && r.includes(CASEWORKER_NAME)), `no "Registered" row in:\n  ${rows.join('\n  ')}`);
  });

  // --- 3. service, assignment, edit ------------------------------------------------------
  await check('caseworker records a service and sees it listed', async () => {
    const form = page.locator('#services form');
    await form.locator('select[name="service_type"]').selectOption({ label: 'Transport' });
    const deliveredOn = await form.locator('input[name="delivered_on"]').inputValue();
    assert.match(deliveredOn, /^\d{4}-\d{2}-\d{2}$/, `delivered_on defaults to ${JSON.stringify(deliveredOn)}`);
    await form.locator('input[name="value"]').fill('150');
    await form.locator('select[name="currency"]').selectOption('USD');
    const res = await submit(page, form.getByRole('button', { name: 'Record service' }));
    assert.equal(res.status(), 303, `POST /cases/${avrr.id}/services answered ${res.status()}`);
    assert.equal(pathOf(page), `/cases/${avrr.id}`);
    const rows = await page.locator('#services tbody tr').evaluateAll((trs) =>
      trs.map((tr) => [...tr.cells].map((td) => td.textContent.trim())));
    assert.equal(rows.length, 1, `services listed: ${JSON.stringify(rows)}`);
    const [date, service, , value] = rows[0];
    assert.equal(date, deliveredOn);
    assert.equal(service, 'Transport');
    assert.match(value, /^150(\.0+)? USD$/, `service value shown as ${JSON.stringify(value)}`);
    assert.ok((await historyRows(page)).some((r) => r.includes('Recorded service: Transport')), 'history has no "Recorded service"');
    assertNoProblems('after recording a service');
  });

  await check('caseworker assigns the case to themself with a due date', async () => {
    const form = page.locator('form[action$="/assign"]');
    await form.locator('select[name="assignee"]').selectOption({ label: CASEWORKER_NAME });
    await form.locator('input[name="due_on"]').fill(DUE_ON);
    const res = await submit(page, form.getByRole('button', { name: 'Save assignment' }));
    assert.equal(res.status(), 303, `POST /cases/${avrr.id}/assign answered ${res.status()}`);
    const text = (await page.locator('#case-assignment').innerText()).replace(/\s+/g, ' ');
    assert.match(text, new RegExp(`Assigned to ${CASEWORKER_NAME.replace(/[()]/g, '\\$&')}`), text);
    assert.ok(text.includes(DUE_ON), `assignment reads ${JSON.stringify(text)}, expected due ${DUE_ON}`);
    assert.ok(!/overdue/.test(text), `assignment reads ${JSON.stringify(text)}`);
    assertNoProblems('after assigning');
  });

  await check('/cases?assignee=me lists the case', async () => {
    const res = await page.goto(`${base}/cases?assignee=me`);
    assert.equal(res.status(), 200);
    const list = page.locator('#case-list tbody');
    await list.getByRole('link', { name: avrr.number, exact: true }).waitFor();
    const row = (await list.locator('tr').filter({ hasText: avrr.number }).innerText()).replace(/\s+/g, ' ');
    assert.ok(row.includes(CASEWORKER_NAME) && row.includes(DUE_ON) && row.includes('Departed'), `row reads ${row}`);
    assert.equal(await page.locator('select[name="assignee"]').inputValue(), 'me');
    await page.screenshot({ path: path.join(SHOTS, 'casework-cases-assigned-to-me.png'), fullPage: true });
    assertNoProblems('on /cases?assignee=me');
  });

  await check('caseworker edits an answer and the history says what changed', async () => {
    await openCase(page, base, avrr.id, avrr.number);
    await Promise.all([page.waitForURL(`${base}/cases/${avrr.id}/edit`), page.locator('#edit-case').click()]);
    assert.equal(await page.locator('h1').innerText(), `Edit ${avrr.number}`);
    const age = page.locator('form.case-form [name="age_stated"]');
    assert.equal(await age.inputValue(), AVRR_RELEVANT.age_stated, 'the edit form does not show the saved age');
    await age.fill('35');
    const res = await submit(page, page.getByRole('button', { name: 'Save changes' }));
    const errors = res.status() === 303 ? {} : await fieldErrors(page);
    const problems = res.status() === 303 ? '' : await page.locator('#case-problems').innerText().catch(() => '');
    assert.equal(res.status(), 303, `saving the edit answered ${res.status()}: ${problems} ${JSON.stringify(errors)}`);
    assert.equal(pathOf(page), `/cases/${avrr.id}`);
    // (The assignment is in the history as "Changed Caseworker, Due date" too.)
    const rows = await historyRows(page);
    const changed = rows.filter((r) => r.includes('Changed ') && r.includes('Age in completed years (stated or estimated)'));
    assert.equal(changed.length, 1, `history rows about the edit:\n  ${rows.join('\n  ')}`);
    assert.ok(changed[0].includes(CASEWORKER_NAME), changed[0]);
    // Only the age and what the form calculates from it (age in years, age band) changed.
    const fields = changed[0].match(/Changed (.*?)(?: Earlier values)?$/)[1].split(', ');
    const unexpected = fields.filter((f) => !/\bage\b/i.test(f));
    assert.deepEqual(unexpected, [], `the edit reports changes to fields that were not edited: ${changed[0]}`);
    const answer = page.locator('dl.answers dt', { hasText: 'Age in completed years (stated or estimated)' }).first();
    assert.equal((await answer.locator('xpath=following-sibling::dd[1]').innerText()).trim(), '35');
    assertNoProblems('after editing the case');
  });

  await check('screenshot: the AVRR case page after departure', async () => {
    assert.equal(await caseStage(page), 'Departed');
    await page.screenshot({ path: path.join(SHOTS, 'casework-avrr-departed.png'), fullPage: true });
  });

  // --- 4. CT case and a referral to the shelter ------------------------------------------
  await check('caseworker registers a CT case', async () => {
    const res = await page.goto(`${base}/cases/new?programme=ct`);
    assert.equal(res.status(), 200);
    await fillAnswers(page, CT_ANSWERS);
    const post = await submit(page, page.getByRole('button', { name: 'Register case' }));
    const errors = post.status() === 303 ? {} : await fieldErrors(page);
    assert.equal(post.status(), 303, `POST of the CT form answered ${post.status()}; invalid inputs ${JSON.stringify(errors)}`);
    const m = pathOf(page).match(/^\/cases\/([0-9a-f-]{36})$/);
    assert.ok(m, `after registering the browser is at ${page.url()}`);
    ct.id = m[1];
    ct.number = (await page.locator('h1').first().innerText()).split(' · ')[0].trim();
    assert.match(ct.number, /^CT-\d{4}-\d+$/, `case number ${ct.number}`);
    assert.equal((await page.locator('#case-person').innerText()).trim(), `${CT_PERSON.first} ${CT_PERSON.last}`);
    ct.personId = (await page.locator('#case-person').getAttribute('href')).split('/').pop();
    log(`       registered ${ct.number} (/cases/${ct.id})`);
    assertNoProblems('on the new CT case');
  });

  await check('a referral naming the person is refused until they consent to sharing with the shelter', async () => {
    const details = page.locator('#referrals details');
    await details.locator('summary', { hasText: 'Refer to another organisation' }).click();
    const form = details.locator('form.referral-form');
    await form.locator('select[name="to"]').selectOption({ label: SHELTER });
    await form.locator('select[name="service_type"]').selectOption({ label: 'Shelter and accommodation' });
    await form.locator('input[name="fields"][value="prs_FirstName"]').check();
    expectStatus(`${base}/cases/${ct.id}/referrals`, 422);
    const res = await submit(page, form.getByRole('button', { name: 'Send referral' }));
    assert.equal(res.status(), 422);
    assert.match(await page.locator('p.error').first().innerText(), /not consented to sharing with this organisation/);
    // The consent is recorded on the person's page, with its evidence.
    await page.goto(`${base}/persons/${ct.personId}`);
    assert.ok(await page.locator('#no-consent').isVisible());
    await page.locator('#consents summary', { hasText: 'Record a consent' }).click();
    const consent = page.locator('#consent-form');
    await consent.locator('select[name="scope"]').selectOption('sharing');
    await consent.locator('input[name="purpose"]').fill('Shelter and protection services');
    await consent.getByLabel(SHELTER).check();
    await consent.locator('input[name="evidence"]').fill('Signed form, witnessed');
    const saved = await submit(page, consent.getByRole('button', { name: 'Record consent' }));
    assert.equal(saved.status(), 303);
    const row = await page.locator('#consent-list tbody tr').first().innerText();
    assert.ok(row.includes(SHELTER) && row.includes('in force'), row);
    await page.screenshot({ path: path.join(SHOTS, 'person-consent.png'), fullPage: true });
    await page.goto(`${base}/cases/${ct.id}`);
  });

  await check('caseworker refers the CT case to the shelter, sharing first name and sex', async () => {
    const details = page.locator('#referrals details');
    await details.locator('summary', { hasText: 'Refer to another organisation' }).click();
    const form = details.locator('form.referral-form');
    await form.locator('select[name="to"]').selectOption({ label: SHELTER });
    await form.locator('select[name="service_type"]').selectOption({ label: 'Shelter and accommodation' });
    await form.locator('input[name="fields"][value="prs_FirstName"]').check();
    await form.locator('input[name="fields"][value="sex"]').check();
    const res = await submit(page, form.getByRole('button', { name: 'Send referral' }));
    assert.equal(res.status(), 303, `POST /cases/${ct.id}/referrals answered ${res.status()}`);
    assert.equal(pathOf(page), `/cases/${ct.id}`);
    const rows = await page.locator('#referrals tbody tr').evaluateAll((trs) =>
      trs.map((tr) => [...tr.cells].map((td) => td.textContent.trim())));
    assert.equal(rows.length, 1, `referrals listed: ${JSON.stringify(rows)}`);
    assert.deepEqual(rows[0].slice(1), [SHELTER, 'Shelter and accommodation', 'requested']);
    referralId = (await page.locator('#referrals tbody a').first().getAttribute('href')).split('/').pop();
    assert.ok((await historyRows(page)).some((r) => r.includes(`Referred to ${SHELTER} for Shelter and accommodation`)),
      'history has no "Referred to" row');
    assertNoProblems('after referring');
  });

  // The demo also generates fictional cases (some assigned to caseworker), so the lists hold
  // more than these two; newest first, ours come first.
  await check('the cases list shows both cases; "assigned to me" only the assigned one', async () => {
    await page.goto(`${base}/cases?assignee=me`);
    const mine = await page.locator('#case-list tbody tr').evaluateAll((trs) =>
      trs.map((tr) => [...tr.cells].map((td) => td.textContent.trim())));
    const numbers = mine.map((r) => r[0]);
    assert.equal(numbers[0], avrr.number, `assigned to me (newest first): ${JSON.stringify(numbers)}`);
    assert.ok(!numbers.includes(ct.number), `the unassigned ${ct.number} is listed as assigned to me`);
    const others = mine.filter((r) => r[5] !== CASEWORKER_NAME);
    assert.deepEqual(others, [], 'cases assigned to someone else are listed as assigned to me');
    const res = await page.goto(`${base}/cases`);
    assert.equal(res.status(), 200);
    const all = (await page.locator('#case-list tbody tr td:first-child').allInnerTexts()).map((s) => s.trim());
    assert.deepEqual(all.slice(0, 2), [ct.number, avrr.number], `cases listed (newest first): ${JSON.stringify(all)}`);
    await page.screenshot({ path: path.join(SHOTS, 'casework-cases-list.png'), fullPage: true });
    assertNoProblems('on /cases');
  });

  // --- 5. the shelter ---------------------------------------------------------------------
  await check('shelter.caseworker finds the referral under /referrals', async () => {
    await signOut(page, base);
    await as('shelter.caseworker');
    const res = await page.goto(`${base}/referrals`);
    assert.equal(res.status(), 200);
    const link = page.locator(`#referral-list tbody a[href="/referrals/${referralId}"]`);
    assert.equal(await link.count(), 1, `/referrals does not list /referrals/${referralId}`);
    const row = await link.locator('xpath=ancestor::tr').evaluate((tr) => [...tr.cells].map((td) => td.textContent.trim()));
    assert.deepEqual(row.slice(1), ['From', 'IOM Liberia', 'Shelter and accommodation', 'requested']);
    await Promise.all([page.waitForURL(`${base}/referrals/${referralId}`), link.click()]);
    assertNoProblems('on /referrals (shelter)');
  });

  await check('the shelter sees only the shared answers', async () => {
    assert.equal((await page.locator('#referral-status').innerText()).trim(), 'requested');
    const shared = await page.locator('#referral-shared').evaluate((dl) =>
      [...dl.querySelectorAll('dt')].map((dt) => [dt.textContent.trim(), dt.nextElementSibling?.textContent.trim()]));
    assert.equal(shared.length, 2, `shared answers: ${JSON.stringify(shared)}`);
    const byLabel = Object.fromEntries(shared);
    const first = shared.find(([k]) => /first ?name/i.test(k));
    const sex = shared.find(([k]) => /^sex$/i.test(k));
    assert.ok(first && sex, `shared labels: ${JSON.stringify(Object.keys(byLabel))}`);
    assert.equal(first[1], CT_PERSON.first);
    assert.match(sex[1], /^female$/i);
    // Labelled as the case's form labels them, choices by their labels.
    assert.equal(sex[1], 'Female', `shared answers: ${JSON.stringify(shared)}`);
    assert.doesNotMatch(first[0], /prs|_/, `shared labels: ${JSON.stringify(shared)}`);
    const text = await page.locator('body').innerText();
    for (const secret of [CT_PERSON.last, AVRR_PERSON.first, AVRR_PERSON.last, ct.number, avrr.number]) {
      assert.ok(!text.includes(secret), `the shelter's referral page shows ${JSON.stringify(secret)}`);
    }
    assert.equal(await page.getByRole('link', { name: 'Open the case' }).count(), 0, 'the shelter is offered a link to the case');
    assert.equal(await page.locator(`a[href*="${ct.id}"], a[href*="${ct.personId}"]`).count(), 0, 'the page links to the case or person');
    assertNoProblems('on the referral (shelter)');
  });

  await check('the shelter accepts the referral', async () => {
    const res = await submit(page, page.locator('#accept-referral'));
    assert.equal(res.status(), 303, `POST /referrals/${referralId}/answer answered ${res.status()}`);
    assert.equal(pathOf(page), `/referrals/${referralId}`);
    assert.equal((await page.locator('#referral-status').innerText()).trim(), 'accepted');
    assert.equal(await page.locator('#accept-referral').count(), 0, 'the accept button is still offered');
    await page.screenshot({ path: path.join(SHOTS, 'casework-referral-shelter.png'), fullPage: true });
    assertNoProblems('after accepting (shelter)');
  });

  const hidden = [
    ['the AVRR case', () => `/cases/${avrr.id}`],
    ['the CT case', () => `/cases/${ct.id}`],
    ['the AVRR case edit page', () => `/cases/${avrr.id}/edit`],
    ['the AVRR person', () => `/persons/${avrr.personId}`],
    ['the CT person', () => `/persons/${ct.personId}`],
  ];
  for (const [what, url] of hidden) {
    await check(`the shelter gets 404 for ${what}, with no case number or name`, async () => {
      const full = `${base}${url()}`;
      expectStatus(full, 404);
      const res = await page.goto(full);
      assert.equal(res.status(), 404, `${url()} answered ${res.status()} to shelter.caseworker`);
      const text = await page.locator('body').innerText();
      for (const secret of [avrr.number, ct.number, ...PERSON_NAMES]) {
        assert.ok(!text.includes(secret), `${url()} shows ${JSON.stringify(secret)} to shelter.caseworker`);
      }
      const html = await page.content();
      for (const secret of [avrr.number, ct.number, ...PERSON_NAMES]) {
        assert.ok(!html.includes(secret), `the HTML of ${url()} contains ${JSON.stringify(secret)}`);
      }
      assertNoProblems(`on ${url()} (shelter)`);
    });
  }

  // --- 6. back at IOM ---------------------------------------------------------------------
  await check('the caseworker sees the referral accepted on the CT case', async () => {
    await page.goto(`${base}/`); // error pages have no header, so no "Sign out" button
    await signOut(page, base);
    await as('caseworker');
    await openCase(page, base, ct.id, ct.number);
    const status = (await page.locator('#referrals tbody tr td:last-child').innerText()).trim();
    assert.equal(status, 'accepted');
    assertNoProblems('on the CT case (caseworker)');
  });

  await check('the referring caseworker can open the referral and its case', async () => {
    await Promise.all([page.waitForURL(`${base}/referrals/${referralId}`), page.locator('#referrals tbody a').first().click()]);
    assert.equal((await page.locator('#referral-status').innerText()).trim(), 'accepted');
    assert.equal(await page.getByRole('link', { name: 'Open the case' }).getAttribute('href'), `/cases/${ct.id}`);
    assert.equal(await page.locator('#accept-referral').count(), 0, 'the sender is offered to accept its own referral');
    const labels = await page.locator('#referral-shared dt').allInnerTexts();
    assert.ok(labels.includes('Sex') && labels.every((l) => !/prs|_/.test(l)), `labels: ${JSON.stringify(labels)}`);
    assertNoProblems('on the referral (caseworker)');
  });

  // --- 6. registering the same person again ----------------------------------------------
  await check('registering the AVRR person again (one letter off) first shows who they may be', async () => {
    await page.goto(newAvrrUrl);
    await fillAnswers(page, { ...AVRR_BASE, last_name: 'Zwanah', ...AVRR_RELEVANT });
    const post = await submit(page, page.getByRole('button', { name: 'Register case' }));
    assert.equal(post.status(), 200, 'nothing is saved yet');
    const panel = page.locator('#similar-persons');
    assert.match(await panel.innerText(), new RegExp(`${AVRR_PERSON.first} ${AVRR_PERSON.last}[\\s\\S]*likely the same person`));
    assert.match(await panel.innerText(), /given_name exact/);
    assert.equal(await page.locator('[name="last_name"]').inputValue(), 'Zwanah', 'what was typed is kept');
    await panel.screenshot({ path: path.join(SHOTS, 'casework-similar-person.png') });
    const again = await submit(page, panel.getByRole('button', { name: `Register for ${AVRR_PERSON.first} ${AVRR_PERSON.last}` }));
    assert.equal(again.status(), 303);
    assert.equal((await page.locator('#case-person').getAttribute('href')).split('/').pop(), avrr.personId, 'the new case belongs to the person found');
    assertNoProblems('on the second AVRR registration');
  });

  await ctx.close();
  assertNoProblems('at the end');
  await check('no name typed in this run appears in the server log', async () => assertLogsClean('case work'));
}

await main('casework', run);
