// The extraction spec form: what it holds, its validation, and the spec it sends (a JSON ExtractionSpec: in the
// upload's Upload-Metadata, or the body of a reprocess), and the short description of a video's spec, and the form
// for a video's spec (reprocessing starts from it). The rules (fields, selection modes, formats, defaults, ranges,
// patterns, the highest rate, the number of positions, the scene threshold's range, the storyboard's interval and its
// fields' defaults) are not written here: they come
// from api/spec-schema.ts, generated from the OpenAPI document (scripts/gen-spec.mjs), and the spec's type from
// api/schema.d.ts. Only the syntax of a position of `at` is the server's own, mirrored here. The server checks again
// (400 `invalid_spec`).
import type { components } from "./api/schema";
import {
  DEFAULT_FORMAT,
  DEFAULT_QUALITY,
  DEFAULT_SELECTION,
  FLAG_MODES,
  FORMATS,
  LENGTHS,
  LIMITS,
  MAX_FPS,
  MODE_FIELD_DEFAULTS,
  PATTERNS,
  POSITIONS,
  SCENE_THRESHOLD,
  SELECTION_MODES,
  STORYBOARD_FIELDS,
  STORYBOARD_SECONDS,
} from "./api/spec-schema";
import type { Translate } from "./i18n";

export {
  FORMATS,
  LENGTHS,
  LIMITS,
  MAX_FPS,
  MODE_FIELD_DEFAULTS,
  POSITIONS,
  SCENE_THRESHOLD,
  SELECTION_MODES,
  STORYBOARD_FIELDS,
  STORYBOARD_SECONDS,
};

/** A spec as the API takes it and returns it (a Video's `spec`). */
export type ExtractionSpec = components["schemas"]["ExtractionSpec"];
export type SpecMode = (typeof SELECTION_MODES)[number];
export type ImageFormat = (typeof FORMATS)[number];

/** What the form holds (strings as typed). */
export interface SpecForm {
  mode: SpecMode;
  /** The mode's value (a flag mode, `keyframes`, has none: its value is left alone). */
  value: string;
  /** With `scene`: the least seconds between two frames kept (empty: the API's default). */
  minGap: string;
  format: ImageFormat;
  quality: string;
  maxWidth: string;
  maxHeight: string;
  /** Whether to make scrub previews (a storyboard) beside the frames; the fields below are sent only then. */
  storyboard: boolean;
  /** The seconds between two previews (`storyboard`). */
  storyboardEvery: string;
  /** A preview's width in pixels, previews per row and rows of a sheet (the API's defaults unless changed). */
  storyboardWidth: string;
  storyboardColumns: string;
  storyboardRows: string;
}

/** The interval the form offers when the user asks for scrub previews (a choice of the form, not a rule). */
export const STORYBOARD_EVERY = "10";

/** The API's defaults: what a spec without any field extracts. */
export const DEFAULT_SPEC: SpecForm = {
  mode: DEFAULT_SELECTION.mode,
  value: DEFAULT_SELECTION.value,
  minGap: MODE_FIELD_DEFAULTS.min_gap,
  format: DEFAULT_FORMAT,
  quality: String(DEFAULT_QUALITY),
  maxWidth: "",
  maxHeight: "",
  storyboard: false,
  storyboardEvery: STORYBOARD_EVERY,
  storyboardWidth: String(STORYBOARD_FIELDS.storyboard_width),
  storyboardColumns: String(STORYBOARD_FIELDS.storyboard_columns),
  storyboardRows: String(STORYBOARD_FIELDS.storyboard_rows),
};

/** The value the form offers when the user picks a mode. */
export const MODE_VALUES: Record<SpecMode, string> = {
  ...{ fps: "1", every: "2", count: "10", at: "first, 50%, last", scene: "0.3", keyframes: "" },
  [DEFAULT_SELECTION.mode]: DEFAULT_SELECTION.value,
};

/** Whether a mode is a flag (`keyframes: true`), with no value to type. */
export function isFlagMode(mode: SpecMode): boolean {
  return (FLAG_MODES as readonly SpecMode[]).includes(mode);
}

/** Which field is wrong, for the form to point at it. */
export type SpecProblem =
  | "value"
  | "minGap"
  | "quality"
  | "maxWidth"
  | "maxHeight"
  | "storyboardEvery"
  | "storyboardWidth"
  | "storyboardColumns"
  | "storyboardRows";

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

/** The most whole seconds a position's time may reach (the server counts microseconds in 64 bits). */
const MAX_POSITION_SECONDS = Math.floor(2 ** 64 / 1e6) - 1;

/** `[[H:]M:]S[.ffffff]`: seconds, optionally behind minutes and hours. */
const TIME = /^(?:(?:(\d+):)?(\d+):)?(\d+)(?:\.(\d{1,6}))?$/;

/**
 * Whether `text` is a position as the server reads it: `first`, `last`, a time (seconds `12.5`, `1:05`,
 * `01:02:03.250`: minutes and seconds under 60 behind a larger unit, at most six decimals) or a share of the
 * duration from 0% to 100% (`10%`, `12.5%`, a rational as the API writes them).
 */
function positionOk(text: string): boolean {
  const s = text.trim();
  if (s === "first" || s === "last") return true;
  if (s.endsWith("%")) {
    // The share is a rational as every rational field writes it (`PATTERNS.fps` is that pattern).
    const share = parseRational(s.slice(0, -1), PATTERNS.fps);
    return share !== null && share.den > 0 && share.num <= share.den * 100;
  }
  const time = TIME.exec(s);
  if (!time) return false;
  const [, hours, minutes, seconds] = time;
  if (minutes !== undefined && Number(seconds) >= 60) return false;
  if (hours !== undefined && Number(minutes) >= 60) return false;
  return Number(hours ?? 0) * 3600 + Number(minutes ?? 0) * 60 + Number(seconds) <= MAX_POSITION_SECONDS;
}

/**
 * What is wrong with a list of positions (the value of `at`), for the form's message: too few or too many
 * positions (`count`), too long a text (`long`), an empty item (`empty`: a comma too many) or the first item that is
 * not a position (`position`, as typed).
 */
export type PositionsProblem =
  | { kind: "count" }
  | { kind: "long" }
  | { kind: "empty" }
  | { kind: "position"; position: string };

/** The problem of a list of positions separated by commas, or null when the API takes it. */
export function positionsProblem(text: string): PositionsProblem | null {
  if (text.trim() === "") return { kind: "count" };
  if (text.length > LENGTHS.at.maximum) return { kind: "long" };
  const items = text.split(",");
  for (const item of items) {
    if (item.trim() === "") return { kind: "empty" };
    if (!positionOk(item)) return { kind: "position", position: item.trim() };
  }
  return items.length >= POSITIONS.minimum && items.length <= POSITIONS.maximum ? null : { kind: "count" };
}

/**
 * Whether the selection's value is one the API accepts: a rate positive and at most MAX_FPS frames per second, a
 * count, positions or a scene threshold within their ranges; a flag mode has no value to be wrong.
 */
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
    case "at":
      return positionsProblem(value) === null;
    case "scene": {
      // Above SCENE_THRESHOLD.above and at most its maximum, compared exactly.
      const r = parseRational(value, PATTERNS.scene);
      return (
        r !== null && r.den > 0 && r.num > r.den * SCENE_THRESHOLD.above && r.num <= r.den * SCENE_THRESHOLD.maximum
      );
    }
    case "keyframes":
      return true;
    default: {
      const unknown: never = mode;
      return unknown;
    }
  }
}

/** The form's whole-number fields (strings as typed) and the API's limits of each. */
export const BOUNDED = {
  quality: LIMITS.quality,
  maxWidth: LIMITS.max_width,
  maxHeight: LIMITS.max_height,
  storyboardWidth: LIMITS.storyboard_width,
  storyboardColumns: LIMITS.storyboard_columns,
  storyboardRows: LIMITS.storyboard_rows,
} as const;
export type BoundedField = keyof typeof BOUNDED;

/** The storyboard's whole-number fields in the form, each with its field of the spec. */
const STORYBOARD_SIZES = {
  storyboardWidth: "storyboard_width",
  storyboardColumns: "storyboard_columns",
  storyboardRows: "storyboard_rows",
} as const satisfies Record<string, keyof typeof STORYBOARD_FIELDS>;

/**
 * Whether the storyboard's interval is one the API accepts: from STORYBOARD_SECONDS.minimum to its maximum seconds,
 * compared exactly (a rational, as `every` is written).
 */
function storyboardEveryOk(value: string): boolean {
  const r = parseRational(value, PATTERNS.storyboard);
  return (
    r !== null &&
    r.num > 0 &&
    r.den > 0 &&
    r.num >= r.den * STORYBOARD_SECONDS.minimum &&
    r.num <= r.den * STORYBOARD_SECONDS.maximum
  );
}

/** Whether the least gap of `scene` is one the API accepts: empty (its default), or zero or more seconds. */
function minGapOk(value: string): boolean {
  if (value.trim() === "") return true;
  const r = parseRational(value, PATTERNS.min_gap);
  return r !== null && r.den > 0;
}

/** The form's problems (empty when it can be sent). */
export function validateSpec(form: SpecForm): SpecProblem[] {
  const problems: SpecProblem[] = [];
  if (!selectionOk(form.mode, form.value)) problems.push("value");
  if (form.mode === "scene" && !minGapOk(form.minGap)) problems.push("minGap");
  if (form.format === "jpeg" && integerIn(form.quality, BOUNDED.quality) === null) problems.push("quality");
  for (const size of ["maxWidth", "maxHeight"] as const) {
    if (form[size].trim() !== "" && integerIn(form[size], BOUNDED[size]) === null) problems.push(size);
  }
  if (form.storyboard) {
    if (!storyboardEveryOk(form.storyboardEvery)) problems.push("storyboardEvery");
    for (const size of Object.keys(STORYBOARD_SIZES) as (keyof typeof STORYBOARD_SIZES)[]) {
      if (integerIn(form[size], BOUNDED[size]) === null) problems.push(size);
    }
  }
  return problems;
}

/** The selection of a valid form: the chosen mode's field (and `min_gap` with `scene` when set), nothing else. */
function selectionOf(form: SpecForm): ExtractionSpec {
  const value = form.value.trim();
  switch (form.mode) {
    case "fps":
    case "every":
    case "at":
      return { [form.mode]: value };
    case "count":
      return { count: Number(value) };
    case "scene":
      return form.minGap.trim() === "" ? { scene: value } : { scene: value, min_gap: form.minGap.trim() };
    case "keyframes":
      return { keyframes: true };
    default: {
      const unknown: never = form.mode;
      return unknown;
    }
  }
}

/**
 * The spec of a valid form: the selection, the format, the quality only for JPEG, `max_width` and `max_height`
 * only when set, and the storyboard's four fields only when scrub previews are asked for (all four then, as a
 * video's `spec` has them).
 */
export function toSpec(form: SpecForm): ExtractionSpec {
  const spec = selectionOf(form);
  spec.format = form.format;
  if (form.format === "jpeg") spec.quality = Number(form.quality.trim());
  if (form.maxWidth.trim() !== "") spec.max_width = Number(form.maxWidth.trim());
  if (form.maxHeight.trim() !== "") spec.max_height = Number(form.maxHeight.trim());
  if (form.storyboard) {
    spec.storyboard = form.storyboardEvery.trim();
    for (const size of Object.keys(STORYBOARD_SIZES) as (keyof typeof STORYBOARD_SIZES)[]) {
      spec[STORYBOARD_SIZES[size]] = Number(form[size].trim());
    }
  }
  return spec;
}

/**
 * The form holding a spec (a video's `spec`), so that sending it unchanged asks for the same extraction: the API's
 * defaults for what the spec leaves out.
 */
export function fromSpec(spec: ExtractionSpec | null | undefined): SpecForm {
  if (!spec || typeof spec !== "object") return DEFAULT_SPEC;
  // `keyframes: false` is no selection, as for the API.
  const mode = SELECTION_MODES.find((m) => spec[m] !== undefined && spec[m] !== false);
  const format = FORMATS.find((f) => f === spec.format) ?? DEFAULT_FORMAT;
  return {
    mode: mode ?? DEFAULT_SPEC.mode,
    value: mode === undefined ? DEFAULT_SPEC.value : isFlagMode(mode) ? MODE_VALUES[mode] : String(spec[mode]),
    minGap: spec.min_gap ?? DEFAULT_SPEC.minGap,
    format,
    quality: String(spec.quality ?? DEFAULT_QUALITY),
    maxWidth: spec.max_width !== undefined ? String(spec.max_width) : "",
    maxHeight: spec.max_height !== undefined ? String(spec.max_height) : "",
    storyboard: spec.storyboard !== undefined,
    storyboardEvery: spec.storyboard ?? DEFAULT_SPEC.storyboardEvery,
    storyboardWidth: String(spec.storyboard_width ?? DEFAULT_SPEC.storyboardWidth),
    storyboardColumns: String(spec.storyboard_columns ?? DEFAULT_SPEC.storyboardColumns),
    storyboardRows: String(spec.storyboard_rows ?? DEFAULT_SPEC.storyboardRows),
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

/** The most positions a description lists; a longer list shows its first ones and its length. */
const DESCRIBED_POSITIONS = 6;

/** The positions of `at` in words: `first, 00:00:02.500, 50%`, and how many when there are too many to list. */
function describePositions(at: string, t: Translate): string {
  const words = at.split(",").map((item) => {
    const position = item.trim();
    return position === "first" ? t("spec.first") : position === "last" ? t("spec.last") : position;
  });
  if (words.length <= DESCRIBED_POSITIONS) return t("spec.at", { positions: words.join(", ") });
  return t("spec.atMany", { positions: words.slice(0, DESCRIBED_POSITIONS - 1).join(", "), count: words.length });
}

/** The scene threshold and the least gap in words: `scene changes > 0.3 (≥ 2 s apart)`, no gap when it is 0. */
function describeScene(scene: string, minGap: string | undefined, t: Translate): string {
  const gap = minGap === undefined ? null : parseRational(minGap, PATTERNS.min_gap);
  const threshold = shortRational(scene);
  return gap === null || gap.num === 0
    ? t("spec.scene", { threshold })
    : t("spec.sceneGap", { threshold, gap: shortRational(minGap ?? "") });
}

/**
 * A short description of a spec (a Video's `spec`) in the language of `t`, e.g. `1 fps · png`,
 * `1 / 2.5 s · jpeg q80 · ≤ 320 px`, `frames at first, 00:00:02.500, 50% · png`, `keyframes · webp`,
 * `1 fps · png · scrub previews every 10 s`.
 */
export function describeSpec(spec: ExtractionSpec | null | undefined, t: Translate): string {
  if (!spec || typeof spec !== "object") return "";
  const parts: string[] = [];
  if (spec.fps !== undefined) parts.push(`${shortRational(spec.fps)} fps`);
  if (spec.every !== undefined) parts.push(`1 / ${shortRational(spec.every)} s`);
  if (spec.count !== undefined) parts.push(`${String(spec.count)} ×`);
  if (spec.at !== undefined) parts.push(describePositions(spec.at, t));
  if (spec.scene !== undefined) parts.push(describeScene(spec.scene, spec.min_gap, t));
  if (spec.keyframes === true) parts.push(t("spec.keyframes"));
  const format = spec.format ?? DEFAULT_FORMAT;
  parts.push(spec.quality !== undefined ? `${format} q${String(spec.quality)}` : format);
  if (spec.max_width !== undefined) parts.push(`≤ ${String(spec.max_width)} px`);
  if (spec.max_height !== undefined) parts.push(`≤ ${String(spec.max_height)} px ↕`);
  if (spec.storyboard !== undefined) parts.push(t("spec.storyboard", { every: shortRational(spec.storyboard) }));
  return parts.join(" · ");
}
