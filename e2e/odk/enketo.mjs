// Enketo client harness: the real Enketo engine (enketo-core 9.0.1 with enketo-transformer's
// browser build) in headless Chromium against an OpenRosa 1.0 server, the way an Enketo web
// form does it: form list, XForm download, XSLT transform, the form opened on a record, then
// HEAD and POST of what Enketo serialises.
//
// Enketo Express, the server part Kobo and Central run, is not on npm
// (../shared/notes/odk-openrosa.md section 4.4), so the page here plays its role. The page is
// served at the server's own origin (Playwright answers for one path), as Express serves it.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const MODULES = path.join(HERE, '..', 'node_modules');

/** Bundles enketo-core and enketo-transformer/web for the browser into `dir`; returns the file. */
export function bundleEnketo(dir) {
  const entry = path.join(dir, 'enketo-entry.js');
  const out = path.join(dir, 'enketo-bundle.js');
  fs.writeFileSync(entry, [
    `import { transform } from ${JSON.stringify(path.join(MODULES, 'enketo-transformer/dist/enketo-transformer/web/transformer.js'))};`,
    `import { Form } from ${JSON.stringify(path.join(MODULES, 'enketo-core/src/js/form.js'))};`,
    'window.enketo = { transform, Form };',
  ].join('\n'));
  execFileSync(path.join(MODULES, '.bin', 'esbuild'), [
    entry, '--bundle', '--format=esm', '--platform=browser', '--external:libxslt',
    '--log-level=error', `--outfile=${out}`,
  ]);
  return out;
}

/**
 * Opens form `formId` from `server` (an OpenRosa base such as BASE/key/TOKEN) in Enketo on the
 * record `instanceXml`, validates it and submits Enketo's serialisation. `submitted` says
 * whether the record was sent before (Enketo then sends an edit of it) or is a draft saved
 * on the device. Resolves with { loadErrors, valid, head, status, body, data }.
 */
export async function enketoSubmit(context, base, bundle, server, formId, instanceXml, submitted = true) {
  const page = await context.newPage();
  const script = fs.readFileSync(bundle, 'utf8');
  await page.route(`${base}/__enketo/**`, (route) => {
    const file = new URL(route.request().url()).pathname.endsWith('.js')
      ? { contentType: 'text/javascript', body: script }
      : { contentType: 'text/html', body: '<!doctype html><meta charset="utf-8"><title>Enketo</title><script type="module" src="/__enketo/enketo.js"></script>' };
    return route.fulfill({ status: 200, ...file });
  });
  await page.goto(`${base}/__enketo/index.html`);
  await page.waitForFunction(() => window.enketo);
  try {
    return await page.evaluate(async ({ server, formId, instanceXml, submitted }) => {
      const headers = { 'X-OpenRosa-Version': '1.0' };
      const text = async (url, init) => {
        const res = await fetch(url, { headers, ...init });
        if (!res.ok) throw new Error(`${url.replace(/\/key\/[^/]+/, '/key/…')} answered ${res.status}`);
        return res.text();
      };
      const list = new DOMParser().parseFromString(await text(`${server}/formList?formID=${formId}`), 'text/xml');
      const entry = [...list.getElementsByTagNameNS('*', 'xform')]
        .find((x) => x.getElementsByTagNameNS('*', 'formID')[0]?.textContent === formId);
      if (!entry) throw new Error(`${formId} is not in the form list`);
      const xform = await text(entry.getElementsByTagNameNS('*', 'downloadUrl')[0].textContent);
      const { form, model } = await window.enketo.transform({ xform });
      document.body.insertAdjacentHTML('beforeend', form);
      const enketoForm = new window.enketo.Form(document.querySelector('form.or'), { modelStr: model, instanceStr: instanceXml, submitted });
      const loadErrors = enketoForm.init();
      const valid = await enketoForm.validate();
      const data = enketoForm.getDataStr();
      const body = new FormData();
      body.append('xml_submission_file', new Blob([data], { type: 'text/xml' }), 'xml_submission_file.xml');
      const head = await fetch(`${server}/submission`, { method: 'HEAD', headers });
      const post = await fetch(`${server}/submission`, { method: 'POST', headers, body });
      return { loadErrors, valid, head: head.status, status: post.status, body: await post.text(), data };
    }, { server, formId, instanceXml, submitted });
  } finally {
    await page.close();
  }
}
