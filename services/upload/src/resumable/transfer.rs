//! What the tus requests do to a session: take its lease, receive a PATCH body into S3 parts and the tail
//! object, assemble and register the video at the end, and remove everything an abandoned session holds.
//!
//! Full parts go to an S3 multipart upload of the source key as they fill; the bytes after the last full part
//! (less than one part) are saved to the tail object when a request ends, however it ends, so a client that
//! comes back resumes from the last byte received. The session record is committed after each step, so a
//! crash loses at most the request in progress, never bytes already acknowledged by a commit.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use fiapx_domain::{SourceObject, UserId, VideoError, VideoId};
use fiapx_http::{ApiError, CapPermit, ConcurrencyCap};
use fiapx_nats::{AppendError, HandleError, LoadError};
use fiapx_storage::{Storage, source_key, upload_tail_key};
use poem::Body;
use time::OffsetDateTime;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::Mutex;
use tracing::{info, warn};

use super::sessions::{LEASE, Phase, Session, SessionError, Sessions};
use crate::admission::InFlightLimit;
use crate::intake::{Intake, RegisterError, not_a_video};
use crate::limits::{Limited, is_over_limit, too_slow};
use crate::settings::UploadSettings;
use crate::sniff::{SNIFF_LEN, sniff};

/// What the tus routes share.
pub struct Transfers {
    pub sessions: Sessions,
    pub storage: Storage,
    pub intake: Intake,
    pub admission: InFlightLimit,
    /// Upload bodies read at once per user and per address (shared with `POST /videos`).
    pub uploading: Arc<ConcurrencyCap>,
    pub settings: UploadSettings,
}

fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

fn session_error(error: SessionError) -> ApiError {
    match error {
        SessionError::Conflict => ApiError::new(
            fiapx_http::ErrorCode::Locked,
            "another request is writing this upload; retry",
        )
        .with_retry_after(1),
        error @ SessionError::Store(_) => ApiError::unavailable(error),
    }
}

/// The session of `video` if `owner` may see it (404 otherwise, also once it expired).
pub async fn owned(sessions: &Sessions, owner: UserId, video: VideoId) -> Result<(Session, u64), ApiError> {
    match sessions.get(video).await.map_err(session_error)? {
        Some((session, revision)) if session.is_owned_by(owner) && !is_expired(&session, now()) => {
            Ok((session, revision))
        }
        _ => Err(ApiError::not_found("upload")),
    }
}

fn is_expired(session: &Session, now: i64) -> bool {
    session.expires_at <= now
}

/// The right to write one session, renewed in the background while held; every change is committed through
/// it. Dropping it without [`Lease::release`] (an error path) stops the renewal and gives it back from a
/// task of its own; if even that fails, the lease lapses after [`LEASE`].
struct Lease {
    video: VideoId,
    sessions: Sessions,
    current: Arc<Mutex<(Session, u64)>>,
    /// Tells the renewal to stop (checked under the mutex, so a renewal in flight is never cut half-way).
    stop: Arc<AtomicBool>,
    released: bool,
    /// How long an unfinished session lives after its last request.
    ttl_secs: u64,
}

impl Lease {
    /// Takes the lease of `owner`'s session `video`: 404 when it is not theirs, 423 while another request holds it.
    async fn take(
        sessions: &Sessions,
        owner: UserId,
        video: VideoId,
        ttl_secs: u64,
    ) -> Result<Self, ApiError> {
        let (mut session, revision) = owned(sessions, owner, video).await?;
        let now = now();
        if session.locked_until.is_some_and(|until| until > now) {
            return Err(session_error(SessionError::Conflict));
        }
        session.locked_until = Some(now + LEASE.as_secs() as i64);
        if matches!(session.phase, Phase::Receiving) {
            session.expires_at = now + ttl_secs as i64;
        }
        let revision = sessions
            .update(video, &session, revision)
            .await
            .map_err(session_error)?;
        let current = Arc::new(Mutex::new((session, revision)));
        let stop = Arc::new(AtomicBool::new(false));
        tokio::spawn(renew(
            sessions.clone(),
            video,
            Arc::clone(&current),
            Arc::clone(&stop),
        ));
        Ok(Self {
            video,
            sessions: sessions.clone(),
            current,
            stop,
            released: false,
            ttl_secs,
        })
    }

    async fn session(&self) -> Session {
        self.current.lock().await.0.clone()
    }

    /// Applies `change` to the session and stores it (compare-and-set).
    async fn commit(&self, change: impl FnOnce(&mut Session)) -> Result<Session, ApiError> {
        let mut current = self.current.lock().await;
        let mut session = current.0.clone();
        change(&mut session);
        let revision = self
            .sessions
            .update(self.video, &session, current.1)
            .await
            .map_err(session_error)?;
        *current = (session.clone(), revision);
        Ok(session)
    }

    /// Commits `change` and gives the lease back.
    async fn release(mut self, change: impl FnOnce(&mut Session)) -> Result<Session, ApiError> {
        self.stop.store(true, Ordering::SeqCst);
        self.released = true;
        let expires_at = now() + self.ttl_secs as i64;
        self.commit(|session| {
            change(session);
            session.locked_until = None;
            if matches!(session.phase, Phase::Receiving) {
                // Counted from the end of the last request, however long it took.
                session.expires_at = expires_at;
            }
        })
        .await
    }

    /// Gives the lease back without a change, unless the record is gone or changed (then there is nothing to
    /// give back).
    fn forget(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.released = true;
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if self.released {
            return;
        }
        let (sessions, video, current) = (self.sessions.clone(), self.video, Arc::clone(&self.current));
        tokio::spawn(async move {
            let current = current.lock().await;
            let mut session = current.0.clone();
            session.locked_until = None;
            if let Err(error) = sessions.update(video, &session, current.1).await {
                warn!(video.id = %video, error = %error, "giving an upload's lease back failed");
            }
        });
    }
}

async fn renew(
    sessions: Sessions,
    video: VideoId,
    current: Arc<Mutex<(Session, u64)>>,
    stop: Arc<AtomicBool>,
) {
    let mut ticks = tokio::time::interval(LEASE / 3);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let mut current = current.lock().await;
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let mut session = current.0.clone();
        session.locked_until = Some(now() + LEASE.as_secs() as i64);
        match sessions.update(video, &session, current.1).await {
            Ok(revision) => *current = (session, revision),
            Err(error) => {
                // The next commit fails the same way, and the request with it.
                warn!(video.id = %video, error = %error, "renewing an upload's lease failed");
                return;
            }
        }
    }
}

/// A PATCH's answer: the offset the upload is at now.
pub struct Patched {
    pub offset: u64,
    pub expires_at: i64,
}

impl Transfers {
    /// `PATCH`: appends `body` at `offset` to `owner`'s upload `video`. Runs on its own task, so that a client
    /// that goes away mid-body (and the request future with it) still has what it sent saved; the task holds
    /// the request's place under the concurrency cap (`place`) until it is done.
    pub async fn patch(
        self: &Arc<Self>,
        owner: UserId,
        video: VideoId,
        offset: u64,
        body: Body,
        place: CapPermit,
    ) -> Result<Patched, ApiError> {
        let lease = Lease::take(&self.sessions, owner, video, self.settings.resumable_ttl_secs).await?;
        let this = Arc::clone(self);
        let task = tokio::spawn(async move {
            let received = this.receive(lease, owner, offset, body).await;
            drop(place);
            received
        });
        task.await.map_err(ApiError::internal)?
    }

    async fn receive(
        &self,
        lease: Lease,
        owner: UserId,
        offset: u64,
        body: Body,
    ) -> Result<Patched, ApiError> {
        let session = lease.session().await;
        let video = lease.video;
        match session.phase {
            Phase::Receiving => {}
            Phase::Assembled | Phase::Registered { .. } if offset == session.length => {
                // A retry of the last PATCH: finish the registration if it did not happen.
                let session = self.finish(lease, owner).await?;
                return Ok(patched(&session));
            }
            Phase::Assembled | Phase::Registered { .. } => {
                return Err(offset_mismatch(offset, session.length));
            }
        }
        if offset != session.offset {
            lease.release(|_| {}).await?;
            return Err(offset_mismatch(offset, session.offset));
        }

        let part_size = self.settings.part_size_bytes.max(5 * 1024 * 1024);
        let key = source_key(video);
        let tail_key = upload_tail_key(video);
        let mut buffer = Vec::with_capacity(part_size);
        if session.tail_len > 0 {
            buffer = self
                .storage
                .get_range(&tail_key, 0, session.tail_len)
                .await
                .map_err(ApiError::unavailable)?;
            if buffer.len() as u64 != session.tail_len {
                return Err(ApiError::internal(io::Error::other(
                    "the upload's tail object is short",
                )));
            }
        }
        let mut content_type = session.content_type.clone();
        let mut multipart = session.multipart.clone();
        let mut parts_len = session.parts_len();
        let mut parts_count = session.parts.len();
        let mut reader = Limited::new(body.into_async_read(), session.length - session.offset)
            .with_min_rate(self.settings.min_rate());
        let idle = Duration::from_secs(self.settings.resumable_idle_timeout_secs.max(1));

        let read_error = loop {
            let filled = fill(&mut reader, &mut buffer, part_size, idle).await;
            let received = parts_len + buffer.len() as u64;
            if content_type.is_none() && (buffer.len() >= SNIFF_LEN || received == session.length) {
                let Some(container) = sniff(&buffer) else {
                    lease.forget();
                    self.discard(video, &session).await;
                    info!(video.id = %video, owner.id = %owner, "upload refused: not a video");
                    return Err(not_a_video());
                };
                content_type = Some(container.mime.to_owned());
            }
            if buffer.len() == part_size && received < session.length {
                let mime = content_type.clone().unwrap_or_default();
                let upload_id = match &multipart {
                    Some(id) => id.clone(),
                    None => {
                        let id = self
                            .storage
                            .start_multipart(&key, &mime)
                            .await
                            .map_err(ApiError::unavailable)?;
                        // Recorded at once: whatever happens next, the sweeper can abort it.
                        let (ct, started) = (content_type.clone(), id.clone());
                        lease
                            .commit(|s| {
                                s.content_type = ct;
                                s.multipart = Some(started);
                            })
                            .await?;
                        multipart = Some(id.clone());
                        id
                    }
                };
                parts_count += 1;
                let number = u32::try_from(parts_count).unwrap_or(u32::MAX);
                let part = std::mem::replace(&mut buffer, Vec::with_capacity(part_size));
                let etag = self
                    .storage
                    .put_part(&key, &upload_id, number, &mime, part)
                    .await
                    .map_err(ApiError::unavailable)?;
                parts_len += part_size as u64;
                let (ct, id) = (content_type.clone(), multipart.clone());
                lease
                    .commit(|s| {
                        s.parts.push((number, etag));
                        s.offset = parts_len;
                        s.tail_len = 0;
                        s.content_type = ct;
                        s.multipart = id;
                    })
                    .await?;
            }
            match filled {
                Ok(true) if received < session.length => {}
                // The last byte came (in a full part when the length is a multiple of the part size).
                Ok(_) => break None,
                Err(error) => break Some(error),
            }
        };

        let received = parts_len + buffer.len() as u64;
        if received == session.length {
            let mime = content_type.clone().unwrap_or_default();
            match &multipart {
                None => self.storage.put_bytes(&key, &mime, &buffer).await,
                Some(upload_id) => {
                    let mut parts = lease.session().await.parts;
                    if !buffer.is_empty() {
                        let number = u32::try_from(parts.len() + 1).unwrap_or(u32::MAX);
                        let etag = self
                            .storage
                            .put_part(&key, upload_id, number, &mime, std::mem::take(&mut buffer))
                            .await
                            .map_err(ApiError::unavailable)?;
                        parts.push((number, etag));
                    }
                    self.storage.complete_multipart(&key, upload_id, &parts).await
                }
            }
            .map_err(ApiError::unavailable)?;
            lease
                .commit(|s| {
                    s.phase = Phase::Assembled;
                    s.offset = s.length;
                    s.tail_len = 0;
                    s.content_type = content_type;
                    s.multipart = None;
                    s.parts.clear();
                })
                .await?;
            if let Err(error) = self.storage.delete(&tail_key).await {
                warn!(video.id = %video, error = %error, "removing an upload's tail object failed");
            }
            let session = self.finish(lease, owner).await?;
            return Ok(patched(&session));
        }

        // The body ended (or broke) before the end of the upload: keep what came.
        let tail_len = buffer.len() as u64;
        if received > session.offset || tail_len != session.tail_len {
            self.storage
                .put_bytes(&tail_key, "application/octet-stream", &buffer)
                .await
                .map_err(ApiError::unavailable)?;
        }
        let session = lease
            .release(|s| {
                s.offset = received;
                s.tail_len = tail_len;
                s.content_type = content_type;
                s.multipart = multipart;
            })
            .await?;
        match read_error {
            None => Ok(patched(&session)),
            Some(error) if is_over_limit(&error) => Err(ApiError::bad_request(format!(
                "the body goes past Upload-Length ({} bytes); {} bytes are kept",
                session.length, session.offset
            ))),
            Some(error) => {
                let kept = format!(
                    "{} bytes are kept: HEAD the upload and resume from there",
                    session.offset
                );
                if let Some(slow) = too_slow(&error, &kept) {
                    info!(video.id = %video, upload.offset = received, "an upload's body was cut for its rate");
                    return Err(slow);
                }
                info!(video.id = %video, error = %error, upload.offset = received,
                    "an upload's body broke off: resumable from its offset");
                Err(ApiError::bad_request(format!(
                    "the body broke off at offset {received}; HEAD the upload and resume from there"
                ))
                .with_source(error))
            }
        }
    }

    /// Registers an assembled upload (once), then gives the lease back. 503 when the event store cannot take
    /// it: the session stays assembled and the next HEAD or PATCH tries again.
    async fn finish(&self, lease: Lease, owner: UserId) -> Result<Session, ApiError> {
        let session = lease.session().await;
        let job = match session.phase {
            Phase::Registered { .. } => return lease.release(|_| {}).await,
            Phase::Receiving => {
                return Err(ApiError::internal(io::Error::other(
                    "finishing an unfinished upload",
                )));
            }
            Phase::Assembled => match self.register(owner, lease.video, &session).await {
                Ok(job) => job,
                Err(error) => {
                    lease.release(|_| {}).await?;
                    return Err(error);
                }
            },
        };
        lease.release(|s| s.phase = Phase::Registered { job }).await
    }

    async fn register(&self, owner: UserId, video: VideoId, session: &Session) -> Result<u32, ApiError> {
        let content_type = session.content_type.clone().unwrap_or_default();
        let source = SourceObject {
            key: source_key(video),
            file_name: session.file_name.clone(),
            size_bytes: session.length,
            content_type: content_type.clone(),
        };
        match self
            .intake
            .register(
                owner,
                video,
                source,
                session.spec.clone(),
                &content_type,
                session.callback_url.as_deref(),
            )
            .await
        {
            Ok(accepted) => Ok(accepted.job),
            Err(RegisterError::Callback(error)) => Err(ApiError::unavailable(error)),
            Err(RegisterError::Command(HandleError::Rejected(VideoError::AlreadyExists))) => {
                // An earlier attempt stored the event and lost the answer.
                match self.intake.load(video).await.map_err(ApiError::unavailable)? {
                    Some((found, job)) if found == owner => Ok(job),
                    _ => Err(ApiError::internal(io::Error::other(
                        "the video exists for someone else",
                    ))),
                }
            }
            Err(RegisterError::Command(
                error @ (HandleError::Append(AppendError::Unavailable(_))
                | HandleError::Load(LoadError::Unavailable(_))
                | HandleError::TooMuchContention { .. }),
            )) => Err(ApiError::unavailable(error)),
            Err(RegisterError::Command(error)) => Err(ApiError::internal(error)),
        }
    }

    /// `HEAD`: the session as it is; an assembled one is registered first (so that a client that sees the full
    /// offset can rely on the video being there).
    pub async fn head(&self, owner: UserId, video: VideoId) -> Result<Session, ApiError> {
        let (session, _) = owned(&self.sessions, owner, video).await?;
        if matches!(session.phase, Phase::Assembled) {
            let lease = Lease::take(&self.sessions, owner, video, self.settings.resumable_ttl_secs).await?;
            return self.finish(lease, owner).await;
        }
        Ok(session)
    }

    /// `DELETE`: removes an unfinished upload and what it holds in S3. 409 once the video is registered.
    pub async fn terminate(&self, owner: UserId, video: VideoId) -> Result<(), ApiError> {
        let lease = Lease::take(&self.sessions, owner, video, self.settings.resumable_ttl_secs).await?;
        let session = lease.session().await;
        if let Phase::Registered { .. } = session.phase {
            lease.release(|_| {}).await?;
            return Err(ApiError::conflict(
                "the upload is finished: delete the video (DELETE /api/v1/videos/{id}) instead",
            ));
        }
        lease.forget();
        self.discard(video, &session).await;
        info!(video.id = %video, owner.id = %owner, "upload terminated");
        Ok(())
    }

    /// Removes an unfinished session: its multipart upload, tail object, assembled source if it was never
    /// registered, then the record.
    async fn discard(&self, video: VideoId, session: &Session) {
        let key = source_key(video);
        if let Some(upload_id) = &session.multipart
            && let Err(error) = self.storage.abort_multipart(&key, upload_id).await
        {
            warn!(video.id = %video, error = %error, "aborting an upload's multipart upload failed");
        }
        if let Err(error) = self.storage.delete(&upload_tail_key(video)).await {
            warn!(video.id = %video, error = %error, "removing an upload's tail object failed");
        }
        if matches!(session.phase, Phase::Assembled) && matches!(self.intake.load(video).await, Ok(None)) {
            // Assembled but never registered: its source and any callback URL recorded by a failed registration.
            self.intake.remove_unregistered(video, &key).await;
        }
        if let Err(error) = self.sessions.remove(video).await {
            warn!(video.id = %video, error = %error, "removing an upload session failed");
        }
        // The place the session took when it was created; a registered video keeps it while in flight.
        if !matches!(session.phase, Phase::Registered { .. }) {
            self.admission
                .release(UserId::from_uuid(session.owner), video)
                .await;
        }
    }

    /// Removes every session past its expiry that no request holds: unfinished ones with what they hold in
    /// S3, finished ones (their video lives on) by their record only. Returns how many were removed.
    pub async fn sweep(&self) -> Result<usize, SessionError> {
        let now = now();
        let mut removed = 0;
        for video in self.sessions.ids().await? {
            let Some((session, _)) = self.sessions.get(video).await? else {
                continue;
            };
            if !is_expired(&session, now) || session.locked_until.is_some_and(|until| until > now) {
                continue;
            }
            match session.phase {
                Phase::Registered { .. } => self.sessions.remove(video).await?,
                Phase::Receiving | Phase::Assembled => self.discard(video, &session).await,
            }
            removed += 1;
        }
        if removed > 0 {
            info!(uploads = removed, "expired upload sessions removed");
        }
        Ok(removed)
    }
}

fn patched(session: &Session) -> Patched {
    Patched {
        offset: session.offset,
        expires_at: session.expires_at,
    }
}

fn offset_mismatch(sent: u64, at: u64) -> ApiError {
    ApiError::conflict(format!(
        "Upload-Offset {sent} does not match the upload's offset {at}: HEAD it and resume from there"
    ))
}

/// Reads into `buffer` until it holds `size` bytes, the body ends (`Ok(false)`), or it fails. `Ok(true)`: full,
/// more may follow. A body silent for `idle` fails with `TimedOut`.
async fn fill<R: AsyncRead + Unpin>(
    reader: &mut R,
    buffer: &mut Vec<u8>,
    size: usize,
    idle: Duration,
) -> io::Result<bool> {
    while buffer.len() < size {
        let want = size - buffer.len();
        let mut chunk = (&mut *reader).take(want as u64);
        let n = match tokio::time::timeout(idle, chunk.read_buf(buffer)).await {
            Ok(result) => result?,
            Err(_) => return Err(io::Error::new(io::ErrorKind::TimedOut, "the body went silent")),
        };
        if n == 0 {
            return Ok(false);
        }
    }
    Ok(true)
}
