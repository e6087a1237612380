//! Image encoders for one frame. Pure CPU work, run on the blocking pool while decoding continues.

use image::{
    ExtendedColorType, ImageEncoder,
    codecs::{
        png::{CompressionType, FilterType, PngEncoder},
        webp::WebPEncoder,
    },
};
use jpeg_encoder::{ColorType, Encoder, SamplingFactor};

use fiapx_domain::ImageFormat;

use crate::{error::ExtractError, rgb_image::RgbImage};

/// Encodes `image` in `format`.
pub fn encode_image(image: &RgbImage, format: ImageFormat) -> Result<Vec<u8>, ExtractError> {
    let failed = |e: &dyn std::fmt::Display| ExtractError::Encode(e.to_string());
    // Sized for a typical compressed frame so the buffer rarely grows more than once.
    let mut out = Vec::with_capacity(image.data.len() / 4);
    match format {
        ImageFormat::Png => {
            // fdeflate's fast mode: about 10x the speed of zlib's default for 10-20% more bytes; the archive is
            // Stored, so encode time, not size, is what bounds throughput.
            PngEncoder::new_with_quality(&mut out, CompressionType::Fast, FilterType::Adaptive)
                .write_image(&image.data, image.width, image.height, ExtendedColorType::Rgb8)
                .map_err(|e| failed(&e))?;
        }
        ImageFormat::Jpeg { quality } => {
            let (Ok(width), Ok(height)) = (u16::try_from(image.width), u16::try_from(image.height)) else {
                return Err(ExtractError::Encode(format!(
                    "{}x{} is larger than JPEG allows",
                    image.width, image.height
                )));
            };
            let mut encoder = Encoder::new(&mut out, quality);
            encoder.set_sampling_factor(SamplingFactor::R_4_2_0);
            encoder
                .encode(&image.data, width, height, ColorType::Rgb)
                .map_err(|e| failed(&e))?;
        }
        ImageFormat::Webp => {
            WebPEncoder::new_lossless(&mut out)
                .encode(&image.data, image.width, image.height, ExtendedColorType::Rgb8)
                .map_err(|e| failed(&e))?;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(width: u32, height: u32) -> RgbImage {
        let data = (0..height)
            .flat_map(|y| (0..width).flat_map(move |x| [(x * 7) as u8, (y * 5) as u8, ((x + y) * 3) as u8]))
            .collect();
        RgbImage { width, height, data }
    }

    #[test]
    fn png_and_webp_are_lossless() {
        let img = gradient(33, 17);
        for format in [ImageFormat::Png, ImageFormat::Webp] {
            let bytes = encode_image(&img, format).unwrap();
            let decoded = image::load_from_memory(&bytes).unwrap().to_rgb8();
            assert_eq!(decoded.dimensions(), (33, 17));
            assert_eq!(decoded.into_raw(), img.data, "{format:?}");
        }
    }

    #[test]
    fn jpeg_decodes_to_the_same_size() {
        let bytes = encode_image(&gradient(33, 17), ImageFormat::Jpeg { quality: 85 }).unwrap();
        assert_eq!(&bytes[..2], [0xFF, 0xD8]);
        let decoded = image::load_from_memory(&bytes).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (33, 17));
    }
}
