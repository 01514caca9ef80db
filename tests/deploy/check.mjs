// tests/deploy/check.mjs: checks the Docker and Kubernetes deliverables without a Docker
// engine or a cluster (run through tests/deploy/check.sh, which finds the yaml package
// and the build dir). What it checks is listed in check.sh.
//
// Usage: node check.mjs <repo-root> <build-dir> <yaml-module-path>
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";

const [root, buildDir, yamlPath] = process.argv.slice(2);
const require = createRequire(import.meta.url);
const YAML = require(yamlPath);

let passed = 0;
let failed = 0;
let skipped = 0;
function ok(name) {
  passed++;
  console.log(`ok - ${name}`);
}
function fail(name, why) {
  failed++;
  console.log(`not ok - ${name}${why ? `: ${why}` : ""}`);
}
function skip(name, why) {
  skipped++;
  console.log(`skip - ${name}: ${why}`);
}
// Under ctest (DH_TEST_BUILD_DIR set, the tree fully built) a binary that is not built is a
// failure, not a skip: the check it guards would silently never run in CI.
const requireBuilt = Boolean(process.env.DH_TEST_BUILD_DIR);
function notBuilt(name, why) {
  if (requireBuilt) fail(name, `${why} (DH_TEST_BUILD_DIR is set: every binary must be built)`);
  else skip(name, why);
}
function check(name, cond, why) {
  if (cond) ok(name);
  else fail(name, why);
  return cond;
}
const rel = (p) => path.relative(root, p) || ".";
const read = (p) => fs.readFileSync(path.join(root, p), "utf8");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "dh-deploy-check-"));
process.on("exit", () => fs.rmSync(tmp, { recursive: true, force: true }));

// ---- shared facts --------------------------------------------------------------
const topics = new Map(); // name -> partitions
for (const line of read("deploy/topics.txt").split("\n")) {
  const t = line.replace(/#.*/, "").trim();
  if (!t) continue;
  const [name, parts] = t.split(/\s+/);
  topics.set(name, Number(parts));
}

// Every built binary (exact file name) under the build dir, 3 levels deep.
function findBinary(name) {
  const walk = (dir, depth) => {
    let ents;
    try {
      ents = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return null;
    }
    for (const e of ents) {
      if (e.isFile() && e.name === name) {
        const p = path.join(dir, e.name);
        try {
          fs.accessSync(p, fs.constants.X_OK);
          return p;
        } catch {
          /* not executable */
        }
      }
    }
    if (depth === 0) return null;
    for (const e of ents) {
      if (e.isDirectory() && e.name !== "CMakeFiles") {
        const r = walk(path.join(dir, e.name), depth - 1);
        if (r) return r;
      }
    }
    return null;
  };
  return walk(buildDir, 3);
}

// The DH_* names a worker binary accepts, from its --help table.
const helpCache = new Map();
function helpVars(bin) {
  if (helpCache.has(bin)) return helpCache.get(bin);
  const r = spawnSync(bin, ["--help"], { env: {}, encoding: "utf8", timeout: 10000 });
  const vars = new Set();
  for (const line of (r.stdout || "").split("\n")) {
    const m = line.match(/^\s+(DH_[A-Z0-9_]+)\s/);
    if (m) vars.add(m[1]);
  }
  const res = { status: r.status, vars, text: r.stdout || "" };
  helpCache.set(bin, res);
  return res;
}

// Env names a binary would reject: DH_* not in its table (NAME_FILE allowed when NAME
// is; the binary itself decides whether NAME is a secret, --check-config tells).
function unknownNames(names, vars) {
  return names.filter((n) => {
    if (!n.startsWith("DH_") || n.startsWith("DH_TEST_")) return false;
    if (vars.has(n)) return false;
    if (n.endsWith("_FILE") && vars.has(n.slice(0, -5))) return false;
    return true;
  });
}

// Run `<bin> --check-config` with exactly `env`.
function checkConfig(bin, env) {
  const r = spawnSync(bin, ["--check-config"], { env, encoding: "utf8", timeout: 10000 });
  return { status: r.status, out: `${r.stdout || ""}${r.stderr || ""}`.trim() };
}

// ---- Docker Compose interpolation (the subset compose applies to the file) --------
// Returns [value, problems]: single '$' references compose would replace.
function interpolate(s, env = {}) {
  const problems = [];
  const out = s.replace(/\$\$|\$\{([^}]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (m, braced, bare) => {
    if (m === "$$") return "$";
    const expr = braced ?? bare;
    const mm = expr.match(/^([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])(.*))?$/);
    if (!mm) {
      problems.push(`bad reference ${m}`);
      return "";
    }
    const [, name, op, def] = mm;
    if (name in env) return env[name];
    if (op && op.endsWith("-")) return def;
    problems.push(`${m} is interpolated by compose (write $$ for the shell)`);
    return "";
  });
  return [out, problems];
}
function deepInterpolate(v, problems) {
  if (typeof v === "string") {
    const [o, p] = interpolate(v);
    problems.push(...p);
    return o;
  }
  if (Array.isArray(v)) return v.map((x) => deepInterpolate(x, problems));
  if (v && typeof v === "object") {
    const o = {};
    for (const [k, x] of Object.entries(v)) o[k] = deepInterpolate(x, problems);
    return o;
  }
  return v;
}
function envObject(e) {
  if (!e) return {};
  if (Array.isArray(e)) {
    const o = {};
    for (const s of e) {
      const i = s.indexOf("=");
      o[i < 0 ? s : s.slice(0, i)] = i < 0 ? "" : s.slice(i + 1);
    }
    return o;
  }
  const o = {};
  for (const [k, v] of Object.entries(e)) o[k] = v == null ? "" : String(v);
  return o;
}
function durationMs(s) {
  if (typeof s === "number") return s * 1000;
  let ms = 0;
  const re = /(\d+(?:\.\d+)?)(us|ms|s|m|h)/g;
  let m;
  let seen = "";
  while ((m = re.exec(s))) {
    seen += m[0];
    ms += Number(m[1]) * { us: 0.001, ms: 1, s: 1000, m: 60000, h: 3600000 }[m[2]];
  }
  return seen === String(s) ? ms : NaN;
}

// ---- Dockerfile -----------------------------------------------------------------
function dockerfileInstructions(text) {
  const lines = text.split("\n");
  const out = [];
  let cur = "";
  for (const l of lines) {
    if (!cur && /^\s*#/.test(l)) continue;
    if (/^\s*#/.test(l)) continue; // comments inside continuations
    if (l.endsWith("\\")) {
      cur += l.slice(0, -1);
      continue;
    }
    cur += l;
    if (cur.trim()) {
      const m = cur.trim().match(/^(\S+)\s*([\s\S]*)$/);
      out.push({ op: m[1].toUpperCase(), args: m[2] });
    }
    cur = "";
  }
  return out;
}

function checkDockerfile() {
  const file = "Dockerfile";
  if (!check("Dockerfile exists", fs.existsSync(path.join(root, file)))) return;
  const ins = dockerfileInstructions(read(file));
  const stages = [];
  for (const i of ins) {
    if (i.op === "FROM") stages.push({ from: i.args, ins: [] });
    else if (stages.length) stages[stages.length - 1].ins.push(i);
  }
  const argDefaults = {};
  for (const i of ins) {
    if (i.op === "ARG") {
      const m = i.args.match(/^([A-Za-z_][A-Za-z0-9_]*)=(?:"([^"]*)"|(\S*))/);
      if (m) argDefaults[m[1]] = m[2] ?? m[3];
    }
  }
  check("Dockerfile: two stages (build, runtime)", stages.length === 2, `${stages.length} stages`);
  const base = (argDefaults.DEBIAN_IMAGE || "").trim();
  check("Dockerfile: based on debian:bookworm-slim", base === "debian:bookworm-slim", base);
  const aptList = (stage) => {
    const pk = new Set();
    for (const i of stage?.ins || []) {
      if (i.op !== "RUN") continue;
      const m = i.args.match(/apt-get install([\s\S]*?)(?:&&|$)/);
      if (!m) continue;
      for (const w of m[1].split(/\s+/)) if (w && !w.startsWith("-")) pk.add(w);
    }
    return pk;
  };
  // Build deps: the build part of deploy/setup.sh's PACKAGES.
  const setup = read("deploy/setup.sh");
  const pm = setup.match(/PACKAGES=\(([\s\S]*?)\)/);
  const setupPk = pm ? pm[1].split(/\s+/).filter(Boolean) : [];
  const buildDeps = setupPk.filter((p) =>
    /-dev$|^(build-essential|cmake|ninja-build|pkg-config)$/.test(p),
  );
  const buildPk = aptList(stages[0]);
  const missingBuild = buildDeps.filter((p) => !buildPk.has(p));
  check(
    "Dockerfile: build stage installs deploy/setup.sh's build packages",
    buildDeps.length > 0 && missingBuild.length === 0,
    missingBuild.length ? `missing ${missingBuild.join(" ")}` : "no build packages in setup.sh",
  );
  const runPk = aptList(stages[1]);
  const bad = [...runPk].filter((p) => /-dev$|^(build-essential|cmake|curl|gcc)$/.test(p));
  check("Dockerfile: runtime stage installs no build tools or curl", bad.length === 0, bad.join(" "));
  const user = stages[1]?.ins.filter((i) => i.op === "USER").pop();
  check(
    "Dockerfile: runtime runs as a numeric non-root user",
    user && /^[1-9][0-9]*(:[0-9]+)?$/.test(user.args.trim()),
    user ? user.args : "no USER",
  );
  const exposed = stages[1]?.ins.filter((i) => i.op === "EXPOSE").flatMap((i) => i.args.split(/\s+/));
  check("Dockerfile: EXPOSE 9464", exposed?.includes("9464"), exposed?.join(" "));
  const cmd = stages[1]?.ins.filter((i) => i.op === "CMD").pop();
  let cmdArr = null;
  try {
    cmdArr = JSON.parse(cmd.args);
  } catch {
    /* shell form */
  }
  const binaries = (argDefaults.DH_BINARIES || "").split(/\s+/).filter(Boolean);
  check(
    "Dockerfile: CMD is one of the image's binaries (exec form)",
    Array.isArray(cmdArr) && binaries.includes(cmdArr[0]),
    cmd ? cmd.args : "no CMD",
  );
  // Each binary is a CMake target.
  const cmakeTargets = new Set();
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) {
        if (/^(build|\.git|node_modules)/.test(e.name) || e.name.startsWith("build-")) continue;
        walk(path.join(d, e.name));
      } else if (e.name === "CMakeLists.txt") {
        const t = fs.readFileSync(path.join(d, e.name), "utf8");
        for (const m of t.matchAll(/add_executable\s*\(\s*([A-Za-z0-9_.-]+)/g)) cmakeTargets.add(m[1]);
      }
    }
  };
  walk(root);
  for (const b of binaries) {
    if (cmakeTargets.has(b)) ok(`Dockerfile: ${b} is a CMake target`);
    else fail(`Dockerfile: ${b} is a CMake target`, "no add_executable builds it");
  }
  // Runtime libraries cover every built binary's direct NEEDED libraries.
  const pkgOf = new Map();
  const baseImage = new Set(["libc6", "libgcc-s1", "zlib1g"]); // in debian:bookworm-slim
  for (const b of binaries) {
    const bin = findBinary(b);
    if (!bin) {
      notBuilt(`Dockerfile: runtime libraries of ${b}`, `not built in ${rel(buildDir)}`);
      continue;
    }
    const r = spawnSync("readelf", ["-d", bin], { encoding: "utf8" });
    if (r.status !== 0) {
      fail(`Dockerfile: runtime libraries of ${b}`, "readelf failed or is missing (binutils)");
      continue;
    }
    const needed = [...r.stdout.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
    const ld = spawnSync("ldd", [bin], { encoding: "utf8" });
    const missing = [];
    for (const lib of needed) {
      const lm = (ld.stdout || "").match(new RegExp(`${lib.replace(/[.+]/g, "\\$&")} => (\\S+)`));
      const p = lm ? lm[1] : null;
      let pk = p && pkgOf.get(p);
      if (p && !pk) {
        const real = fs.realpathSync(p);
        for (const cand of [p, real, p.replace(/^\/lib\//, "/usr/lib/"), real.replace(/^\/usr\/lib\//, "/lib/")]) {
          const d = spawnSync("dpkg", ["-S", cand], { encoding: "utf8" });
          if (d.status === 0) {
            pk = d.stdout.split(":")[0].trim();
            break;
          }
        }
        pkgOf.set(p, pk);
      }
      if (!pk) {
        if (!/^(libc|libm|libpthread|libdl|librt|ld-linux)/.test(lib)) missing.push(`${lib} (package unknown)`);
        continue;
      }
      if (!runPk.has(pk) && !baseImage.has(pk)) missing.push(`${lib} from ${pk}`);
    }
    check(
      `Dockerfile: runtime stage installs the libraries ${b} links (${needed.length})`,
      missing.length === 0,
      `not installed: ${missing.join(", ")}`,
    );
  }
  return { stages, binaries, argDefaults, ins };
}

const ti0 = (services) => services["topic-init"];

// The image's HEALTHCHECK (exec form) or compose's (CMD-SHELL, which podman-compose passes
// on intact) against a stub admin server. dh-healthcheck is deploy/healthcheck.sh.
async function checkHealthcheck(name, argv, portVar) {
  if (Array.isArray(argv) && argv[0] === "CMD-SHELL" && argv.length === 2) argv = ["CMD", "sh", "-c", argv[1]];
  if (!Array.isArray(argv) || argv[0] !== "CMD") {
    fail(name, "not a CMD or CMD-SHELL healthcheck");
    return;
  }
  const shim = path.join(tmp, "hc-bin");
  fs.mkdirSync(shim, { recursive: true });
  fs.copyFileSync(path.join(root, "deploy/healthcheck.sh"), path.join(shim, "dh-healthcheck"));
  fs.chmodSync(path.join(shim, "dh-healthcheck"), 0o755);
  const serve = (status) =>
    new Promise((resolve) => {
      const srv = http.createServer((req, res) => {
        res.statusCode = req.url === "/healthz" || req.url === "/_control/health" ? status : 404;
        res.end("x\n");
      });
      srv.listen(0, "127.0.0.1", () => resolve(srv));
    });
  const run = (port, cmdv) =>
    new Promise((resolve) => {
      // Same command, our port instead of the fixed one.
      const args = cmdv.slice(2).map((a) => a.replace(/\/(9464|38080)\b/, `/${port}`).replace(/\b(9464|38080)\b/, `${port}`));
      const env = { PATH: `${shim}:${process.env.PATH}`, [portVar]: String(port) };
      const { spawn } = require("node:child_process");
      const p = spawn(cmdv[1], args, { env, stdio: "ignore" });
      const t = setTimeout(() => p.kill("SIGKILL"), 5000);
      p.on("exit", (code) => {
        clearTimeout(t);
        resolve(code);
      });
    });
  const s200 = await serve(200);
  const c200 = await run(s200.address().port, argv);
  s200.close();
  const s503 = await serve(503);
  const c503 = await run(s503.address().port, argv);
  s503.close();
  check(name, c200 === 0 && c503 !== 0, `exit ${c200} on 200, ${c503} on 503`);
}

// A stores file as the binaries read it: dh-gateway loads it at start and says
// "webhooks on ..." once it is valid, or exits 1 with every problem. It is started on
// loopback with a free port, no admin port and an unreachable broker, then stopped.
async function checkStoresFile(name, file) {
  const gw = findBinary("dh-gateway");
  if (!gw) {
    notBuilt(name, `dh-gateway (the stores loader) not built in ${rel(buildDir)}`);
    return;
  }
  const { spawn } = require("node:child_process");
  const env = {
    DH_STORES_FILE: file,
    DH_GATEWAY_ADDR: "127.0.0.1",
    DH_GATEWAY_PORT: "0",
    DH_ADMIN_PORT: "-1",
    DH_REDIS_URL: "",
    DH_KAFKA_BROKERS: "127.0.0.1:1",
    DH_LOG_LEVEL: "info",
  };
  const res = await new Promise((resolve) => {
    const p = spawn(gw, [], { env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let done = false;
    const finish = (v) => {
      if (done) return;
      done = true;
      clearTimeout(t);
      if (p.exitCode === null && p.signalCode === null) {
        // Reap it before going on: no orphan is left behind.
        p.once("exit", () => resolve(v));
        p.kill("SIGTERM");
        setTimeout(() => p.kill("SIGKILL"), 5000).unref();
      } else {
        resolve(v);
      }
    };
    const onData = (d) => {
      out += d;
      if (/webhooks on /.test(out)) finish({ ok: true });
      const m = out.match(/"msg":"start: ([^\n]*)"/);
      if (m) finish({ ok: false, why: m[1] });
    };
    p.stdout.on("data", onData);
    p.stderr.on("data", onData);
    p.on("exit", (code) => {
      if (!done) finish({ ok: false, why: `exit ${code}: ${out.slice(-400)}` });
    });
    const t = setTimeout(() => finish({ ok: false, why: `no verdict in 5 s: ${out.slice(-400)}` }), 5000);
  });
  check(name, res.ok, res.why);
}

// ---- docker-compose.yml -------------------------------------------------------------
async function checkCompose(docker) {
  const file = "docker-compose.yml";
  if (!check("docker-compose.yml exists", fs.existsSync(path.join(root, file)))) return;
  let doc;
  try {
    doc = YAML.parse(read(file), { merge: true });
    ok("docker-compose.yml parses (YAML 1.2 with merge keys)");
  } catch (e) {
    fail("docker-compose.yml parses", e.message);
    return;
  }
  const problems = [];
  const services = deepInterpolate(doc.services || {}, problems);
  check("docker-compose.yml: no unescaped $ that compose would interpolate", problems.length === 0, problems.join("; "));
  const want = ["kafka", "topic-init", "redis", "sandbox", "gateway", "orders", "inventory", "dispatch", "returns"];
  const missing = want.filter((s) => !services[s]);
  check("docker-compose.yml: services " + want.join(", "), missing.length === 0, `missing ${missing.join(" ")}`);

  // Volumes: host files exist; map container path -> host path.
  const mounts = (svc) => {
    const m = {};
    for (const v of svc.volumes || []) {
      const s = typeof v === "string" ? v : `${v.source}:${v.target}`;
      const [src, dst] = s.split(":");
      if (src.startsWith(".") || src.startsWith("/")) m[dst] = path.resolve(root, src);
    }
    return m;
  };
  for (const [name, svc] of Object.entries(services)) {
    const bad = Object.values(mounts(svc)).filter((p) => !fs.existsSync(p));
    check(`compose ${name}: mounted host files exist`, bad.length === 0, bad.map(rel).join(" "));
  }
  // depends_on targets and their health checks.
  for (const [name, svc] of Object.entries(services)) {
    const deps = svc.depends_on || {};
    const list = Array.isArray(deps) ? deps.map((d) => [d, {}]) : Object.entries(deps);
    const bad = [];
    for (const [d, c] of list) {
      if (!services[d]) bad.push(`${d}: no such service`);
      else if (c.condition === "service_healthy" && !services[d].healthcheck && !String(services[d].image).includes("dockhand"))
        bad.push(`${d}: no healthcheck`);
      else if (c.condition === "service_completed_successfully" && services[d].restart && services[d].restart !== "no")
        bad.push(`${d}: one-shot service must not restart`);
    }
    if (list.length) check(`compose ${name}: depends_on conditions are satisfiable`, bad.length === 0, bad.join("; "));
  }

  // Kafka: KRaft single node, same version as the local stack's broker.
  const kafka = services.kafka || {};
  const kenv = envObject(kafka.environment);
  const pom = read("deploy/kafka/pom.xml").match(/<kafka\.version>([^<]+)</);
  // Built from the jars deploy/setup.sh fetches with deploy/kafka/pom.xml (the local
  // stack's version), so the version cannot drift: check the build and what it copies.
  const kdf = kafka.build ? path.join(root, kafka.build.context || ".", kafka.build.dockerfile || "Dockerfile") : null;
  const kdfText = kdf && fs.existsSync(kdf) ? fs.readFileSync(kdf, "utf8") : "";
  check(
    "compose kafka: built from the local stack's jars (deploy/kafka/Dockerfile copies .stack/kafka-libs)",
    pom && /COPY\s+\.stack\/kafka-libs\//.test(kdfText) && kafka.build?.args?.DEBIAN_IMAGE !== undefined,
    kdf ? rel(kdf) : "no build",
  );
  check("compose topic-init: runs the kafka service's image", ti0(services)?.image === kafka.image);
  const kraft = {
    KAFKA_PROCESS_ROLES: (v) => /broker/.test(v) && /controller/.test(v),
    KAFKA_NODE_ID: (v) => v !== "",
    KAFKA_CONTROLLER_QUORUM_VOTERS: (v) => v.startsWith(`${kenv.KAFKA_NODE_ID}@`),
    KAFKA_CONTROLLER_LISTENER_NAMES: (v) => v !== "",
    KAFKA_LISTENERS: (v) => v.includes("CONTROLLER://"),
    KAFKA_ADVERTISED_LISTENERS: (v) => v.includes("kafka:9092"),
    KAFKA_AUTO_CREATE_TOPICS_ENABLE: (v) => v === "false",
    KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: (v) => v === "1",
    KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: (v) => v === "1",
  };
  const badK = Object.entries(kraft).filter(([k, f]) => !(k in kenv) || !f(kenv[k])).map(([k]) => `${k}=${kenv[k] ?? "(unset)"}`);
  check("compose kafka: single-node KRaft settings, auto-create off, replication 1", badK.length === 0, badK.join(" "));

  // topic-init: run its very command with a stub kafka-topics.sh.
  const ti = services["topic-init"];
  if (ti) {
    const stubHome = path.join(tmp, "kafka");
    fs.mkdirSync(path.join(stubHome, "bin"), { recursive: true });
    const logf = path.join(tmp, "topics.log");
    fs.writeFileSync(
      path.join(stubHome, "bin", "kafka-topics.sh"),
      `#!/bin/sh\nprintf '%s\\n' "$*" >> '${logf}'\n`,
      { mode: 0o755 },
    );
    const env = { PATH: process.env.PATH, ...envObject(ti.environment) };
    const m = mounts(ti);
    for (const [k, v] of Object.entries(env)) if (m[v]) env[k] = m[v];
    env.KAFKA_TOPICS = path.join(stubHome, "bin", "kafka-topics.sh");
    const argv = [...(ti.entrypoint || []), ...(Array.isArray(ti.command) ? ti.command : [ti.command])];
    const r = spawnSync(argv[0] === "/bin/sh" ? "sh" : argv[0], argv.slice(1), { env, encoding: "utf8", timeout: 20000 });
    const created = new Map();
    const flagsOk = [];
    for (const line of fs.existsSync(logf) ? fs.readFileSync(logf, "utf8").trim().split("\n") : []) {
      const w = line.split(/\s+/);
      const get = (f) => w[w.indexOf(f) + 1];
      if (w.includes("--create")) {
        created.set(get("--topic"), Number(get("--partitions")));
        flagsOk.push(w.includes("--if-not-exists") && get("--bootstrap-server") === "kafka:9092" && get("--replication-factor") === "1");
      }
    }
    check("compose topic-init: its command runs (stub kafka-topics.sh)", r.status === 0, `exit ${r.status}: ${r.stderr}`);
    const missingT = [...topics].filter(([t, p]) => created.get(t) !== p).map(([t, p]) => `${t}/${p} (got ${created.get(t)})`);
    const extra = [...created.keys()].filter((t) => !topics.has(t));
    check(
      `compose topic-init: creates every topic of deploy/topics.txt with its partitions (${topics.size})`,
      missingT.length === 0 && extra.length === 0,
      `${missingT.join(" ")} ${extra.length ? `extra ${extra.join(" ")}` : ""}`,
    );
    check("compose topic-init: --if-not-exists, kafka:9092, replication 1", flagsOk.length > 0 && flagsOk.every(Boolean));
    check("compose topic-init: one-shot (restart no)", ti.restart === "no");
  }

  // Our services: env names against --help, --check-config with the service env.
  const binOf = (svc) => (Array.isArray(svc.command) ? svc.command[0] : String(svc.command || "dh-orders").split(/\s+/)[0]);
  for (const [name, svc] of Object.entries(services)) {
    // dockhand's own image: built from the root Dockerfile (Kafka and Redis have their own).
    const ours = svc.build && (svc.build.context || ".") === "." && (svc.build.dockerfile || "Dockerfile") === "Dockerfile";
    if (!ours) continue;
    const b = binOf(svc);
    const bin = findBinary(b);
    if (b === "dh-sandbox") {
      if (!bin) {
        notBuilt(`compose ${name}: dh-sandbox flags`, `not built in ${rel(buildDir)}`);
        continue;
      }
      const h = spawnSync(bin, ["--help"], { encoding: "utf8" }).stdout || "";
      const flags = svc.command.filter((a) => a.startsWith("--"));
      const badF = flags.filter((f) => !h.includes(f));
      check(`compose ${name}: dh-sandbox accepts ${flags.join(" ")}`, badF.length === 0, badF.join(" "));
      const seedPath = mounts(svc)[svc.command[svc.command.indexOf("--seed") + 1]];
      check(`compose ${name}: listens on all interfaces (--host 0.0.0.0)`, svc.command.includes("0.0.0.0"));
      check(`compose ${name}: seed is mounted`, seedPath && fs.existsSync(seedPath));
      continue;
    }
    const env = envObject(svc.environment);
    if (!bin) {
      notBuilt(`compose ${name}: env names known to ${b}`, `${b} not built in ${rel(buildDir)}`);
      continue;
    }
    const h = helpVars(bin);
    if (!check(`compose ${name}: ${b} --help exits 0`, h.status === 0 && h.vars.size > 0, `exit ${h.status}`)) continue;
    const unknown = unknownNames(Object.keys(env), h.vars);
    check(`compose ${name}: every DH_* variable is in ${b} --help (${Object.keys(env).length} set)`, unknown.length === 0, `unknown: ${unknown.join(" ")}`);
    const m = mounts(svc);
    const cenv = {};
    for (const [k, v] of Object.entries(env)) cenv[k] = m[v] || v;
    const cc = checkConfig(bin, cenv);
    check(`compose ${name}: ${b} --check-config accepts the service's environment`, cc.status === 0, cc.out);
  }

  // Grace periods: consumer workers drain for DH_DRAIN_TIMEOUT_MS (default 20 s).
  for (const name of ["orders", "inventory", "dispatch", "returns"]) {
    const svc = services[name];
    if (!svc) continue;
    const drain = Number(envObject(svc.environment).DH_DRAIN_TIMEOUT_MS || 20000);
    const grace = durationMs(svc.stop_grace_period || "10s");
    check(`compose ${name}: stop_grace_period (${grace} ms) >= DH_DRAIN_TIMEOUT_MS (${drain}) + 5 s`, grace >= drain + 5000);
    check(`compose ${name}: restart policy set`, ["always", "unless-stopped", "on-failure"].includes(String(svc.restart).split(":")[0]));
  }
  const gw = services.gateway;
  if (gw) {
    const ack = Number(envObject(gw.environment).DH_GATEWAY_ACK_TIMEOUT_MS || 4000);
    const grace = durationMs(gw.stop_grace_period || "10s");
    check(`compose gateway: stop_grace_period (${grace} ms) >= ack timeout + 1 s + margin`, grace >= ack + 1000 + 3000);
  }
  // Health checks of our services (the image's, or compose's) against a stub server.
  if (services.orders?.healthcheck) await checkHealthcheck("compose worker healthcheck: 0 on /healthz 200, non-zero on 503", services.orders.healthcheck.test, "DH_ADMIN_PORT");
  if (services.sandbox?.healthcheck) await checkHealthcheck("compose sandbox healthcheck: 0 on 200, non-zero on 503", services.sandbox.healthcheck.test, "X");

  // Demo configuration: stores.json agrees with the sandbox seed.
  try {
    const stores = JSON.parse(read("deploy/compose/stores.json")).stores;
    const seed = JSON.parse(read("deploy/compose/sandbox-seed.json"));
    const wmsToken = read("deploy/compose/wms-token").trim();
    const bad = [];
    for (const st of stores) {
      const s = seed.stores.find((x) => x.domain === st.domain);
      if (!s) {
        bad.push(`${st.domain} not in the seed`);
        continue;
      }
      if (st.admin_url !== `http://sandbox:38080/shops/${st.domain}`) bad.push(`admin_url ${st.admin_url}`);
      if (st.access_token !== s.access_token) bad.push("access_token differs");
      if (!st.webhook_secrets?.includes(s.webhook_secret)) bad.push("webhook secret differs");
      if (seed.returnprime && st.returnprime_secret !== seed.returnprime.webhook_secret) bad.push("Return Prime secret differs");
      const locIds = new Set((s.locations || []).map((l) => `gid://shopify/Location/${l.id}`));
      for (const [f, g] of Object.entries(st.locations || {})) if (!locIds.has(g)) bad.push(`${f} -> ${g} not a seed location`);
      if (!String(s.webhook_url).startsWith("http://gateway:8080/webhooks/shopify")) bad.push(`webhook_url ${s.webhook_url}`);
    }
    if (seed.wms?.token !== wmsToken) bad.push("deploy/compose/wms-token differs from the seed's wms.token");
    check("deploy/compose: stores.json, wms-token and sandbox-seed.json agree", bad.length === 0, bad.join("; "));
    await checkStoresFile("deploy/compose/stores.json loads (dh-gateway's stores loader)", path.join(root, "deploy/compose/stores.json"));
  } catch (e) {
    fail("deploy/compose: stores.json and sandbox-seed.json parse", e.message);
  }

  // The real thing, where the docker CLI has the compose plugin (no engine needed).
  if (docker) {
    const r = spawnSync("docker", ["compose", "-f", path.join(root, file), "config", "-q"], { encoding: "utf8", cwd: root });
    check("docker compose config -q", r.status === 0, r.stderr);
  } else {
    skip("docker compose config -q", "no docker CLI with the compose plugin here; parsed with the yaml package instead");
  }
}

// ---- Kubernetes -------------------------------------------------------------------
async function checkK8s() {
  const dir = path.join(root, "deploy/k8s");
  if (!check("deploy/k8s exists", fs.existsSync(dir))) return;
  const docs = [];
  for (const f of fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort()) {
    try {
      const all = YAML.parseAllDocuments(fs.readFileSync(path.join(dir, f), "utf8"));
      const errs = all.flatMap((d) => d.errors.map((e) => e.message));
      if (check(`deploy/k8s/${f} parses`, errs.length === 0, errs.join("; "))) {
        for (const d of all) {
          const j = d.toJS();
          if (j) docs.push({ file: f, ...j });
        }
      }
    } catch (e) {
      fail(`deploy/k8s/${f} parses`, e.message);
    }
  }
  // kustomize build: kubectl's built-in kustomize, when present.
  let objs = docs.filter((d) => d.kind && d.kind !== "Kustomization");
  const kc = spawnSync("kubectl", ["kustomize", dir], { encoding: "utf8" });
  if (kc.error) {
    skip("kubectl kustomize deploy/k8s", "kubectl not installed; checking the raw files");
  } else if (check("kubectl kustomize deploy/k8s builds", kc.status === 0, kc.stderr)) {
    objs = YAML.parseAllDocuments(kc.stdout).map((d) => d.toJS()).filter(Boolean);
  }
  const kust = docs.find((d) => d.kind === "Kustomization");
  if (kust) {
    const missing = (kust.resources || []).filter((r) => !fs.existsSync(path.join(dir, r)));
    check("kustomization.yaml: every resource exists", missing.length === 0, missing.join(" "));
  }
  for (const o of objs) {
    const bad = [];
    if (!o.apiVersion) bad.push("apiVersion");
    if (!o.kind) bad.push("kind");
    if (!o.metadata?.name) bad.push("metadata.name");
    if (bad.length) fail(`k8s object ${o.kind}/${o.metadata?.name}: missing ${bad.join(", ")}`);
  }
  const byKind = (k) => objs.filter((o) => o.kind === k);
  const cms = new Map(byKind("ConfigMap").map((c) => [c.metadata.name, c.data || {}]));
  const secrets = new Map(byKind("Secret").map((s) => [s.metadata.name, { ...(s.stringData || {}), ...Object.fromEntries(Object.entries(s.data || {}).map(([k, v]) => [k, Buffer.from(v, "base64").toString()])) }]));

  // Environment of a pod template's first container: env + envFrom, downward API values
  // replaced by a pod name, secret-file paths mapped to temporary copies.
  function podEnv(tpl, podName) {
    const c = tpl.spec.containers[0];
    const env = {};
    for (const ef of c.envFrom || []) {
      if (ef.configMapRef) Object.assign(env, cms.get(ef.configMapRef.name) || {});
    }
    const fieldRefs = {};
    for (const e of c.env || []) {
      if ("value" in e) env[e.name] = String(e.value);
      else if (e.valueFrom?.fieldRef) {
        fieldRefs[e.name] = e.valueFrom.fieldRef.fieldPath;
        env[e.name] = podName;
      }
    }
    // Files: volume mounts of secrets -> temp dir.
    const files = {};
    for (const vm of c.volumeMounts || []) {
      const vol = (tpl.spec.volumes || []).find((v) => v.name === vm.name);
      if (!vol?.secret) continue;
      const data = secrets.get(vol.secret.secretName) || {};
      const items = vol.secret.items || Object.keys(data).map((k) => ({ key: k, path: k }));
      const d = fs.mkdtempSync(path.join(tmp, "vol-"));
      for (const it of items) {
        if (!(it.key in data)) continue;
        fs.writeFileSync(path.join(d, it.path), data[it.key]);
        files[path.posix.join(vm.mountPath, it.path)] = path.join(d, it.path);
      }
    }
    return { c, env, fieldRefs, files };
  }

  // The Secret's stores.json, its *_file paths pointed at temporary copies of the keys.
  for (const [sname, data] of secrets) {
    if (!data["stores.json"]) continue;
    const d = fs.mkdtempSync(path.join(tmp, "secret-"));
    for (const [k, v] of Object.entries(data)) fs.writeFileSync(path.join(d, k), v);
    const text = data["stores.json"].replace(/"\/etc\/dockhand\/secrets\/([^"]+)"/g, (m, k) => JSON.stringify(path.join(d, k)));
    fs.writeFileSync(path.join(d, "stores.json"), text);
    await checkStoresFile(`Secret/${sname} stores.json loads (dh-gateway's stores loader)`, path.join(d, "stores.json"));
  }

  const workloads = [...byKind("StatefulSet"), ...byKind("Deployment")];
  for (const w of workloads) {
    const id = `${w.kind}/${w.metadata.name}`;
    const tpl = w.spec.template;
    const spec = tpl.spec;
    const { c, env, fieldRefs, files } = podEnv(tpl, `${w.metadata.name}-0`);
    const bin = (c.command || c.args || [])[0];
    check(`${id}: enableServiceLinks false (no KAFKA_*/DH_* service variables)`, spec.enableServiceLinks === false);
    check(`${id}: runs as non-root`, spec.securityContext?.runAsNonRoot === true || c.securityContext?.runAsNonRoot === true);
    const probe = (p, pathWant) => p?.httpGet?.path === pathWant && (p.httpGet.port === 9464 || (c.ports || []).some((pt) => pt.name === p.httpGet.port && pt.containerPort === 9464));
    check(`${id}: liveness /healthz and readiness /readyz on 9464`, probe(c.livenessProbe, "/healthz") && probe(c.readinessProbe, "/readyz"));
    const res = c.resources || {};
    check(`${id}: memory request and limit`, res.requests?.memory && res.limits?.memory, JSON.stringify(res));
    const ann = tpl.metadata?.annotations || {};
    check(`${id}: prometheus.io annotations (scrape, port 9464)`, ann["prometheus.io/scrape"] === "true" && ann["prometheus.io/port"] === "9464");
    // Env names against the binary.
    const b = findBinary(bin);
    if (!b) {
      notBuilt(`${id}: env names known to ${bin}`, `${bin} not built in ${rel(buildDir)}`);
    } else {
      const h = helpVars(b);
      const unknown = unknownNames(Object.keys(env), h.vars);
      check(`${id}: every DH_* variable is in ${bin} --help (${Object.keys(env).length} set)`, unknown.length === 0, `unknown: ${unknown.join(" ")}`);
      const cenv = {};
      for (const [k, v] of Object.entries(env)) cenv[k] = files[v] || v;
      // --check-config loads the stores file: its *_file paths at the mounted keys' copies.
      if (cenv.DH_STORES_FILE && fs.existsSync(cenv.DH_STORES_FILE)) {
        const text = fs.readFileSync(cenv.DH_STORES_FILE, "utf8").replace(/"(\/[^"]+)"/g, (m, p) => (files[p] ? JSON.stringify(files[p]) : m));
        cenv.DH_STORES_FILE += ".check.json";
        fs.writeFileSync(cenv.DH_STORES_FILE, text);
      }
      const cc = checkConfig(b, cenv);
      check(`${id}: ${bin} --check-config accepts the pod's environment`, cc.status === 0, cc.out);
    }
    // Secret files referenced by *_FILE / DH_STORES_FILE are mounted.
    const unmounted = Object.entries(env).filter(([k, v]) => (k.endsWith("_FILE")) && v.startsWith("/") && !files[v]).map(([k, v]) => `${k}=${v}`);
    check(`${id}: every *_FILE path is a mounted Secret key`, unmounted.length === 0, unmounted.join(" "));
    const pdb = byKind("PodDisruptionBudget").find((p) => Object.entries(p.spec.selector?.matchLabels || {}).every(([k, v]) => tpl.metadata.labels?.[k] === v));
    check(`${id}: has a PodDisruptionBudget`, !!pdb);

    if (w.kind === "StatefulSet") {
      check(`${id}: KAFKA_GROUP_INSTANCE_ID from metadata.name (static membership)`, fieldRefs.KAFKA_GROUP_INSTANCE_ID === "metadata.name");
      const st = Number(env.KAFKA_SESSION_TIMEOUT_MS || 45000);
      check(`${id}: KAFKA_SESSION_TIMEOUT_MS (${st}) >= 60000 (longer than a pod restart)`, st >= 60000);
      const drain = Number(env.DH_DRAIN_TIMEOUT_MS || 20000);
      const grace = spec.terminationGracePeriodSeconds ?? 30;
      check(`${id}: terminationGracePeriodSeconds (${grace}) >= drain (${drain / 1000} s) + 10 s`, grace * 1000 >= drain + 10000);
      const svc = byKind("Service").find((s) => s.metadata.name === w.spec.serviceName);
      check(`${id}: governing headless Service ${w.spec.serviceName}`, svc && svc.spec.clusterIP === "None");
      // KEDA.
      const so = byKind("ScaledObject").find((s) => s.spec.scaleTargetRef?.name === w.metadata.name);
      if (!check(`${id}: has a KEDA ScaledObject`, !!so && so.spec.scaleTargetRef.kind === "StatefulSet")) continue;
      const trig = so.spec.triggers || [];
      const group = env.DH_GROUP_ID || `dockhand-${bin.replace(/^dh-/, "")}`;
      const bad = [];
      let maxParts = Infinity;
      for (const t of trig) {
        const md = t.metadata || {};
        if (t.type !== "kafka") bad.push(`type ${t.type}`);
        if (md.consumerGroup !== group) bad.push(`consumerGroup ${md.consumerGroup} != ${group}`);
        if (!topics.has(md.topic)) bad.push(`topic ${md.topic} not in deploy/topics.txt`);
        else maxParts = Math.min(maxParts, topics.get(md.topic));
        if (String(md.excludePersistentLag) !== "true") bad.push("excludePersistentLag not true");
        if (!(Number(md.lagThreshold) > 0)) bad.push("lagThreshold");
        if (md.bootstrapServers !== env.DH_KAFKA_BROKERS) bad.push(`bootstrapServers ${md.bootstrapServers} != DH_KAFKA_BROKERS ${env.DH_KAFKA_BROKERS}`);
      }
      check(`${id}: kafka triggers (group ${group}, topics, lagThreshold, excludePersistentLag, brokers)`, trig.length > 0 && bad.length === 0, bad.join("; "));
      check(`${id}: maxReplicaCount (${so.spec.maxReplicaCount}) <= partitions (${maxParts})`, so.spec.maxReplicaCount > 0 && so.spec.maxReplicaCount <= maxParts);
      check(`${id}: minReplicaCount >= 1 (scheduled work needs a replica)`, (so.spec.minReplicaCount ?? 0) >= 1);
    } else {
      const hpa = byKind("HorizontalPodAutoscaler").find((h) => h.spec.scaleTargetRef?.name === w.metadata.name);
      check(`${id}: HPA on CPU`, hpa && (hpa.spec.metrics || []).some((m) => m.resource?.name === "cpu"));
      const svc = byKind("Service").find((s) => Object.entries(s.spec.selector || {}).every(([k, v]) => tpl.metadata.labels?.[k] === v) && s.spec.clusterIP !== "None");
      check(`${id}: Service for the webhook port`, svc && svc.spec.ports.some((p) => p.port === Number(env.DH_GATEWAY_PORT || 8080)));
      const ack = Number(env.DH_GATEWAY_ACK_TIMEOUT_MS || 4000);
      const pre = c.lifecycle?.preStop?.exec?.command;
      const preS = pre && pre[0] === "sleep" ? Number(pre[1]) : 0;
      const grace = spec.terminationGracePeriodSeconds ?? 30;
      check(`${id}: terminationGracePeriodSeconds (${grace}) >= preStop (${preS} s) + ack timeout + 1 s + margin`, grace * 1000 >= preS * 1000 + ack + 1000 + 3000);
    }
  }
  const sts = byKind("StatefulSet").map((s) => s.metadata.name);
  check("deploy/k8s: a StatefulSet per consumer worker (orders, inventory, dispatch, returns)", ["dockhand-orders", "dockhand-inventory", "dockhand-dispatch", "dockhand-returns"].every((n) => sts.includes(n)), sts.join(" "));
  check("deploy/k8s: the gateway is a Deployment", byKind("Deployment").some((d) => d.metadata.name === "dockhand-gateway"));
  check("deploy/k8s: no ServiceMonitor (annotation-based scraping)", byKind("ServiceMonitor").length === 0);
}

const dockerCompose = process.env.DH_DEPLOY_DOCKER_COMPOSE === "1";
if (process.env.DH_DEPLOY_IMAGE_BUILD) {
  check("Dockerfile: the build stage's cmake RUN command builds on this host (--build)", process.env.DH_DEPLOY_IMAGE_BUILD === "ok", "see tests/deploy/image-build.sh output above");
} else {
  skip("Dockerfile: the build stage's cmake RUN command builds on this host", "run check.sh --build");
}
checkDockerfile();
const df = dockerfileInstructions(read("Dockerfile"));
const hc = df.filter((i) => i.op === "HEALTHCHECK").pop();
if (hc) {
  const m = hc.args.match(/CMD\s+(\[[\s\S]*\])\s*$/);
  let argv = null;
  try {
    argv = m && ["CMD", ...JSON.parse(m[1])];
  } catch {
    /* not JSON */
  }
  await checkHealthcheck("Dockerfile HEALTHCHECK (curl-free): 0 on /healthz 200, non-zero on 503", argv, "DH_ADMIN_PORT");
} else {
  fail("Dockerfile HEALTHCHECK present");
}
await checkCompose(dockerCompose);
await checkK8s();
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed ? 1 : 0);
