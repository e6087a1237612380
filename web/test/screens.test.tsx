import { cleanup, createEvent, fireEvent, render, screen, waitFor } from "@testing-library/preact";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { SessionStore } from "../src/api/session";
import { fingerprint } from "../src/api/upload";
import { memoryStorage } from "./memory-storage";
import { LiveStatus } from "../src/components";
import { I18nContext, makeI18n, type Locale } from "../src/i18n";
import { SignIn } from "../src/screens/auth";
import { CallbackDeliveries, CallbackSecretSection, PasswordForm, Webhooks } from "../src/screens/settings";
import { UploadPanel } from "../src/screens/upload";
import { Videos } from "../src/screens/videos";
import { useState } from "preact/hooks";
import { type ExtractionSpec, FORMATS, LIMITS, SELECTION_MODES, type SpecForm, fromSpec, toSpec, validateSpec } from "../src/spec";
import { SpecFields } from "../src/spec-form";

const FAILURE_CODES = [
  { code: "corrupt_input", retryable: false, message_en: "The video file is damaged.", message_pt_br: "O arquivo de vídeo está danificado." },
];

/** The list's live feed: an EventSource that stays connecting (these tests are about the list's reads). */
class QuietSource extends EventTarget {
  static CLOSED = 2;
  readyState = 0;
  constructor(readonly url: string) {
    super();
  }
  close() {
    this.readyState = QuietSource.CLOSED;
  }
}

beforeEach(() => {
  vi.stubGlobal("EventSource", QuietSource);
  vi.stubGlobal("fetch", async (input: RequestInfo | URL) =>
    String(input).endsWith("/api/v1/failure-codes") ? json(200, FAILURE_CODES) : json(404, { code: "not_found", message: "" }),
  );
});
afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  localStorage.clear();
});

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

function withI18n(node: preact.ComponentChild, locale: Locale = "en") {
  return <I18nContext.Provider value={makeI18n(locale, () => undefined)}>{node}</I18nContext.Provider>;
}

const video = (id: string, status: string, extra: Record<string, unknown> = {}) => ({
  id,
  file_name: `${id}.mp4`,
  content_type: "video/mp4",
  size_bytes: 2048,
  status,
  spec: { fps: "1", format: "png" },
  job: 0,
  attempt: 1,
  created_at: "2026-11-22T18:00:00Z",
  updated_at: "2026-11-22T18:00:00Z",
  ...extra,
});

/** What a fake XMLHttpRequest answers (null: nothing, the request stays on its way). */
type XhrAnswer = { status: number; body?: unknown; headers?: Record<string, string> } | null;

/**
 * Enough of XMLHttpRequest for tus-js-client (the upload panel's HTTP): records each request, answers with
 * `answer(method, url, headers)`.
 */
function fakeXhr(answer: (method: string, url: string, headers: Record<string, string>) => XhrAnswer) {
  const sent: { method: string; url: string; headers: Record<string, string> }[] = [];
  class FakeXhr {
    upload = { onprogress: null };
    status = 0;
    responseText = "";
    onload: (() => void) | null = null;
    onerror: (() => void) | null = null;
    private method = "";
    private url = "";
    private headers: Record<string, string> = {};
    private answered: Record<string, string> = {};
    open(method: string, url: string) {
      this.method = method;
      this.url = url;
    }
    setRequestHeader(name: string, value: string) {
      this.headers[name] = value;
    }
    getResponseHeader(name: string) {
      return this.answered[name.toLowerCase()] ?? null;
    }
    send() {
      sent.push({ method: this.method, url: this.url, headers: this.headers });
      const reply = answer(this.method, this.url, this.headers);
      if (!reply) return;
      this.status = reply.status;
      this.responseText = reply.body === undefined ? "" : JSON.stringify(reply.body);
      for (const [name, value] of Object.entries(reply.headers ?? {})) this.answered[name.toLowerCase()] = value;
      setTimeout(() => this.onload?.());
    }
    abort() {}
  }
  vi.stubGlobal("XMLHttpRequest", FakeXhr);
  return sent;
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

describe("upload panel", () => {
  it("starts with the monolith's defaults and labels every field", () => {
    render(withI18n(<UploadPanel credentials={{ token: () => null, renew: async () => false }} onUploaded={() => undefined} />));
    expect((screen.getByLabelText("Frames") as HTMLSelectElement).value).toBe("fps");
    expect((screen.getByLabelText(/Frames per second \(e\.g\./) as HTMLInputElement).value).toBe("1");
    expect((screen.getByLabelText("Image format") as HTMLSelectElement).value).toBe("png");
    expect(screen.queryByLabelText(/JPEG quality/)).toBeNull();
    fireEvent.change(screen.getByLabelText("Image format"), { target: { value: "jpeg" } });
    expect((screen.getByLabelText(/JPEG quality/) as HTMLInputElement).value).toBe("85");
    expect(screen.getByLabelText("Choose files")).toBeTruthy();
  });

  it("refuses files while the spec is invalid and says which field is wrong", async () => {
    render(withI18n(<UploadPanel credentials={{ token: () => null, renew: async () => false }} onUploaded={() => undefined} />));
    const value = screen.getByLabelText(/Frames per second \(e\.g\./);
    fireEvent.input(value, { target: { value: "fast" } });
    const input = screen.getByLabelText("Choose files");
    fireEvent.change(input, { target: { files: [new File(["x"], "a.mp4", { type: "video/mp4" })] } });
    expect(value.getAttribute("aria-invalid")).toBe("true");
    expect(screen.getByText(/Enter a positive number/)).toBeTruthy();
    expect(screen.queryByText("a.mp4")).toBeNull();
    // The wrong field takes the focus, described by its message: what a screen reader then says.
    await waitFor(() => expect(document.activeElement).toBe(value));
    expect(document.getElementById(value.getAttribute("aria-describedby")!)?.textContent).toMatch(/positive number/);
  });

  it("applies the API's limits: a maximum width under the minimum is refused, with the document's range", async () => {
    render(withI18n(<UploadPanel credentials={{ token: () => null, renew: async () => false }} onUploaded={() => undefined} />));
    const width = screen.getByLabelText(/Maximum width/) as HTMLInputElement;
    expect([width.min, width.max]).toEqual([String(LIMITS.max_width.minimum), String(LIMITS.max_width.maximum)]);
    expect([...(screen.getByLabelText("Image format") as HTMLSelectElement).options].map((o) => o.value)).toEqual([...FORMATS]);
    expect([...(screen.getByLabelText("Frames") as HTMLSelectElement).options].map((o) => o.value)).toEqual([...SELECTION_MODES]);
    fireEvent.input(width, { target: { value: "8" } });
    fireEvent.change(screen.getByLabelText("Choose files"), {
      target: { files: [new File(["x"], "a.mp4", { type: "video/mp4" })] },
    });
    expect(width.getAttribute("aria-invalid")).toBe("true");
    expect(screen.getByText(`Maximum width is a whole number from 16 to 16384, or empty.`)).toBeTruthy();
    expect(screen.queryByText("a.mp4")).toBeNull();
    await waitFor(() => expect(document.activeElement).toBe(width));
    // A count over the maximum points at the value, with the count's range.
    fireEvent.input(width, { target: { value: "" } });
    fireEvent.change(screen.getByLabelText("Frames"), { target: { value: "count" } });
    const value = screen.getByLabelText("Number of frames") as HTMLInputElement;
    expect(value.value).toBe("10");
    fireEvent.input(value, { target: { value: String(LIMITS.count.maximum + 1) } });
    expect(value.getAttribute("aria-invalid")).toBe("true");
    expect(screen.getByText("Enter a whole number of frames from 1 to 100000.")).toBeTruthy();
  });

  it("has a maximum height next to the maximum width, with the API's limits, sent when set", async () => {
    const sent = fakeXhr(() => null);
    const { container } = render(
      withI18n(<UploadPanel credentials={{ token: () => null, renew: async () => false }} onUploaded={() => undefined} />),
    );
    const height = screen.getByLabelText("Maximum height in pixels (optional)") as HTMLInputElement;
    expect(height.value).toBe("");
    expect([height.type, height.min, height.max]).toEqual([
      "number",
      String(LIMITS.max_height.minimum),
      String(LIMITS.max_height.maximum),
    ]);
    // Next to the maximum width, in the same fieldset.
    const fields = [...container.querySelectorAll("fieldset.spec input, fieldset.spec select")].map((el) => el.id);
    expect(fields.indexOf("spec-max-height")).toBe(fields.indexOf("spec-max-width") + 1);
    const width = screen.getByLabelText(/Maximum width/);
    expect(height.closest(".spec-size")).not.toBeNull();
    expect(height.closest(".spec-size")).toBe(width.closest(".spec-size"));
    // Under the minimum: refused, with the document's range, and the field takes the focus.
    fireEvent.input(height, { target: { value: String(LIMITS.max_height.minimum - 1) } });
    const choose = screen.getByLabelText("Choose files");
    fireEvent.change(choose, { target: { files: [new File(["x"], "a.mp4", { type: "video/mp4" })] } });
    expect(height.getAttribute("aria-invalid")).toBe("true");
    expect(screen.getByText("Maximum height is a whole number from 16 to 16384, or empty.")).toBeTruthy();
    expect(screen.queryByText("a.mp4")).toBeNull();
    await waitFor(() => expect(document.activeElement).toBe(height));
    expect(sent).toEqual([]);
    // A valid one rides in the spec of the upload's metadata.
    fireEvent.input(height, { target: { value: "240" } });
    fireEvent.change(choose, { target: { files: [new File(["x"], "b.mp4", { type: "video/mp4" })] } });
    await screen.findByText("b.mp4");
    await waitFor(() => expect(sent).toHaveLength(1));
    expect(sent[0]).toMatchObject({ method: "POST", url: "/api/v1/uploads" });
    expect(JSON.parse(metadata(sent[0]!.headers["Upload-Metadata"]).spec ?? "")).toEqual({
      fps: "1",
      format: "png",
      max_height: 240,
    });
  });

  it("says when the server refused an upload for now (429) and that it will try again, and can cancel the wait", async () => {
    const message = "you already have 2 videos waiting or processing (limit 2); retry when some finish";
    // Answers every upload with 429 and Retry-After: 30.
    const made = fakeXhr(() => ({ status: 429, body: { code: "rate_limited", message }, headers: { "Retry-After": "30" } }));
    render(withI18n(<UploadPanel credentials={{ token: () => null, renew: async () => false }} onUploaded={() => undefined} />));
    fireEvent.change(screen.getByLabelText("Choose files"), {
      target: { files: [new File(["x"], "a.mp4", { type: "video/mp4" })] },
    });
    const row = (await screen.findByText("a.mp4")).closest("li")!;
    await waitFor(() => expect(row.classList.contains("upload-waiting")).toBe(true));
    const state = row.querySelector(".upload-state")!;
    expect(state.getAttribute("role")).toBe("status");
    expect(state.textContent).toBe(`Refused for now: ${message}. Trying again in 30 seconds (retry 1 of 3).`);
    expect(made).toHaveLength(1);
    fireEvent.click(screen.getByRole("button", { name: "Cancel" }));
    await waitFor(() => expect(row.querySelector(".upload-state")!.textContent).toBe("Cancelled"));
    expect(made).toHaveLength(1);
  });

  it("takes several dropped files at once and refuses file drops beside the zone", async () => {
    // The uploads never finish.
    const requests = fakeXhr(() => null);
    const sent = () => requests.map((r) => metadata(r.headers["Upload-Metadata"]).filename);
    // happy-dom's elements have no ondrag* properties, so Preact would listen for "DragEnter" rather than
    // "dragenter" (it takes the DOM's casing when `on<name>` exists): give them the properties browsers have.
    for (const name of ["ondragenter", "ondragover", "ondragleave", "ondrop"]) {
      if (!(name in HTMLElement.prototype)) {
        Object.defineProperty(HTMLElement.prototype, name, { configurable: true, writable: true, value: null });
      }
    }
    const { container } = render(
      withI18n(<UploadPanel credentials={{ token: () => null, renew: async () => false }} onUploaded={() => undefined} />),
    );
    const zone = container.querySelector(".dropzone")!;
    const files = [new File(["a"], "a.mp4", { type: "video/mp4" }), new File(["b"], "b.mp4", { type: "video/mp4" })];
    // happy-dom's DataTransfer lists item types, not "Files" as browsers do: hand the event what a browser would.
    const dataTransfer = { types: ["Files"], files };
    // Cancelled (false) is what makes the zone a drop target.
    expect(fireEvent.dragEnter(zone, { dataTransfer })).toBe(false);
    expect(fireEvent.dragOver(zone, { dataTransfer })).toBe(false);
    await waitFor(() => expect(zone.classList.contains("dragging")).toBe(true));
    // Moving onto a child of the zone fires dragleave on the zone: the highlight stays.
    const ontoChild = createEvent.dragLeave(zone);
    Object.defineProperty(ontoChild, "relatedTarget", { value: zone.querySelector("p") });
    fireEvent(zone, ontoChild);
    await new Promise((r) => setTimeout(r, 20));
    expect(zone.classList.contains("dragging")).toBe(true);
    expect(fireEvent.drop(zone, { dataTransfer })).toBe(false);
    await screen.findByText("a.mp4");
    expect(screen.getByText("b.mp4")).toBeTruthy();
    expect(zone.classList.contains("dragging")).toBe(false);
    await waitFor(() => expect(sent()).toEqual(["a.mp4", "b.mp4"]));
    // Beside the zone a file drop is cancelled (else the browser would open the file in place of the app); other
    // drags are left alone.
    expect(fireEvent.drop(document.body, { dataTransfer })).toBe(false);
    expect(fireEvent.dragOver(document.body, { dataTransfer: { types: ["text/plain"], files: [] } })).toBe(true);
    expect(sent()).toHaveLength(2);
  });

  it("continues an earlier upload of the same file by itself and says from where", async () => {
    const file = new File([new Uint8Array(1000)], "long.mp4", { type: "video/mp4", lastModified: 1_700_000_000_000 });
    const spec: ExtractionSpec = { fps: "1", format: "png" };
    // What an earlier try of this file (this user, this spec) left in localStorage: its upload's URL.
    localStorage.setItem(
      `tus::${fingerprint("u1", file, spec)}::1`,
      JSON.stringify({ size: 1000, metadata: {}, creationTime: new Date().toString(), uploadUrl: "/api/v1/uploads/v7" }),
    );
    // The server holds 450 bytes of it; the rest is on its way and never arrives.
    const sent = fakeXhr((method) =>
      method === "HEAD" ? { status: 200, headers: { "Upload-Offset": "450", "Upload-Length": "1000" } } : null,
    );
    render(
      withI18n(
        <UploadPanel owner="u1" credentials={{ token: () => "t", renew: async () => false }} onUploaded={() => undefined} />,
      ),
    );
    fireEvent.change(screen.getByLabelText("Choose files"), { target: { files: [file] } });
    const row = (await screen.findByText("long.mp4")).closest("li")!;
    await waitFor(() => expect(row.querySelector(".upload-state")!.textContent).toBe("Resuming from 45%: uploading 45%"));
    expect(row.querySelector("progress")!.getAttribute("value")).toBe("45");
    await waitFor(() =>
      expect(sent.map((r) => `${r.method} ${r.url} ${r.headers["Upload-Offset"] ?? ""}`.trim())).toEqual([
        "HEAD /api/v1/uploads/v7",
        "PATCH /api/v1/uploads/v7 450",
      ]),
    );
    expect(sent[0]!.headers.Authorization).toBe("Bearer t");
  });

  it("offers frames at positions, with a hint of their syntax, says which one is wrong and sends them", async () => {
    const sent = fakeXhr(() => null);
    render(withI18n(<UploadPanel credentials={{ token: () => null, renew: async () => false }} onUploaded={() => undefined} />));
    fireEvent.change(screen.getByLabelText("Frames"), { target: { value: "at" } });
    const value = screen.getByLabelText("Positions, separated by commas") as HTMLInputElement;
    expect(value.value).toBe("first, 50%, last");
    expect(value.type).toBe("text");
    const hint = document.getElementById("spec-value-hint")!;
    expect(hint.textContent).toMatch(/^Each one first, last, seconds \(12\.5\), a time \(1:05, 01:02:03\.250\).*1 to 1000 positions/);
    expect(value.getAttribute("aria-describedby")).toBe("spec-value-hint");
    fireEvent.input(value, { target: { value: "first, soon, 10%" } });
    const choose = screen.getByLabelText("Choose files");
    fireEvent.change(choose, { target: { files: [new File(["x"], "a.mp4", { type: "video/mp4" })] } });
    expect(value.getAttribute("aria-invalid")).toBe("true");
    // Described by its hint and by the message naming the wrong position.
    expect(value.getAttribute("aria-describedby")).toBe("spec-value-hint spec-value-error");
    expect(document.getElementById("spec-value-error")!.textContent).toBe(
      "“soon” is not a position: use first, last, seconds (12.5), a time (1:05, 01:02:03.250) or a percentage up to 100% (10%).",
    );
    await waitFor(() => expect(document.activeElement).toBe(value));
    fireEvent.input(value, { target: { value: "first, 1:05," } });
    expect(screen.getByText("A position is empty: remove the extra comma.")).toBeTruthy();
    fireEvent.input(value, { target: { value: "" } });
    expect(screen.getByText("Enter from 1 to 1000 positions, separated by commas.")).toBeTruthy();
    expect(sent).toEqual([]);
    fireEvent.input(value, { target: { value: "last, 00:00:02.5, first" } });
    expect(value.getAttribute("aria-invalid")).toBe("false");
    fireEvent.change(choose, { target: { files: [new File(["x"], "b.mp4", { type: "video/mp4" })] } });
    await waitFor(() => expect(sent).toHaveLength(1));
    expect(JSON.parse(metadata(sent[0]!.headers["Upload-Metadata"]).spec ?? "")).toEqual({
      at: "last, 00:00:02.5, first",
      format: "png",
    });
  });

  it("offers scene changes with a threshold and a least gap, and keyframes with no value at all", async () => {
    const sent = fakeXhr(() => null);
    render(withI18n(<UploadPanel credentials={{ token: () => null, renew: async () => false }} onUploaded={() => undefined} />));
    const mode = screen.getByLabelText("Frames") as HTMLSelectElement;
    expect([...mode.options].map((o) => o.textContent)).toEqual([
      "Frames per second",
      "One frame every N seconds",
      "Fixed number of frames",
      "Frames at given times",
      "Scene changes",
      "Keyframes only",
    ]);
    expect(screen.queryByLabelText(/Least seconds between frames/)).toBeNull();
    fireEvent.change(mode, { target: { value: "scene" } });
    const threshold = screen.getByLabelText("Change threshold, above 0 and at most 1 (e.g. 0.3)") as HTMLInputElement;
    expect(threshold.value).toBe("0.3");
    expect(threshold.getAttribute("aria-describedby")).toBe("spec-value-hint");
    const gap = screen.getByLabelText("Least seconds between frames (e.g. 2; empty: 0)") as HTMLInputElement;
    expect(gap.value).toBe("0");
    fireEvent.input(threshold, { target: { value: "1.5" } });
    fireEvent.input(gap, { target: { value: "soon" } });
    const choose = screen.getByLabelText("Choose files");
    fireEvent.change(choose, { target: { files: [new File(["x"], "a.mp4", { type: "video/mp4" })] } });
    expect(threshold.getAttribute("aria-invalid")).toBe("true");
    expect(gap.getAttribute("aria-invalid")).toBe("true");
    expect(document.getElementById(gap.getAttribute("aria-describedby")!)!.textContent).toBe(
      "Enter zero or more seconds between frames, such as 2 or 0.5, or leave it empty.",
    );
    expect(screen.getByText("Enter a threshold above 0 and at most 1, such as 0.3 (a fraction like 3/10 is fine).")).toBeTruthy();
    await waitFor(() => expect(document.activeElement).toBe(threshold));
    // Keyframes: no value to type, what the mode does said under the choice; the wrong scene fields are gone.
    fireEvent.change(mode, { target: { value: "keyframes" } });
    expect(screen.queryByLabelText(/threshold/)).toBeNull();
    expect(screen.queryByLabelText(/Least seconds/)).toBeNull();
    expect(document.getElementById("spec-value")).toBeNull();
    expect(document.getElementById(mode.getAttribute("aria-describedby")!)!.textContent).toMatch(/^Every keyframe/);
    fireEvent.change(choose, { target: { files: [new File(["x"], "b.mp4", { type: "video/mp4" })] } });
    await waitFor(() => expect(sent).toHaveLength(1));
    expect(JSON.parse(metadata(sent[0]!.headers["Upload-Metadata"]).spec ?? "")).toEqual({ keyframes: true, format: "png" });
  });

  it("offers scrub previews: a checkbox, then their interval and size, checked and sent only when chosen", async () => {
    const sent = fakeXhr(() => null);
    const { container } = render(
      withI18n(<UploadPanel credentials={{ token: () => null, renew: async () => false }} onUploaded={() => undefined} />),
    );
    const box = screen.getByLabelText("Scrub previews (storyboard)") as HTMLInputElement;
    expect(box.type).toBe("checkbox");
    expect(box.checked).toBe(false);
    expect(document.getElementById(box.getAttribute("aria-describedby")!)!.textContent).toMatch(/^Small frames every few seconds/);
    expect(screen.queryByLabelText(/Seconds between previews/)).toBeNull();
    fireEvent.click(box);
    expect(box.checked).toBe(true);
    const every = screen.getByLabelText("Seconds between previews (1 to 600, e.g. 10)") as HTMLInputElement;
    expect(every.value).toBe("10");
    const width = screen.getByLabelText("Preview width in pixels (32–640)") as HTMLInputElement;
    expect([width.value, width.type, width.min, width.max]).toEqual([
      "160",
      "number",
      String(LIMITS.storyboard_width.minimum),
      String(LIMITS.storyboard_width.maximum),
    ]);
    expect((screen.getByLabelText("Previews per row of a sheet (1–20)") as HTMLInputElement).value).toBe("5");
    expect((screen.getByLabelText("Rows per sheet (1–20)") as HTMLInputElement).value).toBe("5");
    // After the size, in the same fieldset, in this order.
    const fields = [...container.querySelectorAll("fieldset.spec input, fieldset.spec select")].map((el) => el.id);
    expect(fields.slice(fields.indexOf("spec-max-height") + 1)).toEqual([
      "spec-storyboard",
      "spec-storyboard-every",
      "spec-storyboard-width",
      "spec-storyboard-columns",
      "spec-storyboard-rows",
    ]);
    // Under a second: refused with the range, the field takes the focus, nothing is sent.
    fireEvent.input(every, { target: { value: "0.5" } });
    const choose = screen.getByLabelText("Choose files");
    fireEvent.change(choose, { target: { files: [new File(["x"], "a.mp4", { type: "video/mp4" })] } });
    expect(every.getAttribute("aria-invalid")).toBe("true");
    expect(document.getElementById(every.getAttribute("aria-describedby")!)!.textContent).toBe(
      "Enter the seconds between previews, from 1 to 600, such as 10 or 2.5 (a fraction like 5/2 is fine).",
    );
    await waitFor(() => expect(document.activeElement).toBe(every));
    expect(sent).toEqual([]);
    fireEvent.input(every, { target: { value: "2.5" } });
    fireEvent.input(width, { target: { value: "96" } });
    fireEvent.change(choose, { target: { files: [new File(["x"], "b.mp4", { type: "video/mp4" })] } });
    await waitFor(() => expect(sent).toHaveLength(1));
    expect(JSON.parse(metadata(sent[0]!.headers["Upload-Metadata"]).spec ?? "")).toEqual({
      fps: "1",
      format: "png",
      storyboard: "2.5",
      storyboard_width: 96,
      storyboard_columns: 5,
      storyboard_rows: 5,
    });
    // Unchecked: its fields go, and nothing of it is sent (a wrong value left there does not matter).
    fireEvent.input(every, { target: { value: "0" } });
    fireEvent.click(box);
    expect(screen.queryByLabelText(/Seconds between previews/)).toBeNull();
    fireEvent.change(choose, { target: { files: [new File(["x"], "c.mp4", { type: "video/mp4" })] } });
    await waitFor(() => expect(sent).toHaveLength(2));
    expect(JSON.parse(metadata(sent[1]!.headers["Upload-Metadata"]).spec ?? "")).toEqual({ fps: "1", format: "png" });
  });

  it("speaks Portuguese", () => {
    render(withI18n(<UploadPanel credentials={{ token: () => null, renew: async () => false }} onUploaded={() => undefined} />, "pt-BR"));
    expect(screen.getByText("Enviar vídeos")).toBeTruthy();
    expect(screen.getByLabelText("Formato da imagem")).toBeTruthy();
  });
});

describe("the reprocess form", () => {
  /** The spec fields as the video page has them, starting from a video's spec. */
  function Reprocess(props: { spec: ExtractionSpec; onForm: (form: SpecForm) => void }) {
    const [form, setForm] = useState(() => fromSpec(props.spec));
    props.onForm(form);
    return <SpecFields form={form} onChange={setForm} problems={validateSpec(form)} legend="Again" idPrefix="reprocess" />;
  }

  it("starts from a video's spec of the new modes, in Portuguese too", () => {
    let form: SpecForm | undefined;
    render(withI18n(<Reprocess spec={{ scene: "3/10", min_gap: "2", format: "png" }} onForm={(f) => (form = f)} />));
    expect((document.getElementById("reprocess-mode") as HTMLSelectElement).value).toBe("scene");
    expect((document.getElementById("reprocess-value") as HTMLInputElement).value).toBe("3/10");
    expect((screen.getByLabelText(/Least seconds between frames/) as HTMLInputElement).id).toBe("reprocess-min-gap");
    expect((document.getElementById("reprocess-min-gap") as HTMLInputElement).value).toBe("2");
    fireEvent.input(document.getElementById("reprocess-min-gap")!, { target: { value: "" } });
    expect(form?.minGap).toBe("");
    cleanup();
    render(withI18n(<Reprocess spec={{ at: "first,00:00:02.500,50%", format: "webp" }} onForm={() => undefined} />, "pt-BR"));
    const positions = screen.getByLabelText("Posições, separadas por vírgulas") as HTMLInputElement;
    expect(positions.value).toBe("first,00:00:02.500,50%");
    expect(positions.getAttribute("aria-invalid")).toBe("false");
    expect(positions.getAttribute("aria-describedby")).toBe("reprocess-value-hint");
    cleanup();
    render(withI18n(<Reprocess spec={{ keyframes: true, format: "jpeg", quality: 85 }} onForm={() => undefined} />, "pt-BR"));
    expect((screen.getByLabelText("Quadros") as HTMLSelectElement).value).toBe("keyframes");
    expect(screen.getByText(/^Todos os quadros-chave do vídeo/)).toBeTruthy();
    expect(document.getElementById("reprocess-value")).toBeNull();
  });

  it("starts from a video's storyboard, and sends it back as it was", () => {
    let form: SpecForm | undefined;
    const spec: ExtractionSpec = {
      every: "5/2",
      format: "png",
      storyboard: "5/2",
      storyboard_width: 96,
      storyboard_columns: 4,
      storyboard_rows: 2,
    };
    render(withI18n(<Reprocess spec={spec} onForm={(f) => (form = f)} />, "pt-BR"));
    expect((screen.getByLabelText("Prévias de navegação (storyboard)") as HTMLInputElement).checked).toBe(true);
    expect((document.getElementById("reprocess-storyboard-every") as HTMLInputElement).value).toBe("5/2");
    expect((screen.getByLabelText("Segundos entre prévias (de 1 a 600, ex.: 10)") as HTMLInputElement).id).toBe(
      "reprocess-storyboard-every",
    );
    expect((screen.getByLabelText("Largura da prévia em pixels (32–640)") as HTMLInputElement).value).toBe("96");
    expect((screen.getByLabelText("Prévias por linha da folha (1–20)") as HTMLInputElement).value).toBe("4");
    expect((screen.getByLabelText("Linhas por folha (1–20)") as HTMLInputElement).value).toBe("2");
    expect(toSpec(form!)).toEqual(spec);
    fireEvent.input(document.getElementById("reprocess-storyboard-rows")!, { target: { value: "21" } });
    expect(document.getElementById("reprocess-storyboard-rows")!.getAttribute("aria-invalid")).toBe("true");
    expect(screen.getByText("As linhas por folha são um número inteiro de 1 a 20.")).toBeTruthy();
  });
});

describe("live status", () => {
  it("shows stage, percent and attempt while processing", () => {
    render(
      withI18n(
        <LiveStatus
          status="processing"
          attempt={2}
          progress={{ video_id: "v", job: 0, attempt: 2, frames_done: 5, frames_expected: 20, stage: "extracting" }}
        />,
      ),
    );
    expect(screen.getByRole("status").textContent).toContain("extracting · 25% · 5 of 20 frames");
    expect(screen.getByText("Attempt 2")).toBeTruthy();
    expect((screen.getByLabelText("Extraction progress") as HTMLProgressElement).value).toBe(25);
  });

  it("shows the failure: the code, what it means in the user's language, and the detail", async () => {
    render(
      withI18n(
        <LiveStatus
          status="failed"
          attempt={1}
          failure={{ code: "corrupt_input", message: "moov atom not found", will_retry: false }}
        />,
        "pt-BR",
      ),
    );
    expect(screen.getByText("Falhou")).toBeTruthy();
    expect(screen.getByText("corrupt_input")).toBeTruthy();
    expect(screen.getByText(/moov atom not found/)).toBeTruthy();
    await screen.findByText(/O arquivo de vídeo está danificado/);
    expect(screen.getByText("moov atom not found").className).toBe("failure-detail");
  });
});

describe("sign in", () => {
  it("shows the server's refusal in the user's language", async () => {
    const store = new SessionStore(memoryStorage(), async () => json(401, { code: "invalid_credentials", message: "no" }));
    render(withI18n(<SignIn session={store} />, "pt-BR"));
    fireEvent.input(screen.getByLabelText("E-mail"), { target: { value: "a@b.c" } });
    fireEvent.input(screen.getByLabelText("Senha"), { target: { value: "wrong-password" } });
    fireEvent.submit(screen.getByRole("button", { name: "Entrar" }).closest("form")!);
    await waitFor(() => expect(screen.getByRole("alert").textContent).toBe("E-mail ou senha incorretos."));
  });
});

describe("video list", () => {
  it("shows the empty state", async () => {
    const store = new SessionStore(memoryStorage(), async () => json(200, { items: [] }));
    render(withI18n(<Videos session={store} />));
    await waitFor(() => expect(screen.getByText(/No videos yet/)).toBeTruthy());
  });

  it("filters by status and pages with the cursor", async () => {
    const urls: URL[] = [];
    const base = vi.fn(async (request: Request) => {
      const url = new URL(request.url, "http://localhost");
      urls.push(url);
      if (url.searchParams.get("cursor") === "c2") return json(200, { items: [video("b", "completed")] });
      return json(200, { items: [video("a", "completed")], next_cursor: "c2" });
    });
    const store = new SessionStore(memoryStorage(), base);
    render(withI18n(<Videos session={store} />));
    await waitFor(() => expect(screen.getByText("a.mp4")).toBeTruthy());
    fireEvent.click(screen.getByRole("button", { name: "Load more" }));
    await waitFor(() => expect(screen.getByText("b.mp4")).toBeTruthy());
    expect(screen.getByText("a.mp4")).toBeTruthy();
    expect(screen.queryByRole("button", { name: "Load more" })).toBeNull();
    fireEvent.change(screen.getByLabelText("Show"), { target: { value: "failed" } });
    await waitFor(() => expect(urls.at(-1)?.searchParams.get("status")).toBe("failed"));
    expect(urls.at(-1)?.searchParams.get("cursor")).toBeNull();
  });

  it("drops a late answer for a filter the user already left", async () => {
    let releaseAll: (r: Response) => void = () => undefined;
    const base = async (request: Request) => {
      const url = new URL(request.url, "http://localhost");
      if (url.searchParams.get("status") === "failed") return json(200, { items: [video("broken", "failed")] });
      return new Promise<Response>((resolve) => {
        releaseAll = resolve;
      });
    };
    const store = new SessionStore(memoryStorage(), base);
    render(withI18n(<Videos session={store} />));
    fireEvent.change(screen.getByLabelText("Show"), { target: { value: "failed" } });
    await screen.findByText("broken.mp4");
    releaseAll(json(200, { items: [video("clip", "completed")] }));
    await new Promise((r) => setTimeout(r, 20));
    expect(screen.queryByText("clip.mp4")).toBeNull();
    expect(screen.getByText("broken.mp4")).toBeTruthy();
  });

  it("shows a load error with a way to try again", async () => {
    let fail = true;
    const store = new SessionStore(memoryStorage(), async () =>
      fail ? json(503, { code: "unavailable", message: "busy" }) : json(200, { items: [video("c", "failed", { failure: { code: "corrupt_input", message: "broken", will_retry: false } })] }),
    );
    render(withI18n(<Videos session={store} />));
    await waitFor(() => expect(screen.getByRole("alert").textContent).toContain("The service is busy"));
    fail = false;
    fireEvent.click(screen.getByRole("button", { name: "Try again" }));
    await waitFor(() => expect(screen.getByText(/broken/)).toBeTruthy());
  });
});

describe("change password", () => {
  const answers: Response[] = [];
  const posted: unknown[] = [];
  const form = (locale: Locale = "en") => {
    const base = async (request: Request) => {
      expect(new URL(request.url, "http://localhost").pathname).toBe("/api/v1/me/password");
      expect(request.method).toBe("POST");
      posted.push(await request.json());
      return answers.shift()!;
    };
    const store = new SessionStore(memoryStorage(), base);
    render(withI18n(<PasswordForm api={store.api} />, locale));
  };
  const fill = (current: string, next: string, confirm = next) => {
    fireEvent.input(screen.getByLabelText("Current password"), { target: { value: current } });
    fireEvent.input(screen.getByLabelText("New password"), { target: { value: next } });
    fireEvent.input(screen.getByLabelText("New password again"), { target: { value: confirm } });
    fireEvent.submit(screen.getByRole("button", { name: "Change password" }).closest("form")!);
  };
  beforeEach(() => {
    answers.length = 0;
    posted.length = 0;
  });

  it("refuses a confirmation that differs without asking the server", async () => {
    form();
    fill("old password 1", "a new password 2", "a new password 3");
    const confirm = screen.getByLabelText("New password again");
    expect(screen.getByRole("alert").textContent).toBe("The new password and its confirmation are not the same.");
    expect(confirm.getAttribute("aria-invalid")).toBe("true");
    expect(confirm.getAttribute("aria-describedby")).toBe("password-error");
    await waitFor(() => expect(document.activeElement).toBe(confirm));
    expect(posted).toEqual([]);
  });

  it("says which password was refused, then that the change is done", async () => {
    form();
    answers.push(json(401, { code: "invalid_credentials", message: "the current password is not right" }));
    fill("wrong password", "a new password 2");
    await waitFor(() => expect(screen.getByRole("alert").textContent).toBe("The current password is wrong."));
    const current = screen.getByLabelText("Current password");
    expect(current.getAttribute("aria-invalid")).toBe("true");
    await waitFor(() => expect(document.activeElement).toBe(current));
    expect(posted).toEqual([{ current_password: "wrong password", new_password: "a new password 2" }]);

    answers.push(json(422, { code: "weak_password", message: "the password must not contain the e-mail's local part" }));
    fill("old password 1", "tester-1234");
    await waitFor(() =>
      expect(screen.getByRole("alert").textContent).toBe(
        "The new password was refused: the password must not contain the e-mail's local part",
      ),
    );
    const next = screen.getByLabelText(/^New password$/);
    expect(next.getAttribute("aria-invalid")).toBe("true");
    expect(next.getAttribute("aria-describedby")).toBe("password-new-hint password-error");
    expect(current.getAttribute("aria-invalid")).toBe("false");

    // A body refused as it is (400) is about the new password too, with the server's words.
    answers.push(json(400, { code: "bad_request", message: "new_password: over 1024 characters" }));
    fill("old password 1", "a new password 2");
    await waitFor(() =>
      expect(screen.getByRole("alert").textContent).toBe("The new password was refused: new_password: over 1024 characters"),
    );

    answers.push(json(429, { code: "rate_limited", message: "too many attempts; retry later" }));
    answers.at(-1)!.headers.set("Retry-After", "30");
    fill("old password 1", "a new password 2");
    await waitFor(() =>
      expect(screen.getByRole("alert").textContent).toBe("Too many requests (too many attempts; retry later). Try again in 30 seconds."),
    );

    answers.push(new Response(null, { status: 204 }));
    fill("old password 1", "a new password 2");
    await waitFor(() =>
      expect(screen.getByRole("status").textContent).toBe(
        "Password changed. Your other sessions were signed out; this one stays signed in.",
      ),
    );
    expect(screen.queryByRole("alert")).toBeNull();
    expect((screen.getByLabelText("Current password") as HTMLInputElement).value).toBe("");
    expect(posted).toHaveLength(5);
  });

  it("speaks Portuguese", async () => {
    form("pt-BR");
    answers.push(json(401, { code: "invalid_credentials", message: "invalid e-mail or password" }));
    fireEvent.input(screen.getByLabelText("Senha atual"), { target: { value: "errada errada" } });
    fireEvent.input(screen.getByLabelText("Nova senha"), { target: { value: "uma senha nova 2" } });
    fireEvent.input(screen.getByLabelText("Nova senha de novo"), { target: { value: "uma senha nova 2" } });
    fireEvent.submit(screen.getByRole("button", { name: "Alterar a senha" }).closest("form")!);
    await waitFor(() => expect(screen.getByRole("alert").textContent).toBe("A senha atual está incorreta."));
  });
});

describe("callbacks and webhook deliveries", () => {
  /** Answers by `METHOD /path` (each a queue: its first answer is used, and kept when it is the last one). */
  let routes: Record<string, Response[]> = {};
  let calls: string[] = [];
  const api = () => {
    const base = async (request: Request) => {
      const call = `${request.method} ${new URL(request.url, "http://localhost").pathname}`;
      calls.push(call);
      const queue = routes[call];
      if (!queue?.length) throw new Error(`unexpected ${call}`);
      return (queue.length > 1 ? queue.shift()! : queue[0]!).clone();
    };
    return new SessionStore(memoryStorage(), base).api;
  };
  beforeEach(() => {
    routes = {};
    calls = [];
  });

  const delivery = (id: string, status: string, extra: Record<string, unknown> = {}) => ({
    id,
    event_type: "video.completed",
    event_id: "00000000-0000-4000-8000-00000000000e",
    video_id: "00000000-0000-4000-8000-00000000000f",
    status,
    attempts: 3,
    created_at: "2026-11-22T18:00:00Z",
    tries: [],
    ...extra,
  });

  it("says there is no secret yet, makes one and shows it once, and replaces it only after a confirm", async () => {
    routes["GET /api/v1/me/callback-secret"] = [json(404, { code: "not_found", message: "callback secret not found" })];
    routes["POST /api/v1/me/callback-secret"] = [
      json(201, { secret: "first-secret-0123456789abcdef", created_at: "2026-11-22T18:00:00Z" }),
      json(201, { secret: "second-secret-0123456789abcdef", created_at: "2026-11-23T09:30:00Z" }),
    ];
    const { formatDate } = makeI18n("en", () => undefined);
    render(withI18n(<CallbackSecretSection api={api()} />));
    await screen.findByText("None yet: callbacks fail until you create one.");
    expect(screen.queryByRole("alert")).toBeNull();
    expect(screen.getByText(/signed with this secret \(X-Fiapx-Signature\), like webhooks/)).toBeTruthy();

    fireEvent.click(screen.getByRole("button", { name: "Create secret" }));
    await screen.findByText("Callback signing secret (shown only now; copy it): first-secret-0123456789abcdef");
    expect(screen.getByText(`Active since ${formatDate("2026-11-22T18:00:00Z")}.`)).toBeTruthy();

    // Replacing asks first; "cancel" leaves everything as it is.
    const confirm = vi.fn(() => false);
    vi.stubGlobal("confirm", confirm);
    fireEvent.click(screen.getByRole("button", { name: "Replace secret" }));
    expect(confirm).toHaveBeenCalledWith("Replace the callback signing secret? The old one stops signing at once.");
    expect(calls.filter((c) => c.startsWith("POST"))).toHaveLength(1);

    confirm.mockReturnValue(true);
    fireEvent.click(screen.getByRole("button", { name: "Replace secret" }));
    await screen.findByText("Callback signing secret (shown only now; copy it): second-secret-0123456789abcdef");
    expect(screen.queryByText(/first-secret/)).toBeNull();
    expect(screen.getByText(`Active since ${formatDate("2026-11-23T09:30:00Z")}.`)).toBeTruthy();
    expect(calls.filter((c) => c.startsWith("POST"))).toHaveLength(2);
  });

  it("shows since when a secret exists, never the secret, and other errors as errors", async () => {
    routes["GET /api/v1/me/callback-secret"] = [json(200, { created_at: "2026-11-22T18:00:00Z" })];
    const { formatDate } = makeI18n("pt-BR", () => undefined);
    render(withI18n(<CallbackSecretSection api={api()} />, "pt-BR"));
    await screen.findByText(`Ativo desde ${formatDate("2026-11-22T18:00:00Z")}.`);
    expect(screen.getByRole("button", { name: "Substituir segredo" })).toBeTruthy();
    expect(screen.queryByText(/copie-o/)).toBeNull();
    cleanup();

    routes["GET /api/v1/me/callback-secret"] = [json(503, { code: "unavailable", message: "database down" })];
    render(withI18n(<CallbackSecretSection api={api()} />));
    await waitFor(() => expect(screen.getByRole("alert").textContent).toBe("The service is busy. Try again in a moment."));
    // Not knowing whether there is one, it offers neither to create nor to replace.
    expect(screen.queryByRole("button")).toBeNull();
  });

  it("lists the callback deliveries and redelivers one; one being sent has no button, a 409 says why", async () => {
    const failed = "00000000-0000-4000-8000-000000000001";
    const sending = "00000000-0000-4000-8000-000000000002";
    routes["GET /api/v1/me/callbacks"] = [
      json(200, {
        items: [
          delivery(failed, "failed", { last_error: "HTTP 500 from the receiver", tries: [{ attempt: 1 }] }),
          delivery(sending, "sending", { event_type: "video.failed", attempts: 1 }),
        ],
      }),
    ];
    routes[`POST /api/v1/me/callbacks/${failed}/redeliver`] = [
      json(202, delivery(failed, "pending", { last_error: "HTTP 500 from the receiver" })),
      json(409, { code: "conflict", message: "the delivery is being sent right now" }),
    ];
    render(withI18n(<CallbackDeliveries api={api()} />));
    await screen.findByText("HTTP 500 from the receiver");
    expect(screen.getByRole("heading", { name: "Callback deliveries" })).toBeTruthy();
    const rows = screen.getAllByRole("listitem");
    expect(rows[0]!.textContent).toContain("video.completed failed · 3 attempts");
    expect(rows[1]!.textContent).toContain("video.failed sending · 1 attempt");
    expect(screen.getAllByRole("button", { name: "Redeliver" })).toHaveLength(1);

    fireEvent.click(screen.getByRole("button", { name: "Redeliver" }));
    await waitFor(() => expect(screen.getAllByRole("listitem")[0]!.textContent).toContain("video.completed pending · 3 attempts"));
    expect(calls).toContain(`POST /api/v1/me/callbacks/${failed}/redeliver`);

    fireEvent.click(screen.getByRole("button", { name: "Redeliver" }));
    await waitFor(() =>
      expect(screen.getByRole("alert").textContent).toBe("It is being sent right now; try again in a moment."),
    );
  });

  it("says when there are no callback deliveries yet", async () => {
    routes["GET /api/v1/me/callbacks"] = [json(200, { items: [] })];
    render(withI18n(<CallbackDeliveries api={api()} />, "pt-BR"));
    await screen.findByText("Nenhuma entrega ainda.");
    expect(screen.getByRole("heading", { name: "Entregas dos callbacks" })).toBeTruthy();
  });

  it("reads a webhook's delivery log when it is opened, with the same redeliver", async () => {
    const hook = "00000000-0000-4000-8000-0000000000a1";
    const id = "00000000-0000-4000-8000-0000000000d1";
    routes["GET /api/v1/webhooks"] = [
      json(200, { items: [{ id: hook, url: "https://example.com/hook", created_at: "2026-11-22T18:00:00Z" }] }),
    ];
    routes[`GET /api/v1/webhooks/${hook}/deliveries`] = [json(200, { items: [delivery(id, "failed")] })];
    routes[`POST /api/v1/webhooks/${hook}/deliveries/${id}/redeliver`] = [json(202, delivery(id, "pending"))];
    render(withI18n(<Webhooks api={api()} />));
    const details = (await screen.findByText("Deliveries")).closest("details")!;
    expect(calls).toEqual(["GET /api/v1/webhooks"]);
    details.open = true;
    fireEvent(details, new Event("toggle"));
    fireEvent.click(await screen.findByRole("button", { name: "Redeliver" }));
    await waitFor(() => expect(details.textContent).toContain("video.completed pending · 3 attempts"));
    expect(calls).toEqual([
      "GET /api/v1/webhooks",
      `GET /api/v1/webhooks/${hook}/deliveries`,
      `POST /api/v1/webhooks/${hook}/deliveries/${id}/redeliver`,
    ]);
  });
});
