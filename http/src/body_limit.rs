//! One limit on request bodies, enforced while they stream: a declared `Content-Length` over it is refused
//! before a byte is read, and a chunked body stops being read at the first byte past it. Either way the answer
//! is 413 `too_large` and memory holds at most the limit. poem-openapi's `Json` reads a whole body with no
//! limit of its own, so without this a single request to an unauthenticated JSON endpoint (login) could make
//! the server buffer gigabytes.
//!
//! Routes that stream a large body on purpose (the uploads) are named by the caller and pass untouched: they
//! enforce their own size limits as they read.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::StreamExt;
use poem::http::{Method, header};
use poem::{Body, Endpoint, EndpointExt, IntoResponse, Request, Response};

use crate::ApiError;

/// Limits every request body to `max_bytes`, except the routes for which `streams_own_body(method, path)` is
/// true.
pub fn with_body_limit<E>(
    endpoint: E,
    max_bytes: u64,
    streams_own_body: fn(&Method, &str) -> bool,
) -> impl Endpoint<Output = Response>
where
    E: Endpoint + 'static,
{
    endpoint.around(move |endpoint, mut request: Request| async move {
        if streams_own_body(request.method(), request.uri().path()) {
            return Ok(endpoint.get_response(request).await);
        }
        let declared = request
            .header(header::CONTENT_LENGTH)
            .and_then(|len| len.parse::<u64>().ok());
        if declared.is_some_and(|len| len > max_bytes) {
            return Ok(ApiError::too_large(max_bytes).into_response());
        }
        let tripped = Arc::new(AtomicBool::new(false));
        let body = limited(request.take_body(), max_bytes, Arc::clone(&tripped));
        request.set_body(body);
        let response = endpoint.get_response(request).await;
        if tripped.load(Ordering::SeqCst) {
            // The handler saw a broken body (and answered 400 for it): the real reason is the size.
            metrics::counter!("fiapx_http_bodies_over_limit_total").increment(1);
            return Ok(ApiError::too_large(max_bytes).into_response());
        }
        Ok(response)
    })
}

/// `body`, failing at the first chunk that goes past `max` bytes (and setting `tripped`).
fn limited(body: Body, max: u64, tripped: Arc<AtomicBool>) -> Body {
    let mut seen = 0_u64;
    let stream = body.into_bytes_stream().map(move |chunk| {
        let chunk = chunk?;
        seen += chunk.len() as u64;
        if seen > max {
            tripped.store(true, Ordering::SeqCst);
            return Err(io::Error::other("the request body is over the size limit"));
        }
        Ok(chunk)
    });
    Body::from_bytes_stream(stream)
}

#[cfg(test)]
mod tests {
    use poem::http::StatusCode;
    use poem::test::TestClient;
    use poem::{Route, handler, post};

    use super::*;

    #[handler]
    async fn echo(body: Body) -> poem::Result<String> {
        let bytes = body
            .into_bytes()
            .await
            .map_err(|e| poem::Error::from_string(e.to_string(), StatusCode::BAD_REQUEST))?;
        Ok(bytes.len().to_string())
    }

    fn uploads(method: &Method, path: &str) -> bool {
        method == Method::POST && path == "/upload"
    }

    fn client() -> TestClient<impl Endpoint> {
        let route = Route::new().at("/json", post(echo)).at("/upload", post(echo));
        TestClient::new(with_body_limit(route, 1000, uploads))
    }

    fn chunked(len: usize) -> Body {
        let chunks = (0..len)
            .step_by(100)
            .map(move |at| Ok::<_, io::Error>(vec![b'{'; 100.min(len - at)]));
        Body::from_bytes_stream(futures::stream::iter(chunks))
    }

    #[tokio::test]
    async fn bodies_over_the_limit_are_413_declared_or_streamed() {
        let client = client();
        let ok = client.post("/json").body(vec![b'a'; 1000]).send().await;
        ok.assert_status_is_ok();
        ok.assert_text("1000").await;

        let declared = client.post("/json").body(vec![b'a'; 1001]).send().await;
        declared.assert_status(StatusCode::PAYLOAD_TOO_LARGE);
        declared.assert_json(serde_json::json!({"code": "too_large", "message": "the body is larger than the limit of 1000 bytes"})).await;

        let streamed = client.post("/json").body(chunked(5000)).send().await;
        streamed.assert_status(StatusCode::PAYLOAD_TOO_LARGE);
        let within = client.post("/json").body(chunked(900)).send().await;
        within.assert_text("900").await;

        let upload = client.post("/upload").body(chunked(5000)).send().await;
        upload.assert_text("5000").await;
    }
}
