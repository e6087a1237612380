// Small shared pieces: status badge, live progress, alerts, the page heading that takes focus, and the state of an
// action a screen runs (busy, its error).
import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import type { components } from "./api/schema";
import type { ProgressUpdate } from "./api/live";
import { errorText } from "./errors";
import { failureMessage, useFailureTable } from "./failures";
import { hasMessage, type MessageKey, useI18n } from "./i18n";

export type Video = components["schemas"]["Video"];
export type VideoStatus = components["schemas"]["VideoStatus"];
export type FailureView = components["schemas"]["FailureView"];

export const TERMINAL: VideoStatus[] = ["completed", "failed", "deleted"];

/** The heading of a screen: it takes the focus when the screen opens, so screen readers announce it. */
export function PageHeading({ children }: { children: ComponentChildren }) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    ref.current?.focus();
  }, []);
  return (
    <h1 ref={ref} tabIndex={-1} class="page-heading">
      {children}
    </h1>
  );
}

export function StatusBadge({ status }: { status: VideoStatus }) {
  const { t } = useI18n();
  return <span class={`badge badge-${status}`}>{t(`status.${status}` as MessageKey)}</span>;
}

/** The percentage of a progress update, when the expected frame count is known. */
export function percentOf(progress: ProgressUpdate | undefined): number | null {
  if (!progress?.frames_expected) return null;
  return Math.min(100, Math.round((100 * progress.frames_done) / progress.frames_expected));
}

/** Status line of a video: badge, stage and percent while processing, attempt, failure message. */
export function LiveStatus(props: {
  status: VideoStatus;
  attempt: number;
  progress?: ProgressUpdate | undefined;
  failure?: FailureView | undefined;
  reconnecting?: boolean;
}) {
  const { t, locale } = useI18n();
  const { status, attempt, progress, failure } = props;
  const failures = useFailureTable(failure !== undefined);
  const explained = failure ? failureMessage(failures, failure.code, locale) : null;
  const percent = status === "processing" ? percentOf(progress) : null;
  const stageKey = `stage.${progress?.stage ?? ""}`;
  const stage = progress?.stage ? (hasMessage(stageKey) ? t(stageKey) : progress.stage) : "";
  return (
    <div class="live">
      <div class="live-line" role="status" aria-live="polite" aria-atomic="true">
        <StatusBadge status={status} />
        {status === "processing" && progress && (
          <span class="live-stage">
            {stage}
            {percent !== null ? ` · ${percent}%` : ""}
            {" · "}
            {progress.frames_expected
              ? t("live.frames", { done: progress.frames_done, count: progress.frames_expected })
              : t("live.framesDone", { count: progress.frames_done })}
          </span>
        )}
        {attempt > 0 && status !== "completed" && <span class="live-attempt">{t("live.attempt", { attempt })}</span>}
      </div>
      {status === "processing" && (
        <progress
          class="live-progress"
          max={100}
          value={percent ?? undefined}
          aria-label={t("live.progress")}
        />
      )}
      {failure && (status === "failed" || status === "retry_scheduled") && (
        <div class="failure">
          <p>
            <code>{failure.code}</code> {explained ?? failure.message}
            {failure.will_retry && <> {t("live.willRetry")}</>}
          </p>
          {explained && failure.message && explained !== failure.message && (
            <p class="failure-detail">{failure.message}</p>
          )}
        </div>
      )}
      {props.reconnecting && <p class="muted">{t("live.retrying")}</p>}
    </div>
  );
}

export function Alert({ kind = "error", children }: { kind?: "error" | "info"; children: ComponentChildren }) {
  return (
    <div class={`alert alert-${kind}`} role={kind === "error" ? "alert" : "status"}>
      {children}
    </div>
  );
}

export function Spinner({ label }: { label: string }) {
  return (
    <p class="loading" role="status">
      <span class="spinner" aria-hidden="true" /> {label}
    </p>
  );
}

/**
 * A list loaded from the API: a spinner while `items` is not there yet (and nothing failed), `empty` when it came
 * back empty, else a `<ul class={kind}>` of `item(each)` (each a `<li>` with its key).
 */
export function LoadedList<T>(props: {
  items: T[] | null | undefined;
  failed: boolean;
  loading: string;
  empty: string;
  kind: string;
  item: (each: T) => ComponentChildren;
}) {
  const { items } = props;
  if (!items) return props.failed ? null : <Spinner label={props.loading} />;
  if (items.length === 0) return <p class="empty">{props.empty}</p>;
  return <ul class={props.kind}>{items.map(props.item)}</ul>;
}

/**
 * An action a screen runs (a form's submit, a button): `busy` while `run` runs it, and why it failed, in errorText's
 * words, as `error`, cleared when an action starts again. `setError` lets the screen say other things there (a load
 * that failed).
 */
export function useAction() {
  const { t } = useI18n();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const run = async (action: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    try {
      await action();
    } catch (e) {
      setError(errorText(t, e));
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, setError, run };
}
