#!/usr/bin/env node
// Contract test for dockhand's event schemas, the WMS API (OpenAPI 3.1) and their examples.
//
//   node validate-examples.mjs [schemas-dir]      (default: <repo>/schemas)
//
// Prints one `ok N - ...` / `not ok N - ...` line per check and a final line
// exactly `<passed> passed, <failed> failed`; exits 1 if anything failed.
//
// What is checked:
//   1. Every schema (schemas/common.v1.schema.json, schemas/events/*.schema.json and the
//      OpenAPI components) compiles with Ajv2020 in strict mode, with ajv-formats.
//   2. Every example under schemas/examples/<name>/valid/*.json validates, and every one
//      under .../invalid/*.json is rejected with the error named in
//      schemas/examples/<name>/expected-errors.json (keyword, instancePath, params).
//      <name> is an event topic (schema events/<topic>.v1.schema.json) or
//      wms-api/<operationId> (that operation's JSON request body) or
//      wms-api/<operationId>.<status> (that operation's JSON response body for <status>).
//   3. The examples embedded in the OpenAPI document validate against their media types,
//      every write operation requires Idempotency-Key, every error response is
//      application/problem+json.
//   4. Self-tests: valid examples deliberately broken in code are rejected, and the
//      checker itself reports failures on a tampered copy of the examples directory
//      (an invalid example moved into valid/, a valid one moved into invalid/, a wrong
//      expectation).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import YAML from 'yaml';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const DEFAULT_SCHEMAS = path.resolve(HERE, '..', '..', 'schemas');

export const TOPICS = [
  'wms.putaway',
  'wms.zone_move',
  'wms.dispatch',
  'shopify.orders',
  'shopify.products',
  'returnprime.cir',
];
const OPENAPI_FILE = 'wms-api.openapi.yaml';
const OPENAPI_ID = 'https://dockhand.example/schemas/wms-api.openapi.yaml';
const WRITE_METHODS = ['post', 'put', 'patch', 'delete'];

// ---------------------------------------------------------------- helpers

const readJson = (file) => JSON.parse(fs.readFileSync(file, 'utf8'));
const listJson = (dir) =>
  fs.existsSync(dir)
    ? fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort()
    : [];

function fmtError(e) {
  if (!e) return '(no error)';
  const extra = e.params && Object.keys(e.params).length ? ' ' + JSON.stringify(e.params) : '';
  return `${e.keyword} at "${e.instancePath}": ${e.message}${extra}`;
}

// OpenAPI 3.1 Schema Objects are JSON Schema 2020-12; the only things Ajv needs are
// the refs rewritten from #/components/schemas/X to #/$defs/X and the OpenAPI-only
// annotation keywords declared.
function rewriteRefs(node) {
  if (Array.isArray(node)) return node.map(rewriteRefs);
  if (node && typeof node === 'object') {
    const out = {};
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string' && v.startsWith('#/components/schemas/')) {
        out[k] = '#/$defs/' + v.slice('#/components/schemas/'.length);
      } else {
        out[k] = rewriteRefs(v);
      }
    }
    return out;
  }
  return node;
}

function resolveLocal(doc, ref) {
  // JSON pointer inside the OpenAPI document (#/components/...)
  if (!ref.startsWith('#/')) throw new Error(`unsupported $ref ${ref}`);
  return ref
    .slice(2)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((n, k) => (n == null ? undefined : n[k]), doc);
}

function deref(doc, obj) {
  let o = obj;
  for (let i = 0; o && o.$ref && i < 10; i++) o = resolveLocal(doc, o.$ref);
  return o;
}

// Build a validator set for one schemas directory. Throws if any schema fails to compile.
export function loadSchemas(schemasDir) {
  const ajv = new Ajv2020({ strict: true, allErrors: true, allowUnionTypes: true });
  addFormats(ajv);
  // OpenAPI-only annotations that may appear inside Schema Objects.
  for (const kw of ['example', 'discriminator', 'xml', 'externalDocs']) ajv.addKeyword(kw);

  const common = readJson(path.join(schemasDir, 'common.v1.schema.json'));
  ajv.addSchema(common);
  const eventsDir = path.join(schemasDir, 'events');
  const eventSchemas = {};
  for (const f of listJson(eventsDir)) {
    if (!f.endsWith('.schema.json')) continue;
    const s = readJson(path.join(eventsDir, f));
    ajv.addSchema(s);
    eventSchemas[f.replace(/\.schema\.json$/, '')] = s.$id; // e.g. wms.putaway.v1
  }
  const openapi = YAML.parse(fs.readFileSync(path.join(schemasDir, OPENAPI_FILE), 'utf8'));
  ajv.addSchema({
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: OPENAPI_ID,
    $defs: rewriteRefs(openapi.components?.schemas ?? {}),
  });

  // Compile everything now so strict-mode problems surface as one clear failure.
  ajv.getSchema(common.$id);
  for (const id of Object.values(eventSchemas)) {
    if (!ajv.getSchema(id)) throw new Error(`cannot compile ${id}`);
  }
  for (const name of Object.keys(openapi.components?.schemas ?? {})) {
    ajv.getSchema(`${OPENAPI_ID}#/$defs/${name}`);
  }

  const operations = {};
  for (const [p, item] of Object.entries(openapi.paths ?? {})) {
    for (const [method, op] of Object.entries(item)) {
      if (!op || typeof op !== 'object' || !op.operationId) continue;
      operations[op.operationId] = { path: p, method, op, pathItem: item };
    }
  }

  // Validator for a media-type schema inside the OpenAPI document.
  const mediaValidator = (schema) => {
    if (!schema) return null;
    if (schema.$ref && schema.$ref.startsWith('#/components/schemas/')) {
      return ajv.getSchema(`${OPENAPI_ID}#/$defs/${schema.$ref.slice(21)}`);
    }
    return ajv.compile({ $id: undefined, ...rewriteRefsAbs(schema) });
  };
  const rewriteRefsAbs = (schema) =>
    JSON.parse(
      JSON.stringify(schema).replace(/"#\/components\/schemas\//g, `"${OPENAPI_ID}#/$defs/`),
    );

  // Resolve an examples directory name to a validate function.
  function validatorFor(name) {
    if (TOPICS.includes(name) || eventSchemas[`${name}.v1`]) {
      const id = eventSchemas[`${name}.v1`];
      if (!id) throw new Error(`no schema events/${name}.v1.schema.json`);
      return ajv.getSchema(id);
    }
    const m = /^wms-api\/([A-Za-z0-9_]+)(?:\.([0-9]{3}))?$/.exec(name);
    if (!m) throw new Error(`examples dir "${name}" matches no topic or operation`);
    const [, opId, status] = m;
    const entry = operations[opId];
    if (!entry) throw new Error(`no operationId ${opId} in ${OPENAPI_FILE}`);
    let media;
    if (status) {
      const resp = deref(openapi, entry.op.responses?.[status]);
      if (!resp) throw new Error(`${opId} has no ${status} response`);
      media = resp.content?.['application/json'] ?? resp.content?.['application/problem+json'];
    } else {
      const rb = deref(openapi, entry.op.requestBody);
      if (!rb) throw new Error(`${opId} has no request body`);
      media = rb.content?.['application/json'];
    }
    const v = mediaValidator(media?.schema);
    if (!v) throw new Error(`no JSON schema for ${name}`);
    return v;
  }

  return { ajv, openapi, operations, eventSchemas, validatorFor, mediaValidator };
}

// All example directories (relative names) under examplesDir: <topic> and wms-api/<op>.
function exampleSets(examplesDir) {
  const sets = [];
  const walk = (rel) => {
    const abs = path.join(examplesDir, rel);
    const entries = fs.readdirSync(abs, { withFileTypes: true });
    if (entries.some((e) => e.isDirectory() && (e.name === 'valid' || e.name === 'invalid'))) {
      sets.push(rel);
      return;
    }
    for (const e of entries) if (e.isDirectory()) walk(rel ? `${rel}/${e.name}` : e.name);
  };
  walk('');
  return sets.sort();
}

// Returns the first ajv error that matches the expectation, or undefined.
function matchesExpectation(errors, exp) {
  return (errors ?? []).find(
    (e) =>
      e.keyword === exp.keyword &&
      (exp.instancePath === undefined || e.instancePath === exp.instancePath) &&
      Object.entries(exp.params ?? {}).every(([k, v]) => e.params?.[k] === v),
  );
}

// The checker: validates every example under examplesDir with schemas from schemasDir.
// Returns a list of {ok, name, detail}; never throws for a bad example.
export function checkExamples(schemasDir, examplesDir) {
  const results = [];
  const push = (ok, name, detail = '') => results.push({ ok, name, detail });
  let S;
  try {
    S = loadSchemas(schemasDir);
    push(true, `schemas in ${path.relative(process.cwd(), schemasDir) || '.'} compile (Ajv2020, strict)`);
  } catch (err) {
    push(false, 'schemas compile (Ajv2020, strict)', err.message);
    return results;
  }
  for (const set of exampleSets(examplesDir)) {
    let validate;
    try {
      validate = S.validatorFor(set);
    } catch (err) {
      push(false, `${set}: has a schema`, err.message);
      continue;
    }
    const dir = path.join(examplesDir, set);
    const expFile = path.join(dir, 'expected-errors.json');
    const expectations = fs.existsSync(expFile) ? readJson(expFile) : {};
    const valid = listJson(path.join(dir, 'valid'));
    const invalid = listJson(path.join(dir, 'invalid'));
    if (valid.length === 0) push(false, `${set}: has valid examples`, 'valid/ is empty');
    for (const f of valid) {
      const rel = `${set}/valid/${f}`;
      let data;
      try {
        data = readJson(path.join(dir, 'valid', f));
      } catch (err) {
        push(false, `${rel} is valid`, `not JSON: ${err.message}`);
        continue;
      }
      const ok = validate(data);
      push(ok, `${rel} is valid`, ok ? '' : `rejected: ${fmtError(validate.errors[0])}`);
    }
    for (const f of invalid) {
      const rel = `${set}/invalid/${f}`;
      let data;
      try {
        data = readJson(path.join(dir, 'invalid', f));
      } catch (err) {
        // An invalid example must still be JSON: it documents a schema violation, not a parse error.
        push(false, `${rel} is rejected`, `not JSON: ${err.message}`);
        continue;
      }
      const ok = validate(data);
      if (ok) {
        push(false, `${rel} is rejected`, 'ACCEPTED, but it is an invalid example');
        continue;
      }
      const exp = expectations[f];
      if (!exp) {
        push(false, `${rel} is rejected`, `no expectation for it in ${set}/expected-errors.json; first error: ${fmtError(validate.errors[0])}`);
        continue;
      }
      const hit = matchesExpectation(validate.errors, exp);
      push(
        hit,
        `${rel} is rejected (${exp.keyword}${exp.instancePath !== undefined ? ` at "${exp.instancePath}"` : ''})`,
        hit
          ? `error: ${fmtError(hit)}`
          : `rejected for another reason: ${validate.errors.map(fmtError).join(' | ')}`,
      );
    }
    for (const f of Object.keys(expectations)) {
      if (!invalid.includes(f)) push(false, `${set}/expected-errors.json entry ${f}`, 'names no file in invalid/');
    }
  }
  return results;
}

// ---------------------------------------------------------------- main test

function main() {
  const schemasDir = path.resolve(process.argv[2] ?? DEFAULT_SCHEMAS);
  const examplesDir = path.join(schemasDir, 'examples');
  let n = 0;
  let passed = 0;
  let failed = 0;
  const report = (ok, name, detail = '') => {
    n += 1;
    if (ok) passed += 1;
    else failed += 1;
    console.log(`${ok ? 'ok' : 'not ok'} ${n} - ${name}${detail ? `  # ${detail}` : ''}`);
  };

  // 1 + 2: every schema and example.
  const results = checkExamples(schemasDir, examplesDir);
  for (const r of results) report(r.ok, r.name, r.detail);
  let S;
  try {
    S = loadSchemas(schemasDir);
  } catch {
    console.log(`${passed} passed, ${failed} failed`);
    process.exit(1);
  }

  // Coverage: every topic has a schema, >=1 valid and >=2 invalid examples.
  for (const t of TOPICS) {
    const v = listJson(path.join(examplesDir, t, 'valid')).length;
    const i = listJson(path.join(examplesDir, t, 'invalid')).length;
    report(!!S.eventSchemas[`${t}.v1`], `topic ${t} has schemas/events/${t}.v1.schema.json`);
    report(v >= 1 && i >= 2, `topic ${t} has valid and invalid examples`, `${v} valid, ${i} invalid`);
  }
  // Every WMS API operation has examples (request body, or response for GETs).
  for (const [opId, { method, op }] of Object.entries(S.operations)) {
    const dirs = fs.existsSync(path.join(examplesDir, 'wms-api'))
      ? fs.readdirSync(path.join(examplesDir, 'wms-api')).filter((d) => d === opId || d.startsWith(`${opId}.`))
      : [];
    report(dirs.length > 0, `wms-api operation ${opId} has examples`, dirs.join(', '));
    if (op.requestBody) report(dirs.includes(opId), `wms-api operation ${opId} has request-body examples`);
    // 3. Contract rules of the API.
    if (WRITE_METHODS.includes(method)) {
      const params = (op.parameters ?? []).map((p) => deref(S.openapi, p));
      const idem = params.find((p) => p.in === 'header' && p.name === 'Idempotency-Key');
      report(!!idem && idem.required === true, `${opId} (${method.toUpperCase()}) requires the Idempotency-Key header`);
    }
    for (const [status, r0] of Object.entries(op.responses ?? {})) {
      const r = deref(S.openapi, r0);
      if (/^[45]/.test(status)) {
        report(!!r?.content?.['application/problem+json'], `${opId} ${status} is application/problem+json`);
      }
    }
  }
  // Examples embedded in the OpenAPI document validate against their media type schema.
  let embedded = 0;
  const checkMedia = (where, media) => {
    if (!media?.schema) return;
    const v = S.mediaValidator(media.schema);
    for (const [exName, ex0] of Object.entries(media.examples ?? {})) {
      const ex = deref(S.openapi, ex0);
      if (!ex || !('value' in ex)) continue;
      embedded += 1;
      const ok = v(ex.value);
      report(ok, `openapi example ${where} "${exName}" matches its schema`, ok ? '' : fmtError(v.errors[0]));
    }
  };
  for (const [opId, { op }] of Object.entries(S.operations)) {
    const rb = deref(S.openapi, op.requestBody);
    for (const [mt, media] of Object.entries(rb?.content ?? {})) checkMedia(`${opId} request ${mt}`, media);
    for (const [status, r0] of Object.entries(op.responses ?? {})) {
      const r = deref(S.openapi, r0);
      for (const [mt, media] of Object.entries(r?.content ?? {})) checkMedia(`${opId} ${status} ${mt}`, media);
    }
  }
  report(embedded > 0, 'the OpenAPI document carries embedded examples', `${embedded} checked`);

  // 4a. Deliberately broken examples, broken here in code: each must be rejected.
  const load = (rel) => readJson(path.join(examplesDir, rel));
  const mutations = [
    ['wms.putaway', 'wms.putaway/valid/putaway-good-online.json', 'event_id deleted', (e) => { delete e.event_id; }, 'required'],
    ['wms.putaway', 'wms.putaway/valid/putaway-good-online.json', 'stock.good_online set to -1', (e) => { e.stock.good_online = -1; }, 'minimum'],
    ['wms.putaway', 'wms.putaway/valid/putaway-good-online.json', 'schema_version changed to 2', (e) => { e.schema_version = 2; }, 'const'],
    ['wms.putaway', 'wms.putaway/valid/putaway-good-online.json', 'stock key misspelt (good_onlin)', (e) => { e.stock.good_onlin = e.stock.good_online; delete e.stock.good_online; }, 'required'],
    ['wms.putaway', 'wms.putaway/valid/putaway-good-online.json', 'both tenant and store removed', (e) => { delete e.tenant; delete e.store; }, 'required'],
    ['wms.zone_move', 'wms.zone_move/valid/online-to-offline.json', 'sequence set to -1', (e) => { e.sequence = -1; }, 'minimum'],
    ['wms.zone_move', 'wms.zone_move/valid/online-to-offline.json', 'occurred_at not RFC 3339', (e) => { e.occurred_at = '01/05/2026 10:00'; }, 'format'],
    ['wms.dispatch', 'wms.dispatch/valid/dispatch-full.json', 'carrier.tracking_number deleted', (e) => { delete e.carrier.tracking_number; }, 'required'],
    ['wms.dispatch', 'wms.dispatch/valid/delivery-rto-delivered.json', 'status set to SHIPPED', (e) => { e.status = 'SHIPPED'; }, 'enum'],
    ['shopify.orders', 'shopify.orders/valid/orders-create.json', 'line_items[0].quantity set to -1', (e) => { e.line_items[0].quantity = -1; }, 'minimum'],
    ['shopify.products', 'shopify.products/valid/products-update.json', 'variants[0].inventory_item_id deleted', (e) => { delete e.variants[0].inventory_item_id; }, 'required'],
    ['returnprime.cir', 'returnprime.cir/valid/return-approved.json', 'request.request_type set to refund', (e) => { e.request.request_type = 'refund'; }, 'enum'],
    ['wms-api/createSalesOrder', 'wms-api/createSalesOrder/valid/open-order.json', 'lines emptied', (e) => { e.lines = []; }, 'minItems'],
    ['wms-api/upsertSku', 'wms-api/upsertSku/valid/active-sku.json', 'status set to DELETED', (e) => { e.status = 'DELETED'; }, 'enum'],
  ];
  for (const [set, rel, what, mutate, keyword] of mutations) {
    let ok = false;
    let detail = '';
    try {
      const validate = S.validatorFor(set);
      const original = load(rel);
      if (!validate(original)) throw new Error(`the original ${rel} is not valid: ${fmtError(validate.errors[0])}`);
      const broken = structuredClone(original);
      mutate(broken);
      const accepted = validate(broken);
      const hit = accepted ? undefined : validate.errors.find((e) => e.keyword === keyword);
      ok = !!hit;
      detail = accepted ? 'ACCEPTED the broken copy' : `error: ${fmtError(hit ?? validate.errors[0])}`;
    } catch (err) {
      detail = err.message;
    }
    report(ok, `deliberately broken ${rel} (${what}) is rejected with ${keyword}`, detail);
  }

  // 4b. The checker detects a tampered examples directory.
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dh-contracts-'));
  try {
    const tamper = (label, fn, expectFailIn) => {
      const dir = path.join(tmp, label);
      fs.cpSync(examplesDir, dir, { recursive: true });
      fn(dir);
      const res = checkExamples(schemasDir, dir);
      const bad = res.filter((r) => !r.ok);
      const hit = bad.find((r) => r.name.includes(expectFailIn));
      const caught = !!hit;
      report(
        caught,
        `checker reports a tampered examples dir: ${label}`,
        caught ? `reported: ${hit.name} -> ${hit.detail}` : `not detected (${bad.length} failures)`,
      );
    };
    tamper(
      'invalid-example-moved-into-valid',
      (d) => fs.copyFileSync(
        path.join(d, 'wms.putaway/invalid/negative-quantity.json'),
        path.join(d, 'wms.putaway/valid/negative-quantity.json'),
      ),
      'wms.putaway/valid/negative-quantity.json',
    );
    tamper(
      'valid-example-moved-into-invalid',
      (d) => {
        fs.copyFileSync(
          path.join(d, 'wms.dispatch/valid/dispatch-full.json'),
          path.join(d, 'wms.dispatch/invalid/dispatch-full.json'),
        );
        const expFile = path.join(d, 'wms.dispatch/expected-errors.json');
        const exp = readJson(expFile);
        exp['dispatch-full.json'] = { keyword: 'required' };
        fs.writeFileSync(expFile, JSON.stringify(exp));
      },
      'wms.dispatch/invalid/dispatch-full.json',
    );
    tamper(
      'expectation-names-the-wrong-error',
      (d) => {
        const expFile = path.join(d, 'wms.putaway/expected-errors.json');
        const exp = readJson(expFile);
        exp['negative-quantity.json'] = { keyword: 'enum', instancePath: '/putaway/qc_status' };
        fs.writeFileSync(expFile, JSON.stringify(exp));
      },
      'wms.putaway/invalid/negative-quantity.json',
    );
    tamper(
      'valid-example-edited-to-break-it',
      (d) => {
        const f = path.join(d, 'wms-api/createReturn/valid/return.json');
        const e = readJson(f);
        delete e.return_request_id;
        fs.writeFileSync(f, JSON.stringify(e));
      },
      'wms-api/createReturn/valid/return.json',
    );
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }

  const total = results.filter((r) => r.name.includes('/valid/') || r.name.includes('/invalid/')).length;
  console.log(`# ${total} example files checked`);
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
