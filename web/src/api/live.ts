// Live status of one video over Server-Sent Events (GET /api/v1/videos/{id}/events). EventSource cannot set
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
