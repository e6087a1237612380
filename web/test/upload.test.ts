// The resumable upload (src/api/upload.ts) against a small in-memory tus server (FakeTus, the HTTP layer
// tus-js-client is given), so that what is sent, in which order and with which headers can be checked.
import type { HttpRequest, HttpResponse, HttpStack } from "tus-js-client";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError, type Credentials } from "../src/api/client";
import {
  CHUNK_SIZE,
  CHUNK_SIZE_KEY,
  DEFAULT_RETRY_SECS,
  ENDPOINT,
  MAX_RETRY_SECS,
  RETRIES,
  RETRY_DELAYS,
  type RetryWait,
  STORED_MAX_AGE_MS,
  StoredUploads,
  chunkSize,
  fingerprint,
  retryDelay,
  uploadId,
  uploadVideo,
} from "../src/api/upload";
import { errorText } from "../src/errors";
import { translator } from "../src/i18n";
import type { ExtractionSpec } from "../src/spec";
import { memoryStorage } from "./memory-storage";

interface Sent {
  method: string;
  url: string;
  headers: Record<string, string>;
  /** The bytes of a PATCH. */
  size: number;
}

interface Answer {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

/** What a test makes of a request instead of the server: an answer, `"network"` (no answer) or `"hang"`. */
type Override = Answer | "network" | "hang";

/**
 * A tus 1.0 server in memory (creation, HEAD, PATCH, termination), behind tus-js-client's HttpStack interface.
 * `refuse(method, ...)` queues what the next request of that method gets instead of the server's answer.
 */
class FakeTus implements HttpStack {
  sent: Sent[] = [];
  uploads = new Map<string, { length: number; offset: number; metadata: string }>();
  private overrides: { method: string; override: Override }[] = [];
  private next = 1;

  refuse(method: string, override: Override): this {
    this.overrides.push({ method, override });
    return this;
  }

  of(method: string): Sent[] {
    return this.sent.filter((s) => s.method === method);
  }

  createRequest(method: string, url: string): HttpRequest {
    const headers: Record<string, string> = {};
    let progress: (sent: number) => void = () => undefined;
    return {
      getMethod: () => method,
      getURL: () => url,
      setHeader: (name, value) => void (headers[name] = value),
      getHeader: (name) => headers[name],
      setProgressHandler: (handler) => void (progress = handler),
      abort: async () => undefined,
      getUnderlyingObject: () => null,
      send: async (body: Blob | null) => {
        const size = body?.size ?? 0;
        this.sent.push({ method, url, headers: { ...headers }, size });
        const at = this.overrides.findIndex((o) => o.method === method);
        if (at >= 0) {
          const override = this.overrides.splice(at, 1)[0]!.override;
          if (override === "network") throw new Error("network down");
          if (override === "hang") return new Promise<HttpResponse>(() => undefined);
          return response(override);
        }
        const answer = this.serve(method, url, headers, size);
        if (method === "PATCH" && answer.status === 204) progress(size);
        return response(answer);
      },
    };
  }

  getName(): string {
    return "FakeTus";
  }

  private serve(method: string, url: string, headers: Record<string, string>, size: number): Answer {
    if (headers["Tus-Resumable"] !== "1.0.0") return { status: 412 };
    if (method === "POST" && url === ENDPOINT) {
      const id = `v${this.next++}`;
      this.uploads.set(id, { length: Number(headers["Upload-Length"]), offset: 0, metadata: headers["Upload-Metadata"] ?? "" });
      return { status: 201, headers: { Location: `${ENDPOINT}/${id}` } };
    }
    const id = url.split("/").at(-1) ?? "";
    const upload = this.uploads.get(id);
    if (!upload) return { status: 404, body: { code: "not_found", message: "no such upload" } };
    switch (method) {
      case "HEAD":
        return { status: 200, headers: { "Upload-Offset": String(upload.offset), "Upload-Length": String(upload.length) } };
      case "PATCH":
        if (headers["Content-Type"] !== "application/offset+octet-stream") return { status: 415 };
        if (Number(headers["Upload-Offset"]) !== upload.offset) return { status: 409, body: { code: "conflict", message: "offset" } };
        upload.offset += size;
        return { status: 204, headers: { "Upload-Offset": String(upload.offset) } };
      case "DELETE":
        this.uploads.delete(id);
        return { status: 204 };
      default:
        return { status: 405 };
    }
  }
}

function response({ status, body, headers = {} }: Answer): HttpResponse {
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  return {
    getStatus: () => status,
    getHeader: (name) => lower[name.toLowerCase()],
    getBody: () => (body === undefined ? "" : JSON.stringify(body)),
    getUnderlyingObject: () => null,
  };
}

/** Upload-Metadata as an object (values base64-decoded). */
function metadata(header: string | undefined): Record<string, string> {
  return Object.fromEntries(
    (header ?? "").split(",").map((pair) => {
      const [key = "", value = ""] = pair.split(" ");
      return [key, new TextDecoder().decode(Uint8Array.from(atob(value), (c) => c.charCodeAt(0)))];
    }),
  );
}

const SPEC: ExtractionSpec = { fps: "1", format: "png" };
const clip = (size = 1000, name = "férias 2026.mp4") =>
  new File([new Uint8Array(size)], name, { type: "video/mp4", lastModified: 1_700_000_000_000 });

/** Storage that sends chunks of `chunk` bytes; `map` shows what is remembered. */
function chunked(chunk: number, map = new Map<string, string>()) {
  const storage = memoryStorage(map);
  storage.setItem(CHUNK_SIZE_KEY, String(chunk));
  const remembered = () => [...map.keys()].filter((k) => k.startsWith("tus::"));
  return { storage, map, remembered };
}

function credentials(renewed = true) {
  let token = "t1";
  const renew = vi.fn(async () => {
    if (!renewed) return false;
    token = `t${Number(token.slice(1)) + 1}`;
    return true;
  });
  return { token: () => token, renew } satisfies Credentials;
}

/**
 * User u1's upload of clip() in chunks of 500 bytes, left hanging while its first chunk is on its way (as when the
 * page goes away then): the server, and the storage that remembers the upload, for the next try to resume.
 */
async function brokenOffInFirstChunk() {
  const server = new FakeTus();
  const { storage } = chunked(500);
  server.refuse("PATCH", "hang");
  uploadVideo(clip(), SPEC, credentials(), () => undefined, { storage, owner: "u1", httpStack: server });
  await vi.waitFor(() => expect(server.of("PATCH")).toHaveLength(1));
  return { server, storage };
}

afterEach(() => {
  vi.useRealTimers();
});

describe("resumable upload (tus)", () => {
  it("creates the upload with name and spec in Upload-Metadata, sends chunks with the token, and answers the id", async () => {
    const server = new FakeTus();
    const { storage, remembered } = chunked(400);
    const progress: [number, number][] = [];
    const spec: ExtractionSpec = { count: 5, format: "jpeg", quality: 80, max_height: 120 };
    const handle = uploadVideo(clip(), spec, credentials(), (loaded, total) => progress.push([loaded, total]), {
      storage,
      owner: "u1",
      httpStack: server,
    });
    await expect(handle.done).resolves.toEqual({ id: "v1" });
    expect(server.sent.map((s) => `${s.method} ${s.url} ${s.headers["Upload-Offset"] ?? ""}`.trim())).toEqual([
      "POST /api/v1/uploads",
      "PATCH /api/v1/uploads/v1 0",
      "PATCH /api/v1/uploads/v1 400",
      "PATCH /api/v1/uploads/v1 800",
    ]);
    const [create, ...patches] = server.sent as [Sent, ...Sent[]];
    expect(create.headers).toMatchObject({ "Tus-Resumable": "1.0.0", "Upload-Length": "1000", Authorization: "Bearer t1" });
    // The spec as the JSON ExtractionSpec the API takes; the name as it is (tus-js-client base64-encodes both).
    expect(metadata(create.headers["Upload-Metadata"])).toEqual({ filename: "férias 2026.mp4", spec: JSON.stringify(spec) });
    expect(patches.map((p) => p.size)).toEqual([400, 400, 200]);
    expect(patches.every((p) => p.headers["Content-Type"] === "application/offset+octet-stream")).toBe(true);
    expect(patches.every((p) => p.headers.Authorization === "Bearer t1")).toBe(true);
    expect(progress).toContainEqual([400, 1000]);
    expect(progress.at(-1)).toEqual([1000, 1000]);
    // Finished: nothing left to resume.
    expect(remembered()).toEqual([]);
  });

  it("takes the video id from the upload URL's last path segment", () => {
    expect(uploadId("/api/v1/uploads/0193a8f2-0000-7000-8000-00000000beef")).toBe("0193a8f2-0000-7000-8000-00000000beef");
    expect(uploadId("http://127.0.0.1:8080/api/v1/uploads/abc/")).toBe("abc");
    expect(uploadId("/api/v1/uploads/a%20b?x=1")).toBe("a b");
    expect(() => uploadId("")).toThrow(ApiError);
  });

  it("sends the whole file in CHUNK_SIZE chunks unless localStorage names a chunk size", () => {
    const storage = memoryStorage();
    expect(chunkSize(storage)).toBe(CHUNK_SIZE);
    expect(chunkSize(undefined)).toBe(CHUNK_SIZE);
    const cases = [["65536", 65536], [" 1024 ", 1024], ["0", CHUNK_SIZE], ["-5", CHUNK_SIZE], ["1e3", CHUNK_SIZE], ["big", CHUNK_SIZE]];
    for (const [stored, size] of cases as [string, number][]) {
      storage.setItem(CHUNK_SIZE_KEY, stored);
      expect(chunkSize(storage), stored).toBe(size);
    }
    expect(RETRY_DELAYS).toEqual([0, 1000, 3000, 5000, 10000]);
  });

  it("continues an earlier try of the same file from the offset the server holds, and says from where", async () => {
    const server = new FakeTus();
    const { storage, remembered } = chunked(250);
    // The first try: two chunks arrive, then the page goes away in the middle of the third.
    const first: HttpStack = {
      getName: () => "first",
      createRequest: (method, url) => {
        if (method === "PATCH" && server.of("PATCH").length === 2) server.refuse("PATCH", "hang");
        return server.createRequest(method, url);
      },
    };
    uploadVideo(clip(), SPEC, credentials(), () => undefined, { storage, owner: "u1", httpStack: first });
    await vi.waitFor(() => expect(server.of("PATCH")).toHaveLength(3));
    expect(server.uploads.get("v1")?.offset).toBe(500);
    expect(remembered()).toHaveLength(1);

    // The same file chosen again (after a reload): HEAD, then on from byte 500.
    server.sent = [];
    const resumed: [number, number][] = [];
    const progress: [number, number][] = [];
    const handle = uploadVideo(clip(), SPEC, credentials(), (loaded, total) => progress.push([loaded, total]), {
      storage,
      owner: "u1",
      httpStack: server,
      onResume: (offset, total) => resumed.push([offset, total]),
    });
    await expect(handle.done).resolves.toEqual({ id: "v1" });
    expect(server.sent.map((s) => `${s.method} ${s.headers["Upload-Offset"] ?? ""}`.trim())).toEqual(["HEAD", "PATCH 500", "PATCH 750"]);
    expect(resumed).toEqual([[500, 1000]]);
    expect(progress[0]).toEqual([500, 1000]);
    expect(remembered()).toEqual([]);
  });

  it("does not resume another user's upload, or the same file with another spec", async () => {
    const server = new FakeTus();
    const { storage, remembered } = chunked(500);
    server.refuse("PATCH", "hang");
    uploadVideo(clip(), SPEC, credentials(), () => undefined, { storage, owner: "u1", httpStack: server });
    await vi.waitFor(() => expect(remembered()).toHaveLength(1));
    const other = new FakeTus();
    other.refuse("PATCH", "hang");
    uploadVideo(clip(), SPEC, credentials(), () => undefined, { storage, owner: "u2", httpStack: other });
    uploadVideo(clip(), { ...SPEC, format: "webp" }, credentials(), () => undefined, { storage, owner: "u1", httpStack: other });
    await vi.waitFor(() => expect(other.of("POST")).toHaveLength(2));
    expect(other.of("HEAD")).toHaveLength(0);
    expect(fingerprint("u1", clip(), SPEC)).not.toBe(fingerprint("u2", clip(), SPEC));
    expect(fingerprint("u1", clip(), SPEC)).not.toBe(fingerprint("u1", clip(1001), SPEC));
  });

  it("starts over when the server no longer has the earlier try (404: expired)", async () => {
    const { storage, map, remembered } = chunked(500);
    const stored = new StoredUploads(storage);
    await stored.addUpload(fingerprint("u1", clip(), SPEC), {
      size: 1000,
      metadata: {},
      creationTime: new Date().toString(),
      urlStorageKey: "",
      uploadUrl: `${ENDPOINT}/gone`,
      parallelUploadUrls: null,
    });
    const server = new FakeTus();
    const resumed = vi.fn();
    const handle = uploadVideo(clip(), SPEC, credentials(), () => undefined, {
      storage,
      owner: "u1",
      httpStack: server,
      onResume: resumed,
    });
    await expect(handle.done).resolves.toEqual({ id: "v1" });
    expect(server.sent.map((s) => s.method)).toEqual(["HEAD", "POST", "PATCH", "PATCH"]);
    expect(resumed).not.toHaveBeenCalled();
    expect(remembered()).toEqual([]);
    expect(map.get(CHUNK_SIZE_KEY)).toBe("500");
  });

  it("renews an expired token once and sends again, also on the HEAD of a resume (the offset is kept)", async () => {
    const { server, storage } = await brokenOffInFirstChunk();
    // (The server had kept the first 500 bytes.)
    server.uploads.get("v1")!.offset = 500;

    const expired = { status: 401, body: { code: "token_expired", message: "expired" } };
    server.sent = [];
    // (The answer to a HEAD has no body: its 401 says no code.)
    server.refuse("HEAD", { status: 401 }).refuse("PATCH", expired);
    const creds = credentials();
    const resumed = vi.fn();
    const handle = uploadVideo(clip(), SPEC, creds, () => undefined, {
      storage,
      owner: "u1",
      httpStack: server,
      onResume: resumed,
    });
    await expect(handle.done).resolves.toEqual({ id: "v1" });
    expect(server.sent.map((s) => `${s.method} ${s.headers.Authorization}`)).toEqual([
      "HEAD Bearer t1",
      "HEAD Bearer t2",
      "PATCH Bearer t2",
      "HEAD Bearer t3",
      "PATCH Bearer t3",
    ]);
    expect(creds.renew).toHaveBeenCalledTimes(2);
    expect(server.of("POST")).toHaveLength(0);
    expect(resumed).toHaveBeenCalledWith(500, 1000);
  });

  it("reads a bodiless 401's code from WWW-Authenticate: a revoked token on a HEAD is not renewed", async () => {
    const { server, storage } = await brokenOffInFirstChunk();
    server.sent = [];
    server.refuse("HEAD", {
      status: 401,
      headers: { "WWW-Authenticate": 'Bearer realm="fiapx", error="invalid_token", error_description="token_revoked"' },
    });
    const creds = credentials();
    const handle = uploadVideo(clip(), SPEC, creds, () => undefined, { storage, owner: "u1", httpStack: server });
    await expect(handle.done).rejects.toMatchObject({ code: "token_revoked", status: 401 });
    expect(creds.renew).not.toHaveBeenCalled();
    expect(server.sent.map((s) => s.method)).toEqual(["HEAD"]);
  });

  it("fails with the 401 when the renewal is refused, or a second 401 follows the renewal", async () => {
    const expired = { status: 401, body: { code: "token_expired", message: "expired" } };
    const signedOut = new FakeTus().refuse("POST", expired);
    const creds = credentials(false);
    const outcome = uploadVideo(clip(), SPEC, creds, () => undefined, { storage: memoryStorage(), httpStack: signedOut });
    await expect(outcome.done).rejects.toMatchObject({ code: "token_expired", status: 401 });
    expect(signedOut.of("POST")).toHaveLength(1);
    expect(creds.renew).toHaveBeenCalledTimes(1);

    const stubborn = new FakeTus().refuse("POST", expired).refuse("POST", expired);
    const again = uploadVideo(clip(), SPEC, credentials(), () => undefined, { storage: memoryStorage(), httpStack: stubborn });
    await expect(again.done).rejects.toMatchObject({ code: "token_expired" });
    expect(stubborn.of("POST").map((s) => s.headers.Authorization)).toEqual(["Bearer t1", "Bearer t2"]);

    const revoked = new FakeTus().refuse("POST", { status: 401, body: { code: "token_revoked", message: "revoked" } });
    const never = uploadVideo(clip(), SPEC, credentials(), () => undefined, { storage: memoryStorage(), httpStack: revoked });
    await expect(never.done).rejects.toMatchObject({ code: "token_revoked" });
    expect(revoked.sent).toHaveLength(1);
  });

  it("retries a broken link, a 5xx, a 409 and a 423 after RETRY_DELAYS, from the offset the server holds", async () => {
    vi.useFakeTimers();
    const server = new FakeTus()
      .refuse("PATCH", "network")
      .refuse("HEAD", { status: 503, body: { code: "unavailable", message: "busy" } })
      .refuse("HEAD", { status: 423, body: { code: "locked", message: "another request" } });
    const { storage } = chunked(500);
    const handle = uploadVideo(clip(), SPEC, credentials(), () => undefined, { storage, httpStack: server });
    await vi.advanceTimersByTimeAsync(RETRY_DELAYS.slice(0, 3).reduce((a, b) => a + b, 0));
    await expect(handle.done).resolves.toEqual({ id: "v1" });
    expect(server.sent.map((s) => s.method)).toEqual(["POST", "PATCH", "HEAD", "HEAD", "HEAD", "PATCH", "PATCH"]);
  });

  it("resumes a body the server cut for coming in too slowly (408 too_slow) from the offset it kept", async () => {
    vi.useFakeTimers();
    const server = new FakeTus().refuse("PATCH", { status: 408, body: { code: "too_slow", message: "under the minimum" } });
    const { storage } = chunked(500);
    const handle = uploadVideo(clip(), SPEC, credentials(), () => undefined, { storage, httpStack: server });
    await vi.advanceTimersByTimeAsync(RETRY_DELAYS.slice(0, 2).reduce((a, b) => a + b, 0));
    await expect(handle.done).resolves.toEqual({ id: "v1" });
    expect(server.sent.map((s) => s.method)).toEqual(["POST", "PATCH", "HEAD", "PATCH", "PATCH"]);
  });

  it("fails at once with the server's message when the file is refused, and forgets it", async () => {
    const server = new FakeTus().refuse("PATCH", {
      status: 415,
      body: { code: "unsupported_media_type", message: "not a video container" },
    });
    const { storage, remembered } = chunked(500);
    const handle = uploadVideo(new File(["not a video"], "notes.txt"), SPEC, credentials(), () => undefined, {
      storage,
      httpStack: server,
    });
    const error = await handle.done.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ code: "unsupported_media_type", message: "not a video container", status: 415 });
    expect(errorText(translator("en"), error)).toBe("This file is not a video container we can read.");
    expect(server.sent.map((s) => s.method)).toEqual(["POST", "PATCH"]);
    await vi.waitFor(() => expect(remembered()).toEqual([]));
    // The network, when no answer came at all.
    const down = new FakeTus();
    for (let i = 0; i <= RETRY_DELAYS.length; i++) down.refuse("POST", "network");
    vi.useFakeTimers();
    const lost = uploadVideo(clip(), SPEC, credentials(), () => undefined, { storage: memoryStorage(), httpStack: down });
    const outcome = lost.done.catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(RETRY_DELAYS.reduce((a, b) => a + b, 0));
    expect(await outcome).toMatchObject({ code: "network" });
    expect(down.of("POST")).toHaveLength(RETRY_DELAYS.length + 1);
  });

  it("cancels: the upload is terminated on the server (DELETE) and forgotten", async () => {
    const server = new FakeTus().refuse("PATCH", "hang");
    const { storage, remembered } = chunked(500);
    const handle = uploadVideo(clip(), SPEC, credentials(), () => undefined, { storage, httpStack: server });
    await vi.waitFor(() => expect(server.of("PATCH")).toHaveLength(1));
    expect(remembered()).toHaveLength(1);
    handle.abort();
    await expect(handle.done).rejects.toMatchObject({ code: "aborted" });
    await vi.waitFor(() => expect(server.of("DELETE")).toHaveLength(1));
    expect(server.of("DELETE")[0]).toMatchObject({ url: `${ENDPOINT}/v1`, headers: { Authorization: "Bearer t1" } });
    expect(server.uploads.size).toBe(0);
    await vi.waitFor(() => expect(remembered()).toEqual([]));
  });

  it("forgets remembered uploads older than a week, and entries it cannot read", async () => {
    const map = new Map<string, string>();
    const stored = new StoredUploads(memoryStorage(map));
    const now = Date.parse("2026-11-22T18:00:00Z");
    const entry = (age: number, url: string) => ({
      size: 1,
      metadata: {},
      creationTime: new Date(now - age).toString(),
      urlStorageKey: "",
      uploadUrl: url,
      parallelUploadUrls: null,
    });
    await stored.addUpload("a", entry(1000, "/fresh"));
    await stored.addUpload("b", entry(STORED_MAX_AGE_MS + 1000, "/old"));
    map.set("tus::c::1", "{not json");
    map.set("fiapx.locale", "en");
    stored.prune(now);
    expect((await stored.findAllUploads()).map((u) => u.uploadUrl)).toEqual(["/fresh"]);
    expect(map.get("fiapx.locale")).toBe("en");
    expect((await stored.findUploadsByFingerprint("a"))[0]?.urlStorageKey).toMatch(/^tus::a::\d+$/);
    // A storage the browser refuses remembers nothing, and says nothing.
    const refusing = new StoredUploads({
      get length(): number {
        throw new DOMException("denied", "SecurityError");
      },
      setItem() {
        throw new DOMException("full", "QuotaExceededError");
      },
    } as unknown as Storage);
    await expect(refusing.addUpload("x", entry(0, "/x"))).resolves.toMatch(/^tus::x::/);
    await expect(refusing.findAllUploads()).resolves.toEqual([]);
  });

  describe("after a 429", () => {
    const message = "you already have 2 videos waiting or processing (limit 2)";
    const limited = (retryAfter?: string): Answer => ({
      status: 429,
      body: { code: "rate_limited", message },
      ...(retryAfter ? { headers: { "Retry-After": retryAfter } } : {}),
    });
    const start = (server: FakeTus, creds: Credentials = credentials()) => {
      const waits: RetryWait[] = [];
      const progress: [number, number][] = [];
      const handle = uploadVideo(clip(100), SPEC, creds, (loaded, total) => progress.push([loaded, total]), {
        storage: memoryStorage(),
        httpStack: server,
        onRetry: (wait) => waits.push(wait),
      });
      return { handle, waits, progress };
    };

    it("waits Retry-After seconds, says so with the server's message, then creates the upload", async () => {
      vi.useFakeTimers();
      const server = new FakeTus().refuse("POST", limited("2"));
      const { handle, waits, progress } = start(server);
      await vi.advanceTimersByTimeAsync(0);
      expect(waits).toHaveLength(1);
      expect(waits[0]).toMatchObject({ seconds: 2, retry: 1, retries: RETRIES });
      expect(waits[0]!.error).toMatchObject({ code: "rate_limited", message, status: 429, retryAfter: 2 });
      await vi.advanceTimersByTimeAsync(1999);
      expect(server.of("POST")).toHaveLength(1);
      await vi.advanceTimersByTimeAsync(1);
      await expect(handle.done).resolves.toEqual({ id: "v1" });
      expect(server.sent.map((s) => s.method)).toEqual(["POST", "POST", "PATCH"]);
      // Told that it is on its way again, then the bytes.
      expect(progress[0]).toEqual([0, 100]);
      expect(progress.at(-1)).toEqual([100, 100]);
    });

    it("gives up after a few retries with the last refusal", async () => {
      vi.useFakeTimers();
      const server = new FakeTus();
      for (let i = 0; i <= RETRIES; i++) server.refuse("POST", limited("30"));
      const { handle, waits } = start(server);
      const outcome = handle.done.catch((e: unknown) => e);
      await vi.advanceTimersByTimeAsync(30_000 * (RETRIES + 1));
      const error = await outcome;
      expect(server.of("POST")).toHaveLength(RETRIES + 1);
      expect(waits.map((w) => w.retry)).toEqual([1, 2, 3]);
      expect(error).toMatchObject({ code: "rate_limited", status: 429, retryAfter: 30 });
    });

    it("does not wait out a long Retry-After, and waits a default when there is none", async () => {
      expect(retryDelay(undefined)).toBe(DEFAULT_RETRY_SECS);
      expect(retryDelay(0)).toBe(1);
      expect(retryDelay(MAX_RETRY_SECS)).toBe(MAX_RETRY_SECS);
      expect(retryDelay(MAX_RETRY_SECS + 1)).toBeNull();
      const server = new FakeTus().refuse("POST", limited(String(MAX_RETRY_SECS + 1)));
      const { handle, waits } = start(server);
      await expect(handle.done).rejects.toMatchObject({ code: "rate_limited", retryAfter: MAX_RETRY_SECS + 1 });
      expect(waits).toHaveLength(0);
      expect(server.sent).toHaveLength(1);
      vi.useFakeTimers();
      const quiet = start(new FakeTus().refuse("POST", limited()));
      await vi.advanceTimersByTimeAsync(0);
      expect(quiet.waits[0]?.seconds).toBe(DEFAULT_RETRY_SECS);
    });

    it("stops waiting when cancelled", async () => {
      vi.useFakeTimers();
      const server = new FakeTus().refuse("POST", limited("30"));
      const { handle, waits } = start(server);
      await vi.advanceTimersByTimeAsync(0);
      expect(waits).toHaveLength(1);
      handle.abort();
      await expect(handle.done).rejects.toMatchObject({ code: "aborted" });
      await vi.advanceTimersByTimeAsync(60_000);
      expect(server.sent).toHaveLength(1);
    });

    it("renews a token that expired during the wait", async () => {
      vi.useFakeTimers();
      const server = new FakeTus()
        .refuse("POST", { status: 401, body: { code: "token_expired", message: "expired" } })
        .refuse("POST", limited("1"))
        .refuse("POST", { status: 401, body: { code: "token_expired", message: "expired" } });
      const creds = credentials();
      const { handle } = start(server, creds);
      await vi.advanceTimersByTimeAsync(2000);
      await expect(handle.done).resolves.toEqual({ id: "v1" });
      expect(creds.renew).toHaveBeenCalledTimes(2);
      expect(server.of("POST").map((s) => s.headers.Authorization)).toEqual(["Bearer t1", "Bearer t2", "Bearer t2", "Bearer t3"]);
    });

    it("keeps the bytes sent when the 429 comes in the middle (a rate limit on a PATCH)", async () => {
      vi.useFakeTimers();
      const server = new FakeTus();
      const { storage } = chunked(40);
      const waits: RetryWait[] = [];
      // The second PATCH is refused: after the wait the upload goes on from byte 40 (HEAD), not from 0.
      const stack: HttpStack = {
        getName: () => "limited",
        createRequest: (method, url) => {
          if (method === "PATCH" && server.of("PATCH").length === 1) server.refuse("PATCH", limited("3"));
          return server.createRequest(method, url);
        },
      };
      const handle = uploadVideo(clip(100), SPEC, credentials(), () => undefined, {
        storage,
        httpStack: stack,
        onRetry: (wait) => waits.push(wait),
      });
      await vi.advanceTimersByTimeAsync(3000);
      await expect(handle.done).resolves.toEqual({ id: "v1" });
      expect(waits).toHaveLength(1);
      expect(server.sent.map((s) => `${s.method} ${s.headers["Upload-Offset"] ?? ""}`.trim())).toEqual([
        "POST",
        "PATCH 0",
        "PATCH 40",
        "HEAD",
        "PATCH 40",
        "PATCH 80",
      ]);
    });
  });
});
