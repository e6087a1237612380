//! The upload body's intake: the raw or multipart body read as it arrives (an optional `spec` part, then the
//! `file` part), the size limit enforced on the stream, the leading bytes checked for a video container, the rest
//! streamed to storage, then `RegisterUpload`. A failure leaves nothing in storage unless the event may be stored.

use std::io;
use std::pin::Pin;

use fiapx_domain::{Command, ExtractionSpec, FALLBACK_FILE_NAME, SourceObject, UserId, Video, VideoId};
use fiapx_http::{ApiError, SpecForm};
use fiapx_nats::{
    AppendError, CallbackError, CommandHandler, HandleError, LoadError, Metadata, VideoCallbacks,
};
use fiapx_storage::{PutError, PutOptions, Storage, source_key};
use poem::web::Multipart;
use time::OffsetDateTime;
use tokio::io::{AsyncRead, AsyncReadExt};
use tracing::{info, warn};

use crate::accepted::VideoAccepted;
use crate::body::{UploadBody, malformed_multipart, parse_spec_json};
use crate::limits::{Limited, is_over_limit, too_slow};
use crate::settings::UploadSettings;
use crate::sniff::{SNIFF_LEN, sniff};

/// Largest `spec` multipart part.
const MAX_SPEC_PART_BYTES: u64 = 16 * 1024;

/// Longest callback URL accepted.
const MAX_CALLBACK_URL_BYTES: usize = 2048;

/// Why a registration did not happen (or may not have).
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// The callback URL could not be recorded: nothing was appended.
    #[error(transparent)]
    Callback(#[from] CallbackError),
    /// `RegisterUpload` failed.
    #[error(transparent)]
    Command(#[from] HandleError),
}

/// An upload that failed, and whether its video may be registered all the same (the append got no answer).
pub struct Failure {
    /// The answer.
    pub error: ApiError,
    /// The `uploaded` event may be stored: the source is kept, and so must be the attempt's idempotency claim.
    pub maybe_registered: bool,
}

impl From<ApiError> for Failure {
    fn from(error: ApiError) -> Self {
        Self {
            error,
            maybe_registered: false,
        }
    }
}

type BoxReader = Pin<Box<dyn AsyncRead + Send>>;

/// Reads upload bodies into storage and registers them.
#[derive(Clone)]
pub struct Intake {
    handler: CommandHandler,
    storage: Storage,
    callbacks: VideoCallbacks,
    settings: UploadSettings,
}

impl Intake {
    /// Stores sources in `storage`, callback URLs in `callbacks` and runs `RegisterUpload` through `handler`,
    /// within `settings`' limits.
    pub const fn new(
        handler: CommandHandler,
        storage: Storage,
        callbacks: VideoCallbacks,
        settings: UploadSettings,
    ) -> Self {
        Self {
            handler,
            storage,
            callbacks,
            settings,
        }
    }

    /// A callback URL given with an upload, checked before a byte of the body is read: the rules of webhook URLs
    /// (`https`, a public host; loopback `http` only where insecure webhooks are allowed), at most 2048 bytes.
    /// 400 `bad_request` (as for a webhook URL) says what is wrong.
    pub fn check_callback(&self, raw: Option<&str>) -> Result<Option<String>, ApiError> {
        let Some(raw) = raw.map(str::trim).filter(|raw| !raw.is_empty()) else {
            return Ok(None);
        };
        if raw.len() > MAX_CALLBACK_URL_BYTES {
            return Err(ApiError::bad_request(format!(
                "callback_url is longer than {MAX_CALLBACK_URL_BYTES} bytes"
            )));
        }
        fiapx_http::egress::check_url(raw, self.settings.allow_insecure_callbacks)
            .map(|url| Some(url.to_string()))
            .map_err(|error| ApiError::bad_request(format!("callback_url: {error}")))
    }

    /// Refuses, before a byte is read, a body whose `Content-Length` is over the limit (413) or zero (400).
    pub fn check_declared_len(&self, declared_len: Option<u64>) -> Result<(), ApiError> {
        let max = self.settings.max_upload_bytes;
        if declared_len.is_some_and(|len| len > max) {
            return Err(ApiError::too_large(max));
        }
        if declared_len == Some(0) {
            return Err(ApiError::bad_request("the body is empty"));
        }
        Ok(())
    }

    /// The spec given in query parameters, checked before a byte of the body is read (`None`: a multipart body
    /// with no query spec, which may carry a `spec` part).
    pub fn query_spec(
        &self,
        query: &SpecForm,
        body: &UploadBody,
    ) -> Result<Option<ExtractionSpec>, ApiError> {
        if query.is_empty() && matches!(body, UploadBody::Multipart(_)) {
            Ok(None)
        } else {
            Ok(Some(query.to_spec(self.settings.engine_max_frames)?))
        }
    }

    /// Streams `body` into storage as `video`'s source and registers it for `owner`.
    pub async fn store_and_register(
        &self,
        owner: UserId,
        video: VideoId,
        body: UploadBody,
        file_name_header: Option<String>,
        query_spec: Option<ExtractionSpec>,
        callback: Option<&str>,
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
                        .map_err(|e| malformed_multipart(&e))?
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
        let mut limited = Limited::new(reader, max).with_min_rate(self.settings.min_rate());
        let head = read_head(&mut limited, SNIFF_LEN)
            .await
            .map_err(|e| read_error(e, max))?;
        if head.is_empty() {
            return Err(ApiError::bad_request("the body is empty").into());
        }
        let Some(container) = sniff(&head) else {
            return Err(not_a_video().into());
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

        let source = SourceObject {
            key: key.clone(),
            file_name,
            size_bytes: size,
            content_type: container.mime.to_owned(),
        };
        match self
            .register(owner, video, source, spec, container.name, callback)
            .await
        {
            Ok(accepted) => Ok(accepted),
            Err(error) => Err(self.after_failed_append(video, &key, error).await),
        }
    }

    /// Runs `RegisterUpload` for a source already in storage: the `uploaded` event that queues the video. Its
    /// callback URL, if any, is recorded first, so that whoever sees the event can find it.
    pub async fn register(
        &self,
        owner: UserId,
        video: VideoId,
        source: SourceObject,
        spec: ExtractionSpec,
        container: &str,
        callback: Option<&str>,
    ) -> Result<VideoAccepted, RegisterError> {
        if let Some(url) = callback {
            self.callbacks.set(*video.as_uuid(), url).await?;
        }
        let (size, file_name) = (source.size_bytes, source.file_name.clone());
        let command = Command::RegisterUpload {
            video_id: video,
            owner,
            source,
            spec,
            at: OffsetDateTime::now_utc(),
        };
        let handled = self
            .handler
            .handle(video, command, Metadata::new_request())
            .await?;
        info!(
            video.id = %video,
            owner.id = %owner,
            upload.bytes = size,
            upload.container = container,
            upload.file_name = %file_name,
            upload.callback = callback.is_some(),
            "video uploaded"
        );
        Ok(VideoAccepted::queued(video, handled.state.job))
    }

    /// The owner and current job of `video`, `None` when it has no events.
    pub async fn load(&self, video: VideoId) -> Result<Option<(UserId, u32)>, LoadError> {
        registered(&self.handler, video).await
    }

    /// Removes the source (and callback) of a video that was not registered; a failure only leaves garbage.
    pub(crate) async fn remove_unregistered(&self, video: VideoId, key: &str) {
        if let Err(delete_error) = self.storage.delete(key).await {
            warn!(video.id = %video, s3.key = key, error = %delete_error, "removing an unregistered source failed");
        }
        if let Err(error) = self.callbacks.remove(*video.as_uuid()).await {
            warn!(video.id = %video, %error, "removing an unregistered video's callback failed");
        }
    }

    /// The callback URLs this intake records.
    pub const fn callbacks(&self) -> &VideoCallbacks {
        &self.callbacks
    }

    /// The object is stored but the `uploaded` append failed: remove the object unless the event may be stored.
    async fn after_failed_append(&self, video: VideoId, key: &str, error: RegisterError) -> Failure {
        let error = match error {
            RegisterError::Command(error) => error,
            RegisterError::Callback(error) => {
                self.remove_unregistered(video, key).await;
                return ApiError::unavailable(error).into();
            }
        };
        // Only an append that got no answer may have stored the event: a failed load, a refusal or contention
        // happen before any of our appends could have landed (the handler retries only after a definite conflict).
        let unknown_outcome = matches!(error, HandleError::Append(AppendError::Unavailable(_)));
        if unknown_outcome {
            // A lost acknowledgement: the event may be stored. Only remove the object when it surely is not.
            match self.handler.store().load(video).await {
                Ok(loaded) if !loaded.events.is_empty() => {
                    return Failure {
                        error: ApiError::unavailable(error),
                        maybe_registered: true,
                    };
                }
                Ok(_) => {}
                Err(load_error) => {
                    warn!(video.id = %video, s3.key = key, error = %load_error,
                        "append outcome unknown: the source is kept for a retry with the same Idempotency-Key");
                    return Failure {
                        error: ApiError::unavailable(error),
                        maybe_registered: true,
                    };
                }
            }
        }
        self.remove_unregistered(video, key).await;
        let error = match error {
            error @ (HandleError::Append(AppendError::Unavailable(_))
            | HandleError::Load(LoadError::Unavailable(_))
            | HandleError::TooMuchContention { .. }) => ApiError::unavailable(error),
            error => ApiError::internal(error),
        };
        error.into()
    }
}

/// The owner and current job of `video` from its events, `None` when it has none.
pub async fn registered(
    handler: &CommandHandler,
    video: VideoId,
) -> Result<Option<(UserId, u32)>, LoadError> {
    let loaded = handler.store().load(video).await?;
    let state = Video::from_events(loaded.events.iter().map(|stored| &stored.event));
    Ok(state.owner.map(|owner| (owner, state.job)))
}

/// The 415 for content whose leading bytes are no video container we know.
pub fn not_a_video() -> ApiError {
    ApiError::unsupported_media_type(
        "the content is not a recognised video container (MP4/MOV, Matroska/WebM, AVI, MPEG-TS/PS, FLV, Ogg, ASF)",
    )
}

fn read_error(error: io::Error, max: u64) -> ApiError {
    if is_over_limit(&error) {
        ApiError::too_large(max)
    } else if let Some(slow) = too_slow(&error, "nothing is kept: upload again, or resumably (tus)") {
        slow
    } else {
        ApiError::bad_request("the upload body could not be read").with_source(error)
    }
}

/// Reads up to `len` leading bytes (fewer only at the end of the body).
pub async fn read_head<R: AsyncRead + Unpin>(reader: &mut R, len: usize) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(len);
    reader.take(len as u64).read_to_end(&mut head).await?;
    Ok(head)
}

/// The file name from `X-Fiapx-Filename` (percent-encoded UTF-8) or a multipart part, cleaned by the domain's rules
/// ([`fiapx_domain::clean_file_name`]); `video` without one.
pub fn clean_file_name(raw: Option<&str>, percent_encoded: bool) -> Result<String, &'static str> {
    let Some(raw) = raw else {
        return Ok(FALLBACK_FILE_NAME.into());
    };
    if !percent_encoded {
        return Ok(fiapx_domain::clean_file_name(raw));
    }
    let decoded = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| "X-Fiapx-Filename must be percent-encoded UTF-8")?;
    Ok(fiapx_domain::clean_file_name(&decoded))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn head_reads_across_short_reads() {
        let data: Vec<u8> = (0..200).collect();
        let mut reader = tokio::io::BufReader::with_capacity(7, data.as_slice());
        assert_eq!(read_head(&mut reader, 64).await.unwrap(), data[..64]);
        let mut short = &data[..10];
        assert_eq!(read_head(&mut short, 64).await.unwrap(), data[..10]);
    }

    #[test]
    fn file_names() {
        assert_eq!(clean_file_name(None, true).unwrap(), "video");
        assert_eq!(
            clean_file_name(Some("f%C3%A9rias%20de%20ver%C3%A3o.mp4"), true).unwrap(),
            "férias de verão.mp4"
        );
        assert_eq!(
            clean_file_name(Some("..%2F..%2Fetc%2Fpasswd"), true).unwrap(),
            "passwd"
        );
        assert_eq!(
            clean_file_name(Some("C:\\videos\\a.mov"), false).unwrap(),
            "a.mov"
        );
        assert_eq!(clean_file_name(Some("a%0Ab.mp4"), true).unwrap(), "ab.mp4");
        assert_eq!(clean_file_name(Some("%2F"), true).unwrap(), "video");
        assert!(clean_file_name(Some("%FF%FE"), true).is_err());
        assert_eq!(clean_file_name(Some(&"é".repeat(200)), false).unwrap().len(), 254);
        assert_eq!(
            clean_file_name(Some("clip%E2%80%AE4pm.exe"), true).unwrap(),
            "clip4pm.exe",
            "a right-to-left override is not kept"
        );
    }
}
