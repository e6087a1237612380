// Upload one or several files (picked or dropped), each with its own byte progress bar, and the extraction spec.
import type { JSX } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import type { Credentials } from "../api/client";
import { type Accepted, type UploadHandle, uploadVideo } from "../api/upload";
import { errorText } from "../errors";
import { type MessageKey, type Translate, useI18n } from "../i18n";
import {
  DEFAULT_SPEC,
  FORMATS,
  type ImageFormat,
  LIMITS,
  MAX_FPS,
  MODE_VALUES,
  SELECTION_MODES,
  type SpecForm,
  type SpecMode,
  type SpecProblem,
  specQuery,
  validateSpec,
} from "../spec";

type UploadState = "queued" | "sending" | "done" | "failed" | "cancelled";

interface Item {
  key: number;
  file: File;
  state: UploadState;
  loaded: number;
  total: number;
  error?: string;
  handle?: UploadHandle;
  videoId?: string;
  /** The spec as it was when the file was added. */
  query: URLSearchParams;
}

/** The input of each field the spec can have a problem with. */
const FIELD_IDS: Record<SpecProblem, string> = { value: "spec-value", quality: "spec-quality", maxWidth: "spec-max-width" };

/** How each image format is shown (a format the API adds is a type error here until it has a name). */
const FORMAT_NAMES: Record<ImageFormat, string> = { png: "PNG", jpeg: "JPEG", webp: "WebP" };

/** Uploads at once: two keep the link busy without starving the live-status streams of connections. */
const PARALLEL = 2;

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

export function UploadPanel(props: { credentials: Credentials; onUploaded(accepted: Accepted, file: File): void }) {
  const { credentials, onUploaded } = props;
  const { t } = useI18n();
  const [spec, setSpec] = useState<SpecForm>(DEFAULT_SPEC);
  const [items, setItems] = useState<Item[]>([]);
  const [dragging, setDragging] = useState(false);
  const [showProblems, setShowProblems] = useState(false);
  const nextKey = useRef(1);
  const itemsRef = useRef<Item[]>([]);
  const fileInput = useRef<HTMLInputElement>(null);
  itemsRef.current = items;

  const problems = validateSpec(spec);
  const patch = (key: number, change: Partial<Item>) =>
    setItems((all) => {
      const next = all.map((item) => (item.key === key ? { ...item, ...change } : item));
      itemsRef.current = next;
      return next;
    });

  const pump = () => {
    const all = itemsRef.current;
    const running = all.filter((item) => item.state === "sending").length;
    const waiting = all.filter((item) => item.state === "queued" && !item.handle);
    for (const item of waiting.slice(0, Math.max(0, PARALLEL - running))) start(item);
  };

  const start = (item: Item) => {
    const handle = uploadVideo(item.file, item.query, credentials, (loaded, total) => patch(item.key, { loaded, total }));
    patch(item.key, { state: "sending", handle });
    handle.done.then(
      (accepted) => {
        patch(item.key, { state: "done", videoId: accepted.id, loaded: item.file.size, total: item.file.size });
        onUploaded(accepted, item.file);
        pump();
      },
      (error: unknown) => {
        const cancelled = error instanceof Error && "code" in error && error.code === "aborted";
        patch(item.key, cancelled ? { state: "cancelled" } : { state: "failed", error: errorText(t, error) });
        pump();
      },
    );
  };

  const addFiles = (files: FileList | File[] | null) => {
    if (!files || files.length === 0) return;
    if (problems.length > 0) {
      setShowProblems(true);
      // Nothing else happens on screen: the first wrong field takes the focus, so that a screen reader says
      // what is wrong (its label, "invalid" and the message it is described by, rendered by then).
      const first = FIELD_IDS[problems[0] ?? "value"];
      setTimeout(() => document.getElementById(first)?.focus());
      return;
    }
    const query = specQuery(spec);
    const added = Array.from(files).map<Item>((file) => ({
      query,
      key: nextKey.current++,
      file,
      state: "queued",
      loaded: 0,
      total: file.size,
    }));
    itemsRef.current = [...itemsRef.current, ...added];
    setItems(itemsRef.current);
    pump();
  };

  // A drag carries files when its types list "Files" (text or a link dragged from the page does not).
  const carriesFiles = (event: DragEvent) => event.dataTransfer?.types.includes("Files") ?? false;
  // Both dragenter and dragover must be cancelled for the zone to be a drop target (HTML drag-and-drop model).
  const onDragOver = (event: DragEvent) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    if (event.dataTransfer) event.dataTransfer.dropEffect = "copy";
    setDragging(true);
  };
  // dragleave also fires when the pointer moves onto a child of the zone: only leaving the zone itself counts.
  const onDragLeave = (event: DragEvent) => {
    const zone = event.currentTarget as Node;
    if (!(event.relatedTarget instanceof Node && zone.contains(event.relatedTarget))) setDragging(false);
  };
  const onDrop = (event: DragEvent) => {
    event.preventDefault();
    setDragging(false);
    addFiles(event.dataTransfer?.files ?? null);
  };
  // A file dropped beside the zone would make the browser open it in place of the app, losing the uploads in
  // flight: outside the zone a file drag is refused (no drop cursor) and its drop ignored.
  useEffect(() => {
    const refuse = (event: DragEvent) => {
      if (event.defaultPrevented || !carriesFiles(event)) return;
      event.preventDefault();
      if (event.dataTransfer) event.dataTransfer.dropEffect = "none";
    };
    window.addEventListener("dragover", refuse);
    window.addEventListener("drop", refuse);
    return () => {
      window.removeEventListener("dragover", refuse);
      window.removeEventListener("drop", refuse);
    };
  }, []);

  const setField = <K extends keyof SpecForm>(name: K, value: SpecForm[K]) => setSpec((s) => ({ ...s, [name]: value }));
  const problem = (name: "value" | "quality" | "maxWidth") => showProblems && problems.includes(name);

  return (
    <section class="card" aria-labelledby="upload-title">
      <h2 id="upload-title">{t("upload.title")}</h2>
      <fieldset class="spec">
        <legend>{t("upload.spec")}</legend>
        <div class="spec-grid">
          <div>
            <label for="spec-mode">{t("upload.mode")}</label>
            <select
              id="spec-mode"
              value={spec.mode}
              onChange={(e) => {
                const mode = e.currentTarget.value as SpecMode;
                setSpec((s) => ({ ...s, mode, value: MODE_VALUES[mode] }));
              }}
            >
              {SELECTION_MODES.map((mode) => (
                <option value={mode}>{t(`upload.mode.${mode}` as MessageKey)}</option>
              ))}
            </select>
          </div>
          <CheckedInput
            id="spec-value"
            label={t(`upload.value.${spec.mode}` as MessageKey)}
            inputMode="decimal"
            value={spec.value}
            invalid={problem("value")}
            error={valueProblem(t, spec.mode)}
            onValue={(value) => setField("value", value)}
          />
          <div>
            <label for="spec-format">{t("upload.format")}</label>
            <select
              id="spec-format"
              value={spec.format}
              onChange={(e) => setField("format", e.currentTarget.value as ImageFormat)}
            >
              {FORMATS.map((format) => (
                <option value={format}>{FORMAT_NAMES[format]}</option>
              ))}
            </select>
          </div>
          {spec.format === "jpeg" && (
            <CheckedInput
              id="spec-quality"
              label={t("upload.quality", { min: LIMITS.quality.minimum, max: LIMITS.quality.maximum })}
              range={LIMITS.quality}
              value={spec.quality}
              invalid={problem("quality")}
              error={t("upload.invalid.quality", { min: LIMITS.quality.minimum, max: LIMITS.quality.maximum })}
              onValue={(value) => setField("quality", value)}
            />
          )}
          <CheckedInput
            id="spec-max-width"
            label={t("upload.maxWidth")}
            range={LIMITS.max_width}
            value={spec.maxWidth}
            invalid={problem("maxWidth")}
            error={t("upload.invalid.maxWidth", { min: LIMITS.max_width.minimum, max: LIMITS.max_width.maximum })}
            onValue={(value) => setField("maxWidth", value)}
          />
        </div>
      </fieldset>

      <div
        class={`dropzone${dragging ? " dragging" : ""}`}
        onDragEnter={onDragOver}
        onDragOver={onDragOver}
        onDragLeave={onDragLeave}
        onDrop={onDrop}
      >
        <p>{t("upload.drop")}</p>
        {/* The input comes first: its keyboard focus is drawn on the label after it (styles.css). */}
        <input
          id="upload-files"
          ref={fileInput}
          class="visually-hidden"
          type="file"
          multiple
          accept="video/*,.mkv,.avi,.ts,.flv,.ogv,.wmv"
          onChange={(e) => {
            addFiles(e.currentTarget.files);
            e.currentTarget.value = "";
          }}
        />
        <label class="button primary" for="upload-files">
          {t("upload.choose")}
        </label>
      </div>

      {items.length > 0 && (
        <>
          <h3 class="visually-hidden">{t("upload.files")}</h3>
          <ul class="uploads">
            {items.map((item) => (
              <UploadRow key={item.key} item={item} />
            ))}
          </ul>
          {items.some((item) => item.state !== "sending" && item.state !== "queued") && (
            <button
              type="button"
              class="link"
              onClick={() => setItems((all) => all.filter((i) => i.state === "sending" || i.state === "queued"))}
            >
              {t("upload.clear")}
            </button>
          )}
        </>
      )}
    </section>
  );
}

function UploadRow({ item }: { item: Item }) {
  const { t, formatBytes } = useI18n();
  const percent = item.total > 0 ? Math.round((100 * item.loaded) / item.total) : 0;
  const text =
    item.state === "queued"
      ? t("upload.queued")
      : item.state === "sending"
        ? t("upload.sending", { percent })
        : item.state === "done"
          ? t("upload.done")
          : item.state === "cancelled"
            ? t("upload.cancelled")
            : t("upload.failed", { message: item.error ?? "" });
  const id = `upload-${item.key}`;
  return (
    <li class={`upload upload-${item.state}`} data-file={item.file.name}>
      <div class="upload-head">
        <span class="upload-name" id={`${id}-name`}>
          {item.file.name}
        </span>
        <span class="muted">{formatBytes(item.file.size)}</span>
      </div>
      <progress
        max={100}
        value={percent}
        aria-labelledby={`${id}-name`}
        aria-valuetext={`${percent}%`}
        class="upload-progress"
      />
      <div class="upload-foot">
        <span class="upload-state" role={item.state === "failed" ? "alert" : "status"}>
          {text}
        </span>
        {(item.state === "sending" || item.state === "queued") && item.handle && (
          <button type="button" class="link" onClick={() => item.handle?.abort()}>
            {t("upload.cancel")}
          </button>
        )}
      </div>
    </li>
  );
}
