//! The persisted formats: committed JSON Schemas match the code, every historical fixture decodes through the one
//! upcast path, and current events survive a round trip.

use std::fs;
use std::path::{Path, PathBuf};

use fiapx_domain::testing::{self, SpecRanges};
use fiapx_domain::{
    ArchiveObject, AttemptFailure, Event, ExtractionSpec, FailureCode, SourceObject, UserId, VideoId,
};
use fiapx_schemas::{CURRENT_VERSIONS, Envelope, SchemaError, decode, encode, schema_files};
use pretty_assertions::assert_eq;
use proptest::prelude::*;
use serde_json::Value;
use uuid::Uuid;

fn dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(name)
}

/// Run with `FIAPX_BLESS=1` to rewrite the committed schemas after an intended change.
#[test]
fn committed_json_schemas_match_the_code() {
    let bless = std::env::var_os("FIAPX_BLESS").is_some();
    let json_dir = dir("json");
    let mut expected_names = Vec::new();
    for file in schema_files() {
        let path = json_dir.join(&file.file_name);
        expected_names.push(file.file_name.clone());
        if bless {
            fs::write(&path, &file.contents).unwrap();
            continue;
        }
        let committed = fs::read_to_string(&path).unwrap_or_else(|_| {
            panic!(
                "{} is missing: run `FIAPX_BLESS=1 cargo test -p fiapx-schemas`",
                path.display()
            )
        });
        assert_eq!(
            committed, file.contents,
            "{} drifted from the code",
            file.file_name
        );
    }
    let mut committed_names: Vec<String> = fs::read_dir(&json_dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    committed_names.sort();
    expected_names.sort();
    assert_eq!(committed_names, expected_names, "stray or missing schema files");
}

struct Fixture {
    name: String,
    envelope: Envelope,
    payload: Value,
}

fn fixtures() -> Vec<Fixture> {
    let mut fixtures: Vec<Fixture> = fs::read_dir(dir("fixtures"))
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            let doc: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
            Fixture {
                name: path.file_name().unwrap().to_string_lossy().into_owned(),
                envelope: serde_json::from_value(doc["envelope"].clone())
                    .unwrap_or_else(|e| panic!("{}: bad envelope: {e}", path.display())),
                payload: doc["payload"].clone(),
            }
        })
        .collect();
    fixtures.sort_by(|a, b| a.name.cmp(&b.name));
    fixtures
}

#[test]
fn every_event_version_ever_written_has_a_fixture_and_a_schema() {
    let fixtures = fixtures();
    let schemas: Vec<String> = schema_files().into_iter().map(|f| f.file_name).collect();
    for (event_type, current) in CURRENT_VERSIONS {
        for version in 1..=current {
            let name = format!("{event_type}.v{version}.json");
            let fixture = fixtures.iter().find(|f| f.name == name);
            let fixture = fixture.unwrap_or_else(|| panic!("no fixture {name}"));
            assert_eq!(
                (
                    fixture.envelope.event_type.as_str(),
                    fixture.envelope.schema_version
                ),
                (event_type, version)
            );
            assert!(
                schemas.contains(&format!("{event_type}.v{version}.schema.json")),
                "no schema for {name}"
            );
        }
    }
}

#[test]
fn every_fixture_decodes_through_the_upcast_path_and_current_ones_reencode_identically() {
    let fixtures = fixtures();
    assert!(fixtures.len() >= CURRENT_VERSIONS.len());
    for fixture in fixtures {
        let bytes = serde_json::to_vec(&fixture.payload).unwrap();
        let event = decode(&fixture.envelope, &bytes).unwrap_or_else(|e| panic!("{}: {e}", fixture.name));
        assert_eq!(
            event.event_type(),
            fixture.envelope.event_type,
            "{}",
            fixture.name
        );
        assert_eq!(event.occurred_at(), fixture.envelope.occurred_at);
        let current = CURRENT_VERSIONS
            .iter()
            .find(|(t, _)| *t == event.event_type())
            .unwrap()
            .1;
        if fixture.envelope.schema_version == current {
            let encoded = encode(&event);
            let reencoded: Value = serde_json::from_slice(&encoded.payload).unwrap();
            assert_eq!(
                reencoded, fixture.payload,
                "{} does not re-encode to itself",
                fixture.name
            );
        }
    }
}

#[test]
fn the_uploaded_fixture_decodes_to_the_expected_domain_event() {
    let fixture = fixtures()
        .into_iter()
        .find(|f| f.name == "uploaded.v1.json")
        .unwrap();
    let event = decode(&fixture.envelope, &serde_json::to_vec(&fixture.payload).unwrap()).unwrap();
    let Event::Uploaded {
        video_id,
        owner,
        source,
        spec,
        ..
    } = event
    else {
        panic!("not uploaded: {event:?}")
    };
    assert_eq!(video_id, fixture.envelope.video_id);
    assert_eq!(owner.to_string(), fixture.payload["owner_id"].as_str().unwrap());
    assert_eq!(source.file_name, "ferias na praia.mp4");
    assert_eq!(spec, ExtractionSpec::default());
}

fn envelope(event_type: &str, version: u32) -> Envelope {
    Envelope {
        event_id: Uuid::now_v7(),
        video_id: VideoId::from_uuid(Uuid::now_v7()),
        event_type: event_type.into(),
        schema_version: version,
        occurred_at: time::OffsetDateTime::UNIX_EPOCH,
        correlation_id: Uuid::now_v7(),
        causation_id: None,
        traceparent: None,
    }
}

#[test]
fn unknown_versions_malformed_payloads_and_unknown_codes_are_typed_errors() {
    let err = decode(&envelope("uploaded", 99), b"{}").unwrap_err();
    assert!(
        matches!(err, SchemaError::UnknownVersion { version: 99, .. }),
        "{err}"
    );
    let err = decode(&envelope("exploded", 1), b"{}").unwrap_err();
    assert!(matches!(err, SchemaError::UnknownVersion { .. }), "{err}");
    let err = decode(&envelope("processing_started", 1), br#"{"job":0}"#).unwrap_err();
    assert!(matches!(err, SchemaError::Malformed { .. }), "{err}");
    let err = decode(&envelope("deleted", 1), br#"{"surprise":1}"#).unwrap_err();
    assert!(
        matches!(err, SchemaError::Malformed { .. }),
        "unknown fields are refused: {err}"
    );
    let payload = br#"{"job":0,"attempt":1,"code":"gremlins","message":"x","will_retry":false}"#;
    let err = decode(&envelope("failed", 1), payload).unwrap_err();
    assert!(matches!(err, SchemaError::Invalid { .. }), "{err}");
}

fn arb_spec() -> impl Strategy<Value = ExtractionSpec> {
    testing::arb_spec(SpecRanges {
        numerator: 1..1000,
        denominator: 1..1000,
        count: 1..1000,
        quality: 1..=100,
        max_width: 16..4000,
        max_height: Some(16..4000),
    })
}

fn arb_event(video_id: VideoId, at: time::OffsetDateTime) -> impl Strategy<Value = Event> {
    let text = "[a-zA-Z0-9 ./çãé_-]{0,40}";
    prop_oneof![
        (any::<u128>(), text, text, any::<u64>(), arb_spec()).prop_map(
            move |(owner, key, name, size, spec)| {
                Event::Uploaded {
                    video_id,
                    owner: UserId::from_uuid(Uuid::from_u128(owner)),
                    source: SourceObject {
                        key,
                        file_name: name,
                        size_bytes: size,
                        content_type: "video/mp4".into(),
                    },
                    spec,
                    at,
                }
            }
        ),
        (any::<u32>(), any::<u32>()).prop_map(move |(job, attempt)| Event::ProcessingStarted {
            job,
            attempt,
            at
        }),
        (any::<u32>(), any::<u32>(), text, any::<u64>(), any::<u32>()).prop_map(
            move |(job, attempt, key, size, frames)| {
                Event::Completed {
                    job,
                    attempt,
                    archive: ArchiveObject {
                        key,
                        size_bytes: size,
                        sha256: "0".repeat(64),
                        frame_count: frames,
                    },
                    at,
                }
            }
        ),
        (
            any::<u32>(),
            any::<u32>(),
            proptest::sample::select(FailureCode::ALL.to_vec()),
            text,
            any::<bool>()
        )
            .prop_map(move |(job, attempt, code, message, will_retry)| Event::Failed(
                AttemptFailure {
                    job,
                    attempt,
                    code,
                    message,
                    will_retry,
                    at
                }
            )),
        (any::<u32>(), arb_spec()).prop_map(move |(job, spec)| Event::ReprocessRequested { job, spec, at }),
        Just(Event::Deleted { at }),
    ]
}

proptest! {
    #[test]
    fn every_current_event_round_trips(event in arb_event(VideoId::from_uuid(Uuid::from_u128(5)), time::macros::datetime!(2026-11-22 12:00 UTC))) {
        let encoded = encode(&event);
        let mut env = envelope(encoded.event_type, encoded.schema_version);
        env.video_id = VideoId::from_uuid(Uuid::from_u128(5));
        env.occurred_at = event.occurred_at();
        prop_assert_eq!(decode(&env, &encoded.payload).unwrap(), event);
    }
}
