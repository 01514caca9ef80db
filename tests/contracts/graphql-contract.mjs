// GraphQL contract test: every document in common/graphql/ (the documents dh_common
// embeds and sends) validates against Shopify's Admin
// schema (2026-10 introspection); documents in graphql-negative/ must FAIL validation;
// with DH_SANDBOX_URL set, each document is also sent to dh-sandbox and every field in
// its response must exist on the schema's output type at that path.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { buildClientSchema, parse, validate, getNamedType, isAbstractType, isObjectType } from 'graphql';

const here = path.dirname(fileURLToPath(import.meta.url));
const schemaPath = process.env.DH_SHOPIFY_SCHEMA || '/work/shared/shopify/admin-graphql-2026-10.json.gz';
const raw = JSON.parse(zlib.gunzipSync(fs.readFileSync(schemaPath)).toString('utf8'));
const schema = buildClientSchema(raw.data ?? raw);
let passed = 0, failed = 0;
const ok = (name) => { passed++; console.log(`ok - ${name}`); };
const notOk = (name, why) => { failed++; console.log(`not ok - ${name}: ${why}`); };
const docsDir = process.env.DH_GRAPHQL_DIR || path.join(here, '..', '..', 'common', 'graphql');
const docs = (dir) => fs.readdirSync(dir).filter((f) => f.endsWith('.graphql')).sort()
  .map((f) => ({ name: `${path.basename(dir)}/${f}`, text: fs.readFileSync(path.join(dir, f), 'utf8') }));

for (const d of docs(docsDir)) {
  try {
    const errs = validate(schema, parse(d.text));
    if (errs.length) notOk(d.name, errs.map((e) => e.message).join('; '));
    else ok(`${d.name} validates`);
  } catch (e) { notOk(d.name, e.message); }
}
for (const d of docs(path.join(here, 'graphql-negative'))) {
  let errs;
  try { errs = validate(schema, parse(d.text)); } catch (e) { errs = [e]; }
  if (errs.length) ok(`${d.name} is rejected (${errs[0].message.slice(0, 80)})`);
  else notOk(d.name, 'expected validation to fail');
}

// Walks a response value alongside the schema type; returns a list of problems.
function walk(type, value, where, problems) {
  if (value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) { value.forEach((v, i) => walk(type, v, `${where}[${i}]`, problems)); return; }
  const named = getNamedType(type);
  const candidates = isAbstractType(named) ? schema.getPossibleTypes(named) : [named];
  for (const [key, v] of Object.entries(value)) {
    const owner = candidates.find((t) => isObjectType(t) || t.getFields) ;
    const field = candidates.map((t) => t.getFields?.()[key]).find(Boolean);
    if (!owner || !field) { problems.push(`${where}.${key} not on ${named.name}`); continue; }
    walk(field.type, v, `${where}.${key}`, problems);
  }
}

const url = process.env.DH_SANDBOX_URL;
if (url) {
  const token = process.env.DH_SANDBOX_TOKEN || 'tok-a';
  const vars = JSON.parse(fs.readFileSync(path.join(here, 'graphql-fixtures', 'variables.json'), 'utf8'));
  for (const d of docs(docsDir)) {
    const base = path.basename(d.name, '.graphql');
    const op = parse(d.text).definitions[0];
    const root = op.operation === 'mutation' ? schema.getMutationType() : schema.getQueryType();
    try {
      const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Shopify-Access-Token': token },
        body: JSON.stringify({ query: d.text, variables: vars[base] ?? {} }) });
      const body = await res.json();
      if (!body.data) { notOk(`${base} response`, JSON.stringify(body.errors ?? body)); continue; }
      if (!body.extensions?.cost?.throttleStatus) { notOk(`${base} response`, 'no extensions.cost'); continue; }
      const problems = [];
      walk(root, body.data, base, problems);
      if (problems.length) notOk(`${base} response fields`, problems.join('; '));
      else ok(`${base} sandbox response fields exist in the schema`);
    } catch (e) { notOk(`${base} response`, e.message); }
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
