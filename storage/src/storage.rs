//! The S3 client: buckets, streamed puts (multipart, bounded memory), streamed gets, deletes, presigned URLs.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use s3::creds::Credentials;
use s3::error::S3Error;
use s3::serde_types::Part;
use s3::{Bucket, BucketConfiguration, Region};
use secrecy::ExposeSecret;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::task::JoinHandle;
use tokio_util::io::StreamReader;

use crate::S3Settings;

/// S3 refuses multipart parts smaller than this (except the last).
const MIN_PART_SIZE: usize = 5 * 1024 * 1024;

/// A streamed object body.
pub type ObjectReader = StreamReader<BoxStream<'static, io::Result<Bytes>>, Bytes>;

/// A storage operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The object does not exist.
    #[error("object {0} not found")]
    NotFound(String),
    /// The settings cannot make a client (bad endpoint, credentials).
    #[error("invalid storage settings: {0}")]
    Config(String),
    /// S3 answered with an error or could not be reached.
    #[error("storage request failed: {0}")]
    S3(#[from] S3Error),
    /// A listing request that rust-s3 does not make for us failed or answered something unreadable.
    #[error("storage listing failed: {0}")]
    Listing(String),
}

impl StorageError {
    fn listing(error: impl std::fmt::Display) -> Self {
        Self::Listing(error.to_string())
    }
}

/// Why a streamed put did not store the object. In every case nothing is left behind: a started multipart
/// upload is aborted.
#[derive(Debug, thiserror::Error)]
pub enum PutError {
    /// The source reader failed (for an HTTP upload: the client's body, or a limit the caller enforces by
    /// failing the reader with its own error, which can be recovered from the `io::Error`).
    #[error("reading the source failed: {0}")]
    Read(#[source] io::Error),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// How a streamed put splits its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PutOptions {
    /// Bytes per multipart part (at least 5 MiB). Memory held by a put is about
    /// `part_size * (1 + 2 * parts_in_flight)`: one part being read, each part in flight with its request copy.
    pub part_size: usize,
    /// Parts uploaded concurrently while the next one is read.
    pub parts_in_flight: usize,
}

impl Default for PutOptions {
    fn default() -> Self {
        Self {
            part_size: 8 * 1024 * 1024,
            parts_in_flight: 1,
        }
    }
}

/// A handle on one bucket. Cheap to clone.
#[derive(Clone)]
pub struct Storage {
    bucket: Box<Bucket>,
    /// The same bucket without a total request deadline, for streamed reads.
    streaming: Box<Bucket>,
    region: Region,
    credentials: Credentials,
    request_timeout: Duration,
    /// For the requests made from presigned URLs.
    http: reqwest::Client,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("bucket", &self.bucket.name())
            .field("endpoint", &self.bucket.host())
            .finish_non_exhaustive()
    }
}

fn map_err(key: &str, error: S3Error) -> StorageError {
    match error {
        S3Error::HttpFailWithBody(404, _) => StorageError::NotFound(key.to_owned()),
        other => StorageError::S3(other),
    }
}

impl Storage {
    /// A client for `settings.bucket` (path-style addressing, which SeaweedFS and MinIO need).
    pub fn new(settings: &S3Settings) -> Result<Self, StorageError> {
        let region = Region::Custom {
            region: settings.region.clone(),
            endpoint: settings.endpoint.trim_end_matches('/').to_owned(),
        };
        let credentials = Credentials::new(
            Some(&settings.access_key),
            Some(settings.secret_key.expose_secret()),
            None,
            None,
            None,
        )
        .map_err(|e| StorageError::Config(e.to_string()))?;
        Self::on(
            &settings.bucket,
            region,
            credentials,
            Duration::from_secs(settings.request_timeout_secs.max(1)),
        )
    }

    fn on(
        name: &str,
        region: Region,
        credentials: Credentials,
        request_timeout: Duration,
    ) -> Result<Self, StorageError> {
        let mut bucket = Bucket::new(name, region.clone(), credentials.clone())?.with_path_style();
        bucket.set_request_timeout(Some(request_timeout));
        // rust-s3's deadline covers the whole body: a source read as fast as a decoder consumes it would be cut
        // after it. Streamed reads go without one (a stalled S3 then stalls the reader, which the processor's
        // own decode limits bound).
        let mut streaming = bucket.clone();
        streaming.set_request_timeout(None);
        Ok(Self {
            bucket,
            streaming,
            region,
            credentials,
            request_timeout,
            http: reqwest::Client::builder()
                .timeout(request_timeout)
                .build()
                .map_err(|e| StorageError::Config(e.to_string()))?,
        })
    }

    /// The same client on another bucket.
    pub fn for_bucket(&self, name: &str) -> Result<Self, StorageError> {
        Self::on(
            name,
            self.region.clone(),
            self.credentials.clone(),
            self.request_timeout,
        )
    }

    /// The bucket's name.
    pub fn bucket_name(&self) -> String {
        self.bucket.name()
    }

    /// Creates the bucket unless it exists (idempotent; run at start-up).
    pub async fn ensure_bucket(&self) -> Result<(), StorageError> {
        if self.bucket.exists().await? {
            return Ok(());
        }
        match Bucket::create_with_path_style(
            &self.bucket.name(),
            self.region.clone(),
            self.credentials.clone(),
            BucketConfiguration::default(),
        )
        .await
        {
            Ok(_) => {}
            // Created by someone else in between.
            Err(S3Error::HttpFailWithBody(409, _)) => {}
            Err(error) => return Err(error.into()),
        }
        tracing::info!(s3.bucket = %self.bucket.name(), "bucket created");
        Ok(())
    }

    /// Removes the (empty) bucket.
    pub async fn delete_bucket(&self) -> Result<(), StorageError> {
        self.bucket.delete().await?;
        Ok(())
    }

    /// Streams `reader` into `key`: one plain put when it fits in one part, otherwise a multipart upload with
    /// at most `options.parts_in_flight` parts uploading while the next is read. Memory does not grow with the
    /// size of the body. On any failure (including the reader's, and this future being dropped) the multipart
    /// upload is aborted, so nothing is left behind. Returns the number of bytes stored.
    pub async fn put_stream<R>(
        &self,
        key: &str,
        content_type: &str,
        reader: &mut R,
        options: PutOptions,
    ) -> Result<u64, PutError>
    where
        R: AsyncRead + Unpin + Send + ?Sized,
    {
        let started = Instant::now();
        let part_size = options.part_size.max(MIN_PART_SIZE);
        let first = read_part(reader, part_size).await.map_err(PutError::Read)?;
        if first.len() < part_size {
            let size = first.len() as u64;
            self.bucket
                .put_object_with_content_type(key, &first, content_type)
                .await
                .map_err(|e| PutError::Storage(map_err(key, e)))?;
            record_put(size, started);
            return Ok(size);
        }

        let initiated = self
            .bucket
            .initiate_multipart_upload(key, content_type)
            .await
            .map_err(|e| PutError::Storage(map_err(key, e)))?;
        let mut guard = AbortOnDrop {
            bucket: Some(self.bucket.clone()),
            key: key.to_owned(),
            upload_id: initiated.upload_id.clone(),
        };
        let parts = self
            .upload_parts(
                key,
                content_type,
                &initiated.upload_id,
                first,
                reader,
                part_size,
                options,
            )
            .await;
        let outcome = match parts {
            Ok((parts, size)) => self
                .bucket
                .complete_multipart_upload(key, &initiated.upload_id, parts)
                .await
                .map(|_| size)
                .map_err(|e| PutError::Storage(map_err(key, e))),
            Err(error) => Err(error),
        };
        match outcome {
            Ok(size) => {
                guard.disarm();
                record_put(size, started);
                Ok(size)
            }
            Err(error) => {
                // Abort inline (not from the guard's detached task) so that when the caller sees the error,
                // S3 holds nothing of this upload. When S3 cannot take the abort now (down or hung, the likely
                // reason the upload failed), the guard retries it in the background until it can, so that a
                // fault that passes leaves no incomplete upload (and its parts' space) behind.
                // Either way the guard stays armed: S3 may still be writing a part whose request was cut when its
                // task was dropped, and such a late part brings the upload back (S3's documented advice is to abort
                // again once in-flight parts settle), so the guard aborts once more after they have.
                if let Err(abort) = abort_upload(&self.bucket, key, &initiated.upload_id).await {
                    tracing::warn!(s3.key = key, error = %abort, "aborting a failed multipart upload failed; retrying in the background");
                }
                Err(error)
            }
        }
    }

    #[expect(clippy::too_many_arguments, reason = "one private step of put_stream")]
    async fn upload_parts<R>(
        &self,
        key: &str,
        content_type: &str,
        upload_id: &str,
        first: Vec<u8>,
        reader: &mut R,
        part_size: usize,
        options: PutOptions,
    ) -> Result<(Vec<Part>, u64), PutError>
    where
        R: AsyncRead + Unpin + Send + ?Sized,
    {
        let mut in_flight = Tasks(VecDeque::new());
        let mut parts = Vec::new();
        let mut size = 0_u64;
        let mut part_number = 0_u32;
        let mut chunk = first;
        loop {
            let len = chunk.len();
            if len == 0 {
                break;
            }
            part_number += 1;
            size += len as u64;
            let bucket = self.bucket.clone();
            let (part_key, part_upload, part_type) =
                (key.to_owned(), upload_id.to_owned(), content_type.to_owned());
            in_flight.0.push_back(tokio::spawn(async move {
                bucket
                    .put_multipart_chunk(chunk, &part_key, part_number, &part_upload, &part_type)
                    .await
            }));
            if len < part_size {
                break;
            }
            while in_flight.0.len() >= options.parts_in_flight.max(1) {
                parts.push(in_flight.next(key).await?);
            }
            chunk = read_part(reader, part_size).await.map_err(PutError::Read)?;
        }
        while !in_flight.0.is_empty() {
            parts.push(in_flight.next(key).await?);
        }
        Ok((parts, size))
    }

    /// Starts a multipart upload of `key` whose parts are sent one request at a time, possibly by several
    /// requests over hours (a resumable upload); returns its upload id. Finish it with
    /// [`Storage::complete_multipart`] or [`Storage::abort_multipart`].
    pub async fn start_multipart(&self, key: &str, content_type: &str) -> Result<String, StorageError> {
        let initiated = self
            .bucket
            .initiate_multipart_upload(key, content_type)
            .await
            .map_err(|e| map_err(key, e))?;
        Ok(initiated.upload_id)
    }

    /// Uploads part `number` (1-based; at least 5 MiB unless it is the last) of a multipart upload; returns its
    /// ETag.
    pub async fn put_part(
        &self,
        key: &str,
        upload_id: &str,
        number: u32,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<String, StorageError> {
        let started = Instant::now();
        let size = body.len() as u64;
        let part = self
            .bucket
            .put_multipart_chunk(body, key, number, upload_id, content_type)
            .await
            .map_err(|e| map_err(key, e))?;
        record_put(size, started);
        Ok(part.etag)
    }

    /// Completes a multipart upload from its parts' `(number, etag)` in order: the object appears at `key`.
    pub async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(u32, String)],
    ) -> Result<(), StorageError> {
        let parts = parts
            .iter()
            .map(|(part_number, etag)| Part {
                part_number: *part_number,
                etag: etag.clone(),
            })
            .collect();
        self.bucket
            .complete_multipart_upload(key, upload_id, parts)
            .await
            .map_err(|e| map_err(key, e))?;
        Ok(())
    }

    /// Aborts a multipart upload and drops its parts; aborting one that is gone succeeds.
    pub async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<(), StorageError> {
        Ok(abort_upload(&self.bucket, key, upload_id).await?)
    }

    /// Streams an object's body.
    pub async fn get_stream(&self, key: &str) -> Result<ObjectReader, StorageError> {
        let response = self
            .streaming
            .get_object_stream(key)
            .await
            .map_err(|e| map_err(key, e))?;
        let stream = response.bytes.map_err(io::Error::other).boxed();
        Ok(StreamReader::new(stream))
    }

    /// The object's whole body (small objects and tests only).
    pub async fn get_bytes(&self, key: &str) -> Result<Vec<u8>, StorageError> {
        let response = self.bucket.get_object(key).await.map_err(|e| map_err(key, e))?;
        Ok(response.to_vec())
    }

    /// Bytes `offset..offset + len` of an object (`len` > 0); fewer when the object ends first.
    pub async fn get_range(&self, key: &str, offset: u64, len: u64) -> Result<Vec<u8>, StorageError> {
        let end = offset + len.max(1) - 1;
        let response = self
            .bucket
            .get_object_range(key, offset, Some(end))
            .await
            .map_err(|e| map_err(key, e))?;
        Ok(response.to_vec())
    }

    /// Stores a small object in one request (for large or streamed bodies: [`Storage::put_stream`]).
    pub async fn put_bytes(&self, key: &str, content_type: &str, body: &[u8]) -> Result<(), StorageError> {
        let started = Instant::now();
        self.bucket
            .put_object_with_content_type(key, body, content_type)
            .await
            .map_err(|e| map_err(key, e))?;
        record_put(body.len() as u64, started);
        Ok(())
    }

    /// The object's size, or `None` when it does not exist.
    pub async fn size(&self, key: &str) -> Result<Option<u64>, StorageError> {
        match self.bucket.head_object(key).await {
            Ok((head, _)) => Ok(Some(head.content_length.unwrap_or(0).max(0) as u64)),
            Err(S3Error::HttpFailWithBody(404, _)) => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    /// Removes an object; removing a missing object succeeds.
    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        match self.bucket.delete_object(key).await {
            Ok(_) | Err(S3Error::HttpFailWithBody(404, _)) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    /// Every key under `prefix` (all pages).
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let pages = self.bucket.list(prefix.to_owned(), None).await?;
        Ok(pages
            .into_iter()
            .flat_map(|page| page.contents.into_iter().map(|object| object.key))
            .collect())
    }

    /// Removes every object under `prefix`; returns how many there were.
    pub async fn delete_prefix(&self, prefix: &str) -> Result<usize, StorageError> {
        let keys = self.list(prefix).await?;
        for key in &keys {
            self.delete(key).await?;
        }
        Ok(keys.len())
    }

    /// Multipart uploads started and neither completed nor aborted under `prefix` (the first 1000: one page).
    ///
    /// The listing is fetched with a presigned `GET ?uploads` and parsed here: rust-s3's own parser requires
    /// `StorageClass`, which SeaweedFS leaves out of a non-empty listing.
    pub async fn pending_multipart_uploads(&self, prefix: &str) -> Result<Vec<PendingUpload>, StorageError> {
        let queries = HashMap::from([
            ("uploads".to_owned(), String::new()),
            ("prefix".to_owned(), prefix.to_owned()),
        ]);
        let url = self.bucket.presign_get("/", 300, Some(queries)).await?;
        let response = self.http.get(&url).send().await.map_err(StorageError::listing)?;
        let status = response.status();
        let body = response.text().await.map_err(StorageError::listing)?;
        if !status.is_success() {
            return Err(StorageError::listing(format!(
                "ListMultipartUploads answered {status}"
            )));
        }
        let listing: UploadListing = quick_xml::de::from_str(&body).map_err(StorageError::listing)?;
        Ok(listing
            .uploads
            .into_iter()
            .map(|upload| PendingUpload {
                key: upload.key,
                upload_id: upload.upload_id,
            })
            .collect())
    }

    /// Aborts every multipart upload pending under `prefix` (what a crashed or cut writer left); returns how many.
    pub async fn abort_pending_multipart_uploads(&self, prefix: &str) -> Result<usize, StorageError> {
        let pending = self.pending_multipart_uploads(prefix).await?;
        for upload in &pending {
            self.abort_multipart(&upload.key, &upload.upload_id).await?;
        }
        Ok(pending.len())
    }

    /// A URL that downloads `key` without credentials until `ttl` passes (at most 7 days). With
    /// `content_disposition`, the response carries that `Content-Disposition` (the signed
    /// `response-content-disposition` parameter), so that a browser saves the object under a chosen name.
    pub async fn presign_get(
        &self,
        key: &str,
        ttl: Duration,
        content_disposition: Option<&str>,
    ) -> Result<String, StorageError> {
        let secs = u32::try_from(ttl.as_secs()).unwrap_or(u32::MAX).max(1);
        let queries = content_disposition
            .map(|value| HashMap::from([("response-content-disposition".to_owned(), value.to_owned())]));
        Ok(self.bucket.presign_get(key, secs, queries).await?)
    }
}

fn record_put(size: u64, started: Instant) {
    metrics::counter!("fiapx_storage_put_bytes_total").increment(size);
    metrics::histogram!("fiapx_storage_put_seconds").record(started.elapsed().as_secs_f64());
}

/// Reads until `size` bytes or the end of the reader.
async fn read_part<R: AsyncRead + Unpin + ?Sized>(reader: &mut R, size: usize) -> io::Result<Vec<u8>> {
    let mut buffer = vec![0_u8; size];
    let mut filled = 0;
    while filled < size {
        let n = reader.read(&mut buffer[filled..]).await?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    buffer.truncate(filled);
    Ok(buffer)
}

/// Part uploads in flight, oldest first; dropped ones are cancelled.
struct Tasks(VecDeque<JoinHandle<Result<Part, S3Error>>>);

impl Tasks {
    async fn next(&mut self, key: &str) -> Result<Part, PutError> {
        let Some(task) = self.0.pop_front() else {
            return Err(PutError::Storage(StorageError::Config(
                "no part in flight".into(),
            )));
        };
        match task.await {
            Ok(Ok(part)) => Ok(part),
            Ok(Err(error)) => Err(PutError::Storage(map_err(key, error))),
            Err(join) => Err(PutError::Storage(StorageError::S3(S3Error::Io(
                io::Error::other(join),
            )))),
        }
    }
}

impl Drop for Tasks {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// A multipart upload neither completed nor aborted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingUpload {
    /// The object key it writes.
    pub key: String,
    /// Its upload id.
    pub upload_id: String,
}

/// `ListMultipartUploadsResult`, the fields used.
#[derive(serde::Deserialize)]
struct UploadListing {
    #[serde(rename = "Upload", default)]
    uploads: Vec<ListedUpload>,
}

#[derive(serde::Deserialize)]
struct ListedUpload {
    #[serde(rename = "Key")]
    key: String,
    #[serde(rename = "UploadId")]
    upload_id: String,
}

/// Aborts the multipart upload in the background ([`abort_until_done`]) unless the put completed: when it is
/// dropped half-way (e.g. the HTTP client went away) or failed.
struct AbortOnDrop {
    bucket: Option<Box<Bucket>>,
    key: String,
    upload_id: String,
}

impl AbortOnDrop {
    fn disarm(&mut self) {
        self.bucket = None;
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(bucket) = self.bucket.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let (key, upload_id) = (std::mem::take(&mut self.key), std::mem::take(&mut self.upload_id));
            runtime.spawn(abort_until_done(bucket, key, upload_id));
        }
    }
}

/// Aborts a multipart upload and drops its parts; an upload that is gone (404) counts as aborted.
async fn abort_upload(bucket: &Bucket, key: &str, upload_id: &str) -> Result<(), S3Error> {
    match bucket.abort_upload(key, upload_id).await {
        Ok(()) | Err(S3Error::HttpFailWithBody(404, _)) => Ok(()),
        Err(error) => Err(error),
    }
}

/// How long a multipart upload's abort is retried in the background (a process that stops before gives up
/// with it; an S3 lifecycle rule on incomplete uploads covers that case).
const ABORT_RETRY_FOR: Duration = Duration::from_secs(15 * 60);

/// How long part requests cut half-way are given to land before the upload is aborted once more: S3 (and
/// SeaweedFS, which recreates the upload's directory for a late part) may finish writing such a part after the
/// abort, which brings the upload back.
const PARTS_SETTLE: Duration = Duration::from_secs(1);

/// Aborts a multipart upload, retrying (250 ms doubling to 30 s) for [`ABORT_RETRY_FOR`] while S3 cannot take it,
/// then once more after [`PARTS_SETTLE`] for parts that were still being written.
async fn abort_until_done(bucket: Box<Bucket>, key: String, upload_id: String) {
    abort_retrying(&bucket, &key, &upload_id).await;
    tokio::time::sleep(PARTS_SETTLE).await;
    abort_retrying(&bucket, &key, &upload_id).await;
}

/// Aborts a multipart upload, retrying while S3 cannot take it (see [`abort_until_done`]).
async fn abort_retrying(bucket: &Bucket, key: &str, upload_id: &str) {
    let started = Instant::now();
    let mut pause = Duration::from_millis(250);
    loop {
        match abort_upload(bucket, key, upload_id).await {
            Ok(()) => return,
            Err(error) if started.elapsed() >= ABORT_RETRY_FOR => {
                tracing::warn!(s3.key = key, error = %error, "giving up aborting a multipart upload");
                return;
            }
            Err(error) => {
                tracing::debug!(s3.key = key, error = %error, "aborting a multipart upload failed; retrying");
            }
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(30));
    }
}
