//! Scene-change selection: FFmpeg's `select` filter `scene` score (libavfilter/vf_select.c, 5.1), computed on the
//! decoder's pictures exactly as the filter does, and the rule that keeps a frame.
//!
//! The score of a frame is the mean absolute difference of its samples from the previous frame's (`mafd`, over
//! every plane of a YUV picture, in 8-bit units), less the previous frame's own `mafd`: `min(mafd, |mafd -
//! previous mafd|) / 100`, clipped to 0..=1. A cut gives a large `mafd` after small ones; steady motion gives
//! similar `mafd`s and a small score. The first frame (and one whose size differs from the previous one) scores 0.

use rsmpeg::avutil::AVFrame;

use crate::ffmpeg_ffi::{PlaneRows, scene_planes};

/// Keeps the first frame, then each frame scoring above `threshold` at least `min_gap` ticks after the last kept.
pub(crate) struct SceneCut {
    threshold: f64,
    min_gap: i64,
    previous: Option<AVFrame>,
    previous_mafd: f64,
    last_kept: Option<i64>,
}

impl SceneCut {
    pub fn new(threshold: f64, min_gap: i64) -> Self {
        Self {
            threshold,
            min_gap,
            previous: None,
            previous_mafd: 0.0,
            last_kept: None,
        }
    }

    /// Scores `frame` (presented at `pts`) against the previous frame and says whether it is kept.
    pub fn keep(&mut self, frame: &AVFrame, pts: i64) -> bool {
        let score = self.score(frame);
        let keep = match self.last_kept {
            None => true,
            Some(last) => score > self.threshold && pts - last >= self.min_gap,
        };
        if keep {
            self.last_kept = Some(pts);
        }
        keep
    }

    fn score(&mut self, frame: &AVFrame) -> f64 {
        let previous = self.previous.replace(frame.clone());
        let Some(previous) = previous else {
            return 0.0;
        };
        if (previous.width, previous.height, previous.format) != (frame.width, frame.height, frame.format) {
            return 0.0;
        }
        let (Some((now, depth)), Some((before, _))) = (scene_planes(frame), scene_planes(&previous)) else {
            return 0.0;
        };
        let (mut sad, mut count) = (0_u64, 0_u64);
        for (a, b) in now.iter().zip(&before) {
            let (plane_sad, samples) = plane_sad(a, b, depth > 8);
            sad += plane_sad;
            count += samples;
        }
        if count == 0 {
            return 0.0;
        }
        let mafd = sad as f64 / count as f64 / f64::from(1_u32 << depth.saturating_sub(8).min(16));
        let diff = (mafd - self.previous_mafd).abs();
        self.previous_mafd = mafd;
        (mafd.min(diff) / 100.0).clamp(0.0, 1.0)
    }
}

/// The sum of absolute differences of two planes of one format, and how many samples it covers (16-bit samples,
/// native-endian, when `wide`).
fn plane_sad(a: &PlaneRows<'_>, b: &PlaneRows<'_>, wide: bool) -> (u64, u64) {
    let mut sad = 0_u64;
    let mut samples = 0_u64;
    for (x, y) in a.rows().iter().zip(b.rows()) {
        if wide {
            let pairs = x.chunks_exact(2).zip(y.chunks_exact(2));
            samples += pairs.len() as u64;
            sad += pairs
                .map(|(p, q)| {
                    u64::from(u16::from_ne_bytes([p[0], p[1]]).abs_diff(u16::from_ne_bytes([q[0], q[1]])))
                })
                .sum::<u64>();
        } else {
            samples += x.len() as u64;
            // A row is at most 16384 RGB pixels: its sum fits 32 bits, which keeps the loop vectorised.
            sad += u64::from(
                x.iter()
                    .zip(*y)
                    .map(|(p, q)| u32::from(p.abs_diff(*q)))
                    .sum::<u32>(),
            );
        }
    }
    (sad, samples)
}
