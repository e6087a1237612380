//! The FIAP X read side over HTTP: owner-scoped lists, one video, its timeline, the archive download, single
//! frames and live status as Server-Sent Events.
//!
//! This crate owns the query endpoints ([`QueryApi`]) and their response shapes. It reads the read models through
//! `fiapx-projections`' entities (the views, so a rebuild's switch is invisible here), live events from core NATS,
//! and signs download links to the archives' bucket. It must not write anything but a cache: no commands, no
//! events, no read-model rows; only copies of single frames out of an archive (see `frames`). It binds no port: the binary mounts [`QueryApi`] next to the other APIs.
//!
//! The caller is a verified biscuit token (`fiapx_http::Owner`): a user token sees its user's videos, a share
//! token only its one video. Every query is scoped by the owner the token allows; someone else's video is a 404.

mod api;
mod feed;
mod frames;
mod live;
mod state;
mod views;

pub use api::{DEFAULT_LIVE_STREAM_CAP, QueryApi, account_export};
pub use views::{
    FailureView, FramePage, FrameView, LiveEvent, ProgressView, StatusUpdate, TimelineEntryView,
    TimelineView, VideoPage, VideoRecord, VideoView,
};
