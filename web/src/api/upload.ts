// Uploads one file as the raw body of POST /api/v1/videos through XMLHttpRequest, whose upload events give real
// byte progress (fetch has none for request bodies). The spec rides in the query string, the file name in
// X-Fiapx-Filename; an Idempotency-Key makes the retries safe: after a token renewal, and after a 429 (too many
// uploads in flight, or a rate limit), sent again by itself once the server's Retry-After has passed, a few times.
import { ApiError, apiError, type Credentials, renewable } from "./client";

export interface Accepted {
  id: string;
  status: string;
  job: number;
}

export interface UploadHandle {
  done: Promise<Accepted>;
  abort(): void;
}

type Progress = (loaded: number, total: number) => void;

/** A 429 the upload waits out: the refusal, how long it waits, and which retry comes next. */
export interface RetryWait {
  error: ApiError;
  /** Seconds until the file is sent again. */
  seconds: number;
  /** 1 for the first retry. */
  retry: number;
  /** How many retries there may be in all. */
  retries: number;
}

export interface UploadOptions {
  /** Told when a 429 is waited out; after the wait the upload starts over (progress 0) by itself. */
  onRetry?: (wait: RetryWait) => void;
  /** Retries after a 429, at most (default RETRIES). */
  retries?: number;
  makeXhr?: () => XMLHttpRequest;
}

/** Retries after a 429 before the refusal is the upload's answer. */
export const RETRIES = 3;
/** The wait when a 429 says nothing (no Retry-After). */
export const DEFAULT_RETRY_SECS = 5;
/** A longer Retry-After is not waited out in the page: the refusal is shown, with the wait, and the user decides. */
export const MAX_RETRY_SECS = 120;

/** The media type to send: the file's own when it is `video/*`, else `application/octet-stream`. */
export function uploadContentType(file: { type: string }): string {
  return file.type.startsWith("video/") ? file.type : "application/octet-stream";
}

/** Seconds to wait before sending again after a 429 with this Retry-After (null: do not wait it out). */
export function retryDelay(retryAfter: number | undefined): number | null {
  const seconds = Math.max(1, retryAfter ?? DEFAULT_RETRY_SECS);
  return seconds <= MAX_RETRY_SECS ? seconds : null;
}

export function uploadVideo(
  file: File,
  query: URLSearchParams,
  credentials: Credentials,
  onProgress: Progress,
  options: UploadOptions = {},
): UploadHandle {
  const { onRetry, retries = RETRIES, makeXhr = () => new XMLHttpRequest() } = options;
  const idempotencyKey = crypto.randomUUID();
  let current: XMLHttpRequest | null = null;
  let cancelWait: (() => void) | null = null;
  let aborted = false;
  const cancelled = () => new ApiError("aborted", "upload cancelled", 0);

  const once = () =>
    new Promise<{ status: number; body: string; retryAfter: string | null }>((resolve, reject) => {
      const xhr = makeXhr();
      current = xhr;
      xhr.open("POST", `/api/v1/videos?${query.toString()}`);
      xhr.setRequestHeader("Content-Type", uploadContentType(file));
      xhr.setRequestHeader("X-Fiapx-Filename", encodeURIComponent(file.name));
      xhr.setRequestHeader("Idempotency-Key", idempotencyKey);
      const token = credentials.token();
      if (token) xhr.setRequestHeader("Authorization", `Bearer ${token}`);
      xhr.upload.onprogress = (event) => onProgress(event.loaded, event.lengthComputable ? event.total : file.size);
      xhr.onload = () =>
        resolve({ status: xhr.status, body: xhr.responseText, retryAfter: xhr.getResponseHeader("Retry-After") });
      xhr.onerror = () => reject(new ApiError("network", "network error", 0));
      xhr.onabort = () => reject(cancelled());
      xhr.send(file);
    });

  /** Waits `seconds`, or until abort() (then rejects as cancelled). */
  const pause = (seconds: number) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        cancelWait = null;
        resolve();
      }, seconds * 1000);
      cancelWait = () => {
        clearTimeout(timer);
        cancelWait = null;
        reject(cancelled());
      };
    });

  const parseError = (status: number, body: string, retryAfter: string | null): ApiError => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      // not JSON
    }
    return apiError(status, parsed, retryAfter, body.slice(0, 200));
  };

  const run = async (): Promise<Accepted> => {
    let retried = 0;
    // One renewal per refusal in a row: a wait of many seconds can outlive the token again.
    let renewed = false;
    for (;;) {
      const answer = await once();
      if (answer.status === 202 || answer.status === 200 || answer.status === 201) {
        onProgress(file.size, file.size);
        return JSON.parse(answer.body) as Accepted;
      }
      const error = parseError(answer.status, answer.body, answer.retryAfter);
      if (aborted) throw cancelled();
      if (answer.status === 401 && renewable(error.code) && !renewed) {
        renewed = true;
        if (await credentials.renew()) {
          onProgress(0, file.size);
          continue;
        }
        throw error;
      }
      renewed = false;
      const seconds = answer.status === 429 && retried < retries ? retryDelay(error.retryAfter) : null;
      if (seconds === null) throw error;
      retried += 1;
      onRetry?.({ error, seconds, retry: retried, retries });
      await pause(seconds);
      onProgress(0, file.size);
    }
  };

  return {
    done: run(),
    abort() {
      aborted = true;
      current?.abort();
      cancelWait?.();
    },
  };
}
