//! FIAP X upload service: the command side of the HTTP API.
//!
//! `POST /api/v1/videos` streams the body into S3 (memory does not grow with the file), checks size and container
//! magic bytes while streaming, runs `RegisterUpload` through the event store and answers 202 with `Location`;
//! `Idempotency-Key` makes a retried upload return the first result. `POST /api/v1/videos/{id}/reprocess` and
//! `DELETE /api/v1/videos/{id}` run the reprocess and delete commands. The binary mounts [`UploadApi`] (a
//! poem-openapi `OpenApi`); nothing here binds a port.
//!
//! It owns the HTTP shape of those commands, the streaming upload and the idempotency records. It must not know
//! about FFmpeg: the content check here is a fast first gate on magic bytes, the processor's FFmpeg probe is the
//! real one. It needs no PostgreSQL: the per-user limit of videos in flight is kept in NATS KV (`admission.rs`), so
//! uploads are accepted while the read side is down. The
//! owner is the user of the verified bearer token ([`fiapx_http::Owner`]); share tokens cannot upload or change.

mod accepted;
mod admission;
mod body;
mod idempotency;
mod intake;
mod limits;
mod resumable;
mod routes;
mod settings;
mod sniff;

pub use accepted::{VideoAccepted, VideoLinks};
pub use resumable::{ResumableApi, SessionError, TUS_VERSION, UPLOADS_PATH, with_tus_headers};
pub use routes::{UploadApi, UploadSetupError, delete_video, streams_own_body};
pub use settings::UploadSettings;
pub use sniff::{Container, SNIFF_LEN, sniff};
