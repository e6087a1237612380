//! The FIAP X read side over HTTP: owner-scoped lists, one video, its timeline, the archive download and live
//! status as Server-Sent Events.
//!
//! This crate owns the query endpoints ([`QueryApi`]) and their response shapes. It reads the read models through
//! `fiapx-projections`' entities (the views, so a rebuild's switch is invisible here), live events from core NATS,
//! and signs download links through [`ArchiveLinks`]. It must not write anything: no commands, no events, no
//! read-model rows. It binds no port: the binary mounts [`QueryApi`] next to the other APIs.
//!
//! The caller's identity is TEMPORARY: `fiapx_http::Owner` reads header `X-Fiapx-Owner` until the auth issue
//! replaces it with biscuit tokens. Every query is scoped by that owner; someone else's video is a 404.

mod api;
mod links;
mod live;
mod views;

pub use api::QueryApi;
pub use links::{ArchiveLinks, LinkError};
pub use views::{
    FailureView, LiveEvent, ProgressUpdate, StatusUpdate, TimelineEntryView, TimelineView, VideoPage,
    VideoStatus, VideoView,
};
