//! For tests of services that take [`crate::Owner`]: the application under test with the test verifier of
//! `fiapx_identity::test_support` attached (keys and bearer values live there).

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
