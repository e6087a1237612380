//! One NATS user per service role, each allowed only the subjects its role uses: the one table of who may publish
//! and subscribe where, rendered as nats-server's `authorization` block (`fiapx nats auth-config`; the committed
//! `deploy/nats/auth.conf` is its rendering for the default names, included by the local stack and by deployments).
//!
//! A role's rights, in JetStream's terms (its API is subjects, so subject permissions are its ACL):
//! - append events: publish on `<prefix>.*.*` (only the command side: upload and processor);
//! - read a stream: its info, direct gets, and ordered (ephemeral) consumers on it;
//! - consume with a durable consumer: create and fetch from *that* consumer, and ack its messages;
//! - a KV bucket: read as a stream; write its keys (`$KV.<bucket>.>`) only where the role owns the data;
//! - its own streams and buckets (those it opens at start-up): create and update them, never delete or purge.
//!
//! Replies come to an inbox of the user's own (`_INBOX.<user>.`, set by `NatsSettings::connect`), so one role
//! cannot read the answers another was sent. Deleting or purging any stream, deleting a durable consumer and
//! creating or changing the event stream are left to `fiapx-admin` (provisioning and operator commands).

use std::collections::BTreeSet;
use std::fmt::Write as _;

use clap::ValueEnum as _;

use crate::Which;
use crate::config::Settings;

/// The NATS user name of a role (`fiapx-upload`, ..., `fiapx-all` for one process running every role).
pub fn user_name(role: Which) -> String {
    format!("fiapx-{}", role_name(role))
}

/// The administrator's user name: provisioning and operator commands.
pub const ADMIN_USER: &str = "fiapx-admin";

/// The environment variable that gives nats-server a user's password (`FIAPX_NATS_PASSWORD_UPLOAD`, ...,
/// `FIAPX_NATS_PASSWORD_ADMIN`): the rendered configuration names the variables, never the passwords.
pub fn password_variable(user: &str) -> String {
    let role = user.strip_prefix("fiapx-").unwrap_or(user);
    format!("FIAPX_NATS_PASSWORD_{}", role.to_uppercase())
}

fn role_name(role: Which) -> String {
    role.to_possible_value()
        .map(|value| value.get_name().to_owned())
        .unwrap_or_default()
}

/// What one user may publish and subscribe to.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Permissions {
    /// Subjects it may publish on (JetStream API requests, acks, events, KV writes).
    pub publish: BTreeSet<String>,
    /// Subjects it may subscribe to.
    pub subscribe: BTreeSet<String>,
}

impl Permissions {
    fn publish(&mut self, subjects: impl IntoIterator<Item = String>) -> &mut Self {
        self.publish.extend(subjects);
        self
    }

    fn subscribe(&mut self, subjects: impl IntoIterator<Item = String>) -> &mut Self {
        self.subscribe.extend(subjects);
        self
    }

    /// Read `stream`: its info, direct gets (one message, or the last per subject) and ordered consumers.
    fn read_stream(&mut self, stream: &str) -> &mut Self {
        self.publish([
            format!("$JS.API.STREAM.INFO.{stream}"),
            format!("$JS.API.STREAM.MSG.GET.{stream}"),
            format!("$JS.API.DIRECT.GET.{stream}"),
            format!("$JS.API.DIRECT.GET.{stream}.>"),
            format!("$JS.API.CONSUMER.CREATE.{stream}"),
            format!("$JS.API.CONSUMER.CREATE.{stream}.>"),
            format!("$JS.API.CONSUMER.MSG.NEXT.{stream}.*"),
            format!("$JS.API.CONSUMER.INFO.{stream}.*"),
        ])
    }

    /// Consume `stream` through the durable consumer `consumer`: create it, fetch, ack.
    fn durable(&mut self, stream: &str, consumer: &str) -> &mut Self {
        self.read_stream(stream).publish([
            format!("$JS.API.CONSUMER.DURABLE.CREATE.{stream}.{consumer}"),
            format!("$JS.ACK.{stream}.{consumer}.>"),
        ])
    }

    /// Create and update `stream` (one the role opens itself), besides reading it.
    fn own_stream(&mut self, stream: &str) -> &mut Self {
        self.read_stream(stream).publish([
            format!("$JS.API.STREAM.CREATE.{stream}"),
            format!("$JS.API.STREAM.UPDATE.{stream}"),
        ])
    }

    /// Open (create or update) the KV bucket `bucket` and read it.
    fn open_bucket(&mut self, bucket: &str) -> &mut Self {
        self.own_stream(&format!("KV_{bucket}"))
    }

    /// Open the KV bucket `bucket`, read and write its keys.
    fn write_bucket(&mut self, bucket: &str) -> &mut Self {
        self.open_bucket(bucket).publish([format!("$KV.{bucket}.>")])
    }

    fn union(&mut self, other: &Self) -> &mut Self {
        self.publish(other.publish.iter().cloned())
            .subscribe(other.subscribe.iter().cloned())
    }
}

/// The permissions of `role` with the stream, bucket and consumer names of `settings`.
pub fn permissions(role: Which, settings: &Settings) -> Permissions {
    let nats = &settings.nats;
    let events = nats.stream.as_str();
    let mut p = Permissions::default();
    // Every role starts by checking that the event stream exists.
    p.publish(["$JS.API.INFO".to_owned(), format!("$JS.API.STREAM.INFO.{events}")])
        .subscribe([format!("_INBOX.{}.>", user_name(role))]);
    let append = format!("{}.*.*", nats.subject_prefix);
    let revocations = settings.auth.revocations_bucket.as_str();
    match role {
        Which::Upload => {
            p.read_stream(events)
                .publish([append])
                .write_bucket(&settings.upload.idempotency_bucket)
                .write_bucket(&settings.upload.admission_bucket)
                .write_bucket(&settings.upload.sessions_bucket)
                .write_bucket(&nats.callbacks_bucket)
                .open_bucket(revocations);
        }
        Which::Processor => {
            let processor = &settings.processor;
            p.durable(events, &processor.consumer)
                .publish([append, fiapx_schemas::progress_wildcard()])
                .write_bucket(&nats.progress_bucket)
                .own_stream(&processor.advisory_stream)
                .durable(
                    &processor.advisory_stream,
                    &format!("{}_advisories", processor.consumer),
                );
        }
        Which::Projector => {
            p.durable(events, &settings.projector.consumer);
        }
        Which::Notifier => {
            p.durable(events, &settings.notifier.consumer)
                .own_stream(&settings.notifier.dead_letter_stream)
                .open_bucket(&nats.callbacks_bucket)
                .open_bucket(revocations);
        }
        Which::Query => {
            p.read_stream(events)
                .read_stream(&format!("KV_{}", nats.progress_bucket))
                .subscribe([
                    format!("{}.*.*", nats.subject_prefix),
                    fiapx_schemas::progress_wildcard(),
                ])
                .open_bucket(revocations);
        }
        Which::Auth => {
            p.write_bucket(revocations);
        }
        Which::All => {
            // Every role in one process, which also provisions the event stream and the progress bucket.
            for role in Which::value_variants().iter().filter(|r| **r != Which::All) {
                let mut other = permissions(*role, settings);
                other.subscribe.retain(|s| !s.starts_with("_INBOX."));
                p.union(&other);
            }
            p.own_stream(events);
        }
    }
    p
}

/// nats-server's `authorization` block: `fiapx-admin` (everything) and one user per role with its
/// [`permissions`], each password read from the environment variable [`password_variable`] names.
pub fn server_authorization(settings: &Settings) -> String {
    let quoted = |subjects: &BTreeSet<String>| {
        subjects
            .iter()
            .map(|s| format!("\n          \"{s}\""))
            .collect::<String>()
    };
    let mut out = String::from(
        "# One NATS user per FIAP X service role, least privilege on subjects. Generated by `fiapx nats auth-config`\n\
         # from services/fiapx/src/nats_roles.rs (the default names); each password comes from the environment\n\
         # variable named next to it, set for nats-server by whoever starts it.\n\
         authorization {\n  users: [\n",
    );
    let _ = writeln!(
        out,
        "    # Provisioning and operator commands: everything.\n    {{user: \"{ADMIN_USER}\", password: ${}}}",
        password_variable(ADMIN_USER)
    );
    for role in Which::value_variants() {
        let user = user_name(*role);
        let p = permissions(*role, settings);
        let _ = writeln!(
            out,
            "    {{user: \"{user}\", password: ${},\n      permissions: {{\n        publish: {{allow: [{}\n        ]}},\n        subscribe: {{allow: [{}\n        ]}}\n      }}}}",
            password_variable(&user),
            quoted(&p.publish),
            quoted(&p.subscribe),
        );
    }
    out.push_str("  ]\n}\n");
    out
}
