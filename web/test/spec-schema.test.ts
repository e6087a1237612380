// @vitest-environment node
/// <reference types="node" />
// src/api/spec-schema.ts is what scripts/gen-spec.mjs makes of the OpenAPI document, and the form's rules are its.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { FLAG_MODES, MODE_FIELDS, STORYBOARD_FIELDS, STORYBOARD_SECONDS } from "../src/api/spec-schema";
import {
  DEFAULT_SPEC,
  FORMATS,
  LENGTHS,
  LIMITS,
  MAX_FPS,
  MODE_FIELD_DEFAULTS,
  POSITIONS,
  SCENE_THRESHOLD,
  SELECTION_MODES,
  validateSpec,
} from "../src/spec";

const web = resolve(fileURLToPath(import.meta.url), "../..");
const documentPath = resolve(web, "../schemas/openapi.json");
const generator = join(web, "scripts/gen-spec.mjs");
const documentText = readFileSync(documentPath, "utf8");
const document = JSON.parse(documentText);
const schema = document.components.schemas.ExtractionSpec;
/** The schema's description on one line, as the generator reads it. */
const prose = String(schema.description).replace(/\s+/g, " ");

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

  it("fail loudly when a rule of the new modes is no longer in the document's prose", () => {
    const changed = structuredClone(document);
    const spec = changed.components.schemas.ExtractionSpec;
    spec.description = spec.description.replace(/positions/, "places");
    expect(check(changed).output).toMatch(/cannot find the number of positions of `at`/);
    const renamed = structuredClone(document);
    renamed.components.schemas.ExtractionSpec.properties.min_gap.description = "With `scene`: the least seconds.";
    expect(check(renamed).output).toMatch(/cannot find the default min_gap/);
  });

  it("fail loudly when a rule of the storyboard is no longer in the document", () => {
    const unranged = structuredClone(document);
    unranged.components.schemas.ExtractionSpec.properties.storyboard.description = "Scrub previews every N seconds.";
    expect(check(unranged).output).toMatch(/cannot find the range of the storyboard interval/);
    const undefaulted = structuredClone(document);
    undefaulted.components.schemas.ExtractionSpec.properties.storyboard_rows.description = "With `storyboard`: rows.";
    expect(check(undefaulted).output).toMatch(/cannot find the default storyboard_rows/);
    const unbounded = structuredClone(document);
    unbounded.components.schemas.ExtractionSpec.properties.storyboard_width.default = 1000;
    expect(check(unbounded).output).toMatch(/the default storyboard_width 1000 is out of its range/);
    const gone = structuredClone(document);
    delete gone.components.schemas.ExtractionSpec.properties.storyboard;
    expect(check(gone).output).toMatch(/no `storyboard` field/);
  });

  it("are the storyboard's interval and the fields that go with it, from the document", () => {
    const properties = schema.properties;
    expect(String(properties.storyboard.description).replace(/\s+/g, " ")).toContain(
      `(${STORYBOARD_SECONDS.minimum} to ${STORYBOARD_SECONDS.maximum},`,
    );
    expect(Object.keys(STORYBOARD_FIELDS)).toEqual(["storyboard_width", "storyboard_columns", "storyboard_rows"]);
    for (const [field, value] of Object.entries(STORYBOARD_FIELDS)) {
      expect(properties[field].description).toMatch(/^With `storyboard`:/);
      expect(properties[field].description).toContain(`(default ${value})`);
      expect(LIMITS[field as keyof typeof STORYBOARD_FIELDS]).toEqual({
        minimum: properties[field].minimum,
        maximum: properties[field].maximum,
      });
    }
  });

  it("fail loudly when a rule is no longer in the document", () => {
    const changed = structuredClone(document);
    delete changed.components.schemas.ExtractionSpec.properties.max_width.minimum;
    const result = check(changed);
    expect(result.status).not.toBe(0);
    expect(result.output).toMatch(/max_width lacks a minimum or a maximum/);
  });

  it("are the document's modes, formats, defaults and limits", () => {
    expect(SELECTION_MODES).toEqual(["fps", "every", "count", "at", "scene", "keyframes"]);
    expect(FORMATS).toEqual(document.components.schemas.FormatName.enum);
    for (const field of ["count", "quality", "max_width", "max_height"] as const) {
      expect(LIMITS[field]).toEqual({
        minimum: schema.properties[field].minimum,
        maximum: schema.properties[field].maximum,
      });
    }
    expect(prose).toContain(`at most ${MAX_FPS} frames per second`);
    // The modes added beside the rates and the count: their limits, the field that goes with one, the flag.
    expect(prose).toContain(`\`at\` from ${POSITIONS.minimum} to ${POSITIONS.maximum} positions`);
    expect(prose).toContain(`\`scene\` above ${SCENE_THRESHOLD.above} and at most ${SCENE_THRESHOLD.maximum}`);
    expect(LENGTHS.at).toEqual({ minimum: schema.properties.at.minLength, maximum: schema.properties.at.maxLength });
    expect(MODE_FIELDS).toEqual({ scene: ["min_gap"] });
    expect(MODE_FIELD_DEFAULTS).toEqual({ min_gap: "0" });
    expect(FLAG_MODES).toEqual(["keyframes"]);
    expect(DEFAULT_SPEC).toEqual({
      mode: "fps",
      value: "1",
      minGap: "0",
      format: "png",
      quality: "85",
      maxWidth: "",
      maxHeight: "",
      storyboard: false,
      storyboardEvery: "10",
      storyboardWidth: "160",
      storyboardColumns: "5",
      storyboardRows: "5",
    });
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
