// GraphQL contract test of the documents dockhand sends. The list is
// common/include/dockhand/gql_docs.def (one DH_GQL_DOC line per document, the same lines the
// C enum, the cost table and the build's embedding come from). Checks: every file in
// common/graphql/ is listed and every listed document has its file; each validates against
// Shopify's Admin schema (2026-10 introspection) and selects the root field the list names;
// each is sent by exactly the workers its used_by column names (DH_GQL_<ENUM> in their
// non-test sources), so an unused document cannot linger; documents in graphql-negative/
// must FAIL validation; with DH_SANDBOX_URL set, each document is also sent to dh-sandbox
// and every field in its response must exist on the schema's output type at that path.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { buildClientSchema, parse, validate, getNamedType, isAbstractType, isObjectType } from 'graphql';

const here = path.dirname(fileURLToPath(import.meta.url));
const top = path.join(here, '..', '..');
// Shopify's published Admin GraphQL schema (introspection of API version 2026-10), kept in
// the tree so the contract never depends on anything outside the repository.
const schemaPath = process.env.DH_SHOPIFY_SCHEMA ||
  path.join(here, 'schema', 'admin-graphql-2026-10.json.gz');
const raw = JSON.parse(zlib.gunzipSync(fs.readFileSync(schemaPath)).toString('utf8'));
const schema = buildClientSchema(raw.data ?? raw);
let passed = 0, failed = 0;
const ok = (name) => { passed++; console.log(`ok - ${name}`); };
const notOk = (name, why) => { failed++; console.log(`not ok - ${name}: ${why}`); };
const docsDir = process.env.DH_GRAPHQL_DIR || path.join(top, 'common', 'graphql');
const defPath = process.env.DH_GQL_DEF || path.join(top, 'common', 'include', 'dockhand', 'gql_docs.def');
const workersDir = process.env.DH_WORKERS_DIR || path.join(top, 'workers');
const docs = (dir) => fs.readdirSync(dir).filter((f) => f.endsWith('.graphql')).sort()
  .map((f) => ({ name: `${path.basename(dir)}/${f}`, text: fs.readFileSync(path.join(dir, f), 'utf8') }));

// The list: DH_GQL_DOC(ENUM, file, "root", "used by", cost...), one per line.
const entries = [];
for (const line of fs.readFileSync(defPath, 'utf8').split('\n')) {
  if (!line.startsWith('DH_GQL_DOC(')) continue;
  const m = line.match(/^DH_GQL_DOC\(([A-Z0-9_]+), *([A-Za-z0-9_]+), *"([A-Za-z0-9_]+)", *"([a-z0-9 _-]*)",/);
  if (!m) { notOk('gql_docs.def', `cannot read the entry: ${line}`); continue; }
  entries.push({ enumName: `DH_GQL_${m[1]}`, file: m[2], root: m[3], usedBy: m[4].split(/\s+/).filter(Boolean) });
}
entries.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
if (entries.length) ok(`gql_docs.def lists ${entries.length} documents`);
else notOk('gql_docs.def', 'no DH_GQL_DOC entries');

// Listed <=> present in common/graphql/.
const present = new Set(fs.readdirSync(docsDir).filter((f) => f.endsWith('.graphql')));
for (const f of present) {
  if (!entries.some((e) => `${e.file}.graphql` === f)) notOk(`graphql/${f}`, 'not listed in gql_docs.def');
}
for (const e of entries) {
  if (!present.has(`${e.file}.graphql`)) notOk(e.enumName, `graphql/${e.file}.graphql does not exist`);
}

// Who sends what: DH_GQL_<ENUM> in each worker's sources (tests excluded).
const users = new Map(entries.map((e) => [e.enumName, new Set()]));
const sources = (dir) => fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
  const p = path.join(dir, d.name);
  if (d.isDirectory()) return d.name === 'tests' ? [] : sources(p);
  return /\.[ch]$/.test(d.name) && !d.name.startsWith('test_') ? [p] : [];
});
for (const w of fs.readdirSync(workersDir, { withFileTypes: true }).filter((d) => d.isDirectory())) {
  const text = sources(path.join(workersDir, w.name)).map((f) => fs.readFileSync(f, 'utf8')).join('\n');
  for (const e of entries) {
    if (new RegExp(`\\b${e.enumName}\\b`).test(text)) users.get(e.enumName).add(w.name);
  }
}
for (const e of entries) {
  const actual = [...users.get(e.enumName)].sort().join(' ');
  const listed = [...e.usedBy].sort().join(' ');
  if (!actual) notOk(e.enumName, 'no worker sends it: remove the document or use it');
  else if (actual !== listed) notOk(e.enumName, `used by "${actual}" but gql_docs.def says "${listed}"`);
  else ok(`${e.file} is sent by ${actual}`);
}

for (const e of entries.filter((x) => present.has(`${x.file}.graphql`))) {
  const name = `graphql/${e.file}.graphql`;
  try {
    const doc = parse(fs.readFileSync(path.join(docsDir, `${e.file}.graphql`), 'utf8'));
    const errs = validate(schema, doc);
    const roots = doc.definitions[0].selectionSet.selections.map((x) => x.name?.value);
    if (errs.length) notOk(name, errs.map((x) => x.message).join('; '));
    else if (!roots.includes(e.root)) notOk(name, `selects ${roots.join(', ')}, not ${e.root} (gql_docs.def)`);
    else ok(`${name} validates and selects ${e.root}`);
  } catch (err) { notOk(name, err.message); }
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
  for (const e of entries.filter((x) => present.has(`${x.file}.graphql`))) {
    const base = e.file;
    const d = { text: fs.readFileSync(path.join(docsDir, `${base}.graphql`), 'utf8') };
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
