//! Request bodies that poem-openapi has no streaming type for, described in the OpenAPI document by hand.
//!
//! poem-openapi's `Upload` (multipart files) spools each file into a temporary file before the handler runs,
//! which would write every upload to local disk first. [`UploadBody`] hands the handler the live body instead: the
//! raw stream, or poem's streaming multipart reader whose `file` part is read as it arrives.

use fiapx_http::ApiError;
use futures::StreamExt;
use poem::web::Multipart;
use poem::{Body, FromRequest, Request, RequestBody};
use poem_openapi::registry::{MetaMediaType, MetaRequest, MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::{ParseFromJSON, Type};
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};

use fiapx_http::SpecForm;

/// A request body read by hand; [`hand_read_bodies!`] makes it a poem-openapi request object extractor.
trait HandReadBody: Sized {
    /// Registers the schemas [`Self::meta`] refers to.
    fn register(_registry: &mut Registry) {}

    /// How the OpenAPI document describes the body.
    fn meta() -> MetaRequest;

    /// Takes the body from the request.
    async fn read(request: &Request, body: &mut RequestBody) -> poem::Result<Self>;
}

/// Implements [`ApiExtractor`] (a request object) for each listed [`HandReadBody`].
macro_rules! hand_read_bodies {
    ($($body:ty),+ $(,)?) => {$(
        impl<'a> ApiExtractor<'a> for $body {
            const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];

            type ParamType = ();
            type ParamRawType = ();

            fn register(registry: &mut Registry) {
                <$body as HandReadBody>::register(registry);
            }

            fn request_meta() -> Option<MetaRequest> {
                Some(<$body as HandReadBody>::meta())
            }

            async fn from_request(
                request: &'a Request,
                body: &mut RequestBody,
                _param_opts: ExtractParamOptions<Self::ParamType>,
            ) -> poem::Result<Self> {
                <$body as HandReadBody>::read(request, body).await
            }
        }
    )+};
}

hand_read_bodies!(UploadBody, OffsetOctetStream, OptionalSpec);

/// The largest JSON spec accepted (a spec is a handful of fields).
const MAX_SPEC_BYTES: usize = 16 * 1024;

/// `POST /api/v1/videos` body: raw bytes (`application/octet-stream` or `video/*`) or `multipart/form-data`.
pub enum UploadBody {
    /// The whole body is the video.
    Raw(Body),
    /// An optional `spec` JSON part, then a `file` part.
    Multipart(Multipart),
}

/// A binary string body's schema.
pub fn binary_schema() -> MetaSchemaRef {
    MetaSchemaRef::Inline(Box::new(MetaSchema {
        format: Some("binary"),
        ..MetaSchema::new("string")
    }))
}

/// A `Content-Type`'s media type without its parameters, lowercased (`Multipart/Form-Data; boundary=x` ->
/// `multipart/form-data`).
fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Content types taken as a raw video body (`None`: no header, taken as raw too).
fn is_raw(content_type: Option<&str>) -> bool {
    match content_type.map(essence) {
        None => true,
        Some(ct) => ct == "application/octet-stream" || ct.starts_with("video/"),
    }
}

impl HandReadBody for UploadBody {
    fn register(registry: &mut Registry) {
        SpecForm::register(registry);
    }

    fn meta() -> MetaRequest {
        let multipart = MetaSchema {
            required: vec!["file"],
            properties: vec![
                (
                    "spec",
                    MetaSchemaRef::Inline(Box::new(MetaSchema {
                        description: Some(
                            "Extraction spec as JSON (an ExtractionSpec object); must come before `file`.",
                        ),
                        ..MetaSchema::new("string")
                    })),
                ),
                ("file", binary_schema()),
            ],
            ..MetaSchema::new("object")
        };
        MetaRequest {
            description: Some(
                "The video. Either the raw bytes (`application/octet-stream` or `video/*`, file name in \
                 `X-Fiapx-Filename`, spec in query parameters) or `multipart/form-data` with an optional `spec` \
                 part (JSON ExtractionSpec) followed by the `file` part. The body is streamed to storage.",
            ),
            content: vec![
                MetaMediaType {
                    content_type: "application/octet-stream",
                    schema: binary_schema(),
                },
                MetaMediaType {
                    content_type: "video/*",
                    schema: binary_schema(),
                },
                MetaMediaType {
                    content_type: "multipart/form-data",
                    schema: MetaSchemaRef::Inline(Box::new(multipart)),
                },
            ],
            required: true,
        }
    }

    async fn read(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let content_type = request.content_type();
        if let Some(ct) = content_type.filter(|ct| essence(ct) == "multipart/form-data") {
            let boundary = multer::parse_boundary(ct)
                .map_err(|_| ApiError::bad_request("multipart/form-data needs a boundary parameter"))?;
            let mut guarded = RequestBody::new(boundary_within(body.take()?, &boundary, MAX_PREAMBLE_BYTES));
            return Ok(Self::Multipart(
                <Multipart as FromRequest<'_>>::from_request(request, &mut guarded).await?,
            ));
        }
        if is_raw(content_type) {
            return Ok(Self::Raw(body.take()?));
        }
        Err(ApiError::unsupported_media_type(
            "send the video as application/octet-stream, video/* or multipart/form-data",
        )
        .into())
    }
}

/// The media type of a resumable upload's PATCH body.
const OFFSET_OCTET_STREAM: &str = "application/offset+octet-stream";

/// A PATCH body: `application/offset+octet-stream`, streamed.
pub struct OffsetOctetStream(pub Body);

impl HandReadBody for OffsetOctetStream {
    fn meta() -> MetaRequest {
        MetaRequest {
            description: Some("The next bytes of the file, from `Upload-Offset` on."),
            content: vec![MetaMediaType {
                content_type: OFFSET_OCTET_STREAM,
                schema: binary_schema(),
            }],
            required: true,
        }
    }

    async fn read(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        if request.content_type().map(essence).as_deref() != Some(OFFSET_OCTET_STREAM) {
            return Err(ApiError::unsupported_media_type(format!(
                "a PATCH body must be sent as {OFFSET_OCTET_STREAM}"
            ))
            .into());
        }
        Ok(Self(body.take()?))
    }
}

/// How far into a multipart body its first boundary may be. The multipart parser keeps everything before the
/// first boundary while it looks for it: a body that never has one (a 1 GiB body declared multipart) would be
/// buffered and scanned whole.
const MAX_PREAMBLE_BYTES: usize = 8 * 1024;

/// The marker error of a multipart body whose first boundary did not come in time.
#[derive(Debug, thiserror::Error)]
#[error("no multipart boundary within the first {0} bytes")]
pub struct NoBoundary(usize);

/// The 400 for a multipart body the parser gave up on, saying why when the reason is ours ([`NoBoundary`]).
pub fn malformed_multipart(error: &(dyn std::error::Error + 'static)) -> ApiError {
    let mut next = Some(error);
    while let Some(cause) = next {
        if let Some(no_boundary) = cause
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<NoBoundary>())
        {
            return ApiError::bad_request(format!("malformed multipart body: {no_boundary}"));
        }
        next = cause.source();
    }
    ApiError::bad_request(format!("malformed multipart body: {error}"))
}

/// `body`, failing unless `--boundary` shows up within its first `max` bytes (plus the boundary's length).
fn boundary_within(body: Body, boundary: &str, max: usize) -> Body {
    let delimiter = format!("--{boundary}").into_bytes();
    let limit = max + delimiter.len();
    let mut seen: Option<Vec<u8>> = Some(Vec::new());
    let stream = body.into_bytes_stream().map(move |chunk| {
        let chunk = chunk?;
        if let Some(head) = seen.as_mut() {
            let room = (limit + 1).saturating_sub(head.len());
            head.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if head
                .windows(delimiter.len())
                .any(|window| window == delimiter.as_slice())
            {
                seen = None;
            } else if head.len() > limit {
                return Err(std::io::Error::other(NoBoundary(max)));
            }
        }
        Ok(chunk)
    });
    Body::from_bytes_stream(stream)
}

/// An optional JSON [`SpecForm`] body: no body (or `{}`) means "keep the current spec".
pub struct OptionalSpec(pub Option<SpecForm>);

impl HandReadBody for OptionalSpec {
    fn register(registry: &mut Registry) {
        SpecForm::register(registry);
    }

    fn meta() -> MetaRequest {
        MetaRequest {
            description: Some("A new extraction spec; without a body the current spec is kept."),
            content: vec![MetaMediaType {
                content_type: "application/json; charset=utf-8",
                schema: SpecForm::schema_ref(),
            }],
            required: false,
        }
    }

    async fn read(_request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let bytes = body.take()?.into_bytes_limit(MAX_SPEC_BYTES).await.map_err(|_| {
            ApiError::bad_request(format!(
                "the spec body must be JSON of at most {MAX_SPEC_BYTES} bytes"
            ))
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(None));
        }
        let spec = parse_spec_json(&bytes)?;
        Ok(Self((!spec.is_empty()).then_some(spec)))
    }
}

/// A JSON ExtractionSpec object; malformed JSON or fields are a 400 `invalid_spec`.
pub fn parse_spec_json(bytes: &[u8]) -> Result<SpecForm, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::invalid_spec(format!("spec is not valid JSON: {e}")))?;
    SpecForm::parse_from_json(Some(value)).map_err(|e| {
        ApiError::invalid_spec(format!(
            "spec does not match ExtractionSpec: {}",
            e.into_message()
        ))
    })
}
