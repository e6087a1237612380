//! Storyboards: small frames tiled into JPEG sprite sheets, and the WebVTT file that maps each time range to its
//! tile (`storyboard/0.jpg#xywh=160,0,160,90`), the format video players use for scrub previews.
//!
//! The tiles are the frames of [`Storyboard::frames`] (one every `every` seconds, the `fps` filter's choice, scaled
//! to the tile width), decoded in a second pass over the same input after the archive; a sparse interval seeks.

use fiapx_domain::{ImageFormat, Storyboard};

use crate::{encode::encode_image, error::ExtractError, rgb_image::RgbImage};

/// The folder the WebVTT file names its sheets in, relative to itself.
pub const STORYBOARD_DIR: &str = "storyboard";

/// A finished storyboard: sheets in order and the WebVTT index naming them `storyboard/<n>.jpg`.
#[derive(Clone, Debug, PartialEq)]
pub struct StoryboardOutput {
    /// `WEBVTT` cues, one per tile, in time order.
    pub vtt: String,
    /// JPEG sprite sheets; sheet `n` is `storyboard/<n>.jpg`.
    pub sheets: Vec<Vec<u8>>,
    /// Tiles over all sheets.
    pub tiles: u64,
    /// Size of one tile.
    pub tile_width: u32,
    /// Size of one tile.
    pub tile_height: u32,
}

/// The file name of sheet `index` inside [`STORYBOARD_DIR`].
pub fn sheet_file_name(index: usize) -> String {
    format!("{index}.jpg")
}

/// Lays tiles out row by row, `columns x rows` per sheet, and writes a cue per tile.
pub(crate) struct SheetBuilder {
    storyboard: Storyboard,
    duration_seconds: Option<f64>,
    tile: Option<(u32, u32)>,
    current: Option<RgbImage>,
    in_sheet: u32,
    sheets: Vec<Vec<u8>>,
    vtt: String,
    tiles: u64,
}

impl SheetBuilder {
    pub fn new(storyboard: Storyboard, duration_seconds: Option<f64>) -> Self {
        Self {
            storyboard,
            duration_seconds,
            tile: None,
            current: None,
            in_sheet: 0,
            sheets: Vec::new(),
            vtt: String::from("WEBVTT\n"),
            tiles: 0,
        }
    }

    /// Adds tile number `index` (output `index` of the storyboard's frames).
    pub fn add(&mut self, index: u64, image: &RgbImage) -> Result<(), ExtractError> {
        let (width, height) = *self.tile.get_or_insert((image.width, image.height));
        if (image.width, image.height) != (width, height) {
            return Err(ExtractError::Encode("storyboard tiles of different sizes".into()));
        }
        let Storyboard { columns, rows, .. } = self.storyboard;
        let sheet = self.current.get_or_insert_with(|| RgbImage {
            width: width * columns,
            height: height * rows,
            data: vec![0; (width * columns * height * rows * 3) as usize],
        });
        let (column, row) = (self.in_sheet % columns, self.in_sheet / columns);
        let (x, y) = (column * width, row * height);
        let row_bytes = (width * 3) as usize;
        for line in 0..height {
            let from = (line * width * 3) as usize;
            let to = (((y + line) * sheet.width + x) * 3) as usize;
            sheet.data[to..to + row_bytes].copy_from_slice(&image.data[from..from + row_bytes]);
        }
        let every = self.storyboard.every.as_f64();
        let start = index as f64 * every;
        let end = self
            .duration_seconds
            .map_or(start + every, |duration| (start + every).min(duration.max(start)));
        self.vtt.push_str(&format!(
            "\n{} --> {}\n{STORYBOARD_DIR}/{}#xywh={x},{y},{width},{height}\n",
            vtt_time(start),
            vtt_time(end),
            sheet_file_name(self.sheets.len()),
        ));
        self.tiles += 1;
        self.in_sheet += 1;
        if self.in_sheet == columns * rows {
            self.flush_sheet()?;
        }
        Ok(())
    }

    fn flush_sheet(&mut self) -> Result<(), ExtractError> {
        let Some(mut sheet) = self.current.take() else {
            return Ok(());
        };
        // A last sheet keeps only the rows it uses.
        let (_, height) = self.tile.unwrap_or_default();
        let rows_used = self.in_sheet.div_ceil(self.storyboard.columns);
        sheet.height = rows_used * height;
        sheet.data.truncate((sheet.width * sheet.height * 3) as usize);
        self.sheets.push(encode_image(
            &sheet,
            ImageFormat::Jpeg {
                quality: Storyboard::QUALITY,
            },
        )?);
        self.in_sheet = 0;
        Ok(())
    }

    pub fn finish(mut self) -> Result<StoryboardOutput, ExtractError> {
        self.flush_sheet()?;
        let (tile_width, tile_height) = self.tile.unwrap_or_default();
        Ok(StoryboardOutput {
            vtt: self.vtt,
            sheets: self.sheets,
            tiles: self.tiles,
            tile_width,
            tile_height,
        })
    }
}

/// `HH:MM:SS.mmm`, WebVTT's timestamp.
fn vtt_time(seconds: f64) -> String {
    let millis = (seconds.max(0.0) * 1000.0).round() as u64;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        millis / 3_600_000,
        millis / 60_000 % 60,
        millis / 1000 % 60,
        millis % 1000
    )
}

#[cfg(test)]
mod tests {
    use fiapx_domain::Rational;

    use super::*;

    fn tile(shade: u8) -> RgbImage {
        RgbImage {
            width: 4,
            height: 2,
            data: vec![shade; 4 * 2 * 3],
        }
    }

    #[test]
    fn tiles_fill_sheets_row_by_row_and_cues_name_them() {
        let storyboard = Storyboard {
            every: Rational::new(10, 1),
            width: 4,
            columns: 2,
            rows: 2,
        };
        let mut builder = SheetBuilder::new(storyboard, Some(45.0));
        for index in 0..5 {
            builder.add(index, &tile(index as u8 * 40)).unwrap();
        }
        let out = builder.finish().unwrap();
        assert_eq!((out.tiles, out.sheets.len()), (5, 2));
        assert_eq!((out.tile_width, out.tile_height), (4, 2));
        let first = image::load_from_memory(&out.sheets[0]).unwrap().to_rgb8();
        assert_eq!(first.dimensions(), (8, 4));
        // The last sheet holds one tile: one row of two columns.
        let last = image::load_from_memory(&out.sheets[1]).unwrap().to_rgb8();
        assert_eq!(last.dimensions(), (8, 2));
        assert_eq!(
            out.vtt,
            "WEBVTT\n\
             \n00:00:00.000 --> 00:00:10.000\nstoryboard/0.jpg#xywh=0,0,4,2\n\
             \n00:00:10.000 --> 00:00:20.000\nstoryboard/0.jpg#xywh=4,0,4,2\n\
             \n00:00:20.000 --> 00:00:30.000\nstoryboard/0.jpg#xywh=0,2,4,2\n\
             \n00:00:30.000 --> 00:00:40.000\nstoryboard/0.jpg#xywh=4,2,4,2\n\
             \n00:00:40.000 --> 00:00:45.000\nstoryboard/1.jpg#xywh=0,0,4,2\n"
        );
        assert_eq!(vtt_time(3723.25), "01:02:03.250");
    }
}
