// One video: live status, details, its scrub preview (when its spec asked for a storyboard), its frames, timeline,
// and (for its owner) download, reprocess (with the spec form of the upload screen, starting from the video's spec),
// delete and share. The share page renders the same
// screen read-only with the share token.
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { type ApiClient, ApiError, type Credentials, unwrap } from "../api/client";
import type { Frame, Share, ShareView } from "../api/contract";
import { FRAMES_PAGE, frameHref } from "../api/frames";
import { type ProgressUpdate, watchVideo } from "../api/live";
import { type StoryboardCue, cueAt, parseStoryboard, sheetHref, storyboardDuration } from "../api/storyboard";
import type { components } from "../api/schema";
import { Alert, LiveStatus, PageHeading, Spinner, type Video, useAction } from "../components";
import { errorText } from "../errors";
import { type MessageKey, type PluralKey, hasMessage, useI18n } from "../i18n";
import { navigate, onLinkClick, shareUrl } from "../router";
import { deletedVideos } from "../live";
import { type SpecForm, describeSpec, fromSpec, toSpec, validateSpec } from "../spec";
import { SpecFields, focusFirstProblem } from "../spec-form";

type TimelineEntry = components["schemas"]["TimelineEntry"];

/**
 * The live status says `completed` as soon as the log has it; the frames list reads the read model, which lags a
 * moment and answers 409 `not_ready` meanwhile: the list is asked for again, this many times, a little later each
 * time. (A 409 that lasts is the server's word, shown: an archive made before frames were listed on their own.)
 */
const FRAMES_NOT_READY_RETRIES = 8;
/** The download link's token must have at least this much life left (else it is renewed first). */
const DOWNLOAD_TOKEN_MARGIN_MS = 2000;
const FRAMES_RETRY_MS = 400;
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
  const [notice, setNotice] = useState<string | null>(null);
  const [progress, setProgress] = useState<ProgressUpdate | undefined>(undefined);
  const [reconnecting, setReconnecting] = useState(false);
  const { busy, error, setError, run: act } = useAction();
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

  const run = (action: () => Promise<void>) => {
    setNotice(null);
    return act(action);
  };

  const download = async (event: MouseEvent) => {
    event.preventDefault();
    // Make sure the token in the link is fresh (the request renews it on 401 token_expired). A token that lapses in
    // a moment is renewed first: it would pass that request and then be refused on the download itself, whose
    // answer (a 401's JSON) the browser would show in place of the app.
    await run(async () => {
      const expires = credentials.expiresAt?.();
      if (expires !== undefined && expires - Date.now() < DOWNLOAD_TOKEN_MARGIN_MS) await credentials.renew();
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
          <dd>{describeSpec(video.spec, t)}</dd>
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

      <ScrubPreview id={id} video={video} api={api} credentials={credentials} />

      <Frames id={id} video={video} api={api} credentials={credentials} />

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

/**
 * A completed video's frames: the first page of the list (GET /videos/{id}/frames) as a grid of images, each with
 * its time in the video, and "More frames" for the next page (its `next_cursor`) while there is one. Read again
 * when the video completes another job.
 */
function Frames(props: { id: string; video: Video; api: ApiClient; credentials: Credentials }) {
  const { id, video, api, credentials } = props;
  const { t, formatTime } = useI18n();
  const [frames, setFrames] = useState<Frame[] | null>(null);
  const [count, setCount] = useState(0);
  const [cursor, setCursor] = useState<string | undefined>(undefined);
  const { busy, error, setError, run } = useAction();
  const ready = video.status === "completed";
  const key = `${video.job}-${ready}`;
  // The page being read belongs to this job: a read of an earlier one that answers late is dropped.
  const current = useRef(key);
  current.current = key;

  const page = (from: string | undefined) =>
    unwrap(
      api.GET("/api/v1/videos/{id}/frames", {
        params: { path: { id }, query: { limit: FRAMES_PAGE, ...(from ? { cursor: from } : {}) } },
      }),
    );

  useEffect(() => {
    setFrames(null);
    setCursor(undefined);
    setError(null);
    if (!ready) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = (retry: number): Promise<void> =>
      page(undefined).then(
        (first) => {
          if (current.current !== key) return;
          setFrames(first.items);
          setCount(first.frame_count);
          setCursor(first.next_cursor);
        },
        (e: unknown) => {
          if (current.current !== key) return;
          if (e instanceof ApiError && e.code === "not_ready" && retry < FRAMES_NOT_READY_RETRIES) {
            timer = setTimeout(() => void load(retry + 1), FRAMES_RETRY_MS * (retry + 1));
            return;
          }
          setError(errorText(t, e));
        },
      );
    void load(0);
    return () => clearTimeout(timer);
  }, [key]);

  const more = async () => {
    if (!cursor) return;
    await run(async () => {
      const next = await page(cursor);
      if (current.current !== key) return;
      setFrames((shown) => [...(shown ?? []), ...next.items.filter((f) => !shown?.some((s) => s.index === f.index))]);
      setCount(next.frame_count);
      setCursor(next.next_cursor);
    });
  };

  return (
    <section class="card" aria-labelledby="frames-title">
      <h2 id="frames-title">{t("video.framesTitle")}</h2>
      {!ready && <p class="empty">{t("video.framesNone")}</p>}
      {ready && !frames && !error && <Spinner label={t("video.framesLoading")} />}
      {error && <p class="muted">{t("video.framesFailed", { message: error })}</p>}
      {frames && (
        <>
          <ul class="frames">
            {frames.map((frame) => (
              <li key={`${frame.index}-${frame.sha256}`}>
                <FrameImage
                  id={id}
                  frame={frame}
                  alt={t("video.frameAlt", { number: frame.index + 1, time: formatTime(frame.pts) })}
                  credentials={credentials}
                />
                <span class="muted">{formatTime(frame.pts)}</span>
              </li>
            ))}
          </ul>
          <p class="muted" role="status">
            {t("video.framesShown", { shown: frames.length, count })}
          </p>
          {cursor && (
            <button type="button" class="secondary" disabled={busy} onClick={() => void more()}>
              {t("video.framesMore")}
            </button>
          )}
        </>
      )}
    </section>
  );
}

/**
 * One frame's image, lazy-loaded through the API (a redirect to the image). The token in its address is the one
 * current when it was first shown; an image loaded later than that token's life (lazily, when scrolled to) is
 * refused, so a failed load renews the token once and asks again with the new one. A share token cannot be
 * renewed: the image then stays unloaded, its alt text in its place.
 */
function FrameImage(props: { id: string; frame: Frame; alt: string; credentials: Credentials }) {
  const { id, frame, alt, credentials } = props;
  const [token, setToken] = useState(() => credentials.token());
  const retried = useRef(false);
  const failed = () => {
    if (retried.current) return;
    retried.current = true;
    void credentials.renew().then((renewed) => {
      if (renewed) setToken(credentials.token());
    });
  };
  return (
    <img
      src={frameHref(id, frame.index, frame.sha256, token)}
      alt={alt}
      loading="lazy"
      decoding="async"
      onError={failed}
    />
  );
}

/**
 * A completed video's scrub preview, when its spec asked for a storyboard: its WebVTT index
 * (GET /videos/{id}/storyboard.vtt, read like the frames list: a 409 `not_ready` is asked again a little later) and
 * a slider over the time it covers; the tile of the time under the slider (or under the mouse over it) is shown,
 * cut out of its sprite sheet (an `<img>` of the whole sheet moved inside a box of the tile's size). Nothing is shown
 * while there is no index to show: none asked for, not ready, refused (404) or unreadable.
 */
function ScrubPreview(props: { id: string; video: Video; api: ApiClient; credentials: Credentials }) {
  const { id, video, api, credentials } = props;
  const { t, formatTime } = useI18n();
  const [cues, setCues] = useState<StoryboardCue[] | null>(null);
  const [time, setTime] = useState(0);
  const [hover, setHover] = useState<number | null>(null);
  const [token, setToken] = useState(() => credentials.token());
  // The sheets whose load failed once: each is asked again once, with a renewed token.
  const retried = useRef(new Set<string>());
  const wanted = video.status === "completed" && video.spec?.storyboard !== undefined;
  const key = `${video.job}-${wanted}`;
  // The index being read belongs to this job: a read of an earlier one that answers late is dropped.
  const current = useRef(key);
  current.current = key;

  useEffect(() => {
    setCues(null);
    setTime(0);
    setHover(null);
    retried.current.clear();
    if (!wanted) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = (retry: number): Promise<void> =>
      unwrap(api.GET("/api/v1/videos/{id}/storyboard.vtt", { params: { path: { id } }, parseAs: "text" })).then(
        (text) => {
          if (current.current !== key) return;
          const read = parseStoryboard(text);
          setCues(read.length > 0 ? read : null);
        },
        (e: unknown) => {
          if (current.current !== key) return;
          if (e instanceof ApiError && e.code === "not_ready" && retry < FRAMES_NOT_READY_RETRIES) {
            timer = setTimeout(() => void load(retry + 1), FRAMES_RETRY_MS * (retry + 1));
          }
          // Anything else: no preview (the frames and the download still work).
        },
      );
    void load(0);
    return () => clearTimeout(timer);
  }, [key]);

  if (!cues) return null;
  const duration = storyboardDuration(cues);
  const first = cues[0];
  const step = first && first.end > first.start ? first.end - first.start : "any";
  const shown = hover ?? time;
  const cue = cueAt(cues, shown);
  const src = cue ? sheetHref(id, cue.sheet, video.job, token) : "";
  const failed = () => {
    if (!cue || retried.current.has(cue.sheet)) return;
    retried.current.add(cue.sheet);
    void credentials.renew().then((renewed) => {
      if (renewed) setToken(credentials.token());
    });
  };
  /** The time under the mouse over the slider (a touch moves the slider itself). */
  const hovered = (event: PointerEvent) => {
    if (event.pointerType !== "mouse") return;
    const box = (event.currentTarget as HTMLElement).getBoundingClientRect();
    if (box.width <= 0) return;
    setHover(Math.min(1, Math.max(0, (event.clientX - box.left) / box.width)) * duration);
  };

  return (
    <section class="card" aria-labelledby="scrub-title">
      <h2 id="scrub-title">{t("video.scrubTitle")}</h2>
      {cue && (
        <figure class="scrub-preview">
          <div class="scrub-tile" style={{ width: `${cue.w}px`, height: `${cue.h}px` }}>
            <img
              key={src}
              src={src}
              alt={t("video.scrubAlt", { time: formatTime(cue.start) })}
              decoding="async"
              style={{ left: `${-cue.x}px`, top: `${-cue.y}px` }}
              onError={failed}
            />
          </div>
          <figcaption class="muted" aria-live="polite">
            {t("video.scrubAt", { time: formatTime(shown), duration: formatTime(duration) })}
          </figcaption>
        </figure>
      )}
      <label for="scrub-time">{t("video.scrubLabel")}</label>
      <input
        id="scrub-time"
        class="scrub-slider"
        type="range"
        min={0}
        max={duration}
        step={step}
        value={time}
        aria-valuetext={formatTime(time)}
        onInput={(event) => {
          setHover(null);
          setTime(Number(event.currentTarget.value));
        }}
        onPointerMove={hovered}
        onPointerLeave={() => setHover(null)}
      />
    </section>
  );
}

function ShareBox({ id, api }: { id: string; api: ApiClient }) {
  const { t, formatDate } = useI18n();
  const [secs, setSecs] = useState(86_400);
  const [share, setShare] = useState<Share | null>(null);
  const { error, setError, run } = useAction();
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
    setCopied(false);
    await run(async () => {
      setShare(
        await unwrap(
          api.POST("/api/v1/videos/{id}/shares", { params: { path: { id } }, body: { expires_in_secs: secs } }),
        ),
      );
      await load();
    });
  };

  const revoke = (shareId: string) =>
    run(async () => {
      await unwrap(api.DELETE("/api/v1/videos/{id}/shares/{share_id}", { params: { path: { id, share_id: shareId } } }));
      if (share?.id === shareId) setShare(null);
      await load();
    });

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
