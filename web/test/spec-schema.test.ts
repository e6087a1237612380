// @vitest-environment node
/// <reference types="node" />
// src/api/spec-schema.ts is what scripts/gen-spec.mjs makes of the OpenAPI document, and the form's rules are its.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { DEFAULT_SPEC, FORMATS, LIMITS, MAX_FPS, SELECTION_MODES, validateSpec } from "../src/spec";

const web = resolve(fileURLToPath(import.meta.url), "../..");
const documentPath = resolve(web, "../schemas/openapi.json");
const generator = join(web, "scripts/gen-spec.mjs");
const documentText = readFileSync(documentPath, "utf8");
const document = JSON.parse(documentText);
const schema = document.components.schemas.ExtractionSpec;

/** Runs the generator's check on `doc`: its exit status and what it said. */
function check(doc: unknown): { status: number; output: string } {
  const dir = mkdtempSync(join(tmpdir(), "fiapx-spec-"));
  try {
    const path = join(dir, "openapi.json");
    writeFileSync(path, JSON.stringify(doc));
    execFileSync(process.execPath, [generator, "--check", "--openapi", path], { stdio: "pipe" });
    return { status: 0, output: "" };
  } catch (error) {
    const failed = error as { status: number; stderr: Buffer };
    return { status: failed.status, output: String(failed.stderr) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("the generated spec rules", () => {
  it("are current: the committed src/api/spec-schema.ts is the generator's output for the document", () => {
    expect(check(document)).toEqual({ status: 0, output: "" });
  });

  it("go stale when the document changes", () => {
    const changed = structuredClone(document);
    changed.components.schemas.ExtractionSpec.properties.count.maximum = 50000;
    const result = check(changed);
    expect(result.status).toBe(1);
    expect(result.output).toMatch(/spec-schema\.ts is stale/);
  });

  it("fail loudly when a rule is no longer in the document", () => {
    const changed = structuredClone(document);
    delete changed.components.schemas.ExtractionSpec.properties.max_width.minimum;
    const result = check(changed);
    expect(result.status).not.toBe(0);
    expect(result.output).toMatch(/max_width lacks a minimum or a maximum/);
  });

  it("are the document's modes, formats, defaults and limits", () => {
    expect(SELECTION_MODES).toEqual(["fps", "every", "count"]);
    expect(FORMATS).toEqual(document.components.schemas.FormatName.enum);
    for (const field of ["count", "quality", "max_width", "max_height"] as const) {
      expect(LIMITS[field]).toEqual({
        minimum: schema.properties[field].minimum,
        maximum: schema.properties[field].maximum,
      });
    }
    expect(schema.description).toContain(`at most ${MAX_FPS} frames per second`);
    expect(DEFAULT_SPEC).toEqual({ mode: "fps", value: "1", format: "png", quality: "85", maxWidth: "", maxHeight: "" });
  });

  it("are the ones the form applies: a document with other limits gives other answers", () => {
    // The bounds the document sets pass; one past them fails.
    const count = (n: number) => validateSpec({ ...DEFAULT_SPEC, mode: "count", value: String(n) });
    expect(count(schema.properties.count.maximum)).toEqual([]);
    expect(count(schema.properties.count.maximum + 1)).toEqual(["value"]);
    const width = (n: number) => validateSpec({ ...DEFAULT_SPEC, maxWidth: String(n) });
    expect(width(schema.properties.max_width.minimum)).toEqual([]);
    expect(width(schema.properties.max_width.minimum - 1)).toEqual(["maxWidth"]);
    const height = (n: number) => validateSpec({ ...DEFAULT_SPEC, maxHeight: String(n) });
    expect(height(schema.properties.max_height.minimum)).toEqual([]);
    expect(height(schema.properties.max_height.maximum)).toEqual([]);
    expect(height(schema.properties.max_height.minimum - 1)).toEqual(["maxHeight"]);
    expect(height(schema.properties.max_height.maximum + 1)).toEqual(["maxHeight"]);
  });
});
