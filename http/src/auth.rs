//! The caller's identity: a biscuit bearer token, verified offline with the root public key on every request.
//!
//! [`Owner`] is the extractor every protected endpoint takes. The token comes from `Authorization: Bearer ...`
//! or, for what cannot set headers (EventSource, download links), from the `access_token` query parameter
//! ([`access_token_from_query`] moves it into the header before routing). The verifier
//! (`fiapx_identity::TokenVerifier`, behind an `Arc`) is request data that the application attaches once.
//!
//! Answers: no token -> 401 `unauthorized`; malformed, forged or tampered -> 401 `invalid_token`; expired ->
//! 401 `token_expired`; revoked (logout, refresh reuse, disabled user) -> 401 `token_revoked`. A share token used
//! on another video is a 404, like someone else's video; used to list or upload it is a 403.

use std::sync::Arc;
use std::time::SystemTime;

use fiapx_domain::{UserId, VideoId};
use fiapx_identity::{Operation, Principal, TokenError, TokenVerifier, VerifiedToken};
use poem::http::HeaderValue;
use poem::http::header::AUTHORIZATION;
use poem::{Endpoint, EndpointExt, Request};
use poem_openapi::SecurityScheme;
use poem_openapi::auth::Bearer;
use uuid::Uuid;

use crate::{ApiError, ErrorCode};

/// The API error for a refused token.
pub fn token_error(error: TokenError) -> ApiError {
    let (code, message) = match error {
        TokenError::Invalid => (
            ErrorCode::InvalidToken,
            "the token is malformed or was not issued by this service",
        ),
        TokenError::Expired => (
            ErrorCode::TokenExpired,
            "the token has expired; refresh it and retry",
        ),
        TokenError::Revoked => (
            ErrorCode::TokenRevoked,
            "the token has been revoked; sign in again",
        ),
        TokenError::Denied => (ErrorCode::Forbidden, "this token does not allow this request"),
        TokenError::Mint => return ApiError::internal(error),
    };
    ApiError::new(code, message)
}

/// The verified caller of a protected endpoint (a user, or the holder of a share token).
///
/// Biscuit bearer token from `POST /api/v1/auth/login` (or `/auth/register`, `/auth/refresh`), sent as
/// `Authorization: Bearer <token>`; where headers cannot be set (EventSource, links) the `access_token` query
/// parameter is accepted too. Share tokens (from `POST /api/v1/videos/{id}/shares`) only read their video.
#[derive(SecurityScheme)]
#[oai(
    rename = "BearerToken",
    ty = "bearer",
    bearer_format = "biscuit",
    checker = "verify_bearer"
)]
pub struct Owner(pub VerifiedToken);

async fn verify_bearer(request: &Request, bearer: Bearer) -> poem::Result<VerifiedToken> {
    let Some(verifier) = request.data::<Arc<TokenVerifier>>() else {
        return Err(ApiError::internal(MissingVerifier).into());
    };
    verifier
        .verify(&bearer.token)
        .map_err(|error| token_error(error).into())
}

#[derive(Debug, thiserror::Error)]
#[error("no TokenVerifier attached to the application")]
struct MissingVerifier;

impl Owner {
    /// The user acting on their own account (list, upload, shares, settings). A share token gets 403.
    pub fn user_id(&self) -> Result<UserId, ApiError> {
        self.user_session().map(|(user, _)| user)
    }

    /// The user and the session (refresh-token family) of a user token acting on its own account. A share token
    /// gets 403.
    pub fn user_session(&self) -> Result<(UserId, Uuid), ApiError> {
        match self.0.authorize(Operation::Account, SystemTime::now()) {
            Ok(Principal::User { user, session }) => Ok((user, session)),
            Ok(Principal::Share { .. }) | Err(TokenError::Denied) => Err(token_error(TokenError::Denied)),
            Err(error) => Err(token_error(error)),
        }
    }

    /// The owner in whose videos to look for `video`, if this token may read it. A share token for another video
    /// gets the same 404 as someone else's video.
    pub fn reader_of(&self, video: Uuid) -> Result<UserId, ApiError> {
        self.video_access(Operation::Read(VideoId::from_uuid(video)))
    }

    /// The owner in whose videos to look for `video`, if this token may change it (reprocess, delete, share).
    pub fn writer_of(&self, video: Uuid) -> Result<UserId, ApiError> {
        self.video_access(Operation::Write(VideoId::from_uuid(video)))
    }

    fn video_access(&self, operation: Operation) -> Result<UserId, ApiError> {
        match self.0.authorize(operation, SystemTime::now()) {
            Ok(Principal::User { user, .. }) => Ok(user),
            Ok(Principal::Share { owner, .. }) => Ok(owner),
            Err(TokenError::Denied) => Err(ApiError::not_found("video")),
            Err(error) => Err(token_error(error)),
        }
    }

    /// The verified token.
    pub const fn token(&self) -> &VerifiedToken {
        &self.0
    }
}

/// Moves an `access_token` query parameter into `Authorization: Bearer` when the request has no such header, so
/// that EventSource streams and plain links can authenticate. The parameter is removed from the URI, which keeps
/// it out of anything that logs paths.
pub fn access_token_from_query<E: Endpoint + 'static>(endpoint: E) -> impl Endpoint {
    endpoint.before(|mut request: Request| async move {
        let Some(query) = request.uri().query().map(str::to_owned) else {
            return Ok(request);
        };
        let mut token = None;
        let kept: Vec<&str> = query
            .split('&')
            .filter(|pair| match pair.strip_prefix("access_token=") {
                Some(value) => {
                    token = Some(value.to_owned());
                    false
                }
                None => true,
            })
            .collect();
        let Some(token) = token else {
            return Ok(request);
        };
        let token = percent_encoding::percent_decode_str(&token)
            .decode_utf8_lossy()
            .into_owned();
        if !request.headers().contains_key(AUTHORIZATION)
            && let Ok(value) = HeaderValue::from_str(&format!("Bearer {token}"))
        {
            request.headers_mut().insert(AUTHORIZATION, value);
        }
        let mut parts = request.uri().clone().into_parts();
        let path = parts
            .path_and_query
            .as_ref()
            .map_or("/", |pq| pq.path())
            .to_owned();
        let rebuilt = if kept.is_empty() {
            path
        } else {
            format!("{path}?{}", kept.join("&"))
        };
        if let Ok(path_and_query) = rebuilt.parse() {
            parts.path_and_query = Some(path_and_query);
            if let Ok(uri) = poem::http::Uri::from_parts(parts) {
                *request.uri_mut() = uri;
            }
        }
        Ok(request)
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use poem::http::StatusCode;
    use poem::test::TestClient;
    use poem::{EndpointExt, Route};
    use poem_openapi::param::Path;
    use poem_openapi::payload::PlainText;
    use poem_openapi::{OpenApi, OpenApiService};

    use fiapx_identity::{Revocations, Revoked, RootKey};

    use super::*;
    use crate::json_error;

    struct Probe;

    #[OpenApi]
    impl Probe {
        #[oai(path = "/me", method = "get")]
        async fn me(&self, owner: Owner) -> Result<PlainText<String>, ApiError> {
            Ok(PlainText(owner.user_id()?.to_string()))
        }

        #[oai(path = "/videos/:id", method = "get")]
        async fn video(&self, owner: Owner, id: Path<Uuid>) -> Result<PlainText<String>, ApiError> {
            Ok(PlainText(owner.reader_of(id.0)?.to_string()))
        }
    }

    fn client(root: &RootKey, revocations: Revocations) -> TestClient<impl Endpoint> {
        let verifier = Arc::new(TokenVerifier::new(root.public(), revocations));
        let api = OpenApiService::new(Probe, "t", "1");
        let app = Route::new()
            .nest("/", api)
            .catch_all_error(json_error)
            .data(verifier);
        TestClient::new(access_token_from_query(app))
    }

    async fn code_of(response: poem::test::TestResponse) -> String {
        response.assert_status(StatusCode::UNAUTHORIZED);
        let json = response.json().await;
        json.value().object().get("code").string().to_owned()
    }

    fn later() -> SystemTime {
        SystemTime::now() + Duration::from_secs(60)
    }

    #[tokio::test]
    async fn a_user_token_in_the_header_or_the_query_is_the_owner() {
        let root = RootKey::generate();
        let user = UserId::from_uuid(Uuid::now_v7());
        let token = root.mint_user(user, Uuid::now_v7(), later()).unwrap();
        let client = client(&root, Revocations::default());
        let response = client
            .get("/me")
            .header("authorization", format!("Bearer {token}"))
            .send()
            .await;
        response.assert_status_is_ok();
        response.assert_text(user.to_string()).await;
        let encoded = percent_encoding::utf8_percent_encode(&token, percent_encoding::NON_ALPHANUMERIC);
        let response = client.get(format!("/me?x=1&access_token={encoded}")).send().await;
        response.assert_status_is_ok();
    }

    #[tokio::test]
    async fn missing_malformed_forged_expired_and_revoked_tokens_have_their_codes() {
        let root = RootKey::generate();
        let user = UserId::from_uuid(Uuid::now_v7());
        let revocations = Revocations::default();
        let client = client(&root, revocations.clone());
        assert_eq!(code_of(client.get("/me").send().await).await, "unauthorized");
        let bearer = |token: &str| {
            client
                .get("/me")
                .header("authorization", format!("Bearer {token}"))
        };
        assert_eq!(code_of(bearer("garbage").send().await).await, "invalid_token");
        let forged = RootKey::generate()
            .mint_user(user, Uuid::now_v7(), later())
            .unwrap();
        assert_eq!(code_of(bearer(&forged).send().await).await, "invalid_token");
        let expired = root
            .mint_user(user, Uuid::now_v7(), SystemTime::now() - Duration::from_secs(5))
            .unwrap();
        assert_eq!(code_of(bearer(&expired).send().await).await, "token_expired");
        let session = Uuid::now_v7();
        let token = root.mint_user(user, session, later()).unwrap();
        bearer(&token).send().await.assert_status_is_ok();
        revocations
            .revoke(Revoked::Session(session), later())
            .await
            .unwrap();
        assert_eq!(code_of(bearer(&token).send().await).await, "token_revoked");
        let other = root.mint_user(user, Uuid::now_v7(), later()).unwrap();
        bearer(&other).send().await.assert_status_is_ok();
        revocations
            .revoke(Revoked::User(*user.as_uuid()), later())
            .await
            .unwrap();
        assert_eq!(code_of(bearer(&other).send().await).await, "token_revoked");
    }

    #[tokio::test]
    async fn a_share_token_reads_its_video_and_nothing_else() {
        let root = RootKey::generate();
        let owner = UserId::from_uuid(Uuid::now_v7());
        let video = VideoId::from_uuid(Uuid::now_v7());
        let token = root.mint_share(owner, video, later()).unwrap().token;
        let client = client(&root, Revocations::default());
        let get = |path: String| {
            client
                .get(path)
                .header("authorization", format!("Bearer {token}"))
        };
        let response = get(format!("/videos/{video}")).send().await;
        response.assert_status_is_ok();
        response.assert_text(owner.to_string()).await;
        get(format!("/videos/{}", Uuid::now_v7()))
            .send()
            .await
            .assert_status(StatusCode::NOT_FOUND);
        get("/me".into())
            .send()
            .await
            .assert_status(StatusCode::FORBIDDEN);
    }

    #[test]
    fn the_scheme_is_a_documented_bearer() {
        let spec = OpenApiService::new(Probe, "t", "1").spec();
        assert!(spec.contains("BearerToken"), "{spec}");
        assert!(spec.contains("\"bearer\""));
        assert!(spec.contains("access_token"));
    }
}
