//! The web app (`web/`, built by Vite into `web/dist`) served next to the HTTP APIs.
//!
//! Every request goes to the APIs first. A `GET`/`HEAD` outside `/api` that they do not know (404) is the web
//! app's: a file of the build if there is one, else `index.html`, so that the single-page app's own paths
//! (`/videos/<id>`, `/share/<id>`) survive a reload (SPA fallback). Vite names the files under `assets/` by a hash
//! of their content, so they are cached for a year (`immutable`); everything else (`index.html` above all, which
//! names the current assets) is `no-cache`: revalidated on every load, answered 304 when unchanged.
//!
//! A missing build is not an error: the APIs work as before and `/` says how to build the app.
//!
//! [`content_security_policy`] is the app's Content-Security-Policy, which `fiapx serve` sets on every answer (the
//! APIs' included; the API docs page sets its own): what the build loads, and nothing more.

use std::path::{Component, Path, PathBuf};
use std::time::UNIX_EPOCH;

use fiapx_http::{ContentSecurityPolicy, PolicyError};
use poem::http::{HeaderMap, Method, StatusCode, header};
use poem::{Endpoint, IntoResponse, Request, Response, Result};

/// Cache policy of content-hashed build outputs (`assets/...`).
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Cache policy of everything else, `index.html` included.
pub const NO_CACHE: &str = "no-cache";

const HINT: &str = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>FIAP X</title></head>\n\
<body><h1>FIAP X</h1><p>The API is up (<a href=\"/api/docs\">API docs</a>), but the web app is not built.</p>\n\
<p>Build it with <code>make web-build</code> (or <code>cd web &amp;&amp; npm ci &amp;&amp; npm run build</code>), \
or point the setting <code>http.web_dir</code> (<code>FIAPX__HTTP__WEB_DIR</code>) at a build.</p></body></html>\n";

/// The web app's Content-Security-Policy, from what the build in `web/` loads:
///
/// - `script-src 'self'`, `style-src 'self'`: Vite emits one module script and one stylesheet under `assets/`,
///   `index.html` has no inline script or style, and the app sets no `style` attribute (the e2e suite fails on
///   any violation);
/// - `img-src 'self' data: <storage>`: the favicon is a `data:` URL in `index.html`, and a frame's image is
///   `/api/v1/videos/{id}/frames/{n}`, a 302 to a presigned URL on the storage's origin (`s3.endpoint`: the
///   URLs are signed for that host);
/// - `connect-src 'self'`: the API (fetch), the tus uploads (XMLHttpRequest) and the live streams (EventSource)
///   are all on this origin; a download is a navigation (to the API, then its 302 to the storage), which the
///   policy does not restrict;
/// - everything else is refused (`default-src 'none'`): no fonts, frames, workers, plugins, `<base>`; forms post
///   here only, and no other site may frame the app.
pub fn content_security_policy(
    storage: &fiapx_storage::S3Settings,
) -> Result<ContentSecurityPolicy, PolicyError> {
    let storage = ContentSecurityPolicy::origin(&storage.endpoint)?;
    Ok(ContentSecurityPolicy::deny_by_default()
        .with("script-src", ["'self'"])
        .with("style-src", ["'self'"])
        .with("img-src", ["'self'".to_owned(), "data:".to_owned(), storage])
        .with("connect-src", ["'self'"]))
}

/// The APIs in `inner`, with the web app in `dir` (relative paths are taken from the working directory) behind
/// them.
pub fn with_web_app<E: Endpoint>(inner: E, dir: impl Into<PathBuf>) -> WebApp<E> {
    WebApp {
        inner,
        dir: dir.into(),
    }
}

/// See [`with_web_app`].
pub struct WebApp<E> {
    inner: E,
    dir: PathBuf,
}

impl<E: Endpoint> Endpoint for WebApp<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Response> {
        let path = req.uri().path().to_owned();
        let page = (req.method() == Method::GET || req.method() == Method::HEAD) && !is_server(&path);
        if !page {
            return self.inner.call(req).await.map(IntoResponse::into_response);
        }
        let headers = req.headers().clone();
        let head = req.method() == Method::HEAD;
        let answer = self.inner.call(req).await.map(IntoResponse::into_response);
        let not_found = match &answer {
            Ok(response) => response.status() == StatusCode::NOT_FOUND,
            Err(error) => error.status() == StatusCode::NOT_FOUND,
        };
        if !not_found {
            return answer;
        }
        match self.page(&path, &headers).await {
            Some(mut response) => {
                if head {
                    response.set_body(());
                }
                Ok(response)
            }
            None => answer,
        }
    }
}

impl<E> WebApp<E> {
    /// The web app's answer for `path`, or `None` to keep the APIs' 404.
    async fn page(&self, path: &str, headers: &HeaderMap) -> Option<Response> {
        let index = self.dir.join("index.html");
        if !tokio::fs::try_exists(&index).await.unwrap_or(false) {
            return (path == "/").then(|| {
                Response::builder()
                    .content_type("text/html; charset=utf-8")
                    .header(header::CACHE_CONTROL, NO_CACHE)
                    .body(HINT)
            });
        }
        let relative = relative_path(path)?;
        if !relative.as_os_str().is_empty() {
            let file = self.dir.join(&relative);
            if tokio::fs::metadata(&file).await.is_ok_and(|m| m.is_file()) {
                let cache = if relative.starts_with("assets") {
                    IMMUTABLE
                } else {
                    NO_CACHE
                };
                return file_response(&file, cache, headers).await;
            }
            // A missing asset is a 404, never index.html: a page holding stale hashed names must fail loudly,
            // not run HTML as a script.
            if relative.starts_with("assets") {
                return None;
            }
        }
        file_response(&index, NO_CACHE, headers).await
    }
}

/// `/api` and everything under it belongs to the APIs, whatever the method; `/metrics` is served on a listener of
/// its own, so here it stays a 404 (a scraper pointed at the public port fails loudly instead of reading a page).
fn is_server(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/") || path == "/metrics"
}

/// The request path as a relative file path, or `None` when it tries to leave the directory or is not UTF-8.
fn relative_path(path: &str) -> Option<PathBuf> {
    let decoded = percent_decode(path)?;
    let mut relative = PathBuf::new();
    for component in Path::new(decoded.trim_start_matches('/')).components() {
        match component {
            Component::Normal(part) => relative.push(part),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(relative)
}

/// `%XX` escapes decoded; `None` for a bad escape or bytes that are not UTF-8.
fn percent_decode(path: &str) -> Option<String> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        if byte == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(byte);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

async fn file_response(file: &Path, cache: &'static str, headers: &HeaderMap) -> Option<Response> {
    let metadata = tokio::fs::metadata(file).await.ok()?;
    let modified = metadata
        .modified()
        .ok()
        .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |since| since.as_nanos());
    let etag = format!("\"{:x}-{:x}\"", metadata.len(), modified);
    let builder = Response::builder()
        .header(header::CACHE_CONTROL, cache)
        .header(header::ETAG, etag.as_str());
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .split(',')
                .any(|tag| tag.trim() == etag || tag.trim() == "*")
        });
    if matches {
        return Some(builder.status(StatusCode::NOT_MODIFIED).finish());
    }
    let body = tokio::fs::read(file).await.ok()?;
    Some(builder.content_type(content_type(file)).body(body))
}

/// The media type of a build output, by extension (Vite emits only these kinds).
fn content_type(file: &Path) -> &'static str {
    let extension = file
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    match extension.as_str() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "txt" => "text/plain; charset=utf-8",
        "webmanifest" => "application/manifest+json",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_cannot_leave_the_directory() {
        assert_eq!(relative_path("/"), Some(PathBuf::new()));
        assert_eq!(
            relative_path("/assets/index-1.js"),
            Some(PathBuf::from("assets/index-1.js"))
        );
        assert_eq!(relative_path("/a/./b"), Some(PathBuf::from("a/b")));
        assert_eq!(relative_path("/../etc/passwd"), None);
        assert_eq!(relative_path("/assets/%2e%2e/%2e%2e/secret"), None);
        assert_eq!(relative_path("/%ff"), None);
        assert_eq!(relative_path("/%zz"), None);
        assert_eq!(relative_path("/caf%C3%A9"), Some(PathBuf::from("café")));
    }

    #[test]
    fn api_paths_are_the_apis() {
        assert!(is_server("/api"));
        assert!(is_server("/api/v1/videos"));
        assert!(is_server("/metrics"));
        assert!(!is_server("/apiary"));
        assert!(!is_server("/videos/1"));
    }
}
