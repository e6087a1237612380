// One video: live status, details, preview strip, timeline, and (for its owner) download, reprocess (with the spec
// form of the upload screen, starting from the video's spec), delete and share. The share page renders the same
// screen read-only with the share token.
import { useCallback, useEffect, useState } from "preact/hooks";
import { type ApiClient, type Credentials, unwrap } from "../api/client";
import type { Share, ShareView } from "../api/contract";
import { type ProgressUpdate, watchVideo } from "../api/live";
import { type Frame, PreviewError, loadPreview } from "../api/preview";
import type { components } from "../api/schema";
import { Alert, LiveStatus, PageHeading, Spinner, type Video } from "../components";
import { errorText } from "../errors";
import { type MessageKey, type PluralKey, hasMessage, useI18n } from "../i18n";
import { navigate, onLinkClick, shareUrl } from "../router";
import { deletedVideos } from "../live";
import { type SpecForm, describeSpec, fromSpec, toSpec, validateSpec } from "../spec";
import { SpecFields, focusFirstProblem } from "../spec-form";

type TimelineEntry = components["schemas"]["TimelineEntry"];

const PREVIEW_FRAMES = 4;
/**
 * The live status says `completed` as soon as the log has it; the download link reads the read model, which lags a
 * moment and answers 409 `not_ready` meanwhile: the preview asks again, this many times, a little later each time.
 * A 401 (the token in the link expired) renews the token once and asks again (a share token cannot be renewed).
 */
const PREVIEW_NOT_READY_RETRIES = 8;
const PREVIEW_RETRY_MS = 400;
const EXPIRIES: { unit: PluralKey; count: number; secs: number }[] = [
  { unit: "count.hours", count: 1, secs: 3600 },
  { unit: "count.days", count: 1, secs: 86_400 },
  { unit: "count.days", count: 7, secs: 7 * 86_400 },
  { unit: "count.days", count: 30, secs: 30 * 86_400 },
];
/** The start of the ids of the reprocess form's inputs. */
const RESPEC = "reprocess";

export function downloadHref(id: string, token: string | null): string {
  return `/api/v1/videos/${id}/download${token ? `?access_token=${encodeURIComponent(token)}` : ""}`;
}

export function VideoScreen(props: {
  id: string;
  api: ApiClient;
  credentials: Credentials;
  readOnly?: boolean;
}) {
  const { id, api, credentials, readOnly = false } = props;
  const { t, formatDate, formatBytes } = useI18n();
  const [video, setVideo] = useState<Video | null>(null);
  const [timeline, setTimeline] = useState<TimelineEntry[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [progress, setProgress] = useState<ProgressUpdate | undefined>(undefined);
  const [reconnecting, setReconnecting] = useState(false);
  const [busy, setBusy] = useState(false);
  // The spec of the next run while the reprocess form is open (null: closed), and whether to show its problems.
  const [respec, setRespec] = useState<SpecForm | null>(null);
  const [showProblems, setShowProblems] = useState(false);

  const reload = useCallback(async () => {
    try {
      const [v, tl] = await Promise.all([
        unwrap(api.GET("/api/v1/videos/{id}", { params: { path: { id } } })),
        unwrap(api.GET("/api/v1/videos/{id}/timeline", { params: { path: { id } } })),
      ]);
      setVideo(v);
      setTimeline(tl.entries);
      setError(null);
    } catch (e) {
      setError(errorText(t, e));
    }
  }, [api, id]);

  useEffect(() => {
    void reload();
  }, [reload]);

  useEffect(
    () =>
      watchVideo(id, credentials, {
        status: (s) => {
          setVideo((v) => (v ? { ...v, status: s.status, attempt: s.attempt, job: s.job, failure: s.failure } : v));
          if (s.status !== "processing") setProgress(undefined);
          // The read model lags the log a little: fetch details and timeline again on every lifecycle change.
          setTimeout(() => void reload(), 300);
        },
        progress: setProgress,
        connection: (state) => setReconnecting(state === "retrying"),
      }),
    [id, credentials],
  );

  const run = async (action: () => Promise<void>) => {
    setBusy(true);
    setNotice(null);
    setError(null);
    try {
      await action();
    } catch (e) {
      setError(errorText(t, e));
    } finally {
      setBusy(false);
    }
  };

  const download = async (event: MouseEvent) => {
    event.preventDefault();
    // Make sure the token in the link is fresh (the request renews it on 401 token_expired).
    await run(async () => {
      await unwrap(api.GET("/api/v1/videos/{id}", { params: { path: { id } } }));
      window.location.assign(downloadHref(id, credentials.token()));
    });
  };

  const openReprocess = () => {
    if (!video) return;
    setRespec(fromSpec(video.spec));
    setShowProblems(false);
    setTimeout(() => document.getElementById(`${RESPEC}-mode`)?.focus());
  };
  const closeReprocess = () => {
    setRespec(null);
    setTimeout(() => document.getElementById(`${RESPEC}-toggle`)?.focus());
  };
  const reprocess = (event: Event) => {
    event.preventDefault();
    if (!respec) return;
    const problems = validateSpec(respec);
    if (problems.length > 0) {
      setShowProblems(true);
      focusFirstProblem(RESPEC, problems);
      return;
    }
    void run(async () => {
      await unwrap(api.POST("/api/v1/videos/{id}/reprocess", { params: { path: { id } }, body: toSpec(respec) }));
      setRespec(null);
      setNotice(t("video.reprocessed"));
      await reload();
    });
  };

  if (!video) {
    return (
      <>
        <PageHeading>{readOnly ? t("share.title") : t("video.loading")}</PageHeading>
        {error ? <Alert>{readOnly ? t("share.invalid") : error}</Alert> : <Spinner label={t("video.loading")} />}
      </>
    );
  }

  return (
    <>
      {!readOnly && (
        <p>
          <a href="/" onClick={onLinkClick}>
            ← {t("video.back")}
          </a>
        </p>
      )}
      <PageHeading>{video.file_name || video.id}</PageHeading>
      {readOnly && <Alert kind="info">{t("share.readOnly")}</Alert>}
      {error && <Alert>{error}</Alert>}
      {notice && <Alert kind="info">{notice}</Alert>}

      <section class="card" aria-labelledby="status-title">
        <h2 id="status-title" class="visually-hidden">
          {t("video.details")}
        </h2>
        <LiveStatus
          status={video.status}
          attempt={video.attempt}
          progress={progress}
          failure={video.failure}
          reconnecting={reconnecting}
        />
        <div class="actions">
          {video.status === "completed" && (
            <a class="button primary" href={downloadHref(id, credentials.token())} onClick={download}>
              {t("video.download")}
            </a>
          )}
          {!readOnly && (video.status === "completed" || video.status === "failed") && (
            <button
              type="button"
              id={`${RESPEC}-toggle`}
              class="secondary"
              disabled={busy}
              aria-expanded={respec !== null}
              aria-controls={`${RESPEC}-form`}
              onClick={() => (respec ? closeReprocess() : openReprocess())}
            >
              {t("video.reprocess")}
            </button>
          )}
          {!readOnly && (
            <button
              type="button"
              class="danger"
              disabled={busy}
              onClick={() => {
                if (!window.confirm(t("video.deleteConfirm"))) return;
                void run(async () => {
                  await unwrap(api.DELETE("/api/v1/videos/{id}", { params: { path: { id } } }));
                  deletedVideos.add(id);
                  navigate("/");
                });
              }}
            >
              {t("video.delete")}
            </button>
          )}
        </div>
        {!readOnly && respec && (
          <form id={`${RESPEC}-form`} class="reprocess" noValidate onSubmit={reprocess}>
            <SpecFields
              form={respec}
              onChange={(update) => setRespec((form) => (form ? update(form) : form))}
              problems={showProblems ? validateSpec(respec) : []}
              legend={t("video.reprocessSpec")}
              idPrefix={RESPEC}
            />
            <div class="actions">
              <button type="submit" class="primary" disabled={busy}>
                {t("video.reprocessStart")}
              </button>
              <button type="button" class="secondary" onClick={closeReprocess}>
                {t("video.reprocessCancel")}
              </button>
            </div>
          </form>
        )}
        <dl class="details">
          <dt>{t("video.size")}</dt>
          <dd>{formatBytes(video.size_bytes)}</dd>
          <dt>{t("video.type")}</dt>
          <dd>{video.content_type}</dd>
          <dt>{t("video.spec")}</dt>
          <dd>{describeSpec(video.spec)}</dd>
          <dt>{t("video.job")}</dt>
          <dd>{video.job}</dd>
          {video.frame_count !== undefined && (
            <>
              <dt>{t("video.frames")}</dt>
              <dd data-testid="frame-count">{video.frame_count}</dd>
            </>
          )}
          {video.archive_size_bytes !== undefined && (
            <>
              <dt>{t("video.archive")}</dt>
              <dd>{formatBytes(video.archive_size_bytes)}</dd>
            </>
          )}
          <dt>{t("video.created")}</dt>
          <dd>{formatDate(video.created_at)}</dd>
          <dt>{t("video.updated")}</dt>
          <dd>{formatDate(video.updated_at)}</dd>
        </dl>
      </section>

      <Preview id={id} video={video} credentials={credentials} />

      {!readOnly && <ShareBox id={id} api={api} />}

      <section class="card" aria-labelledby="timeline-title">
        <h2 id="timeline-title">{t("video.timeline")}</h2>
        {timeline.length === 0 ? (
          <p class="empty">{t("video.timelineEmpty")}</p>
        ) : (
          <ol class="timeline">
            {timeline.map((entry) => (
              <li key={entry.sequence} data-event={entry.event_type}>
                <span class="timeline-type">
                  {hasMessage(`event.${entry.event_type}`)
                    ? t(`event.${entry.event_type}` as MessageKey)
                    : entry.event_type}
                </span>{" "}
                <time dateTime={entry.occurred_at} class="muted">
                  {formatDate(entry.occurred_at)}
                </time>
                <Summary summary={entry.summary} />
              </li>
            ))}
          </ol>
        )}
      </section>
    </>
  );
}

function Summary({ summary }: { summary: unknown }) {
  if (!summary || typeof summary !== "object") return null;
  const parts = Object.entries(summary as Record<string, unknown>)
    .filter(([, value]) => value !== null && value !== undefined && typeof value !== "object")
    .map(([key, value]) => `${key}: ${String(value)}`);
  return parts.length ? <div class="timeline-summary muted">{parts.join(" · ")}</div> : null;
}

function Preview({ id, video, credentials }: { id: string; video: Video; credentials: Credentials }) {
  const { t } = useI18n();
  const [frames, setFrames] = useState<Frame[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const ready = video.status === "completed";
  const key = `${video.job}-${ready}`;

  useEffect(() => {
    if (!ready) return;
    let cancelled = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    setFrames(null);
    setError(null);
    let renewed = false;
    const load = (retry: number): Promise<void> =>
      loadPreview(downloadHref(id, credentials.token()), PREVIEW_FRAMES).then(
        (loaded) => (cancelled ? loaded.forEach((f) => URL.revokeObjectURL(f.url)) : setFrames(loaded)),
        async (e: unknown) => {
          if (cancelled) return;
          if (e instanceof PreviewError && e.status === 409 && retry < PREVIEW_NOT_READY_RETRIES) {
            timer = setTimeout(() => void load(retry + 1), PREVIEW_RETRY_MS * (retry + 1));
            return;
          }
          if (e instanceof PreviewError && e.status === 401 && !renewed) {
            renewed = true;
            if ((await credentials.renew()) && !cancelled) return load(retry);
          }
          if (!cancelled) setError(e instanceof Error ? e.message : String(e));
        },
      );
    void load(0);
    return () => {
      cancelled = true;
      clearTimeout(timer);
    };
  }, [key]);

  useEffect(() => () => frames?.forEach((f) => URL.revokeObjectURL(f.url)), [frames]);

  return (
    <section class="card" aria-labelledby="preview-title">
      <h2 id="preview-title">{t("video.preview")}</h2>
      {!ready && <p class="empty">{t("video.previewNone")}</p>}
      {ready && !frames && !error && <Spinner label={t("video.previewLoading")} />}
      {error && <p class="muted">{t("video.previewFailed", { message: error })}</p>}
      {frames && (
        <ul class="frames">
          {frames.map((frame) => (
            <li key={frame.name}>
              <img src={frame.url} alt={t("video.frameAlt", { name: frame.name })} loading="lazy" />
              <span class="muted">{frame.name}</span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function ShareBox({ id, api }: { id: string; api: ApiClient }) {
  const { t, formatDate } = useI18n();
  const [secs, setSecs] = useState(86_400);
  const [share, setShare] = useState<Share | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [copied, setCopied] = useState(false);
  const [shares, setShares] = useState<ShareView[] | null>(null);
  const link = share ? shareUrl(location.origin, id, share.token) : "";

  const load = () =>
    unwrap(api.GET("/api/v1/videos/{id}/shares", { params: { path: { id } } })).then(
      (list) => setShares(list.items),
      (e: unknown) => setError(errorText(t, e)),
    );
  useEffect(() => {
    void load();
  }, [api, id]);

  const create = async (event: Event) => {
    event.preventDefault();
    setError(null);
    setCopied(false);
    try {
      setShare(
        await unwrap(
          api.POST("/api/v1/videos/{id}/shares", { params: { path: { id } }, body: { expires_in_secs: secs } }),
        ),
      );
      await load();
    } catch (e) {
      setError(errorText(t, e));
    }
  };

  const revoke = async (shareId: string) => {
    setError(null);
    try {
      await unwrap(api.DELETE("/api/v1/videos/{id}/shares/{share_id}", { params: { path: { id, share_id: shareId } } }));
      if (share?.id === shareId) setShare(null);
      await load();
    } catch (e) {
      setError(errorText(t, e));
    }
  };

  return (
    <section class="card" aria-labelledby="share-title">
      <h2 id="share-title">{t("video.share")}</h2>
      <form class="inline-form" onSubmit={create}>
        <label for="share-expiry">{t("video.shareExpiry")}</label>
        <select id="share-expiry" value={String(secs)} onChange={(e) => setSecs(Number(e.currentTarget.value))}>
          {EXPIRIES.map((e) => (
            <option value={String(e.secs)}>{t(e.unit, { count: e.count })}</option>
          ))}
        </select>
        <button type="submit" class="secondary">
          {t("video.shareCreate")}
        </button>
      </form>
      {error && <Alert>{error}</Alert>}
      {share && (
        <div class="share-result">
          <label for="share-link">{t("video.shareLink")}</label>
          <div class="inline-form">
            <input id="share-link" readOnly value={link} onFocus={(e) => e.currentTarget.select()} />
            <button
              type="button"
              class="secondary"
              onClick={() =>
                void navigator.clipboard?.writeText(link).then(
                  () => setCopied(true),
                  () => setCopied(false),
                )
              }
            >
              {t("video.copy")}
            </button>
          </div>
          <p class="muted" role="status">
            {t("video.shareExpires", { date: formatDate(share.expires_at) })}
            {copied ? ` ${t("video.copied")}` : ""}
          </p>
        </div>
      )}
      {shares && shares.length > 0 && (
        <>
          <h3>{t("video.shares")}</h3>
          <ul class="shares">
            {shares.map((s) => (
              <li key={s.id} data-share={s.id}>
                <span>{t("video.shareCreatedOn", { date: formatDate(s.created_at) })}</span>{" "}
                <span class={`badge share-${s.active ? "active" : "inactive"}`}>
                  {s.active
                    ? t("video.shareActive", { date: formatDate(s.expires_at) })
                    : s.revoked_at
                      ? t("video.shareRevoked")
                      : t("video.shareExpired")}
                </span>{" "}
                {s.active && (
                  <button type="button" class="link danger-text" onClick={() => void revoke(s.id)}>
                    {t("video.shareRevoke")}
                  </button>
                )}
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}
