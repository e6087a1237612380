// A small history-API router: the server answers index.html for every non-/api path (SPA fallback), so deep
// links and reloads work.
import { useEffect, useState } from "preact/hooks";

export type Route =
  | { name: "videos" }
  | { name: "video"; id: string }
  | { name: "settings" }
  | { name: "signin" }
  | { name: "register" }
  | { name: "share"; id: string; token: string }
  | { name: "notFound" };

/** Which screen a location shows. Share links carry their token in the fragment, which is never sent to servers. */
export function parseRoute(pathname: string, hash = ""): Route {
  const path = pathname.replace(/\/+$/, "") || "/";
  if (path === "/") return { name: "videos" };
  if (path === "/signin") return { name: "signin" };
  if (path === "/register") return { name: "register" };
  if (path === "/settings") return { name: "settings" };
  let match = /^\/videos\/([0-9a-fA-F-]{36})$/.exec(path);
  if (match?.[1]) return { name: "video", id: match[1] };
  match = /^\/share\/([0-9a-fA-F-]{36})$/.exec(path);
  if (match?.[1]) {
    const token = new URLSearchParams(hash.replace(/^#/, "")).get("token") ?? "";
    return { name: "share", id: match[1], token };
  }
  return { name: "notFound" };
}

/** The path of a read-only share link. */
export function shareUrl(origin: string, videoId: string, token: string): string {
  return `${origin}/share/${videoId}#token=${encodeURIComponent(token)}`;
}

const CHANGE = "fiapx:navigate";

export function navigate(path: string, replace = false): void {
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  window.dispatchEvent(new Event(CHANGE));
}

export function useRoute(): Route {
  const read = () => parseRoute(location.pathname, location.hash);
  const [route, setRoute] = useState<Route>(read);
  useEffect(() => {
    const update = () => setRoute(read());
    window.addEventListener("popstate", update);
    window.addEventListener(CHANGE, update);
    return () => {
      window.removeEventListener("popstate", update);
      window.removeEventListener(CHANGE, update);
    };
  }, []);
  return route;
}

/** Click handler for in-app links: plain clicks navigate without a reload, modified clicks stay native. */
export function onLinkClick(event: MouseEvent): void {
  const anchor = event.currentTarget as HTMLAnchorElement;
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) {
    return;
  }
  event.preventDefault();
  navigate(anchor.pathname + anchor.search + anchor.hash);
}
