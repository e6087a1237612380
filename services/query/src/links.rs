//! Short-lived download links for archives.
//!
//! The API only needs "a URL that downloads this key for a few minutes"; [`ArchiveLinks`] says just that, so the
//! handlers do not depend on how objects are stored. The shared S3 adapter (`fiapx_storage::Storage`) is the
//! implementation the binary passes.

use std::time::Duration;

use futures::future::BoxFuture;

/// Why a link could not be made.
#[derive(Debug, thiserror::Error)]
#[error("cannot sign a download link: {0}")]
pub struct LinkError(pub String);

/// Signs GET links to stored objects.
pub trait ArchiveLinks: Send + Sync + 'static {
    /// A URL that downloads `key` until `ttl` has passed, saved by browsers as `file_name`.
    fn presign_get<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
        file_name: &'a str,
    ) -> BoxFuture<'a, Result<String, LinkError>>;
}

impl ArchiveLinks for fiapx_storage::Storage {
    fn presign_get<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
        file_name: &'a str,
    ) -> BoxFuture<'a, Result<String, LinkError>> {
        Box::pin(async move {
            let disposition = fiapx_http::disposition::attachment(file_name);
            fiapx_storage::Storage::presign_get(self, key, ttl, Some(&disposition))
                .await
                .map_err(|e| LinkError(e.to_string()))
        })
    }
}
