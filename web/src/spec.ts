// The extraction spec form: what it holds, its validation, and the spec it sends (a JSON ExtractionSpec: in the
// upload's Upload-Metadata, or the body of a reprocess), and the short description of a video's spec, and the form
// for a video's spec (reprocessing starts from it). The rules (fields, selection modes, formats, defaults, ranges, patterns, the highest rate) are
// not written here: they come from api/spec-schema.ts, generated from the OpenAPI document (scripts/gen-spec.mjs),
// and the spec's type from api/schema.d.ts. The server checks again (400 `invalid_spec`).
import type { components } from "./api/schema";
import {
  DEFAULT_FORMAT,
  DEFAULT_QUALITY,
  DEFAULT_SELECTION,
  FORMATS,
  LIMITS,
  MAX_FPS,
  PATTERNS,
  SELECTION_MODES,
} from "./api/spec-schema";

export { FORMATS, LIMITS, MAX_FPS, SELECTION_MODES };

/** A spec as the API takes it and returns it (a Video's `spec`). */
export type ExtractionSpec = components["schemas"]["ExtractionSpec"];
export type SpecMode = (typeof SELECTION_MODES)[number];
export type ImageFormat = (typeof FORMATS)[number];

/** What the form holds (strings as typed). */
export interface SpecForm {
  mode: SpecMode;
  value: string;
  format: ImageFormat;
  quality: string;
  maxWidth: string;
  maxHeight: string;
}

/** The API's defaults: what a spec without any field extracts. */
export const DEFAULT_SPEC: SpecForm = {
  mode: DEFAULT_SELECTION.mode,
  value: DEFAULT_SELECTION.value,
  format: DEFAULT_FORMAT,
  quality: String(DEFAULT_QUALITY),
  maxWidth: "",
  maxHeight: "",
};

/** The value the form offers when the user picks a mode. */
export const MODE_VALUES: Record<SpecMode, string> = {
  ...{ fps: "1", every: "2", count: "10" },
  [DEFAULT_SELECTION.mode]: DEFAULT_SELECTION.value,
};

/** Which field is wrong, for the form to point at it. */
export type SpecProblem = "value" | "quality" | "maxWidth" | "maxHeight";

/** The largest numerator or denominator the API's rationals hold (u32). */
const U32_MAX = 2 ** 32 - 1;

interface Ratio {
  num: number;
  den: number;
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/** `"2"`, `"0.5"`, `".25"`, `"30000/1001"` as the server reads them (decimals exact and reduced), or null. */
function parseRational(text: string, pattern: RegExp): Ratio | null {
  if (!pattern.test(text)) return null;
  const s = text.trim();
  let num: number;
  let den: number;
  const slash = s.indexOf("/");
  if (slash >= 0) {
    num = Number(s.slice(0, slash).trim());
    den = Number(s.slice(slash + 1).trim());
  } else {
    const [whole = "", fraction = ""] = s.split(".");
    const wholeValue = whole === "" ? 0 : Number(whole);
    if (wholeValue > U32_MAX) return null;
    den = 10 ** fraction.length;
    num = wholeValue * den + (fraction === "" ? 0 : Number(fraction));
    const divisor = gcd(num, den) || 1;
    num /= divisor;
    den /= divisor;
  }
  if (!(num <= U32_MAX && den <= U32_MAX)) return null;
  return { num, den };
}

/** A whole number within `range` (bounds included), or null. */
function integerIn(text: string, range: { minimum: number; maximum: number }): number | null {
  const s = text.trim();
  if (!/^\d+$/.test(s)) return null;
  const n = Number(s);
  return n >= range.minimum && n <= range.maximum ? n : null;
}

/** Whether the selection's value is one the API accepts: positive, and at most MAX_FPS frames per second. */
function selectionOk(mode: SpecMode, value: string): boolean {
  switch (mode) {
    case "fps": {
      const r = parseRational(value, PATTERNS.fps);
      return r !== null && r.num > 0 && r.den > 0 && r.num <= r.den * MAX_FPS;
    }
    case "every": {
      // One frame every num/den seconds is den/num frames per second.
      const r = parseRational(value, PATTERNS.every);
      return r !== null && r.num > 0 && r.den > 0 && r.den <= r.num * MAX_FPS;
    }
    case "count":
      return integerIn(value, LIMITS.count) !== null;
    default: {
      const unknown: never = mode;
      return unknown;
    }
  }
}

/** The form's whole-number fields (strings as typed) and the API's limits of each. */
export const BOUNDED = { quality: LIMITS.quality, maxWidth: LIMITS.max_width, maxHeight: LIMITS.max_height } as const;
export type BoundedField = keyof typeof BOUNDED;

/** The form's problems (empty when it can be sent). */
export function validateSpec(form: SpecForm): SpecProblem[] {
  const problems: SpecProblem[] = [];
  if (!selectionOk(form.mode, form.value)) problems.push("value");
  if (form.format === "jpeg" && integerIn(form.quality, BOUNDED.quality) === null) problems.push("quality");
  for (const size of ["maxWidth", "maxHeight"] as const) {
    if (form[size].trim() !== "" && integerIn(form[size], BOUNDED[size]) === null) problems.push(size);
  }
  return problems;
}

/**
 * The spec of a valid form: the selection, the format, the quality only for JPEG, `max_width` and `max_height`
 * only when set.
 */
export function toSpec(form: SpecForm): ExtractionSpec {
  const value = form.value.trim();
  const spec: ExtractionSpec = form.mode === "count" ? { count: Number(value) } : { [form.mode]: value };
  spec.format = form.format;
  if (form.format === "jpeg") spec.quality = Number(form.quality.trim());
  if (form.maxWidth.trim() !== "") spec.max_width = Number(form.maxWidth.trim());
  if (form.maxHeight.trim() !== "") spec.max_height = Number(form.maxHeight.trim());
  return spec;
}

/**
 * The form holding a spec (a video's `spec`), so that sending it unchanged asks for the same extraction: the API's
 * defaults for what the spec leaves out.
 */
export function fromSpec(spec: ExtractionSpec | null | undefined): SpecForm {
  if (!spec || typeof spec !== "object") return DEFAULT_SPEC;
  const mode = SELECTION_MODES.find((m) => spec[m] !== undefined);
  const format = FORMATS.find((f) => f === spec.format) ?? DEFAULT_FORMAT;
  return {
    mode: mode ?? DEFAULT_SPEC.mode,
    value: mode ? String(spec[mode]) : DEFAULT_SPEC.value,
    format,
    quality: String(spec.quality ?? DEFAULT_QUALITY),
    maxWidth: spec.max_width !== undefined ? String(spec.max_width) : "",
    maxHeight: spec.max_height !== undefined ? String(spec.max_height) : "",
  };
}

/** A rational as a short number: `1`, `0.5`, `2.5`, `30000/1001`. */
function shortRational(text: string): string {
  const match = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  if (!match) return text.trim();
  const n = Number(match[1]);
  const d = Number(match[2]);
  if (d === 0) return "?";
  if (d === 1) return String(n);
  const value = n / d;
  return Number.isInteger(value * 1000) ? String(value) : `${n}/${d}`;
}

/** A short description of a spec (a Video's `spec`), e.g. `1 fps · png`, `1 / 2.5 s · jpeg q80 · ≤ 320 px`. */
export function describeSpec(spec: ExtractionSpec | null | undefined): string {
  if (!spec || typeof spec !== "object") return "";
  const parts: string[] = [];
  if (spec.fps !== undefined) parts.push(`${shortRational(spec.fps)} fps`);
  if (spec.every !== undefined) parts.push(`1 / ${shortRational(spec.every)} s`);
  if (spec.count !== undefined) parts.push(`${String(spec.count)} ×`);
  const format = spec.format ?? DEFAULT_FORMAT;
  parts.push(spec.quality !== undefined ? `${format} q${String(spec.quality)}` : format);
  if (spec.max_width !== undefined) parts.push(`≤ ${String(spec.max_width)} px`);
  if (spec.max_height !== undefined) parts.push(`≤ ${String(spec.max_height)} px ↕`);
  return parts.join(" · ");
}
