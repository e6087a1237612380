// The home screen: upload, then the user's videos with live status, a status filter and cursor pagination.
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { unwrap } from "../api/client";
import type { Accepted } from "../api/upload";
import type { SessionStore } from "../api/session";
import { Alert, LiveStatus, PageHeading, Spinner, TERMINAL, type Video, type VideoStatus } from "../components";
import { errorText } from "../errors";
import { type MessageKey, useI18n } from "../i18n";
import { deletedVideos, useLiveVideos } from "../live";
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
  // Uploads accepted but not yet in the read model (it lags the event log a little): shown at once, followed
  // live (the status stream reads the log), and dropped as soon as a reload of the list has them.
  const [pending, setPending] = useState<Video[]>([]);

  // Only the latest request may fill the list: an older one (another filter) that answers late is dropped.
  const latest = useRef(0);
  const load = useCallback(
    async (from?: string) => {
      const request = ++latest.current;
      setLoading(true);
      setError(null);
      try {
        const page = await unwrap(
          session.api.GET("/api/v1/videos", {
            params: { query: { limit: PAGE, ...(filter ? { status: filter } : {}), ...(from ? { cursor: from } : {}) } },
          }),
        );
        if (request !== latest.current) return;
        setItems((old) => (from ? [...old, ...page.items] : page.items));
        if (!from) setPending((old) => old.filter((p) => !page.items.some((v) => v.id === p.id)));
        setCursor(page.next_cursor);
      } catch (e) {
        if (request === latest.current) setError(errorText(t, e));
      } finally {
        if (request === latest.current) setLoading(false);
      }
    },
    [filter, session],
  );
  const loadNow = useRef(load);
  loadNow.current = load;

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
      job: accepted.job,
      attempt: 0,
      created_at: now,
      updated_at: now,
    };
    setPending((old) => [video, ...old.filter((p) => p.id !== video.id)]);
    // Pick up the real row once the projection has it.
    // (Through the ref: by then the user may have chosen another filter.)
    for (const delay of [1000, 4000]) setTimeout(() => void loadNow.current(), delay);
  };
  const shown = [
    ...pending.filter((p) => !items.some((v) => v.id === p.id) && (!filter || filter === p.status)),
    ...items,
  ].filter((v) => !deletedVideos.has(v.id));

  const unfinished = shown.filter((v) => !TERMINAL.includes(v.status)).map((v) => v.id);
  const merged = useLiveVideos(unfinished, session, session.api);

  return (
    <>
      <PageHeading>{t("videos.title")}</PageHeading>
      <UploadPanel credentials={session} onUploaded={uploaded} />
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
            const state = merged[video.id] ?? {};
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
                  status={state.status ?? video.status}
                  attempt={state.attempt ?? video.attempt}
                  progress={state.progress}
                  failure={state.status ? state.failure : video.failure}
                  reconnecting={state.reconnecting ?? false}
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
