// Live status for a set of videos: one EventSource per unfinished video, at most MAX_STREAMS at once (browsers
// allow 6 HTTP/1.1 connections per origin, and uploads need some); the others are polled.
import { useEffect, useRef, useState } from "preact/hooks";
import type { ApiClient, Credentials } from "./api/client";
import { type ProgressUpdate, watchVideo } from "./api/live";
import { type FailureView, TERMINAL, type VideoStatus } from "./components";

export const MAX_STREAMS = 3;

/**
 * Videos deleted in this page's life. The list reads the read model, which takes a moment to see a deletion:
 * without this, the list shown right after a delete could still hold the video.
 */
export const deletedVideos = new Set<string>();
const POLL_MS = 5000;

export interface LiveState {
  status?: VideoStatus;
  attempt?: number;
  job?: number;
  failure?: FailureView | undefined;
  frameCount?: number | undefined;
  progress?: ProgressUpdate | undefined;
  reconnecting?: boolean;
}

export type LiveMap = Record<string, LiveState>;

/** Follows `ids` (unfinished videos) until each finishes, and returns what is known of each. */
export function useLiveVideos(ids: string[], credentials: Credentials, api: ApiClient): LiveMap {
  const [live, setLive] = useState<LiveMap>({});
  const streams = useRef(new Map<string, () => void>());
  const finished = useRef(new Set<string>());
  const [finishedCount, setFinishedCount] = useState(0);
  const key = `${ids.join(",")}|${finishedCount}`;

  useEffect(() => {
    const update = (id: string, change: Partial<LiveState>) =>
      setLive((all) => ({ ...all, [id]: { ...all[id], ...change } }));
    const open = ids.filter((id) => !finished.current.has(id));
    const wanted = new Set(open.slice(0, MAX_STREAMS));
    for (const [id, stop] of streams.current) {
      if (!wanted.has(id)) {
        stop();
        streams.current.delete(id);
      }
    }
    for (const id of wanted) {
      if (streams.current.has(id)) continue;
      streams.current.set(
        id,
        watchVideo(id, credentials, {
          status: (s) => {
            update(id, {
              status: s.status,
              attempt: s.attempt,
              job: s.job,
              failure: s.failure,
              frameCount: s.frame_count,
              ...(s.status === "processing" ? {} : { progress: undefined }),
            });
            if (TERMINAL.includes(s.status) && !finished.current.has(id)) {
              // Done: free the connection for the next unfinished video.
              finished.current.add(id);
              setFinishedCount((n) => n + 1);
            }
          },
          progress: (p) => update(id, { progress: p, attempt: p.attempt }),
          connection: (state) => update(id, { reconnecting: state === "retrying" }),
        }),
      );
    }
    const polled = open.slice(MAX_STREAMS);
    if (polled.length === 0) return;
    const timer = setInterval(() => {
      for (const id of polled) {
        void api.GET("/api/v1/videos/{id}", { params: { path: { id } } }).then(({ data }) => {
          if (!data) return;
          update(id, { status: data.status, attempt: data.attempt, failure: data.failure });
          if (TERMINAL.includes(data.status) && !finished.current.has(id)) {
            finished.current.add(id);
            setFinishedCount((n) => n + 1);
          }
        });
      }
    }, POLL_MS);
    return () => clearInterval(timer);
  }, [key]);

  useEffect(
    () => () => {
      for (const stop of streams.current.values()) stop();
      streams.current.clear();
    },
    [],
  );
  return live;
}
