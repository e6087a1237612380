// @ts-check
// The app must run under its Content-Security-Policy (set by `fiapx serve` on every answer): every violation a
// browser context reports (a `securitypolicyviolation` event in any of its documents, or Chromium's console error
// about a refused load or script) is recorded here, and the suite fails the test that saw one (takeViolations in
// its afterEach).
import assert from "node:assert/strict";

/** Violations seen and not yet taken, one line each. @type {string[]} */
const seen = [];

/**
 * Records every CSP violation in `context`'s pages, from before the first script of each document runs.
 * @param {import("playwright-core").BrowserContext} context
 */
export async function watchCsp(context) {
  await context.exposeBinding("reportCspViolation", ({ page }, /** @type {string} */ text) => {
    seen.push(`${page.url()}: ${text}`);
  });
  await context.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (event) => {
      const where = event.sourceFile ? ` at ${event.sourceFile}:${event.lineNumber}` : "";
      const report = /** @type {(text: string) => void} */ (/** @type {any} */ (window).reportCspViolation);
      void report(`${event.effectiveDirective} refused ${event.blockedURI || "(inline)"}${where} ${event.sample}`.trim());
    });
  });
  context.on("console", (message) => {
    if (message.type() === "error" && /Content Security Policy/i.test(message.text())) {
      seen.push(`${message.page()?.url() ?? "?"}: console: ${message.text()}`);
    }
  });
}

/** The violations seen since the last call (and forgets them). */
export function takeViolations() {
  return seen.splice(0);
}

/** Fails with every violation seen since the last call. */
export function assertNoViolation() {
  const violations = takeViolations();
  assert.deepEqual(violations, [], `Content-Security-Policy violations:\n  ${violations.join("\n  ")}`);
}
