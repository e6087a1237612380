//! The FIAP X video lifecycle, as a pure and synchronous aggregate.
//!
//! This crate owns the rules of what may happen to a video: which commands are accepted in which state, which
//! events they produce (`decide`) and how events fold into state (`evolve`). It must not know about I/O of any
//! kind: no NATS, no database, no clock, no FFmpeg. Anything looked up from the outside world (ids, timestamps,
//! the delivery attempt of a job) arrives inside the command. The persisted form of events lives in the
//! `fiapx-schemas` crate, not here.
#![forbid(unsafe_code)]

mod failure;
mod file_name;
mod ids;
mod spec;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod video;

pub use failure::{FailureCode, Language, UnknownFailureCode};
pub use file_name::{FALLBACK_FILE_NAME, MAX_FILE_NAME_BYTES, archive_file_name, clean_file_name};
pub use ids::{UserId, VideoId};
pub use spec::{
    DEFAULT_JPEG_QUALITY, ExtractionSpec, ImageFormat, Position, Rational, Selection, SpecError, Storyboard,
};
pub use video::{
    ArchiveObject, AttemptFailure, Command, Event, ManifestFrame, SourceObject, UnknownStatus, Video,
    VideoError, VideoStatus, decide, evolve, frame_file_name,
};

#[cfg(test)]
mod lifecycle_tests;
