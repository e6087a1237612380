// The signed-in session. The access token lives in memory only; the refresh token in sessionStorage, so a reload
// of the tab keeps the user signed in but closing the tab ends it (see docs/web.md for why).
import type { Session, User } from "./contract";
import { type ApiClient, ApiError, type BaseFetch, type Credentials, createApi, unwrap } from "./client";

const REFRESH_KEY = "fiapx.refresh_token";

type Listener = (user: User | null) => void;

/** Holds the tokens and the user, renews the access token, and tells listeners when the user changes. */
export class SessionStore implements Credentials {
  private access: string | null = null;
  private accessExpires: number | undefined;
  private current: User | null = null;
  private renewing: Promise<boolean> | null = null;
  private readonly listeners = new Set<Listener>();
  /** The API client that sends this session's token. */
  readonly api: ApiClient;

  constructor(
    private readonly storage: Storage = sessionStorage,
    base?: BaseFetch,
  ) {
    this.api = createApi(this, base);
  }

  get user(): User | null {
    return this.current;
  }

  token(): string | null {
    return this.access;
  }

  expiresAt(): number | undefined {
    return this.accessExpires;
  }

  /** Whether a refresh token is kept from earlier in this tab. */
  hasStoredSession(): boolean {
    return this.storage.getItem(REFRESH_KEY) !== null;
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Takes the session a register, login or refresh answered. `answered` is that answer's `Date` header (the
   * server's clock), so that the token's expiry can be told in this browser's clock (see accessExpiry).
   */
  accept(session: Session, answered?: string | null): void {
    this.access = session.access_token;
    this.accessExpires = accessExpiry(session.access_expires_at, answered);
    this.storage.setItem(REFRESH_KEY, session.refresh_token);
    this.setUser(session.user);
  }

  async register(email: string, password: string, displayName: string, locale: "en" | "pt-BR"): Promise<User> {
    const answer = this.api.POST("/api/v1/auth/register", {
      body: { email, password, display_name: displayName, locale },
    });
    const session = await unwrap(answer);
    this.accept(session, (await answer).response.headers.get("Date"));
    return session.user;
  }

  async login(email: string, password: string): Promise<User> {
    const answer = this.api.POST("/api/v1/auth/login", { body: { email, password } });
    const session = await unwrap(answer);
    this.accept(session, (await answer).response.headers.get("Date"));
    return session.user;
  }

  /** Renews the access token with the refresh token (one request at a time); false when signed out. */
  renew(): Promise<boolean> {
    this.renewing ??= this.refresh().finally(() => {
      this.renewing = null;
    });
    return this.renewing;
  }

  private async refresh(): Promise<boolean> {
    const refreshToken = this.storage.getItem(REFRESH_KEY);
    if (!refreshToken) return false;
    try {
      const answer = this.api.POST("/api/v1/auth/refresh", { body: { refresh_token: refreshToken } });
      const session = await unwrap(answer);
      this.accept(session, (await answer).response.headers.get("Date"));
      return true;
    } catch (error) {
      // A refused refresh token (expired, revoked, reused: 400/401/403) ends the session; being throttled (429),
      // a server error or the network keeps it for a later try.
      if (error instanceof ApiError && [400, 401, 403].includes(error.status)) this.forget();
      return false;
    }
  }

  async logout(): Promise<void> {
    const refreshToken = this.storage.getItem(REFRESH_KEY);
    if (refreshToken) {
      try {
        await unwrap(this.api.POST("/api/v1/auth/logout", { body: { refresh_token: refreshToken } }));
      } catch {
        // Signed out locally whatever the server said; the tokens expire on their own.
      }
    }
    this.forget();
  }

  /** Drops every token (e.g. after the server refused the refresh token). */
  forget(): void {
    this.access = null;
    this.accessExpires = undefined;
    this.storage.removeItem(REFRESH_KEY);
    this.setUser(null);
  }

  private setUser(user: User | null): void {
    this.current = user;
    for (const listener of this.listeners) listener(user);
  }
}

/** A difference between the two clocks below this is taken as none (the `Date` header has whole seconds). */
const SKEW_IGNORED_MS = 2000;

/**
 * When an access token expiring at `expiresAt` (the server's clock, `access_expires_at`) lapses in this browser's
 * clock. The answer's `Date` header tells how far the two clocks are apart; a difference under SKEW_IGNORED_MS is
 * taken as none (the header has whole seconds: correcting by it would be off by up to one), a larger one is
 * corrected for. Without the header the clocks are taken to agree. Undefined when the expiry cannot be read.
 */
export function accessExpiry(
  expiresAt: string | undefined,
  answered?: string | null,
  now = Date.now(),
): number | undefined {
  // The token itself holds whole seconds (the server checks `time <= expires` on those): it lapses at the second
  // below the instant the session names.
  const expires = expiresAt ? Math.floor(Date.parse(expiresAt) / 1000) * 1000 : Number.NaN;
  if (Number.isNaN(expires)) return undefined;
  const serverNow = answered ? Date.parse(answered) + 500 : Number.NaN;
  const skew = Number.isNaN(serverNow) ? 0 : serverNow - now;
  return Math.abs(skew) < SKEW_IGNORED_MS ? expires : expires - skew;
}

/** Credentials of a share link: a fixed read-only token that cannot be renewed. */
export function shareCredentials(token: string): Credentials {
  return { token: () => token, renew: async () => false };
}
