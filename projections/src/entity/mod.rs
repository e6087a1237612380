//! sea-orm entities of the read models.
//!
//! They map the views with the plain names (`videos`, `video_timeline`, `owner_video_counts`), which always show
//! the active generation: the query side reads through them and never names a generation. The projector and
//! rebuilds write the generation tables themselves (see [`crate::Generation`]), with the same columns.

pub mod owner_counts;
pub mod projection_error;
pub mod timeline_entry;
pub mod video;
