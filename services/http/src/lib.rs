//! What every FIAP X HTTP API shares: the JSON error type with stable codes ([`ApiError`], [`ErrorCode`],
//! [`json_error`]), the TEMPORARY owner extractor ([`Owner`], header `X-Fiapx-Owner`, until the auth issue
//! replaces it with biscuit tokens) and keyset pagination cursors ([`Cursor`], [`page_limit`], [`Page`]).
//!
//! It must not know about any service's resources, the event store, the read models or S3: services map their
//! own failures into [`ApiError`].

mod cursor;
mod error;
mod owner;

pub use cursor::{Cursor, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page, page_limit};
pub use error::{ApiError, ErrorBody, ErrorCode, json_error};
pub use owner::{OWNER_HEADER, Owner, parse_owner};
