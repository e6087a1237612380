//! The first read models: videos per owner, per-video timeline, per-owner counts, and projection bookkeeping.

use super::sql_script::SqlScript;

/// Creates generation 1 of the `videos` projection and the bookkeeping tables.
pub(crate) const MIGRATION: SqlScript = SqlScript::new(file!(), UP);

const UP: &str = r#"
-- Which generation of a projection's tables the views (and so the query side) show.
CREATE TABLE projection_generations (
    name        text PRIMARY KEY,
    generation  integer NOT NULL,
    switched_at timestamptz NOT NULL DEFAULT now()
);

-- Last stream sequence applied to a projection's generation; written in the same transaction as the read model.
CREATE TABLE projection_checkpoints (
    name          text NOT NULL,
    generation    integer NOT NULL,
    last_sequence bigint NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, generation)
);

-- Messages a projection could not decode: recorded once and skipped so that they cannot block it.
CREATE TABLE projection_errors (
    name        text NOT NULL,
    generation  integer NOT NULL,
    sequence    bigint NOT NULL,
    subject     text NOT NULL,
    error       text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, generation, sequence)
);

-- One row per video, status included; deleted videos keep their row with status 'deleted' (never listed).
CREATE TABLE videos_g1 (
    id                 uuid PRIMARY KEY,
    owner_id           uuid NOT NULL,
    file_name          text NOT NULL,
    content_type       text NOT NULL,
    source_key         text NOT NULL,
    source_size_bytes  bigint NOT NULL,
    status             text NOT NULL,
    spec               jsonb NOT NULL,
    job                integer NOT NULL,
    attempt            integer NOT NULL,
    archive_key        text,
    archive_size_bytes bigint,
    archive_sha256     text,
    frame_count        integer,
    failure_code       text,
    failure_message    text,
    will_retry         boolean,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    last_sequence      bigint NOT NULL
);
-- Keyset pagination, newest first, with and without a status filter.
CREATE INDEX videos_g1_owner_created ON videos_g1 (owner_id, created_at DESC, id DESC);
CREATE INDEX videos_g1_owner_status_created ON videos_g1 (owner_id, status, created_at DESC, id DESC);

-- Every event of a video, in log order; the key makes a re-applied event a no-op.
CREATE TABLE video_timeline_g1 (
    video_id    uuid NOT NULL,
    sequence    bigint NOT NULL,
    event_id    uuid NOT NULL,
    event_type  text NOT NULL,
    occurred_at timestamptz NOT NULL,
    summary     jsonb NOT NULL,
    PRIMARY KEY (video_id, sequence)
);

-- Videos per status of each owner.
CREATE TABLE owner_video_counts_g1 (
    owner_id        uuid PRIMARY KEY,
    queued          bigint NOT NULL DEFAULT 0,
    processing      bigint NOT NULL DEFAULT 0,
    retry_scheduled bigint NOT NULL DEFAULT 0,
    completed       bigint NOT NULL DEFAULT 0,
    failed          bigint NOT NULL DEFAULT 0,
    deleted         bigint NOT NULL DEFAULT 0
);

CREATE VIEW videos AS SELECT * FROM videos_g1;
CREATE VIEW video_timeline AS SELECT * FROM video_timeline_g1;
CREATE VIEW owner_video_counts AS SELECT * FROM owner_video_counts_g1;

INSERT INTO projection_generations (name, generation) VALUES ('videos', 1);
INSERT INTO projection_checkpoints (name, generation, last_sequence) VALUES ('videos', 1, 0);
"#;
