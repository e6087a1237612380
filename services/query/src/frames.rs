//! Single frames of a completed video: the archive's manifest (stored beside the ZIP by the processor) lists
//! them, and one frame is served from its own object.
//!
//! The ZIP stays the unit of storage: its entries are stored uncompressed and the manifest records where each
//! one's bytes start, so the first request for a frame copies those bytes (one ranged GET) into an object of
//! their own under the archive's prefix (a single PUT: the copy is whole or absent), and every request is then a
//! redirect to a presigned URL of that copy.
//! The copies are a cache (written only here, identical bytes each time, removed with the video's archives); a
//! frame nobody asks for costs nothing.

use fiapx_domain::{ManifestFrame, VideoId, frame_file_name};
use fiapx_http::ApiError;
use fiapx_projections::entity::video;
use fiapx_storage::{
    Storage, StorageError, frame_key, manifest_key, storyboard_sheet_key, storyboard_vtt_key,
};
use serde::Deserialize;

use crate::state::State;

/// What the query side reads of `manifest.json`.
#[derive(Deserialize)]
pub(crate) struct FrameIndex {
    pub(crate) frames: Vec<ManifestFrame>,
}

/// The archive of a completed video, or 409 `not_ready` naming its status.
pub(crate) fn completed_archive(row: &video::Model) -> Result<&str, ApiError> {
    match (row.status.as_str(), row.archive_key.as_deref()) {
        ("completed", Some(key)) => Ok(key),
        (status, _) => Err(ApiError::not_ready(format!(
            "the frames archive is not ready (status: {status})"
        ))),
    }
}

/// The manifest of a completed video's archive.
pub(crate) async fn index(state: &State, row: &video::Model) -> Result<FrameIndex, ApiError> {
    completed_archive(row)?;
    let key = manifest_key(
        VideoId::from_uuid(row.id),
        u32::try_from(row.job).unwrap_or_default(),
    );
    let bytes = match state.storage.get_bytes(&key).await {
        Ok(bytes) => bytes,
        Err(StorageError::NotFound(_)) => {
            return Err(ApiError::not_ready(
                "this archive was made before frames were listed on their own: reprocess the video to list them",
            ));
        }
        Err(error) => return Err(ApiError::unavailable(error)),
    };
    serde_json::from_slice(&bytes).map_err(ApiError::internal)
}

/// A presigned URL of frame `index` of a completed video. The copy's key follows from the index and the job's
/// format, so a frame asked for before costs one HEAD; only a first request reads the manifest and copies the
/// frame out of the archive.
pub(crate) async fn frame_url(state: &State, row: &video::Model, index: u64) -> Result<String, ApiError> {
    let archive = completed_archive(row)?;
    let format = fiapx_schemas::spec_from_json(&row.spec)
        .map_err(ApiError::internal)?
        .format;
    let key = frame_key(
        VideoId::from_uuid(row.id),
        u32::try_from(row.job).unwrap_or_default(),
        &frame_file_name(index, format.extension()),
    );
    if !stored(state, &key).await? {
        let manifest = self::index(state, row).await?;
        let Some(frame) = usize::try_from(index).ok().and_then(|i| manifest.frames.get(i)) else {
            return Err(ApiError::not_found("frame"));
        };
        copy_out(&state.storage, archive, frame, format.media_type(), &key).await?;
    }
    presigned(state, &key).await
}

/// The video's job and whether its spec asked for a storyboard, once it is completed (404 `not_found` without one).
fn storyboard_job(row: &video::Model) -> Result<(VideoId, u32), ApiError> {
    completed_archive(row)?;
    let spec = fiapx_schemas::spec_from_json(&row.spec).map_err(ApiError::internal)?;
    if spec.storyboard.is_none() {
        return Err(ApiError::not_found("storyboard"));
    }
    Ok((
        VideoId::from_uuid(row.id),
        u32::try_from(row.job).unwrap_or_default(),
    ))
}

/// The storyboard's WebVTT index of a completed video; it names its sheets `storyboard/<n>.jpg`, relative to the
/// path that serves it.
pub(crate) async fn storyboard_vtt(state: &State, row: &video::Model) -> Result<String, ApiError> {
    let (video, job) = storyboard_job(row)?;
    match state.storage.get_bytes(&storyboard_vtt_key(video, job)).await {
        Ok(bytes) => String::from_utf8(bytes).map_err(ApiError::internal),
        Err(StorageError::NotFound(_)) => Err(ApiError::not_found("storyboard")),
        Err(error) => Err(ApiError::unavailable(error)),
    }
}

/// A presigned URL of storyboard sheet `file` (`<n>.jpg`) of a completed video.
pub(crate) async fn storyboard_sheet_url(
    state: &State,
    row: &video::Model,
    file: &str,
) -> Result<String, ApiError> {
    let (video, job) = storyboard_job(row)?;
    let number = file.strip_suffix(".jpg").unwrap_or(file);
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) || number.len() > 6 {
        return Err(ApiError::not_found("storyboard sheet"));
    }
    let key = storyboard_sheet_key(
        video,
        job,
        &format!("{}.jpg", number.parse::<u32>().unwrap_or_default()),
    );
    if !stored(state, &key).await? {
        return Err(ApiError::not_found("storyboard sheet"));
    }
    presigned(state, &key).await
}

/// Whether an object is in the bucket.
async fn stored(state: &State, key: &str) -> Result<bool, ApiError> {
    Ok(state
        .storage
        .size(key)
        .await
        .map_err(ApiError::unavailable)?
        .is_some())
}

/// A presigned URL of an object, valid for the configured link lifetime.
async fn presigned(state: &State, key: &str) -> Result<String, ApiError> {
    state
        .storage
        .presign_get(key, state.link_ttl, None)
        .await
        .map_err(ApiError::unavailable)
}

/// Copies one entry's bytes out of the archive into `key`, checked against the manifest's hash.
async fn copy_out(
    storage: &Storage,
    archive: &str,
    frame: &ManifestFrame,
    media_type: &str,
    key: &str,
) -> Result<(), ApiError> {
    let Some(offset) = frame.offset else {
        return Err(ApiError::not_ready(
            "this archive was made before frames were served on their own: reprocess the video",
        ));
    };
    let bytes = storage
        .get_range(archive, offset, frame.size)
        .await
        .map_err(ApiError::unavailable)?;
    let sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
    if bytes.len() as u64 != frame.size || sha256 != frame.sha256 {
        return Err(ApiError::internal(format!(
            "frame {} of {archive} does not match its manifest",
            frame.file
        )));
    }
    storage
        .put_bytes(key, media_type, &bytes)
        .await
        .map_err(ApiError::unavailable)?;
    metrics::counter!("fiapx_query_frame_copies_total").increment(1);
    Ok(())
}
