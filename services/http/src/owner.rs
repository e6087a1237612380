//! TEMPORARY caller identity: the owner is read from the `X-Fiapx-Owner` header.
//!
//! This is a stand-in until the auth issue lands: the header is trusted as is, so anyone can claim to be anyone.
//! It exists so that every owner-scoped rule (uploads belong to their owner, someone else's video is a 404) can be
//! built and tested now. The auth issue replaces this scheme with biscuit bearer tokens carrying `user(id)`;
//! handlers only see [`Owner`] and its [`UserId`], so they do not change.

use fiapx_domain::UserId;
use poem::Request;
use poem_openapi::SecurityScheme;
use poem_openapi::auth::ApiKey;

use crate::ApiError;

/// The header carrying the (unauthenticated, TEMPORARY) owner id.
pub const OWNER_HEADER: &str = "X-Fiapx-Owner";

/// TEMPORARY (until the auth issue): the caller's user id, taken from header `X-Fiapx-Owner: <uuid>` without any
/// proof. Will be replaced by biscuit bearer tokens.
#[derive(SecurityScheme)]
#[oai(
    rename = "TemporaryOwnerHeader",
    ty = "api_key",
    key_name = "X-Fiapx-Owner",
    key_in = "header",
    checker = "owner_from_header"
)]
pub struct Owner(pub UserId);

impl Owner {
    /// The caller's user id.
    pub const fn user_id(&self) -> UserId {
        self.0
    }
}

async fn owner_from_header(_request: &Request, key: ApiKey) -> poem::Result<UserId> {
    parse_owner(&key.key).map_err(Into::into)
}

/// Parses the header value; anything but a UUID is a 401.
pub fn parse_owner(value: &str) -> Result<UserId, ApiError> {
    value
        .trim()
        .parse::<UserId>()
        .map_err(|_| ApiError::unauthorized(format!("header {OWNER_HEADER} must be a user id (UUID)")))
}

#[cfg(test)]
mod tests {
    use poem::http::StatusCode;
    use poem::test::TestClient;
    use poem::{EndpointExt, Route};
    use poem_openapi::payload::PlainText;
    use poem_openapi::{OpenApi, OpenApiService};

    use super::*;
    use crate::json_error;

    struct WhoAmI;

    #[OpenApi]
    impl WhoAmI {
        #[oai(path = "/whoami", method = "get")]
        async fn whoami(&self, owner: Owner) -> PlainText<String> {
            PlainText(owner.user_id().to_string())
        }
    }

    fn client() -> TestClient<impl poem::Endpoint> {
        let api = OpenApiService::new(WhoAmI, "t", "1");
        TestClient::new(Route::new().nest("/", api).catch_all_error(json_error))
    }

    #[tokio::test]
    async fn a_uuid_header_is_the_owner() {
        let id = "0190a5a8-0000-7000-8000-000000000001";
        let response = client().get("/whoami").header(OWNER_HEADER, id).send().await;
        response.assert_status_is_ok();
        response.assert_text(id).await;
    }

    #[tokio::test]
    async fn missing_or_malformed_header_is_401_json() {
        let client = client();
        for header in [None, Some("not-a-uuid")] {
            let mut request = client.get("/whoami");
            if let Some(value) = header {
                request = request.header(OWNER_HEADER, value);
            }
            let response = request.send().await;
            response.assert_status(StatusCode::UNAUTHORIZED);
            let json = response.json().await;
            json.value().object().get("code").assert_string("unauthorized");
        }
    }

    #[test]
    fn the_scheme_is_documented_as_temporary() {
        let spec = OpenApiService::new(WhoAmI, "t", "1").spec();
        assert!(spec.contains("TemporaryOwnerHeader"), "{spec}");
        assert!(spec.contains("X-Fiapx-Owner"));
        assert!(spec.contains("TEMPORARY"));
    }
}
