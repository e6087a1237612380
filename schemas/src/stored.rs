//! An event as read back from the log: its position, its envelope and the upcast domain event.
//!
//! Plain data shared by every reader of the log (the command loop, the projector, the notifier, live status,
//! replays); it knows nothing of the backend the event came from.

use fiapx_domain::Event;

use crate::Envelope;

/// An event read back from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// Stream sequence (global order).
    pub sequence: u64,
    /// Metadata.
    pub envelope: Envelope,
    /// The event, upcast to the current domain form.
    pub event: Event,
}
