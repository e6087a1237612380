import { act, cleanup, fireEvent, render, screen, waitFor } from "@testing-library/preact";
import { zipSync } from "fflate";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createApi } from "../src/api/client";
import { REOPEN_MS, feedUrl, watchFeed, watchVideo } from "../src/api/live";
import { SessionStore } from "../src/api/session";
import type { Video } from "../src/components";
import { I18nContext, makeI18n } from "../src/i18n";
import { reconcile, shownStatus } from "../src/live";
import { VideoScreen } from "../src/screens/video";
import { Videos } from "../src/screens/videos";

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
    const map = new Map<string, string>();
    const storage = {
      getItem: (k: string) => map.get(k) ?? null,
      setItem: (k: string, v: string) => void map.set(k, v),
      removeItem: (k: string) => void map.delete(k),
    } as unknown as Storage;
    const store = new SessionStore(storage, base);
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

  it("is read-only with a share token and follows the status live", async () => {
    const credentials = { token: () => "share-token", renew: async () => false };
    const base = async (request: Request) => {
      expect(request.headers.get("Authorization")).toBe("Bearer share-token");
      const path = new URL(request.url, "http://localhost").pathname;
      if (path.endsWith("/timeline")) return json(200, { video_id: video.id, entries: [] });
      return json(200, video);
    };
    render(
      <I18nContext.Provider value={makeI18n("en", () => undefined)}>
        <VideoScreen id={video.id} api={createApi(credentials, base)} credentials={credentials} readOnly />
      </I18nContext.Provider>,
    );
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
    const base = async (request: Request) => {
      const path = new URL(request.url, "http://localhost").pathname;
      if (path.endsWith("/reprocess")) {
        posted.push(await request.json());
        return json(202, { id: video.id, status: "queued", job: 1 });
      }
      if (path.endsWith("/timeline")) return json(200, { video_id: video.id, entries: [] });
      if (path.endsWith("/shares")) return json(200, { items: [] });
      return json(200, current);
    };
    render(
      <I18nContext.Provider value={makeI18n("en", () => undefined)}>
        <VideoScreen id={video.id} api={createApi(credentials, base)} credentials={credentials} />
      </I18nContext.Provider>,
    );
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
    const base = async (request: Request) => {
      const path = new URL(request.url, "http://localhost").pathname;
      if (path.endsWith("/reprocess")) {
        posted.push(await request.json());
        return json(202, { id: video.id, status: "queued", job: 1 });
      }
      if (path.endsWith("/timeline")) return json(200, { video_id: video.id, entries: [] });
      if (path.endsWith("/shares")) return json(200, { items: [] });
      if (path.endsWith("/download")) return new Response(null, { status: 404 });
      return json(200, current);
    };
    render(
      <I18nContext.Provider value={makeI18n("pt-BR", () => undefined)}>
        <VideoScreen id={video.id} api={createApi(credentials, base)} credentials={credentials} />
      </I18nContext.Provider>,
    );
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

  it("asks for the preview again while the download is not ready (the read model lags the live status)", async () => {
    // The token in the download link has expired: renewed once, then the link is not ready twice, then the archive.
    let token = "old";
    const renew = vi.fn(async () => {
      token = "new";
      return true;
    });
    const credentials = { token: () => token, renew };
    const archive = zipSync({
      "frame_0001.jpg": [new Uint8Array(64).fill(1), { level: 0 }],
      "frame_0002.jpg": [new Uint8Array(64).fill(2), { level: 0 }],
      "manifest.json": [new TextEncoder().encode("{}"), { level: 0 }],
    });
    const downloads: string[] = [];
    // The preview fetches the download link itself (a navigation-like fetch, no API client).
    vi.stubGlobal("fetch", async (input: RequestInfo | URL) => {
      const url = String(input);
      if (!url.includes("/download")) return json(200, []);
      downloads.push(url.split("access_token=")[1] ?? "");
      if (url.endsWith("access_token=old")) return json(401, { code: "token_expired", message: "expired" });
      return downloads.length <= 3
        ? json(409, { code: "not_ready", message: "not ready" })
        : new Response(archive, { status: 200, headers: { "Content-Type": "application/zip" } });
    });
    const base = async (request: Request) => {
      const path = new URL(request.url, "http://localhost").pathname;
      if (path.endsWith("/timeline")) return json(200, { video_id: video.id, entries: [] });
      if (path.endsWith("/shares")) return json(200, { items: [] });
      return json(200, { ...video, status: "completed", job: 1, frame_count: 2 });
    };
    render(
      <I18nContext.Provider value={makeI18n("en", () => undefined)}>
        <VideoScreen id={video.id} api={createApi(credentials, base)} credentials={credentials} />
      </I18nContext.Provider>,
    );
    const images = await screen.findAllByRole("img", {}, { timeout: 3000 });
    expect(images.map((img) => img.getAttribute("alt"))).toEqual([
      "Extracted frame frame_0001.jpg",
      "Extracted frame frame_0002.jpg",
    ]);
    expect(downloads).toEqual(["old", "new", "new", "new"]);
    expect(renew).toHaveBeenCalledTimes(1);
    expect(screen.queryByText(/could not be loaded/)).toBeNull();
  });
});
