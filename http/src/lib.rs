//! What every FIAP X HTTP API shares: the JSON error type with stable codes ([`ApiError`], [`ErrorCode`],
//! [`json_error`]), the caller as an extractor ([`Owner`]: a bearer token checked by `fiapx_identity`'s
//! verifier, its refusals mapped by [`token_error`]), the domain's failure codes and statuses as OpenAPI enums ([`FailureCodeName`], [`StatusName`])
//! one limit on request bodies enforced while they stream ([`with_body_limit`]), caps on uploads and live streams held at once per user and per address ([`ConcurrencyCap`]), connections cut when silent ([`IdleTimeout`]), where requests made on a user's behalf may go ([`egress`]), security headers with a Content-Security-Policy on every answer ([`with_security_headers`], [`ContentSecurityPolicy`]), keyset pagination cursors ([`Cursor`], [`page_limit`], [`Page`]) and the API's view of an extraction spec
//! ([`SpecForm`]).
//!
//! It must not know about any service's resources, the event store, the read models or S3: services map their
//! own failures into [`ApiError`]. The token format, minting and revocations belong to `fiapx-identity`.

mod auth;
mod body_limit;
mod caps;
mod cursor;
pub mod disposition;
pub mod egress;
mod error;
mod idle;
mod named;
mod security_headers;
mod spec;
#[cfg(feature = "test-support")]
pub mod test_support;

pub use auth::{Owner, access_token_from_query, token_error};
pub use body_limit::with_body_limit;
pub use caps::{CapPermit, CapSettings, ConcurrencyCap, client_address};
pub use cursor::{Cursor, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page, page_limit};
pub use error::{ApiError, ErrorBody, ErrorCode, json_error};
pub use idle::{IdleIo, IdleTimeout};
pub use named::{FailureCodeName, Named, StableName, StatusName};
pub use security_headers::{ContentSecurityPolicy, PolicyError, with_security_headers};
pub use spec::{FormatName, SpecForm};
