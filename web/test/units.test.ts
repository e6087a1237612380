import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError, authenticatedFetch, createApi, errorFrom, retryAfterSecs, unwrap } from "../src/api/client";
import { frameHref } from "../src/api/frames";
import { SessionStore } from "../src/api/session";
import { memoryStorage } from "./memory-storage";
import {
  DEFAULT_RETRY_SECS,
  MAX_RETRY_SECS,
  RETRIES,
  type RetryWait,
  retryDelay,
  uploadContentType,
  uploadVideo,
} from "../src/api/upload";
import { errorText } from "../src/errors";
import { DICTIONARIES, type MessageKey, type PluralKey, isPluralKey, localeFor, makeI18n, pluralForm, translator } from "../src/i18n";
import { parseRoute, shareUrl } from "../src/router";
import {
  DEFAULT_SPEC,
  LIMITS,
  MAX_FPS,
  describeSpec,
  fromSpec,
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
    const query = specQuery({ mode: "count", value: "12", format: "jpeg", quality: "70", maxWidth: "640", maxHeight: "" });
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
    expect(toSpec({ mode: "every", value: " 5/2 ", format: "jpeg", quality: "80", maxWidth: "320", maxHeight: "" })).toEqual({
      every: "5/2",
      format: "jpeg",
      quality: 80,
      max_width: 320,
    });
    expect(toSpec({ ...DEFAULT_SPEC, mode: "count", value: "5", format: "webp" })).toEqual({ count: 5, format: "webp" });
    // What a video's spec says is what the form would send again.
    expect(specParams({ count: 5, format: "webp", max_height: 90 }).toString()).toBe("count=5&format=webp&max_height=90");
  });

  it("takes a maximum height next to the maximum width, within the generated limits", () => {
    const query = specQuery({ ...DEFAULT_SPEC, maxWidth: "640", maxHeight: "360" });
    expect(query.toString()).toBe("fps=1&format=png&max_width=640&max_height=360");
    expect(toSpec({ ...DEFAULT_SPEC, maxHeight: " 90 " })).toEqual({ fps: "1", format: "png", max_height: 90 });
    expect(specQuery({ ...DEFAULT_SPEC, maxHeight: "" }).has("max_height")).toBe(false);
    const height = (value: string) => validateSpec({ ...DEFAULT_SPEC, maxHeight: value });
    expect(height(String(LIMITS.max_height.minimum))).toEqual([]);
    expect(height(String(LIMITS.max_height.maximum))).toEqual([]);
    expect(height(String(LIMITS.max_height.minimum - 1))).toEqual(["maxHeight"]);
    expect(height(String(LIMITS.max_height.maximum + 1))).toEqual(["maxHeight"]);
    expect(height("12.5")).toEqual(["maxHeight"]);
    expect(height("tall")).toEqual(["maxHeight"]);
    expect(validateSpec({ ...DEFAULT_SPEC, maxWidth: "8", maxHeight: "8" })).toEqual(["maxWidth", "maxHeight"]);
  });

  it("holds a video's spec in the form, so that sending it unchanged asks for the same extraction", () => {
    const specs = [
      { fps: "30000/1001", format: "webp" as const },
      { every: "5/2", format: "jpeg" as const, quality: 80, max_width: 320 },
      { count: 12, format: "png" as const, max_height: 90 },
      { count: 5, format: "jpeg" as const, quality: 85, max_width: 640, max_height: 480 },
    ];
    for (const spec of specs) {
      expect(validateSpec(fromSpec(spec)), JSON.stringify(spec)).toEqual([]);
      expect(toSpec(fromSpec(spec))).toEqual(spec);
    }
    expect(fromSpec({ every: "5/2", format: "jpeg", quality: 80, max_width: 320 })).toEqual({
      mode: "every",
      value: "5/2",
      format: "jpeg",
      quality: "80",
      maxWidth: "320",
      maxHeight: "",
    });
    // A PNG spec keeps the API's JPEG quality ready in case the user picks JPEG; nothing at all is the defaults.
    expect(fromSpec({ fps: "2", format: "png" }).quality).toBe("85");
    expect(fromSpec({})).toEqual(DEFAULT_SPEC);
    expect(fromSpec(null)).toEqual(DEFAULT_SPEC);
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
      validateSpec({
        mode: "count",
        value: "0",
        format: "jpeg",
        quality: "0",
        maxWidth: String(LIMITS.max_width.maximum + 1),
        maxHeight: "",
      }),
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
    expect(translator("en")("live.frames", { done: 3, count: 10 })).toBe("3 of 10 frames");
  });
});

describe("plurals", () => {
  const en = translator("en");
  const pt = translator("pt-BR");

  it("say 1 frame and 2 frames in English, 1 quadro and 2 quadros in Portuguese", () => {
    expect([0, 1, 2, 10].map((count) => en("live.framesDone", { count }))).toEqual(["0 frames", "1 frame", "2 frames", "10 frames"]);
    expect([1, 2, 10].map((count) => pt("live.framesDone", { count }))).toEqual(["1 quadro", "2 quadros", "10 quadros"]);
    expect(en("live.frames", { done: 0, count: 1 })).toBe("0 of 1 frame");
    expect(en("live.frames", { done: 1, count: 2 })).toBe("1 of 2 frames");
    expect(pt("live.frames", { done: 0, count: 1 })).toBe("0 de 1 quadro");
    expect(pt("live.frames", { done: 3, count: 10 })).toBe("3 de 10 quadros");
    expect([1, 3].map((count) => en("count.attempts", { count }))).toEqual(["1 attempt", "3 attempts"]);
    expect([1, 3].map((count) => pt("count.attempts", { count }))).toEqual(["1 tentativa", "3 tentativas"]);
    expect([1, 30].map((count) => en("count.seconds", { count }))).toEqual(["1 second", "30 seconds"]);
    expect([1, 30].map((count) => pt("count.seconds", { count }))).toEqual(["1 segundo", "30 segundos"]);
    expect([1, 7].map((count) => pt("count.days", { count }))).toEqual(["1 dia", "7 dias"]);
    expect(en("count.hours", { count: 1 })).toBe("1 hour");
  });

  it("follow each language's Intl.PluralRules, falling back to the `other` form", () => {
    // English: 0 is plural; Portuguese (CLDR): 0 and 1 are singular.
    expect(pluralForm("en", "live.framesDone", 0)).toBe("live.framesDone.other");
    expect(pluralForm("pt-BR", "live.framesDone", 0)).toBe("live.framesDone.one");
    expect(pt("live.framesDone", { count: 0 })).toBe("0 quadro");
    // Portuguese has a `many` category (exact millions) the dictionaries do not spell out: the `other` form.
    expect(new Intl.PluralRules("pt-BR").select(1_000_000)).toBe("many");
    expect(pluralForm("pt-BR", "live.framesDone", 1_000_000)).toBe("live.framesDone.other");
    expect(pt("live.framesDone", { count: 1_000_000 })).toBe("1000000 quadros");
  });

  it("have an `other` form for every plural message, and only forms the languages' rules can pick", () => {
    const keys = Object.keys(DICTIONARIES.en) as MessageKey[];
    const bases = [...new Set(keys.filter((k) => /\.(zero|one|two|few|many|other)$/.test(k)).map((k) => k.replace(/\.[a-z]+$/, "")))];
    expect(bases.length).toBeGreaterThan(0);
    for (const base of bases) {
      expect(isPluralKey(base), base).toBe(true);
      for (const locale of ["en", "pt-BR"] as const) {
        const categories = new Intl.PluralRules(locale).resolvedOptions().pluralCategories as string[];
        const forms = keys.filter((k) => k.startsWith(`${base}.`)).map((k) => k.slice(base.length + 1));
        expect(forms, `${locale} ${base}`).toContain("other");
        for (const form of forms) expect(categories, `${locale} ${base}.${form}`).toContain(form);
        expect(DICTIONARIES[locale][`${base}.other` as MessageKey]).toContain("{count}");
      }
    }
    // A plain message is not a plural one.
    expect(isPluralKey("upload.title")).toBe(false);
    const base: PluralKey = "live.frames";
    expect(isPluralKey(base)).toBe(true);
  });
});

describe("rate limits (429)", () => {
  const t = translator("en");

  it("reads Retry-After as seconds, or as an HTTP date", () => {
    expect(retryAfterSecs("30")).toBe(30);
    expect(retryAfterSecs(" 7 ")).toBe(7);
    expect(retryAfterSecs(null)).toBeUndefined();
    expect(retryAfterSecs("soon")).toBeUndefined();
    const now = Date.parse("2026-11-22T18:00:00Z");
    expect(retryAfterSecs("Sun, 22 Nov 2026 18:00:42 GMT", now)).toBe(42);
    expect(retryAfterSecs("Sun, 22 Nov 2026 17:00:00 GMT", now)).toBe(0);
  });

  it("keep the server's message and Retry-After in the ApiError of a call", async () => {
    const message = "you already have 2 videos waiting or processing (limit 2); retry when some finish";
    const base = async () =>
      new Response(JSON.stringify({ code: "rate_limited", message }), {
        status: 429,
        headers: { "Content-Type": "application/json", "Retry-After": "30" },
      });
    const api = createApi({ token: () => "t", renew: async () => false }, base);
    const error = await unwrap(api.GET("/api/v1/me")).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ code: "rate_limited", message, status: 429, retryAfter: 30 });
    expect((await errorFrom(await base())).retryAfter).toBe(30);
    // What the user reads: the server's message and the wait.
    expect(errorText(t, error)).toBe(`Too many requests (${message}). Try again in 30 seconds.`);
  });

  it("say the server's message, the wait in the user's language, or only the message when there is no wait", () => {
    const limited = (retryAfter?: number) => new ApiError("rate_limited", "too many attempts; retry later", 429, retryAfter);
    expect(errorText(t, limited(1))).toBe("Too many requests (too many attempts; retry later). Try again in 1 second.");
    expect(errorText(translator("pt-BR"), limited(5))).toBe(
      "Muitas requisições (too many attempts; retry later). Tente de novo em 5 segundos.",
    );
    expect(errorText(t, limited())).toBe("Too many requests (too many attempts; retry later). Wait a moment and try again.");
    expect(errorText(t, new ApiError("rate_limited", "", 429))).toBe("Too many requests (rate_limited). Wait a moment and try again.");
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
    const fakeStorage = memoryStorage(storage);
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
    const fakeStorage = memoryStorage(storage);
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
  responseHeaders: Record<string, string> = {};
  getResponseHeader(name: string): string | null {
    return this.responseHeaders[name.toLowerCase()] ?? null;
  }
  answer(status: number, body: unknown, headers: Record<string, string> = {}) {
    this.status = status;
    this.responseText = JSON.stringify(body);
    for (const [name, value] of Object.entries(headers)) this.responseHeaders[name.toLowerCase()] = value;
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
      { makeXhr: () => new FakeXhr() as unknown as XMLHttpRequest },
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
      { makeXhr: () => new FakeXhr() as unknown as XMLHttpRequest },
    );
    expect(FakeXhr.made[0]!.headers["Content-Type"]).toBe("application/octet-stream");
    FakeXhr.made[0]!.answer(415, { code: "unsupported_media_type", message: "not a video container" });
    const error = await handle.done.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).code).toBe("unsupported_media_type");
    expect((error as ApiError).status).toBe(415);
  });

  describe("after a 429", () => {
    const limited = { code: "rate_limited", message: "you already have 2 videos waiting or processing (limit 2)" };
    const start = (renew: () => Promise<boolean> = async () => false) => {
      FakeXhr.made = [];
      const waits: RetryWait[] = [];
      const progress: [number, number][] = [];
      let token = "t1";
      const handle = uploadVideo(
        new File([new Uint8Array(100)], "clip.mp4", { type: "video/mp4" }),
        new URLSearchParams("fps=1&format=png"),
        {
          token: () => token,
          renew: async () => {
            token = "t2";
            return renew();
          },
        },
        (loaded, total) => progress.push([loaded, total]),
        { makeXhr: () => new FakeXhr() as unknown as XMLHttpRequest, onRetry: (wait) => waits.push(wait) },
      );
      return { handle, waits, progress };
    };
    const last = () => FakeXhr.made.at(-1)!;

    afterEach(() => {
      vi.useRealTimers();
    });

    it("waits Retry-After seconds, says so, and sends the file again with the same key", async () => {
      vi.useFakeTimers();
      const { handle, waits, progress } = start();
      last().answer(429, limited, { "Retry-After": "2" });
      await vi.advanceTimersByTimeAsync(0);
      expect(waits).toHaveLength(1);
      expect(waits[0]).toMatchObject({ seconds: 2, retry: 1, retries: RETRIES });
      expect(waits[0]!.error).toMatchObject({ code: "rate_limited", message: limited.message, status: 429, retryAfter: 2 });
      await vi.advanceTimersByTimeAsync(1999);
      expect(FakeXhr.made).toHaveLength(1);
      await vi.advanceTimersByTimeAsync(1);
      expect(FakeXhr.made).toHaveLength(2);
      expect(last().headers["Idempotency-Key"]).toBe(FakeXhr.made[0]!.headers["Idempotency-Key"]);
      expect(last().url).toBe(FakeXhr.made[0]!.url);
      expect(progress).toEqual([[0, 100]]);
      last().answer(202, { id: "v1", status: "queued", job: 0 });
      await expect(handle.done).resolves.toEqual({ id: "v1", status: "queued", job: 0 });
    });

    it("gives up after a few retries with the last refusal", async () => {
      vi.useFakeTimers();
      const { handle, waits } = start();
      const outcome = handle.done.catch((e: unknown) => e);
      for (let i = 0; i <= RETRIES; i++) {
        last().answer(429, limited, { "Retry-After": "30" });
        await vi.advanceTimersByTimeAsync(30_000);
      }
      const error = await outcome;
      expect(FakeXhr.made).toHaveLength(RETRIES + 1);
      expect(waits.map((w) => w.retry)).toEqual([1, 2, 3]);
      expect(error).toBeInstanceOf(ApiError);
      expect(error).toMatchObject({ code: "rate_limited", status: 429, retryAfter: 30 });
    });

    it("does not wait out a long Retry-After, and waits a default when there is none", async () => {
      expect(retryDelay(undefined)).toBe(DEFAULT_RETRY_SECS);
      expect(retryDelay(0)).toBe(1);
      expect(retryDelay(MAX_RETRY_SECS)).toBe(MAX_RETRY_SECS);
      expect(retryDelay(MAX_RETRY_SECS + 1)).toBeNull();
      const { handle, waits } = start();
      last().answer(429, limited, { "Retry-After": String(MAX_RETRY_SECS + 1) });
      await expect(handle.done).rejects.toMatchObject({ code: "rate_limited", retryAfter: MAX_RETRY_SECS + 1 });
      expect(waits).toHaveLength(0);
      expect(FakeXhr.made).toHaveLength(1);
    });

    it("stops waiting when cancelled", async () => {
      vi.useFakeTimers();
      const { handle } = start();
      last().answer(429, limited, { "Retry-After": "30" });
      await vi.advanceTimersByTimeAsync(0);
      handle.abort();
      await expect(handle.done).rejects.toMatchObject({ code: "aborted" });
      await vi.advanceTimersByTimeAsync(60_000);
      expect(FakeXhr.made).toHaveLength(1);
    });

    it("renews a token that expired during the wait", async () => {
      vi.useFakeTimers();
      const renew = vi.fn(async () => true);
      const { handle } = start(renew);
      last().answer(429, limited, { "Retry-After": "1" });
      await vi.advanceTimersByTimeAsync(1000);
      expect(last().headers.Authorization).toBe("Bearer t1");
      last().answer(401, { code: "token_expired", message: "expired" });
      await vi.advanceTimersByTimeAsync(0);
      expect(renew).toHaveBeenCalledTimes(1);
      expect(FakeXhr.made).toHaveLength(3);
      expect(last().headers.Authorization).toBe("Bearer t2");
      last().answer(202, { id: "v2", status: "queued", job: 0 });
      await expect(handle.done).resolves.toMatchObject({ id: "v2" });
    });

    it("is not how other refusals are handled: they are the answer at once", async () => {
      const { handle, waits } = start();
      last().answer(503, { code: "unavailable", message: "busy" }, { "Retry-After": "1" });
      await expect(handle.done).rejects.toMatchObject({ code: "unavailable", status: 503 });
      expect(waits).toHaveLength(0);
      expect(FakeXhr.made).toHaveLength(1);
    });
  });

  it("sends video/* types as they are, anything else as octet-stream", () => {
    expect(uploadContentType({ type: "video/webm" })).toBe("video/webm");
    expect(uploadContentType({ type: "" })).toBe("application/octet-stream");
  });
});

describe("frames", () => {
  it("puts the token in an image's address (an <img> cannot send headers)", () => {
    const sha = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    expect(frameHref("v 1", 0, sha, "a+b/c")).toBe("/api/v1/videos/v%201/frames/0?v=0123456789abcdef&access_token=a%2Bb%2Fc");
    // Another image at the same index (the video processed again) is another address.
    expect(frameHref("v", 12, "f".repeat(64), null)).toBe("/api/v1/videos/v/frames/12?v=ffffffffffffffff");
  });

  it("tells a time in a video as m:ss, with hundredths when there is a fraction, in the user's language", () => {
    const en = makeI18n("en", () => undefined);
    expect([0, 1, 2.5, 59.999, 61.25, 600].map(en.formatTime)).toEqual(["0:00", "0:01", "0:02.5", "1:00", "1:01.25", "10:00"]);
    expect(makeI18n("pt-BR", () => undefined).formatTime(2.5)).toBe("0:02,5");
  });
});
