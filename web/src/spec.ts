// The extraction spec form and the query parameters POST /api/v1/videos takes for the raw-body upload.
// Defaults are the old monolith's: one PNG frame per second.

export type SpecMode = "fps" | "every" | "count";
export type ImageFormat = "png" | "jpeg" | "webp";

/** What the form holds (strings as typed). */
export interface SpecForm {
  mode: SpecMode;
  value: string;
  format: ImageFormat;
  quality: string;
  maxWidth: string;
}

export const DEFAULT_SPEC: SpecForm = { mode: "fps", value: "1", format: "png", quality: "85", maxWidth: "" };

/** Which field is wrong, for the form to point at it. */
export type SpecProblem = "value" | "quality" | "maxWidth";

const RATIONAL = /^(\d+(\.\d+)?)(\/(\d+))?$/;

function positiveRational(text: string): boolean {
  const match = RATIONAL.exec(text.trim());
  if (!match) return false;
  const numerator = Number(match[1]);
  const denominator = match[4] === undefined ? 1 : Number(match[4]);
  return numerator > 0 && denominator > 0;
}

function positiveInteger(text: string, max = 2 ** 32 - 1): boolean {
  if (!/^\d+$/.test(text.trim())) return false;
  const n = Number(text);
  return n >= 1 && n <= max;
}

/** The form's problems (empty when it can be sent). */
export function validateSpec(form: SpecForm): SpecProblem[] {
  const problems: SpecProblem[] = [];
  const valueOk = form.mode === "count" ? positiveInteger(form.value) : positiveRational(form.value);
  if (!valueOk) problems.push("value");
  if (form.format === "jpeg" && !positiveInteger(form.quality, 100)) problems.push("quality");
  if (form.maxWidth.trim() !== "" && !positiveInteger(form.maxWidth)) problems.push("maxWidth");
  return problems;
}

/** The query parameters for a valid form (the server checks again and answers 400 `invalid_spec`). */
export function specQuery(form: SpecForm): URLSearchParams {
  const query = new URLSearchParams();
  query.set(form.mode, form.value.trim());
  query.set("format", form.format);
  if (form.format === "jpeg") query.set("quality", form.quality.trim());
  if (form.maxWidth.trim() !== "") query.set("max_width", form.maxWidth.trim());
  return query;
}

/** `num/den` as a short number (`1`, `0.5`, `30000/1001`). */
function rational(num: unknown, den: unknown): string {
  const n = Number(num);
  const d = Number(den ?? 1);
  if (!Number.isFinite(n) || !Number.isFinite(d) || d === 0) return "?";
  if (d === 1) return String(n);
  const value = n / d;
  return Number.isInteger(value * 1000) ? String(value) : `${n}/${d}`;
}

/**
 * A short description of a stored spec (a Video's `spec`: `{selection: {mode, num, den | count}, format: {type,
 * quality?}, max_width?, max_height?}`, the persisted form), e.g. `1 fps · png`.
 */
export function describeSpec(spec: unknown): string {
  if (!spec || typeof spec !== "object") return "";
  const s = spec as Record<string, unknown>;
  const parts: string[] = [];
  const selection = (s.selection ?? {}) as Record<string, unknown>;
  if (selection.mode === "fps") parts.push(`${rational(selection.num, selection.den)} fps`);
  if (selection.mode === "every") parts.push(`1 / ${rational(selection.num, selection.den)} s`);
  if (selection.mode === "count") parts.push(`${String(selection.count)} ×`);
  const format = (s.format ?? {}) as Record<string, unknown>;
  const type = typeof format.type === "string" ? format.type : "png";
  parts.push(format.quality !== undefined ? `${type} q${String(format.quality)}` : type);
  if (s.max_width !== undefined) parts.push(`≤ ${String(s.max_width)} px`);
  if (s.max_height !== undefined) parts.push(`≤ ${String(s.max_height)} px ↕`);
  return parts.join(" · ");
}
