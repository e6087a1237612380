import { act, cleanup, render, screen, waitFor } from "@testing-library/preact";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createApi } from "../src/api/client";
import { watchVideo } from "../src/api/live";
import { I18nContext, makeI18n } from "../src/i18n";
import { MAX_STREAMS, useLiveVideos } from "../src/live";
import { VideoScreen } from "../src/screens/video";

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
  emit(type: string, data: unknown) {
    this.dispatchEvent(new MessageEvent(type, { data: JSON.stringify(data) }));
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

function Probe({ ids }: { ids: string[] }) {
  const live = useLiveVideos(ids, { token: () => "t", renew: async () => false }, createApi({ token: () => "t", renew: async () => false }, async () => json(200, {})));
  return <pre data-testid="live">{JSON.stringify(live)}</pre>;
}

describe("useLiveVideos", () => {
  it("opens at most MAX_STREAMS streams and frees one when its video finishes", async () => {
    const ids = ["a", "b", "c", "d", "e"];
    render(<Probe ids={ids} />);
    const open = () => FakeSource.all.filter((s) => s.readyState !== FakeSource.CLOSED).map((s) => s.url.split("/")[4]);
    expect(open()).toEqual(ids.slice(0, MAX_STREAMS));
    act(() => FakeSource.all[0]!.emit("status", status("a", "completed", { frame_count: 3 })));
    await waitFor(() => expect(open()).toEqual(["b", "c", "d"]));
    act(() => FakeSource.all[1]!.emit("progress", { video_id: "b", job: 0, attempt: 2, frames_done: 1, frames_expected: 4, stage: "extracting" }));
    const live = JSON.parse(screen.getByTestId("live").textContent ?? "{}");
    expect(live.a.status).toBe("completed");
    expect(live.a.frameCount).toBe(3);
    expect(live.b.progress.frames_done).toBe(1);
    expect(live.b.attempt).toBe(2);
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
});
