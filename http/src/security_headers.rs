//! Headers that every response carries, whatever produced it (an API, the web app, an error): the browser must
//! not guess media types (`nosniff`: a stored file served as HTML would run as a page), must not frame our pages
//! in someone else's (`frame-ancestors 'none'` and its older form `X-Frame-Options: DENY`: clickjacking), and
//! must not leak our URLs, which can carry a share token, to other sites (`Referrer-Policy: no-referrer`).
//!
//! A full Content-Security-Policy for the web app (scripts, styles, images from S3's presigned URLs) is not set
//! here yet: it needs the storage's public origin, and the API docs page would need its own.

use poem::http::HeaderValue;
use poem::{Endpoint, EndpointExt, IntoResponse, Request, Response};

const HEADERS: [(&str, &str); 4] = [
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("content-security-policy", "frame-ancestors 'none'"),
    ("referrer-policy", "no-referrer"),
];

/// Adds the security headers to every response of `endpoint` (keeping any the endpoint set itself).
pub fn with_security_headers<E>(endpoint: E) -> impl Endpoint<Output = Response>
where
    E: Endpoint + 'static,
{
    endpoint.around(|endpoint, request: Request| async move {
        let mut response = endpoint.get_response(request).await.into_response();
        let headers = response.headers_mut();
        for (name, value) in HEADERS {
            if !headers.contains_key(name) {
                headers.insert(name, HeaderValue::from_static(value));
            }
        }
        Ok(response)
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

    #[tokio::test]
    async fn answers_and_errors_carry_them() {
        let client = TestClient::new(with_security_headers(Route::new().at("/", get(page))));
        for (path, status) in [("/", StatusCode::OK), ("/missing", StatusCode::NOT_FOUND)] {
            let response = client.get(path).send().await;
            response.assert_status(status);
            for (name, value) in HEADERS {
                response.assert_header(name, value);
            }
        }
    }
}
