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
  LIMITS,
  MAX_FPS,
  MODE_VALUES,
  SELECTION_MODES,
  type SpecForm,
  type SpecMode,
  type SpecProblem,
} from "./spec";

/** How each image format is shown (a format the API adds is a type error here until it has a name). */
const FORMAT_NAMES: Record<ImageFormat, string> = { png: "PNG", jpeg: "JPEG", webp: "WebP" };

/** The suffix of the input of each field the spec can have a problem with (its id is `<prefix>-<suffix>`). */
const FIELD_SUFFIXES: Record<SpecProblem, string> = {
  value: "value",
  quality: "quality",
  maxWidth: "max-width",
  maxHeight: "max-height",
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

/** What is wrong with the selection's value, with the API's limits for that mode. */
function valueProblem(t: Translate, mode: SpecMode): string {
  switch (mode) {
    case "fps":
      return t("upload.invalid.fps", { max: MAX_FPS });
    case "every":
      return t("upload.invalid.every", { maxFps: MAX_FPS });
    case "count":
      return t("upload.invalid.count", { min: LIMITS.count.minimum, max: LIMITS.count.maximum });
  }
}

type CheckedInputProps = Omit<JSX.InputHTMLAttributes<HTMLInputElement>, "value" | "onInput"> & {
  id: string;
  label: string;
  value: string;
  /** A whole number in this range (the spec's limit from the OpenAPI document). */
  range?: { minimum: number; maximum: number };
  /** Whether the value is wrong (then `error` is shown under it and announced with it). */
  invalid: boolean;
  error: string;
  onValue: (value: string) => void;
};

/** A labelled spec field that points at its own error message. */
function CheckedInput({ id, label, value, range, invalid, error, onValue, ...input }: CheckedInputProps) {
  const bounds = range ? { type: "number", min: range.minimum, max: range.maximum } : {};
  return (
    <div>
      <label for={id}>{label}</label>
      <input
        id={id}
        value={value}
        aria-invalid={invalid}
        aria-describedby={invalid ? `${id}-error` : undefined}
        onInput={(e) => onValue(e.currentTarget.value)}
        {...bounds}
        {...input}
      />
      {invalid && (
        <p id={`${id}-error`} class="field-error">
          {error}
        </p>
      )}
    </div>
  );
}

/**
 * The spec's fields in a fieldset: selection mode and its value, image format, JPEG quality (for JPEG only), and
 * maximum width and height. `problems` are the fields shown as wrong (the caller decides when to show them).
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

  return (
    <fieldset class="spec">
      <legend>{legend}</legend>
      <div class="spec-grid">
        <div>
          <label for={id("mode")}>{t("upload.mode")}</label>
          <select
            id={id("mode")}
            value={form.mode}
            onChange={(e) => {
              const mode = e.currentTarget.value as SpecMode;
              onChange((s) => ({ ...s, mode, value: MODE_VALUES[mode] }));
            }}
          >
            {SELECTION_MODES.map((mode) => (
              <option value={mode}>{t(`upload.mode.${mode}` as MessageKey)}</option>
            ))}
          </select>
        </div>
        <CheckedInput
          id={specFieldId(idPrefix, "value")}
          label={t(`upload.value.${form.mode}` as MessageKey)}
          inputMode="decimal"
          value={form.value}
          invalid={problem("value")}
          error={valueProblem(t, form.mode)}
          onValue={(value) => setField("value", value)}
        />
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
      </div>
    </fieldset>
  );
}
