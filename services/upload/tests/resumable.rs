//! Resumable (tus 1.0.0) uploads against the real stack: a nats-server per test, a bucket per test on SeaweedFS.

mod support;

use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use fiapx_domain::VideoId;
use fiapx_storage::{source_key, upload_tail_key};
use fiapx_upload::UploadSettings;
use poem::Body;
use poem::http::StatusCode;
use poem::test::TestResponse;
use sha2::{Digest, Sha256};
use support::{
    App, MIB, bearer, header, held_body, min_rate_settings, owner, owner_header, post_upload,
    small_parts_settings, spawn_app, spawn_app_with, trickle,
};
use tokio::io::AsyncReadExt;
use uuid::Uuid;

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

async fn code(response: TestResponse) -> (StatusCode, String) {
    let status = response.0.status();
    let bytes = response.0.into_body().into_bytes().await.unwrap();
    let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    (status, body["code"].as_str().unwrap_or_default().to_owned())
}

/// `POST /api/v1/uploads`: the new upload's id.
async fn create(app: &App, user: Uuid, length: usize, metadata: &str) -> Uuid {
    let response = post_upload(app, user, length, Some(metadata)).await;
    assert_eq!(response.0.status(), StatusCode::CREATED);
    assert_eq!(header(&response, "tus-resumable").as_deref(), Some("1.0.0"));
    assert!(header(&response, "upload-expires").unwrap().ends_with(" GMT"));
    let location = header(&response, "location").unwrap();
    location
        .strip_prefix("/api/v1/uploads/")
        .unwrap()
        .parse()
        .unwrap()
}

async fn patch(app: &App, user: Uuid, id: Uuid, offset: usize, body: Body) -> TestResponse {
    app.client
        .patch(format!("/api/v1/uploads/{id}"))
        .header(owner_header(), bearer(user))
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Offset", offset.to_string())
        .content_type("application/offset+octet-stream")
        .body(body)
        .send()
        .await
}

async fn terminate(app: &App, user: Uuid, id: Uuid) -> TestResponse {
    app.client
        .delete(format!("/api/v1/uploads/{id}"))
        .header(owner_header(), bearer(user))
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await
}

/// `HEAD`: (status, Upload-Offset).
async fn head(app: &App, user: Uuid, id: Uuid) -> (StatusCode, Option<u64>) {
    let response = app
        .client
        .head(format!("/api/v1/uploads/{id}"))
        .header(owner_header(), bearer(user))
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await;
    let offset = header(&response, "upload-offset").map(|o| o.parse().unwrap());
    if response.0.status() == StatusCode::OK {
        assert_eq!(header(&response, "cache-control").as_deref(), Some("no-store"));
    }
    (response.0.status(), offset)
}

/// A real MP4 followed by pseudo-random bytes, `len` in all.
fn video_of(app: &App, len: usize) -> Vec<u8> {
    let mut data = app.mp4();
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    while data.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        data.extend_from_slice(&state.to_le_bytes());
    }
    data.truncate(len);
    data
}

/// `data` as a body of 1 MiB chunks that breaks off (a reset connection) after `cut` bytes when `cut` is given.
fn body_of(data: Bytes, cut: Option<usize>) -> Body {
    let end = cut.unwrap_or(data.len());
    let chunks: Vec<Result<Bytes, std::io::Error>> = (0..end)
        .step_by(MIB)
        .map(|at| Ok(data.slice(at..(at + MIB).min(end))))
        .chain(cut.map(|_| Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "cut"))))
        .collect();
    Body::from_bytes_stream(futures::stream::iter(chunks))
}

async fn stored_sha256(app: &App, key: &str) -> (u64, String) {
    let mut reader = app.bucket.storage().get_stream(key).await.unwrap();
    let mut hasher = Sha256::new();
    let mut buffer = vec![0_u8; MIB];
    let mut len = 0_u64;
    loop {
        let n = reader.read(&mut buffer).await.unwrap();
        if n == 0 {
            break;
        }
        len += n as u64;
        hasher.update(&buffer[..n]);
    }
    (len, hex::encode(hasher.finalize()))
}

#[tokio::test]
async fn a_200_mb_upload_cut_in_the_middle_resumes_from_the_last_byte_received() {
    let app = spawn_app().await;
    let user = owner();
    // 25 parts of 8 MiB exactly: the last byte ends a full part.
    let len = 200 * MIB;
    let data = Bytes::from(video_of(&app, len));
    let sha = hex::encode(Sha256::digest(&data));
    let id = create(
        &app,
        user,
        len,
        &format!("filename {},filetype {}", b64("aula 1.mp4"), b64("video/mp4")),
    )
    .await;
    assert_eq!(head(&app, user, id).await, (StatusCode::OK, Some(0)));

    // The connection breaks 100 MiB and a bit into the body: every byte that came is kept, also the ones after
    // the last full part.
    let cut = 100 * MIB + 12_345;
    let (status, _) = code(patch(&app, user, id, 0, body_of(data.clone(), Some(cut))).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(head(&app, user, id).await, (StatusCode::OK, Some(cut as u64)));
    assert!(
        app.events(id).await.is_empty(),
        "nothing is registered before the end"
    );

    // Resuming from a wrong offset is refused and changes nothing.
    let (status, code_) = code(patch(&app, user, id, 0, Body::from(vec![0_u8; 10])).await).await;
    assert_eq!((status, code_.as_str()), (StatusCode::CONFLICT, "conflict"));

    let rest = data.slice(cut..);
    let response = patch(&app, user, id, cut, body_of(rest, None)).await;
    assert_eq!(response.0.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&response, "upload-offset"), Some(len.to_string()));
    assert_eq!(head(&app, user, id).await, (StatusCode::OK, Some(len as u64)));

    let source = app.uploaded(id).await.source;
    assert_eq!(source.file_name, "aula 1.mp4");
    assert_eq!(source.size_bytes, len as u64);
    assert_eq!(source.content_type, "video/mp4");
    assert_eq!(
        stored_sha256(&app, &source_key(VideoId::from_uuid(id))).await,
        (len as u64, sha)
    );
    assert_eq!(
        app.keys().await,
        vec![source_key(VideoId::from_uuid(id))],
        "no tail object is left"
    );
    app.assert_no_pending_multipart().await;

    // A retried last PATCH (its answer was lost) gets the same answer and registers nothing twice.
    let response = patch(&app, user, id, len, Body::empty()).await;
    assert_eq!(response.0.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.events(id).await.len(), 1);
}

#[tokio::test]
async fn small_chunks_a_spec_and_the_protocol_edges() {
    let app = spawn_app_with(UploadSettings {
        max_upload_bytes: 20 * MIB as u64,
        ..small_parts_settings()
    })
    .await;
    let user = owner();

    let options = app.client.options("/api/v1/uploads").send().await;
    assert_eq!(options.0.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&options, "tus-version").as_deref(), Some("1.0.0"));
    assert_eq!(
        header(&options, "tus-extension").as_deref(),
        Some("creation,termination,expiration")
    );
    assert_eq!(header(&options, "tus-max-size"), Some((20 * MIB).to_string()));

    let post = |headers: Vec<(&'static str, String)>| {
        let mut request = app
            .client
            .post("/api/v1/uploads")
            .header(owner_header(), bearer(user));
        for (name, value) in headers {
            request = request.header(name, value);
        }
        request.send()
    };
    let v = || ("Tus-Resumable", "1.0.0".to_owned());
    let no_version = post(vec![("Upload-Length", "10".into())]).await;
    assert_eq!(header(&no_version, "tus-version").as_deref(), Some("1.0.0"));
    assert_eq!(
        code(no_version).await,
        (StatusCode::PRECONDITION_FAILED, "unsupported_version".into())
    );
    assert_eq!(
        code(post(vec![v()]).await).await,
        (StatusCode::BAD_REQUEST, "bad_request".into())
    );
    assert_eq!(
        code(post(vec![v(), ("Upload-Length", (20 * MIB + 1).to_string())]).await).await,
        (StatusCode::PAYLOAD_TOO_LARGE, "too_large".into())
    );
    assert_eq!(
        code(
            post(vec![
                v(),
                ("Upload-Length", "10".into()),
                ("Upload-Metadata", format!("spec {}", b64("{\"fps\":\"x\"}")))
            ])
            .await
        )
        .await,
        (StatusCode::BAD_REQUEST, "invalid_spec".into())
    );
    let anonymous = app
        .client
        .post("/api/v1/uploads")
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", "10")
        .send()
        .await;
    assert_eq!(anonymous.0.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.keys().await, Vec::<String>::new());

    // 12 MiB in chunks of 1000 bytes, 3 MiB, 4 MiB (a part fills across requests) and the rest.
    let len = 12 * MIB;
    let data = Bytes::from(video_of(&app, len));
    let id = create(
        &app,
        user,
        len,
        &format!("filename {},spec {}", b64("aula.mov"), b64(r#"{"count":3}"#)),
    )
    .await;
    let wrong_type = app
        .client
        .patch(format!("/api/v1/uploads/{id}"))
        .header(owner_header(), bearer(user))
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Offset", "0")
        .content_type("application/octet-stream")
        .body(data.slice(..10))
        .send()
        .await;
    assert_eq!(
        code(wrong_type).await,
        (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type".into()
        )
    );
    let stranger = owner();
    assert_eq!(head(&app, stranger, id).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        code(patch(&app, stranger, id, 0, Body::from(data.slice(..10))).await)
            .await
            .0,
        StatusCode::NOT_FOUND
    );

    let mut at = 0;
    for end in [1000, 3 * MIB, 7 * MIB, len] {
        let response = patch(&app, user, id, at, Body::from(data.slice(at..end))).await;
        assert_eq!(response.0.status(), StatusCode::NO_CONTENT, "chunk to {end}");
        assert_eq!(header(&response, "upload-offset"), Some(end.to_string()));
        at = end;
    }
    let source = app.uploaded(id).await.source;
    assert_eq!(
        (source.file_name.as_str(), source.size_bytes),
        ("aula.mov", len as u64)
    );
    let spec = app.uploaded(id).await.spec;
    assert_eq!(spec.selection, fiapx_domain::Selection::Count { count: 3 });
    let stored = app
        .bucket
        .storage()
        .get_bytes(&source_key(VideoId::from_uuid(id)))
        .await
        .unwrap();
    assert!(stored == data, "the stored source is the file");
    let terminated = terminate(&app, user, id).await;
    assert_eq!(
        code(terminated).await,
        (StatusCode::CONFLICT, "conflict".into()),
        "a finished upload stays"
    );
}

#[tokio::test]
async fn content_that_is_not_a_video_is_refused_and_nothing_is_kept() {
    let app = spawn_app().await;
    let user = owner();
    let id = create(&app, user, 200_000, "").await;
    let text = vec![b'a'; 70_000];
    assert_eq!(
        code(patch(&app, user, id, 0, Body::from(text)).await).await,
        (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type".into()
        )
    );
    assert_eq!(head(&app, user, id).await.0, StatusCode::NOT_FOUND);
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn a_terminated_or_expired_upload_leaves_nothing_behind() {
    let app = spawn_app_with(UploadSettings {
        resumable_ttl_secs: 5,
        ..small_parts_settings()
    })
    .await;
    let user = owner();
    let data = Bytes::from(video_of(&app, 12 * MIB));
    for by_termination in [true, false] {
        let id = create(&app, user, data.len(), "").await;
        // One full part in S3's multipart upload, and a tail object.
        let sent = 7 * MIB;
        assert_eq!(
            patch(&app, user, id, 0, Body::from(data.slice(..sent)))
                .await
                .0
                .status(),
            StatusCode::NO_CONTENT
        );
        assert_eq!(app.keys().await, vec![upload_tail_key(VideoId::from_uuid(id))]);
        if by_termination {
            assert_eq!(terminate(&app, user, id).await.0.status(), StatusCode::NO_CONTENT);
        } else {
            assert_eq!(
                app.api.resumable().sweep_expired().await.unwrap(),
                0,
                "not expired yet"
            );
            tokio::time::sleep(Duration::from_secs(6)).await;
            assert_eq!(head(&app, user, id).await.0, StatusCode::NOT_FOUND, "expired");
            assert_eq!(app.api.resumable().sweep_expired().await.unwrap(), 1);
        }
        assert_eq!(head(&app, user, id).await.0, StatusCode::NOT_FOUND);
        app.assert_nothing_stored().await;
        app.assert_no_pending_multipart().await;
    }
}

#[tokio::test]
async fn a_second_patch_while_one_runs_is_locked_out() {
    let app = spawn_app().await;
    let user = owner();
    let data = Bytes::from(video_of(&app, 3 * MIB));
    let id = create(&app, user, data.len(), "").await;
    let (sender, body) = held_body(data.slice(..MIB));
    let first = patch(&app, user, id, 0, body);
    // An empty PATCH at the same offset changes nothing when it gets the lease first; once the first holds it,
    // it is refused. Then the first one's body ends.
    let second = async {
        let mut locked = false;
        for _ in 0..50 {
            let (status, code_) = code(patch(&app, user, id, 0, Body::empty()).await).await;
            if status == StatusCode::LOCKED {
                assert_eq!(code_, "locked");
                locked = true;
                break;
            }
            assert_eq!(status, StatusCode::NO_CONTENT);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        drop(sender);
        locked
    };
    let (first, locked) = futures::join!(first, second);
    assert!(locked, "a second PATCH ran beside the first");
    assert_eq!(first.0.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&first, "upload-offset"), Some(MIB.to_string()));
    let rest = patch(&app, user, id, MIB, body_of(data.slice(MIB..), None)).await;
    assert_eq!(rest.0.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.uploaded(id).await.source.size_bytes, data.len() as u64);
}

#[tokio::test]
async fn a_callback_url_in_the_metadata_is_checked_at_creation_and_recorded_with_the_video() {
    let app = spawn_app().await;
    let user = owner();
    let callbacks = fiapx_nats::VideoCallbacks::new(app.nats.jetstream(), &app.nats.settings);
    let metadata = format!("callback_url {}", b64("https://10.0.0.1/hook"));
    let refused = post_upload(&app, user, 10, Some(&metadata)).await;
    assert_eq!(
        code(refused).await,
        (StatusCode::BAD_REQUEST, "bad_request".into())
    );

    let data = app.mp4();
    let id = create(
        &app,
        user,
        data.len(),
        &format!(
            "filename {},callback_url {}",
            b64("clip.mp4"),
            b64("https://hooks.example.com/tus")
        ),
    )
    .await;
    // Nothing is recorded before the video exists.
    assert_eq!(callbacks.get(id).await.unwrap(), None);
    let response = patch(&app, user, id, 0, Body::from(data.clone())).await;
    assert_eq!(response.0.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.uploaded(id).await.source.file_name, "clip.mp4");
    assert_eq!(
        callbacks.get(id).await.unwrap().as_deref(),
        Some("https://hooks.example.com/tus")
    );
}

#[tokio::test]
async fn a_patch_under_the_minimum_rate_is_cut_with_408_and_keeps_what_came() {
    let app = spawn_app_with(min_rate_settings()).await;
    let user = owner();
    let data = Bytes::from(video_of(&app, 2 * MIB));
    let id = create(&app, user, data.len(), "").await;
    // 64 KiB at once, then 16 bytes every 100 ms (160 bytes/s) for up to 30 s.
    let at_once = 64 * 1024;
    let slow = trickle(data.slice(..at_once), data.slice(at_once..at_once + 300 * 16), 16);
    let started = std::time::Instant::now();
    let (status, code_) = code(patch(&app, user, id, 0, slow).await).await;
    assert_eq!(
        (status, code_.as_str()),
        (StatusCode::REQUEST_TIMEOUT, "too_slow")
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    // What came is kept: the upload goes on from there at speed.
    let (status, offset) = head(&app, user, id).await;
    assert_eq!(status, StatusCode::OK);
    let offset = usize::try_from(offset.unwrap()).unwrap();
    assert!(
        offset >= at_once,
        "kept {offset} of the {at_once} bytes sent at once"
    );
    let rest = patch(&app, user, id, offset, body_of(data.slice(offset..), None)).await;
    assert_eq!(rest.0.status(), StatusCode::NO_CONTENT);
    let source = app.uploaded(id).await.source;
    assert_eq!(source.size_bytes, data.len() as u64);
    let expected = hex::encode(Sha256::digest(&data));
    assert_eq!(
        stored_sha256(&app, &source.key).await,
        (data.len() as u64, expected)
    );
}
