//! For tests of services that take [`crate::Owner`]: the application under test with the test verifier of
//! `fiapx_identity::test_support` attached (keys and bearer values live there), and what those tests read from the
//! responses.

use fiapx_identity::test_support::test_verifier;
use poem::{Endpoint, EndpointExt, IntoResponse};

use crate::access_token_from_query;

/// `endpoint` with the test verifier attached and `?access_token=` accepted, as `fiapx serve` sets it up.
pub fn with_test_auth<E: Endpoint + 'static>(endpoint: E) -> impl Endpoint<Output = poem::Response>
where
    E::Output: IntoResponse,
{
    access_token_from_query(endpoint.data(test_verifier())).map_to_response()
}

/// The `Location` header of `response`. Panics (it is for tests) when there is none.
pub fn location(response: &poem::Response) -> String {
    response
        .headers()
        .get("location")
        .expect("a Location header")
        .to_str()
        .expect("an ASCII Location")
        .to_owned()
}

/// The string `field` of every item of the JSON array `items`. Panics (it is for tests) when `items` is not an
/// array or an item has no such string.
pub fn strings<'a>(items: &'a serde_json::Value, field: &str) -> Vec<&'a str> {
    items
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {items}"))
        .iter()
        .map(|item| {
            item[field]
                .as_str()
                .unwrap_or_else(|| panic!("no string {field} in {item}"))
        })
        .collect()
}

/// A request body of `total` bytes made lazily: `head`, then `fill` bytes in 1 MiB chunks sliced from one buffer,
/// so that a benchmark can send gigabytes while holding one mebibyte.
pub fn lazy_body(
    head: bytes::Bytes,
    fill: u8,
    total: u64,
) -> impl futures::Stream<Item = std::io::Result<bytes::Bytes>> + Send + 'static {
    const CHUNK: u64 = 1024 * 1024;
    let chunk = bytes::Bytes::from(vec![fill; CHUNK as usize]);
    let mut left = total.saturating_sub(head.len() as u64);
    let rest = std::iter::from_fn(move || {
        if left == 0 {
            return None;
        }
        let n = left.min(CHUNK);
        left -= n;
        Some(Ok(chunk.slice(..n as usize)))
    });
    futures::stream::iter(std::iter::once(Ok(head)).chain(rest))
}
