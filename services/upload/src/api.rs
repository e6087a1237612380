//! The write-side endpoints: upload, reprocess, delete.

use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fiapx_domain::{Command, ExtractionSpec, SourceObject, UserId, Video, VideoError, VideoId};
use fiapx_http::{ApiError, Owner};
use fiapx_nats::{AppendError, CommandHandler, HandleError, LoadError, Metadata, NatsSettings};
use fiapx_storage::{PutError, PutOptions, Storage, StorageError, archive_prefix, source_key};
use poem::Request;
use poem::web::Multipart;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::io::{AsyncRead, AsyncReadExt};
use tracing::{info, warn};
use uuid::Uuid;

use crate::body::{OptionalSpec, UploadBody, parse_spec_json};
use crate::idempotency::{Claim, IdempotencyStore, MAX_KEY_LEN};
use crate::settings::UploadSettings;
use crate::sniff::{SNIFF_LEN, sniff};
use crate::upload::{Limited, clean_file_name, is_over_limit, read_head};
use fiapx_http::{FormatName, SpecForm};
use fiapx_projections::entity::video;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter};

/// Largest `spec` multipart part.
const MAX_SPEC_PART_BYTES: u64 = 16 * 1024;

#[derive(Tags)]
enum ApiTags {
    /// Videos: upload, reprocess, delete, list, status, download.
    Videos,
}

/// Where to follow a video.
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize, Deserialize)]
pub struct VideoLinks {
    /// The video.
    #[oai(rename = "self")]
    #[serde(rename = "self")]
    pub self_: String,
    /// Its event timeline.
    pub timeline: String,
    /// Live status (Server-Sent Events).
    pub events: String,
    /// The frames archive, once completed.
    pub download: String,
}

/// A command was accepted: the video is queued for (re)processing.
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize, Deserialize)]
pub struct VideoAccepted {
    /// The video id.
    pub id: Uuid,
    /// Its status after the command (`queued`).
    pub status: String,
    /// The job the command opened (0 for the upload, +1 per reprocess).
    pub job: u32,
    /// Where to follow it.
    pub links: VideoLinks,
}

impl VideoAccepted {
    fn queued(video: VideoId, job: u32) -> Self {
        let base = location(video);
        Self {
            id: *video.as_uuid(),
            status: "queued".into(),
            job,
            links: VideoLinks {
                timeline: format!("{base}/timeline"),
                events: format!("{base}/events"),
                download: format!("{base}/download"),
                self_: base,
            },
        }
    }
}

fn location(video: VideoId) -> String {
    format!("/api/v1/videos/{video}")
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
    Idempotency(#[from] crate::idempotency::IdempotencyError),
}

#[derive(Clone)]
struct State {
    handler: CommandHandler,
    storage: Storage,
    idempotency: IdempotencyStore,
    settings: UploadSettings,
    read_model: Option<DatabaseConnection>,
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
        let idempotency = IdempotencyStore::open(
            handler.store().jetstream(),
            &settings.idempotency_bucket,
            Duration::from_secs(settings.idempotency_ttl_secs),
            nats.replicas,
        )
        .await?;
        Ok(Self {
            state: Arc::new(State {
                handler,
                storage,
                idempotency,
                settings,
                read_model: None,
            }),
        })
    }

    /// Enforces `max_videos_in_flight` per user, counted on the read model in `db`. Without it there is no
    /// per-user limit.
    #[must_use]
    pub fn with_read_model(self, db: DatabaseConnection) -> Self {
        let mut state = Arc::unwrap_or_clone(self.state);
        state.read_model = Some(db);
        Self {
            state: Arc::new(state),
        }
    }
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Videos")]
impl UploadApi {
    /// Upload a video
    ///
    /// Streams the body to storage and queues the video for frame extraction. The raw form takes the file name
    /// in `X-Fiapx-Filename` (percent-encoded UTF-8) and the spec in query parameters; the multipart form takes an
    /// optional `spec` part (JSON) before the `file` part. With no spec, one PNG frame per second is extracted.
    /// Bodies over the limit get 413, bodies that are not a video container 415, empty bodies 400, and nothing
    /// is stored. A retry with the same `Idempotency-Key` returns the first answer.
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
        /// Image format: png (default), jpeg, webp.
        format: Query<Option<FormatName>>,
        /// JPEG quality 1..=100 (default 85).
        quality: Query<Option<u8>>,
        /// Scale down to at most this width.
        max_width: Query<Option<u32>>,
        /// Scale down to at most this height.
        max_height: Query<Option<u32>>,
    ) -> Result<AcceptedResponse, ApiError> {
        let started = Instant::now();
        let owner = owner.user_id()?;
        let query = SpecForm {
            fps: fps.0,
            every: every.0,
            count: count.0,
            format: format.0,
            quality: quality.0,
            max_width: max_width.0,
            max_height: max_height.0,
        };
        let declared_len = request
            .header(poem::http::header::CONTENT_LENGTH)
            .and_then(|len| len.parse::<u64>().ok());
        let result = self
            .state
            .upload(owner, declared_len, body, file_name.0, idempotency_key.0, query)
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
        let command = Command::RequestReprocess {
            by,
            spec,
            at: OffsetDateTime::now_utc(),
        };
        let handled = self
            .state
            .handler
            .handle(video, command, Metadata::new_request())
            .await
            .map_err(command_error)?;
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
        let command = Command::DeleteVideo {
            by,
            at: OffsetDateTime::now_utc(),
        };
        match self
            .state
            .handler
            .handle(video, command, Metadata::new_request())
            .await
        {
            Ok(_) => {
                self.state.remove_objects(video).await?;
                info!(video.id = %video, owner.id = %by, "video deleted");
                Ok(DeletedResponse::Deleted)
            }
            Err(HandleError::Rejected(VideoError::Deleted)) => {
                // A retry after a failed removal: finish it for the owner, still answer 404 (the video is gone).
                if self.state.owner_of(video).await == Some(by) {
                    self.state.remove_objects(video).await?;
                }
                Err(ApiError::not_found("video"))
            }
            Err(error) => Err(command_error(error)),
        }
    }
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

/// An upload failure, and whether the idempotency claim must be kept (the outcome is unknown).
struct Failure {
    error: ApiError,
    keep_claim: bool,
}

impl From<ApiError> for Failure {
    fn from(error: ApiError) -> Self {
        Self {
            error,
            keep_claim: false,
        }
    }
}

type BoxReader = Pin<Box<dyn AsyncRead + Send>>;

impl State {
    async fn upload(
        &self,
        owner: UserId,
        declared_len: Option<u64>,
        body: UploadBody,
        file_name_header: Option<String>,
        idempotency_key: Option<String>,
        query: SpecForm,
    ) -> Result<VideoAccepted, ApiError> {
        let max = self.settings.max_upload_bytes;
        if declared_len.is_some_and(|len| len > max) {
            return Err(ApiError::too_large(max));
        }
        if declared_len == Some(0) {
            return Err(ApiError::bad_request("the body is empty"));
        }
        if let Some(key) = &idempotency_key
            && (key.is_empty() || key.len() > MAX_KEY_LEN)
        {
            return Err(ApiError::bad_request(format!(
                "Idempotency-Key must be 1 to {MAX_KEY_LEN} bytes"
            )));
        }
        // The query spec is checked before a byte of the body is read.
        let query_spec = if query.is_empty() && matches!(body, UploadBody::Multipart(_)) {
            None
        } else {
            Some(query.to_spec(self.settings.engine_max_frames)?)
        };

        self.check_in_flight(owner).await?;
        let video = VideoId::from_uuid(Uuid::now_v7());
        if let Some(key) = &idempotency_key {
            match self
                .idempotency
                .claim(owner, key, video)
                .await
                .map_err(ApiError::unavailable)?
            {
                Claim::Fresh => {}
                Claim::Replay(accepted) => {
                    info!(video.id = %accepted.id, owner.id = %owner, "idempotent replay");
                    return Ok(accepted);
                }
                Claim::InProgress {
                    video_id,
                    revision,
                    started_at,
                } => {
                    // The earlier attempt may have stored its event without recording the answer.
                    let loaded = self
                        .handler
                        .store()
                        .load(video_id)
                        .await
                        .map_err(ApiError::unavailable)?;
                    if !loaded.events.is_empty() {
                        let accepted = VideoAccepted::queued(video_id, 0);
                        self.record_answer(owner, key, &accepted).await;
                        return Ok(accepted);
                    }
                    let stale = OffsetDateTime::now_utc() - started_at
                        > time::Duration::seconds(self.settings.idempotency_pending_timeout_secs as i64);
                    let taken = stale
                        && self
                            .idempotency
                            .take_over(owner, key, revision, video)
                            .await
                            .map_err(ApiError::unavailable)?;
                    if !taken {
                        return Err(ApiError::conflict(
                            "an upload with this Idempotency-Key is still in progress",
                        ));
                    }
                }
            }
        }

        let result = self
            .store_and_register(owner, video, body, file_name_header, query_spec)
            .await;
        match (result, idempotency_key) {
            (Ok(accepted), Some(key)) => {
                self.record_answer(owner, &key, &accepted).await;
                Ok(accepted)
            }
            (Ok(accepted), None) => Ok(accepted),
            (Err(failure), Some(key)) => {
                if !failure.keep_claim
                    && let Err(error) = self.idempotency.release(owner, &key).await
                {
                    warn!(owner.id = %owner, error = %error, "releasing an idempotency key failed");
                }
                Err(failure.error)
            }
            (Err(failure), None) => Err(failure.error),
        }
    }

    /// 429 when the owner already has `max_videos_in_flight` videos queued or processing.
    async fn check_in_flight(&self, owner: UserId) -> Result<(), ApiError> {
        let (Some(db), limit) = (&self.read_model, self.settings.max_videos_in_flight) else {
            return Ok(());
        };
        if limit == 0 {
            return Ok(());
        }
        let in_flight = video::Entity::find()
            .filter(video::Column::OwnerId.eq(*owner.as_uuid()))
            .filter(video::Column::Status.is_in(["queued", "processing", "retry_scheduled"]))
            .count(db)
            .await
            .map_err(ApiError::from)?;
        if in_flight >= limit {
            metrics::counter!("fiapx_upload_in_flight_limited_total").increment(1);
            return Err(ApiError::rate_limited(self.settings.in_flight_retry_after_secs).with_message(format!(
                "you already have {in_flight} videos waiting or processing (limit {limit}); retry when some finish"
            )));
        }
        Ok(())
    }

    async fn record_answer(&self, owner: UserId, key: &str, accepted: &VideoAccepted) {
        // The upload itself succeeded: a lost record only means a retry is checked against the event store.
        if let Err(error) = self.idempotency.finish(owner, key, accepted).await {
            warn!(video.id = %accepted.id, owner.id = %owner, error = %error, "recording an idempotent answer failed");
        }
    }

    async fn store_and_register(
        &self,
        owner: UserId,
        video: VideoId,
        body: UploadBody,
        file_name_header: Option<String>,
        query_spec: Option<ExtractionSpec>,
    ) -> Result<VideoAccepted, Failure> {
        // The multipart reader must outlive the file part read from it.
        let mut multipart_holder: Option<Multipart> = None;
        let (reader, spec, file_name): (BoxReader, ExtractionSpec, String) = match body {
            UploadBody::Raw(body) => {
                let file_name =
                    clean_file_name(file_name_header.as_deref(), true).map_err(ApiError::bad_request)?;
                let spec = query_spec.unwrap_or_default();
                (Box::pin(body.into_async_read()), spec, file_name)
            }
            UploadBody::Multipart(multipart) => {
                let multipart = multipart_holder.insert(multipart);
                let mut spec_part: Option<SpecForm> = None;
                loop {
                    let field = multipart
                        .next_field()
                        .await
                        .map_err(|e| ApiError::bad_request(format!("malformed multipart body: {e}")))?
                        .ok_or_else(|| ApiError::bad_request("the multipart body has no `file` part"))?;
                    match field.name() {
                        Some("spec") if spec_part.is_none() => {
                            let mut text = Vec::new();
                            let mut part = Box::pin(field.into_async_read()).take(MAX_SPEC_PART_BYTES + 1);
                            part.read_to_end(&mut text)
                                .await
                                .map_err(|_| ApiError::bad_request("the `spec` part could not be read"))?;
                            if text.len() as u64 > MAX_SPEC_PART_BYTES {
                                return Err(ApiError::invalid_spec("the `spec` part is too large").into());
                            }
                            spec_part = Some(parse_spec_json(&text)?);
                        }
                        Some("file") => {
                            let spec = match (spec_part, query_spec) {
                                (Some(_), Some(_)) => {
                                    return Err(ApiError::invalid_spec(
                                        "give the spec as query parameters or as a `spec` part, not both",
                                    )
                                    .into());
                                }
                                (Some(input), None) => input.to_spec(self.settings.engine_max_frames)?,
                                (None, Some(spec)) => spec,
                                (None, None) => ExtractionSpec::default(),
                            };
                            let file_name = match field.file_name() {
                                Some(name) => clean_file_name(Some(name), false),
                                None => clean_file_name(file_name_header.as_deref(), true),
                            }
                            .map_err(ApiError::bad_request)?;
                            break (Box::pin(field.into_async_read()) as BoxReader, spec, file_name);
                        }
                        Some(other) => {
                            return Err(ApiError::bad_request(format!(
                                "unexpected multipart part {other:?}: send an optional `spec` part, then `file`"
                            ))
                            .into());
                        }
                        None => return Err(ApiError::bad_request("a multipart part has no name").into()),
                    }
                }
            }
        };

        let max = self.settings.max_upload_bytes;
        let mut limited = Limited::new(reader, max);
        let head = read_head(&mut limited, SNIFF_LEN)
            .await
            .map_err(|e| read_error(e, max))?;
        if head.is_empty() {
            return Err(ApiError::bad_request("the body is empty").into());
        }
        let Some(container) = sniff(&head) else {
            return Err(ApiError::unsupported_media_type(
                "the content is not a recognised video container (MP4/MOV, Matroska/WebM, AVI, MPEG-TS/PS, FLV, \
                 Ogg, ASF)",
            )
            .into());
        };

        let key = source_key(video);
        let options = PutOptions {
            part_size: self.settings.part_size_bytes,
            parts_in_flight: self.settings.parts_in_flight,
        };
        let mut stream = std::io::Cursor::new(head).chain(limited);
        let size = match self
            .storage
            .put_stream(&key, container.mime, &mut stream, options)
            .await
        {
            Ok(size) => size,
            Err(PutError::Read(error)) => return Err(read_error(error, max).into()),
            Err(PutError::Storage(error)) => return Err(ApiError::unavailable(error).into()),
        };
        metrics::counter!("fiapx_upload_bytes_total").increment(size);

        let command = Command::RegisterUpload {
            video_id: video,
            owner,
            source: SourceObject {
                key: key.clone(),
                file_name: file_name.clone(),
                size_bytes: size,
                content_type: container.mime.to_owned(),
            },
            spec,
            at: OffsetDateTime::now_utc(),
        };
        match self.handler.handle(video, command, Metadata::new_request()).await {
            Ok(handled) => {
                info!(
                    video.id = %video,
                    owner.id = %owner,
                    upload.bytes = size,
                    upload.container = container.name,
                    upload.file_name = %file_name,
                    "video uploaded"
                );
                Ok(VideoAccepted::queued(video, handled.state.job))
            }
            Err(error) => Err(self.after_failed_append(video, &key, error).await),
        }
    }

    /// The object is stored but the `uploaded` append failed: remove the object unless the event may be stored.
    async fn after_failed_append(&self, video: VideoId, key: &str, error: HandleError) -> Failure {
        // Only an append that got no answer may have stored the event: a failed load, a refusal or contention
        // happen before any of our appends could have landed (the handler retries only after a definite conflict).
        let unknown_outcome = matches!(error, HandleError::Append(AppendError::Unavailable(_)));
        if unknown_outcome {
            // A lost acknowledgement: the event may be stored. Only remove the object when it surely is not.
            match self.handler.store().load(video).await {
                Ok(loaded) if !loaded.events.is_empty() => {
                    return Failure {
                        error: ApiError::unavailable(error),
                        keep_claim: true,
                    };
                }
                Ok(_) => {}
                Err(load_error) => {
                    warn!(video.id = %video, s3.key = key, error = %load_error,
                        "append outcome unknown: the source is kept for a retry with the same Idempotency-Key");
                    return Failure {
                        error: ApiError::unavailable(error),
                        keep_claim: true,
                    };
                }
            }
        }
        if let Err(delete_error) = self.storage.delete(key).await {
            warn!(video.id = %video, s3.key = key, error = %delete_error, "removing an unregistered source failed");
        }
        let error = match error {
            error @ (HandleError::Append(AppendError::Unavailable(_))
            | HandleError::Load(LoadError::Unavailable(_))
            | HandleError::TooMuchContention { .. }) => ApiError::unavailable(error),
            error => ApiError::internal(error),
        };
        error.into()
    }

    async fn remove_objects(&self, video: VideoId) -> Result<(), ApiError> {
        self.storage
            .delete(&source_key(video))
            .await
            .map_err(ApiError::unavailable)?;
        self.storage
            .delete_prefix(&archive_prefix(video))
            .await
            .map_err(ApiError::unavailable)?;
        Ok(())
    }

    async fn owner_of(&self, video: VideoId) -> Option<UserId> {
        let loaded = self.handler.store().load(video).await.ok()?;
        Video::from_events(loaded.events.iter().map(|stored| &stored.event)).owner
    }
}

fn read_error(error: std::io::Error, max: u64) -> ApiError {
    if is_over_limit(&error) {
        ApiError::too_large(max)
    } else {
        ApiError::bad_request("the upload body could not be read").with_source(error)
    }
}
