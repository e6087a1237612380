// Uploads one file as the raw body of POST /api/v1/videos through XMLHttpRequest, whose upload events give real
// byte progress (fetch has none for request bodies). The spec rides in the query string, the file name in
// X-Fiapx-Filename; an Idempotency-Key makes the retry after a token renewal safe.
import { ApiError, type Credentials, renewable } from "./client";

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

/** The media type to send: the file's own when it is `video/*`, else `application/octet-stream`. */
export function uploadContentType(file: { type: string }): string {
  return file.type.startsWith("video/") ? file.type : "application/octet-stream";
}

export function uploadVideo(
  file: File,
  query: URLSearchParams,
  credentials: Credentials,
  onProgress: Progress,
  makeXhr: () => XMLHttpRequest = () => new XMLHttpRequest(),
): UploadHandle {
  const idempotencyKey = crypto.randomUUID();
  let current: XMLHttpRequest | null = null;
  let aborted = false;

  const once = () =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const xhr = makeXhr();
      current = xhr;
      xhr.open("POST", `/api/v1/videos?${query.toString()}`);
      xhr.setRequestHeader("Content-Type", uploadContentType(file));
      xhr.setRequestHeader("X-Fiapx-Filename", encodeURIComponent(file.name));
      xhr.setRequestHeader("Idempotency-Key", idempotencyKey);
      const token = credentials.token();
      if (token) xhr.setRequestHeader("Authorization", `Bearer ${token}`);
      xhr.upload.onprogress = (event) => onProgress(event.loaded, event.lengthComputable ? event.total : file.size);
      xhr.onload = () => resolve({ status: xhr.status, body: xhr.responseText });
      xhr.onerror = () => reject(new ApiError("network", "network error", 0));
      xhr.onabort = () => reject(new ApiError("aborted", "upload cancelled", 0));
      xhr.send(file);
    });

  const parseError = (status: number, body: string): ApiError => {
    try {
      const parsed = JSON.parse(body) as { code?: string; message?: string };
      if (typeof parsed.code === "string") return new ApiError(parsed.code, parsed.message ?? "", status);
    } catch {
      // not JSON
    }
    return new ApiError(`http_${status}`, body.slice(0, 200), status);
  };

  const run = async (): Promise<Accepted> => {
    let answer = await once();
    if (answer.status === 401 && renewable(parseError(answer.status, answer.body).code) && !aborted) {
      if (await credentials.renew()) {
        onProgress(0, file.size);
        answer = await once();
      }
    }
    if (answer.status === 202 || answer.status === 200 || answer.status === 201) {
      onProgress(file.size, file.size);
      return JSON.parse(answer.body) as Accepted;
    }
    throw parseError(answer.status, answer.body);
  };

  return {
    done: run(),
    abort() {
      aborted = true;
      current?.abort();
    },
  };
}
