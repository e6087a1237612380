//! The event store on JetStream: one stream, one subject family per video, optimistic concurrency per video.
//!
//! [`JetStreamEventStore`] implements the backend-neutral [`fiapx_schemas::EventStore`] port; the data it appends
//! and loads ([`PendingEvent`], [`LoadedVideo`], [`StoredEvent`]) and its errors are defined there too.
//!
//! Append publishes with `Nats-Expected-Last-Subject-Sequence: <version>` scoped by
//! `Nats-Expected-Last-Subject-Sequence-Subject: videos.<id>.*`, so the check covers every event of the video
//! while the event type stays in the subject for server-side filtering. `Nats-Msg-Id` is the event id: a publish
//! retried after a lost ack is dropped by the server as a duplicate. Several events decided together go in one
//! atomic batch (ADR-50): plain publishes for all but the last, the commit as a request; the server stores all
//! or nothing. Load reads `videos.<id>.*` with batched direct gets (ADR-31), one request per 256 events.

use std::time::{Duration, Instant};

use async_nats::jetstream::{self, context::PublishErrorKind, publish::PublishAck, response::Response};
use async_nats::{HeaderMap, StatusCode};
use bytes::Bytes;
use fiapx_domain::VideoId;
use fiapx_schemas::{
    AppendError, Envelope, EnvelopeError, EventStore, EventStream, LoadError, LoadedVideo, PendingEvent,
    SchemaError, StoredEvent, decode, encode,
};
use futures::StreamExt;
use tracing::debug;

use crate::config::NatsSettings;

const EXPECTED_SUBJECT_SEQ: &str = "Nats-Expected-Last-Subject-Sequence";
const EXPECTED_SUBJECT_SEQ_SUBJECT: &str = "Nats-Expected-Last-Subject-Sequence-Subject";
const BATCH_ID: &str = "Nats-Batch-Id";
const BATCH_SEQUENCE: &str = "Nats-Batch-Sequence";
const BATCH_COMMIT: &str = "Nats-Batch-Commit";
/// Server error code of a failed expected-last-sequence check.
const ERR_WRONG_LAST_SEQUENCE: u64 = 10071;
/// Events asked for per batched direct get.
const LOAD_BATCH: usize = 256;

/// Why a stored message is not a valid event.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The subject is not `<prefix>.<video_id>.<type>`.
    #[error("subject {0:?} is not an event subject")]
    Subject(String),
    /// Headers missing or malformed.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// Payload not decodable.
    #[error(transparent)]
    Payload(#[from] SchemaError),
}

/// Decodes a message of the event stream (from a load or from any consumer): the one path for reads and replays.
pub fn decode_message(
    subject: &str,
    headers: Option<&HeaderMap>,
    payload: &[u8],
    sequence: u64,
) -> Result<StoredEvent, DecodeError> {
    let mut tokens = subject.split('.');
    let video_id = match (tokens.next(), tokens.next(), tokens.next(), tokens.next()) {
        (Some(_), Some(id), Some(_), None) => id
            .parse::<VideoId>()
            .map_err(|_| DecodeError::Subject(subject.into()))?,
        _ => return Err(DecodeError::Subject(subject.into())),
    };
    let envelope = Envelope::from_headers(video_id, |name| {
        headers.and_then(|h| h.get(name)).map(|v| v.as_str())
    })?;
    let event = decode(&envelope, payload)?;
    Ok(StoredEvent {
        sequence,
        envelope,
        event,
    })
}

/// Appends, loads and subscribes to video events on one JetStream stream.
#[derive(Clone, Debug)]
pub struct JetStreamEventStore {
    client: async_nats::Client,
    js: jetstream::Context,
    stream: String,
    prefix: String,
    timeout: Duration,
}

impl JetStreamEventStore {
    /// An event store on the stream named in `settings` (provision it first).
    pub fn new(client: async_nats::Client, settings: &NatsSettings) -> Self {
        let timeout = settings.request_timeout;
        let js = jetstream::ContextBuilder::new()
            .timeout(timeout)
            .build(client.clone());
        Self {
            client,
            js,
            stream: settings.stream.clone(),
            prefix: settings.subject_prefix.clone(),
            timeout,
        }
    }

    /// The JetStream context, for consumers built on the same connection (and its request timeout).
    pub fn jetstream(&self) -> &jetstream::Context {
        &self.js
    }

    fn subject(&self, video: VideoId, event_type: &str) -> String {
        format!("{}.{video}.{event_type}", self.prefix)
    }

    fn video_filter(&self, video: VideoId) -> String {
        format!("{}.{video}.*", self.prefix)
    }

    fn headers(&self, video: VideoId, pending: &PendingEvent, schema_version: u32) -> HeaderMap {
        let envelope = Envelope {
            event_id: pending.event_id,
            video_id: video,
            event_type: pending.event.event_type().to_owned(),
            schema_version,
            occurred_at: pending.event.occurred_at(),
            correlation_id: pending.metadata.correlation_id,
            causation_id: pending.metadata.causation_id,
            traceparent: pending.metadata.traceparent.clone(),
        };
        let mut headers = HeaderMap::new();
        for (name, value) in envelope.to_headers() {
            headers.insert(name, value.as_str());
        }
        headers
    }

    /// Appends `events` after `expected_version` (0 for a new video). Returns the new version.
    ///
    /// One event is one publish; several are one atomic batch. Either way the server checks that the last
    /// sequence of `videos.<id>.*` is still `expected_version`, so concurrent writers cannot interleave.
    pub async fn append(
        &self,
        video: VideoId,
        expected_version: u64,
        events: &[PendingEvent],
    ) -> Result<u64, AppendError> {
        let started = Instant::now();
        let mut result = match events {
            [] => Ok(expected_version),
            [single] => self.append_one(video, expected_version, single).await,
            many => self.append_batch(video, expected_version, many).await,
        };
        if let Err(AppendError::Conflict { .. }) = &result
            && let Some(sequence) = self.already_stored(video, expected_version, events).await
        {
            // A retry of an append whose ack was lost: the events are in the log already, so it succeeded.
            debug!(video.id = %video, "append retried after a lost ack; events already stored");
            result = Ok(sequence);
        }
        metrics::histogram!("fiapx_event_store_append_seconds").record(started.elapsed().as_secs_f64());
        if let Err(AppendError::Conflict { .. }) = &result {
            metrics::counter!("fiapx_event_store_append_conflicts_total").increment(1);
        }
        result
    }

    async fn append_one(
        &self,
        video: VideoId,
        expected: u64,
        pending: &PendingEvent,
    ) -> Result<u64, AppendError> {
        let encoded = encode(&pending.event);
        let mut headers = self.headers(video, pending, encoded.schema_version);
        headers.insert(EXPECTED_SUBJECT_SEQ, expected.to_string().as_str());
        headers.insert(EXPECTED_SUBJECT_SEQ_SUBJECT, self.video_filter(video).as_str());
        let publish = jetstream::message::PublishMessage::build()
            .payload(Bytes::from(encoded.payload))
            .headers(headers);
        let subject = self.subject(video, encoded.event_type);
        let ack = self
            .js
            .send_publish(subject, publish)
            .await
            .map_err(|e| self.publish_error(video, expected, e))?;
        let ack = ack.await.map_err(|e| self.publish_error(video, expected, e))?;
        if ack.duplicate {
            debug!(video.id = %video, event.id = %pending.event_id, "duplicate publish dropped by the server");
        }
        Ok(ack.sequence)
    }

    /// If these very events (same ids) follow `expected` in the log, the sequence of the last one.
    async fn already_stored(&self, video: VideoId, expected: u64, events: &[PendingEvent]) -> Option<u64> {
        let (first, last) = (events.first()?, events.last()?);
        let mut after = LoadedVideo::default();
        let mut from = expected + 1;
        loop {
            let (more, next) = self.load_batch(video, from, &mut after).await.ok()?;
            let first_stored = after.events.first()?;
            if first_stored.envelope.event_id != first.event_id {
                return None;
            }
            if let Some(stored) = after.events.iter().find(|e| e.envelope.event_id == last.event_id) {
                return Some(stored.sequence);
            }
            if !more {
                return None;
            }
            from = next;
        }
    }

    fn publish_error(
        &self,
        video: VideoId,
        expected: u64,
        error: jetstream::context::PublishError,
    ) -> AppendError {
        match error.kind() {
            PublishErrorKind::WrongLastSequence => AppendError::Conflict { video, expected },
            PublishErrorKind::TimedOut | PublishErrorKind::BrokenPipe => {
                AppendError::Unavailable(error.to_string())
            }
            _ => AppendError::Refused(error.to_string()),
        }
    }

    async fn append_batch(
        &self,
        video: VideoId,
        expected: u64,
        events: &[PendingEvent],
    ) -> Result<u64, AppendError> {
        // The batch id only needs to be unique among in-flight batches; the first event id is.
        let batch_id = events[0].event_id.simple().to_string();
        let last = events.len() - 1;
        for (index, pending) in events.iter().enumerate() {
            let encoded = encode(&pending.event);
            let mut headers = self.headers(video, pending, encoded.schema_version);
            headers.insert(BATCH_ID, batch_id.as_str());
            headers.insert(BATCH_SEQUENCE, (index + 1).to_string().as_str());
            if index == 0 {
                headers.insert(EXPECTED_SUBJECT_SEQ, expected.to_string().as_str());
                headers.insert(EXPECTED_SUBJECT_SEQ_SUBJECT, self.video_filter(video).as_str());
            }
            let subject = self.subject(video, encoded.event_type);
            let payload = Bytes::from(encoded.payload);
            if index < last {
                self.client
                    .publish_with_headers(subject, headers, payload)
                    .await
                    .map_err(|e| AppendError::Unavailable(e.to_string()))?;
                continue;
            }
            headers.insert(BATCH_COMMIT, "1");
            let request = async_nats::Request::new()
                .headers(headers)
                .payload(payload)
                .timeout(Some(self.timeout));
            let reply = self
                .client
                .send_request(subject, request)
                .await
                .map_err(|e| AppendError::Unavailable(e.to_string()))?;
            return match serde_json::from_slice::<Response<PublishAck>>(&reply.payload) {
                Ok(Response::Ok(ack)) => Ok(ack.sequence),
                Ok(Response::Err { error }) if error.error_code().0 == ERR_WRONG_LAST_SEQUENCE => {
                    Err(AppendError::Conflict { video, expected })
                }
                Ok(Response::Err { error }) => Err(AppendError::Refused(error.to_string())),
                Err(e) => Err(AppendError::Refused(format!("unreadable batch ack: {e}"))),
            };
        }
        unreachable!("a batch has at least two events")
    }

    /// Loads every event of a video, oldest first, with the version to append after.
    pub async fn load(&self, video: VideoId) -> Result<LoadedVideo, LoadError> {
        let started = Instant::now();
        let mut loaded = LoadedVideo::default();
        let mut from = 1u64;
        loop {
            let (more, next) = self.load_batch(video, from, &mut loaded).await?;
            if !more {
                break;
            }
            from = next;
        }
        metrics::histogram!("fiapx_event_store_load_seconds").record(started.elapsed().as_secs_f64());
        Ok(loaded)
    }

    /// The sequence of the last message stored (0 for an empty stream): `subscribe(head + 1)` reads only what
    /// comes after now.
    pub async fn head(&self) -> Result<u64, LoadError> {
        let unavailable = |e: &dyn std::fmt::Display| LoadError::Unavailable(e.to_string());
        let mut stream = self
            .js
            .get_stream(&self.stream)
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(stream
            .info()
            .await
            .map_err(|e| unavailable(&e))?
            .state
            .last_sequence)
    }

    /// Every event of the stream from sequence `from` on, then new ones as they are stored.
    ///
    /// An ordered consumer (ephemeral, flow-controlled, recreated by the client after a gap) reads the stream;
    /// each message goes through [`decode_message`], the same path as loads. An unreadable message ends nothing:
    /// it is yielded as [`LoadError::Corrupt`] and the reader decides.
    pub async fn subscribe(&self, from: u64) -> Result<EventStream, LoadError> {
        let unavailable = |e: &dyn std::fmt::Display| LoadError::Unavailable(e.to_string());
        let stream = self
            .js
            .get_stream(&self.stream)
            .await
            .map_err(|e| unavailable(&e))?;
        let consumer = stream
            .create_consumer(jetstream::consumer::pull::OrderedConfig {
                filter_subject: format!("{}.>", self.prefix),
                deliver_policy: jetstream::consumer::DeliverPolicy::ByStartSequence {
                    start_sequence: from.max(1),
                },
                ..Default::default()
            })
            .await
            .map_err(|e| unavailable(&e))?;
        let messages = consumer.messages().await.map_err(|e| unavailable(&e))?;
        Ok(messages
            .map(|message| {
                let message = message.map_err(|e| LoadError::Unavailable(e.to_string()))?;
                let sequence = message
                    .info()
                    .map_err(|e| LoadError::Unavailable(e.to_string()))?
                    .stream_sequence;
                decode_message(
                    &message.subject,
                    message.headers.as_ref(),
                    &message.payload,
                    sequence,
                )
                .map_err(|e| LoadError::Corrupt {
                    sequence,
                    reason: e.to_string(),
                })
            })
            .boxed())
    }

    /// One batched direct get from `from`. Returns whether more matching events remain, and where to continue.
    async fn load_batch(
        &self,
        video: VideoId,
        from: u64,
        loaded: &mut LoadedVideo,
    ) -> Result<(bool, u64), LoadError> {
        let unavailable = |e: &dyn std::fmt::Display| LoadError::Unavailable(e.to_string());
        let inbox = self.client.new_inbox();
        let mut replies = self
            .client
            .subscribe(inbox.clone())
            .await
            .map_err(|e| unavailable(&e))?;
        let body =
            serde_json::json!({ "seq": from, "next_by_subj": self.video_filter(video), "batch": LOAD_BATCH });
        self.client
            .publish_with_reply(
                format!("$JS.API.DIRECT.GET.{}", self.stream),
                inbox,
                body.to_string().into(),
            )
            .await
            .map_err(|e| unavailable(&e))?;
        let mut pending_after_last = 0u64;
        loop {
            let message = tokio::time::timeout(self.timeout, replies.next())
                .await
                .map_err(|_| LoadError::Unavailable("direct get timed out".into()))?
                .ok_or_else(|| LoadError::Unavailable("connection closed during load".into()))?;
            match message.status {
                // End of batch: more remain if the last message said so.
                Some(status) if status.as_u16() == 204 => {
                    return Ok((pending_after_last > 0, loaded.version + 1));
                }
                // Nothing (more) matches.
                Some(StatusCode::NOT_FOUND) => return Ok((false, 0)),
                Some(status) => {
                    return Err(LoadError::Unavailable(format!(
                        "direct get answered {status}: {}",
                        message.description.unwrap_or_default()
                    )));
                }
                None => {}
            }
            let headers = message.headers.as_ref();
            let header = |name: &str| headers.and_then(|h| h.get(name)).map(|v| v.as_str().to_owned());
            let sequence: u64 = header("Nats-Sequence")
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| LoadError::Corrupt {
                    sequence: 0,
                    reason: "direct get reply without Nats-Sequence".into(),
                })?;
            let subject = header("Nats-Subject").unwrap_or_default();
            let stored = decode_message(&subject, headers, &message.payload, sequence).map_err(|e| {
                LoadError::Corrupt {
                    sequence,
                    reason: e.to_string(),
                }
            })?;
            loaded.version = sequence;
            loaded.events.push(stored);
            pending_after_last = header("Nats-Num-Pending")
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
        }
    }
}

impl EventStore for JetStreamEventStore {
    fn append(
        &self,
        video: VideoId,
        expected_version: u64,
        events: &[PendingEvent],
    ) -> impl Future<Output = Result<u64, AppendError>> + Send {
        JetStreamEventStore::append(self, video, expected_version, events)
    }

    fn load(&self, video: VideoId) -> impl Future<Output = Result<LoadedVideo, LoadError>> + Send {
        JetStreamEventStore::load(self, video)
    }

    fn subscribe(&self, from: u64) -> impl Future<Output = Result<EventStream, LoadError>> + Send {
        JetStreamEventStore::subscribe(self, from)
    }
}
