// Live status over Server-Sent Events: of one video (GET /api/v1/videos/{id}/events, the video page) and of all
// the user's videos on one stream (GET /api/v1/events, the list: watchFeed). EventSource cannot set headers, so
// the token goes in `?access_token=`. EventSource reconnects by itself after a dropped stream, but with the same
// URL, so the same stale token; after a refused one (401: the token expired) it gives up. So watchVideo renews the
// token and opens a new stream, backing off; watchFeed replaces its stream before the token lapses.
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

/** The pause before reopening a feed whose stream ended while no other was open. */
export const REOPEN_MS = 250;
/**
 * How long before its token lapses a stream of the feed is replaced: the next one opens (with a fresh token) while
 * this one still runs, so that no change falls between the two. A fifth of the token's remaining lifetime, at
 * least this...
 */
export const HANDOVER_LEAD_MS = 1200;
/** ...and at most this. */
const MAX_HANDOVER_LEAD_MS = 60_000;
/** A stream is replaced this long after it opened at the soonest (a clock far off cannot make renewals spin). */
export const MIN_HANDOVER_MS = 1000;
/** How long a replaced stream keeps running once the next one is open: what it still has on the way arrives. */
export const RETIRE_MS = 1000;

export interface FeedHandlers extends LiveHandlers {
  /**
   * A stream of the feed opened. `continuous`: nothing can have been missed since the last status seen (it
   * resumed from that position, or it opened while the stream it replaces was still running). Otherwise it starts
   * now, and what changed before it (before the first stream, or while none was open) must be read again.
   */
  opened?(continuous: boolean): void;
}

/** The feed's URL: the token in the query (EventSource cannot set headers), and where to resume, when known. */
export function feedUrl(token: string | null, lastEventId: number | undefined): string {
  const query = new URLSearchParams();
  if (token) query.set("access_token", token);
  if (lastEventId !== undefined) query.set("last_event_id", String(lastEventId));
  const text = query.toString();
  return `/api/v1/events${text ? `?${text}` : ""}`;
}

/** The wait before the n-th reopen in a row that was refused: 1 s, 2 s, 4 s... up to 30 s. */
function backoff(failures: number): number {
  return Math.min(30_000, 500 * 2 ** Math.min(failures, 6));
}

/**
 * Follows every video of the signed-in user on one stream (GET /api/v1/events) until the returned function is
 * called. Each `status` carries its log position (`sequence`, also the SSE id). The server ends a stream when its
 * token lapses; when the token's expiry is known (`credentials.expiresAt`), a little before that the token is
 * renewed and the next stream opened while the current one still runs (a handover: the two overlap, nothing falls
 * between them), resuming from the last position seen (`last_event_id`) when there is one; the first stream, too,
 * gets a fresh token when the current one is about to lapse. A status at or before the last position applied for
 * its video (a replay, or the same change on both streams) is dropped. A stream that ends with no other open (no
 * known expiry, a refused renewal, the network) is reopened with a fresh token, 250 ms after one that had been
 * open, backing off up to 30 s after refusals.
 */
export function watchFeed(
  credentials: Credentials,
  handlers: FeedHandlers,
  makeSource: SourceFactory = (url) => new EventSource(url),
): () => void {
  let stopped = false;
  let failures = 0;
  /** The newest position seen: where a new stream resumes. */
  let lastId: number | undefined;
  /** The position of the last status applied, per video. */
  const applied = new Map<string, number>();
  /** The stream in use: its end calls for another. */
  let current: EventSource | null = null;
  /** The stream replacing it, until it opens. */
  let next: EventSource | null = null;
  /** Replaced streams, running out their last moments. */
  const retiring = new Set<EventSource>();
  let handoverTimer: ReturnType<typeof setTimeout> | undefined;
  let reopenTimer: ReturnType<typeof setTimeout> | undefined;

  const onStatus = (event: Event) => {
    const message = event as MessageEvent<string>;
    const update = JSON.parse(message.data) as StatusUpdate;
    const sequence = update.sequence ?? (Number(message.lastEventId) || undefined);
    if (sequence !== undefined) {
      if (sequence <= (applied.get(update.video_id) ?? 0)) return;
      applied.set(update.video_id, sequence);
      lastId = Math.max(lastId ?? 0, sequence);
    }
    handlers.status(update);
  };
  const onProgress = (event: Event) => handlers.progress(JSON.parse((event as MessageEvent<string>).data));

  const retire = (es: EventSource) => {
    retiring.add(es);
    setTimeout(() => {
      retiring.delete(es);
      es.close();
    }, RETIRE_MS);
  };

  /** Replaces `from` before its token lapses, when the expiry is known. */
  const scheduleHandover = (from: EventSource) => {
    clearTimeout(handoverTimer);
    const expires = credentials.expiresAt?.();
    if (expires === undefined) return;
    const remaining = expires - Date.now();
    const lead = Math.min(MAX_HANDOVER_LEAD_MS, Math.max(HANDOVER_LEAD_MS, remaining / 5));
    const delay = Math.min(2 ** 31 - 1, Math.max(MIN_HANDOVER_MS, remaining - lead));
    handoverTimer = setTimeout(() => {
      if (stopped || current !== from || next) return;
      void credentials.renew().then((renewed) => {
        // Not renewed (signed out, the network): the stream runs to its end, which reopens as usual.
        if (renewed && !stopped && current === from && !next) open(true);
      });
    }, delay);
  };

  /** No stream is open, none on its way: open one after `delay`, with a fresh token. */
  const reopen = (delay: number) => {
    handlers.connection?.("retrying");
    clearTimeout(reopenTimer);
    reopenTimer = setTimeout(() => {
      void credentials.renew().finally(() => {
        if (!stopped && !current && !next) open(false);
      });
    }, delay);
  };

  const open = (replacing: boolean) => {
    if (stopped) return;
    const resumed = lastId !== undefined;
    const es = makeSource(feedUrl(credentials.token(), lastId));
    if (replacing) next = es;
    else current = es;
    let wasOpen = false;
    es.addEventListener("open", () => {
      if (stopped || wasOpen) return;
      wasOpen = true;
      failures = 0;
      let continuous = resumed;
      if (es === next) {
        // The stream it replaces still running when this one opened: this one starts no later than where that one
        // is, so the two together miss nothing.
        continuous ||= current !== null;
        if (current) retire(current);
        current = es;
        next = null;
      } else if (es !== current) {
        return;
      }
      handlers.connection?.("open");
      handlers.opened?.(continuous);
      scheduleHandover(es);
    });
    es.addEventListener("status", onStatus);
    es.addEventListener("progress", onProgress);
    es.addEventListener("error", () => {
      // Ended (the token lapsed: EventSource would reconnect with the same, stale token) or refused: either way
      // this source is done.
      es.close();
      if (stopped) return;
      if (retiring.delete(es)) return;
      if (es === next) {
        // The replacement was refused before it opened: the stream in use (if still running) goes on.
        next = null;
        if (!current) {
          failures += 1;
          reopen(backoff(failures));
        }
        return;
      }
      if (es !== current) return;
      current = null;
      clearTimeout(handoverTimer);
      // A replacement on its way takes over when it opens.
      if (next) return;
      failures = wasOpen ? 0 : failures + 1;
      reopen(wasOpen ? REOPEN_MS : backoff(failures));
    });
  };

  // A token about to lapse would have the first stream ended before it could be replaced: renew it first.
  const expires = credentials.expiresAt?.();
  if (expires !== undefined && expires - Date.now() < HANDOVER_LEAD_MS + MIN_HANDOVER_MS) {
    void credentials.renew().finally(() => {
      if (!stopped && !current && !next) open(false);
    });
  } else {
    open(false);
  }
  return () => {
    stopped = true;
    clearTimeout(handoverTimer);
    clearTimeout(reopenTimer);
    for (const es of [current, next, ...retiring]) es?.close();
    retiring.clear();
  };
}
