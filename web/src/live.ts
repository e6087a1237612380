// Live status of the list: every video of the user on one stream (GET /api/v1/events, see api/live.ts watchFeed),
// merged over the rows the list read, the newer of the two winning (`updated_at`).
import { useEffect, useRef, useState } from "preact/hooks";
import type { Credentials } from "./api/client";
import { type ProgressUpdate, type StatusUpdate, watchFeed } from "./api/live";
import type { FailureView, Video, VideoStatus } from "./components";

/**
 * Videos deleted in this page's life. The list reads the read model, which takes a moment to see a deletion:
 * without this, the list shown right after a delete could still hold the video.
 */
export const deletedVideos = new Set<string>();

export interface LiveState {
  status?: VideoStatus;
  attempt?: number;
  job?: number;
  failure?: FailureView | undefined;
  frameCount?: number | undefined;
  progress?: ProgressUpdate | undefined;
  /** When the status last changed, as the feed said (to compare with a row read from the list). */
  updatedAt?: string;
}

export type LiveMap = Record<string, LiveState>;

export interface FeedEvents {
  /** A status for a video not shown (uploaded in another tab, or past the pages loaded). */
  unknown?(update: StatusUpdate): void;
  /**
   * A stream opened from now with nothing before it to go on from: changes before it may have been missed; read
   * the list again. Called when it opens and once more FRESH_AGAIN_MS later (the list's read model lags the event
   * log, and a change made just before the stream opened may not be in it yet).
   */
  fresh?(): void;
}

/** The second read after a stream opened from now (see FeedEvents.fresh). */
export const FRESH_AGAIN_MS = 2000;

/**
 * Follows all the user's videos on one stream while mounted: what the feed said of each, whether it is
 * reconnecting. `known(id)` says whether the list shows a video; a status for any other goes to `events.unknown`.
 */
export function useVideoFeed(
  credentials: Credentials,
  known: (id: string) => boolean,
  events: FeedEvents = {},
): { live: LiveMap; reconnecting: boolean } {
  const [live, setLive] = useState<LiveMap>({});
  const [reconnecting, setReconnecting] = useState(false);
  // The latest callbacks, without reopening the stream when they change.
  const current = useRef({ known, events });
  current.current = { known, events };

  useEffect(() => {
    const update = (id: string, change: Partial<LiveState>) =>
      setLive((all) => ({ ...all, [id]: { ...all[id], ...change } }));
    let again: ReturnType<typeof setTimeout> | undefined;
    const stop = watchFeed(credentials, {
      status: (s) => {
        update(s.video_id, {
          status: s.status,
          attempt: s.attempt,
          job: s.job,
          failure: s.failure,
          frameCount: s.frame_count,
          updatedAt: s.updated_at,
          ...(s.status === "processing" ? {} : { progress: undefined }),
        });
        if (s.status === "deleted") deletedVideos.add(s.video_id);
        else if (!current.current.known(s.video_id)) current.current.events.unknown?.(s);
      },
      progress: (p) => update(p.video_id, { progress: p, attempt: p.attempt }),
      connection: (state) => setReconnecting(state === "retrying"),
      opened: (continuous) => {
        if (continuous) return;
        current.current.events.fresh?.();
        clearTimeout(again);
        again = setTimeout(() => current.current.events.fresh?.(), FRESH_AGAIN_MS);
      },
    });
    return () => {
      clearTimeout(again);
      stop();
    };
  }, [credentials]);

  return { live, reconnecting };
}

/** What the list shows for a video: the feed's status when it is at least as recent as the row, else the row's. */
export function shownStatus(
  video: Video,
  state: LiveState | undefined,
): { status: VideoStatus; attempt: number; failure: FailureView | undefined; progress: ProgressUpdate | undefined } {
  const progress = state?.progress && state.progress.job >= video.job ? state.progress : undefined;
  if (state?.status && (!state.updatedAt || time(state.updatedAt) >= time(video.updated_at))) {
    return { status: state.status, attempt: state.attempt ?? video.attempt, failure: state.failure, progress };
  }
  const running = video.status === "processing" || video.status === "queued";
  return {
    status: video.status,
    attempt: Math.max(video.attempt, progress?.attempt ?? 0),
    failure: video.failure,
    progress: running ? progress : undefined,
  };
}

/**
 * The list after reading its first page again (`fresh`) over what it showed (`old`): the page's rows (an old row
 * kept where it is newer, by `updated_at`), then, unless `complete` (only the first page was shown, and the page
 * replaces it), the old rows past the page's last one (the pages loaded with "Load more"). A row of the page's
 * range that the page no longer has (deleted, or out of the filter now) goes.
 */
export function reconcile(old: Video[], fresh: Video[], complete: boolean): Video[] {
  const before = new Map(old.map((v) => [v.id, v]));
  const page = fresh.map((row) => {
    const seen = before.get(row.id);
    return seen && time(seen.updated_at) > time(row.updated_at) ? seen : row;
  });
  const last = fresh[fresh.length - 1];
  if (complete || !last) return page;
  const ids = new Set(fresh.map((v) => v.id));
  return [...page, ...old.filter((v) => !ids.has(v.id) && time(v.created_at) < time(last.created_at))];
}

/** A timestamp's milliseconds (RFC 3339 texts do not compare as strings: `05Z` and `05.120Z`); 0 when unreadable. */
export function time(text: string): number {
  return Date.parse(text) || 0;
}

/** Newest first, by `created_at`. */
export function newestFirst(a: Video, b: Video): number {
  return time(b.created_at) - time(a.created_at);
}
