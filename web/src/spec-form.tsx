// The extraction spec form, the one home of its fields: the upload screen's (the spec of the files added next) and
// the video page's (the spec of a new run, from the video's own). What it holds, its rules and the spec it sends are
// in spec.ts; this renders the fields, with their labels, the API's limits and the message of a wrong field.
import type { JSX } from "preact";
import { type MessageKey, type Translate, useI18n } from "./i18n";
import {
  BOUNDED,
  type BoundedField,
  FORMATS,
  type ImageFormat,
  LENGTHS,
  LIMITS,
  MAX_FPS,
  MODE_FIELD_DEFAULTS,
  MODE_VALUES,
  POSITIONS,
  SCENE_THRESHOLD,
  SELECTION_MODES,
  STORYBOARD_SECONDS,
  type SpecForm,
  type SpecMode,
  type SpecProblem,
  isFlagMode,
  positionsProblem,
} from "./spec";

/** How each image format is shown (a format the API adds is a type error here until it has a name). */
const FORMAT_NAMES: Record<ImageFormat, string> = { png: "PNG", jpeg: "JPEG", webp: "WebP" };

/** The suffix of the input of each field the spec can have a problem with (its id is `<prefix>-<suffix>`). */
const FIELD_SUFFIXES: Record<SpecProblem, string> = {
  value: "value",
  minGap: "min-gap",
  quality: "quality",
  maxWidth: "max-width",
  maxHeight: "max-height",
  storyboardEvery: "storyboard-every",
  storyboardWidth: "storyboard-width",
  storyboardColumns: "storyboard-columns",
  storyboardRows: "storyboard-rows",
};

/** The id of a field's input in the form whose ids start with `prefix`. */
export function specFieldId(prefix: string, field: SpecProblem): string {
  return `${prefix}-${FIELD_SUFFIXES[field]}`;
}

/**
 * Moves the focus to the first wrong field (after the render that shows its message), so that a screen reader says
 * what is wrong: its label, "invalid" and the message it is described by.
 */
export function focusFirstProblem(prefix: string, problems: SpecProblem[]): void {
  const first = specFieldId(prefix, problems[0] ?? "value");
  setTimeout(() => document.getElementById(first)?.focus());
}

/** What is wrong with the list of positions of `at`: which position, or how many there may be. */
function positionsMessage(t: Translate, value: string): string {
  const problem = positionsProblem(value);
  switch (problem?.kind) {
    case "long":
      return t("upload.invalid.at.long", { max: LENGTHS.at.maximum });
    case "empty":
      return t("upload.invalid.at.empty");
    case "position":
      return t("upload.invalid.at.position", { position: problem.position });
    default:
      return t("upload.invalid.at.count", { min: POSITIONS.minimum, max: POSITIONS.maximum });
  }
}

/** What is wrong with the selection's value, with the API's limits for that mode. */
function valueProblem(t: Translate, mode: SpecMode, value: string): string {
  switch (mode) {
    case "fps":
      return t("upload.invalid.fps", { max: MAX_FPS });
    case "every":
      return t("upload.invalid.every", { maxFps: MAX_FPS });
    case "count":
      return t("upload.invalid.count", { min: LIMITS.count.minimum, max: LIMITS.count.maximum });
    case "at":
      return positionsMessage(t, value);
    case "scene":
      return t("upload.invalid.scene", { above: SCENE_THRESHOLD.above, max: SCENE_THRESHOLD.maximum });
    case "keyframes":
      // Never wrong: it has no value.
      return "";
  }
}

/** The hint shown under a mode's value (or under the mode, for one without a value), if it has one. */
function modeHint(t: Translate, mode: SpecMode): string | undefined {
  switch (mode) {
    case "at":
      return t("upload.hint.at", { min: POSITIONS.minimum, max: POSITIONS.maximum });
    case "scene":
      return t("upload.hint.scene");
    case "keyframes":
      return t("upload.hint.keyframes");
    default:
      return undefined;
  }
}

type CheckedInputProps = Omit<JSX.InputHTMLAttributes<HTMLInputElement>, "value" | "onInput"> & {
  id: string;
  label: string;
  value: string;
  /** A whole number in this range (the spec's limit from the OpenAPI document). */
  range?: { minimum: number; maximum: number };
  /** How to write the value, shown under it and announced with it. */
  hint?: string | undefined;
  /** Whether the value is wrong (then `error` is shown under it and announced with it). */
  invalid: boolean;
  error: string;
  onValue: (value: string) => void;
};

/** A labelled spec field that points at its hint, if any, and its own error message. */
function CheckedInput({ id, label, value, range, hint, invalid, error, onValue, ...input }: CheckedInputProps) {
  const bounds = range ? { type: "number", min: range.minimum, max: range.maximum } : {};
  const described = [hint ? `${id}-hint` : "", invalid ? `${id}-error` : ""].filter(Boolean).join(" ");
  return (
    <div>
      <label for={id}>{label}</label>
      <input
        id={id}
        value={value}
        aria-invalid={invalid}
        aria-describedby={described || undefined}
        onInput={(e) => onValue(e.currentTarget.value)}
        {...bounds}
        {...input}
      />
      {hint && (
        <p id={`${id}-hint`} class="hint">
          {hint}
        </p>
      )}
      {invalid && (
        <p id={`${id}-error`} class="field-error">
          {error}
        </p>
      )}
    </div>
  );
}

/**
 * The spec's fields in a fieldset: selection mode and its value (none for `keyframes`; the positions of `at` with a
 * hint of their syntax; the threshold of `scene` and its least gap), image format, JPEG quality (for JPEG only),
 * maximum width and height, and the scrub previews (a checkbox; when checked, the seconds between previews, their
 * width, and the previews per row and rows of a sheet). `problems` are the fields shown as wrong (the caller decides
 * when to show them).
 */
export function SpecFields(props: {
  form: SpecForm;
  /** Takes an update of the form, as a state setter does. */
  onChange: (update: (form: SpecForm) => SpecForm) => void;
  problems: SpecProblem[];
  legend: string;
  /** The start of every input's id (`spec`: `spec-mode`, `spec-value`, ...). */
  idPrefix?: string;
}) {
  const { form, onChange, problems, legend, idPrefix = "spec" } = props;
  const { t } = useI18n();
  const id = (suffix: string) => `${idPrefix}-${suffix}`;
  const setField = <K extends keyof SpecForm>(name: K, value: SpecForm[K]) => onChange((s) => ({ ...s, [name]: value }));
  const problem = (name: SpecProblem) => problems.includes(name);
  const range = (limit: { minimum: number; maximum: number }) => ({ min: limit.minimum, max: limit.maximum });
  /** A whole-number field with the API's limits; its label and message are named after it. */
  const bounded = (field: BoundedField) => (
    <CheckedInput
      id={specFieldId(idPrefix, field)}
      label={t(`upload.${field}`, range(BOUNDED[field]))}
      range={BOUNDED[field]}
      value={form[field]}
      invalid={problem(field)}
      error={t(`upload.invalid.${field}`, range(BOUNDED[field]))}
      onValue={(value) => setField(field, value)}
    />
  );

  const flag = isFlagMode(form.mode);
  const hint = modeHint(t, form.mode);
  /** The placeholders of the value's label (only the scene threshold's has them). */
  const valueRange = { above: SCENE_THRESHOLD.above, max: SCENE_THRESHOLD.maximum };
  const storyboardRange = range(STORYBOARD_SECONDS);

  return (
    <fieldset class="spec">
      <legend>{legend}</legend>
      <div class="spec-grid">
        <div>
          <label for={id("mode")}>{t("upload.mode")}</label>
          <select
            id={id("mode")}
            value={form.mode}
            aria-describedby={flag && hint ? id("mode-hint") : undefined}
            onChange={(e) => {
              const mode = e.currentTarget.value as SpecMode;
              onChange((s) => ({ ...s, mode, value: MODE_VALUES[mode] }));
            }}
          >
            {SELECTION_MODES.map((mode) => (
              <option value={mode}>{t(`upload.mode.${mode}` as MessageKey)}</option>
            ))}
          </select>
          {/* A mode without a value (keyframes) says what it does under the choice itself. */}
          {flag && hint && (
            <p id={id("mode-hint")} class="hint">
              {hint}
            </p>
          )}
        </div>
        {!flag && (
          <CheckedInput
            id={specFieldId(idPrefix, "value")}
            label={t(`upload.value.${form.mode}` as MessageKey, valueRange)}
            {...(form.mode === "at" ? { spellcheck: false, autocomplete: "off" } : { inputMode: "decimal" })}
            value={form.value}
            hint={hint}
            invalid={problem("value")}
            error={valueProblem(t, form.mode, form.value)}
            onValue={(value) => setField("value", value)}
          />
        )}
        {form.mode === "scene" && (
          <CheckedInput
            id={specFieldId(idPrefix, "minGap")}
            label={t("upload.minGap", { default: MODE_FIELD_DEFAULTS.min_gap })}
            inputMode="decimal"
            value={form.minGap}
            invalid={problem("minGap")}
            error={t("upload.invalid.minGap")}
            onValue={(value) => setField("minGap", value)}
          />
        )}
        <div>
          <label for={id("format")}>{t("upload.format")}</label>
          <select
            id={id("format")}
            value={form.format}
            onChange={(e) => setField("format", e.currentTarget.value as ImageFormat)}
          >
            {FORMATS.map((format) => (
              <option value={format}>{FORMAT_NAMES[format]}</option>
            ))}
          </select>
        </div>
        {form.format === "jpeg" && bounded("quality")}
        {/* Width and height side by side, whether or not the quality field is shown. */}
        <div class="spec-grid spec-size">
          {bounded("maxWidth")}
          {bounded("maxHeight")}
        </div>
        {/* Scrub previews beside the frames: a choice, then (when chosen) their interval and size. */}
        <div class="spec-size">
          <div class="check">
            <input
              id={id("storyboard")}
              type="checkbox"
              checked={form.storyboard}
              aria-describedby={id("storyboard-hint")}
              onChange={(e) => setField("storyboard", e.currentTarget.checked)}
            />
            <label for={id("storyboard")}>{t("upload.storyboard")}</label>
          </div>
          <p id={id("storyboard-hint")} class="hint">
            {t("upload.hint.storyboard")}
          </p>
          {form.storyboard && (
            <div class="spec-grid">
              <CheckedInput
                id={specFieldId(idPrefix, "storyboardEvery")}
                label={t("upload.storyboardEvery", storyboardRange)}
                inputMode="decimal"
                value={form.storyboardEvery}
                invalid={problem("storyboardEvery")}
                error={t("upload.invalid.storyboardEvery", storyboardRange)}
                onValue={(value) => setField("storyboardEvery", value)}
              />
              {bounded("storyboardWidth")}
              {bounded("storyboardColumns")}
              {bounded("storyboardRows")}
            </div>
          )}
        </div>
      </div>
    </fieldset>
  );
}
