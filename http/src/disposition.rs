//! `Content-Disposition: attachment` values (RFC 6266) for downloads named after what the user uploaded.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// RFC 8187 `attr-char` is ALPHA / DIGIT / `!#$&+-.^_`|~`: everything else is percent-encoded in `filename*`.
const NOT_ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `attachment; filename="<ASCII fallback>"; filename*=UTF-8''<percent-encoded name>`. The fallback, for clients
/// that do not read `filename*`, replaces what is not printable ASCII, and `"`, `\` and `%`, by `_`. `name` is
/// expected clean already (no path or control characters: `fiapx_domain::clean_file_name`); control characters
/// are replaced here too, so the value is always a valid header.
pub fn attachment(name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| {
            if c == ' ' || (c.is_ascii_graphic() && !matches!(c, '"' | '\\' | '%')) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded = utf8_percent_encode(name, NOT_ATTR_CHAR);
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::attachment;

    #[test]
    fn ascii_names_are_quoted_and_encoded() {
        assert_eq!(
            attachment("clip-frames.zip"),
            "attachment; filename=\"clip-frames.zip\"; filename*=UTF-8''clip-frames.zip"
        );
        assert_eq!(
            attachment("my \"best\" 100%.zip"),
            "attachment; filename=\"my _best_ 100_.zip\"; filename*=UTF-8''my%20%22best%22%20100%25.zip"
        );
    }

    #[test]
    fn unicode_names_have_a_fallback_and_a_utf8_form() {
        assert_eq!(
            attachment("férias-frames.zip"),
            "attachment; filename=\"f_rias-frames.zip\"; filename*=UTF-8''f%C3%A9rias-frames.zip"
        );
        let value = attachment("a\r\nb\u{202E}.zip");
        assert!(value.is_ascii() && !value.contains(['\r', '\n']), "{value}");
        assert!(poem::http::HeaderValue::from_str(&value).is_ok());
    }
}
