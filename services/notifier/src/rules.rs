//! The notification rules: which events call for a notification, and who gets which one (channels, per-user
//! preferences). Pure: the intake looks up the video and the audience and records what these rules return.

use fiapx_domain::Event;
use uuid::Uuid;

use crate::message::{self, Notice, Outcome};
use crate::store::{Channel, Intent, Preferences, Recipient, Webhook};

/// What a stored event tells the owner, with its job and attempt; `None` when it calls for no notification
/// (anything but a final failure or a completion).
pub(crate) fn outcome_of(event: &Event) -> Option<(u32, u32, Outcome)> {
    match event {
        Event::Failed(failure) if failure.will_retry => None,
        Event::Failed(failure) => Some((
            failure.job,
            failure.attempt,
            Outcome::Failed {
                code: failure.code,
                detail: failure.message.clone(),
            },
        )),
        Event::Completed {
            job,
            attempt,
            archive,
            ..
        } => Some((
            *job,
            *attempt,
            Outcome::Completed {
                frame_count: archive.frame_count,
                size_bytes: archive.size_bytes,
                sha256: archive.sha256.clone(),
            },
        )),
        _ => None,
    }
}

/// Who hears of a video's outcome besides its owner's preferences: their webhooks and the upload's callback URL.
pub(crate) struct Listeners {
    /// The owner's live webhooks.
    pub(crate) hooks: Vec<Webhook>,
    /// The URL the video's upload named.
    pub(crate) callback: Option<String>,
}

/// The notifications `notice` calls for: an e-mail when the owner wants one for this outcome (and has a user
/// record), every webhook for a failure (for a completion only if the owner opted in), and the upload's callback
/// URL for either (asking for it with the upload is the opt-in).
pub(crate) fn intents(
    notice: &Notice,
    owner: Uuid,
    preferences: &Preferences,
    recipient: Option<Recipient>,
    listeners: Listeners,
) -> Vec<Intent> {
    let failed = matches!(notice.outcome, Outcome::Failed { .. });
    let mut intents = Vec::new();
    let wants_email = if failed {
        preferences.email_on_failure
    } else {
        preferences.email_on_completion
    };
    match (wants_email, recipient) {
        (true, Some(recipient)) => {
            let email = message::email(
                notice,
                &recipient.email,
                &recipient.display_name,
                &recipient.locale,
            );
            intents.push(Intent {
                id: Uuid::now_v7(),
                event_id: notice.event_id,
                channel: Channel::Email,
                target: recipient.email.to_lowercase(),
                webhook_id: None,
                owner_id: owner,
                video_id: notice.video_id,
                event_type: notice.outcome.event_type().to_owned(),
                body: serde_json::to_string(&email).unwrap_or_default(),
            });
        }
        (true, None) => tracing::info!(user.id = %owner, "owner has no user record; no e-mail"),
        (false, _) => {}
    }
    if failed || preferences.webhook_on_completion {
        for hook in listeners.hooks {
            let id = Uuid::now_v7();
            intents.push(Intent {
                id,
                event_id: notice.event_id,
                channel: Channel::Webhook,
                target: hook.id.to_string(),
                webhook_id: Some(hook.id),
                owner_id: owner,
                video_id: notice.video_id,
                event_type: notice.outcome.event_type().to_owned(),
                body: message::webhook_body(id, notice),
            });
        }
    }
    if let Some(url) = listeners.callback {
        let id = Uuid::now_v7();
        intents.push(Intent {
            id,
            event_id: notice.event_id,
            channel: Channel::Callback,
            target: url,
            webhook_id: None,
            owner_id: owner,
            video_id: notice.video_id,
            event_type: notice.outcome.event_type().to_owned(),
            body: message::webhook_body(id, notice),
        });
    }
    intents
}
