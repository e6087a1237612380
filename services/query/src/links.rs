//! Short-lived download links for archives.
//!
//! The API only needs "a URL that downloads this key for a few minutes", behind [`ArchiveLinks`] so that the
//! binary can hand in the shared storage adapter. [`S3Links`] signs with rust-s3 directly (the storage crate was
//! not available when this was written; switch the binary to it when it has `presign_get`).

use std::time::Duration;

use futures::future::BoxFuture;

/// Why a link could not be made.
#[derive(Debug, thiserror::Error)]
#[error("cannot sign a download link: {0}")]
pub struct LinkError(pub String);

/// Signs GET links to stored objects.
pub trait ArchiveLinks: Send + Sync + 'static {
    /// A URL that downloads `key` until `ttl` has passed.
    fn presign_get<'a>(&'a self, key: &'a str, ttl: Duration) -> BoxFuture<'a, Result<String, LinkError>>;
}

/// Where the archives are, for [`S3Links`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3LinksSettings {
    /// S3 endpoint, e.g. `http://127.0.0.1:18333`.
    pub endpoint: String,
    /// Region name.
    pub region: String,
    /// Bucket holding the archives.
    pub bucket: String,
    /// Access key id.
    pub access_key: String,
    /// Secret key (never logged: no `Debug` of the bucket is printed).
    pub secret_key: String,
}

/// Presigns with rust-s3 (path-style, for SeaweedFS and MinIO).
#[derive(Clone)]
pub struct S3Links {
    bucket: Box<s3::Bucket>,
}

impl std::fmt::Debug for S3Links {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Links")
            .field("bucket", &self.bucket.name)
            .finish_non_exhaustive()
    }
}

impl S3Links {
    /// Links into `settings.bucket`.
    pub fn new(settings: &S3LinksSettings) -> Result<Self, LinkError> {
        let region = s3::Region::Custom {
            region: settings.region.clone(),
            endpoint: settings.endpoint.clone(),
        };
        let credentials = s3::creds::Credentials::new(
            Some(&settings.access_key),
            Some(&settings.secret_key),
            None,
            None,
            None,
        )
        .map_err(|e| LinkError(e.to_string()))?;
        let bucket = s3::Bucket::new(&settings.bucket, region, credentials)
            .map_err(|e| LinkError(e.to_string()))?
            .with_path_style();
        Ok(Self { bucket })
    }
}

impl ArchiveLinks for S3Links {
    fn presign_get<'a>(&'a self, key: &'a str, ttl: Duration) -> BoxFuture<'a, Result<String, LinkError>> {
        Box::pin(async move {
            let secs = u32::try_from(ttl.as_secs()).unwrap_or(u32::MAX).max(1);
            self.bucket
                .presign_get(key, secs, None)
                .await
                .map_err(|e| LinkError(e.to_string()))
        })
    }
}
