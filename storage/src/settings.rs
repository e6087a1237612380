//! S3 connection settings.

use secrecy::SecretString;
use serde::Deserialize;

/// Where the bucket is and how to reach it. The secret key is never logged (`SecretString`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct S3Settings {
    /// Endpoint URL, e.g. `http://127.0.0.1:18333` (SeaweedFS locally, MinIO in compose). Path-style addressing.
    pub endpoint: String,
    /// Region name sent in signatures.
    pub region: String,
    /// The bucket holding sources and archives.
    pub bucket: String,
    /// Access key id.
    pub access_key: String,
    /// Secret access key.
    pub secret_key: SecretString,
    /// Lifetime of presigned download URLs, in seconds.
    pub presign_ttl_secs: u64,
    /// The most one S3 request may take, body included (seconds). Not applied to reading an object as a stream
    /// (a processor reads a long source as fast as it decodes, which may take far longer).
    pub request_timeout_secs: u64,
}

impl Default for S3Settings {
    fn default() -> Self {
        Self {
            endpoint: "http://127.0.0.1:18333".into(),
            region: "us-east-1".into(),
            bucket: "fiapx".into(),
            access_key: String::new(),
            secret_key: SecretString::from(String::new()),
            presign_ttl_secs: 300,
            request_timeout_secs: 60,
        }
    }
}
