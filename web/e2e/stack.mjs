// @ts-check
// A private FIAP X for the end-to-end tests: its own nats-server on a free port, its own PostgreSQL database
// (created with the stack role, which has CREATEDB, then `fiapx migrate`), its own S3 bucket, and `fiapx serve all`
// on a free 127.0.0.1 port serving web/dist. Everything is removed by stop(). The stack's addresses come from the
// environment or from .state/env (`make up` writes it).
import { spawn, spawnSync } from "node:child_process";
import { createHash, createHmac, randomBytes } from "node:crypto";
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, connect } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const WEB = resolve(fileURLToPath(import.meta.url), "../..");
export const ROOT = resolve(WEB, "..");
export const RESULTS = join(WEB, "test-results");
/** Lifetime of the access tokens of the private stack. */
export const ACCESS_TTL_SECS = 3;

/** The stack's variables: the process environment, else .state/env. */
export function stackEnv() {
  /** @type {Record<string, string>} */
  const env = {};
  const file = join(ROOT, ".state/env");
  if (existsSync(file)) {
    for (const line of readFileSync(file, "utf8").split("\n")) {
      const match = /^(?:export\s+)?(FIAPX_[A-Z0-9_]+)=(.*)$/.exec(line.trim());
      if (match?.[1] && match[2] !== undefined) env[match[1]] = match[2].replace(/^['"]|['"]$/g, "");
    }
  }
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith("FIAPX_") && value !== undefined) env[key] = value;
  }
  for (const needed of ["FIAPX_NATS_SERVER_BIN", "FIAPX_DATABASE_URL", "FIAPX_S3_ENDPOINT", "FIAPX_S3_ACCESS_KEY", "FIAPX_S3_SECRET_KEY"]) {
    if (!env[needed]) throw new Error(`${needed} is not set: run \`make up\` (it writes .state/env)`);
  }
  return env;
}

/** @returns {Promise<number>} */
function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

/** @param {number} port @param {number} timeoutMs */
async function waitForPort(port, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const open = await new Promise((done) => {
      const socket = connect(port, "127.0.0.1");
      socket.once("connect", () => {
        socket.destroy();
        done(true);
      });
      socket.once("error", () => done(false));
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
}

/** @param {string} url @param {number} timeoutMs @param {() => string | null} died */
async function waitForHealth(url, timeoutMs, died) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const reason = died();
    if (reason) throw new Error(reason);
    try {
      const response = await fetch(`${url}/healthz`);
      if (response.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url}/healthz did not answer within ${timeoutMs} ms`);
}

/** @param {string} url @param {string[]} args */
function psql(url, args) {
  const out = spawnSync("psql", [url, "-v", "ON_ERROR_STOP=1", "-q", ...args], { encoding: "utf8" });
  if (out.status !== 0) throw new Error(`psql ${args.join(" ")}: ${out.stderr}`);
}

// --- S3 clean-up (AWS Signature V4, enough for list / delete object / delete bucket) ---

/** @param {string} text */
const rfc3986 = (text) => encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
/** @param {string} data */
const sha256 = (data) => createHash("sha256").update(data).digest("hex");
/** @param {string | Buffer} key @param {string} data */
const hmac = (key, data) => createHmac("sha256", key).update(data).digest();

/** @param {Record<string, string>} env @param {string} method @param {string} path @param {Record<string, string>} [query] */
async function s3(env, method, path, query = {}) {
  const endpoint = new URL(env.FIAPX_S3_ENDPOINT ?? "");
  const region = env.FIAPX_S3_REGION || "us-east-1";
  const amzDate = new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
  const date = amzDate.slice(0, 8);
  const payload = sha256("");
  const canonicalQuery = Object.entries(query)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${rfc3986(k)}=${rfc3986(v)}`)
    .join("&");
  const headers = `host:${endpoint.host}\nx-amz-content-sha256:${payload}\nx-amz-date:${amzDate}\n`;
  const signed = "host;x-amz-content-sha256;x-amz-date";
  const canonical = [method, path, canonicalQuery, headers, signed, payload].join("\n");
  const scope = `${date}/${region}/s3/aws4_request`;
  const toSign = ["AWS4-HMAC-SHA256", amzDate, scope, sha256(canonical)].join("\n");
  let key = hmac(`AWS4${env.FIAPX_S3_SECRET_KEY}`, date);
  for (const part of [region, "s3", "aws4_request"]) key = hmac(key, part);
  const signature = createHmac("sha256", key).update(toSign).digest("hex");
  const url = `${endpoint.origin}${path}${canonicalQuery ? `?${canonicalQuery}` : ""}`;
  return fetch(url, {
    method,
    headers: {
      "x-amz-content-sha256": payload,
      "x-amz-date": amzDate,
      Authorization: `AWS4-HMAC-SHA256 Credential=${env.FIAPX_S3_ACCESS_KEY}/${scope}, SignedHeaders=${signed}, Signature=${signature}`,
    },
  });
}

/** Empties and removes a bucket. @param {Record<string, string>} env @param {string} bucket */
export async function removeBucket(env, bucket) {
  for (let round = 0; round < 20; round++) {
    const list = await s3(env, "GET", `/${bucket}`, { "list-type": "2" });
    if (list.status === 404) return;
    const xml = await list.text();
    const keys = [...xml.matchAll(/<Key>([^<]*)<\/Key>/g)].map((m) =>
      (m[1] ?? "").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, "&"),
    );
    if (keys.length === 0) break;
    for (const key of keys) await s3(env, "DELETE", `/${bucket}/${key.split("/").map(rfc3986).join("/")}`);
  }
  await s3(env, "DELETE", `/${bucket}`);
}

/**
 * Starts the private stack.
 * @returns {Promise<{ url: string, stop: () => Promise<void>, log: string }>}
 */
export async function startStack() {
  const env = stackEnv();
  // Where `cargo build -p fiapx` put it: FIAPX_BIN, else CARGO_TARGET_DIR (relative to the repository, as cargo
  // takes it from make) or target/, then debug/fiapx.
  const targetDir = process.env.CARGO_TARGET_DIR ? resolve(ROOT, process.env.CARGO_TARGET_DIR) : join(ROOT, "target");
  const binary = process.env.FIAPX_BIN ?? join(targetDir, "debug/fiapx");
  if (!existsSync(binary)) throw new Error(`${binary} not found: run \`cargo build -p fiapx\` (make test-web does)`);
  const webDir = join(WEB, "dist");
  if (!existsSync(join(webDir, "index.html"))) throw new Error("web/dist is not built: run `npm run build` in web/");
  mkdirSync(RESULTS, { recursive: true });
  const id = randomBytes(6).toString("hex");
  const scratch = mkdtempSync(join(tmpdir(), "fiapx-web-e2e-"));
  /** @type {Array<() => Promise<void> | void>} */
  const cleanups = [() => rmSync(scratch, { recursive: true, force: true })];
  const stop = async () => {
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup();
      } catch (error) {
        console.error("e2e clean-up:", error);
      }
    }
  };

  try {
    // NATS with JetStream, file store in the scratch directory.
    const natsPort = await freePort();
    const nats = spawn(env.FIAPX_NATS_SERVER_BIN ?? "", ["-a", "127.0.0.1", "-p", String(natsPort), "-js", "-sd", join(scratch, "nats")], {
      stdio: "ignore",
    });
    cleanups.push(() => stopChild(nats, 5000));
    await waitForPort(natsPort, 10_000);

    // A database of its own, removed afterwards.
    const database = `fiapx_web_e2e_${id}`;
    const adminUrl = env.FIAPX_DATABASE_URL ?? "";
    psql(adminUrl, ["-c", `CREATE DATABASE ${database}`]);
    cleanups.push(() => psql(adminUrl, ["-c", `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`]));
    const databaseUrl = new URL(adminUrl);
    databaseUrl.pathname = `/${database}`;

    const bucket = `fiapx-web-e2e-${id}`;
    cleanups.push(() => removeBucket(env, bucket));

    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    /** @type {NodeJS.ProcessEnv} */
    const childEnv = {
      ...process.env,
      ...env,
      FIAPX_NATS_URL: `nats://127.0.0.1:${natsPort}`,
      FIAPX_DATABASE_URL: databaseUrl.toString(),
      FIAPX__S3__BUCKET: bucket,
      FIAPX__HTTP__BIND: `127.0.0.1:${port}`,
      FIAPX__HTTP__PUBLIC_URL: url,
      FIAPX__HTTP__WEB_DIR: webDir,
      FIAPX__METRICS__BIND: "127.0.0.1:0",
      FIAPX__NOTIFIER__ALLOW_INSECURE_WEBHOOKS: "true",
      // Short-lived access tokens, so that the scenarios go through the app's renewals (401 token_expired,
      // refresh, retry; SSE reopened) again and again.
      FIAPX__AUTH__ACCESS_TTL_SECS: String(ACCESS_TTL_SECS),
      // ...that expire to the second: no clock-skew leeway.
      FIAPX__AUTH__CLOCK_SKEW_SECS: "0",
      RUST_LOG: process.env.RUST_LOG ?? "info",
    };
    // A root key of its own for the auth service's tokens.
    const key = join(scratch, "root.key");
    const keys = spawnSync(binary, ["keys", "generate", "--out", key], { env: childEnv, encoding: "utf8" });
    if (keys.status !== 0) throw new Error(`fiapx keys generate failed: ${keys.stderr}`);
    childEnv.FIAPX__AUTH__PRIVATE_KEY_FILE = key;
    // And one sealing the notifier's webhook and callback secrets in the database (the notifier needs it).
    const secretsKey = join(scratch, "secrets.key");
    const made = spawnSync(binary, ["keys", "generate-secrets-key", "--out", secretsKey], {
      env: childEnv,
      encoding: "utf8",
    });
    if (made.status !== 0) throw new Error(`fiapx keys generate-secrets-key failed: ${made.stderr}`);
    childEnv.FIAPX__NOTIFIER__SECRETS_KEY_FILE = secretsKey;
    const migrate = spawnSync(binary, ["migrate"], { env: childEnv, encoding: "utf8" });
    if (migrate.status !== 0) throw new Error(`fiapx migrate failed: ${migrate.stderr}`);

    const log = join(RESULTS, "fiapx.log");
    const out = createWriteStream(log);
    const server = spawn(binary, ["serve", "all"], { env: childEnv, stdio: ["ignore", "pipe", "pipe"] });
    server.stdout?.pipe(out);
    server.stderr?.pipe(out);
    /** @type {string | null} */
    let exited = null;
    server.once("exit", (code, signal) => {
      exited = `fiapx serve all exited (${code ?? signal}); see ${log}`;
    });
    cleanups.push(() => stopChild(server, 20_000));
    await waitForHealth(url, 60_000, () => exited);
    return { url, stop, log };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** SIGTERM, then SIGKILL after `graceMs`. @param {import("node:child_process").ChildProcess} child @param {number} graceMs */
function stopChild(child, graceMs) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    child.once("exit", () => {
      clearTimeout(timer);
      done(undefined);
    });
    child.kill("SIGTERM");
  });
}

/**
 * A clip made by the ffmpeg CLI (H.264 in MP4, test pattern).
 * @param {string} path @param {number} seconds
 */
export function makeClip(path, seconds) {
  const out = spawnSync(
    "ffmpeg",
    ["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", String(seconds), "-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "ultrafast", "-f", "mp4", path],
    { encoding: "utf8" },
  );
  if (out.status !== 0) throw new Error(`ffmpeg: ${out.stderr}`);
}
