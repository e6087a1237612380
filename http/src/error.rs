//! The one API error type: a stable snake_case code, the matching status and a JSON body `{code, message}`.
//!
//! Messages are written for the caller. Internal details (the failing storage call, a NATS error) travel as the
//! error's source, are logged once when the response is produced, and are never sent.

use std::borrow::Cow;
use std::fmt;

use poem::http::{HeaderValue, StatusCode, header};
use poem::{IntoResponse, Response};
use poem_openapi::registry::{MetaHeader, MetaMediaType, MetaResponse, MetaResponses, Registry};
use poem_openapi::types::Type;
use poem_openapi::{ApiResponse, Enum, Object};

/// Stable error codes. Clients match on these, never on messages; renaming one is a breaking change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Enum, serde::Serialize, serde::Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400: the request is malformed (bad parameter, bad JSON, empty body).
    BadRequest,
    /// 400: the extraction spec breaks a rule.
    InvalidSpec,
    /// 401: no credentials were sent.
    Unauthorized,
    /// 401: the token is malformed, forged or tampered with.
    InvalidToken,
    /// 401: the token has expired; refresh it and retry.
    TokenExpired,
    /// 401: the token was revoked (logout, refresh-token reuse, disabled account).
    TokenRevoked,
    /// 401: wrong e-mail or password (the same answer for both).
    InvalidCredentials,
    /// 403: credentials valid but not enough for this operation.
    Forbidden,
    /// 404: no such resource, or it belongs to someone else.
    NotFound,
    /// 405: the route exists but not with this method.
    MethodNotAllowed,
    /// 408: the request body came in more slowly than the server's minimum rate and was cut; what came of a
    /// resumable upload is kept, so resume it.
    TooSlow,
    /// 409: the resource exists but is not ready for this yet (e.g. no archive to download).
    NotReady,
    /// 409: the request conflicts with the resource's state.
    Conflict,
    /// 409: an account with this e-mail already exists.
    EmailTaken,
    /// 412: the request speaks a protocol version this server does not (`Tus-Resumable` other than 1.0.0).
    UnsupportedVersion,
    /// 413: the body is over the size limit.
    TooLarge,
    /// 415: the content is not of an accepted type.
    UnsupportedMediaType,
    /// 422: well-formed but semantically unacceptable.
    Unprocessable,
    /// 422: the password does not meet the password policy.
    WeakPassword,
    /// 423: another request is writing the same resource (a resumable upload's PATCH); retry shortly.
    Locked,
    /// 429: too many requests; see `Retry-After`.
    RateLimited,
    /// 503: a dependency is unavailable; retry later (see `Retry-After`).
    Unavailable,
    /// 500: a bug or an unexpected failure.
    Internal,
}

impl ErrorCode {
    /// Every code, for documentation and tests.
    pub const ALL: [Self; 23] = [
        Self::BadRequest,
        Self::InvalidSpec,
        Self::Unauthorized,
        Self::InvalidToken,
        Self::TokenExpired,
        Self::TokenRevoked,
        Self::InvalidCredentials,
        Self::Forbidden,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::TooSlow,
        Self::NotReady,
        Self::Conflict,
        Self::EmailTaken,
        Self::UnsupportedVersion,
        Self::TooLarge,
        Self::UnsupportedMediaType,
        Self::Unprocessable,
        Self::WeakPassword,
        Self::Locked,
        Self::RateLimited,
        Self::Unavailable,
        Self::Internal,
    ];

    /// The code as it appears in the JSON body.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::InvalidSpec => "invalid_spec",
            Self::Unauthorized => "unauthorized",
            Self::InvalidToken => "invalid_token",
            Self::TokenExpired => "token_expired",
            Self::TokenRevoked => "token_revoked",
            Self::InvalidCredentials => "invalid_credentials",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::TooSlow => "too_slow",
            Self::NotReady => "not_ready",
            Self::Conflict => "conflict",
            Self::EmailTaken => "email_taken",
            Self::UnsupportedVersion => "unsupported_version",
            Self::TooLarge => "too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::Unprocessable => "unprocessable",
            Self::WeakPassword => "weak_password",
            Self::Locked => "locked",
            Self::RateLimited => "rate_limited",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
        }
    }

    /// The HTTP status that goes with the code.
    pub const fn status(self) -> StatusCode {
        match self {
            Self::BadRequest | Self::InvalidSpec => StatusCode::BAD_REQUEST,
            Self::Unauthorized
            | Self::InvalidToken
            | Self::TokenExpired
            | Self::TokenRevoked
            | Self::InvalidCredentials => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::TooSlow => StatusCode::REQUEST_TIMEOUT,
            Self::NotReady | Self::Conflict | Self::EmailTaken => StatusCode::CONFLICT,
            Self::UnsupportedVersion => StatusCode::PRECONDITION_FAILED,
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unprocessable | Self::WeakPassword => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Locked => StatusCode::LOCKED,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The code a bare status maps to (for errors raised by the framework, e.g. a parameter that does not parse).
    pub fn from_status(status: StatusCode) -> Self {
        match status.as_u16() {
            401 => Self::Unauthorized,
            403 => Self::Forbidden,
            404 => Self::NotFound,
            405 => Self::MethodNotAllowed,
            408 => Self::TooSlow,
            409 => Self::Conflict,
            412 => Self::UnsupportedVersion,
            413 => Self::TooLarge,
            415 => Self::UnsupportedMediaType,
            422 => Self::Unprocessable,
            423 => Self::Locked,
            429 => Self::RateLimited,
            503 => Self::Unavailable,
            400..=499 => Self::BadRequest,
            _ => Self::Internal,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The JSON body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Object, serde::Serialize, serde::Deserialize)]
#[oai(rename = "Error")]
pub struct ErrorBody {
    /// Stable machine-readable code.
    pub code: ErrorCode,
    /// Human-readable explanation; may change between releases.
    pub message: String,
}

type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An error answered to an API caller: code, message, optional `Retry-After`, and a private source that is
/// logged but never sent.
pub struct ApiError {
    code: ErrorCode,
    message: Cow<'static, str>,
    retry_after_secs: Option<u64>,
    source: Option<Source>,
}

impl ApiError {
    /// An error with a code and a caller-facing message.
    pub fn new(code: ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after_secs: None,
            source: None,
        }
    }

    /// 400 `bad_request`.
    pub fn bad_request(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }

    /// 400 `invalid_spec`.
    pub fn invalid_spec(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidSpec, message)
    }

    /// 401 `unauthorized`.
    pub fn unauthorized(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::Unauthorized, message)
    }

    /// 404 `not_found`. The same answer whether the resource is missing or someone else's: no existence leak.
    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    /// 409 `not_ready`.
    pub fn not_ready(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::NotReady, message)
    }

    /// 409 `conflict`.
    pub fn conflict(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::Conflict, message)
    }

    /// 413 `too_large`, naming the limit.
    pub fn too_large(limit_bytes: u64) -> Self {
        Self::new(
            ErrorCode::TooLarge,
            format!("the body is larger than the limit of {limit_bytes} bytes"),
        )
    }

    /// 415 `unsupported_media_type`.
    pub fn unsupported_media_type(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::UnsupportedMediaType, message)
    }

    /// 422 `unprocessable`.
    pub fn unprocessable(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::Unprocessable, message)
    }

    /// 429 `rate_limited` with `Retry-After`.
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        Self::new(ErrorCode::RateLimited, "too many requests").with_retry_after(retry_after_secs)
    }

    /// 503 `unavailable` with `Retry-After: 1`; the cause is logged, not sent.
    pub fn unavailable(source: impl Into<Source>) -> Self {
        Self::new(
            ErrorCode::Unavailable,
            "a backing service is unavailable, retry later",
        )
        .with_retry_after(1)
        .with_source(source)
    }

    /// 500 `internal`; the cause is logged, not sent.
    pub fn internal(source: impl Into<Source>) -> Self {
        Self::new(ErrorCode::Internal, "internal error").with_source(source)
    }

    /// Adds a `Retry-After` header (seconds).
    #[must_use]
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after_secs = Some(secs);
        self
    }

    /// Replaces the caller-facing message.
    #[must_use]
    pub fn with_message(mut self, message: impl Into<Cow<'static, str>>) -> Self {
        self.message = message.into();
        self
    }

    /// Attaches a private cause, logged when the response is produced.
    #[must_use]
    pub fn with_source(mut self, source: impl Into<Source>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// The stable code.
    pub const fn code(&self) -> ErrorCode {
        self.code
    }

    /// The caller-facing message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The HTTP status.
    pub const fn status(&self) -> StatusCode {
        self.code.status()
    }

    /// The `Retry-After` seconds, if any.
    pub const fn retry_after_secs(&self) -> Option<u64> {
        self.retry_after_secs
    }

    /// The JSON body.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            code: self.code,
            message: self.message.to_string(),
        }
    }

    fn log(&self) {
        metrics::counter!("fiapx_http_errors_total", "code" => self.code.as_str()).increment(1);
        let cause = self.source.as_ref().map(|source| error_chain(source.as_ref()));
        if self.status().is_server_error() {
            tracing::error!(
                error.code = self.code.as_str(),
                error.cause = cause.as_deref(),
                "request failed"
            );
        } else {
            tracing::debug!(
                error.code = self.code.as_str(),
                error.message = %self.message,
                error.cause = cause.as_deref(),
                "request rejected"
            );
        }
    }
}

/// PostgreSQL unreachable (no connection, pool exhausted) is 503 `unavailable`: retry later. Any other database
/// error is a bug, 500 `internal`. Either way the cause is logged, never sent.
#[cfg(feature = "sea-orm")]
impl From<sea_orm::DbErr> for ApiError {
    fn from(error: sea_orm::DbErr) -> Self {
        match error {
            sea_orm::DbErr::Conn(_) | sea_orm::DbErr::ConnectionAcquire(_) => Self::unavailable(error),
            other => Self::internal(other),
        }
    }
}

/// `outer: inner: innermost`, for logs.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(inner) = next {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        next = inner.source();
    }
    text
}

impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiError")
            .field("code", &self.code)
            .field("message", &self.message)
            .field("retry_after_secs", &self.retry_after_secs)
            .field("source", &self.source)
            .finish()
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn std::error::Error + 'static))
    }
}

impl ApiError {
    /// The `WWW-Authenticate` challenge of a 401 (RFC 6750 §3): a token the server refused says why in
    /// `error_description` (the code), so that a client can tell an expired token from a bad one even when the
    /// answer has no body (HEAD).
    const fn challenge(&self) -> Option<&'static str> {
        match self.code {
            ErrorCode::TokenExpired => {
                Some(r#"Bearer realm="fiapx", error="invalid_token", error_description="token_expired""#)
            }
            ErrorCode::TokenRevoked => {
                Some(r#"Bearer realm="fiapx", error="invalid_token", error_description="token_revoked""#)
            }
            ErrorCode::InvalidToken => {
                Some(r#"Bearer realm="fiapx", error="invalid_token", error_description="invalid_token""#)
            }
            ErrorCode::Unauthorized | ErrorCode::InvalidCredentials => Some(r#"Bearer realm="fiapx""#),
            _ => None,
        }
    }
}

impl poem::error::ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        self.code.status()
    }

    fn as_response(&self) -> Response {
        self.log();
        let body = serde_json::json!({ "code": self.code.as_str(), "message": self.message });
        let mut response = Response::builder()
            .status(self.code.status())
            .content_type("application/json; charset=utf-8")
            .body(body.to_string());
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(challenge) = self.challenge() {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        response
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        poem::error::ResponseError::as_response(&self)
    }
}

impl ApiResponse for ApiError {
    fn meta() -> MetaResponses {
        // One documented response per distinct status; the body names the code.
        let mut statuses: Vec<u16> = ErrorCode::ALL.iter().map(|code| code.status().as_u16()).collect();
        statuses.sort_unstable();
        statuses.dedup();
        MetaResponses {
            responses: statuses
                .into_iter()
                .map(|status| MetaResponse {
                    description: describe(status),
                    status: Some(status),
                    status_range: None,
                    content: vec![MetaMediaType {
                        content_type: "application/json; charset=utf-8",
                        schema: ErrorBody::schema_ref(),
                    }],
                    headers: if matches!(status, 429 | 503) {
                        vec![MetaHeader {
                            name: "Retry-After".to_owned(),
                            description: Some("Seconds to wait before retrying.".to_owned()),
                            required: false,
                            deprecated: false,
                            schema: u64::schema_ref(),
                        }]
                    } else {
                        Vec::new()
                    },
                })
                .collect(),
        }
    }

    fn register(registry: &mut Registry) {
        ErrorBody::register(registry);
    }
}

fn describe(status: u16) -> &'static str {
    match status {
        400 => "Malformed request or invalid extraction spec (`bad_request`, `invalid_spec`).",
        401 => {
            "Missing, invalid, expired or revoked credentials (`unauthorized`, `invalid_token`, `token_expired`, \
                `token_revoked`, `invalid_credentials`)."
        }
        403 => "Not allowed (`forbidden`).",
        404 => "Not found, or not yours (`not_found`).",
        405 => "Method not allowed (`method_not_allowed`).",
        408 => {
            "The body came in more slowly than the minimum upload rate and was cut (`too_slow`); resume or retry."
        }
        409 => "Conflicts with the current state (`conflict`, `not_ready`, `email_taken`).",
        412 => "Unsupported protocol version (`unsupported_version`); see Tus-Version.",
        413 => "Body over the size limit (`too_large`).",
        415 => "Content not accepted (`unsupported_media_type`).",
        422 => "Unacceptable request (`unprocessable`, `weak_password`).",
        423 => "Another request is writing this upload (`locked`); retry shortly.",
        429 => "Rate limited (`rate_limited`); see Retry-After.",
        503 => "A backing service is unavailable (`unavailable`); retry after Retry-After.",
        _ => "Internal error (`internal`).",
    }
}

/// Turns any error that reaches the edge of the app into the JSON error shape: errors raised by the framework
/// (a parameter that does not parse, an unknown route, a missing credential header) get the code of their status.
/// Mount with `route.catch_all_error(fiapx_http::json_error)`.
pub async fn json_error(error: poem::Error) -> Response {
    if error.is::<ApiError>() {
        return error.into_response();
    }
    let status = error.status();
    let code = ErrorCode::from_status(status);
    let api_error = if code == ErrorCode::Internal {
        ApiError::internal(error.to_string())
    } else {
        // Framework messages describe the request (e.g. "failed to parse parameter `fps`"), never internals.
        ApiError::new(code, error.to_string())
    };
    api_error.into_response()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use poem::http::StatusCode;
    use poem_openapi::ApiResponse;

    use super::*;

    #[test]
    fn codes_are_unique_snake_case_and_map_to_their_status() {
        let names: HashSet<_> = ErrorCode::ALL.iter().map(|code| code.as_str()).collect();
        assert_eq!(names.len(), ErrorCode::ALL.len());
        for code in ErrorCode::ALL {
            assert!(code.as_str().chars().all(|c| c.is_ascii_lowercase() || c == '_'));
            let json = serde_json::to_value(code).unwrap();
            assert_eq!(json, code.as_str());
        }
        assert_eq!(ErrorCode::TooLarge.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(ErrorCode::InvalidSpec.status(), StatusCode::BAD_REQUEST);
        assert_eq!(ErrorCode::NotReady.status(), StatusCode::CONFLICT);
        assert_eq!(
            ErrorCode::UnsupportedMediaType.status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        assert_eq!(ErrorCode::from_status(StatusCode::NOT_FOUND), ErrorCode::NotFound);
        assert_eq!(
            ErrorCode::from_status(StatusCode::IM_A_TEAPOT),
            ErrorCode::BadRequest
        );
        assert_eq!(
            ErrorCode::from_status(StatusCode::BAD_GATEWAY),
            ErrorCode::Internal
        );
    }

    async fn body_of(response: Response) -> (StatusCode, Option<String>, serde_json::Value) {
        let status = response.status();
        let retry = response
            .headers()
            .get(header::RETRY_AFTER)
            .map(|v| v.to_str().unwrap().to_owned());
        let bytes = response.into_body().into_bytes().await.unwrap();
        (status, retry, serde_json::from_slice(&bytes).unwrap())
    }

    #[test]
    fn every_401_carries_a_bearer_challenge_naming_a_refused_token() {
        for code in ErrorCode::ALL {
            let response = ApiError::new(code, "x").into_response();
            let challenge = response.headers().get(header::WWW_AUTHENTICATE);
            assert_eq!(
                challenge.is_some(),
                code.status() == StatusCode::UNAUTHORIZED,
                "{code}"
            );
            if let Some(challenge) = challenge {
                let challenge = challenge.to_str().unwrap();
                assert!(challenge.starts_with("Bearer realm=\"fiapx\""), "{challenge}");
                let refused = matches!(
                    code,
                    ErrorCode::TokenExpired | ErrorCode::TokenRevoked | ErrorCode::InvalidToken
                );
                assert_eq!(
                    challenge.contains(&format!("error_description=\"{code}\"")),
                    refused,
                    "{challenge}"
                );
            }
        }
    }

    #[tokio::test]
    async fn response_is_json_with_code_and_message() {
        let (status, retry, body) = body_of(ApiError::too_large(10).into_response()).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(retry, None);
        assert_eq!(body["code"], "too_large");
        assert!(body["message"].as_str().unwrap().contains("10 bytes"));
    }

    #[tokio::test]
    async fn internals_are_never_sent() {
        let secret = std::io::Error::other("s3 at 10.0.0.7 said AccessDenied for key sources/x");
        let (status, _, body) = body_of(ApiError::internal(secret).into_response()).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            body,
            serde_json::json!({"code": "internal", "message": "internal error"})
        );

        let (status, retry, body) =
            body_of(ApiError::unavailable(std::io::Error::other("nats down")).into_response()).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(retry.as_deref(), Some("1"));
        assert_eq!(body["code"], "unavailable");
        assert!(!body["message"].as_str().unwrap().contains("nats"));
    }

    #[cfg(feature = "sea-orm")]
    #[test]
    fn an_unreachable_database_is_503_and_any_other_database_error_500() {
        use sea_orm::{DbErr, RuntimeErr};
        let down = ApiError::from(DbErr::Conn(RuntimeErr::Internal("connection refused".into())));
        assert_eq!(down.code(), ErrorCode::Unavailable);
        assert_eq!(down.retry_after_secs(), Some(1));
        let bug = ApiError::from(DbErr::Custom("syntax error at or near \"SELEC\"".into()));
        assert_eq!(bug.code(), ErrorCode::Internal);
        assert!(!bug.message().contains("SELEC"), "internals are not sent");
    }

    #[tokio::test]
    async fn rate_limited_carries_retry_after() {
        let (status, retry, body) = body_of(ApiError::rate_limited(30).into_response()).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(retry.as_deref(), Some("30"));
        assert_eq!(body["code"], "rate_limited");
    }

    #[tokio::test]
    async fn through_poem_error_the_json_shape_survives() {
        let error: poem::Error = ApiError::not_found("video").into();
        let (status, _, body) = body_of(json_error(error).await).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(
            body,
            serde_json::json!({"code": "not_found", "message": "video not found"})
        );
    }

    #[tokio::test]
    async fn framework_errors_get_the_code_of_their_status() {
        let error = poem::Error::from_string("failed to parse parameter `fps`", StatusCode::BAD_REQUEST);
        let (status, _, body) = body_of(json_error(error).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["code"], "bad_request");
        assert!(body["message"].as_str().unwrap().contains("fps"));

        let error = poem::Error::from_string("db password is hunter2", StatusCode::INTERNAL_SERVER_ERROR);
        let (_, _, body) = body_of(json_error(error).await).await;
        assert_eq!(
            body,
            serde_json::json!({"code": "internal", "message": "internal error"})
        );
    }

    #[test]
    fn openapi_meta_documents_each_status_once_with_the_error_schema() {
        let meta = ApiError::meta();
        let statuses: Vec<_> = meta.responses.iter().map(|r| r.status.unwrap()).collect();
        let unique: HashSet<_> = statuses.iter().collect();
        assert_eq!(statuses.len(), unique.len());
        for status in [400, 401, 404, 409, 413, 415, 422, 429, 500, 503] {
            assert!(statuses.contains(&status), "{status} undocumented");
        }
        let retry_after = meta.responses.iter().find(|r| r.status == Some(429)).unwrap();
        assert_eq!(retry_after.headers[0].name, "Retry-After");
    }
}
