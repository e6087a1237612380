//! The rules for the names users give their files: what is kept of an uploaded file's name, and what a video's
//! frames archive is called when it is downloaded.

/// The name shown for a file whose name is missing or has nothing usable left.
pub const FALLBACK_FILE_NAME: &str = "video";

/// Longest kept name, in bytes of UTF-8.
pub const MAX_FILE_NAME_BYTES: usize = 255;

/// Unicode's bidirectional formatting characters (U+061C, U+200E/F, U+202A..U+202E, U+2066..U+2069): invisible,
/// they reorder what a name shows (`clip\u{202E}4pm.exe` reads as `clipexe.mp4`), so a name never keeps them.
const fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// What is kept of a file name a client sent: its last path component (`/` or `\`), without control and
/// bidirectional formatting characters, trimmed, at most [`MAX_FILE_NAME_BYTES`] bytes (cut at a character
/// boundary); [`FALLBACK_FILE_NAME`] when nothing usable is left.
pub fn clean_file_name(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let kept: String = base
        .chars()
        .filter(|c| !c.is_control() && !is_bidi_control(*c))
        .collect();
    let mut name = kept.trim().to_owned();
    if name.is_empty() || name == "." || name == ".." {
        return FALLBACK_FILE_NAME.into();
    }
    while name.len() > MAX_FILE_NAME_BYTES {
        name.pop();
    }
    name
}

/// The download name of a video's frames archive: the (cleaned) original name without its extension, then
/// `-frames.zip`. `clip.mp4` gives `clip-frames.zip`; `.mp4` or an empty name gives `video-frames.zip`.
pub fn archive_file_name(original: &str) -> String {
    let name = clean_file_name(original);
    let stem = match name.rsplit_once('.') {
        Some((stem, _)) if !stem.trim().is_empty() => stem.trim(),
        Some(_) => FALLBACK_FILE_NAME,
        None => name.as_str(),
    };
    format!("{stem}-frames.zip")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Asserts `rule(input) == expected` for each `(input, expected)`, naming the input that fails.
    fn assert_names(rule: fn(&str) -> String, cases: &[(&str, &str)]) {
        for &(input, expected) in cases {
            assert_eq!(rule(input), expected, "for {input:?}");
        }
    }

    #[test]
    fn only_the_last_component_without_controls_is_kept() {
        assert_names(
            clean_file_name,
            &[
                ("../../etc/passwd", "passwd"),
                ("C:\\videos\\a.mov", "a.mov"),
                ("a\nb.mp4", "ab.mp4"),
                ("/", "video"),
                (" .. ", "video"),
                ("férias de verão.mp4", "férias de verão.mp4"),
            ],
        );
        assert_eq!(clean_file_name(&"é".repeat(200)).len(), 254);
    }

    #[test]
    fn bidirectional_overrides_are_removed() {
        assert_names(
            clean_file_name,
            &[
                ("clip\u{202E}4pm.exe", "clip4pm.exe"),
                ("\u{2066}a\u{200F}b\u{061C}c\u{2069}.mp4", "abc.mp4"),
                ("\u{202E}", "video"),
            ],
        );
    }

    #[test]
    fn the_archive_is_named_after_the_video() {
        assert_names(
            archive_file_name,
            &[
                ("clip.mp4", "clip-frames.zip"),
                ("my.holiday.mov", "my.holiday-frames.zip"),
                ("no extension", "no extension-frames.zip"),
                (".mp4", "video-frames.zip"),
                ("", "video-frames.zip"),
                ("x\u{202E}4pm.exe", "x4pm-frames.zip"),
                ("férias.mp4", "férias-frames.zip"),
            ],
        );
    }
}
