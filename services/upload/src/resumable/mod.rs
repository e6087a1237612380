//! Resumable uploads: the tus 1.0.0 protocol (core, `creation`, `termination`, `expiration`) at
//! `/api/v1/uploads`, for large files on flaky networks.
//!
//! `POST` creates an upload of a declared `Upload-Length` (checked against the size limit and the owner's videos
//! in flight, as a plain upload is) with the file name and spec in `Upload-Metadata`; `PATCH` appends bytes at
//! `Upload-Offset`; `HEAD` tells the offset to resume from; `DELETE` abandons it. The upload's id is the video's
//! id: when the last byte arrives the source is assembled in S3 and the same `uploaded` event as a plain
//! upload's is stored. Bytes received before a connection breaks are kept (see [`transfer`]).

mod sessions;
mod transfer;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use fiapx_domain::{ExtractionSpec, FALLBACK_FILE_NAME, UserId, VideoId};
use fiapx_http::{ApiError, ConcurrencyCap, ErrorCode, Owner, client_address};
use poem::http::{HeaderValue, Method};
use poem::{Endpoint, EndpointExt, Request, Response};
use poem_openapi::param::{Header, Path};
use poem_openapi::{ApiResponse, OpenApi, Tags};
use time::OffsetDateTime;
use tracing::{info, warn};
use uuid::Uuid;

pub use sessions::SessionError;
use sessions::{Phase, Session, Sessions};
pub use transfer::Transfers;

use crate::admission::InFlightLimit;
use crate::body::{OffsetOctetStream, parse_spec_json};
use crate::intake::{Intake, clean_file_name};
use crate::settings::UploadSettings;

/// The protocol version spoken.
pub const TUS_VERSION: &str = "1.0.0";
/// The extensions supported.
pub const TUS_EXTENSIONS: &str = "creation,termination,expiration";
/// Where the uploads live.
pub const UPLOADS_PATH: &str = "/api/v1/uploads";
/// Longest `Upload-Metadata` header accepted.
const MAX_METADATA_BYTES: usize = 16 * 1024;

#[derive(Tags)]
enum ApiTags {
    /// Resumable uploads (tus 1.0.0): create, resume, append, abandon.
    Uploads,
}

/// The resumable upload API (`#[OpenApi]`), built by [`crate::UploadApi::resumable`].
#[derive(Clone)]
pub struct ResumableApi {
    transfers: Arc<Transfers>,
}

impl ResumableApi {
    /// Opens the session bucket and starts the sweeper of expired sessions.
    pub(crate) async fn open(
        intake: Intake,
        storage: fiapx_storage::Storage,
        admission: InFlightLimit,
        uploading: Arc<ConcurrencyCap>,
        settings: UploadSettings,
        js: &async_nats::jetstream::Context,
        replicas: usize,
    ) -> Result<Arc<Transfers>, SessionError> {
        let sessions = Sessions::open(js, &settings.sessions_bucket, replicas).await?;
        let transfers = Arc::new(Transfers {
            sessions,
            storage,
            intake,
            admission,
            uploading,
            settings,
        });
        let sweeper = Arc::downgrade(&transfers);
        let every = Duration::from_secs(transfers.settings.resumable_sweep_interval_secs.max(1));
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            loop {
                ticks.tick().await;
                let Some(transfers) = sweeper.upgrade() else {
                    return;
                };
                if let Err(error) = transfers.sweep().await {
                    warn!(error = %error, "sweeping expired uploads failed");
                }
            }
        });
        Ok(transfers)
    }

    pub(crate) const fn new(transfers: Arc<Transfers>) -> Self {
        Self { transfers }
    }

    /// Removes expired sessions now (the sweeper does it every `resumable_sweep_interval_secs`).
    pub async fn sweep_expired(&self) -> Result<usize, SessionError> {
        self.transfers.sweep().await
    }
}

/// 204 with the server's capabilities.
#[derive(ApiResponse)]
pub enum CapabilitiesResponse {
    /// The protocol versions, extensions and largest upload.
    #[oai(status = 204)]
    Capabilities(
        #[oai(header = "Tus-Version")] String,
        #[oai(header = "Tus-Extension")] String,
        #[oai(header = "Tus-Max-Size")] u64,
    ),
}

/// 201 with the new upload's URL.
#[derive(ApiResponse)]
pub enum CreatedResponse {
    /// Created: send the bytes with PATCH to `Location` (whose last segment is the video's id).
    #[oai(status = 201)]
    Created(
        #[oai(header = "Location")] String,
        #[oai(header = "Upload-Expires")] String,
    ),
}

/// 200 with where the upload is.
#[derive(ApiResponse)]
pub enum OffsetResponse {
    /// The offset to resume from. `Upload-Offset` equal to `Upload-Length`: finished, the video is registered.
    #[oai(status = 200)]
    At(
        #[oai(header = "Upload-Offset")] u64,
        #[oai(header = "Upload-Length")] u64,
        #[oai(header = "Upload-Expires")] Option<String>,
        #[oai(header = "Cache-Control")] String,
    ),
}

/// 204 after a PATCH.
#[derive(ApiResponse)]
pub enum PatchedResponse {
    /// Appended: the new offset. At `Upload-Length` the video is registered and queued.
    #[oai(status = 204)]
    Patched(
        #[oai(header = "Upload-Offset")] u64,
        #[oai(header = "Upload-Expires")] String,
    ),
}

/// 204 after a termination.
#[derive(ApiResponse)]
pub enum TerminatedResponse {
    /// Abandoned: every byte of it was removed.
    #[oai(status = 204)]
    Terminated,
}

fn check_version(version: Option<&str>) -> Result<(), ApiError> {
    if version == Some(TUS_VERSION) {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::UnsupportedVersion,
            format!("send Tus-Resumable: {TUS_VERSION}"),
        ))
    }
}

/// The user making a tus request, once its `Tus-Resumable` says the version spoken (checked first).
fn tus_caller(version: &Header<Option<String>>, owner: &Owner) -> Result<UserId, ApiError> {
    check_version(version.0.as_deref())?;
    owner.user_id()
}

/// An HTTP-date (RFC 9110), for `Upload-Expires`.
fn http_date(unix: i64) -> String {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|at| at.format(format).ok())
        .unwrap_or_default()
}

/// What `Upload-Metadata` says.
#[derive(Debug, PartialEq, Eq)]
struct UploadMetadata {
    file_name: String,
    spec: ExtractionSpec,
    /// Unchecked: [`Intake::check_callback`] checks it.
    callback_url: Option<String>,
}

/// `Upload-Metadata`: comma-separated `key base64value` pairs. Known keys: `filename` (or `name`), `spec` (an
/// ExtractionSpec JSON object), `callback_url`; others (such as `filetype`) are ignored.
fn parse_metadata(header: Option<&str>, max_frames: u64) -> Result<UploadMetadata, ApiError> {
    let mut file_name = None;
    let mut spec = None;
    let mut callback_url = None;
    let header = header.unwrap_or("");
    if header.len() > MAX_METADATA_BYTES {
        return Err(ApiError::bad_request(format!(
            "Upload-Metadata is longer than {MAX_METADATA_BYTES} bytes"
        )));
    }
    for pair in header.split(',').map(str::trim).filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once(' ').unwrap_or((pair, ""));
        let value = base64::engine::general_purpose::STANDARD
            .decode(value.trim())
            .map_err(|_| {
                ApiError::bad_request(format!("Upload-Metadata: the value of {key:?} is not base64"))
            })?;
        match key {
            "filename" | "name" if file_name.is_none() => {
                let name = String::from_utf8(value)
                    .map_err(|_| ApiError::bad_request("Upload-Metadata: the filename is not UTF-8"))?;
                file_name = Some(clean_file_name(Some(&name), false).map_err(ApiError::bad_request)?);
            }
            "spec" => spec = Some(parse_spec_json(&value)?.to_spec(max_frames)?),
            "callback_url" => {
                callback_url =
                    Some(String::from_utf8(value).map_err(|_| {
                        ApiError::bad_request("Upload-Metadata: the callback_url is not UTF-8")
                    })?);
            }
            _ => {}
        }
    }
    Ok(UploadMetadata {
        file_name: file_name.unwrap_or_else(|| FALLBACK_FILE_NAME.to_owned()),
        spec: spec.unwrap_or_default(),
        callback_url,
    })
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Uploads")]
impl ResumableApi {
    /// Resumable upload capabilities
    ///
    /// The tus versions and extensions this server speaks, and the largest upload it takes.
    #[oai(path = "/uploads", method = "options", operation_id = "uploadCapabilities")]
    async fn capabilities(&self) -> CapabilitiesResponse {
        CapabilitiesResponse::Capabilities(
            TUS_VERSION.into(),
            TUS_EXTENSIONS.into(),
            self.transfers.settings.max_upload_bytes,
        )
    }

    /// Create a resumable upload
    ///
    /// tus `creation`: declares the file's length (`Upload-Length`) and, in `Upload-Metadata`, its `filename`,
    /// extraction `spec` (base64 of an ExtractionSpec JSON object) and `callback_url` (as the plain upload's
    /// query parameter), all optional. Checked like a plain
    /// upload before a byte is sent: 413 over the size limit, 400 for a bad spec, 429 with too many videos in
    /// flight. The last segment of `Location` is the video's id.
    #[oai(path = "/uploads", method = "post", operation_id = "createUpload")]
    async fn create(
        &self,
        owner: Owner,
        /// `1.0.0`.
        #[oai(name = "Tus-Resumable")]
        version: Header<Option<String>>,
        /// The file's size in bytes.
        #[oai(name = "Upload-Length")]
        length: Header<Option<u64>>,
        /// `filename <base64>,spec <base64 JSON>,callback_url <base64 URL>`.
        #[oai(name = "Upload-Metadata")]
        metadata: Header<Option<String>>,
    ) -> Result<CreatedResponse, ApiError> {
        let owner = tus_caller(&version, &owner)?;
        let settings = &self.transfers.settings;
        let Some(length) = length.0 else {
            return Err(ApiError::bad_request(
                "send Upload-Length (deferred lengths are not supported)",
            ));
        };
        if length == 0 {
            return Err(ApiError::bad_request("the file is empty"));
        }
        if length > settings.max_upload_bytes {
            return Err(ApiError::too_large(settings.max_upload_bytes));
        }
        let UploadMetadata {
            file_name,
            spec,
            callback_url,
        } = parse_metadata(metadata.0.as_deref(), settings.engine_max_frames)?;
        let callback_url = self.transfers.intake.check_callback(callback_url.as_deref())?;
        let video = VideoId::from_uuid(Uuid::now_v7());
        // The place is held as long as the session may live unfinished; terminating or expiring gives it back.
        let pending = Duration::from_secs(settings.resumable_ttl_secs);
        let reserved = self.transfers.admission.reserve(owner, video, pending).await?;
        let expires_at = OffsetDateTime::now_utc().unix_timestamp() + settings.resumable_ttl_secs as i64;
        let session = Session {
            owner: *owner.as_uuid(),
            length,
            offset: 0,
            tail_len: 0,
            file_name,
            spec,
            callback_url,
            content_type: None,
            multipart: None,
            parts: Vec::new(),
            phase: Phase::Receiving,
            expires_at,
            locked_until: None,
        };
        if let Err(error) = self.transfers.sessions.create(video, &session).await {
            self.transfers.admission.undo(owner, video, reserved).await;
            return Err(ApiError::unavailable(error));
        }
        metrics::counter!("fiapx_resumable_uploads_created_total").increment(1);
        info!(video.id = %video, owner.id = %owner, upload.length = length, "resumable upload created");
        Ok(CreatedResponse::Created(
            format!("{UPLOADS_PATH}/{video}"),
            http_date(expires_at),
        ))
    }

    /// Where a resumable upload is
    ///
    /// tus `HEAD`: the offset to resume from. 404 for an unknown, expired or someone else's upload.
    #[oai(path = "/uploads/:id", method = "head", operation_id = "getUploadOffset")]
    async fn offset(
        &self,
        owner: Owner,
        id: Path<Uuid>,
        /// `1.0.0`.
        #[oai(name = "Tus-Resumable")]
        version: Header<Option<String>>,
    ) -> Result<OffsetResponse, ApiError> {
        let owner = tus_caller(&version, &owner)?;
        let session = self.transfers.head(owner, VideoId::from_uuid(id.0)).await?;
        let expires = matches!(session.phase, Phase::Receiving).then(|| http_date(session.expires_at));
        Ok(OffsetResponse::At(
            session.offset,
            session.length,
            expires,
            "no-store".into(),
        ))
    }

    /// Append to a resumable upload
    ///
    /// tus `PATCH`: the bytes from `Upload-Offset` on (which must be the upload's offset: 409 otherwise). What
    /// arrives is kept even when the connection breaks; HEAD tells where to go on. With the last byte the video
    /// is registered and queued. 415 when the first bytes are not a video container (the upload is then
    /// removed), 423 while another PATCH of it runs, 429 while the account or address has as many upload
    /// bodies coming as it may, 408 `too_slow` when the bytes come in under the minimum rate (what came is kept).
    #[oai(path = "/uploads/:id", method = "patch", operation_id = "appendUpload")]
    async fn append(
        &self,
        owner: Owner,
        request: &Request,
        id: Path<Uuid>,
        /// `1.0.0`.
        #[oai(name = "Tus-Resumable")]
        version: Header<Option<String>>,
        /// Where these bytes start.
        #[oai(name = "Upload-Offset")]
        offset: Header<u64>,
        body: OffsetOctetStream,
    ) -> Result<PatchedResponse, ApiError> {
        let owner = tus_caller(&version, &owner)?;
        let video = VideoId::from_uuid(id.0);
        let place = self.transfers.uploading.acquire(owner, client_address(request))?;
        let patched = self
            .transfers
            .patch(owner, video, offset.0, body.0, place)
            .await?;
        Ok(PatchedResponse::Patched(
            patched.offset,
            http_date(patched.expires_at),
        ))
    }

    /// Abandon a resumable upload
    ///
    /// tus `termination`: removes an unfinished upload and every byte of it. 409 once it finished (delete the
    /// video instead).
    #[oai(path = "/uploads/:id", method = "delete", operation_id = "terminateUpload")]
    async fn terminate(
        &self,
        owner: Owner,
        id: Path<Uuid>,
        /// `1.0.0`.
        #[oai(name = "Tus-Resumable")]
        version: Header<Option<String>>,
    ) -> Result<TerminatedResponse, ApiError> {
        let owner = tus_caller(&version, &owner)?;
        self.transfers.terminate(owner, VideoId::from_uuid(id.0)).await?;
        Ok(TerminatedResponse::Terminated)
    }
}

/// Adds `Tus-Resumable` to every response under [`UPLOADS_PATH`] (and `Tus-Version` to a 412), as tus asks.
pub fn with_tus_headers<E>(endpoint: E) -> impl Endpoint<Output = Response>
where
    E: Endpoint + 'static,
{
    endpoint.around(|endpoint, request: Request| async move {
        let tus = request.uri().path().starts_with(UPLOADS_PATH);
        let options = request.method() == Method::OPTIONS;
        let mut response = endpoint.get_response(request).await;
        if tus {
            let headers = response.headers_mut();
            headers.insert("tus-resumable", HeaderValue::from_static(TUS_VERSION));
            if options || response.status() == poem::http::StatusCode::PRECONDITION_FAILED {
                response
                    .headers_mut()
                    .insert("tus-version", HeaderValue::from_static(TUS_VERSION));
            }
        }
        Ok(response)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(text: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    #[test]
    fn metadata_gives_the_file_name_spec_and_callback() {
        let header = format!(
            "filename {},filetype {},spec {},callback_url {}",
            b64("férias.mp4"),
            b64("video/mp4"),
            b64(r#"{"count":5}"#),
            b64("https://hooks.example.com/done?t=1")
        );
        let metadata = parse_metadata(Some(&header), u64::MAX).unwrap();
        assert_eq!(metadata.file_name, "férias.mp4");
        assert_eq!(
            metadata.spec,
            parse_spec_json(br#"{"count":5}"#)
                .unwrap()
                .to_spec(u64::MAX)
                .unwrap()
        );
        assert_eq!(
            metadata.callback_url.as_deref(),
            Some("https://hooks.example.com/done?t=1")
        );
        assert_eq!(
            parse_metadata(None, u64::MAX).unwrap(),
            UploadMetadata {
                file_name: "video".into(),
                spec: ExtractionSpec::default(),
                callback_url: None,
            }
        );
        assert_eq!(
            parse_metadata(Some("is_confidential"), u64::MAX)
                .unwrap()
                .file_name,
            "video"
        );
        let bad = parse_metadata(Some("filename ***"), u64::MAX).unwrap_err();
        assert_eq!(bad.code(), ErrorCode::BadRequest);
        let bad = parse_metadata(Some(&format!("spec {}", b64(r#"{"count":0}"#))), u64::MAX).unwrap_err();
        assert_eq!(bad.code(), ErrorCode::InvalidSpec);
        let traversal = parse_metadata(Some(&format!("filename {}", b64("../../x.mp4"))), u64::MAX).unwrap();
        assert_eq!(traversal.file_name, "x.mp4");
    }

    #[test]
    fn expiry_is_an_http_date() {
        assert_eq!(http_date(1_403_712_000), "Wed, 25 Jun 2014 16:00:00 GMT");
    }

    #[test]
    fn only_tus_1_0_0_is_spoken() {
        assert!(check_version(Some("1.0.0")).is_ok());
        for other in [None, Some("0.2.2"), Some("")] {
            assert_eq!(
                check_version(other).unwrap_err().code(),
                ErrorCode::UnsupportedVersion
            );
        }
    }
}
