//! The picture the engine hands from conversion to encoding.

/// A tightly packed RGB24 picture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RgbImage {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height * 3` bytes, row-major, no padding.
    pub data: Vec<u8>,
}
