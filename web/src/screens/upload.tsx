// Upload one or several files (picked or dropped), each with its own byte progress bar, and the extraction spec.
// Uploads are resumable (api/upload.ts): a file chosen again after a reload continues where it broke off, and its
// row says from where.
import { useEffect, useRef, useState } from "preact/hooks";
import type { Credentials } from "../api/client";
import { type Accepted, type RetryWait, type UploadHandle, uploadVideo } from "../api/upload";
import { errorText } from "../errors";
import { type Translate, useI18n } from "../i18n";
import { DEFAULT_SPEC, type ExtractionSpec, type SpecForm, toSpec, validateSpec } from "../spec";
import { SpecFields, focusFirstProblem } from "../spec-form";

/** `waiting`: refused with a 429, sent again by itself after the server's Retry-After. */
type UploadState = "queued" | "sending" | "waiting" | "done" | "failed" | "cancelled";

interface Item {
  key: number;
  file: File;
  state: UploadState;
  loaded: number;
  total: number;
  error?: string;
  /** The 429 being waited out (state `waiting`). */
  wait?: RetryWait;
  handle?: UploadHandle;
  videoId?: string;
  /** The spec as it was when the file was added. */
  spec: ExtractionSpec;
  /** The percent an earlier try of this file had sent, when it was continued from there. */
  resumedFrom?: number;
}

/** Uploads at once: two keep the link busy without starving the live-status streams of connections. */
const PARALLEL = 2;

/** Whether an upload still holds one of the PARALLEL places (one waiting out a 429 keeps its place). */
const active = (item: Item) => item.state === "sending" || item.state === "waiting";

export function UploadPanel(props: {
  credentials: Credentials;
  /** The signed-in user's id: only their own unfinished uploads are continued. */
  owner?: string;
  onUploaded(accepted: Accepted, file: File): void;
}) {
  const { credentials, owner, onUploaded } = props;
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
    const running = all.filter(active).length;
    const waiting = all.filter((item) => item.state === "queued" && !item.handle);
    for (const item of waiting.slice(0, Math.max(0, PARALLEL - running))) start(item);
  };

  const start = (item: Item) => {
    const handle = uploadVideo(
      item.file,
      item.spec,
      credentials,
      // Progress also means the file is on its way again after a wait.
      (loaded, total) => patch(item.key, { loaded, total, state: "sending", wait: undefined }),
      {
        owner,
        onRetry: (wait) => patch(item.key, { state: "waiting", wait }),
        onResume: (offset, total) => patch(item.key, { loaded: offset, total, resumedFrom: percentOf(offset, total) }),
      },
    );
    patch(item.key, { state: "sending", handle });
    handle.done.then(
      (accepted) => {
        patch(item.key, { state: "done", videoId: accepted.id, loaded: item.file.size, total: item.file.size });
        onUploaded(accepted, item.file);
        pump();
      },
      (error: unknown) => {
        const cancelled = error instanceof Error && "code" in error && error.code === "aborted";
        patch(
          item.key,
          cancelled ? { state: "cancelled", wait: undefined } : { state: "failed", wait: undefined, error: errorText(t, error) },
        );
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
      focusFirstProblem("spec", problems);
      return;
    }
    const chosen = toSpec(spec);
    const added = Array.from(files).map<Item>((file) => ({
      spec: chosen,
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

  return (
    <section class="card" aria-labelledby="upload-title">
      <h2 id="upload-title">{t("upload.title")}</h2>
      <SpecFields form={spec} onChange={setSpec} problems={showProblems ? problems : []} legend={t("upload.spec")} />

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
          {items.some((item) => !active(item) && item.state !== "queued") && (
            <button
              type="button"
              class="link"
              onClick={() => setItems((all) => all.filter((i) => active(i) || i.state === "queued"))}
            >
              {t("upload.clear")}
            </button>
          )}
        </>
      )}
    </section>
  );
}

/** `part` of `total` as a whole percent (0 when there is no total). */
const percentOf = (part: number, total: number) => (total > 0 ? Math.round((100 * part) / total) : 0);

/** What a row says about its upload. */
function stateText(t: Translate, item: Item, percent: number): string {
  switch (item.state) {
    case "queued":
      return t("upload.queued");
    case "sending":
      return item.resumedFrom !== undefined
        ? t("upload.resuming", { from: item.resumedFrom, percent })
        : t("upload.sending", { percent });
    case "waiting": {
      const wait = item.wait;
      if (!wait) return t("upload.queued");
      return t("upload.waiting", {
        message: wait.error.message || wait.error.code,
        wait: t("count.seconds", { count: wait.seconds }),
        retry: wait.retry,
        retries: wait.retries,
      });
    }
    case "done":
      return item.resumedFrom !== undefined ? t("upload.doneResumed", { from: item.resumedFrom }) : t("upload.done");
    case "cancelled":
      return t("upload.cancelled");
    case "failed":
      return t("upload.failed", { message: item.error ?? "" });
  }
}

function UploadRow({ item }: { item: Item }) {
  const { t, formatBytes } = useI18n();
  const percent = percentOf(item.loaded, item.total);
  const text = stateText(t, item, percent);
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
        {(active(item) || item.state === "queued") && item.handle && (
          <button type="button" class="link" onClick={() => item.handle?.abort()}>
            {t("upload.cancel")}
          </button>
        )}
      </div>
    </li>
  );
}
