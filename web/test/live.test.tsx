import { act, cleanup, fireEvent, render, screen, waitFor } from "@testing-library/preact";
import { zipSync } from "fflate";
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
