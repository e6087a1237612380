import { act, cleanup, fireEvent, render, screen, waitFor } from "@testing-library/preact";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { type Credentials, createApi } from "../src/api/client";
import { FRAMES_PAGE } from "../src/api/frames";
import { HANDOVER_LEAD_MS, MIN_HANDOVER_MS, REOPEN_MS, RETIRE_MS, feedUrl, watchFeed, watchVideo } from "../src/api/live";
import { SessionStore, accessExpiry } from "../src/api/session";
import type { Video } from "../src/components";
import { I18nContext, type Locale, makeI18n } from "../src/i18n";
import { reconcile, shownStatus } from "../src/live";
import { VideoScreen } from "../src/screens/video";
import { Videos } from "../src/screens/videos";
import { memoryStorage } from "./memory-storage";

/** A scriptable EventSource. */
class FakeSource extends EventTarget {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSED = 2;
  static all: FakeSource[] = [];
  readyState = 0;
  constructor(readonly url: string) {
    super();
    FakeSource.all.push(this);
  }
  emit(type: string, data: unknown, lastEventId = "") {
    this.dispatchEvent(new MessageEvent(type, { data: JSON.stringify(data), lastEventId }));
  }
  open() {
    this.readyState = FakeSource.OPEN;
    this.dispatchEvent(new Event("open"));
  }
  /** The server ended the stream: EventSource reconnects by itself (CONNECTING). */
  end() {
    this.readyState = FakeSource.CONNECTING;
    this.dispatchEvent(new Event("error"));
  }
  refuse() {
    this.readyState = FakeSource.CLOSED;
    this.dispatchEvent(new Event("error"));
  }
  close() {
    this.readyState = FakeSource.CLOSED;
  }
}

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

const status = (id: string, s: string, extra: Record<string, unknown> = {}) => ({
  video_id: id,
  status: s,
  job: 0,
  attempt: 1,
  updated_at: "2026-11-22T18:00:00Z",
  ...extra,
});

/** Credentials whose token `t1` lapses in 500 ms (by Date.now(), faked or not); a renewal gives `t2`, for 3 s. */
function lapsingCredentials() {
  let token = "t1";
  let expires = Date.now() + 500;
  const renew = vi.fn(async () => {
    token = "t2";
    expires = Date.now() + 3000;
    return true;
  });
  return { token: () => token, renew, expiresAt: () => expires };
}

beforeEach(() => {
  FakeSource.all = [];
  vi.stubGlobal("EventSource", FakeSource);
  vi.stubGlobal("fetch", async () => json(200, []));
});
afterEach(() => {
  cleanup();
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

describe("watchVideo", () => {
  it("passes the token in the query and renews it after a refusal", async () => {
    vi.useFakeTimers();
    let token = "t1";
    const renew = vi.fn(async () => {
      token = "t2";
      return true;
    });
    const seen: string[] = [];
    const stop = watchVideo("v1", { token: () => token, renew }, { status: (s) => seen.push(s.status), progress: () => undefined });
    expect(FakeSource.all[0]!.url).toBe("/api/v1/videos/v1/events?access_token=t1");
    FakeSource.all[0]!.emit("status", status("v1", "processing"));
    FakeSource.all[0]!.refuse();
    await vi.advanceTimersByTimeAsync(2000);
    expect(renew).toHaveBeenCalledTimes(1);
    expect(FakeSource.all).toHaveLength(2);
    expect(FakeSource.all[1]!.url).toBe("/api/v1/videos/v1/events?access_token=t2");
    FakeSource.all[1]!.emit("status", status("v1", "completed"));
    expect(seen).toEqual(["processing", "completed"]);
    stop();
    expect(FakeSource.all[1]!.readyState).toBe(FakeSource.CLOSED);
  });
});

describe("watchFeed", () => {
  it("reopens with a fresh token and last_event_id after the stream ends, and drops a status already seen", async () => {
    vi.useFakeTimers();
    let token = "t1";
    const renew = vi.fn(async () => {
      token = `t${Number(token.slice(1)) + 1}`;
      return true;
    });
    const seen: string[] = [];
    const opened: boolean[] = [];
    const stop = watchFeed(
      { token: () => token, renew },
      {
        status: (s) => seen.push(`${s.video_id}:${s.status}`),
        progress: (p) => seen.push(`${p.video_id}:${p.frames_done}`),
        opened: (resumed) => opened.push(resumed),
      },
    );
    const first = FakeSource.all[0]!;
    expect(first.url).toBe("/api/v1/events?access_token=t1");
    first.open();
    first.emit("status", status("a", "processing", { sequence: 7 }), "7");
    first.emit("progress", { video_id: "a", job: 0, attempt: 1, frames_done: 2 });
    first.emit("status", status("b", "queued", { sequence: 9 }), "9");
    // The token lapsed: the server ends the stream (EventSource would reconnect with the stale token).
    first.end();
    expect(first.readyState).toBe(FakeSource.CLOSED);
    await vi.advanceTimersByTimeAsync(REOPEN_MS);
    expect(renew).toHaveBeenCalledTimes(1);
    const second = FakeSource.all[1]!;
    expect(second.url).toBe("/api/v1/events?access_token=t2&last_event_id=9");
    second.open();
    // Already seen (a replay at or before the position): dropped.
    second.emit("status", status("b", "queued", { sequence: 9 }), "9");
    second.emit("status", status("a", "completed", { sequence: 12 }), "12");
    // Refused now (e.g. the renewal came too late): backs off, then resumes from the last status.
    second.end();
    await vi.advanceTimersByTimeAsync(REOPEN_MS);
    FakeSource.all[2]!.refuse();
    await vi.advanceTimersByTimeAsync(999);
    expect(FakeSource.all).toHaveLength(3);
    await vi.advanceTimersByTimeAsync(1);
    expect(FakeSource.all[3]!.url).toBe("/api/v1/events?access_token=t4&last_event_id=12");
    expect(seen).toEqual(["a:processing", "a:2", "b:queued", "a:completed"]);
    expect(opened).toEqual([false, true]);
    stop();
    expect(FakeSource.all[3]!.readyState).toBe(FakeSource.CLOSED);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(FakeSource.all).toHaveLength(4);
  });

  it("takes the position from the SSE id when the status has no sequence", () => {
    const credentials = { token: () => "t", renew: async () => true };
    watchFeed(credentials, { status: () => undefined, progress: () => undefined });
    FakeSource.all[0]!.emit("status", status("a", "queued"), "41");
    FakeSource.all[0]!.refuse();
    expect(feedUrl("t", 41)).toBe("/api/v1/events?access_token=t&last_event_id=41");
    expect(feedUrl(null, undefined)).toBe("/api/v1/events");
  });
});

const row = (id: string, s: string, created: string, updated = created) => ({
  id,
  file_name: `${id}.mp4`,
  content_type: "video/mp4",
  size_bytes: 10,
  status: s,
  spec: {},
  job: 0,
  attempt: 1,
  created_at: created,
  updated_at: updated,
}) as Video;

describe("watchFeed handover", () => {
  /** Credentials whose token lapses `ttl` ms after each renewal. */
  const lapsing = (ttl: number) => {
    let n = 1;
    let expires = Date.now() + ttl;
    const renew = vi.fn(async () => {
      n += 1;
      expires = Date.now() + ttl;
      return true;
    });
    return { token: () => `t${n}`, renew, expiresAt: () => expires };
  };

  it("opens the next stream before the token lapses, so that a change at that moment is not lost", async () => {
    vi.useFakeTimers();
    const credentials = lapsing(3000);
    const seen: string[] = [];
    const opened: boolean[] = [];
    const connection: string[] = [];
    const stop = watchFeed(credentials, {
      status: (s) => seen.push(`${s.video_id}:${s.status}`),
      progress: () => undefined,
      opened: (continuous) => opened.push(continuous),
      connection: (state) => connection.push(state),
    });
    const first = FakeSource.all[0]!;
    first.open();
    // No status yet, so no position: the next stream will start from now, and only the overlap covers the switch.
    await vi.advanceTimersByTimeAsync(3000 - HANDOVER_LEAD_MS - 1);
    expect(FakeSource.all).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(credentials.renew).toHaveBeenCalledTimes(1);
    const second = FakeSource.all[1]!;
    expect(second.url).toBe("/api/v1/events?access_token=t2");
    // A change while the second is connecting: only the first sees it.
    first.emit("status", status("a", "queued", { sequence: 4 }), "4");
    second.open();
    // The same change on both, and one the first still had on the way, of another video and an older position.
    second.emit("status", status("a", "processing", { sequence: 6 }), "6");
    first.emit("status", status("a", "processing", { sequence: 6 }), "6");
    first.emit("status", status("b", "queued", { sequence: 5 }), "5");
    // An older change of a video arriving after a newer one is not applied over it.
    first.emit("status", status("a", "queued", { sequence: 4 }), "4");
    expect(seen).toEqual(["a:queued", "a:processing", "b:queued"]);
    expect(opened).toEqual([false, true]);
    expect(connection).toEqual(["open", "open"]);
    // The replaced stream runs a moment more, then is closed; the server ending it meanwhile changes nothing.
    first.end();
    expect(FakeSource.all).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(RETIRE_MS);
    expect(first.readyState).toBe(FakeSource.CLOSED);
    // The next handover (the renewed token lapses in 3 s too) resumes from the newest position seen.
    await vi.advanceTimersByTimeAsync(3000 - HANDOVER_LEAD_MS - RETIRE_MS - 1);
    expect(FakeSource.all).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(FakeSource.all[2]!.url).toBe("/api/v1/events?access_token=t3&last_event_id=6");
    stop();
    for (const source of FakeSource.all) expect(source.readyState).toBe(FakeSource.CLOSED);
  });

  it("reopens after a gap when the replacement was refused and the stream ended, and says it was not continuous", async () => {
    vi.useFakeTimers();
    const credentials = lapsing(3000);
    const opened: boolean[] = [];
    const connection: string[] = [];
    watchFeed(credentials, {
      status: () => undefined,
      progress: () => undefined,
      opened: (continuous) => opened.push(continuous),
      connection: (state) => connection.push(state),
    });
    FakeSource.all[0]!.open();
    await vi.advanceTimersByTimeAsync(3000 - HANDOVER_LEAD_MS);
    FakeSource.all[1]!.refuse();
    FakeSource.all[0]!.end();
    expect(connection).toEqual(["open", "retrying"]);
    await vi.advanceTimersByTimeAsync(REOPEN_MS);
    FakeSource.all[2]!.open();
    expect(opened).toEqual([false, false]);
  });

  it("renews a token about to lapse before it opens the first stream", async () => {
    vi.useFakeTimers();
    const credentials = lapsingCredentials();
    const { renew } = credentials;
    watchFeed(credentials, { status: () => undefined, progress: () => undefined });
    expect(FakeSource.all).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(0);
    expect(renew).toHaveBeenCalledTimes(1);
    expect(FakeSource.all.map((s) => s.url)).toEqual(["/api/v1/events?access_token=t2"]);
  });

  it("never replaces a stream sooner than MIN_HANDOVER_MS after it opened (a clock far ahead)", async () => {
    vi.useFakeTimers();
    const renew = vi.fn(async () => true);
    watchFeed({ token: () => "t", renew, expiresAt: () => Date.now() - 60_000 }, { status: () => undefined, progress: () => undefined });
    // (Renewed once before the first stream: its token looks lapsed already.)
    await vi.advanceTimersByTimeAsync(0);
    expect(renew).toHaveBeenCalledTimes(1);
    FakeSource.all[0]!.open();
    await vi.advanceTimersByTimeAsync(MIN_HANDOVER_MS - 1);
    expect(renew).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(renew).toHaveBeenCalledTimes(2);
  });

  it("tells the token's expiry in this browser's clock from the answer's Date header", () => {
    const now = Date.parse("2026-11-22T18:00:00.500Z");
    // The server's clock is 10 s behind ours (its second 17:59:50 taken as its middle); the token lapses at 17:59:53.
    expect(accessExpiry("2026-11-22T17:59:53Z", "Sun, 22 Nov 2026 17:59:50 GMT", now)).toBe(now + 2500);
    // Under a second or so apart (the header's whole seconds): taken as the same clock.
    expect(accessExpiry("2026-11-22T18:00:03Z", "Sun, 22 Nov 2026 18:00:01 GMT", now)).toBe(Date.parse("2026-11-22T18:00:03Z"));
    expect(accessExpiry("2026-11-22T18:00:03Z", null, now)).toBe(Date.parse("2026-11-22T18:00:03Z"));
    // The token holds whole seconds: it lapses at the second below.
    expect(accessExpiry("2026-11-22T18:00:03.999Z", null, now)).toBe(Date.parse("2026-11-22T18:00:03Z"));
    expect(accessExpiry(undefined, null, now)).toBeUndefined();
    expect(accessExpiry("soon", null, now)).toBeUndefined();
  });
});

describe("reconciliation", () => {
  it("shows the newer of the feed's status and the list's row", () => {
    const video = row("a", "completed", "2026-11-22T18:00:00Z", "2026-11-22T18:00:05Z");
    // The feed's status is older than the row read after it: the row wins.
    expect(shownStatus(video, { status: "processing", updatedAt: "2026-11-22T18:00:03Z" }).status).toBe("completed");
    expect(shownStatus(video, { status: "failed", updatedAt: "2026-11-22T18:00:05Z" }).status).toBe("failed");
    expect(shownStatus(video, undefined).status).toBe("completed");
    // Compared as times, not texts: "05.120Z" is after "05Z".
    expect(shownStatus(video, { status: "failed", updatedAt: "2026-11-22T18:00:05.120Z" }).status).toBe("failed");
    expect(shownStatus(row("c", "processing", "2026-11-22T18:00:05.120Z"), { status: "queued", updatedAt: "2026-11-22T18:00:05Z" }).status).toBe("processing");
    const running = row("b", "processing", "2026-11-22T18:00:00Z");
    const progress = { video_id: "b", job: 0, attempt: 2, frames_done: 1, frames_expected: 4 };
    expect(shownStatus(running, { progress })).toMatchObject({ status: "processing", attempt: 2, progress });
  });

  it("merges the first page read again over the rows shown", () => {
    const old = [row("b", "processing", "2026-11-22T18:00:02Z", "2026-11-22T18:00:09Z"), row("a", "queued", "2026-11-22T18:00:01Z"), row("z", "completed", "2026-11-22T17:00:00Z")];
    const fresh = [row("c", "queued", "2026-11-22T18:00:03Z"), row("b", "queued", "2026-11-22T18:00:02Z", "2026-11-22T18:00:04Z"), row("a", "completed", "2026-11-22T18:00:01Z", "2026-11-22T18:00:08Z")];
    const merged = reconcile(old, fresh, false);
    expect(merged.map((v) => `${v.id}:${v.status}`)).toEqual(["c:queued", "b:processing", "a:completed", "z:completed"]);
    expect(reconcile(old, fresh, true).map((v) => v.id)).toEqual(["c", "b", "a"]);
  });
});

describe("the list on the feed", () => {
  const session = (base: (request: Request) => Promise<Response>) => {
    const store = new SessionStore(memoryStorage(), base);
    store.accept({ access_token: "t", refresh_token: "r", user: { id: "u", email: "a@b.c", display_name: "A", locale: "en" } } as never);
    return store;
  };

  it("opens one stream for every video, follows two at once, and shows one uploaded elsewhere", async () => {
    const lists: string[] = [];
    let page = [row("a", "queued", "2026-11-22T18:00:01Z"), row("b", "queued", "2026-11-22T18:00:00Z")];
    const base = async (request: Request) => {
      const url = new URL(request.url, "http://localhost");
      if (url.pathname === "/api/v1/videos") {
        lists.push(url.search);
        return json(200, { items: page });
      }
      if (url.pathname === "/api/v1/videos/c") return json(200, row("c", "queued", "2026-11-22T18:00:05Z"));
      return json(404, { code: "not_found", message: "no" });
    };
    render(
      <I18nContext.Provider value={makeI18n("en", () => undefined)}>
        <Videos session={session(base)} />
      </I18nContext.Provider>,
    );
    await screen.findByRole("link", { name: "a.mp4" });
    expect(FakeSource.all.map((s) => s.url)).toEqual(["/api/v1/events?access_token=t"]);
    // Opened from now: the list is read again (a change between the first read and the open would show).
    page = [row("a", "processing", "2026-11-22T18:00:01Z", "2026-11-22T18:00:02Z"), page[1]!];
    act(() => FakeSource.all[0]!.open());
    await waitFor(() => expect(lists).toHaveLength(2));
    const item = (id: string) => document.querySelector(`li.video[data-video-id="${id}"]`)!;
    await waitFor(() => expect(item("a").querySelector(".badge-processing")).toBeTruthy());
    act(() => {
      FakeSource.all[0]!.emit("status", status("b", "processing", { sequence: 3, updated_at: "2026-11-22T18:00:03Z" }), "3");
      FakeSource.all[0]!.emit("progress", { video_id: "a", job: 0, attempt: 1, frames_done: 1, frames_expected: 4, stage: "extracting" });
      FakeSource.all[0]!.emit("progress", { video_id: "b", job: 0, attempt: 1, frames_done: 3, frames_expected: 4, stage: "extracting" });
    });
    expect(item("a").querySelector("progress")?.getAttribute("value")).toBe("25");
    expect(item("b").querySelector("progress")?.getAttribute("value")).toBe("75");
    act(() => {
      FakeSource.all[0]!.emit("status", status("a", "completed", { sequence: 4, frame_count: 4, updated_at: "2026-11-22T18:00:06Z" }), "4");
      FakeSource.all[0]!.emit("status", status("b", "completed", { sequence: 5, frame_count: 4, updated_at: "2026-11-22T18:00:06Z" }), "5");
    });
    expect(item("a").querySelector(".badge-completed")).toBeTruthy();
    expect(item("b").querySelector(".badge-completed")).toBeTruthy();
    expect(item("a").querySelector("progress")).toBeNull();
    // A video uploaded in another tab: its row is read by id and shown, newest first.
    act(() => FakeSource.all[0]!.emit("status", status("c", "queued", { sequence: 6, updated_at: "2026-11-22T18:00:05Z" }), "6"));
    await screen.findByRole("link", { name: "c.mp4" });
    expect([...document.querySelectorAll("li.video")].map((li) => li.getAttribute("data-video-id"))).toEqual(["c", "a", "b"]);
    expect(FakeSource.all).toHaveLength(1);
    expect(lists).toHaveLength(2);
  });

  it("keeps the newer row when an older read answers last, and reads again by id what a gap in the feed hid", async () => {
    let answerFirst: (response: Response) => void = () => undefined;
    const lists: string[] = [];
    const reads: string[] = [];
    let completed = false;
    const base = async (request: Request) => {
      const url = new URL(request.url, "http://localhost");
      if (url.pathname === "/api/v1/videos") {
        lists.push(url.search);
        // The first read is slow: it answers after the read made once the feed opened, with an older row.
        if (lists.length === 1) return new Promise<Response>((resolve) => (answerFirst = resolve));
        return json(200, { items: [row("a", "processing", "2026-11-22T18:00:01Z", "2026-11-22T18:00:04Z")] });
      }
      if (url.pathname === "/api/v1/videos/c") {
        reads.push("c");
        return json(200, row("c", completed ? "completed" : "queued", "2026-11-22T18:00:05Z", completed ? "2026-11-22T18:00:09Z" : "2026-11-22T18:00:05Z"));
      }
      if (url.pathname === "/api/v1/auth/refresh") {
        return json(200, { access_token: "t2", refresh_token: "r2", user: { id: "u", email: "a@b.c", display_name: "A", locale: "en" } });
      }
      return json(404, { code: "not_found", message: "no" });
    };
    render(
      <I18nContext.Provider value={makeI18n("en", () => undefined)}>
        <Videos session={session(base)} />
      </I18nContext.Provider>,
    );
    act(() => FakeSource.all[0]!.open());
    const item = (id: string) => document.querySelector(`li.video[data-video-id="${id}"]`);
    await waitFor(() => expect(item("a")?.querySelector(".badge-processing")).toBeTruthy());
    answerFirst(json(200, { items: [row("a", "queued", "2026-11-22T18:00:01Z")] }));
    await waitFor(() => expect(document.querySelector("ul.videos")?.getAttribute("aria-busy")).toBe("false"));
    expect(item("a")?.querySelector(".badge-processing")).toBeTruthy();
    // A video the list does not have yet, told of by the feed (no position: the server sent none).
    act(() => FakeSource.all[0]!.emit("status", status("c", "queued", { updated_at: "2026-11-22T18:00:05Z" })));
    await screen.findByRole("link", { name: "c.mp4" });
    // The stream ends with no other open (no known expiry, so no handover): while it is reopened, c completes.
    completed = true;
    act(() => FakeSource.all[0]!.end());
    await waitFor(() => expect(FakeSource.all).toHaveLength(2), { timeout: 2000 });
    expect(FakeSource.all[1]!.url).toBe("/api/v1/events?access_token=t2");
    act(() => FakeSource.all[1]!.open());
    // Opened from now after a gap: the list and c (by id) are read again, and c shows what the feed did not say.
    await waitFor(() => expect(item("c")?.querySelector(".badge-completed")).toBeTruthy());
    expect(reads).toEqual(["c", "c"]);
    expect(lists.length).toBeGreaterThanOrEqual(3);
  });

  it("says so when the list's answer is not a page, instead of breaking the screen", async () => {
    const base = async () => json(200, { code: "token_expired", message: "the token expired" });
    render(
      <I18nContext.Provider value={makeI18n("en", () => undefined)}>
        <Videos session={session(base)} />
      </I18nContext.Provider>,
    );
    await screen.findByText(/the list's answer has no items/);
    expect(screen.getByRole("button", { name: "Try again" })).toBeTruthy();
  });
});

describe("video screen", () => {
  const video = {
    id: "0193a8f2-0000-7000-8000-00000000beef",
    file_name: "clip.mp4",
    content_type: "video/mp4",
    size_bytes: 1000,
    status: "processing",
    spec: { fps: "1", format: "png" },
    job: 0,
    attempt: 1,
    created_at: "2026-11-22T18:00:00Z",
    updated_at: "2026-11-22T18:00:00Z",
  };
  type Answer = (request: Request, url: URL) => Response | undefined | Promise<Response | undefined>;

  /**
   * Renders the screen of `video` on a fake API: `answer` answers the requests it knows (undefined: not this one),
   * the timeline and the share list are empty, and every other request is answered with `current` (the video).
   */
  const showVideo = (
    credentials: Credentials,
    current: object,
    answer: Answer = () => undefined,
    { locale = "en", readOnly = false }: { locale?: Locale; readOnly?: boolean } = {},
  ) => {
    const base = async (request: Request) => {
      const url = new URL(request.url, "http://localhost");
      const answered = await answer(request, url);
      if (answered) return answered;
      if (url.pathname.endsWith("/timeline")) return json(200, { video_id: video.id, entries: [] });
      if (url.pathname.endsWith("/shares")) return json(200, { items: [] });
      return json(200, current);
    };
    render(
      <I18nContext.Provider value={makeI18n(locale, () => undefined)}>
        <VideoScreen id={video.id} api={createApi(credentials, base)} credentials={credentials} readOnly={readOnly} />
      </I18nContext.Provider>,
    );
  };

  /** Takes reprocess requests (202, job 1), their bodies into `posted`. */
  const reprocessInto =
    (posted: unknown[]): Answer =>
    async (request, url) => {
      if (!url.pathname.endsWith("/reprocess")) return undefined;
      posted.push(await request.json());
      return json(202, { id: video.id, status: "queued", job: 1 });
    };

  /** Answers the frames list with `list`. */
  const framesWith =
    (list: (url: URL) => Response): Answer =>
    (_request, url) =>
      url.pathname.endsWith("/frames") ? list(url) : undefined;

  it("is read-only with a share token and follows the status live", async () => {
    const credentials = { token: () => "share-token", renew: async () => false };
    const bearer = (request: Request) => {
      expect(request.headers.get("Authorization")).toBe("Bearer share-token");
      return undefined;
    };
    showVideo(credentials, video, bearer, { readOnly: true });
    await screen.findByRole("heading", { name: "clip.mp4" });
    expect(screen.getByText(/read-only/)).toBeTruthy();
    expect(screen.queryByRole("button", { name: "Delete" })).toBeNull();
    expect(screen.queryByRole("button", { name: "Create link" })).toBeNull();
    expect(FakeSource.all[0]!.url).toContain("access_token=share-token");
    act(() =>
      FakeSource.all[0]!.emit("progress", { video_id: video.id, job: 0, attempt: 1, frames_done: 2, frames_expected: 4, stage: "extracting" }),
    );
    expect(document.querySelector(".live-line")?.textContent).toContain("50%");
    act(() =>
      FakeSource.all[0]!.emit("status", status(video.id, "failed", { failure: { code: "corrupt_input", message: "damaged", will_retry: false } })),
    );
    expect(screen.getByText(/damaged/)).toBeTruthy();
  });

  it("reprocesses with a spec chosen in the upload screen's form, starting from the video's own", async () => {
    const credentials = { token: () => "t", renew: async () => false };
    const current = {
      ...video,
      status: "failed",
      spec: { every: "5/2", format: "jpeg", quality: 80, max_width: 320 },
      failure: { code: "corrupt_input", message: "damaged", will_retry: false },
    };
    const posted: unknown[] = [];
    showVideo(credentials, current, reprocessInto(posted));
    const toggle = await screen.findByRole("button", { name: "Process again" });
    expect(toggle.getAttribute("aria-expanded")).toBe("false");
    fireEvent.click(toggle);
    expect(toggle.getAttribute("aria-expanded")).toBe("true");
    // The form holds the video's spec, and takes the focus.
    const mode = screen.getByLabelText("Frames") as HTMLSelectElement;
    await waitFor(() => expect(document.activeElement).toBe(mode));
    expect(mode.value).toBe("every");
    expect((screen.getByLabelText(/Seconds between frames/) as HTMLInputElement).value).toBe("5/2");
    expect((screen.getByLabelText("Image format") as HTMLSelectElement).value).toBe("jpeg");
    expect((screen.getByLabelText(/JPEG quality/) as HTMLInputElement).value).toBe("80");
    expect((screen.getByLabelText(/Maximum width/) as HTMLInputElement).value).toBe("320");
    const height = screen.getByLabelText(/Maximum height/) as HTMLInputElement;
    expect(height.value).toBe("");
    // Another spec: a fixed count of WebP frames, at most 8 px high (refused: the API's minimum is 16).
    fireEvent.change(mode, { target: { value: "count" } });
    fireEvent.input(screen.getByLabelText("Number of frames"), { target: { value: "12" } });
    fireEvent.change(screen.getByLabelText("Image format"), { target: { value: "webp" } });
    fireEvent.input(height, { target: { value: "8" } });
    const start = screen.getByRole("button", { name: "Start processing" });
    fireEvent.submit(start.closest("form")!);
    expect(height.getAttribute("aria-invalid")).toBe("true");
    expect(screen.getByText("Maximum height is a whole number from 16 to 16384, or empty.")).toBeTruthy();
    await waitFor(() => expect(document.activeElement).toBe(height));
    expect(posted).toEqual([]);
    fireEvent.input(height, { target: { value: "240" } });
    fireEvent.submit(start.closest("form")!);
    await screen.findByText("Queued for processing again.");
    expect(posted).toEqual([{ count: 12, format: "webp", max_width: 320, max_height: 240 }]);
    // The form closes once the new run is queued.
    expect(screen.queryByRole("button", { name: "Start processing" })).toBeNull();
  });

  it("keeps the spec when the form is left as it is, and the same spec is what it sends unchanged", async () => {
    const credentials = { token: () => "t", renew: async () => false };
    const current = { ...video, status: "completed", spec: { count: 5, format: "png", max_height: 90 } };
    const posted: unknown[] = [];
    const reprocess = reprocessInto(posted);
    const answer: Answer = (request, url) =>
      url.pathname.endsWith("/download") ? new Response(null, { status: 404 }) : reprocess(request, url);
    showVideo(credentials, current, answer, { locale: "pt-BR" });
    const toggle = await screen.findByRole("button", { name: "Processar de novo" });
    fireEvent.click(toggle);
    fireEvent.click(screen.getByRole("button", { name: "Deixar como está" }));
    expect(screen.queryByLabelText("Altura máxima em pixels (opcional)")).toBeNull();
    await waitFor(() => expect(document.activeElement).toBe(toggle));
    fireEvent.click(toggle);
    expect((screen.getByLabelText("Altura máxima em pixels (opcional)") as HTMLInputElement).value).toBe("90");
    fireEvent.click(screen.getByRole("button", { name: "Iniciar o processamento" }));
    await screen.findByText("Na fila para processar de novo.");
    expect(posted).toEqual([{ count: 5, format: "png", max_height: 90 }]);
  });

  it("shows the frames once the list is ready, a page at a time, and asks again with a fresh token for an image", async () => {
    // The read model lags the live status: the list answers not_ready twice, then the first page.
    let token = "t1";
    const renew = vi.fn(async () => {
      token = `t${Number(token.slice(1)) + 1}`;
      return true;
    });
    const credentials = { token: () => token, renew };
    const frame = (index: number) => ({
      index,
      pts: index * 0.5,
      file_name: `frame_${String(index + 1).padStart(4, "0")}.jpg`,
      size_bytes: 64,
      sha256: String(index).repeat(64),
    });
    const lists: string[] = [];
    const pages = framesWith((url) => {
      lists.push(url.search);
      if (lists.length <= 2) return json(409, { code: "not_ready", message: "the frames archive is not ready (status: processing)" });
      return url.searchParams.get("cursor") === "2"
        ? json(200, { frame_count: 3, items: [frame(2)] })
        : json(200, { frame_count: 3, items: [frame(0), frame(1)], next_cursor: "2" });
    });
    showVideo(credentials, { ...video, status: "completed", job: 1, frame_count: 3 }, pages);
    const images = await screen.findAllByRole("img", {}, { timeout: 3000 });
    expect(images.map((img) => img.getAttribute("alt"))).toEqual(["Frame 1 at 0:00", "Frame 2 at 0:00.5"]);
    expect(images.map((img) => img.getAttribute("src"))).toEqual([
      `/api/v1/videos/${video.id}/frames/0?v=0000000000000000&access_token=t1`,
      `/api/v1/videos/${video.id}/frames/1?v=1111111111111111&access_token=t1`,
    ]);
    expect(images.every((img) => img.getAttribute("loading") === "lazy")).toBe(true);
    expect(lists).toEqual([`?limit=${FRAMES_PAGE}`, `?limit=${FRAMES_PAGE}`, `?limit=${FRAMES_PAGE}`]);
    expect(screen.getByText("2 of 3 shown")).toBeTruthy();
    // The next page, from the cursor; then no more.
    fireEvent.click(screen.getByRole("button", { name: "More frames" }));
    await waitFor(() => expect(screen.getAllByRole("img")).toHaveLength(3));
    expect(lists.at(-1)).toBe(`?limit=${FRAMES_PAGE}&cursor=2`);
    expect(screen.getByText("3 of 3 shown")).toBeTruthy();
    expect(screen.queryByRole("button", { name: "More frames" })).toBeNull();
    // An image refused (its token lapsed before it was loaded): renewed once, asked again with the new token.
    const third = screen.getAllByRole("img")[2]!;
    fireEvent.error(third);
    await waitFor(() => expect(third.getAttribute("src")).toBe(`/api/v1/videos/${video.id}/frames/2?v=2222222222222222&access_token=t2`));
    fireEvent.error(third);
    await new Promise((r) => setTimeout(r, 20));
    expect(renew).toHaveBeenCalledTimes(1);
    expect(screen.getAllByRole("img")[0]!.getAttribute("src")).toContain("access_token=t1");
    expect(screen.queryByText(/could not be shown/)).toBeNull();
  });

  it("renews a token about to lapse before it goes to the download", async () => {
    const credentials = lapsingCredentials();
    const { renew } = credentials;
    const noFrames = framesWith(() => json(200, { frame_count: 0, items: [] }));
    const assign = vi.spyOn(window.location, "assign").mockImplementation(() => undefined);
    try {
      showVideo(credentials, { ...video, status: "completed", frame_count: 3 }, noFrames);
      fireEvent.click(await screen.findByRole("link", { name: "Download ZIP" }));
      await waitFor(() => expect(assign).toHaveBeenCalledWith(`/api/v1/videos/${video.id}/download?access_token=t2`));
      expect(renew).toHaveBeenCalledTimes(1);
    } finally {
      assign.mockRestore();
    }
  });

  describe("scrub preview", () => {
    const storyboard = { storyboard: "10", storyboard_width: 160, storyboard_columns: 2, storyboard_rows: 2 };
    const vtt = [
      "WEBVTT",
      "",
      "00:00:00.000 --> 00:00:10.000",
      "storyboard/0.jpg#xywh=0,0,160,90",
      "",
      "00:00:10.000 --> 00:00:20.000",
      "storyboard/0.jpg#xywh=160,0,160,90",
      "",
      "00:00:20.000 --> 00:00:30.000",
      "storyboard/0.jpg#xywh=0,90,160,90",
      "",
      "00:00:30.000 --> 00:00:40.000",
      "storyboard/0.jpg#xywh=160,90,160,90",
      "",
      "00:00:40.000 --> 00:00:45.000",
      "storyboard/1.jpg#xywh=0,0,160,90",
      "",
    ].join("\n");
    const noFrames = framesWith(() => json(200, { frame_count: 0, items: [] }));
    /** Answers the .vtt with `index` (and the frames list with none), the requests into `asked`. */
    const indexWith =
      (index: (request: Request) => Response, asked: string[] = []): Answer =>
      (request, url) => {
        if (url.pathname.endsWith("/storyboard.vtt")) {
          asked.push(request.headers.get("Authorization") ?? "");
          return index(request);
        }
        return noFrames(request, url);
      };
    const vttAnswer = () => new Response(vtt, { status: 200, headers: { "Content-Type": "text/vtt; charset=utf-8" } });

    it("shows the tile of the time under the slider, cut out of its sheet, with its time", async () => {
      let token = "t1";
      const renew = vi.fn(async () => {
        token = "t2";
        return true;
      });
      const credentials = { token: () => token, renew };
      const asked: string[] = [];
      showVideo(credentials, { ...video, status: "completed", job: 3, spec: { fps: "1", format: "png", ...storyboard } }, indexWith(vttAnswer, asked));
      const slider = (await screen.findByLabelText("Position in the video")) as HTMLInputElement;
      expect(asked).toEqual(["Bearer t1"]);
      expect(screen.getByRole("heading", { name: "Scrub preview" })).toBeTruthy();
      expect([slider.type, slider.min, slider.max, slider.step, slider.value]).toEqual(["range", "0", "45", "10", "0"]);
      expect(slider.getAttribute("aria-valuetext")).toBe("0:00");
      const tile = () => screen.getByRole("img", { name: /^Preview at/ }) as HTMLImageElement;
      const caption = () => document.querySelector(".scrub-preview figcaption")!;
      expect(tile().getAttribute("alt")).toBe("Preview at 0:00");
      expect(tile().getAttribute("src")).toBe(`/api/v1/videos/${video.id}/storyboard/0.jpg?v=3&access_token=t1`);
      expect([tile().style.left, tile().style.top]).toEqual(["0px", "0px"]);
      const box = tile().parentElement!;
      expect(box.className).toBe("scrub-tile");
      expect([box.style.width, box.style.height]).toEqual(["160px", "90px"]);
      expect(caption().getAttribute("aria-live")).toBe("polite");
      expect(caption().textContent).toBe("0:00 of 0:45");
      // The slider moves: the tile of that time, further in the same sheet, then on the next sheet.
      fireEvent.input(slider, { target: { value: "30" } });
      expect(tile().getAttribute("alt")).toBe("Preview at 0:30");
      expect([tile().style.left, tile().style.top]).toEqual(["-160px", "-90px"]);
      expect(slider.getAttribute("aria-valuetext")).toBe("0:30");
      expect(caption().textContent).toBe("0:30 of 0:45");
      fireEvent.input(slider, { target: { value: "45" } });
      expect(tile().getAttribute("src")).toBe(`/api/v1/videos/${video.id}/storyboard/1.jpg?v=3&access_token=t1`);
      expect([tile().style.left, tile().style.top]).toEqual(["0px", "0px"]);
      // The mouse over the slider shows the time under it, without moving the slider; leaving it goes back.
      slider.getBoundingClientRect = () => ({ left: 100, width: 450, top: 0, height: 10, right: 550, bottom: 10, x: 100, y: 0, toJSON: () => ({}) });
      fireEvent.pointerMove(slider, { pointerType: "mouse", clientX: 100 + 150 });
      expect(tile().getAttribute("alt")).toBe("Preview at 0:10");
      expect(caption().textContent).toBe("0:15 of 0:45");
      expect(slider.value).toBe("45");
      fireEvent.pointerLeave(slider);
      expect(tile().getAttribute("alt")).toBe("Preview at 0:40");
      // A sheet refused (its token lapsed): renewed once, asked again with the new token; not again after that.
      fireEvent.error(tile());
      await waitFor(() => expect(tile().getAttribute("src")).toContain("access_token=t2"));
      fireEvent.error(tile());
      await new Promise((r) => setTimeout(r, 20));
      expect(renew).toHaveBeenCalledTimes(1);
    });

    it("asks again while the index is not ready, and shows nothing when there is none (404) or none asked for", async () => {
      const credentials = { token: () => "t", renew: async () => false };
      let answers = 0;
      const lagging = indexWith(() =>
        ++answers === 1 ? json(409, { code: "not_ready", message: "the storyboard is not ready (status: processing)" }) : vttAnswer(),
      );
      showVideo(credentials, { ...video, status: "completed", spec: { fps: "1", format: "png", ...storyboard } }, lagging);
      await screen.findByLabelText("Position in the video", {}, { timeout: 3000 });
      expect(answers).toBe(2);
      cleanup();

      const asked: string[] = [];
      const missing = indexWith(() => json(404, { code: "not_found", message: "no storyboard" }), asked);
      showVideo(credentials, { ...video, status: "completed", spec: { fps: "1", format: "png", ...storyboard } }, missing);
      await screen.findByText("0 of 0 shown");
      await waitFor(() => expect(asked).toHaveLength(1));
      await new Promise((r) => setTimeout(r, 20));
      expect(screen.queryByRole("heading", { name: "Scrub preview" })).toBeNull();
      expect(screen.queryByLabelText("Position in the video")).toBeNull();
      expect(screen.queryByText(/not found|no storyboard/i)).toBeNull();
      cleanup();

      // No storyboard in the spec, or not completed yet: the index is not even asked for.
      const none: string[] = [];
      showVideo(credentials, { ...video, status: "completed", spec: { fps: "1", format: "png" } }, indexWith(vttAnswer, none));
      await screen.findByText("0 of 0 shown");
      cleanup();
      showVideo(credentials, { ...video, status: "processing", spec: { fps: "1", format: "png", ...storyboard } }, indexWith(vttAnswer, none));
      await screen.findByRole("heading", { name: "clip.mp4" });
      await new Promise((r) => setTimeout(r, 20));
      expect(none).toEqual([]);
      expect(screen.queryByLabelText("Position in the video")).toBeNull();
    });
  });

  it("says why when the frames cannot be listed", async () => {
    const credentials = { token: () => "t", renew: async () => false };
    const refused = framesWith(() => json(404, { code: "not_found", message: "video not found" }));
    showVideo(credentials, { ...video, status: "completed", frame_count: 3 }, refused);
    await screen.findByText(/^The frames could not be shown \(/);
    expect(screen.queryByRole("img")).toBeNull();
  });
});
