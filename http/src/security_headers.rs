//! Headers that every response carries, whatever produced it (an API, the web app, an error): the browser must
//! not guess media types (`nosniff`: a stored file served as HTML would run as a page), must not frame our pages
//! in someone else's (`frame-ancestors 'none'` and its older form `X-Frame-Options: DENY`: clickjacking), must
//! not leak our URLs, which can carry a share token, to other sites (`Referrer-Policy: no-referrer`), and may
//! load and run only what the page's [`ContentSecurityPolicy`] allows.
//!
//! The policy is the caller's: `fiapx serve` builds the web app's (scripts and styles from its own origin only,
//! images also from the storage's origin, since frames are redirects to presigned URLs; see `fiapx::web`) and
//! sets it on every answer, the APIs' JSON and errors included. A page whose scripts and styles are inline (the
//! API docs) sets its own policy instead, with [`ContentSecurityPolicy::inline_page`]: each inline block is
//! allowed by its SHA-256 hash, nothing else runs. An answer that carries its own header keeps it.

use std::fmt;

use base64::Engine as _;
use poem::http::HeaderValue;
use poem::{Endpoint, EndpointExt, IntoResponse, Request, Response};
use sha2::{Digest as _, Sha256};

/// The headers every answer gets besides its Content-Security-Policy.
const FIXED: [(&str, &str); 3] = [
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
];

const CSP: &str = "content-security-policy";

/// Why a policy cannot be built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PolicyError {
    /// A source meant to be an origin is not an absolute `http(s)` URL.
    #[error("{0:?} is not an http(s) URL, so it has no origin a policy can name")]
    NotAnOrigin(String),
}

/// A Content-Security-Policy: directives (`img-src`, ...) in the order they were added, each with its sources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentSecurityPolicy {
    directives: Vec<(&'static str, Vec<String>)>,
}

impl ContentSecurityPolicy {
    /// A policy that allows nothing but what is added: `default-src 'none'`, no `<base>`, no framing by other
    /// pages, forms posted to this origin only.
    pub fn deny_by_default() -> Self {
        Self {
            directives: Vec::new(),
        }
        .with("default-src", ["'none'"])
        .with("base-uri", ["'none'"])
        .with("form-action", ["'self'"])
        .with("frame-ancestors", ["'none'"])
    }

    /// The policy with `directive`'s sources replaced by `sources` (added when it was not there).
    #[must_use]
    pub fn with<S: Into<String>>(
        mut self,
        directive: &'static str,
        sources: impl IntoIterator<Item = S>,
    ) -> Self {
        let sources = sources.into_iter().map(Into::into).collect();
        match self.directives.iter_mut().find(|(name, _)| *name == directive) {
            Some((_, existing)) => *existing = sources,
            None => self.directives.push((directive, sources)),
        }
        self
    }

    /// The sources of `directive`, if it is set.
    pub fn sources(&self, directive: &str) -> Option<&[String]> {
        self.directives
            .iter()
            .find(|(name, _)| *name == directive)
            .map(|(_, sources)| sources.as_slice())
    }

    /// The policy of an HTML page whose scripts and styles are inline blocks (`<script>...</script>` without
    /// `src`, `<style>...</style>`), such as poem-openapi's Swagger UI: each block is allowed by its SHA-256
    /// hash, so an injected one does not run; the page may call its own origin (`fetch`), show images from it and
    /// `data:` URLs, and load nothing else.
    pub fn inline_page(html: &str) -> Self {
        Self::deny_by_default()
            .with("script-src", hashes(html, "script"))
            .with("style-src", hashes(html, "style"))
            .with("img-src", ["'self'", "data:"])
            .with("connect-src", ["'self'"])
    }

    /// The origin (`scheme://host[:port]`, the port only when it is not the scheme's default) of an `http(s)` URL,
    /// as a policy names it: `http://127.0.0.1:18333/bucket` gives `http://127.0.0.1:18333`.
    pub fn origin(url: &str) -> Result<String, PolicyError> {
        let not_an_origin = || PolicyError::NotAnOrigin(url.to_owned());
        let parsed = url::Url::parse(url).map_err(|_| not_an_origin())?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
            return Err(not_an_origin());
        }
        Ok(parsed.origin().ascii_serialization())
    }

    /// The policy as a header value.
    pub fn header_value(&self) -> HeaderValue {
        HeaderValue::from_str(&self.to_string())
            .expect("sources are origins, keywords and hashes: visible ASCII")
    }
}

impl fmt::Display for ContentSecurityPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (name, sources)) in self.directives.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            f.write_str(name)?;
            for source in sources {
                write!(f, " {source}")?;
            }
        }
        Ok(())
    }
}

/// `'sha256-...'` of the content of every inline `<tag>` element of `html` (for `script`, those without `src`),
/// in the order they appear. The content is what the HTML parser hands the browser: the text up to the first
/// `</tag`, line breaks normalised to `\n`.
fn hashes(html: &str, tag: &str) -> Vec<String> {
    // ASCII lowercasing keeps every byte offset, so positions found in `lower` are positions in `html`.
    let lower = html.to_ascii_lowercase();
    let open = format!("<{tag}");
    let close = format!("</{tag}");
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(start) = lower[at..].find(&open).map(|i| at + i + open.len()) {
        at = start;
        // `<scripts>` or `<style-x>` is another element.
        if !lower[start..].starts_with(|c: char| c == '>' || c == '/' || c.is_ascii_whitespace()) {
            continue;
        }
        let Some(body) = lower[start..].find('>').map(|i| start + i + 1) else {
            break;
        };
        let attributes = &lower[start..body - 1];
        let Some(end) = lower[body..].find(&close).map(|i| body + i) else {
            break;
        };
        at = end;
        let external = tag == "script"
            && attributes
                .split(|c: char| c.is_ascii_whitespace())
                .any(|a| a.starts_with("src="));
        if !external {
            let content = html[body..end].replace("\r\n", "\n").replace('\r', "\n");
            let digest = Sha256::digest(content.as_bytes());
            found.push(format!(
                "'sha256-{}'",
                base64::engine::general_purpose::STANDARD.encode(digest)
            ));
        }
    }
    found
}

/// Adds the security headers to every response of `endpoint`, with `policy` as its Content-Security-Policy
/// (keeping any of them the endpoint set itself: a page with its own policy keeps it).
pub fn with_security_headers<E>(
    endpoint: E,
    policy: &ContentSecurityPolicy,
) -> impl Endpoint<Output = Response> + use<E>
where
    E: Endpoint + 'static,
{
    let policy = policy.header_value();
    endpoint.around(move |endpoint, request: Request| {
        let policy = policy.clone();
        async move {
            let mut response = endpoint.get_response(request).await.into_response();
            let headers = response.headers_mut();
            for (name, value) in FIXED {
                if !headers.contains_key(name) {
                    headers.insert(name, HeaderValue::from_static(value));
                }
            }
            if !headers.contains_key(CSP) {
                headers.insert(CSP, policy);
            }
            Ok(response)
        }
    })
}

#[cfg(test)]
mod tests {
    use poem::http::StatusCode;
    use poem::test::TestClient;
    use poem::{Route, get, handler};

    use super::*;

    #[handler]
    fn page() -> &'static str {
        "hello"
    }

    #[handler]
    fn own_policy() -> Response {
        Response::builder().header(CSP, "default-src 'self'").body("docs")
    }

    fn policy() -> ContentSecurityPolicy {
        ContentSecurityPolicy::deny_by_default()
            .with("script-src", ["'self'"])
            .with(
                "img-src",
                [
                    "'self'".to_owned(),
                    ContentSecurityPolicy::origin("http://127.0.0.1:18333/bucket").unwrap(),
                ],
            )
    }

    #[tokio::test]
    async fn answers_and_errors_carry_them_and_a_page_keeps_its_own_policy() {
        let route = Route::new().at("/", get(page)).at("/docs", get(own_policy));
        let client = TestClient::new(with_security_headers(route, &policy()));
        let app = "default-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; \
                   script-src 'self'; img-src 'self' http://127.0.0.1:18333";
        for (path, status, csp) in [
            ("/", StatusCode::OK, app),
            ("/missing", StatusCode::NOT_FOUND, app),
            ("/docs", StatusCode::OK, "default-src 'self'"),
        ] {
            let response = client.get(path).send().await;
            response.assert_status(status);
            for (name, value) in FIXED {
                response.assert_header(name, value);
            }
            response.assert_header(CSP, csp);
        }
    }

    #[test]
    fn directives_are_replaced_not_repeated() {
        let policy = ContentSecurityPolicy::deny_by_default().with("default-src", ["'self'"]);
        assert_eq!(policy.sources("default-src"), Some(&["'self'".to_owned()][..]));
        assert_eq!(policy.to_string().matches("default-src").count(), 1);
        assert_eq!(policy.sources("img-src"), None);
    }

    #[test]
    fn origins_drop_paths_and_default_ports_and_refuse_what_is_not_http() {
        assert_eq!(
            ContentSecurityPolicy::origin("http://127.0.0.1:18333"),
            Ok("http://127.0.0.1:18333".into())
        );
        assert_eq!(
            ContentSecurityPolicy::origin("https://S3.Example.com:443/bucket/key?x=1"),
            Ok("https://s3.example.com".into())
        );
        assert_eq!(
            ContentSecurityPolicy::origin("http://[::1]:9000/"),
            Ok("http://[::1]:9000".into())
        );
        for bad in ["s3.example.com", "file:///tmp/x", "data:text/plain,x", ""] {
            assert_eq!(
                ContentSecurityPolicy::origin(bad),
                Err(PolicyError::NotAnOrigin(bad.into())),
                "{bad}"
            );
        }
    }

    #[test]
    fn inline_blocks_are_allowed_by_their_hashes_and_nothing_else() {
        // The hashes as `printf %s '...' | openssl dgst -sha256 -binary | base64` gives them.
        let html = "<html><head><style charset=\"UTF-8\">p{color:red}</style>\
                    <SCRIPT>alert(1)</SCRIPT><script src=\"/x.js\"></script><scripts>no</scripts>\
                    </head><body><script type=\"module\">let a = 1;\r\nlet b = 2;</script>\
                    <script>var t = \"<script><\\/script>\";</script></body></html>";
        let policy = ContentSecurityPolicy::inline_page(html);
        assert_eq!(
            policy.sources("script-src").unwrap(),
            [
                "'sha256-bhHHL3z2vDgxUt0W3dWQOrprscmda2Y5pLsLg4GF+pI='",
                "'sha256-7T56iJ/lIGhILv8h0hc4LmVl5j4NIE9vy2D+6wjlyDM='",
                // A `<script>` in a script's text (Swagger UI's bundle has one) is text, not an element.
                "'sha256-F+8VSvJjOr79ABYKZvS+kZjqSmmlnTTL4lVJqqahfvk='",
            ]
        );
        assert_eq!(
            policy.sources("style-src").unwrap(),
            ["'sha256-p0bF+un5yUb9MBO6xRb8kPHlY2BdpHVtLiFkDrZPF64='"]
        );
        let text = policy.to_string();
        assert!(!text.contains("unsafe"), "{text}");
        assert!(text.starts_with("default-src 'none';"), "{text}");
    }
}
