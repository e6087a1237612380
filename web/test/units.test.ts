import { describe, expect, it, vi } from "vitest";
import { zipSync } from "fflate";
import { ApiError, authenticatedFetch, errorFrom } from "../src/api/client";
import { firstImages, imageType } from "../src/api/preview";
import { SessionStore } from "../src/api/session";
import { uploadContentType, uploadVideo } from "../src/api/upload";
import { DICTIONARIES, localeFor, translator } from "../src/i18n";
import { parseRoute, shareUrl } from "../src/router";
import {
  DEFAULT_SPEC,
  LIMITS,
  MAX_FPS,
  describeSpec,
  specParams,
  specQuery,
  toSpec,
  validateSpec,
} from "../src/spec";

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

describe("extraction spec", () => {
  it("defaults to the monolith's one PNG per second", () => {
    expect(specQuery(DEFAULT_SPEC).toString()).toBe("fps=1&format=png");
    expect(validateSpec(DEFAULT_SPEC)).toEqual([]);
  });

  it("accepts fractions and rejects nonsense", () => {
    expect(validateSpec({ ...DEFAULT_SPEC, value: "30000/1001" })).toEqual([]);
    expect(validateSpec({ ...DEFAULT_SPEC, value: "0.5" })).toEqual([]);
    expect(validateSpec({ ...DEFAULT_SPEC, value: "0" })).toEqual(["value"]);
    expect(validateSpec({ ...DEFAULT_SPEC, value: "1/0" })).toEqual(["value"]);
    expect(validateSpec({ ...DEFAULT_SPEC, value: "abc" })).toEqual(["value"]);
    expect(validateSpec({ ...DEFAULT_SPEC, mode: "count", value: "2.5" })).toEqual(["value"]);
    expect(validateSpec({ ...DEFAULT_SPEC, format: "jpeg", quality: "101" })).toEqual(["quality"]);
    expect(validateSpec({ ...DEFAULT_SPEC, maxWidth: "-4" })).toEqual(["maxWidth"]);
  });

  it("sends quality only for JPEG and max_width only when set", () => {
    const query = specQuery({ mode: "count", value: "12", format: "jpeg", quality: "70", maxWidth: "640" });
    expect(Object.fromEntries(query)).toEqual({ count: "12", format: "jpeg", quality: "70", max_width: "640" });
    expect(specQuery({ ...DEFAULT_SPEC, format: "webp", quality: "70" }).has("quality")).toBe(false);
  });

  it("describes a video's spec in the shape the API returns", () => {
    expect(describeSpec({ fps: "1", format: "png" })).toBe("1 fps · png");
    expect(describeSpec({ fps: "30000/1001", format: "webp" })).toBe("30000/1001 fps · webp");
    expect(describeSpec({ fps: "1/2", format: "png" })).toBe("0.5 fps · png");
    expect(describeSpec({ every: "5/2", format: "jpeg", quality: 80, max_width: 320 })).toBe(
      "1 / 2.5 s · jpeg q80 · ≤ 320 px",
    );
    expect(describeSpec({ count: 12, format: "png" })).toBe("12 × · png");
    expect(describeSpec({ count: 5, format: "webp", max_height: 90 })).toBe("5 × · webp · ≤ 90 px ↕");
    // An accepted upload shown before the read model has it: no spec yet, the API's default format.
    expect(describeSpec({})).toBe("png");
  });

  it("sends the form as the API's ExtractionSpec", () => {
    expect(toSpec(DEFAULT_SPEC)).toEqual({ fps: "1", format: "png" });
    expect(toSpec({ mode: "every", value: " 5/2 ", format: "jpeg", quality: "80", maxWidth: "320" })).toEqual({
      every: "5/2",
      format: "jpeg",
      quality: 80,
      max_width: 320,
    });
    expect(toSpec({ ...DEFAULT_SPEC, mode: "count", value: "5", format: "webp" })).toEqual({ count: 5, format: "webp" });
    // What a video's spec says is what the form would send again.
    expect(specParams({ count: 5, format: "webp", max_height: 90 }).toString()).toBe("count=5&format=webp&max_height=90");
  });

  it("refuses what the generated limits refuse, and accepts their bounds", () => {
    const count = (value: number) => validateSpec({ ...DEFAULT_SPEC, mode: "count", value: String(value) });
    expect(count(LIMITS.count.minimum)).toEqual([]);
    expect(count(LIMITS.count.maximum)).toEqual([]);
    expect(count(LIMITS.count.minimum - 1)).toEqual(["value"]);
    expect(count(LIMITS.count.maximum + 1)).toEqual(["value"]);
    expect(count(100001)).toEqual(["value"]);

    const width = (value: number) => validateSpec({ ...DEFAULT_SPEC, maxWidth: String(value) });
    expect(width(LIMITS.max_width.minimum)).toEqual([]);
    expect(width(LIMITS.max_width.maximum)).toEqual([]);
    expect(width(8)).toEqual(["maxWidth"]);
    expect(width(LIMITS.max_width.minimum - 1)).toEqual(["maxWidth"]);
    expect(width(LIMITS.max_width.maximum + 1)).toEqual(["maxWidth"]);

    const quality = (value: number) => validateSpec({ ...DEFAULT_SPEC, format: "jpeg", quality: String(value) });
    expect(quality(LIMITS.quality.minimum)).toEqual([]);
    expect(quality(LIMITS.quality.maximum)).toEqual([]);
    expect(quality(LIMITS.quality.minimum - 1)).toEqual(["quality"]);
    expect(quality(LIMITS.quality.maximum + 1)).toEqual(["quality"]);

    // At most MAX_FPS frames per second, asked as a rate or as a period.
    expect(validateSpec({ ...DEFAULT_SPEC, value: String(MAX_FPS) })).toEqual([]);
    expect(validateSpec({ ...DEFAULT_SPEC, value: String(MAX_FPS + 1) })).toEqual(["value"]);
    expect(validateSpec({ ...DEFAULT_SPEC, value: `${MAX_FPS * 1001 + 1}/1001` })).toEqual(["value"]);
    expect(validateSpec({ ...DEFAULT_SPEC, mode: "every", value: `1/${MAX_FPS}` })).toEqual([]);
    expect(validateSpec({ ...DEFAULT_SPEC, mode: "every", value: `1/${MAX_FPS + 1}` })).toEqual(["value"]);
    expect(validateSpec({ ...DEFAULT_SPEC, mode: "every", value: "0.001" })).toEqual(["value"]);
    // The document's pattern: at most six decimals, no signs or exponents.
    expect(validateSpec({ ...DEFAULT_SPEC, value: ".25" })).toEqual([]);
    expect(validateSpec({ ...DEFAULT_SPEC, value: "0.1234567" })).toEqual(["value"]);
    expect(validateSpec({ ...DEFAULT_SPEC, value: "1e2" })).toEqual(["value"]);
    expect(validateSpec({ ...DEFAULT_SPEC, value: "-1" })).toEqual(["value"]);
    // Several problems at once, each pointing at its field.
    expect(
      validateSpec({ mode: "count", value: "0", format: "jpeg", quality: "0", maxWidth: String(LIMITS.max_width.maximum + 1) }),
    ).toEqual(["value", "quality", "maxWidth"]);
  });
});

describe("languages", () => {
  it("picks pt-BR for any Portuguese browser, English otherwise", () => {
    expect(localeFor(["pt-BR", "en"])).toBe("pt-BR");
    expect(localeFor(["pt-PT"])).toBe("pt-BR");
    expect(localeFor(["fr-FR", "en-US"])).toBe("en");
    expect(localeFor(["de"])).toBe("en");
  });

  it("has every message in both languages, with the same placeholders", () => {
    const en = DICTIONARIES.en;
    const pt = DICTIONARIES["pt-BR"];
    expect(Object.keys(pt).sort()).toEqual(Object.keys(en).sort());
    for (const key of Object.keys(en) as (keyof typeof en)[]) {
      const names = (text: string) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
      expect(names(pt[key]), key).toEqual(names(en[key]));
    }
  });

  it("fills placeholders", () => {
    expect(translator("pt-BR")("upload.sending", { percent: 42 })).toBe("Enviando 42%");
    expect(translator("en")("live.frames", { done: 3, expected: 10 })).toBe("3 of 10 frames");
  });
});

describe("routes", () => {
  it("maps paths to screens, share tokens from the fragment", () => {
    const id = "0193a8f2-0000-7000-8000-00000000beef";
    expect(parseRoute("/")).toEqual({ name: "videos" });
    expect(parseRoute(`/videos/${id}`)).toEqual({ name: "video", id });
    expect(parseRoute("/videos/not-an-id")).toEqual({ name: "notFound" });
    expect(parseRoute(`/share/${id}`, "#token=abc%2Bdef")).toEqual({ name: "share", id, token: "abc+def" });
    const url = shareUrl("http://x", id, "a+b/c=");
    const parsed = new URL(url);
    expect(parseRoute(parsed.pathname, parsed.hash)).toEqual({ name: "share", id, token: "a+b/c=" });
  });
});

describe("authenticated fetch", () => {
  it("sends the bearer token and retries once after renewing an expired one", async () => {
    let token = "old";
    const renew = vi.fn(async () => {
      token = "new";
      return true;
    });
    const seen: string[] = [];
    const base = vi.fn(async (request: Request) => {
      seen.push(request.headers.get("Authorization") ?? "");
      return token === "old" ? json(401, { code: "token_expired", message: "expired" }) : json(200, { ok: true });
    });
    const fetcher = authenticatedFetch({ token: () => token, renew }, base);
    const response = await fetcher(new Request("http://x/api/v1/me", { method: "POST", body: "{}" }));
    expect(response.status).toBe(200);
    expect(seen).toEqual(["Bearer old", "Bearer new"]);
    expect(renew).toHaveBeenCalledTimes(1);
  });

  it("sends no token to the session endpoints and never renews from one (the refresh would wait on itself)", async () => {
    const renew = vi.fn(async () => true);
    const seen: (string | null)[] = [];
    const base = vi.fn(async (request: Request) => {
      seen.push(request.headers.get("Authorization"));
      return json(401, { code: "token_expired", message: "expired" });
    });
    const response = await authenticatedFetch({ token: () => "old", renew }, base)(
      new Request("http://x/api/v1/auth/refresh", { method: "POST", body: "{}" }),
    );
    expect(response.status).toBe(401);
    expect(seen).toEqual([null]);
    expect(renew).not.toHaveBeenCalled();
  });

  it("renews once after invalid_token too (rotated key, or a refusal by mistake), never twice", async () => {
    const renew = vi.fn(async () => true);
    const base = vi.fn(async () => json(401, { code: "invalid_token", message: "malformed" }));
    const response = await authenticatedFetch({ token: () => "t", renew }, base)(new Request("http://x/a"));
    expect(response.status).toBe(401);
    expect(renew).toHaveBeenCalledTimes(1);
    expect(base).toHaveBeenCalledTimes(2);
  });

  it("does not renew on other 401 codes", async () => {
    const renew = vi.fn(async () => true);
    const base = vi.fn(async () => json(401, { code: "token_revoked", message: "revoked" }));
    const response = await authenticatedFetch({ token: () => "t", renew }, base)(new Request("http://x/"));
    expect(response.status).toBe(401);
    expect(renew).not.toHaveBeenCalled();
    expect((await errorFrom(response)).code).toBe("token_revoked");
  });
});

describe("session", () => {
  const user = { id: "u", email: "a@b.c", display_name: "A", locale: "en" as const, created_at: "2026-01-01T00:00:00Z" };
  const session = (access: string, refresh: string) => ({
    access_token: access,
    access_expires_at: "2026-01-01T00:15:00Z",
    refresh_token: refresh,
    refresh_expires_at: "2026-01-02T00:00:00Z",
    token_type: "Bearer" as const,
    user,
  });

  it("keeps the access token in memory, the refresh token in storage, and renews once for many callers", async () => {
    const calls: string[] = [];
    const base = vi.fn(async (request: Request) => {
      calls.push(new URL(request.url).pathname);
      if (request.url.endsWith("/auth/login")) return json(200, session("a1", "r1"));
      const body = (await request.json()) as { refresh_token: string };
      expect(body.refresh_token).toBe("r1");
      return json(200, session("a2", "r2"));
    });
    const storage = new Map<string, string>();
    const fakeStorage = {
      getItem: (k: string) => storage.get(k) ?? null,
      setItem: (k: string, v: string) => void storage.set(k, v),
      removeItem: (k: string) => void storage.delete(k),
    } as unknown as Storage;
    const store = new SessionStore(fakeStorage, base);
    await store.login("a@b.c", "password123");
    expect(store.token()).toBe("a1");
    expect([...storage.values()]).toEqual(["r1"]);
    const results = await Promise.all([store.renew(), store.renew(), store.renew()]);
    expect(results).toEqual([true, true, true]);
    expect(calls.filter((c) => c.endsWith("/refresh"))).toHaveLength(1);
    expect(store.token()).toBe("a2");
    expect([...storage.values()]).toEqual(["r2"]);
  });

  it("forgets everything when the refresh token is refused", async () => {
    const storage = new Map<string, string>([["fiapx.refresh_token", "stale"]]);
    const fakeStorage = {
      getItem: (k: string) => storage.get(k) ?? null,
      setItem: (k: string, v: string) => void storage.set(k, v),
      removeItem: (k: string) => void storage.delete(k),
    } as unknown as Storage;
    const store = new SessionStore(fakeStorage, async () => json(401, { code: "invalid_token", message: "no" }));
    const seen: unknown[] = [];
    store.subscribe((u) => seen.push(u));
    expect(store.hasStoredSession()).toBe(true);
    expect(await store.renew()).toBe(false);
    expect(store.hasStoredSession()).toBe(false);
    expect(seen).toEqual([null]);
  });
});

/** Just enough of XMLHttpRequest for the upload: records what was sent, answers when told. */
class FakeXhr {
  static made: FakeXhr[] = [];
  method = "";
  url = "";
  headers: Record<string, string> = {};
  body: unknown;
  status = 0;
  responseText = "";
  upload: { onprogress: ((e: { loaded: number; total: number; lengthComputable: boolean }) => void) | null } = {
    onprogress: null,
  };
  onload: (() => void) | null = null;
  onerror: (() => void) | null = null;
  onabort: (() => void) | null = null;
  constructor() {
    FakeXhr.made.push(this);
  }
  open(method: string, url: string) {
    this.method = method;
    this.url = url;
  }
  setRequestHeader(name: string, value: string) {
    this.headers[name] = value;
  }
  send(body: unknown) {
    this.body = body;
  }
  abort() {
    this.onabort?.();
  }
  answer(status: number, body: unknown) {
    this.status = status;
    this.responseText = JSON.stringify(body);
    this.onload?.();
  }
}

describe("upload", () => {
  it("streams the raw file with its name, spec and progress; retries after a renewal with the same key", async () => {
    FakeXhr.made = [];
    let token = "old";
    const renew = vi.fn(async () => {
      token = "new";
      return true;
    });
    const file = new File([new Uint8Array(1000)], "férias 2026.mp4", { type: "video/mp4" });
    const progress: [number, number][] = [];
    const handle = uploadVideo(
      file,
      new URLSearchParams("fps=1&format=png"),
      { token: () => token, renew },
      (loaded, total) => progress.push([loaded, total]),
      () => new FakeXhr() as unknown as XMLHttpRequest,
    );
    const first = FakeXhr.made[0]!;
    expect(first.method).toBe("POST");
    expect(first.url).toBe("/api/v1/videos?fps=1&format=png");
    expect(first.headers["Content-Type"]).toBe("video/mp4");
    expect(first.headers["X-Fiapx-Filename"]).toBe("f%C3%A9rias%202026.mp4");
    expect(first.headers.Authorization).toBe("Bearer old");
    expect(first.body).toBe(file);
    first.upload.onprogress?.({ loaded: 500, total: 1000, lengthComputable: true });
    first.answer(401, { code: "token_expired", message: "expired" });
    await vi.waitFor(() => expect(FakeXhr.made).toHaveLength(2));
    const second = FakeXhr.made[1]!;
    expect(second.headers.Authorization).toBe("Bearer new");
    expect(second.headers["Idempotency-Key"]).toBe(first.headers["Idempotency-Key"]);
    second.answer(202, { id: "v1", status: "queued", job: 0 });
    await expect(handle.done).resolves.toEqual({ id: "v1", status: "queued", job: 0 });
    expect(progress).toContainEqual([500, 1000]);
    expect(progress.at(-1)).toEqual([1000, 1000]);
  });

  it("reports the server's error code and message", async () => {
    FakeXhr.made = [];
    const handle = uploadVideo(
      new File(["not a video"], "notes.txt", { type: "text/plain" }),
      new URLSearchParams(),
      { token: () => "t", renew: async () => false },
      () => undefined,
      () => new FakeXhr() as unknown as XMLHttpRequest,
    );
    expect(FakeXhr.made[0]!.headers["Content-Type"]).toBe("application/octet-stream");
    FakeXhr.made[0]!.answer(415, { code: "unsupported_media_type", message: "not a video container" });
    const error = await handle.done.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).code).toBe("unsupported_media_type");
    expect((error as ApiError).status).toBe(415);
  });

  it("sends video/* types as they are, anything else as octet-stream", () => {
    expect(uploadContentType({ type: "video/webm" })).toBe("video/webm");
    expect(uploadContentType({ type: "" })).toBe("application/octet-stream");
  });
});

describe("preview", () => {
  const zip = () => {
    const files: Record<string, [Uint8Array, { level: 0 }]> = {};
    for (let i = 1; i <= 8; i++) {
      files[`frame_${String(i).padStart(6, "0")}.png`] = [new Uint8Array(4096).fill(i), { level: 0 }];
    }
    files["manifest.json"] = [new TextEncoder().encode("{}"), { level: 0 }];
    return zipSync(files);
  };

  it("reads only the first frames of the archive", async () => {
    const bytes = zip();
    let pulled = 0;
    const chunk = 1024;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        const start = pulled * chunk;
        if (start >= bytes.length) return controller.close();
        pulled += 1;
        controller.enqueue(bytes.slice(start, start + chunk));
      },
    });
    const blobs: Blob[] = [];
    const frames = await firstImages(stream, 3, (blob) => {
      blobs.push(blob);
      return `blob:${blobs.length}`;
    });
    expect(frames.map((f) => f.name)).toEqual(["frame_000001.png", "frame_000002.png", "frame_000003.png"]);
    expect(blobs.map((b) => b.size)).toEqual([4096, 4096, 4096]);
    expect(blobs[0]!.type).toBe("image/png");
    expect(new Uint8Array(await blobs[2]!.arrayBuffer())[0]).toBe(3);
    expect(pulled * chunk).toBeLessThan(bytes.length / 2);
  });

  it("knows image types by extension", () => {
    expect(imageType("a.JPG")).toBe("image/jpeg");
    expect(imageType("manifest.json")).toBeNull();
  });
});
