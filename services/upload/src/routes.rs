//! The write-side routes: `POST /videos` (upload), `POST /videos/{id}/reprocess`, `DELETE /videos/{id}`, and
//! their responses.
//!
//! An upload is checked before a byte of its body is read (size, key, query spec), admitted against the owner's
//! videos in flight, claimed under its `Idempotency-Key`, then read into storage and registered by the intake.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fiapx_domain::{Command, UserId, VideoError, VideoId};
use fiapx_http::{ApiError, ConcurrencyCap, FormatName, Owner, SpecForm, client_address};
use fiapx_nats::{
    AppendError, CommandHandler, HandleError, LoadError, Metadata, NatsSettings, VideoCallbacks,
};
use fiapx_storage::{Storage, StorageError, archive_prefix, source_key};
use poem::Request;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi, Tags};
use time::OffsetDateTime;
use tracing::info;
use uuid::Uuid;

use crate::accepted::VideoAccepted;
use crate::admission::InFlightLimit;
use crate::body::{OptionalSpec, UploadBody};
use crate::idempotency::{Idempotency, IdempotencyError, NextAction};
use crate::intake::{Intake, registered};
use crate::resumable::{ResumableApi, SessionError, Transfers};
use crate::settings::UploadSettings;

#[derive(Tags)]
enum ApiTags {
    /// Videos: upload, reprocess, delete, list, status, download.
    Videos,
}

/// 202 with the video's `Location`.
#[derive(ApiResponse)]
pub enum AcceptedResponse {
    /// Accepted: stored and queued for processing. `Location` is the video.
    #[oai(status = 202)]
    Accepted(Json<VideoAccepted>, #[oai(header = "Location")] String),
}

impl From<VideoAccepted> for AcceptedResponse {
    fn from(accepted: VideoAccepted) -> Self {
        let location = accepted.links.self_.clone();
        Self::Accepted(Json(accepted), location)
    }
}

/// 204 after a deletion.
#[derive(ApiResponse)]
pub enum DeletedResponse {
    /// Deleted: the source and every archive were removed from storage.
    #[oai(status = 204)]
    Deleted,
}

/// Why the upload API could not start.
#[derive(Debug, thiserror::Error)]
pub enum UploadSetupError {
    /// The bucket could not be created or reached.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    /// The idempotency KV bucket could not be created.
    #[error(transparent)]
    Idempotency(#[from] IdempotencyError),
    /// The upload sessions' KV bucket could not be created.
    #[error(transparent)]
    Sessions(#[from] SessionError),
    /// The admission KV bucket could not be created.
    #[error("cannot provision the admission bucket: {0}")]
    Admission(#[from] async_nats::jetstream::context::CreateKeyValueError),
}

#[derive(Clone)]
struct State {
    handler: CommandHandler,
    storage: Storage,
    intake: Intake,
    admission: InFlightLimit,
    idempotency: Idempotency,
    transfers: Arc<Transfers>,
    /// Upload bodies read at once per user and per address (shared with the resumable PATCH).
    uploading: Arc<ConcurrencyCap>,
    settings: UploadSettings,
}

/// The write-side API (`#[OpenApi]`): mount it in an `OpenApiService` together with the other services' APIs.
#[derive(Clone)]
pub struct UploadApi {
    state: Arc<State>,
}

impl UploadApi {
    /// Builds the API: makes sure the S3 bucket and the `upload_idempotency` KV bucket exist (both idempotent).
    pub async fn new(
        handler: CommandHandler,
        storage: Storage,
        settings: UploadSettings,
        nats: &NatsSettings,
    ) -> Result<Self, UploadSetupError> {
        storage.ensure_bucket().await?;
        let idempotency = Idempotency::open(
            handler.store().clone(),
            &settings.idempotency_bucket,
            Duration::from_secs(settings.idempotency_ttl_secs),
            settings.idempotency_pending_timeout_secs,
            nats.replicas,
        )
        .await?;
        let callbacks = VideoCallbacks::new(handler.store().jetstream().clone(), nats);
        let intake = Intake::new(handler.clone(), storage.clone(), callbacks, settings.clone());
        let admission = InFlightLimit::open(
            handler.clone(),
            handler.store().jetstream(),
            &settings.admission_bucket,
            nats.replicas,
            settings.max_videos_in_flight,
            settings.in_flight_retry_after_secs,
        )
        .await?;
        let uploading = ConcurrencyCap::new("uploads", settings.concurrency());
        let transfers = ResumableApi::open(
            intake.clone(),
            storage.clone(),
            admission.clone(),
            Arc::clone(&uploading),
            settings.clone(),
            handler.store().jetstream(),
            nats.replicas,
        )
        .await?;
        Ok(Self {
            state: Arc::new(State {
                intake,
                transfers,
                admission,
                uploading,
                handler,
                storage,
                idempotency,
                settings,
            }),
        })
    }

    /// The resumable (tus) upload API beside this one, with the same storage, limits and admission.
    #[must_use]
    pub fn resumable(&self) -> ResumableApi {
        ResumableApi::new(Arc::clone(&self.state.transfers))
    }
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Videos")]
impl UploadApi {
    /// Upload a video
    ///
    /// Streams the body to storage and queues the video for frame extraction. The raw form takes the file name
    /// in `X-Fiapx-Filename` (percent-encoded UTF-8) and the spec in query parameters; the multipart form takes an
    /// optional `spec` part (JSON) before the `file` part. With no spec, one PNG frame per second is extracted.
    /// Bodies over the limit get 413, bodies that are not a video container 415, empty bodies 400, bodies that
    /// come in under the minimum rate 408 `too_slow`, and nothing is stored. 429 while the account has as many
    /// videos in flight, or the account or address as many upload bodies coming, as it may. A retry with the
    /// same `Idempotency-Key` returns the first answer.
    #[oai(path = "/videos", method = "post", operation_id = "uploadVideo")]
    #[expect(
        clippy::too_many_arguments,
        reason = "one parameter per documented query parameter"
    )]
    async fn upload(
        &self,
        owner: Owner,
        request: &Request,
        body: UploadBody,
        /// The file name (percent-encoded UTF-8), for the raw form.
        #[oai(name = "X-Fiapx-Filename")]
        file_name: Header<Option<String>>,
        /// Any client-chosen string (at most 256 bytes): a retry with the same key returns the first result.
        #[oai(name = "Idempotency-Key")]
        idempotency_key: Header<Option<String>>,
        /// Frames per second, a number or a fraction (`1`, `0.5`, `30000/1001`).
        fps: Query<Option<String>>,
        /// One frame every N seconds (`2`, `2.5`, `5/2`).
        every: Query<Option<String>>,
        /// N frames evenly spaced.
        count: Query<Option<u32>>,
        /// The frames shown at these comma-separated positions: `first`, `last`, seconds (`12.5`), a time
        /// (`01:02:03.250`) or a share of the duration (`10%`).
        at: Query<Option<String>>,
        /// Scene changes above this score, 0 to 1 (`0.3`).
        scene: Query<Option<String>>,
        /// With `scene`: the least seconds between two frames kept.
        min_gap: Query<Option<String>>,
        /// `true`: every keyframe and nothing else.
        keyframes: Query<Option<bool>>,
        /// Image format: png (default), jpeg, webp.
        format: Query<Option<FormatName>>,
        /// JPEG quality 1..=100 (default 85).
        quality: Query<Option<u8>>,
        /// Scale down to at most this width.
        max_width: Query<Option<u32>>,
        /// Scale down to at most this height.
        max_height: Query<Option<u32>>,
        /// Scrub previews: a tile every N seconds (1 to 600), in JPEG sprite sheets with a WebVTT index.
        storyboard: Query<Option<String>>,
        /// Storyboard tile width (default 160).
        storyboard_width: Query<Option<u32>>,
        /// Storyboard tiles per row (default 5).
        storyboard_columns: Query<Option<u32>>,
        /// Storyboard rows per sheet (default 5).
        storyboard_rows: Query<Option<u32>>,
        /// A URL to call (a signed POST, like a webhook's) when this video's frames are ready or its processing
        /// fails for good: `https`, on a public host, at most 2048 bytes. Signed with the account's callback
        /// secret (`POST /api/v1/me/callback-secret`).
        callback_url: Query<Option<String>>,
    ) -> Result<AcceptedResponse, ApiError> {
        let started = Instant::now();
        let owner = owner.user_id()?;
        let _place = self.state.uploading.acquire(owner, client_address(request))?;
        let query = SpecForm {
            fps: fps.0,
            every: every.0,
            count: count.0,
            at: at.0,
            scene: scene.0,
            min_gap: min_gap.0,
            keyframes: keyframes.0,
            format: format.0,
            quality: quality.0,
            max_width: max_width.0,
            max_height: max_height.0,
            storyboard: storyboard.0,
            storyboard_width: storyboard_width.0,
            storyboard_columns: storyboard_columns.0,
            storyboard_rows: storyboard_rows.0,
        };
        let declared_len = request
            .header(poem::http::header::CONTENT_LENGTH)
            .and_then(|len| len.parse::<u64>().ok());
        let result = self
            .state
            .upload(
                owner,
                declared_len,
                body,
                Named {
                    file_name: file_name.0,
                    idempotency_key: idempotency_key.0,
                    callback_url: callback_url.0,
                },
                query,
            )
            .await;
        let outcome = match &result {
            Ok(_) => "accepted",
            Err(error) => {
                metrics::counter!("fiapx_upload_rejections_total", "code" => error.code().as_str())
                    .increment(1);
                error.code().as_str()
            }
        };
        metrics::histogram!("fiapx_upload_seconds", "outcome" => outcome)
            .record(started.elapsed().as_secs_f64());
        result.map(Into::into)
    }

    /// Reprocess a video
    ///
    /// Extracts the frames again, with a new spec or (without a body) the current one. Only a completed or
    /// failed video can be reprocessed (409 otherwise).
    #[oai(
        path = "/videos/:id/reprocess",
        method = "post",
        operation_id = "reprocessVideo"
    )]
    async fn reprocess(
        &self,
        owner: Owner,
        id: Path<Uuid>,
        body: OptionalSpec,
    ) -> Result<AcceptedResponse, ApiError> {
        let by = owner.writer_of(id.0)?;
        let spec = body
            .0
            .map(|input| input.to_spec(self.state.settings.engine_max_frames))
            .transpose()?;
        let video = VideoId::from_uuid(id.0);
        let pending = Duration::from_secs(self.state.settings.admission_pending_secs);
        let reserved = self.state.admission.reserve(by, video, pending).await?;
        let command = Command::RequestReprocess {
            by,
            spec,
            at: OffsetDateTime::now_utc(),
        };
        let handled = match self
            .state
            .handler
            .handle(video, command, Metadata::new_request())
            .await
        {
            Ok(handled) => handled,
            Err(error) => {
                self.state.admission.undo(by, video, reserved).await;
                return Err(command_error(error));
            }
        };
        info!(video.id = %video, owner.id = %by, job = handled.state.job, "reprocess requested");
        Ok(VideoAccepted::queued(video, handled.state.job).into())
    }

    /// Delete a video
    ///
    /// Records the deletion, then removes the source and every archive from storage.
    #[oai(path = "/videos/:id", method = "delete", operation_id = "deleteVideo")]
    async fn delete(&self, owner: Owner, id: Path<Uuid>) -> Result<DeletedResponse, ApiError> {
        let by = owner.writer_of(id.0)?;
        let video = VideoId::from_uuid(id.0);
        let (handler, storage) = (&self.state.handler, &self.state.storage);
        if delete_video(handler, storage, self.state.intake.callbacks(), by, video).await? {
            Ok(DeletedResponse::Deleted)
        } else {
            // Deleted before (a retry after a failed removal finished it): the video is gone.
            Err(ApiError::not_found("video"))
        }
    }
}

/// The routes of this crate that stream a large request body and enforce their own size limit as they read it
/// (`POST /api/v1/videos`, `PATCH /api/v1/uploads/{id}`): exempt from the server's limit on other bodies.
pub fn streams_own_body(method: &poem::http::Method, path: &str) -> bool {
    let path = path.trim_end_matches('/');
    (method == poem::http::Method::POST && path == "/api/v1/videos")
        || (method == poem::http::Method::PATCH && path.starts_with(crate::resumable::UPLOADS_PATH))
}

/// Records `by`'s deletion of `video`, then removes its source, every archive and its callback URL. `Ok(true)`
/// when this call deleted it; `Ok(false)` when it was deleted before, in which case, if it was `by`'s, what it
/// left is removed again (finishing a removal that failed half-way).
pub async fn delete_video(
    handler: &CommandHandler,
    storage: &Storage,
    callbacks: &VideoCallbacks,
    by: UserId,
    video: VideoId,
) -> Result<bool, ApiError> {
    let command = Command::DeleteVideo {
        by,
        at: OffsetDateTime::now_utc(),
    };
    match handler.handle(video, command, Metadata::new_request()).await {
        Ok(_) => {
            remove_objects(storage, callbacks, video).await?;
            info!(video.id = %video, owner.id = %by, "video deleted");
            Ok(true)
        }
        Err(HandleError::Rejected(VideoError::Deleted)) => {
            if matches!(registered(handler, video).await, Ok(Some((owner, _))) if owner == by) {
                remove_objects(storage, callbacks, video).await?;
            }
            Ok(false)
        }
        Err(error) => Err(command_error(error)),
    }
}

async fn remove_objects(
    storage: &Storage,
    callbacks: &VideoCallbacks,
    video: VideoId,
) -> Result<(), ApiError> {
    callbacks
        .remove(*video.as_uuid())
        .await
        .map_err(ApiError::unavailable)?;
    storage
        .delete(&source_key(video))
        .await
        .map_err(ApiError::unavailable)?;
    storage
        .delete_prefix(&archive_prefix(video))
        .await
        .map_err(ApiError::unavailable)?;
    Ok(())
}

/// Domain rejections and store failures of reprocess/delete as API errors.
fn command_error(error: HandleError) -> ApiError {
    match error {
        HandleError::Rejected(VideoError::NotFound | VideoError::NotOwner | VideoError::Deleted) => {
            ApiError::not_found("video")
        }
        HandleError::Rejected(rejection @ VideoError::ReprocessNotAllowed(_)) => {
            ApiError::conflict(rejection.to_string())
        }
        HandleError::Rejected(VideoError::InvalidSpec(spec)) => ApiError::invalid_spec(spec.to_string()),
        HandleError::Rejected(rejection) => ApiError::conflict(rejection.to_string()),
        error @ (HandleError::TooMuchContention { .. }
        | HandleError::Load(LoadError::Unavailable(_))
        | HandleError::Append(AppendError::Unavailable(_))) => ApiError::unavailable(error),
        error => ApiError::internal(error),
    }
}

/// What an upload names besides its spec: the file (raw form), its idempotency key and its callback URL.
struct Named {
    file_name: Option<String>,
    idempotency_key: Option<String>,
    callback_url: Option<String>,
}

impl State {
    /// Checks what can be checked before the body is read, admits the upload, claims its `Idempotency-Key`, lets
    /// the intake store and register it, then records or releases the claim.
    async fn upload(
        &self,
        owner: UserId,
        declared_len: Option<u64>,
        body: UploadBody,
        named: Named,
        query: SpecForm,
    ) -> Result<VideoAccepted, ApiError> {
        let Named {
            file_name: file_name_header,
            idempotency_key,
            callback_url,
        } = named;
        self.intake.check_declared_len(declared_len)?;
        if let Some(key) = &idempotency_key {
            Idempotency::check_key(key)?;
        }
        let query_spec = self.intake.query_spec(&query, &body)?;
        let callback = self.intake.check_callback(callback_url.as_deref())?;

        let video = VideoId::from_uuid(Uuid::now_v7());
        // A replay of an answered key is answered whatever the limit says now.
        if let Some(key) = &idempotency_key
            && let NextAction::ReturnAnswer(accepted) = self.idempotency.begin(owner, key, video).await?
        {
            return Ok(accepted);
        }
        let pending = Duration::from_secs(self.settings.admission_pending_secs);
        let reserved = match self.admission.reserve(owner, video, pending).await {
            Ok(reserved) => reserved,
            Err(error) => {
                if let Some(key) = &idempotency_key {
                    self.idempotency.failed(owner, key).await;
                }
                return Err(error);
            }
        };

        let result = self
            .intake
            .store_and_register(
                owner,
                video,
                body,
                file_name_header,
                query_spec,
                callback.as_deref(),
            )
            .await;
        match (result, idempotency_key) {
            (Ok(accepted), Some(key)) => {
                self.idempotency.succeeded(owner, &key, &accepted).await;
                Ok(accepted)
            }
            (Ok(accepted), None) => Ok(accepted),
            (Err(failure), key) => {
                if !failure.maybe_registered {
                    if let Some(key) = key {
                        self.idempotency.failed(owner, &key).await;
                    }
                    self.admission.undo(owner, video, reserved).await;
                }
                Err(failure.error)
            }
        }
    }
}
