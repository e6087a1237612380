// @ts-check
// End to end in a real browser (Debian's chromium driven by playwright-core) against `fiapx serve all` on a
// private stack (see stack.mjs): register, upload a clip made by ffmpeg and watch it complete live, see its
// frames and download the ZIP and check its entries, see a corrupt upload refused once with 429 (retried by itself
// after Retry-After) then fail with its message, resume an upload broken off mid-way after a reload (tus: HEAD,
// then on from the server's offset), share a link and open it in a fresh browser context; drop two
// files at once on the drop zone and see both complete on the list's one feed; a video uploaded by another session
// showing up live; sign in with the keyboard alone; reprocess with another spec (a count of JPEGs at a maximum
// height); upload with frames at given positions and scrub previews (a storyboard); change the password; audit
// every screen with axe-core (a11y.mjs); open the API docs under their own policy. Every context fails its test on
// any Content-Security-Policy violation (csp.mjs), and an injected inline script is shown not to run. Screenshots of
// each screen land in web/test-results/screenshots/.
import assert from "node:assert/strict";
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, afterEach, before, test } from "node:test";
import { unzipSync } from "fflate";
import { chromium } from "playwright-core";
import { audit } from "./a11y.mjs";
import { assertNoViolation, takeViolations, watchCsp } from "./csp.mjs";
import { ACCESS_TTL_SECS, RESULTS, makeClip, stackEnv, startStack } from "./stack.mjs";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-dev-shm-usage",
];
const SHOTS = join(RESULTS, "screenshots");
const DOWNLOADS = join(RESULTS, "downloads");
/** Processing a 3-second clip takes a few seconds; generous for a loaded 2-core CI machine. */
const PROCESSING_MS = 90_000;

/** @type {Awaited<ReturnType<typeof startStack>>} */
let stack;
/** @type {import("playwright-core").Browser} */
let browser;
/** @type {import("playwright-core").BrowserContext} */
let context;
/** @type {import("playwright-core").Page} */
let page;
const email = `e2e-${Date.now()}@example.com`;
const password = "correct horse battery";
const clip = join(RESULTS, "clip.mp4");
const corrupt = join(RESULTS, "broken.mp4");
/** Uploaded in small chunks, broken off mid-way, then resumed after a reload; long enough for many chunks. */
const resumable = join(RESULTS, "resumed.mp4");
/** The chunk size the resumed upload is sent with (localStorage `fiapx.upload.chunkSize`). */
const RESUME_CHUNK = 32 * 1024;
/** Dropped together on the drop zone; names that do not contain "clip.mp4", which other scenarios look for. */
const dropped = ["dropped-1.mp4", "dropped-2.mp4"];
/** Uploaded with frames at three positions; a name that does not contain "clip.mp4". */
const positioned = join(RESULTS, "positions.mp4");
/** Uploaded by another session of the user, through the API. */
const elsewhere = "elsewhere.mp4";
/** The paths of the live streams the app opened (`.../events`), in order. @type {string[]} */
const streams = [];
/** @type {string} */
let videoUrl = "";
/** @type {string} */
let shareLink = "";

/**
 * A browser context on the private stack, its CSP violations watched (csp.mjs).
 * @param {import("playwright-core").BrowserContextOptions} options
 */
async function newContext(options) {
  const created = await browser.newContext({ baseURL: stack.url, ...options });
  await watchCsp(created);
  return created;
}

/**
 * The statuses that came over the user's feed (`/api/v1/events`) in this page's life for the video the list shows
 * as `name`.
 * @param {import("playwright-core").Page} p @param {string} name
 */
async function feedStatuses(p, name) {
  const id = await p.locator("li.video", { hasText: name }).getAttribute("data-video-id");
  return p.evaluate(
    (id) =>
      /** @type {{ path: string, video_id: string, status: string }[]} */ (/** @type {any} */ (window).liveStatuses)
        .filter((s) => s.path === "/api/v1/events" && s.video_id === id)
        .map((s) => s.status),
    id,
  );
}

/**
 * Waits until an image has loaded and decoded (naturalWidth > 0).
 * @param {import("playwright-core").Locator} image
 */
async function loaded(image) {
  await image.evaluate(
    (img) =>
      new Promise((done, fail) => {
        const check = () => {
          if (!(img instanceof HTMLImageElement)) return fail(new Error("not an image"));
          if (img.complete && img.naturalWidth > 0) return done(undefined);
          setTimeout(check, 100);
        };
        check();
      }),
    undefined,
    { timeout: 20_000 },
  );
}

/** @param {import("playwright-core").Page} p @param {string} name */
async function shot(p, name) {
  await p.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/**
 * Asserts that the focused element shows a keyboard focus ring: it matches :focus-visible, and `ring` (itself, or
 * the element that draws its focus) has an outline or box-shadow whose colour has at least 3:1 contrast against the
 * background around it (WCAG 1.4.11).
 * @param {import("playwright-core").Page} p @param {import("playwright-core").Locator} ring
 */
async function assertFocusRing(p, ring) {
  assert.ok(await p.evaluate(() => document.activeElement?.matches(":focus-visible")), "focus is :focus-visible");
  const seen = await ring.evaluate((el) => {
    /** @param {string} css */
    const rgba = (css) => (css.match(/[\d.]+/g) ?? []).map(Number);
    /** @param {number[]} c */
    const luminance = (c) => {
      const [r = 0, g = 0, b = 0] = c.map((v) => (v / 255 <= 0.03928 ? v / 255 / 12.92 : ((v / 255 + 0.055) / 1.055) ** 2.4));
      return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    const style = getComputedStyle(el);
    const outline = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0;
    let around = el.parentElement;
    while (around && rgba(getComputedStyle(around).backgroundColor)[3] === 0) around = around.parentElement;
    const ring = luminance(rgba(outline ? style.outlineColor : style.boxShadow));
    const background = luminance(rgba(around ? getComputedStyle(around).backgroundColor : "rgb(255, 255, 255)"));
    const contrast = (Math.max(ring, background) + 0.05) / (Math.min(ring, background) + 0.05);
    return { drawn: outline || style.boxShadow !== "none", contrast, outline: style.outline };
  });
  assert.ok(seen.drawn, "a focus ring is drawn");
  assert.ok(seen.contrast >= 3, `focus ring ${seen.outline}: contrast ${seen.contrast.toFixed(2)}:1 with its background`);
}

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  mkdirSync(DOWNLOADS, { recursive: true });
  makeClip(clip, 3);
  dropped.forEach((name, i) => makeClip(join(RESULTS, name), i + 1));
  makeClip(resumable, 6);
  makeClip(positioned, 2);
  // Same container start (so the magic-byte gate lets it through), scrambled after the first 2 KiB.
  const bytes = readFileSync(clip);
  for (let i = 2048; i < bytes.length; i++) bytes[i] = ((bytes[i] ?? 0) * 13 + 5) & 0xff;
  writeFileSync(corrupt, bytes);
  stack = await startStack();
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
  context = await newContext({ locale: "en-US", acceptDownloads: true });
  context.setDefaultTimeout(20_000);
  page = await context.newPage();
  // What the browser saw, for when a scenario fails: console messages and every API answer that was not 2xx/3xx.
  const log = join(RESULTS, "browser.log");
  writeFileSync(log, "");
  /** @param {string} line */
  const note = (line) => appendFileSync(log, `${new Date().toISOString()} ${line}\n`);
  context.on("console", (message) => note(`console.${message.type()}: ${message.text()}`));
  context.on("weberror", (error) => note(`uncaught: ${error.error().stack ?? error.error().message}`));
  // Every live stream's life in the page, into the same log: opened, each event (its type, SSE id and data, the
  // token left out), errors and closes; the feed's timing is what a failing live scenario needs to be read.
  await context.addInitScript(() => {
    const Native = window.EventSource;
    let next = 0;
    class Traced extends Native {
      /** @param {string | URL} url @param {EventSourceInit} [init] */
      constructor(url, init) {
        super(url, init);
        const n = ++next;
        const where = String(url).replace(/access_token=[^&]*/, "access_token=…");
        /** @param {string} text */
        const say = (text) => console.debug(`[sse ${n}] ${text}`);
        say(`new ${where}`);
        this.addEventListener("open", () => say("open"));
        this.addEventListener("error", () => say(`error, readyState ${this.readyState}`));
        const path = new URL(String(url), location.href).pathname;
        for (const type of ["status", "progress"]) {
          this.addEventListener(type, (event) => {
            const message = /** @type {MessageEvent<string>} */ (event);
            say(`${type} id=${message.lastEventId} ${message.data}`);
            if (type === "status") {
              const { video_id, status } = JSON.parse(message.data);
              /** @type {any} */ (window).liveStatuses.push({ path, video_id, status });
            }
          });
        }
        // One of the list's feed streams ended (the server ended it, or the app closed it): scenarios can act at
        // that very moment.
        let ended = false;
        const end = () => {
          if (path === "/api/v1/events" && !ended) window.dispatchEvent(new Event("feed-stream-ended"));
          ended = true;
        };
        this.addEventListener("error", end);
        const close = this.close.bind(this);
        this.close = () => {
          say("close");
          close();
          end();
        };
      }
    }
    window.EventSource = Traced;
    /** Every status that came over a live stream in this page's life, with that stream's path. */
    Object.assign(window, { liveStatuses: [] });
  });
  context.on("response", (response) => {
    const url = new URL(response.url());
    if (url.pathname.startsWith("/api/") || response.status() >= 400) {
      note(`${response.status()} ${response.request().method()} ${url.pathname}${url.search.slice(0, 40)}`);
    }
  });
  context.on("request", (request) => {
    const path = new URL(request.url()).pathname;
    if (path.endsWith("/events")) streams.push(path);
  });
  context.on("requestfailed", (request) => note(`failed ${request.method()} ${request.url()}: ${request.failure()?.errorText}`));
});

let step = 0;
afterEach(async () => {
  step += 1;
  await page?.screenshot({ path: join(RESULTS, `after-${step}.png`), fullPage: true }).catch(() => undefined);
  // The test that just ran fails on any CSP violation any of its pages saw.
  assertNoViolation();
});

after(async () => {
  await browser?.close();
  await stack?.stop();
});

test("register", async () => {
  await page.goto("/");
  await page.waitForURL("**/signin");
  await page.getByRole("heading", { name: "Sign in" }).waitFor();
  await shot(page, "01-sign-in");
  await audit(page, "sign in");
  await page.getByRole("link", { name: "Create account" }).click();
  await page.getByLabel("Your name").fill("E2E Tester");
  await page.getByLabel("E-mail").fill(email);
  await page.getByLabel("Password").fill(password);
  await shot(page, "02-register");
  await audit(page, "register");
  await page.getByRole("button", { name: "Create account" }).click();
  await page.getByRole("heading", { name: "Your videos", level: 1 }).waitFor();
  await page.getByText("No videos yet").waitFor();
  await shot(page, "03-videos-empty");
  await audit(page, "the empty list");
});

test("keyboard only: Tab to e-mail, password and submit, Enter signs in; focus is visible", async () => {
  const keyboard = await newContext({ locale: "en-US" });
  try {
    const p = await keyboard.newPage();
    await p.goto("/signin");
    await p.getByRole("heading", { name: "Sign in", level: 1 }).waitFor();
    // The heading takes the focus when the screen opens (screen readers announce it); Tab goes on from there.
    assert.equal(await p.evaluate(() => document.activeElement?.tagName), "H1");
    for (const [id, value] of [["signin-email", email], ["signin-password", password]]) {
      await p.keyboard.press("Tab");
      assert.equal(await p.evaluate(() => document.activeElement?.id), id);
      await assertFocusRing(p, p.locator(`#${id}`));
      await p.keyboard.type(value);
    }
    await p.keyboard.press("Tab");
    const submit = p.getByRole("button", { name: "Sign in" });
    assert.ok(await submit.evaluate((el) => el === document.activeElement), "Tab reaches the submit button");
    await assertFocusRing(p, submit);
    await p.keyboard.press("Enter");
    await p.getByRole("heading", { name: "Your videos", level: 1 }).waitFor();
    // The file input is visually hidden: Tab reaches it and its ring is drawn on the "Choose files" label.
    for (let i = 0; i < 10 && (await p.evaluate(() => document.activeElement?.id)) !== "upload-files"; i++) {
      await p.keyboard.press("Tab");
    }
    assert.equal(await p.evaluate(() => document.activeElement?.id), "upload-files");
    await assertFocusRing(p, p.locator('label[for="upload-files"]'));
  } finally {
    await keyboard.close();
  }
});

test("upload a clip and watch it complete live", async () => {
  // While it processes, the list endpoint answers an empty page: the completion can only come over SSE.
  // (Only the list's URL is intercepted: an intercepted upload would lose its streamed body.)
  /** @param {URL} url */
  const list = (url) => url.pathname === "/api/v1/videos" && url.searchParams.has("limit");
  await page.route(list, (route) => route.fulfill({ json: { items: [] } }));
  await page.getByLabel("Choose files").setInputFiles(clip);
  const row = page.locator("li.upload", { hasText: "clip.mp4" });
  await row.getByText("Uploaded: queued for extraction").waitFor();
  assert.equal(await row.locator("progress").getAttribute("value"), "100");
  // The list shows it and follows it over SSE until it completes: no reload.
  const item = page.locator("li.video", { hasText: "clip.mp4" });
  await item.waitFor();
  await shot(page, "04-videos-uploaded");
  await item.locator(".badge-completed").waitFor({ timeout: PROCESSING_MS });
  // (Waiting for the reads being answered: one answered after the route is gone fails the run.)
  await page.unrouteAll({ behavior: "wait" });
  assert.ok((await feedStatuses(page, "clip.mp4")).includes("completed"), "the feed brought the completion");
  await shot(page, "05-videos-completed");
  await audit(page, "the list with a completed video");
});

test("drop two files at once on the drop zone: both upload and complete live on the one feed", async () => {
  // The list endpoint answers what it answered first, frozen (the dropped videos at most queued): both completions
  // can only come over the user's feed, one stream for every video, and the page is never reloaded.
  /** @param {URL} url */
  const list = (url) => url.pathname === "/api/v1/videos" && url.searchParams.has("limit");
  // Only a page is frozen: an answer sent with a token that has just lapsed (401 token_expired) goes to the app
  // as it is, which renews the token and asks again. (Freezing that answer served an error body with status 200
  // to every later read of the list.)
  /** @type {unknown} */
  let frozen;
  await page.route(list, async (route) => {
    if (frozen === undefined) {
      const answer = await route.fetch();
      if (!answer.ok()) return route.fulfill({ response: answer });
      frozen ??= await answer.json();
    }
    await route.fulfill({ json: frozen });
  });
  const opened = streams.length;
  await page.evaluate(() => Object.assign(window, { notReloaded: true }));
  // The files are built in the page from the clips' bytes, as a drop from the desktop hands them over.
  const files = dropped.map((name) => ({ name, base64: readFileSync(join(RESULTS, name)).toString("base64") }));
  const dataTransfer = await page.evaluateHandle((list) => {
    const transfer = new DataTransfer();
    for (const { name, base64 } of list) {
      const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
      transfer.items.add(new File([bytes], name, { type: "video/mp4" }));
    }
    return transfer;
  }, files);
  const zone = page.locator(".dropzone");
  /** Dispatches a drag event on the zone; true when the app cancelled it. @param {string[]} types */
  const drag = (types) =>
    zone.evaluate(
      (el, { transfer, types }) =>
        types.map((type) => !el.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: transfer }))),
      { transfer: dataTransfer, types },
    );
  // A browser drops only on a target that cancelled dragenter and dragover; a drop not cancelled opens the file.
  assert.deepEqual(await drag(["dragenter", "dragover"]), [true, true]);
  await page.locator(".dropzone.dragging").waitFor();
  assert.deepEqual(await drag(["drop"]), [true]);
  await page.locator(".dropzone:not(.dragging)").waitFor();
  await Promise.all(
    dropped.map(async (name) => {
      const row = page.locator("li.upload", { hasText: name });
      await row.getByText("Uploaded: queued for extraction").waitFor();
      assert.equal(await row.locator("progress").getAttribute("value"), "100");
      await page.locator("li.video", { hasText: name }).waitFor();
    }),
  );
  await shot(page, "05b-videos-dropped");
  await audit(page, "the list with upload rows and videos in progress");
  try {
    await Promise.all(
      dropped.map((name) => page.locator("li.video", { hasText: name }).locator(".badge-completed").waitFor({ timeout: PROCESSING_MS })),
    );
  } finally {
    await page.unrouteAll({ behavior: "wait" });
  }
  assert.ok(await page.evaluate(() => "notReloaded" in window), "the page was not reloaded");
  for (const name of dropped) {
    const seen = await feedStatuses(page, name);
    assert.ok(seen.includes("processing") && seen.includes("completed"), `${name} over the feed: ${seen.join(", ")}`);
  }
  // Only the user's feed (opened on the list before, replaced with a fresh token before each 3-second token
  // lapses), no per-video stream.
  assert.ok(streams.includes("/api/v1/events"), streams.join("\n"));
  const during = streams.slice(opened);
  assert.ok(during.every((path) => path === "/api/v1/events"), during.join("\n"));
});

test("a video uploaded elsewhere the moment a feed stream ends shows up on the list and completes live", async () => {
  // Another session of the same user (another tab, another device) uploads through the API, right when one of
  // the list's feed streams ends (its token lapses), and before this feed has seen any change, so that it has no
  // position to resume from: with the next stream open before that moment, the video's changes still come over
  // the feed. (Reopening only after the server had ended the stream left a gap of a few hundred milliseconds in
  // which a whole short job could start and finish unseen.) The list is left and opened again (in the app): a
  // new feed, which has seen nothing yet.
  await page.getByRole("link", { name: "Settings" }).click();
  await page.getByRole("heading", { name: "Settings", level: 1 }).waitFor();
  await page.getByRole("link", { name: "Videos", exact: true }).click();
  await page.locator('ul.videos[aria-busy="false"]').waitFor();
  const login = await fetch(`${stack.url}/api/v1/auth/login`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ email, password }),
  });
  assert.equal(login.status, 200);
  /** @type {{ refresh_token: string }} */
  const other = await login.json();
  const opened = streams.length;
  await page.evaluate(() => new Promise((ended) => window.addEventListener("feed-stream-ended", ended, { once: true })));
  // A fresh token: the login's may have lapsed while waiting.
  const renewed = await fetch(`${stack.url}/api/v1/auth/refresh`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ refresh_token: other.refresh_token }),
  });
  const { access_token: token } = await renewed.json();
  const upload = await fetch(`${stack.url}/api/v1/videos?fps=1&format=png`, {
    method: "POST",
    headers: {
      Authorization: `Bearer ${token}`,
      "Content-Type": "video/mp4",
      "X-Fiapx-Filename": elsewhere,
      "Idempotency-Key": crypto.randomUUID(),
    },
    body: readFileSync(join(RESULTS, dropped[0] ?? "")),
  });
  assert.equal(upload.status, 202, await upload.text());
  const item = page.locator("li.video", { hasText: elsewhere });
  await item.locator(".badge-completed").waitFor({ timeout: PROCESSING_MS });
  const seen = await feedStatuses(page, elsewhere);
  assert.ok(seen.includes("completed"), `over the feed: ${seen.join(", ")}`);
  const during = streams.slice(opened);
  assert.ok(during.every((path) => path === "/api/v1/events"), during.join("\n"));
});

test("the video page: timeline, frames, download the ZIP", async () => {
  await page.locator("li.video", { hasText: "clip.mp4" }).getByRole("link", { name: "clip.mp4" }).click();
  await page.getByRole("heading", { name: "clip.mp4", level: 1 }).waitFor();
  videoUrl = page.url();
  // The spec as the API returns it (the flat ExtractionSpec), described: the upload's defaults.
  const spec = page.locator("dt", { hasText: "Extraction" }).locator("xpath=following-sibling::dd[1]");
  assert.equal((await spec.textContent())?.trim(), "1 fps · png");
  await page.locator('.timeline li[data-event="completed"]').waitFor();
  const frames = Number(await page.getByTestId("frame-count").textContent());
  assert.ok(frames >= 3, `frame count ${frames}`);
  // The frames, one image each through GET /videos/{id}/frames/{index} (a redirect to the image), with their time.
  const first = page.locator(".frames img").first();
  await first.scrollIntoViewIfNeeded();
  await loaded(first);
  assert.match((await first.getAttribute("src")) ?? "", /^\/api\/v1\/videos\/[0-9a-f-]+\/frames\/0\?v=[0-9a-f]{16}&access_token=/);
  assert.equal(await page.locator(".frames img").count(), Math.min(12, frames));
  await page.getByText(`${Math.min(12, frames)} of ${frames} shown`).waitFor();
  // Under each its time in the clip (1 fps: one a second), which the alt text gives with the frame's number.
  const times = await page.locator(".frames li .muted").allTextContents();
  assert.ok(times.every((time, i) => new RegExp(`^0:0${i}(\\.\\d+)?$`).test(time)), times.join(", "));
  assert.equal(await first.getAttribute("alt"), `Frame 1 at ${times[0]}`);
  for (const image of await page.locator(".frames img").all()) await loaded(image);
  const widths = await page.locator(".frames img").evaluateAll((imgs) =>
    imgs.map((img) => (img instanceof HTMLImageElement ? img.naturalWidth : 0)),
  );
  assert.ok(widths.every((width) => width === 320), `frames decoded at the clip's width: ${widths.join(", ")}`);
  await shot(page, "06-video-completed");
  await audit(page, "a completed video");

  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.getByRole("link", { name: "Download ZIP" }).click(),
  ]);
  // The name comes from the archive link's Content-Disposition: the uploaded name, not the object key (`0.zip`).
  assert.equal(download.suggestedFilename(), "clip-frames.zip");
  const path = join(DOWNLOADS, "frames.zip");
  await download.saveAs(path);
  const entries = Object.keys(unzipSync(readFileSync(path)));
  const images = entries.filter((name) => name.endsWith(".png"));
  assert.equal(images.length, frames, entries.join(", "));
  assert.ok(entries.includes("manifest.json"), entries.join(", "));
});

test("a 429 on upload is shown and retried after Retry-After; a corrupt upload fails with its message", async () => {
  await page.getByRole("link", { name: "Videos", exact: true }).click();
  // The creation of the upload (the tus POST, which has no body) is answered as the server answers a user with too
  // many videos in flight; the route is gone before the retry, which reaches the server.
  const message = "you already have 10 videos waiting or processing (limit 10); retry when some finish";
  let refused = 0;
  /** @param {URL} url */
  const upload = (url) => url.pathname === "/api/v1/uploads";
  await page.route(upload, async (route) => {
    if (route.request().method() !== "POST") return route.fallback();
    refused += 1;
    await route.fulfill({ status: 429, headers: { "Retry-After": "2" }, json: { code: "rate_limited", message } });
    await page.unroute(upload);
  });
  await page.getByLabel("Choose files").setInputFiles(corrupt);
  const row = page.locator("li.upload", { hasText: "broken.mp4" });
  await row.getByText(`Refused for now: ${message}. Trying again in 2 seconds (retry 1 of 3).`).waitFor();
  await row.getByText("Uploaded: queued for extraction").waitFor();
  assert.equal(refused, 1);
  const item = page.locator("li.video", { hasText: "broken.mp4" });
  await item.locator(".badge-failed").waitFor({ timeout: PROCESSING_MS });
  const failure = (await item.locator(".failure").textContent()) ?? "";
  assert.match(failure, /corrupt_input|unsupported_format|truncated_input/);
  assert.ok(failure.replace(/^\S+/, "").trim().length > 5, `a message, not only the code: ${failure}`);
  await page.getByLabel("Show").selectOption("failed");
  await page.locator('ul.videos[aria-busy="false"]').waitFor();
  await page.locator("li.video", { hasText: "broken.mp4" }).waitFor();
  assert.equal(await page.locator("li.video", { hasText: "clip.mp4" }).count(), 0);
  await shot(page, "07-videos-failed-filter");
  await audit(page, "the list filtered by failed, with a failure message");
});

test("an upload broken off mid-way resumes after a reload from the bytes the server kept, and completes", async () => {
  await page.getByRole("link", { name: "Videos", exact: true }).click();
  await page.locator('ul.videos[aria-busy="false"]').waitFor();
  // Small chunks (the app's test knob), so that the upload is many PATCHes and can be broken off between two.
  await page.evaluate((size) => localStorage.setItem("fiapx.upload.chunkSize", String(size)), RESUME_CHUNK);
  /** @param {import("playwright-core").Request} request */
  const isPatch = (request) => request.method() === "PATCH" && new URL(request.url()).pathname.startsWith("/api/v1/uploads/");
  /** @param {URL} url */
  const toUpload = (url) => url.pathname.startsWith("/api/v1/uploads/");
  let chunks = 0;
  const third = page.waitForResponse((r) => isPatch(r.request()) && r.status() === 204 && ++chunks === 3, { timeout: 60_000 });
  await page.getByLabel("Choose files").setInputFiles(resumable);
  const uploadPath = new URL((await third).url()).pathname;
  assert.match(uploadPath, /^\/api\/v1\/uploads\/[0-9a-f-]{36}$/);
  // From the third chunk on, every request to the upload fails as on a broken link: aborted by the route, which
  // forwards none (the chunks before went to the server unintercepted, bodies and all).
  /** @type {() => void} */
  let broke = () => undefined;
  const broken = new Promise((done) => {
    broke = () => done(undefined);
  });
  await page.route(toUpload, async (route) => {
    broke();
    await route.abort("connectionreset");
  });
  try {
    await broken;
    const row = page.locator("li.upload", { hasText: "resumed.mp4" });
    assert.equal(await row.getByText(/^Uploaded/).count(), 0, "the upload was broken off before its end");
  } finally {
    await page.unrouteAll({ behavior: "ignoreErrors" });
  }

  // A reload (the session stays: its refresh token is in sessionStorage), then the same file again.
  await page.reload();
  await page.locator('ul.videos[aria-busy="false"]').waitFor();
  /** @type {string[]} */
  const calls = [];
  /** @type {number[]} */
  const headOffsets = [];
  /** @type {number[]} */
  const patchOffsets = [];
  /** @param {import("playwright-core").Request} request */
  const seeRequest = (request) => {
    const path = new URL(request.url()).pathname;
    if (!path.startsWith("/api/v1/uploads")) return;
    calls.push(`${request.method()} ${path}`);
    if (isPatch(request)) patchOffsets.push(Number(request.headers()["upload-offset"]));
  };
  /** @param {import("playwright-core").Response} response */
  const seeHead = (response) => {
    if (response.request().method() === "HEAD" && response.status() === 200) {
      headOffsets.push(Number(response.headers()["upload-offset"]));
    }
  };
  // Every text the upload's row says, as it changes (the resuming one lasts only while the rest is sent).
  await page.evaluate(() => {
    /** @type {string[]} */
    const said = [];
    const note = () => {
      document.querySelectorAll("li.upload .upload-state").forEach((el) => {
        const text = el.textContent ?? "";
        if (said.at(-1) !== text) said.push(text);
      });
    };
    new MutationObserver(note).observe(document.body, { subtree: true, childList: true, characterData: true });
    Object.assign(window, { uploadSaid: said });
  });
  page.on("request", seeRequest);
  page.on("response", seeHead);
  try {
    await page.getByLabel("Choose files").setInputFiles(resumable);
    const row = page.locator("li.upload", { hasText: "resumed.mp4" });
    await row.getByText(/^Uploaded \(resumed from \d+%\): queued for extraction$/).waitFor({ timeout: 60_000 });
    await shot(page, "07b-upload-resumed");
  } finally {
    page.off("request", seeRequest);
    page.off("response", seeHead);
  }
  const said = /** @type {string[]} */ (await page.evaluate(() => /** @type {any} */ (window).uploadSaid));
  const resuming = said.find((text) => /^Resuming from \d+%: uploading \d+%$/.test(text));
  assert.ok(resuming, `the row said it resumed: ${said.join(" | ")}`);
  const from = Number(/from (\d+)%/.exec(resuming)?.[1]);
  // The server kept the bytes: the HEAD said how many, and the first PATCH went on from there, to the same upload.
  const size = readFileSync(resumable).length;
  assert.ok((headOffsets[0] ?? 0) >= 3 * RESUME_CHUNK, `HEAD Upload-Offset ${headOffsets.join(", ")}`);
  assert.ok((headOffsets[0] ?? size) < size, `HEAD Upload-Offset ${headOffsets[0]} of ${size}`);
  assert.equal(from, Math.round((100 * (headOffsets[0] ?? 0)) / size), said.join(" | "));
  assert.equal(patchOffsets[0], headOffsets[0], `first PATCH at ${patchOffsets.join(", ")}`);
  assert.equal(calls[0], `HEAD ${uploadPath}`, calls.join("\n"));
  assert.ok(calls.every((call) => call.endsWith(` ${uploadPath}`)), `no new upload:\n${calls.join("\n")}`);
  await page.evaluate(() => localStorage.removeItem("fiapx.upload.chunkSize"));
  // The upload's id is the video's: it shows on the list and completes.
  const item = page.locator(`li.video[data-video-id="${uploadPath.split("/").at(-1)}"]`, { hasText: "resumed.mp4" });
  await item.locator(".badge-completed").waitFor({ timeout: PROCESSING_MS });
  // Nothing is left to resume.
  assert.deepEqual(await page.evaluate(() => Object.keys(localStorage).filter((key) => key.startsWith("tus::"))), []);
});

test("share a read-only link and open it in a fresh browser context", async () => {
  await page.goto(videoUrl);
  await page.getByLabel("Link valid for").selectOption({ label: "1 hour" });
  await page.getByRole("button", { name: "Create link" }).click();
  shareLink = await page.getByRole("textbox", { name: "Read-only link" }).inputValue();
  assert.match(shareLink, /\/share\/[0-9a-f-]{36}#token=/);
  await shot(page, "08-video-shared");

  const stranger = await newContext({ locale: "pt-BR" });
  try {
    const other = await stranger.newPage();
    await other.goto(shareLink);
    await other.getByRole("heading", { name: "clip.mp4", level: 1 }).waitFor();
    await other.getByText("somente leitura").first().waitFor();
    await other.locator(".badge-completed").waitFor();
    // The frames too, with the share token in their address.
    const frame = other.getByRole("img", { name: /^Quadro 1 em 0:00/ });
    await frame.scrollIntoViewIfNeeded();
    await loaded(frame);
    assert.equal(await other.getByRole("button", { name: "Excluir" }).count(), 0);
    assert.equal(await other.getByRole("link", { name: "Baixar ZIP" }).count(), 1);
    await shot(other, "09-share-pt-BR");
    await audit(other, "the share page in pt-BR");
  } finally {
    await stranger.close();
  }

  // A second link, then revoked: the list shows both (newest first), and the revoked one stops opening at once
  // while the first keeps working (the test that deletes the video checks it last).
  await page.getByRole("button", { name: "Create link" }).click();
  const linkBox = page.getByRole("textbox", { name: "Read-only link" });
  await page.waitForFunction(
    (first) => /** @type {HTMLInputElement | null} */ (document.querySelector("#share-link"))?.value !== first,
    shareLink,
  );
  const revokedLink = await linkBox.inputValue();
  const rows = page.locator("ul.shares li");
  await rows.nth(1).waitFor();
  assert.equal(await rows.count(), 2);
  await rows.first().getByRole("button", { name: "Revoke" }).click();
  await rows.first().getByText("revoked").waitFor();
  assert.equal(await page.locator("ul.shares li", { hasText: "active until" }).count(), 1);
  await audit(page, "a video with an active and a revoked share link");
  const late = await newContext({ locale: "en-US" });
  try {
    const other = await late.newPage();
    await other.goto(revokedLink);
    await other.getByText("This link is invalid or has expired.").waitFor();
    await other.goto(shareLink);
    await other.getByRole("heading", { name: "clip.mp4", level: 1 }).waitFor();
  } finally {
    await late.close();
  }
});

test("an expired access token is renewed without the user noticing", async () => {
  await page.getByRole("link", { name: "Videos", exact: true }).click();
  await page.locator('ul.videos[aria-busy="false"]').waitFor();
  assert.equal(await page.locator("li.video .badge-completed, li.video .badge-failed").count(), await page.locator("li.video").count());
  // Waiting on settings, where no live stream is open: the list's feed renews the token before each lapse and a
  // video page's stream after the server ended it, and a renewal late in the wait below would leave a fresh token,
  // so that nothing is refused.
  await page.getByRole("link", { name: "Settings" }).click();
  await page.getByLabel("E-mail me when a video fails").waitFor();
  /** @type {string[]} */
  const calls = [];
  /** @param {import("playwright-core").Request} request */
  const record = (request) => {
    const path = new URL(request.url()).pathname;
    if (path.startsWith("/api/")) calls.push(`${request.method()} ${path}`);
  };
  page.on("request", record);
  try {
    await page.waitForTimeout((ACCESS_TTL_SECS + 1) * 1000);
    await page.getByRole("button", { name: "Save" }).click();
    await page.getByText("Saved.").waitFor();
  } finally {
    page.off("request", record);
  }
  const saves = calls.filter((c) => c === "PUT /api/v1/me/notifications").length;
  assert.ok(calls.includes("POST /api/v1/auth/refresh"), calls.join("\n"));
  assert.equal(saves, 2, `refused once with token_expired, then retried:\n${calls.join("\n")}`);
});

test("settings, language switch and phone width", async () => {
  await page.getByRole("heading", { name: "Settings", level: 1 }).waitFor();
  await page.getByLabel("E-mail me when a video fails").waitFor();
  // A webhook: the secret is shown once, the endpoint is listed, then removed.
  await page.getByLabel("Webhook URL (https)").fill("http://127.0.0.1:9/fiapx-hook");
  await page.getByRole("button", { name: "Add webhook" }).click();
  await page.getByText(/Signing secret .*: \S{16,}/).waitFor();
  await page.locator(".hooks li", { hasText: "http://127.0.0.1:9/fiapx-hook" }).waitFor();
  // The callback signing secret: none yet, then made and shown once (after the reload below, only its date).
  await page.getByText("None yet: callbacks fail until you create one.").waitFor();
  await page.getByRole("button", { name: "Create secret" }).click();
  await page.getByText(/^Callback signing secret \(shown only now; copy it\): \S{16,}$/).waitFor();
  await page.getByText(/^Active since .+\.$/).waitFor();
  await shot(page, "10-settings");
  await audit(page, "settings with a webhook");
  await page.getByRole("button", { name: "Remove" }).click();
  await page.getByText("No webhooks yet.").waitFor();
  await page.getByLabel("Language").selectOption("pt-BR");
  await page.getByRole("heading", { name: "Configurações", level: 1 }).waitFor();
  await page.reload();
  await page.getByRole("heading", { name: "Configurações", level: 1 }).waitFor();
  await page.getByText(/^Ativo desde .+\.$/).waitFor();
  await page.getByRole("button", { name: "Substituir segredo" }).waitFor();
  assert.equal(await page.getByText(/mostrado só agora/).count(), 0, "no secret is shown again after the reload");
  await page.setViewportSize({ width: 390, height: 844 });
  await page.getByRole("link", { name: "Vídeos", exact: true }).click();
  await page.locator("li.video").first().waitFor();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `no horizontal scrolling at phone width (${overflow}px)`);
  await shot(page, "11-videos-phone-pt-BR");
  await audit(page, "the list at phone width in pt-BR");
});

test("reprocess with another spec, then delete", async () => {
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.goto(videoUrl);
  await page.locator(".badge-completed").waitFor();
  // The upload screen's form, holding the video's spec; the new run asks for 2 JPEGs at most 120 px high.
  await page.getByRole("button", { name: "Processar de novo" }).click();
  const form = page.locator("form.reprocess");
  assert.equal(await form.getByLabel("Quadros", { exact: true }).inputValue(), "fps");
  assert.equal(await form.getByLabel(/^Quadros por segundo/).inputValue(), "1");
  assert.equal(await form.getByLabel("Formato da imagem").inputValue(), "png");
  await form.getByLabel("Quadros", { exact: true }).selectOption("count");
  await form.getByLabel("Número de quadros").fill("2");
  await form.getByLabel("Formato da imagem").selectOption("jpeg");
  const height = form.getByLabel("Altura máxima em pixels (opcional)");
  // Under the API's minimum: refused in the browser, the field says why.
  await height.fill("8");
  await form.getByRole("button", { name: "Iniciar o processamento" }).click();
  await form.getByText("A altura máxima é um número inteiro de 16 a 16384, ou vazia.").waitFor();
  assert.equal(await height.getAttribute("aria-invalid"), "true");
  await shot(page, "12-video-reprocess-form");
  await audit(page, "the reprocess form with a wrong field, in pt-BR");
  await height.fill("120");
  /** The media types of the images loaded from here on (the frames of the new job). @type {string[]} */
  const images = [];
  /** @param {import("playwright-core").Response} response */
  const seeImage = (response) => {
    if (response.request().resourceType() === "image" && response.status() === 200) {
      images.push(response.headers()["content-type"] ?? "");
    }
  };
  page.on("response", seeImage);
  await form.getByRole("button", { name: "Iniciar o processamento" }).click();
  await page.getByText("Na fila para processar de novo.").waitFor();
  // The second job completes too, live, and the timeline shows both.
  await page.locator('.timeline li[data-event="reprocess_requested"]').waitFor();
  await page.locator(".details dd", { hasText: /^1$/ }).first().waitFor();
  await page.locator(".badge-completed").waitFor({ timeout: PROCESSING_MS });
  await page.locator('.timeline li[data-event="completed"]').nth(1).waitFor();
  // With the new spec: its description, 2 frames, JPEGs scaled to 120 px high (the clip is 320x240).
  const spec = page.locator("dt", { hasText: "Extração" }).locator("xpath=following-sibling::dd[1]");
  await spec.filter({ hasText: /^2 × · jpeg q85 · ≤ 120 px ↕$/ }).waitFor();
  await page.getByTestId("frame-count").filter({ hasText: /^2$/ }).waitFor();
  await page.locator(".frames img").nth(1).waitFor();
  assert.equal(await page.locator(".frames img").count(), 2);
  const times = await page.locator(".frames li .muted").allTextContents();
  assert.ok(times.every((time) => /^\d+:\d\d(,\d+)?$/.test(time)), times.join(", "));
  assert.match((await page.locator(".frames img").first().getAttribute("alt")) ?? "", /^Quadro 1 em \d+:\d\d/);
  for (const image of await page.locator(".frames img").all()) await loaded(image);
  // Each came as a JPEG (the presigned URL's answer, after the API's redirect).
  assert.deepEqual(images.slice(-2), ["image/jpeg", "image/jpeg"]);
  const sizes = await page.locator(".frames img").evaluateAll((imgs) =>
    imgs.map((img) => (img instanceof HTMLImageElement && img.complete ? `${img.naturalWidth}x${img.naturalHeight}` : "")),
  );
  assert.deepEqual(sizes, ["160x120", "160x120"]);
  page.off("response", seeImage);
  page.once("dialog", (dialog) => void dialog.accept());
  await page.getByRole("button", { name: "Excluir" }).click();
  await page.getByRole("heading", { name: "Seus vídeos", level: 1 }).waitFor();
  await page.locator("li.video", { hasText: "broken.mp4" }).waitFor();
  await page.locator('ul.videos[aria-busy="false"]').waitFor();
  assert.equal(await page.locator("li.video", { hasText: "clip.mp4" }).count(), 0);
  // Its share link no longer opens it.
  const stranger = await newContext({ locale: "en-US" });
  try {
    const other = await stranger.newPage();
    await other.goto(shareLink);
    await other.getByText("This link is invalid or has expired.").waitFor();
  } finally {
    await stranger.close();
  }
});

test("upload with frames at given positions and scrub previews: a wrong one is named, then exactly those frames, described, and the previews scrubbed", async () => {
  const form = page.locator("fieldset.spec");
  await form.getByLabel("Quadros", { exact: true }).selectOption("at");
  const positions = form.getByLabel("Posições, separadas por vírgulas");
  assert.equal(await positions.inputValue(), "first, 50%, last");
  // Scrub previews every second (the clip lasts 2 s).
  await form.getByLabel("Prévias de navegação (storyboard)").check();
  await form.getByLabel(/^Segundos entre prévias/).fill("1");
  await positions.fill("last, soon");
  await page.getByLabel("Escolher arquivos").setInputFiles(positioned);
  await form.getByText(/^“soon” não é uma posição/).waitFor();
  assert.equal(await positions.getAttribute("aria-invalid"), "true");
  await positions.fill("last, 1.5, first");
  await page.getByLabel("Escolher arquivos").setInputFiles(positioned);
  const item = page.locator("li.video", { hasText: "positions.mp4" });
  await item.locator(".badge-completed").waitFor({ timeout: PROCESSING_MS });
  await item.getByRole("link", { name: "positions.mp4" }).click();
  await page.getByRole("heading", { name: "positions.mp4", level: 1 }).waitFor();
  // The spec as the API returns it (positions as given, canonical), described in the page's language.
  const spec = page.locator("dt", { hasText: "Extração" }).locator("xpath=following-sibling::dd[1]");
  await spec.filter({ hasText: /^quadros em último, 00:00:01\.500, primeiro · png · prévias de navegação a cada 1 s$/ }).waitFor();
  await page.getByTestId("frame-count").filter({ hasText: /^3$/ }).waitFor();
  await page.locator(".frames img").nth(2).waitFor();
  // In time order: the first frame, the one at 1.5 s, the last.
  const times = await page.locator(".frames li .muted").allTextContents();
  assert.equal(times.length, 3);
  assert.equal(times[0], "0:00");
  assert.match(times[1] ?? "", /^0:01,[45]\d*$/);
  // The scrub preview: the storyboard's index read, a tile of its sheet loaded through the API's redirect.
  const slider = page.getByLabel("Posição no vídeo");
  await slider.waitFor();
  /** Whether the tile's sheet is loaded (an image the browser could decode). */
  const tileLoaded = () => {
    const img = /** @type {HTMLImageElement | null} */ (document.querySelector(".scrub-tile img"));
    return img !== null && img.complete && img.naturalWidth > 0;
  };
  await page.waitForFunction(tileLoaded);
  assert.equal(await page.locator(".scrub-tile img").getAttribute("alt"), "Prévia em 0:00");
  await slider.fill("1");
  await page.getByRole("img", { name: "Prévia em 0:01" }).waitFor();
  await page.waitForFunction(tileLoaded);
  await shot(page, "12b-video-scrub-preview-pt-BR");
  await audit(page, "a video with frames at given positions and scrub previews, in pt-BR");
});

test("change the password: a wrong current one is refused, then the new one signs in", async () => {
  const newPassword = "a brand new secret 2";
  await page.getByRole("link", { name: "Configurações" }).click();
  const current = page.getByLabel("Senha atual");
  await current.waitFor();
  await current.fill("not my password");
  await page.getByLabel("Nova senha", { exact: true }).fill(newPassword);
  await page.getByLabel("Nova senha de novo").fill(newPassword);
  await page.getByRole("button", { name: "Alterar a senha" }).click();
  await page.getByRole("alert").filter({ hasText: "A senha atual está incorreta." }).waitFor();
  assert.equal(await current.getAttribute("aria-invalid"), "true");
  assert.ok(await current.evaluate((el) => el === document.activeElement), "the wrong field has the focus");
  await shot(page, "13-settings-password-refused-pt-BR");
  await audit(page, "settings with a refused password change, in pt-BR");
  await current.fill(password);
  await page.getByRole("button", { name: "Alterar a senha" }).click();
  await page.getByText("Senha alterada. Suas outras sessões foram encerradas; esta continua conectada.").waitFor();
  assert.equal(await current.inputValue(), "");
  // This session stays signed in: after its access token expired, it is renewed and the list loads.
  await page.waitForTimeout((ACCESS_TTL_SECS + 1) * 1000);
  await page.getByRole("link", { name: "Vídeos", exact: true }).click();
  await page.locator("li.video", { hasText: "broken.mp4" }).waitFor();
  await page.getByRole("button", { name: "Sair" }).click();
  await page.getByRole("heading", { name: "Entrar", level: 1 }).waitFor();
  // The old password no longer signs in; the new one does.
  await page.getByLabel("E-mail").fill(email);
  await page.getByLabel("Senha").fill(password);
  await page.getByRole("button", { name: "Entrar" }).click();
  await page.getByRole("alert").filter({ hasText: "E-mail ou senha incorretos." }).waitFor();
  await page.getByLabel("Senha").fill(newPassword);
  await page.getByRole("button", { name: "Entrar" }).click();
  await page.getByRole("heading", { name: "Seus vídeos", level: 1 }).waitFor();
  await page.locator("li.video", { hasText: "broken.mp4" }).waitFor();
});

test("the app's policy refuses an injected inline script; the API docs run under a policy of their own", async () => {
  const visitor = await newContext({ locale: "en-US" });
  try {
    const p = await visitor.newPage();
    const app = await p.goto("/signin");
    const policy = app?.headers()["content-security-policy"] ?? "";
    // Scripts from this origin only; images also from the storage's (frames are redirects to presigned URLs).
    const storage = new URL(stackEnv().FIAPX_S3_ENDPOINT ?? "").origin;
    assert.match(policy, /(^|; )script-src 'self'(;|$)/);
    assert.ok(policy.includes(`img-src 'self' data: ${storage}`), policy);
    await p.getByRole("heading", { name: "Sign in", level: 1 }).waitFor();
    const ran = await p.evaluate(() => {
      const script = document.createElement("script");
      script.textContent = "window.injected = true;";
      document.head.append(script);
      return new Promise((done) => setTimeout(() => done("injected" in window), 300));
    });
    assert.equal(ran, false, "an injected inline script ran");
    /** @type {string[]} */
    const refused = [];
    for (let i = 0; i < 50 && refused.length === 0; i++) {
      await p.waitForTimeout(100);
      refused.push(...takeViolations());
    }
    assert.ok(refused.some((line) => line.includes("script-src")), `the violation was not seen: ${refused.join("; ")}`);
    // Its other report (the event's or the console's) may come a moment later: it is this one too.
    await p.waitForTimeout(300);
    takeViolations();

    // Swagger UI's scripts and styles are inline: allowed by their hashes, nothing else (no 'unsafe-inline').
    const docs = await p.goto("/api/docs");
    const docsPolicy = docs?.headers()["content-security-policy"] ?? "";
    assert.match(docsPolicy, /script-src 'sha256-[^;]+; style-src 'sha256-/);
    assert.doesNotMatch(docsPolicy, /unsafe/);
    await p.locator(".swagger-ui .info .title", { hasText: "FIAP X" }).waitFor();
    const operation = p.locator(".opblock").first();
    await operation.locator(".opblock-summary").first().click();
    await operation.locator(".opblock-body").waitFor();
    await shot(p, "14-api-docs");
  } finally {
    await visitor.close();
  }
});
