//! Against the stack's S3 (SeaweedFS), one bucket per test.

use std::time::Duration;

use fiapx_storage::test_support::TestBucket;
use fiapx_storage::{PendingUpload, PutError, PutOptions};
use tokio::io::AsyncReadExt;

const MIB: usize = 1024 * 1024;

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

fn small_parts() -> PutOptions {
    PutOptions {
        part_size: 5 * MIB,
        parts_in_flight: 2,
    }
}

#[tokio::test]
async fn small_and_multipart_puts_read_back_exactly() {
    let bucket = TestBucket::create().await;
    let storage = bucket.storage();
    for (key, len) in [("small", 1000), ("exact", 5 * MIB), ("multi", 12 * MIB + 7)] {
        let data = pattern(len);
        let stored = storage
            .put_stream(key, "video/mp4", &mut data.as_slice(), small_parts())
            .await
            .unwrap();
        assert_eq!(stored, len as u64);
        assert_eq!(storage.size(key).await.unwrap(), Some(len as u64));
        let mut back = Vec::new();
        storage
            .get_stream(key)
            .await
            .unwrap()
            .read_to_end(&mut back)
            .await
            .unwrap();
        assert!(back == data, "{key}: content differs");
    }
    assert_eq!(storage.size("missing").await.unwrap(), None);
    assert!(matches!(
        storage.get_stream("missing").await,
        Err(fiapx_storage::StorageError::NotFound(_))
    ));
}

#[tokio::test]
async fn small_puts_keep_their_type_and_ranges_read_exactly_those_bytes() {
    let bucket = TestBucket::create().await;
    let storage = bucket.storage();
    let data = pattern(10_000);
    storage
        .put_bytes("archives/v/0/frame_0001.png", "image/png", &data)
        .await
        .unwrap();
    assert_eq!(
        storage.get_bytes("archives/v/0/frame_0001.png").await.unwrap(),
        data
    );
    let url = storage
        .presign_get("archives/v/0/frame_0001.png", Duration::from_secs(60), None)
        .await
        .unwrap();
    let response = reqwest::get(&url).await.unwrap();
    assert_eq!(response.headers()["content-type"], "image/png");
    for (offset, len) in [(0, 1), (1234, 4000), (9_990, 10)] {
        let range = storage
            .get_range("archives/v/0/frame_0001.png", offset, len)
            .await
            .unwrap();
        assert_eq!(
            range,
            data[offset as usize..(offset + len) as usize],
            "{offset}+{len}"
        );
    }
    // Past the end: what there is.
    let tail = storage
        .get_range("archives/v/0/frame_0001.png", 9_995, 100)
        .await
        .unwrap();
    assert_eq!(tail, data[9_995..]);
    assert!(matches!(
        storage.get_range("missing", 0, 10).await,
        Err(fiapx_storage::StorageError::NotFound(_))
    ));
}

/// A reader that fails after `ok` bytes, like a body over the size limit.
struct FailingReader {
    left: usize,
}

impl tokio::io::AsyncRead for FailingReader {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if self.left == 0 {
            return std::task::Poll::Ready(Err(std::io::Error::other("limit")));
        }
        let n = self.left.min(buf.remaining()).min(64 * 1024);
        buf.put_slice(&vec![7_u8; n]);
        self.left -= n;
        std::task::Poll::Ready(Ok(()))
    }
}

#[tokio::test]
async fn a_failing_reader_leaves_nothing_behind() {
    let bucket = TestBucket::create().await;
    let storage = bucket.storage();
    let mut reader = FailingReader { left: 11 * MIB };
    let error = storage
        .put_stream("sources/x", "video/mp4", &mut reader, small_parts())
        .await
        .unwrap_err();
    assert!(
        matches!(error, PutError::Read(ref e) if e.to_string() == "limit"),
        "{error:?}"
    );
    assert_eq!(bucket.keys().await, Vec::<String>::new());
    assert_eq!(
        storage.pending_multipart_uploads("").await.unwrap(),
        Vec::<fiapx_storage::PendingUpload>::new()
    );
}

#[tokio::test]
async fn delete_list_and_presign() {
    let bucket = TestBucket::create().await;
    let storage = bucket.storage();
    for key in [
        "archives/v/0.zip",
        "archives/v/1.zip",
        "archives/w/0.zip",
        "sources/v",
    ] {
        storage
            .put_stream(key, "application/zip", &mut &b"zip"[..], PutOptions::default())
            .await
            .unwrap();
    }
    assert_eq!(storage.delete_prefix("archives/v/").await.unwrap(), 2);
    storage.delete("sources/v").await.unwrap();
    storage.delete("sources/v").await.unwrap();
    assert_eq!(bucket.keys().await, vec!["archives/w/0.zip".to_owned()]);
    let url = storage
        .presign_get("archives/w/0.zip", Duration::from_secs(60), None)
        .await
        .unwrap();
    assert!(url.contains("X-Amz-Signature"), "{url}");
    storage.ensure_bucket().await.unwrap();
}

/// Never ends: a client that stopped sending.
struct Stalled {
    sent: usize,
}

impl tokio::io::AsyncRead for Stalled {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if self.sent >= 6 * MIB {
            return std::task::Poll::Pending;
        }
        let n = buf.remaining().min(64 * 1024);
        buf.put_slice(&vec![1_u8; n]);
        self.sent += n;
        std::task::Poll::Ready(Ok(()))
    }
}

/// Whether multipart uploads are pending.
async fn uploads_pending(bucket: &TestBucket) -> bool {
    !bucket
        .storage()
        .pending_multipart_uploads("")
        .await
        .expect("list multipart uploads")
        .is_empty()
}

#[tokio::test]
async fn a_put_dropped_half_way_aborts_its_multipart_upload() {
    let bucket = TestBucket::create().await;
    let storage = bucket.storage().clone();
    let put = tokio::spawn(async move {
        let mut reader = Stalled { sent: 0 };
        storage
            .put_stream("sources/dropped", "video/mp4", &mut reader, small_parts())
            .await
    });
    // Wait until the multipart upload exists, then drop the put (as when the HTTP client goes away).
    let mut started = false;
    for _ in 0..200 {
        if uploads_pending(&bucket).await {
            started = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(started, "the multipart upload never started");
    put.abort();
    // The abort is retried while S3 refuses it (SeaweedFS can while a part is still being written), and sent once
    // more after in-flight parts settle, since a part that lands late brings the upload back: it must be gone
    // and stay gone.
    assert!(
        gone_within(&bucket, Duration::from_secs(15)).await,
        "the dropped multipart upload was not aborted"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !uploads_pending(&bucket).await,
        "the dropped multipart upload came back"
    );
    assert_eq!(bucket.keys().await, Vec::<String>::new());
}

/// Whether no multipart upload is pending within `limit`.
async fn gone_within(bucket: &TestBucket, limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if !uploads_pending(bucket).await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    false
}

#[tokio::test]
async fn a_stream_read_slower_than_the_request_timeout_still_reads_to_the_end() {
    let bucket = TestBucket::create().await;
    let data = pattern(6 * MIB);
    bucket
        .storage()
        .put_stream("slow", "video/mp4", &mut data.as_slice(), small_parts())
        .await
        .unwrap();
    // A one-second deadline per request, and a reader (a decoder) taking about three seconds over the body.
    let storage = fiapx_storage::Storage::new(&fiapx_storage::S3Settings {
        request_timeout_secs: 1,
        ..bucket.settings()
    })
    .unwrap();
    let mut reader = storage.get_stream("slow").await.unwrap();
    let mut read = Vec::with_capacity(data.len());
    let mut chunk = vec![0_u8; 256 * 1024];
    loop {
        let n = reader.read(&mut chunk).await.unwrap();
        if n == 0 {
            break;
        }
        read.extend_from_slice(&chunk[..n]);
        tokio::time::sleep(Duration::from_millis(120)).await;
    }
    assert_eq!(read.len(), data.len());
    assert!(read == data, "the same bytes");
    // Other requests keep their deadline (a small one succeeds well within it).
    assert_eq!(storage.get_bytes("slow").await.unwrap().len(), data.len());
}

#[tokio::test]
async fn pending_multipart_uploads_are_listed_with_their_ids_and_aborted_by_prefix() {
    let bucket = TestBucket::create().await;
    let storage = bucket.storage();
    let kept = storage
        .start_multipart("sources/kept", "video/mp4")
        .await
        .unwrap();
    let a = storage
        .start_multipart("archives/v1/0.zip", "application/zip")
        .await
        .unwrap();
    let b = storage
        .start_multipart("archives/v1/0.zip", "application/zip")
        .await
        .unwrap();
    let mut listed = storage.pending_multipart_uploads("archives/v1/").await.unwrap();
    listed.sort_by(|x, y| x.upload_id.cmp(&y.upload_id));
    let mut expected = vec![
        PendingUpload {
            key: "archives/v1/0.zip".into(),
            upload_id: a,
        },
        PendingUpload {
            key: "archives/v1/0.zip".into(),
            upload_id: b,
        },
    ];
    expected.sort_by(|x, y| x.upload_id.cmp(&y.upload_id));
    assert_eq!(listed, expected);
    assert_eq!(
        storage
            .abort_pending_multipart_uploads("archives/v1/")
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        storage.pending_multipart_uploads("").await.unwrap(),
        vec![PendingUpload {
            key: "sources/kept".into(),
            upload_id: kept.clone(),
        }]
    );
    storage.abort_multipart("sources/kept", &kept).await.unwrap();
    assert!(storage.pending_multipart_uploads("").await.unwrap().is_empty());
}
