// @ts-check
// Automated accessibility audit of the screen a page shows: axe-core, injected into the page, run with the WCAG 2.0,
// 2.1 and 2.2 level A and AA rules plus axe's best practices (landmarks, heading order). Any violation fails with one
// line per rule and element: rule id, impact, CSS selector of the element, and axe's summary of what to fix.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
/** axe-core's source, evaluated in the page by the driver: an added `<script>` would be refused by the app's CSP. */
const AXE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

/** The rule sets of the audit (axe tags). */
export const AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"];

/**
 * Runs axe-core on the page as it is now and throws a readable summary when any rule is violated.
 * @param {import("playwright-core").Page} page
 * @param {string} screen what the page shows, for the message
 */
export async function audit(page, screen) {
  // Once per document: client-side navigations keep `window.axe`.
  if (!(await page.evaluate(() => "axe" in window))) await page.evaluate(AXE);
  const violations = await page.evaluate(async (tags) => {
    const axe = /** @type {typeof import("axe-core")} */ (/** @type {any} */ (window).axe);
    const results = await axe.run(document, { runOnly: { type: "tag", values: tags }, resultTypes: ["violations"] });
    // An audit that checked nothing (wrong tags, empty page) must not pass silently.
    if (results.passes.length === 0) throw new Error("axe-core found no rule to check");
    return results.violations.map((v) => ({
      id: v.id,
      impact: v.impact ?? "unknown",
      help: v.help,
      helpUrl: v.helpUrl,
      nodes: v.nodes.map((n) => ({
        target: n.target.flat().join(" >> "),
        summary: (n.failureSummary ?? "").replace(/\s+/g, " ").trim(),
      })),
    }));
  }, AXE_TAGS);
  if (violations.length === 0) return;
  const lines = violations.flatMap((v) => [
    `${v.id} (${v.impact}): ${v.help} <${v.helpUrl}>`,
    ...v.nodes.map((n) => `    ${n.target}: ${n.summary}`),
  ]);
  throw new Error(`accessibility violations on ${screen} (${page.url()}):\n  ${lines.join("\n  ")}`);
}
