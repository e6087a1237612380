//! A given/when/then harness for the video aggregate.
//!
//! `given([uploaded]).when(start(0, 1)).then([started(0, 1)])` folds the history, runs `decide`, and checks
//! the events (and that the state after them keeps every invariant), or `.then_err(error)` checks the rejection.
//!
//! Also the commands and timestamps the tests of the other crates build their histories from, and where the
//! tests find the servers the project installs.

use std::ops::{Range, RangeInclusive};
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use time::OffsetDateTime;

use crate::video::{Command, Event, SourceObject, Video, VideoError, decide, evolve};
use crate::{ExtractionSpec, FailureCode, ImageFormat, Position, Rational, Selection, UserId, VideoId};

/// The upload of `video` by `owner` with the default spec: an MP4 named `file_name` of `size_bytes`, stored at
/// `sources/<video>` (the key the storage crate gives it).
pub fn register_upload(
    video: VideoId,
    owner: UserId,
    file_name: &str,
    size_bytes: u64,
    at: OffsetDateTime,
) -> Command {
    Command::RegisterUpload {
        video_id: video,
        owner,
        source: SourceObject {
            key: format!("sources/{video}"),
            file_name: file_name.into(),
            size_bytes,
            content_type: "video/mp4".into(),
        },
        spec: ExtractionSpec::default(),
        at,
    }
}

/// Every `failed` event of `events` as (attempt, code, will_retry), in order.
pub fn failures(events: &[Event]) -> Vec<(u32, FailureCode, bool)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Failed(failure) => Some((failure.attempt, failure.code, failure.will_retry)),
            _ => None,
        })
        .collect()
}

/// A program the project installs for its tests (`make deps`, into `.state/venv`): `$<var>` when set, else
/// `.state/venv/bin/<name>` of this checkout when it exists, else `fallback` looked up on `PATH`.
pub fn installed_tool(var: &str, name: &str, fallback: &str) -> PathBuf {
    if let Some(bin) = std::env::var_os(var) {
        return bin.into();
    }
    let local = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../.state/venv/bin")
        .join(name);
    if local.exists() {
        local
    } else {
        PathBuf::from(fallback)
    }
}

/// Runs `command` (a tool a test needs: `ffmpeg`, `openssl`, ...) to the end; panics with its stderr when it cannot
/// be run or fails, naming it as `what`.
pub fn run_tool(command: &mut std::process::Command, what: &str) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what} ({e}); `make deps` installs it"));
    assert!(
        output.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A benchmark's size in bytes: `$<var>` MiB when set to a number, else `default_mib` MiB.
pub fn bench_bytes(var: &str, default_mib: u64) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(default_mib)
        * 1024
        * 1024
}

/// Now, to the millisecond: a timestamp that survives RFC 3339 headers and PostgreSQL timestamps exactly.
pub fn now_ms() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(now.nanosecond() / 1_000_000 * 1_000_000)
        .expect("a whole number of milliseconds is a valid nanosecond")
}

/// The history before the command.
#[must_use = "call .when(command)"]
pub struct Given {
    state: Video,
}

/// The outcome of the command, to be checked.
#[must_use = "call .then(events) or .then_err(error)"]
pub struct When {
    outcome: Result<Vec<Event>, VideoError>,
    state: Video,
}

/// Starts a scenario from a history of events.
pub fn given(events: impl IntoIterator<Item = Event>) -> Given {
    Given {
        state: events
            .into_iter()
            .fold(Video::default(), |video, event| evolve(video, &event)),
    }
}

impl Given {
    /// Runs `decide` on the folded history.
    pub fn when(self, command: Command) -> When {
        When {
            outcome: decide(&self.state, command),
            state: self.state,
        }
    }
}

impl When {
    /// Asserts the command was accepted with exactly these events, and returns the state after them.
    #[track_caller]
    pub fn then(self, expected: impl IntoIterator<Item = Event>) -> Video {
        let expected: Vec<Event> = expected.into_iter().collect();
        match self.outcome {
            Ok(events) => {
                assert_eq!(events, expected, "unexpected events");
                let state = events.iter().fold(self.state, evolve);
                assert_eq!(
                    state.invariant_violation(),
                    None,
                    "state after the events: {state:?}"
                );
                state
            }
            Err(error) => panic!("expected events {expected:?}, got rejection {error:?}"),
        }
    }

    /// Asserts the command was rejected with this error.
    #[track_caller]
    pub fn then_err(self, expected: VideoError) {
        match self.outcome {
            Ok(events) => panic!("expected rejection {expected:?}, got events {events:?}"),
            Err(error) => assert_eq!(error, expected),
        }
    }
}

/// What [`arb_spec`] draws each part of an [`ExtractionSpec`] from.
pub struct SpecRanges {
    /// Numerators of `fps` and `every`.
    pub numerator: Range<u32>,
    /// Their denominators.
    pub denominator: Range<u32>,
    pub count: Range<u32>,
    /// JPEG quality.
    pub quality: RangeInclusive<u8>,
    /// `max_width`, when there is one.
    pub max_width: Range<u32>,
    /// `max_height`, when there is one; `None`: never one.
    pub max_height: Option<Range<u32>>,
}

/// Extraction specs of every selection and format, their numbers drawn from `ranges` (which may reach past the
/// limits, to test the validation).
pub fn arb_spec(ranges: SpecRanges) -> BoxedStrategy<ExtractionSpec> {
    let SpecRanges {
        numerator,
        denominator,
        count,
        quality,
        max_width,
        max_height,
    } = ranges;
    let rational = (numerator, denominator).prop_map(|(n, d)| Rational::new(n, d));
    let position = prop_oneof![
        Just(Position::First),
        Just(Position::Last),
        any::<u32>().prop_map(|micros| Position::Time {
            micros: u64::from(micros) * 7
        }),
        (0..=200_u32, 1..=8_u32).prop_map(|(num, den)| Position::Percent(Rational::new(num, den))),
    ];
    let selection = prop_oneof![
        rational.clone().prop_map(|fps| Selection::Fps { fps }),
        rational.clone().prop_map(|seconds| Selection::Every { seconds }),
        count.prop_map(|count| Selection::Count { count }),
        proptest::collection::vec(position, 0..4).prop_map(|at| Selection::At { at }),
        (rational.clone(), rational).prop_map(|(threshold, min_gap)| Selection::Scene { threshold, min_gap }),
        Just(Selection::Keyframes),
    ];
    let format = prop_oneof![
        Just(ImageFormat::Png),
        Just(ImageFormat::Webp),
        quality.prop_map(|quality| ImageFormat::Jpeg { quality })
    ];
    let max_height = match max_height {
        Some(range) => proptest::option::of(range).boxed(),
        None => Just(None).boxed(),
    };
    let storyboard = proptest::option::of(
        (1..700_u32, 1..3_u32, 16..700_u32, 0..22_u32, 0..22_u32).prop_map(
            |(num, den, width, columns, rows)| crate::Storyboard {
                every: Rational::new(num, den),
                width,
                columns,
                rows,
            },
        ),
    );
    (
        selection,
        format,
        proptest::option::of(max_width),
        max_height,
        storyboard,
    )
        .prop_map(
            |(selection, format, max_width, max_height, storyboard)| ExtractionSpec {
                selection,
                format,
                max_width,
                max_height,
                storyboard,
            },
        )
        .boxed()
}

/// This process's memory from `/proc/self/status`: (VmRSS, VmHWM) in bytes (Linux; zeros elsewhere). The
/// benchmarks' memory figures.
pub fn process_memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|line| line.starts_with(name))
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Resets VmHWM to the current RSS (Linux >= 4.0), so the next peak read by [`process_memory`] is what came after.
pub fn reset_peak_memory() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}
