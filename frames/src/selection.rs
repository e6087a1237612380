//! Frame selection by presentation timestamp, replicating FFmpeg's `fps` filter (libavfilter/vf_fps.c, 5.1).
//!
//! Every output `n` has a boundary; output `n` is the last decoded frame whose timestamp is before it. For a rate `r`
//! the filter maps each frame to the output slot `round(pts * r)` (rounding half away from zero) and emits, for each
//! slot from the first frame's slot on, the last frame mapped at or before it: i.e. the last frame before
//! `(n + 0.5) / r`. At end of stream it fills slots up to `round(end * r)` with the last frame, where `end` is the
//! last frame's timestamp plus its duration (so 10.3 s of video at `fps=1` gives 10 frames, 10.52 s gives 11).
//!
//! Everything is integer arithmetic on stream ticks, as in FFmpeg, so the choice is bit-for-bit the same.

use std::{collections::BTreeMap, ops::Range};

use fiapx_domain::Rational;

/// A time base: one tick is `num / den` seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TimeBase {
    pub num: i64,
    pub den: i64,
}

impl TimeBase {
    /// Microseconds, FFmpeg's `AV_TIME_BASE_Q`.
    pub const MICROS: Self = Self {
        num: 1,
        den: 1_000_000,
    };

    pub fn seconds(self, ticks: i64) -> f64 {
        ticks as f64 * self.num as f64 / self.den as f64
    }
}

/// `a * from / to`, rounded to nearest with halves away from zero (`av_rescale_q` / `AV_ROUND_NEAR_INF`).
pub(crate) fn rescale(a: i64, from: TimeBase, to: TimeBase) -> i64 {
    let num = i128::from(a) * i128::from(from.num) * i128::from(to.den);
    let den = i128::from(from.den) * i128::from(to.num);
    div_round_near_inf(num, den) as i64
}

fn div_round_near_inf(num: i128, den: i128) -> i128 {
    let (num, den) = if den < 0 { (-num, -den) } else { (num, den) };
    if num >= 0 {
        (num + den / 2) / den
    } else {
        -((-num + den / 2) / den)
    }
}

fn div_floor(num: i128, den: i128) -> i128 {
    let q = num / den;
    if (num % den != 0) && ((num < 0) != (den < 0)) {
        q - 1
    } else {
        q
    }
}

/// Maps a timestamp (stream ticks, relative to the start of the file) to an output slot.
#[derive(Clone, Debug)]
pub(crate) enum Slots {
    /// `round(pts * rate)`, the `fps` filter.
    Rate { rate: Rational, time_base: TimeBase },
    /// `count` outputs over `duration` ticks: slot = how many output boundaries `(2i + 1) * duration / (2 count)`
    /// are at or before the timestamp, capped at `count`.
    Count { count: u64, duration: i64 },
    /// One output per timestamp of `points` (sorted): output `n` is the frame shown at `points[n]`, the last one
    /// presented at or before it (the first frame when none is). Slot = how many points come before the timestamp.
    Points { points: Vec<i64> },
}

impl Slots {
    pub fn slot(&self, pts: i64) -> i64 {
        match *self {
            Self::Rate { rate, time_base } => rescale(
                pts,
                time_base,
                TimeBase {
                    num: i64::from(rate.den),
                    den: i64::from(rate.num),
                },
            ),
            Self::Count { count, duration } => {
                let duration = i128::from(duration.max(1));
                let x = 2 * i128::from(count) * i128::from(pts);
                let before = if x < duration {
                    0
                } else {
                    div_floor(x - duration, 2 * duration) + 1
                };
                before.min(i128::from(count)) as i64
            }
            Self::Points { ref points } => points.partition_point(|&point| point < pts) as i64,
        }
    }

    /// Where output starts: the first frame's slot for the `fps` filter, zero for `count`.
    fn first(&self, first_frame_slot: i64) -> i64 {
        match self {
            Self::Rate { .. } => first_frame_slot,
            Self::Count { .. } | Self::Points { .. } => 0,
        }
    }

    /// Where output stops, exclusive, known up front only for `count`.
    fn cap(&self) -> Option<i64> {
        match *self {
            Self::Rate { .. } => None,
            Self::Count { count, .. } => Some(count as i64),
            Self::Points { ref points } => Some(points.len() as i64),
        }
    }
}

/// The streaming state of the `fps` filter: holds one frame back until the next shows which slots it fills.
pub(crate) struct Selector<T> {
    slots: Slots,
    next: Option<i64>,
    origin: i64,
    pending: Option<(i64, T)>,
}

/// A frame chosen for a run of consecutive outputs (more than one when the source has a gap).
#[derive(Debug, PartialEq)]
pub(crate) struct Chosen<T> {
    pub item: T,
    pub outputs: Range<u64>,
}

impl<T> Selector<T> {
    pub fn new(slots: Slots) -> Self {
        Self {
            slots,
            next: None,
            origin: 0,
            pending: None,
        }
    }

    /// Feeds a decoded frame in presentation order; returns the previous frame if it fills any output.
    pub fn push(&mut self, pts: i64, item: T) -> Option<Chosen<T>> {
        let slot = self.slots.slot(pts);
        let Some(next) = self.next else {
            self.origin = self.slots.first(slot);
            self.next = Some(self.origin);
            self.pending = Some((slot, item));
            return None;
        };
        let (_, previous) = self.pending.replace((slot, item))?;
        let end = self.slots.cap().map_or(slot, |cap| slot.min(cap));
        self.emit(previous, next, end)
    }

    /// Ends the stream: the last frame fills the outputs up to `end_slot` (exclusive; ignored for `count`).
    pub fn finish(&mut self, end_slot: i64) -> Option<Chosen<T>> {
        let (_, last) = self.pending.take()?;
        let next = self.next?;
        let end = self.slots.cap().unwrap_or(end_slot);
        self.emit(last, next, end)
    }

    fn emit(&mut self, item: T, next: i64, end: i64) -> Option<Chosen<T>> {
        if end <= next {
            return None;
        }
        self.next = Some(end);
        let base = self.origin;
        Some(Chosen {
            item,
            outputs: (next - base) as u64..(end - base) as u64,
        })
    }
}

/// Decides, before a packet is decoded, whether its frame can be selected at all.
///
/// A frame is never selected when another frame with a later timestamp maps to the same slot: that one (or a still
/// later one) wins the slot. The demuxer is read a few packets ahead so most such frames are known before the
/// earlier one is sent; anything not yet known is decoded, which keeps the output identical and only costs time.
pub(crate) struct SkipPlanner {
    latest_in_slot: BTreeMap<i64, i64>,
}

impl SkipPlanner {
    pub fn new() -> Self {
        Self {
            latest_in_slot: BTreeMap::new(),
        }
    }

    pub fn observe(&mut self, slots: &Slots, pts: i64) {
        let latest = self.latest_in_slot.entry(slots.slot(pts)).or_insert(pts);
        *latest = (*latest).max(pts);
    }

    pub fn needed(&self, slots: &Slots, pts: i64) -> bool {
        self.latest_in_slot
            .get(&slots.slot(pts))
            .is_none_or(|&latest| latest <= pts)
    }

    /// Forgets slots far behind the demuxer so memory stays flat on long videos.
    pub fn forget_before(&mut self, slot: i64) {
        self.latest_in_slot = self.latest_in_slot.split_off(&slot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TB: TimeBase = TimeBase { num: 1, den: 1000 };

    fn fps(num: u32, den: u32) -> Slots {
        Slots::Rate {
            rate: Rational::new(num, den),
            time_base: TB,
        }
    }

    /// Runs the selector over millisecond timestamps and returns, per output, the chosen timestamp.
    fn select(slots: Slots, pts: &[i64], end: i64) -> Vec<i64> {
        let end_slot = slots.slot(end);
        let mut selector = Selector::new(slots);
        let mut out = Vec::new();
        let mut take = |chosen: Option<Chosen<i64>>| {
            if let Some(c) = chosen {
                assert_eq!(c.outputs.start as usize, out.len());
                out.extend(c.outputs.map(|_| c.item));
            }
        };
        for &p in pts {
            take(selector.push(p, p));
        }
        take(selector.finish(end_slot));
        out
    }

    #[test]
    fn rounds_half_away_from_zero() {
        assert_eq!(rescale(500, TB, TimeBase { num: 1, den: 1 }), 1);
        assert_eq!(rescale(499, TB, TimeBase { num: 1, den: 1 }), 0);
        assert_eq!(rescale(-500, TB, TimeBase { num: 1, den: 1 }), -1);
        assert_eq!(rescale(1, TimeBase { num: 1, den: 3 }, TimeBase::MICROS), 333_333);
    }

    #[test]
    fn ten_point_three_seconds_at_25fps_give_ten_frames() {
        let pts: Vec<i64> = (0..258).map(|i| i * 40).collect();
        let out = select(fps(1, 1), &pts, 258 * 40);
        assert_eq!(out.len(), 10);
        // Output n is the last frame before n + 0.5 s.
        assert_eq!(out[..3], [480, 1480, 2480]);
        assert_eq!(out[9], 9480);
    }

    #[test]
    fn end_rounds_to_nearest_slot() {
        let pts: Vec<i64> = (0..263).map(|i| i * 40).collect();
        assert_eq!(select(fps(1, 1), &pts, 263 * 40).len(), 11);
        assert_eq!(select(fps(1, 1), &pts[..262], 262 * 40).len(), 10);
    }

    #[test]
    fn gaps_repeat_the_last_frame() {
        let out = select(fps(1, 1), &[0, 100, 3200, 3300], 3600);
        assert_eq!(out, [100, 100, 100, 3300]);
    }

    #[test]
    fn late_start_begins_at_the_first_frames_slot() {
        let out = select(fps(2, 1), &[1000, 1400, 1800, 2200], 2600);
        assert_eq!(out, [1000, 1400, 2200]);
    }

    #[test]
    fn count_picks_the_frame_shown_at_each_interval_middle() {
        let pts: Vec<i64> = (0..100).map(|i| i * 100).collect();
        let slots = Slots::Count {
            count: 4,
            duration: 10_000,
        };
        // Boundaries at 1250, 3750, 6250, 8750 ms.
        assert_eq!(select(slots, &pts, 10_000), [1200, 3700, 6200, 8700]);
    }

    #[test]
    fn count_pads_a_short_stream_with_the_last_frame() {
        let slots = Slots::Count {
            count: 3,
            duration: 3000,
        };
        assert_eq!(select(slots, &[0, 100], 200), [100, 100, 100]);
    }

    #[test]
    fn points_pick_the_frame_shown_at_each() {
        let pts: Vec<i64> = (0..100).map(|i| i * 100).collect();
        let slots = Slots::Points {
            points: vec![i64::MIN, -5, 0, 1250, 1300, 1300, 9999, i64::MAX],
        };
        // Before the first frame: the first; at a frame's timestamp: that frame; the same point twice: twice.
        assert_eq!(
            select(slots, &pts, 10_000),
            [0, 0, 0, 1200, 1300, 1300, 9900, 9900]
        );
        let late = Slots::Points {
            points: vec![50, 5000],
        };
        assert_eq!(select(late, &[1000, 2000], 3000), [1000, 2000]);
    }

    #[test]
    fn planner_skips_frames_overtaken_in_their_slot() {
        let slots = fps(1, 1);
        let mut planner = SkipPlanner::new();
        for p in [0, 120, 40, 80, 480, 520] {
            planner.observe(&slots, p);
        }
        assert!(!planner.needed(&slots, 40));
        assert!(!planner.needed(&slots, 440));
        assert!(planner.needed(&slots, 480));
        assert!(planner.needed(&slots, 520));
        planner.forget_before(1);
        assert!(planner.needed(&slots, 40));
    }
}
