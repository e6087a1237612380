// Uploads one file with the tus 1.0 resumable protocol (tus-js-client) to /api/v1/uploads: a POST creates the
// upload (name and spec in Upload-Metadata), PATCHes send the bytes in chunks, each with XMLHttpRequest's byte
// progress. The upload's URL is remembered in localStorage under the file's fingerprint until it completes, so the
// same file chosen again (after a reload, a closed tab, a broken link) continues from the bytes the server holds
// (HEAD, Upload-Offset) instead of from 0. Every request carries the current token; a 401 `token_expired` or
// `invalid_token` renews it once and sends again. A 429 (too many videos in flight, or a rate limit) is waited out
// for the server's Retry-After, a few times, and said so (onRetry); network errors and 5xx are retried by
// tus-js-client after RETRY_DELAYS, from the offset the server holds. The upload's id is the video's id.
import {
  type DetailedError,
  type HttpRequest,
  type HttpResponse,
  type HttpStack,
  type PreviousUpload,
  Upload,
  type UploadOptions as TusOptions,
  type UrlStorage,
} from "tus-js-client";
import type { ExtractionSpec } from "../spec";
import { ApiError, apiError, type Credentials, renewable } from "./client";

/** The tus endpoint: POST creates an upload, `<it>/<id>` is one upload (HEAD, PATCH, DELETE). */
export const ENDPOINT = "/api/v1/uploads";
/** Waits (ms) before each retry of a request that failed on the network, a 5xx, a 409 or a 423. */
export const RETRY_DELAYS = [0, 1000, 3000, 5000, 10000];
/**
 * The most bytes one PATCH sends. Each request then carries a fresh token, and a proxy that buffers request bodies
 * loses at most one chunk when the link breaks; larger chunks only save a request every few seconds.
 */
export const CHUNK_SIZE = 16 * 1024 * 1024;
/** localStorage key of a chunk size (bytes) that replaces CHUNK_SIZE: the e2e suite sends small chunks with it. */
export const CHUNK_SIZE_KEY = "fiapx.upload.chunkSize";
/** The prefix of the localStorage keys that remember unfinished uploads (tus-js-client's own format after it). */
export const STORED_PREFIX = "tus::";
/** Remembered uploads older than this are dropped (the server forgets unfinished uploads after a day by default). */
export const STORED_MAX_AGE_MS = 7 * 24 * 3600 * 1000;

/** What a finished upload is: the video it made (status `queued`). */
export interface Accepted {
  id: string;
}

export interface UploadHandle {
  done: Promise<Accepted>;
  /** Stops the upload and removes it from the server (tus termination) and from the remembered ones. */
  abort(): void;
}

type Progress = (loaded: number, total: number) => void;

/** A 429 the upload waits out: the refusal, how long it waits, and which retry comes next. */
export interface RetryWait {
  error: ApiError;
  /** Seconds until the upload is tried again. */
  seconds: number;
  /** 1 for the first retry. */
  retry: number;
  /** How many retries there may be in all. */
  retries: number;
}

export interface UploadOptions {
  /** Told when a 429 is waited out; after the wait the upload goes on by itself (progress is told again). */
  onRetry?: (wait: RetryWait) => void;
  /** Told once when an earlier try of this file is continued: the bytes the server already holds, of `total`. */
  onResume?: (offset: number, total: number) => void;
  /** Retries after a 429, at most (default RETRIES). */
  retries?: number;
  /** The signed-in user's id: an upload is only resumed by the user who started it. */
  owner?: string;
  /** Where unfinished uploads are remembered, and the chunk size read (default localStorage). */
  storage?: Storage;
  /** Tests only: the HTTP layer (default tus-js-client's, over XMLHttpRequest). */
  httpStack?: HttpStack;
}

/** Retries after a 429 before the refusal is the upload's answer. */
export const RETRIES = 3;
/** The wait when a 429 says nothing (no Retry-After). */
export const DEFAULT_RETRY_SECS = 5;
/** A longer Retry-After is not waited out in the page: the refusal is shown, with the wait, and the user decides. */
export const MAX_RETRY_SECS = 120;

/** Seconds to wait before trying again after a 429 with this Retry-After (null: do not wait it out). */
export function retryDelay(retryAfter: number | undefined): number | null {
  const seconds = Math.max(1, retryAfter ?? DEFAULT_RETRY_SECS);
  return seconds <= MAX_RETRY_SECS ? seconds : null;
}

/** The chunk size to send with: a positive whole number of bytes under CHUNK_SIZE_KEY, else CHUNK_SIZE. */
export function chunkSize(storage: Storage | undefined): number {
  let stored: string | null = null;
  try {
    stored = storage?.getItem(CHUNK_SIZE_KEY) ?? null;
  } catch {
    // storage unreadable
  }
  const size = stored !== null && /^\s*\d+\s*$/.test(stored) ? Number(stored) : 0;
  return size > 0 ? size : CHUNK_SIZE;
}

/** The video id of an upload URL: its last path segment (`/api/v1/uploads/<id>`). */
export function uploadId(url: string): string {
  const segments = new URL(url, "http://localhost").pathname.split("/").filter((s) => s !== "");
  const last = segments.at(-1);
  if (!last) throw new ApiError("http_201", `no upload id in ${url}`, 201);
  return decodeURIComponent(last);
}

/**
 * What tells one file's upload from another's: the user, the file (name, type, size, last change) and the spec,
 * so that the same file chosen with another spec is a new upload (the spec is fixed when the upload is created).
 */
export function fingerprint(owner: string, file: File, spec: ExtractionSpec): string {
  return ["fiapx", owner, file.name, file.type, file.size, file.lastModified, JSON.stringify(spec)].join("|");
}

/**
 * Unfinished uploads, remembered in a Web Storage (localStorage) the way tus-js-client's own browser storage does
 * (`tus::<fingerprint>::<n>` → the upload's URL, size, metadata and creation time); a storage the browser refuses
 * (private modes, a sandbox) remembers nothing.
 */
export class StoredUploads implements UrlStorage {
  constructor(private readonly storage: Storage | undefined) {}

  async findAllUploads(): Promise<PreviousUpload[]> {
    return this.entries(STORED_PREFIX);
  }

  async findUploadsByFingerprint(fingerprint: string): Promise<PreviousUpload[]> {
    return this.entries(`${STORED_PREFIX}${fingerprint}::`);
  }

  async removeUpload(urlStorageKey: string): Promise<void> {
    this.attempt(() => this.storage?.removeItem(urlStorageKey));
  }

  async addUpload(fingerprint: string, upload: PreviousUpload): Promise<string> {
    const key = `${STORED_PREFIX}${fingerprint}::${Math.round(Math.random() * 1e12)}`;
    this.attempt(() => this.storage?.setItem(key, JSON.stringify(upload)));
    return key;
  }

  /** Forgets every remembered upload at `url`. */
  async forgetUrl(url: string): Promise<void> {
    for (const upload of this.entries(STORED_PREFIX)) {
      if (upload.uploadUrl === url) await this.removeUpload(upload.urlStorageKey);
    }
  }

  /** Forgets the uploads remembered before `now - maxAgeMs` (and the entries that cannot be read). */
  prune(now = Date.now(), maxAgeMs = STORED_MAX_AGE_MS): void {
    for (const key of this.keys(STORED_PREFIX)) {
      const upload = this.read(key);
      const created = upload ? Date.parse(upload.creationTime) : Number.NaN;
      if (!upload || !(created >= now - maxAgeMs)) this.attempt(() => this.storage?.removeItem(key));
    }
  }

  private keys(prefix: string): string[] {
    const keys: string[] = [];
    this.attempt(() => {
      const storage = this.storage;
      if (!storage) return;
      for (let i = 0; i < storage.length; i++) {
        const key = storage.key(i);
        if (key?.startsWith(prefix)) keys.push(key);
      }
    });
    return keys;
  }

  private read(key: string): PreviousUpload | null {
    let upload: PreviousUpload | null = null;
    this.attempt(() => {
      const parsed: unknown = JSON.parse(this.storage?.getItem(key) ?? "null");
      if (parsed && typeof parsed === "object") upload = { ...(parsed as PreviousUpload), urlStorageKey: key };
    });
    return upload;
  }

  private entries(prefix: string): PreviousUpload[] {
    return this.keys(prefix).flatMap((key) => this.read(key) ?? []);
  }

  private attempt(action: () => void): void {
    try {
      action();
    } catch {
      // A storage the browser refuses (quota, private mode, sandbox), or an entry that is not JSON: skipped.
    }
  }
}

/** An answer that is not left to tus-js-client: a 401, a 429 or a 5xx (thrown from onAfterResponse). */
class Refusal extends Error {
  constructor(readonly error: ApiError) {
    super(error.message);
    this.name = "Refusal";
  }
}

/**
 * The ApiError of an answer: its JSON `{code, message}` body, status and Retry-After. A 401 without a body (a HEAD's)
 * takes its code from the `WWW-Authenticate` challenge's `error_description` (`token_expired`, ...).
 */
export function responseError(res: HttpResponse): ApiError {
  const body = res.getBody() ?? "";
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    // not JSON
  }
  if (parsed === undefined && res.getStatus() === 401) {
    const code = /error_description="([a-z_]+)"/.exec(res.getHeader("WWW-Authenticate") ?? "")?.[1];
    if (code) parsed = { code, message: "" };
  }
  return apiError(res.getStatus(), parsed, res.getHeader("Retry-After") ?? null, body.slice(0, 200));
}

/** The ApiError an upload fails with: the server's refusal, the network, or tus-js-client's own complaint. */
export function uploadError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof Refusal) return error.error;
  const detailed = error as Partial<DetailedError> | null;
  if (detailed?.causingError instanceof Refusal) return detailed.causingError.error;
  if (detailed?.causingError instanceof ApiError) return detailed.causingError;
  if (detailed?.originalResponse) return responseError(detailed.originalResponse);
  // A request that got no answer (tus-js-client names the request it was), or one that never left.
  if (detailed?.originalRequest) return new ApiError("network", "network error", 0);
  return new ApiError("upload_failed", error instanceof Error ? error.message : String(error), 0);
}

/** Whether the server no longer has a usable upload after this refusal: then it is not remembered any more. */
function discarded(error: ApiError): boolean {
  return error.status >= 400 && error.status < 500 && ![401, 408, 409, 423, 429].includes(error.status);
}

const online = () => typeof navigator === "undefined" || navigator.onLine !== false;

/** Sends `file` with its extraction `spec`; the promise is the video it made. */
export function uploadVideo(
  file: File,
  spec: ExtractionSpec,
  credentials: Credentials,
  onProgress: Progress,
  options: UploadOptions = {},
): UploadHandle {
  const { onRetry, onResume, retries = RETRIES, owner = "", httpStack } = options;
  const storage = "storage" in options ? options.storage : globalStorage();
  const stored = new StoredUploads(storage);
  const cancelled = () => new ApiError("aborted", "upload cancelled", 0);
  let aborted = false;
  let settled = false;
  let cancelWait: (() => void) | null = null;
  /** 429s waited out so far. */
  let waited = 0;
  /** The renewal after the last 401, awaited by the next request. */
  let renewal: Promise<boolean> | null = null;
  /** The 401 that asked for that renewal; a second one before any answer of 2xx is the upload's answer. */
  let lastRefusal: ApiError | null = null;
  /** Whether an earlier try is being continued and its first HEAD has not answered yet. */
  let resuming = false;
  let loaded = 0;
  let resolveDone: (accepted: Accepted) => void = () => undefined;
  let rejectDone: (error: unknown) => void = () => undefined;
  const done = new Promise<Accepted>((resolve, reject) => {
    resolveDone = resolve;
    rejectDone = reject;
  });
  const settle = (outcome: () => void) => {
    if (settled) return;
    settled = true;
    outcome();
  };

  const tus: TusOptions = {
    endpoint: ENDPOINT,
    metadata: { filename: file.name, spec: JSON.stringify(spec) },
    fingerprint: async (f) => fingerprint(owner, f, spec),
    chunkSize: chunkSize(storage),
    retryDelays: RETRY_DELAYS,
    removeFingerprintOnSuccess: true,
    urlStorage: stored,
    ...(httpStack ? { httpStack } : {}),
    onBeforeRequest: async (req: HttpRequest) => {
      if (renewal) {
        const renewed = await renewal;
        renewal = null;
        // Signed out (the refresh token was refused): sending with the old token would only be refused again.
        if (!renewed && lastRefusal) throw new Refusal(lastRefusal);
      }
      const token = credentials.token();
      if (token) req.setHeader("Authorization", `Bearer ${token}`);
    },
    onAfterResponse: async (req: HttpRequest, res: HttpResponse) => {
      const status = res.getStatus();
      // Taken from tus-js-client, which would read them as "start a new upload" on a HEAD (a 401 or 429 would
      // then lose the bytes the server holds) or hand a 429 to its fixed retry delays.
      if (status === 401 || status === 429 || status >= 500) throw new Refusal(responseError(res));
      if (status >= 200 && status < 300) lastRefusal = null;
      if (resuming && req.getMethod() === "HEAD") {
        resuming = false;
        const offset = Number.parseInt(res.getHeader("Upload-Offset") ?? "", 10);
        const length = Number.parseInt(res.getHeader("Upload-Length") ?? "", 10);
        if (status >= 200 && status < 300 && offset > 0 && length > 0) {
          loaded = offset;
          onResume?.(offset, length);
        }
      }
    },
    onShouldRetry: (error: DetailedError) => {
      if (aborted) return false;
      const refusal = error.causingError instanceof Refusal ? error.causingError.error : null;
      if (refusal?.status === 401) {
        // A HEAD's answer has no body: its code comes from WWW-Authenticate; without one, a 401 is taken as an
        // expired token (a renewal tells).
        const bodiless = error.originalRequest?.getMethod() === "HEAD" && refusal.code === "http_401";
        if (!(renewable(refusal.code) || bodiless) || lastRefusal) return false;
        lastRefusal = refusal;
        renewal = credentials.renew();
        return true;
      }
      // Waited out below, for the server's Retry-After.
      if (refusal?.status === 429) return false;
      if (refusal) return online();
      const status = error.originalResponse?.getStatus() ?? 0;
      // 408 `too_slow`: the server cut a body that came in under its minimum rate and kept what came: resume.
      return (status < 400 || status === 408 || status === 409 || status === 423) && online();
    },
    onProgress: (sent: number, total: number) => {
      loaded = sent;
      onProgress(sent, total);
    },
    onSuccess: () => {
      const url = upload.url;
      settle(() => {
        try {
          resolveDone({ id: uploadId(url ?? "") });
        } catch (error) {
          rejectDone(error);
        }
      });
    },
    onError: (cause: Error) => {
      if (aborted) return;
      const error = uploadError(cause);
      const seconds = error.status === 429 && waited < retries ? retryDelay(error.retryAfter) : null;
      if (seconds !== null) {
        waited += 1;
        // A renewal after the wait is a new one: the wait can outlive the token.
        lastRefusal = null;
        onRetry?.({ error, seconds, retry: waited, retries });
        pause(seconds).then(
          () => {
            onProgress(loaded, file.size);
            upload.start();
          },
          () => undefined,
        );
        return;
      }
      if (discarded(error) && upload.url) void stored.forgetUrl(upload.url);
      settle(() => rejectDone(error));
    },
  };
  const upload = new Upload(file, tus);

  /** Waits `seconds`, or until abort() (then rejects). */
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

  void (async () => {
    stored.prune();
    try {
      const previous = await upload.findPreviousUploads();
      const newest = previous
        .filter((p) => p.uploadUrl)
        .sort((a, b) => (Date.parse(b.creationTime) || 0) - (Date.parse(a.creationTime) || 0))[0];
      if (newest) {
        upload.resumeFromPreviousUpload(newest);
        resuming = true;
      }
    } catch {
      // Nothing remembered can be read: a new upload.
    }
    if (!aborted) upload.start();
  })();

  return {
    done,
    abort() {
      if (aborted || settled) return;
      aborted = true;
      cancelWait?.();
      const url = upload.url;
      void upload
        .abort(true)
        .catch(() => undefined)
        .then(() => (url ? stored.forgetUrl(url) : undefined));
      settle(() => rejectDone(cancelled()));
    },
  };
}

/** localStorage, or none where the browser refuses it. */
function globalStorage(): Storage | undefined {
  try {
    return globalThis.localStorage;
  } catch {
    return undefined;
  }
}
