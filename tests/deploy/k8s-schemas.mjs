// tests/deploy/k8s-schemas.mjs: JSON Schemas for kubeconform, generated from the API's own
// sources: Kubernetes' OpenAPI v2 document (api/openapi-spec/swagger.json of the
// k8s.io/kubernetes module) and KEDA's CRDs (config/crd/bases of its module).
//   node k8s-schemas.mjs <swagger.json> <crd-dir> <out-dir>
// Writes <kind><suffix>.json as kubeconform's {{ .ResourceKind }}{{ .KindSuffix }}.json
// template names them (deployment-apps-v1.json, service-v1.json, scaledobject-keda-v1alpha1.json).
// Strict: objects with declared properties get additionalProperties false (a misspelt
// field fails), as kubeconform's own -strict schemas do; int-or-string becomes either.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const [swaggerPath, crdDir, outDir, yamlPath] = process.argv.slice(2);
const require = createRequire(import.meta.url);
const YAML = require(yamlPath);
fs.mkdirSync(outDir, { recursive: true });

function strictify(node) {
  if (Array.isArray(node)) return node.map(strictify);
  if (!node || typeof node !== "object") return node;
  if (node.format === "int-or-string" || node["x-kubernetes-int-or-string"]) {
    return { oneOf: [{ type: "string" }, { type: "integer" }] };
  }
  const out = {};
  for (const [k, v] of Object.entries(node)) out[k] = k === "enum" || k === "required" ? v : strictify(v);
  if (out.properties && out.additionalProperties === undefined && !out["x-kubernetes-preserve-unknown-fields"]) {
    out.additionalProperties = false;
  }
  return out;
}

function suffix(group, version) {
  return group ? `-${group.split(".")[0].toLowerCase()}-${version}` : `-${version}`;
}

let n = 0;
// Kubernetes: one file per kind, with the definitions it reaches.
const defs = JSON.parse(fs.readFileSync(swaggerPath, "utf8")).definitions;
function closure(name, seen) {
  if (seen.has(name)) return;
  seen.add(name);
  const walk = (v) => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === "object") {
      if (typeof v.$ref === "string") closure(v.$ref.replace("#/definitions/", ""), seen);
      Object.values(v).forEach(walk);
    }
  };
  walk(defs[name]);
}
for (const [name, def] of Object.entries(defs)) {
  const gvks = def["x-kubernetes-group-version-kind"] || [];
  if (gvks.length !== 1 || !def.properties?.kind) continue;
  const { group, version, kind } = gvks[0];
  const seen = new Set();
  closure(name, seen);
  const definitions = {};
  for (const d of seen) definitions[d] = strictify(defs[d]);
  const schema = { $schema: "http://json-schema.org/draft-04/schema#", ...definitions[name], definitions };
  fs.writeFileSync(path.join(outDir, `${kind.toLowerCase()}${suffix(group, version)}.json`), JSON.stringify(schema));
  n++;
}
// KEDA (or any CRD): each served version's openAPIV3Schema.
for (const f of fs.readdirSync(crdDir).filter((x) => x.endsWith(".yaml"))) {
  for (const doc of YAML.parseAllDocuments(fs.readFileSync(path.join(crdDir, f), "utf8"))) {
    const crd = doc.toJS();
    if (crd?.kind !== "CustomResourceDefinition") continue;
    for (const v of crd.spec.versions || []) {
      const s = v.schema?.openAPIV3Schema;
      if (!s) continue;
      const file = `${crd.spec.names.kind.toLowerCase()}${suffix(crd.spec.group, v.name)}.json`;
      fs.writeFileSync(path.join(outDir, file), JSON.stringify(strictify(s)));
      n++;
    }
  }
}
console.log(`k8s-schemas: ${n} schemas in ${outDir}`);
