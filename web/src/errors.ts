import { ApiError } from "./api/client";
import { hasMessage, type Translate } from "./i18n";

/** The message to show for an error: ours for known codes, else the server's. */
export function errorText(t: Translate, error: unknown): string {
  if (error instanceof ApiError) {
    if (error.code === "network") return t("error.network");
    const key = `error.${error.code}`;
    if (hasMessage(key)) return t(key, { message: error.message });
    return t("error.generic", { message: error.message || error.code });
  }
  return t("error.generic", { message: error instanceof Error ? error.message : String(error) });
}
