//! What a notification says: the e-mail (plain text and HTML, English or Brazilian Portuguese by the owner's
//! locale) and the webhook body, both rendered once when the notification is recorded, so that every retry
//! sends the same bytes.

use fiapx_domain::{FailureCode, Language};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// What happened to the video, as notified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Failed for good.
    Failed {
        /// Typed cause.
        code: FailureCode,
        /// The processor's detail (describes the input; no internals).
        detail: String,
    },
    /// The frames are ready.
    Completed {
        /// Frames in the archive.
        frame_count: u32,
        /// Archive size in bytes.
        size_bytes: u64,
        /// Archive SHA-256 (hex).
        sha256: String,
    },
}

impl Outcome {
    /// `video.failed` or `video.completed` (`X-Fiapx-Event`).
    pub const fn event_type(&self) -> &'static str {
        match self {
            Self::Failed { .. } => "video.failed",
            Self::Completed { .. } => "video.completed",
        }
    }
}

/// One event about one video, with what the messages need.
#[derive(Debug, Clone)]
pub struct Notice {
    /// The event's id.
    pub event_id: Uuid,
    /// When it happened.
    pub occurred_at: OffsetDateTime,
    /// The video.
    pub video_id: Uuid,
    /// The name the user gave the file.
    pub file_name: String,
    /// Job number.
    pub job: u32,
    /// Attempt that ended the job.
    pub attempt: u32,
    /// What happened.
    pub outcome: Outcome,
    /// `<public_url>/videos/<id>`.
    pub link: String,
}

/// A rendered e-mail, as stored in the notification's body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Email {
    /// Recipient address.
    pub to: String,
    /// Recipient name.
    pub to_name: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text part.
    pub text: String,
    /// HTML part.
    pub html: String,
    /// `en` or `pt-BR`.
    pub language: String,
}

/// Escapes text for HTML (file names come from users).
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `en` for English, `pt` for Brazilian Portuguese: the one of the two in `language`.
fn localized<T>(language: Language, en: T, pt: T) -> T {
    match language {
        Language::English => en,
        Language::PortugueseBrazil => pt,
    }
}

/// The subject and the opening line of the e-mail about the video `name`'s `outcome`, in `language`.
fn headline(outcome: &Outcome, name: &str, language: Language) -> (String, String) {
    use Language::{English as En, PortugueseBrazil as Pt};
    match (outcome, language) {
        (Outcome::Failed { .. }, En) => (
            format!("FIAP X: processing {name} failed"),
            format!("We could not extract the frames of the video \"{name}\"."),
        ),
        (Outcome::Failed { .. }, Pt) => (
            format!("FIAP X: falha ao processar {name}"),
            format!("Não conseguimos extrair os quadros do vídeo \"{name}\"."),
        ),
        (Outcome::Completed { .. }, En) => (
            format!("FIAP X: the frames of {name} are ready"),
            format!("The frames of the video \"{name}\" are ready to download."),
        ),
        (Outcome::Completed { .. }, Pt) => (
            format!("FIAP X: os quadros de {name} estão prontos"),
            format!("Os quadros do vídeo \"{name}\" estão prontos para baixar."),
        ),
    }
}

/// Renders the e-mail about `notice` for a user with `locale`.
pub fn email(notice: &Notice, to: &str, to_name: &str, locale: &str) -> Email {
    let language = Language::from_locale(locale);
    let tr = |en, pt| localized(language, en, pt);
    let name = &notice.file_name;
    let link = &notice.link;
    let greeting = tr("Hello", "Olá");
    let (subject, lead) = headline(&notice.outcome, name, language);
    let mut lines = vec![(lead, String::new())];
    match &notice.outcome {
        Outcome::Failed { code, detail } => {
            lines.push((code.user_message(language).to_owned(), String::new()));
            lines.push((
                tr("Error code", "Código do erro").to_owned(),
                code.as_str().to_owned(),
            ));
            if !detail.is_empty() {
                lines.push((tr("Detail", "Detalhe").to_owned(), detail.clone()));
            }
        }
        Outcome::Completed { frame_count, .. } => {
            lines.push((tr("Frames", "Quadros").to_owned(), frame_count.to_string()));
        }
    }
    let see = tr("See the video", "Veja o vídeo");
    let footer = tr(
        "You get this e-mail because e-mail notifications are on in your FIAP X account.",
        "Você recebe este e-mail porque as notificações por e-mail estão ativas na sua conta FIAP X.",
    );

    let mut text = format!("{greeting}, {to_name}.\n\n");
    for (label, value) in &lines {
        if value.is_empty() {
            text.push_str(&format!("{label}\n\n"));
        } else {
            text.push_str(&format!("{label}: {value}\n"));
        }
    }
    text.push_str(&format!("\n{see}: {link}\n\n-- \n{footer}\n"));

    let mut html = format!(
        "<!DOCTYPE html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\"><title>{}</title></head>\n<body>\n<p>{greeting}, {}.</p>\n",
        language.tag(),
        escape(&subject),
        escape(to_name)
    );
    for (label, value) in &lines {
        if value.is_empty() {
            html.push_str(&format!("<p>{}</p>\n", escape(label)));
        } else {
            html.push_str(&format!(
                "<p>{}: <code>{}</code></p>\n",
                escape(label),
                escape(value)
            ));
        }
    }
    html.push_str(&format!(
        "<p><a href=\"{}\">{see}</a></p>\n<hr>\n<p><small>{footer}</small></p>\n</body></html>\n",
        escape(link)
    ));
    Email {
        to: to.to_owned(),
        to_name: to_name.to_owned(),
        subject,
        text,
        html,
        language: language.tag().to_owned(),
    }
}

/// The JSON body of a webhook delivery (documented in docs/notifications.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookBody {
    /// The delivery id (also `X-Fiapx-Delivery`): the same on every retry and redelivery.
    pub id: Uuid,
    /// `video.failed` or `video.completed` (also `X-Fiapx-Event`).
    #[serde(rename = "type")]
    pub kind: String,
    /// The event in the video's log.
    pub event_id: Uuid,
    /// When it happened (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    /// The video.
    pub video: WebhookVideo,
    /// For `video.failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<WebhookFailure>,
    /// For `video.completed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archive: Option<WebhookArchive>,
}

/// The video of a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookVideo {
    /// Id.
    pub id: Uuid,
    /// File name.
    pub file_name: String,
    /// Job number.
    pub job: u32,
    /// Attempt that ended the job.
    pub attempt: u32,
    /// Link to the video in the web app.
    pub url: String,
}

/// Why it failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookFailure {
    /// Stable failure code.
    pub code: String,
    /// Whether retrying could help (false for every final failure but `attempts_exhausted`'s cause).
    pub retryable: bool,
    /// User-facing message in English.
    pub message: String,
    /// User-facing message in Brazilian Portuguese.
    pub message_pt_br: String,
    /// The processor's detail.
    pub detail: String,
}

/// The finished archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookArchive {
    /// Frames.
    pub frame_count: u32,
    /// Bytes.
    pub size_bytes: u64,
    /// SHA-256 (hex).
    pub sha256: String,
}

/// Renders the webhook body of delivery `delivery` about `notice`.
pub fn webhook_body(delivery: Uuid, notice: &Notice) -> String {
    let (failure, archive) = match &notice.outcome {
        Outcome::Failed { code, detail } => (
            Some(WebhookFailure {
                code: code.as_str().to_owned(),
                retryable: code.is_retryable(),
                message: code.user_message(Language::English).to_owned(),
                message_pt_br: code.user_message(Language::PortugueseBrazil).to_owned(),
                detail: detail.clone(),
            }),
            None,
        ),
        Outcome::Completed {
            frame_count,
            size_bytes,
            sha256,
        } => (
            None,
            Some(WebhookArchive {
                frame_count: *frame_count,
                size_bytes: *size_bytes,
                sha256: sha256.clone(),
            }),
        ),
    };
    let body = WebhookBody {
        id: delivery,
        kind: notice.outcome.event_type().to_owned(),
        event_id: notice.event_id,
        occurred_at: notice.occurred_at,
        video: WebhookVideo {
            id: notice.video_id,
            file_name: notice.file_name.clone(),
            job: notice.job,
            attempt: notice.attempt,
            url: notice.link.clone(),
        },
        failure,
        archive,
    };
    serde_json::to_string(&body).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(outcome: Outcome) -> Notice {
        Notice {
            event_id: Uuid::from_u128(1),
            occurred_at: OffsetDateTime::UNIX_EPOCH,
            video_id: Uuid::from_u128(2),
            file_name: "<férias>.mp4".into(),
            job: 0,
            attempt: 1,
            outcome,
            link: "http://x/videos/2".into(),
        }
    }

    #[test]
    fn failure_emails_speak_the_owners_language_and_escape_the_file_name() {
        let failed = notice(Outcome::Failed {
            code: FailureCode::CorruptInput,
            detail: "bad".into(),
        });
        let pt = email(&failed, "a@b.c", "Ana", "pt-BR");
        assert!(
            pt.subject.contains("falha ao processar <férias>.mp4"),
            "{}",
            pt.subject
        );
        assert!(pt.text.contains("corrupt_input"));
        assert!(
            pt.text
                .contains(FailureCode::CorruptInput.user_message(Language::PortugueseBrazil))
        );
        assert!(pt.text.contains("http://x/videos/2"));
        assert!(pt.html.contains("&lt;férias&gt;.mp4"));
        assert!(!pt.html.contains("<férias>"));
        let en = email(&failed, "a@b.c", "Ann", "en");
        assert!(en.subject.contains("processing <férias>.mp4 failed"));
        assert!(
            en.text
                .contains(FailureCode::CorruptInput.user_message(Language::English))
        );
    }

    #[test]
    fn webhook_bodies_carry_the_delivery_and_the_failure() {
        let body = webhook_body(
            Uuid::from_u128(9),
            &notice(Outcome::Failed {
                code: FailureCode::AttemptsExhausted,
                detail: String::new(),
            }),
        );
        let parsed: WebhookBody = serde_json::from_str(&body).unwrap();
        assert_eq!(parsed.id, Uuid::from_u128(9));
        assert_eq!(parsed.kind, "video.failed");
        assert_eq!(parsed.failure.unwrap().code, "attempts_exhausted");
        assert!(parsed.archive.is_none());
    }
}
