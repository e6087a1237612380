//! FFmpeg's log lines arrive in `tracing` (target `ffmpeg`), not on stderr.

use std::sync::{Arc, Mutex};

use fiapx_domain::ExtractionSpec;
use fiapx_frames::Limits;
use fiapx_frames::test_support::*;
use tracing::{
    Event, Metadata, Subscriber,
    field::{Field, Visit},
    span::{Attributes, Id, Record},
};

/// Keeps the message of every `ffmpeg` event.
struct Capture(Arc<Mutex<Vec<String>>>);

struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

impl Subscriber for Capture {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target() == "ffmpeg"
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut message = Message(String::new());
        event.record(&mut message);
        self.0.lock().unwrap().push(message.0);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[tokio::test]
async fn decoder_complaints_are_tracing_events() {
    let lines = Arc::new(Mutex::new(Vec::new()));
    // Global, because the decoder runs on a blocking thread; nextest gives each test its own process.
    tracing::subscriber::set_global_default(Capture(lines.clone())).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = damaged(&clip(&H264), dir.path(), "corrupt.mp4", |bytes| {
        let n = bytes.len();
        for b in &mut bytes[n / 3..n / 3 + n / 10] {
            *b = b.wrapping_mul(13) ^ 0xa5;
        }
    });
    let _ = extract(&path, &ExtractionSpec::default(), Limits::default())
        .await
        .unwrap_err();
    let lines = lines.lock().unwrap();
    assert!(!lines.is_empty(), "FFmpeg reported nothing through tracing");
    assert!(
        lines.iter().any(|l| l.contains("h264") || l.contains("mov")),
        "{lines:?}"
    );
}
