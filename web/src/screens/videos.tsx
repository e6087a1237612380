// The home screen: upload, then the user's videos with live status, a status filter and cursor pagination.
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { ApiError, unwrap } from "../api/client";
import type { Accepted } from "../api/upload";
import type { SessionStore } from "../api/session";
import { Alert, LiveStatus, PageHeading, Spinner, TERMINAL, type Video, type VideoStatus } from "../components";
import { errorText } from "../errors";
import { type MessageKey, useI18n } from "../i18n";
import { deletedVideos, newestFirst, reconcile, shownStatus, time, useVideoFeed } from "../live";
import { onLinkClick } from "../router";
import { UploadPanel } from "./upload";

const FILTERS: (VideoStatus | "")[] = ["", "queued", "processing", "retry_scheduled", "completed", "failed"];
const PAGE = 20;

export function Videos({ session }: { session: SessionStore }) {
  const { t, formatDate, formatBytes } = useI18n();
  const [filter, setFilter] = useState<VideoStatus | "">("");
  const [items, setItems] = useState<Video[]>([]);
  const [cursor, setCursor] = useState<string | undefined>(undefined);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<string | null>(null);
  // Videos not in the list's rows yet: uploads accepted but not yet in the read model (it lags the event log a
  // little) and videos the feed told of (uploaded in another tab). Shown at once, followed live (the feed reads
  // the log), and dropped as soon as a reload of the list has them.
  const [pending, setPending] = useState<Video[]>([]);

  // Only the latest request may fill the list: an older one (another filter) that answers late is dropped.
  const latest = useRef(0);
  const readPage = useCallback(
    (from?: string) =>
      unwrap(
        session.api.GET("/api/v1/videos", {
          params: { query: { limit: PAGE, ...(filter ? { status: filter } : {}), ...(from ? { cursor: from } : {}) } },
        }),
      ).then((page) => {
        // A 200 that is not a page (a proxy's answer, say) is an error here, not a list without rows.
        if (!Array.isArray(page?.items)) throw new ApiError("http_200", "the list's answer has no items", 200);
        return page;
      }),
    [filter, session],
  );
  const load = useCallback(
    async (from?: string) => {
      const request = ++latest.current;
      setLoading(true);
      setError(null);
      try {
        const page = await readPage(from);
        if (request !== latest.current) return;
        // The first page merged over what is shown (a read in the background may have answered first, newer).
        setItems((old) =>
          from
            ? [...old, ...page.items.filter((v) => !old.some((o) => o.id === v.id))]
            : reconcile(old, page.items, true),
        );
        if (!from) setPending((old) => old.filter((p) => !page.items.some((v) => v.id === p.id)));
        setCursor(page.next_cursor);
      } catch (e) {
        if (request === latest.current) setError(errorText(t, e));
      } finally {
        if (request === latest.current) setLoading(false);
      }
    },
    [readPage],
  );

  // A video not in the rows (an upload the read model does not list yet, a video the feed told of), read by id
  // (which answers while the read model lags, from the log) and shown, or shown newer.
  const fetching = useRef(new Set<string>());
  const readVideo = useCallback(
    (id: string) => {
      if (fetching.current.has(id)) return;
      fetching.current.add(id);
      void unwrap(session.api.GET("/api/v1/videos/{id}", { params: { path: { id } } }))
        .then((video) => {
          setPending((old) => {
            const seen = old.find((p) => p.id === id);
            if (seen && time(seen.updated_at) >= time(video.updated_at)) return old;
            return [...old.filter((p) => p.id !== id), video].sort(newestFirst);
          });
        })
        .catch(() => undefined)
        .finally(() => fetching.current.delete(id));
    },
    [session],
  );

  // The first page read again in the background (no spinner), merged over what is shown (reconcile), and the
  // videos not in the rows read again by id: after the feed opened from now, so that a change it did not see
  // (before it opened, or while no stream was open) shows; and after an upload, to pick up its row.
  const itemsNow = useRef(items);
  itemsNow.current = items;
  const pendingNow = useRef(pending);
  pendingNow.current = pending;
  const refresh = useCallback(async () => {
    const request = latest.current;
    for (const p of pendingNow.current) {
      if (!itemsNow.current.some((v) => v.id === p.id)) readVideo(p.id);
    }
    try {
      const page = await readPage();
      // A load started meanwhile (another filter, "Load more") has the last word.
      if (request !== latest.current) return;
      const old = itemsNow.current;
      // Only the first page was loaded: the page read now replaces it, with its cursor.
      const firstOnly = old.length <= PAGE;
      setItems(reconcile(old, page.items, firstOnly));
      if (firstOnly) setCursor(page.next_cursor);
      setPending((old) => old.filter((p) => !page.items.some((v) => v.id === p.id)));
    } catch {
      // The list stays as it is; the next read tries again.
    }
  }, [readPage, readVideo]);
  const refreshNow = useRef(refresh);
  refreshNow.current = refresh;

  useEffect(() => {
    void load();
  }, [load]);

  const uploaded = (accepted: Accepted, file: File) => {
    const now = new Date().toISOString();
    const video: Video = {
      id: accepted.id,
      file_name: file.name,
      content_type: file.type || "application/octet-stream",
      size_bytes: file.size,
      status: "queued",
      spec: {},
      // A new video's first job.
      job: 0,
      attempt: 0,
      created_at: now,
      // Older than any status the feed sends (the browser's clock may run ahead of the server's).
      updated_at: new Date(0).toISOString(),
    };
    // (Already there when the feed told of it first and its row was read.)
    setPending((old) => (old.some((p) => p.id === video.id) ? old : [video, ...old]));
    // Pick up the real row once the projection has it.
    // (Through the ref: by then the user may have chosen another filter.)
    for (const delay of [1000, 4000]) setTimeout(() => void refreshNow.current(), delay);
  };
  const all = [...pending.filter((p) => !items.some((v) => v.id === p.id)), ...items];

  // One stream for all the user's videos (opened before the list is read: the first load races it, and the
  // refresh once it is open catches what the load may have missed).
  const { live, reconnecting } = useVideoFeed(session, (id) => all.some((v) => v.id === id), {
    fresh: () => void refreshNow.current(),
    // Uploaded in another tab (or reprocessed there, past the pages loaded): shown if it belongs among the rows
    // loaded.
    unknown: ({ video_id: id }) => readVideo(id),
  });

  const oldest = items[items.length - 1];
  const shown = all
    .filter((v) => !deletedVideos.has(v.id))
    .filter((v) => !filter || shownStatus(v, live[v.id]).status === filter || items.some((i) => i.id === v.id))
    // A video found through the feed that is older than the pages loaded waits for "Load more".
    .filter((v) => !cursor || !oldest || items.some((i) => i.id === v.id) || time(v.created_at) >= time(oldest.created_at))
    .sort(newestFirst);

  return (
    <>
      <PageHeading>{t("videos.title")}</PageHeading>
      <UploadPanel credentials={session} owner={session.user?.id} onUploaded={uploaded} />
      <section class="card" aria-labelledby="list-title">
        <div class="list-head">
          <h2 id="list-title">{t("videos.title")}</h2>
          <div class="filter">
            <label for="status-filter">{t("videos.filter")}</label>
            <select id="status-filter" value={filter} onChange={(e) => {
                // Nothing of the old filter's list stays on screen while the new one loads.
                setItems([]);
                setCursor(undefined);
                setFilter(e.currentTarget.value as VideoStatus | "");
              }}>
              {FILTERS.map((status) => (
                <option value={status}>{status ? t(`status.${status}` as MessageKey) : t("videos.filter.all")}</option>
              ))}
            </select>
          </div>
        </div>
        {error && (
          <Alert>
            {error}{" "}
            <button type="button" class="link" onClick={() => void load()}>
              {t("videos.retry")}
            </button>
          </Alert>
        )}
        {!error && !loading && shown.length === 0 && (
          <p class="empty">{filter ? t("videos.emptyFiltered") : t("videos.empty")}</p>
        )}
        <ul class="videos" aria-busy={loading}>
          {shown.map((video) => {
            const state = shownStatus(video, live[video.id]);
            return (
              <li class="video" key={video.id} data-video-id={video.id}>
                <div class="video-head">
                  <a class="video-name" href={`/videos/${video.id}`} onClick={onLinkClick}>
                    {video.file_name || video.id}
                  </a>
                  <span class="muted">
                    {t("videos.uploaded", { date: formatDate(video.created_at) })} · {formatBytes(video.size_bytes)}
                  </span>
                </div>
                <LiveStatus
                  status={state.status}
                  attempt={state.attempt}
                  progress={state.progress}
                  failure={state.failure}
                  reconnecting={reconnecting && !TERMINAL.includes(state.status)}
                />
              </li>
            );
          })}
        </ul>
        {loading && <Spinner label={t("videos.loading")} />}
        {!loading && cursor && (
          <button type="button" class="secondary" onClick={() => void load(cursor)}>
            {t("videos.more")}
          </button>
        )}
      </section>
    </>
  );
}
