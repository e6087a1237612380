// Live status over Server-Sent Events: of one video (GET /api/v1/videos/{id}/events, the video page) and of all
// the user's videos on one stream (GET /api/v1/events, the list). EventSource cannot set
// headers, so the token goes in `?access_token=`. EventSource reconnects by itself after a dropped stream; after a
// refused one (401: the token expired) it gives up, so we renew the token and open a new one, backing off.
import type { components } from "./schema";
import type { Credentials } from "./client";

export type StatusUpdate = components["schemas"]["StatusUpdate"];
export type ProgressUpdate = components["schemas"]["ProgressUpdate"];

export interface LiveHandlers {
  status(update: StatusUpdate): void;
  progress(update: ProgressUpdate): void;
  /** The connection state, for an indicator. */
  connection?(state: "open" | "retrying"): void;
}

type SourceFactory = (url: string) => EventSource;

/** Follows a video until the returned function is called. */
export function watchVideo(
  videoId: string,
  credentials: Credentials,
  handlers: LiveHandlers,
  makeSource: SourceFactory = (url) => new EventSource(url),
): () => void {
  let source: EventSource | null = null;
  let stopped = false;
  let failures = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const open = () => {
    if (stopped) return;
    const token = credentials.token();
    const url = `/api/v1/videos/${encodeURIComponent(videoId)}/events${token ? `?access_token=${encodeURIComponent(token)}` : ""}`;
    const es = makeSource(url);
    source = es;
    es.addEventListener("open", () => {
      failures = 0;
      handlers.connection?.("open");
    });
    es.addEventListener("status", (event) => handlers.status(JSON.parse((event as MessageEvent<string>).data)));
    es.addEventListener("progress", (event) => handlers.progress(JSON.parse((event as MessageEvent<string>).data)));
    es.addEventListener("error", () => {
      if (stopped || es.readyState !== EventSource.CLOSED) {
        handlers.connection?.("retrying");
        return;
      }
      // Refused (401, e.g. an expired token) or ended: renew and reopen, backing off up to 30 s.
      handlers.connection?.("retrying");
      failures += 1;
      const delay = Math.min(30_000, 500 * 2 ** Math.min(failures, 6));
      timer = setTimeout(() => {
        void credentials.renew().finally(open);
      }, delay);
    });
  };

  open();
  return () => {
    stopped = true;
    clearTimeout(timer);
    source?.close();
  };
}

/** The pause before reopening a feed that had been open (the server ends it when the token lapses). */
export const REOPEN_MS = 250;

export interface FeedHandlers extends LiveHandlers {
  /**
   * The stream is open. `resumed`: it goes on right after the last status seen (nothing was missed); otherwise it
   * starts now, and what changed before (while it was closed, or before the list was read) must be read again.
   */
  opened?(resumed: boolean): void;
}

/** The feed's URL: the token in the query (EventSource cannot set headers), and where to resume, when known. */
export function feedUrl(token: string | null, lastEventId: number | undefined): string {
  const query = new URLSearchParams();
  if (token) query.set("access_token", token);
  if (lastEventId !== undefined) query.set("last_event_id", String(lastEventId));
  const text = query.toString();
  return `/api/v1/events${text ? `?${text}` : ""}`;
}

/**
 * Follows every video of the signed-in user on one stream (GET /api/v1/events) until the returned function is
 * called. Each `status` carries its log position (`sequence`, also the SSE id); the server ends the stream when the
 * token lapses, so whenever it ends or is refused the token is renewed and the stream opened again with
 * `last_event_id` = the last position seen: nothing is missed, and a status already seen (at or before that
 * position) is dropped. Reopened at once after a stream that had been open, backing off up to 30 s after refusals.
 */
export function watchFeed(
  credentials: Credentials,
  handlers: FeedHandlers,
  makeSource: SourceFactory = (url) => new EventSource(url),
): () => void {
  let source: EventSource | null = null;
  let stopped = false;
  let failures = 0;
  let lastId: number | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const open = () => {
    if (stopped) return;
    const es = makeSource(feedUrl(credentials.token(), lastId));
    source = es;
    let wasOpen = false;
    es.addEventListener("open", () => {
      wasOpen = true;
      failures = 0;
      handlers.connection?.("open");
      handlers.opened?.(lastId !== undefined);
    });
    es.addEventListener("status", (event) => {
      const update = JSON.parse((event as MessageEvent<string>).data) as StatusUpdate;
      const sequence = update.sequence ?? (Number((event as MessageEvent<string>).lastEventId) || undefined);
      if (sequence !== undefined) {
        if (lastId !== undefined && sequence <= lastId) return;
        lastId = sequence;
      }
      handlers.status(update);
    });
    es.addEventListener("progress", (event) => handlers.progress(JSON.parse((event as MessageEvent<string>).data)));
    es.addEventListener("error", () => {
      if (stopped || source !== es) return;
      // Ended (the token lapsed: EventSource would reconnect with the same, stale token) or refused: either way
      // this source is done; a new one gets a fresh token and the position to resume from.
      es.close();
      source = null;
      handlers.connection?.("retrying");
      failures = wasOpen ? 0 : failures + 1;
      const delay = wasOpen ? REOPEN_MS : Math.min(30_000, 500 * 2 ** Math.min(failures, 6));
      timer = setTimeout(() => {
        void credentials.renew().finally(open);
      }, delay);
    });
  };

  open();
  return () => {
    stopped = true;
    clearTimeout(timer);
    source?.close();
  };
}
