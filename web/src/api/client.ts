// The typed API client: openapi-fetch over the paths generated from schemas/openapi.json (schema.d.ts), with the
// bearer token attached and one refresh-and-retry on 401 `token_expired`.
import createClient, { type Client } from "openapi-fetch";
import type { ApiErrorBody } from "./contract";
import type { paths } from "./schema";

export type Paths = paths;
export type ApiClient = Client<Paths>;

/** Where requests get their token, and what to do when the server says it expired. */
export interface Credentials {
  /** The bearer token to send now (null: none). */
  token(): string | null;
  /** Renews the token after a 401 `token_expired`; true when a retry may succeed. */
  renew(): Promise<boolean>;
  /**
   * When the current token lapses, in this browser's clock (ms since the epoch), when known: a live stream that the
   * server will end then can be replaced by a new one before it ends.
   */
  expiresAt?(): number | undefined;
}

/**
 * Whether a 401 calls for one renewal and retry: `token_expired`, and also `invalid_token`: the app only ever
 * sends tokens the server gave it, so "invalid" means the server no longer accepts it (its root key was rotated),
 * or refused it by mistake (seen under CPU load: the authorizer ran out of its time budget); a fresh token from the
 * refresh token is the way out of both. Never more than one retry per request.
 */
export function renewable(code: string): boolean {
  return code === "token_expired" || code === "invalid_token";
}

/**
 * An API error as the UI handles it: the stable code (or `network`), the server's message, the HTTP status, and
 * for a 429 or 503 the seconds the server asked to wait (its `Retry-After`), when it said.
 */
export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
    readonly retryAfter?: number,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/**
 * The seconds a `Retry-After` header asks to wait: the API sends whole seconds; the HTTP-date form is read too
 * (the seconds from `now` to it, at least 0). Undefined when there is no header or it makes no sense.
 */
export function retryAfterSecs(header: string | null | undefined, now: number = Date.now()): number | undefined {
  const text = header?.trim();
  if (!text) return undefined;
  if (/^\d+$/.test(text)) return Number(text);
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - now) / 1000));
}

/** An ApiError from a status, a body (text or parsed JSON) and the Retry-After header. */
export function apiError(status: number, body: unknown, retryAfter: string | null, fallback: string): ApiError {
  const wait = retryAfterSecs(retryAfter);
  if (body && typeof body === "object" && typeof (body as ApiErrorBody).code === "string") {
    return new ApiError((body as ApiErrorBody).code, (body as ApiErrorBody).message ?? "", status, wait);
  }
  return new ApiError(`http_${status}`, fallback, status, wait);
}

/** Reads `{code, message}` from an error response (anything else becomes `http_<status>`). */
export async function errorFrom(response: Response): Promise<ApiError> {
  let body: unknown;
  try {
    body = await response.clone().json();
  } catch {
    // not JSON
  }
  return apiError(response.status, body, response.headers.get("Retry-After"), response.statusText);
}

/** What the client sends requests through (globalThis.fetch, or a fake in tests). */
export type BaseFetch = (request: Request) => Promise<Response>;

/**
 * Whether a request is one of the session endpoints (register, login, refresh, logout): they take no bearer token,
 * and a renewal must never wait on one of them (the refresh would wait on itself).
 */
export function isSessionEndpoint(url: string): boolean {
  return new URL(url, "http://localhost").pathname.startsWith("/api/v1/auth/");
}

/** A fetch that sends the bearer token and, on 401 `token_expired`, renews it once and retries. */
export function authenticatedFetch(credentials: Credentials, base: BaseFetch = (r) => globalThis.fetch(r)) {
  const send = (request: Request) => {
    const copy = request.clone();
    const token = credentials.token();
    if (token) copy.headers.set("Authorization", `Bearer ${token}`);
    return base(copy);
  };
  return async (request: Request): Promise<Response> => {
    if (isSessionEndpoint(request.url)) return base(request);
    const response = await send(request);
    if (response.status === 401 && renewable((await errorFrom(response)).code) && (await credentials.renew())) {
      return send(request);
    }
    return response;
  };
}

/** A client for the API at the page's origin. */
export function createApi(credentials: Credentials, base?: BaseFetch): ApiClient {
  return createClient<Paths>({ baseUrl: "", fetch: authenticatedFetch(credentials, base) });
}

/** Unwraps an openapi-fetch result: its data, or throws an ApiError. */
export async function unwrap<T>(
  result: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<T> {
  let settled;
  try {
    settled = await result;
  } catch (cause) {
    throw new ApiError("network", cause instanceof Error ? cause.message : String(cause), 0);
  }
  const { response, error } = settled;
  if (response.ok) return settled.data as T;
  // openapi-fetch has read the body already: the parsed error is in `error`.
  throw apiError(
    response.status,
    error,
    response.headers.get("Retry-After"),
    typeof error === "string" ? error : response.statusText,
  );
}
