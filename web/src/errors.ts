import { ApiError } from "./api/client";
import { hasMessage, type Translate } from "./i18n";

/**
 * The message to show for an error: ours for known codes, else the server's. A 429 (`rate_limited`: too many
 * attempts, or too many videos in flight) says what the server said and, when its Retry-After did, how long to wait.
 */
export function errorText(t: Translate, error: unknown): string {
  if (error instanceof ApiError) {
    if (error.code === "network") return t("error.network");
    const message = error.message || error.code;
    if (error.code === "rate_limited") {
      return error.retryAfter !== undefined && error.retryAfter > 0
        ? t("error.rate_limited.wait", { message, wait: t("count.seconds", { count: error.retryAfter }) })
        : t("error.rate_limited", { message });
    }
    const key = `error.${error.code}`;
    if (hasMessage(key)) return t(key, { message: error.message });
    return t("error.generic", { message });
  }
  return t("error.generic", { message: error instanceof Error ? error.message : String(error) });
}
