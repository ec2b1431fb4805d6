#!/usr/bin/env node
// ODK Web Forms client harness: drives the real Web Forms engine (@getodk/xforms-engine) in
// Node against an OpenRosa 1.0 server, the way a Web Forms page would.
//
//   node e2e/odk/webforms.mjs --server BASE_URL --form FORM_ID [--repeats N] [--attach FILE]
//                             [--out DIR] [--chunk-bytes N]
//
// 1. GET BASE/formList, find FORM_ID, download the XForm and check its md5: hash.
// 2. Fill every relevant question generically (validation-driven, see fillForm()).
// 3. Serialise with prepareInstancePayload() and write the instance XML to --out.
// 4. HEAD BASE/submission (204), POST each payload chunk (201/202 + OpenRosaResponse).
// 5. Print one JSON line describing the submission; on failure: reason on stderr, exit 1.
//
// --repeats N  every (uncontrolled) repeat ends up with exactly N instances (default 1).
// --attach F   file for upload questions; the engine names it like Web Forms does
//              (<epoch ms><extension>).
// --chunk-bytes N  use the 'chunked' payload (attachments bin-packed into POSTs <= N bytes).
//
// Background: ../shared/notes/odk-openrosa.md sections 1 and 4.3.

import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { JSDOM } from 'jsdom';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ENGINE_VERSION = (() => {
  try {
    const pkg = path.join(HERE, '../node_modules/@getodk/xforms-engine/package.json');
    return JSON.parse(fs.readFileSync(pkg, 'utf8')).version;
  } catch {
    return 'unknown';
  }
})();
const OPENROSA_HEADERS = {
  'X-OpenRosa-Version': '1.0',
  'User-Agent': `passage-e2e-webforms (@getodk/xforms-engine/${ENGINE_VERSION}; node/${process.versions.node})`,
};
const XFORMS_LIST_NS = 'http://openrosa.org/xforms/xformsList';
const MANIFEST_NS = 'http://openrosa.org/xforms/xformsManifest';
const RESPONSE_NS = 'http://openrosa.org/http/response';
const MAX_PASSES = 40; // relevance/constraint fix-point; real forms settle in a handful
const MAX_ATTEMPTS_PER_NODE = 3; // a node whose candidates all fail is retried this often

class Failure extends Error {}
const fail = (msg) => {
  throw new Failure(msg);
};

// ---------------------------------------------------------------------------------------
// DOM globals. The engine is written for browsers: it parses XML with DOMParser and walks
// it with Node/Element constants. web-tree-sitter (bundled for XPath parsing) takes its
// Node branch and references __dirname and module, so those must exist before the import.

function installDomGlobals() {
  const { window } = new JSDOM('');
  const names = [
    'DOMParser', 'XMLSerializer', 'Node', 'Element', 'Document', 'XMLDocument', 'Attr', 'Text',
    'CharacterData', 'Comment', 'DocumentFragment', 'NodeFilter', 'NodeList', 'HTMLCollection',
    'NamedNodeMap', 'ProcessingInstruction', 'CDATASection', 'DOMImplementation', 'XPathResult',
  ];
  globalThis.window ??= window;
  globalThis.document ??= window.document;
  for (const name of names) {
    if (!(name in globalThis) && name in window) globalThis[name] = window[name];
  }
  globalThis.__dirname ??= '/';
  globalThis.module ??= { exports: {} };
  return window;
}

// ---------------------------------------------------------------------------------------
// Arguments

function readArgs() {
  const { values } = parseArgs({
    options: {
      server: { type: 'string' },
      form: { type: 'string' },
      repeats: { type: 'string', default: '1' },
      attach: { type: 'string' },
      out: { type: 'string' },
      'chunk-bytes': { type: 'string' },
    },
    strict: true,
  });
  if (!values.server || !values.form) {
    fail('usage: webforms.mjs --server BASE_URL --form FORM_ID [--repeats N] [--attach FILE] '
      + '[--out DIR] [--chunk-bytes N]');
  }
  const repeats = Number(values.repeats);
  if (!Number.isInteger(repeats) || repeats < 0) fail(`--repeats must be an integer >= 0`);
  const chunkBytes = values['chunk-bytes'] == null ? null : Number(values['chunk-bytes']);
  if (chunkBytes != null && !(Number.isInteger(chunkBytes) && chunkBytes > 0)) {
    fail('--chunk-bytes must be a positive integer');
  }
  if (values.attach && !fs.existsSync(values.attach)) fail(`--attach: no such file ${values.attach}`);
  return {
    server: values.server.replace(/\/+$/, ''),
    formId: values.form,
    repeats,
    attach: values.attach ?? null,
    out: values.out ?? fs.mkdtempSync(path.join(os.tmpdir(), 'webforms-')),
    chunkBytes,
  };
}

// ---------------------------------------------------------------------------------------
// OpenRosa HTTP

// Every request carries the OpenRosa headers; Date is required by the spec (servers should
// ignore it, Collect's is malformed anyway).
async function openRosaFetch(url, init = {}) {
  try {
    return await fetch(url, {
      ...init,
      headers: { ...OPENROSA_HEADERS, Date: new Date().toUTCString(), ...(init.headers ?? {}) },
    });
  } catch (err) {
    fail(`${init.method ?? 'GET'} ${url}: ${err.cause?.message ?? err.message}`);
  }
}

function requireOpenRosaHeader(res, what) {
  const v = res.headers.get('x-openrosa-version');
  if (v == null) fail(`${what}: response lacks X-OpenRosa-Version (Collect: "not an OpenRosa server")`);
  if (v.trim() !== '1.0') fail(`${what}: X-OpenRosa-Version is ${JSON.stringify(v)}, expected 1.0`);
}

function parseXml(window, text, what) {
  const doc = new window.DOMParser().parseFromString(text, 'text/xml');
  if (doc.getElementsByTagName('parsererror').length > 0) fail(`${what}: not well-formed XML`);
  return doc;
}

// Direct child text in a namespace, e.g. <formID> under <xform>.
function childText(el, ns, name) {
  for (const c of el.children) if (c.namespaceURI === ns && c.localName === name) return c.textContent.trim();
  return null;
}

async function fetchFormList(window, server, formId) {
  const url = `${server}/formList`;
  const res = await openRosaFetch(url);
  if (res.status !== 200) fail(`GET ${url}: status ${res.status}, expected 200`);
  requireOpenRosaHeader(res, `GET ${url}`);
  const ctype = res.headers.get('content-type') ?? '';
  // Collect rejects anything whose Content-Type does not contain text/xml (even application/xml).
  if (!ctype.includes('text/xml')) fail(`GET ${url}: Content-Type ${JSON.stringify(ctype)} is not text/xml`);
  const doc = parseXml(window, await res.text(), `GET ${url}`);
  const root = doc.documentElement;
  if (root.localName !== 'xforms' || root.namespaceURI !== XFORMS_LIST_NS) {
    fail(`GET ${url}: root is {${root.namespaceURI}}${root.localName}, expected {${XFORMS_LIST_NS}}xforms`);
  }
  const entries = [...root.children]
    .filter((el) => el.namespaceURI === XFORMS_LIST_NS && el.localName === 'xform')
    .map((el) => ({
      formID: childText(el, XFORMS_LIST_NS, 'formID'),
      name: childText(el, XFORMS_LIST_NS, 'name'),
      version: childText(el, XFORMS_LIST_NS, 'version'),
      hash: childText(el, XFORMS_LIST_NS, 'hash'),
      downloadUrl: childText(el, XFORMS_LIST_NS, 'downloadUrl'),
      manifestUrl: childText(el, XFORMS_LIST_NS, 'manifestUrl'),
    }));
  // Collect throws the whole list away if one entry lacks a mandatory element.
  for (const e of entries) {
    if (!e.formID || e.name == null || !e.downloadUrl) {
      fail(`GET ${url}: <xform> without formID/name/downloadUrl (${JSON.stringify(e)})`);
    }
  }
  const entry = entries.find((e) => e.formID === formId);
  if (!entry) fail(`GET ${url}: form ${formId} not listed (have: ${entries.map((e) => e.formID).join(', ')})`);
  return entry;
}

async function downloadForm(entry) {
  const res = await openRosaFetch(entry.downloadUrl);
  if (res.status !== 200) fail(`GET ${entry.downloadUrl}: status ${res.status}`);
  const bytes = Buffer.from(await res.arrayBuffer());
  const md5 = crypto.createHash('md5').update(bytes).digest('hex');
  if (!entry.hash?.startsWith('md5:')) fail(`form list hash ${JSON.stringify(entry.hash)} lacks the md5: prefix`);
  if (entry.hash.slice(4).toLowerCase() !== md5) {
    fail(`GET ${entry.downloadUrl}: md5 ${md5} does not match the form list's ${entry.hash}`);
  }
  return bytes.toString('utf8');
}

// Media/CSV attachments come from the manifest; jr://file/NAME maps to <filename>NAME.
async function loadManifest(window, entry) {
  const files = new Map();
  if (!entry.manifestUrl) return files;
  const res = await openRosaFetch(entry.manifestUrl);
  if (res.status !== 200) fail(`GET ${entry.manifestUrl}: status ${res.status}`);
  requireOpenRosaHeader(res, `GET ${entry.manifestUrl}`);
  const doc = parseXml(window, await res.text(), `GET ${entry.manifestUrl}`);
  for (const el of doc.getElementsByTagNameNS(MANIFEST_NS, 'mediaFile')) {
    const name = childText(el, MANIFEST_NS, 'filename');
    const url = childText(el, MANIFEST_NS, 'downloadUrl');
    if (name && url) files.set(path.posix.basename(name), url);
  }
  return files;
}

function makeAttachmentFetcher(manifest) {
  return async (resource) => {
    const name = path.posix.basename(decodeURIComponent(new URL(String(resource)).pathname));
    const url = manifest.get(name);
    if (!url) return new Response(`no manifest entry for ${name}`, { status: 404 });
    return openRosaFetch(url);
  };
}

// ---------------------------------------------------------------------------------------
// Filling the form

const pad = (n) => String(n).padStart(2, '0');
const localDate = (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
const daysAgo = (n, hour = 12) => {
  const d = new Date();
  d.setHours(hour, 30, 0, 0);
  d.setDate(d.getDate() - n);
  return d;
};

const INTS = [30, 1, 0, 2, 5, 18, 25, 40, 60];
const DECIMALS = [1.5, 0.5, 10];
const PHONE = '+231770000002';
const EMAIL = 'demo@example.org';
const DOC_NO = 'B7654321';
const TEXT = 'Demo Webforms';
const GEOPOINT = '6.3 -10.8 10 5';

// Last path step without [n] predicates, lower-cased: /data/member[2]/mb_phone -> mb_phone.
const nodeName = (node) => node.currentState.reference.split('/').pop().replace(/\[\d+\]$/, '').toLowerCase();
const labelOf = (node) => {
  try {
    return (node.currentState.label?.asString ?? '').toLowerCase();
  } catch {
    return '';
  }
};

function textCandidates(node) {
  const hint = `${nodeName(node)} ${labelOf(node)}`;
  const first = [];
  if (/phone|mobile|telephone|whatsapp/.test(hint)) first.push(PHONE);
  if (/e-?mail/.test(hint)) first.push(EMAIL);
  // document / reference / plate numbers (a phone number was caught above)
  if (/number|_no\b|\bno\b|_ref\b|ref$|reference|plate/.test(hint)) first.push(DOC_NO);
  // Fall back through every shape, so a regex constraint usually finds one that fits.
  return [...new Set([...first, TEXT, DOC_NO, PHONE, EMAIL, 'DEMO-0001'])];
}

function dateCandidates(node) {
  const general = [daysAgo(400), daysAgo(30), daysAgo(0)].map(localDate);
  const birthLike = /birth|dob|born/.test(`${nodeName(node)} ${labelOf(node)}`);
  return birthLike ? ['1990-05-17', ...general] : general;
}

// Candidate values per node, in the order they are tried; null = cannot be filled.
function candidatesFor(node, opts) {
  switch (node.nodeType) {
    case 'select': {
      const values = node.currentState.valueOptions.map((o) => o.value);
      if (values.length === 0) return null;
      if (node.selectType === 'select') {
        // select multiple: the first choice, then each other single choice, then all of them
        // (the last one satisfies constraints such as count-selected(...) = 6 elsewhere)
        const sets = values.map((v) => [v]);
        if (values.length > 1) sets.push(values);
        return sets.map((vs) => ({ set: () => node.selectValues(vs), show: vs }));
      }
      return values.map((v) => ({ set: () => node.selectValue(v), show: v }));
    }
    case 'rank': {
      const values = node.currentState.valueOptions.map((o) => o.value);
      return values.length ? [{ set: () => node.setValues(values), show: values }] : null;
    }
    case 'trigger':
      return [{ set: () => node.setValue(true), show: 'OK' }];
    case 'upload': {
      if (!opts.attachFile) return null;
      const file = opts.attachFile;
      return [{ set: () => node.setValue(new File([file.bytes], file.name, { type: file.type })), show: file.name }];
    }
    case 'range':
      return [...INTS, ...DECIMALS].map((v) => ({ set: () => node.setValue(v), show: v }));
    case 'input':
      break;
    default:
      return null;
  }
  const val = (v) => ({ set: () => node.setValue(v), show: v instanceof Date ? v.toISOString() : v });
  switch (node.valueType) {
    case 'int':
      return INTS.map(val);
    case 'decimal':
      return DECIMALS.map(val);
    case 'date':
      return dateCandidates(node).map(val);
    case 'dateTime':
      // Date objects: the engine serialises them in local time with the local offset.
      return [daysAgo(400, 10), daysAgo(30, 10), new Date()].map(val);
    case 'time':
      return ['10:30:00', '08:00:00'].map(val);
    case 'geopoint':
      return [GEOPOINT].map(val);
    case 'geotrace':
      return ['6.3 -10.8 10 5;6.31 -10.81 10 5'].map(val);
    case 'geoshape':
      return ['6.3 -10.8 10 5;6.31 -10.8 10 5;6.31 -10.81 10 5;6.3 -10.8 10 5'].map(val);
    default: // string, barcode, intent, binary-as-text ...
      return textCandidates(node).map(val);
  }
}

const FILLABLE = new Set(['input', 'select', 'trigger', 'upload', 'range', 'rank']);

// Relevant leaves and repeat ranges, in document order, freshly (relevance changes as we go).
function collect(node, leaves, ranges) {
  const s = node.currentState;
  if (!s.relevant) return;
  if (node.nodeType === 'repeat-range:uncontrolled') ranges.push(node);
  if (FILLABLE.has(node.nodeType)) leaves.push(node);
  for (const child of s.children ?? []) collect(child, leaves, ranges);
}

const isValid = (node) => node.validationState.violation == null;
const isEmpty = (node) => node.currentState.instanceValue === '';

function clear(node) {
  try {
    if (node.nodeType === 'select') node.selectValues([]);
    else if (node.nodeType === 'trigger') node.setValue(false);
    else if (node.nodeType === 'rank') node.setValues([]);
    else node.setValue(node.nodeType === 'upload' ? null : '');
  } catch {
    /* leave as is; the final validation reports it if it matters */
  }
}

// Other answers a node's constraint refers to: absolute paths (/data/consent/points, matched
// within the same repeat instance when possible) and relative ones (../start_date).
function constraintDependencies(node, leaves) {
  const expr = node.definition.bind.constraint?.expression ?? '';
  const strip = (ref) => ref.replace(/\[\d+\]/g, '');
  const own = node.currentState.reference;
  const parent = own.slice(0, own.lastIndexOf('/'));
  const deps = new Set();
  for (const [p] of expr.matchAll(/(?:\.\.\/)+[\w.:-]+(?:\/[\w.:-]+)*|\/[\w.:-]+(?:\/[\w.:-]+)+/g)) {
    let target;
    if (p.startsWith('..')) {
      let base = parent;
      let rest = p;
      while (rest.startsWith('../')) {
        base = base.slice(0, base.lastIndexOf('/'));
        rest = rest.slice(3);
      }
      target = leaves.find((l) => l.currentState.reference === `${base}/${rest}`);
    } else {
      // same repeat instance first: longest common prefix with this node's own reference
      const matches = leaves.filter((l) => strip(l.currentState.reference) === p);
      const common = (l) => {
        const r = l.currentState.reference;
        let i = 0;
        while (i < r.length && r[i] === own[i]) i++;
        return i;
      };
      target = matches.sort((a, b) => common(b) - common(a))[0];
    }
    if (target && target !== node && !target.currentState.readonly && target.nodeType !== 'upload') {
      deps.add(target);
    }
  }
  return [...deps];
}

// Undo for a dependency we varied without success.
function snapshot(node) {
  const { value, instanceValue } = node.currentState;
  if (node.nodeType === 'select') return () => node.selectValues([...value]);
  if (node.nodeType === 'rank') return () => node.setValues([...value]);
  if (node.nodeType === 'trigger') return () => node.setValue(value);
  return () => node.setValue(instanceValue);
}

const accepted = (node) => !isEmpty(node) && isValid(node);

// Try candidates until the node's own required + constraint checks pass. When the preferred
// (first) candidate fails its constraint, first try varying the answers that constraint
// refers to (once per node, so two questions cannot keep flipping a shared answer).
function fillNode(node, opts, leaves, varied) {
  const candidates = candidatesFor(node, opts);
  if (!candidates) return null;
  for (const [i, c] of candidates.entries()) {
    try {
      c.set();
    } catch {
      continue; // the engine rejected the value outright: try the next one
    }
    if (accepted(node)) return c.show;
    if (i > 0 || varied.has(node.nodeId) || node.validationState.constraint.valid) continue;
    varied.add(node.nodeId);
    for (const dep of constraintDependencies(node, leaves)) {
      const restore = snapshot(dep);
      for (const d of candidatesFor(dep, opts) ?? []) {
        try {
          d.set();
          if (!accepted(dep)) continue;
          c.set();
          if (accepted(node) && accepted(dep)) return c.show;
        } catch {
          /* next */
        }
      }
      try {
        restore();
      } catch {
        /* the fix-point loop repairs it */
      }
      c.set();
    }
  }
  return undefined;
}

// Fill until a pass changes nothing: answers switch on other questions and repeats.
function fillForm(root, opts) {
  const attempts = new Map(); // nodeId -> failed attempts
  const filled = new Map(); // reference -> value shown in the log
  const skipped = new Set(); // references we could not fill (optional ones only, in the end)
  const varied = new Set(); // nodeIds whose constraint dependencies were already varied
  let sawUpload = false;
  let passes = 0;
  for (let changed = true; changed; ) {
    if (++passes > MAX_PASSES) fail(`form did not settle after ${MAX_PASSES} passes`);
    changed = false;
    const leaves = [];
    const ranges = [];
    collect(root, leaves, ranges);
    for (const range of ranges) {
      const have = range.currentState.children.length;
      if (have < opts.repeats) {
        range.addInstances(have - 1, opts.repeats - have);
        changed = true;
      } else if (have > opts.repeats) {
        range.removeInstances(opts.repeats, have - opts.repeats);
        changed = true;
      }
    }
    if (changed) continue; // new instances bring new leaves: collect again first
    for (const node of leaves) {
      if (!node.currentState.relevant || node.currentState.readonly) continue;
      if (node.nodeType === 'upload') sawUpload = true;
      if (!isEmpty(node) && isValid(node)) continue; // answered (or a valid default)
      if ((attempts.get(node.nodeId) ?? 0) >= MAX_ATTEMPTS_PER_NODE) continue;
      const shown = fillNode(node, opts, leaves, varied);
      const ref = node.currentState.reference;
      if (shown != null) {
        filled.set(ref, shown);
        skipped.delete(ref);
        changed = true;
      } else {
        attempts.set(node.nodeId, (attempts.get(node.nodeId) ?? 0) + 1);
        if (!node.currentState.required) clear(node); // an empty optional answer is valid
        skipped.add(ref);
      }
    }
  }
  const violations = root.validationState.violations;
  if (violations.length > 0) {
    const list = violations.map((v) => `${v.reference}: ${v.violation.condition}`
      + (v.violation.message ? ` (${v.violation.message.asString})` : '')).join('; ');
    const hint = opts.attachFile ? '' : ' (upload questions need --attach FILE)';
    fail(`form still invalid after filling: ${list}${sawUpload ? hint : ''}`);
  }
  return { filled, skipped: [...skipped], passes };
}

// ---------------------------------------------------------------------------------------
// Submission

async function submit(window, server, payload) {
  const url = `${server}/submission`;
  const head = await openRosaFetch(url, { method: 'HEAD' });
  // Collect aborts on any 2xx other than 204 ("is this an OpenRosa submission endpoint?").
  if (head.status !== 204) fail(`HEAD ${url}: status ${head.status}, expected 204`);
  requireOpenRosaHeader(head, `HEAD ${url}`);
  // Collect splits uploads at this size; a harness that ignored it would hide a server limit.
  const accept = Number(head.headers.get('x-openrosa-accept-content-length') ?? NaN);
  for (const [i, data] of payload.data.entries()) {
    const size = [...data.values()].reduce((n, file) => n + file.size, 0);
    if (Number.isFinite(accept) && size > accept) {
      fail(`POST ${i + 1}: ${size} B of files exceed X-OpenRosa-Accept-Content-Length ${accept}`
        + ' (use --chunk-bytes)');
    }
  }
  const posts = [];
  const messages = [];
  for (const [i, data] of payload.data.entries()) {
    const what = `POST ${url} (${i + 1}/${payload.data.length})`;
    const res = await openRosaFetch(url, { method: 'POST', body: data });
    const body = await res.text();
    posts.push(res.status);
    // 200 is a failure on purpose: Collect treats it as a captive portal / proxy login page.
    if (res.status !== 201 && res.status !== 202) {
      fail(`${what}: status ${res.status}, expected 201 or 202; body: ${body.slice(0, 500)}`);
    }
    requireOpenRosaHeader(res, what);
    const doc = new window.DOMParser().parseFromString(body, 'text/xml');
    const top = doc.documentElement;
    if (doc.getElementsByTagName('parsererror').length > 0
      || top?.localName !== 'OpenRosaResponse' || top.namespaceURI !== RESPONSE_NS) {
      fail(`${what}: body is not an <OpenRosaResponse xmlns="${RESPONSE_NS}">: ${body.slice(0, 500)}`);
    }
    for (const m of top.getElementsByTagNameNS(RESPONSE_NS, 'message')) messages.push(m.textContent.trim());
  }
  return { posts, messages };
}

const MIME = {
  '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.png': 'image/png', '.gif': 'image/gif',
  '.webp': 'image/webp', '.pdf': 'application/pdf', '.mp3': 'audio/mpeg', '.mp4': 'video/mp4',
  '.csv': 'text/csv', '.txt': 'text/plain',
};

// ---------------------------------------------------------------------------------------

async function main() {
  const args = readArgs();
  const window = installDomGlobals();
  const { createInstance } = await import('@getodk/xforms-engine');

  const entry = await fetchFormList(window, args.server, args.formId);
  const formXml = await downloadForm(entry);
  const manifest = await loadManifest(window, entry);

  let lastName = 0;
  const instance = await createInstance(formXml, {
    form: { fetchFormAttachment: makeAttachmentFetcher(manifest) },
    instance: {
      // Web Forms names uploads <epoch ms><ext>; keep them unique within one instance.
      instanceAttachments: {
        fileNameFactory: ({ writtenAt, extension }) => {
          lastName = Math.max(lastName + 1, writtenAt.getTime());
          return `${lastName}${extension ?? ''}`;
        },
      },
    },
  });
  const root = instance.root;
  if (root.definition.submission?.encryptionKey) {
    process.stderr.write('webforms: note: form has an encryption key; this engine submits plaintext\n');
  }

  let attachFile = null;
  if (args.attach) {
    attachFile = {
      bytes: fs.readFileSync(args.attach),
      name: path.basename(args.attach),
      type: MIME[path.extname(args.attach).toLowerCase()] ?? 'application/octet-stream',
    };
  }
  const { filled, skipped, passes } = fillForm(root, { repeats: args.repeats, attachFile });

  let payload;
  try {
    payload = args.chunkBytes
      ? await root.prepareInstancePayload({ payloadType: 'chunked', maxSize: args.chunkBytes })
      : await root.prepareInstancePayload({ payloadType: 'monolithic' });
  } catch (err) {
    // chunked: an attachment that cannot fit next to the XML throws an AggregateError
    const why = err instanceof AggregateError ? err.errors.map((e) => e.message).join('; ') : String(err);
    fail(`prepareInstancePayload: ${err.message ?? err}: ${why}`);
  }
  if (payload.status !== 'ready') {
    fail(`prepareInstancePayload: status ${payload.status}: ${JSON.stringify(payload.violations)}`);
  }

  const xmlFile = payload.data[0].get('xml_submission_file');
  const xml = await xmlFile.text();
  const doc = parseXml(window, xml, 'instance XML');
  const instanceId = [...doc.getElementsByTagNameNS('*', 'instanceID')][0]?.textContent.trim() ?? '';
  if (!instanceId.startsWith('uuid:')) fail(`instance XML has no uuid: instanceID (${instanceId})`);
  fs.mkdirSync(args.out, { recursive: true });
  const instanceFile = path.join(args.out, `${args.formId}-${instanceId.slice(5)}.xml`);
  fs.writeFileSync(instanceFile, xml);

  const attachments = [];
  for (const data of payload.data) {
    for (const [name] of data.entries()) if (name !== 'xml_submission_file') attachments.push(name);
  }
  const { posts, messages } = await submit(window, args.server, payload);

  const notes = [];
  const action = payload.submissionMeta?.submissionAction;
  if (action && String(action) !== `${args.server}/submission`) {
    notes.push(`form names submission action ${action}; posted to ${args.server}/submission instead`);
  }
  if (skipped.length) notes.push(`left empty: ${skipped.join(', ')}`);
  if (attachFile && attachments.length === 0) notes.push('--attach given but no upload question was relevant');
  process.stderr.write(`webforms: ${args.formId}: ${filled.size} answers in ${passes} passes`
    + `${notes.length ? `; ${notes.join('; ')}` : ''}\n`);

  console.log(JSON.stringify({
    form_id: args.formId,
    version: doc.documentElement.getAttribute('version') ?? entry.version ?? '',
    instance_id: instanceId,
    instance_file: instanceFile,
    attachments,
    posts,
    message: messages.join(' | '),
  }));
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`webforms: FAILED: ${err instanceof Failure ? err.message : err?.stack ?? err}\n`);
    process.exit(1);
  },
);
