//! Keyset pagination: an opaque cursor naming the last row of the previous page by `(timestamp, id)`.
//!
//! A list query orders by `(at, id)` (both directions work), reads `limit + 1` rows after the cursor and hands
//! them to [`Page::from_rows`], which keeps `limit` rows and builds the next cursor from the last one kept. The
//! cursor is a position, not a permission: queries stay owner-scoped whatever cursor they are given.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::ApiError;

/// Page size when the caller asks for none.
pub const DEFAULT_PAGE_SIZE: u64 = 20;
/// The largest page a caller may ask for.
pub const MAX_PAGE_SIZE: u64 = 100;

const VERSION: u8 = 1;
const ENCODED_LEN: usize = 1 + 16 + 16;

/// A keyset position: the `(at, id)` of the last row already seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    /// The ordering timestamp of the row.
    pub at: OffsetDateTime,
    /// The row's id, breaking ties between equal timestamps.
    pub id: Uuid,
}

impl Cursor {
    /// A cursor at `(at, id)`.
    pub const fn new(at: OffsetDateTime, id: Uuid) -> Self {
        Self { at, id }
    }

    /// The opaque, URL-safe form handed to clients.
    pub fn encode(&self) -> String {
        let mut bytes = [0_u8; ENCODED_LEN];
        bytes[0] = VERSION;
        bytes[1..17].copy_from_slice(&self.at.unix_timestamp_nanos().to_be_bytes());
        bytes[17..].copy_from_slice(self.id.as_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Parses a cursor from a client; anything malformed is a 400 `bad_request`.
    pub fn decode(text: &str) -> Result<Self, ApiError> {
        let invalid = || ApiError::bad_request("invalid cursor");
        let bytes = URL_SAFE_NO_PAD.decode(text.as_bytes()).map_err(|_| invalid())?;
        if bytes.len() != ENCODED_LEN || bytes[0] != VERSION {
            return Err(invalid());
        }
        let mut nanos = [0_u8; 16];
        nanos.copy_from_slice(&bytes[1..17]);
        let at =
            OffsetDateTime::from_unix_timestamp_nanos(i128::from_be_bytes(nanos)).map_err(|_| invalid())?;
        let id = Uuid::from_slice(&bytes[17..]).map_err(|_| invalid())?;
        Ok(Self { at, id })
    }

    /// Decodes an optional query parameter.
    pub fn decode_opt(text: Option<&str>) -> Result<Option<Self>, ApiError> {
        text.filter(|t| !t.is_empty()).map(Self::decode).transpose()
    }
}

/// The page size for a requested `limit`: the default when absent, capped at [`MAX_PAGE_SIZE`]; 0 is a 400.
pub fn page_limit(requested: Option<u64>) -> Result<u64, ApiError> {
    match requested {
        None => Ok(DEFAULT_PAGE_SIZE),
        Some(0) => Err(ApiError::bad_request("limit must be at least 1")),
        Some(n) => Ok(n.min(MAX_PAGE_SIZE)),
    }
}

/// One page of rows and the cursor of the next page, if there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// At most `limit` rows.
    pub items: Vec<T>,
    /// Present when more rows follow.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// From up to `limit + 1` rows read after the cursor (in order): keeps `limit` and sets the next cursor when
    /// the extra row shows that more follow.
    pub fn from_rows(mut rows: Vec<T>, limit: u64, cursor_of: impl Fn(&T) -> Cursor) -> Self {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let next_cursor = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(|row| cursor_of(row).encode())
        } else {
            None
        };
        Self {
            items: rows,
            next_cursor,
        }
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::ErrorCode;

    #[test]
    fn round_trips_and_is_url_safe() {
        let cursor = Cursor::new(
            datetime!(2026-11-22 15:30:00.123456789 UTC),
            Uuid::parse_str("0190a5a8-0000-7000-8000-0000000000ff").unwrap(),
        );
        let text = cursor.encode();
        assert!(
            text.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_eq!(Cursor::decode(&text).unwrap(), cursor);
        assert_eq!(Cursor::decode_opt(Some(&text)).unwrap(), Some(cursor));
        assert_eq!(Cursor::decode_opt(None).unwrap(), None);
        assert_eq!(Cursor::decode_opt(Some("")).unwrap(), None);
    }

    #[test]
    fn garbage_is_a_bad_request() {
        let valid = Cursor::new(OffsetDateTime::UNIX_EPOCH, Uuid::nil()).encode();
        for text in ["!!", "abc", &valid[..valid.len() - 2], &format!("{valid}AA")] {
            let error = Cursor::decode(text).unwrap_err();
            assert_eq!(error.code(), ErrorCode::BadRequest, "{text}");
        }
        let mut wrong_version = URL_SAFE_NO_PAD.decode(&valid).unwrap();
        wrong_version[0] = 9;
        assert!(Cursor::decode(&URL_SAFE_NO_PAD.encode(wrong_version)).is_err());
    }

    #[test]
    fn limits() {
        assert_eq!(page_limit(None).unwrap(), DEFAULT_PAGE_SIZE);
        assert_eq!(page_limit(Some(7)).unwrap(), 7);
        assert_eq!(page_limit(Some(10_000)).unwrap(), MAX_PAGE_SIZE);
        assert_eq!(page_limit(Some(0)).unwrap_err().code(), ErrorCode::BadRequest);
    }

    #[test]
    fn pages_keep_limit_rows_and_point_past_the_last() {
        let at = |s: i64| OffsetDateTime::from_unix_timestamp(s).unwrap();
        let rows: Vec<(i64, Uuid)> = (0..5).map(|i| (i, Uuid::from_u128(i as u128))).collect();
        let cursor_of = |row: &(i64, Uuid)| Cursor::new(at(row.0), row.1);

        let page = Page::from_rows(rows.clone(), 3, cursor_of);
        assert_eq!(page.items.len(), 3);
        let next = Cursor::decode(page.next_cursor.as_deref().unwrap()).unwrap();
        assert_eq!(next, cursor_of(&rows[2]));

        let last = Page::from_rows(rows[3..].to_vec(), 3, cursor_of);
        assert_eq!(last.items.len(), 2);
        assert_eq!(last.next_cursor, None);

        let exact = Page::from_rows(rows[..3].to_vec(), 3, cursor_of);
        assert_eq!(exact.next_cursor, None);
    }
}
