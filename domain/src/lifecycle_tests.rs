//! Every transition and every rejection of the video lifecycle, plus property tests over command sequences.

use pretty_assertions::assert_eq;
use proptest::prelude::*;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::testing::{self, SpecRanges, given};
use crate::{
    ArchiveObject, AttemptFailure, Command, Event, ExtractionSpec, FailureCode, ImageFormat, Rational,
    Selection, SourceObject, SpecError, UserId, Video, VideoError, VideoId, VideoStatus, decide, evolve,
};

const AT: OffsetDateTime = OffsetDateTime::UNIX_EPOCH;

fn video_id() -> VideoId {
    VideoId::from_uuid(Uuid::from_u128(1))
}
fn owner() -> UserId {
    UserId::from_uuid(Uuid::from_u128(10))
}
fn stranger() -> UserId {
    UserId::from_uuid(Uuid::from_u128(11))
}
fn source() -> SourceObject {
    SourceObject {
        key: "sources/1".into(),
        file_name: "clip.mp4".into(),
        size_bytes: 1234,
        content_type: "video/mp4".into(),
    }
}
fn archive() -> ArchiveObject {
    ArchiveObject {
        key: "archives/1/0.zip".into(),
        size_bytes: 99,
        sha256: "ab".repeat(32),
        frame_count: 10,
    }
}
fn register() -> Command {
    Command::RegisterUpload {
        video_id: video_id(),
        owner: owner(),
        source: source(),
        spec: ExtractionSpec::default(),
        at: AT,
    }
}
fn uploaded() -> Event {
    Event::Uploaded {
        video_id: video_id(),
        owner: owner(),
        source: source(),
        spec: ExtractionSpec::default(),
        at: AT,
    }
}
fn start(job: u32, attempt: u32) -> Command {
    Command::StartProcessing { job, attempt, at: AT }
}
fn started(job: u32, attempt: u32) -> Event {
    Event::ProcessingStarted { job, attempt, at: AT }
}
fn complete(job: u32, attempt: u32) -> Command {
    Command::CompleteProcessing {
        job,
        attempt,
        archive: archive(),
        at: AT,
    }
}
fn completed(job: u32, attempt: u32) -> Event {
    Event::Completed {
        job,
        attempt,
        archive: archive(),
        at: AT,
    }
}
/// The failure a processor reports for an attempt (and that is recorded as it was reported).
fn attempt_failure(job: u32, attempt: u32, code: FailureCode, will_retry: bool) -> AttemptFailure {
    AttemptFailure {
        job,
        attempt,
        code,
        message: "boom".into(),
        will_retry,
        at: AT,
    }
}
fn fail(job: u32, attempt: u32, code: FailureCode, will_retry: bool) -> Command {
    Command::FailProcessing(attempt_failure(job, attempt, code, will_retry))
}
fn failed(job: u32, attempt: u32, code: FailureCode, will_retry: bool) -> Event {
    Event::Failed(attempt_failure(job, attempt, code, will_retry))
}
fn reprocess(by: UserId, spec: Option<ExtractionSpec>) -> Command {
    Command::RequestReprocess { by, spec, at: AT }
}
fn delete(by: UserId) -> Command {
    Command::DeleteVideo { by, at: AT }
}
fn abandon(job: u32, deliveries: u32) -> Command {
    Command::AbandonJob {
        job,
        deliveries,
        at: AT,
    }
}
fn exhausted(job: u32, attempt: u32, deliveries: u32) -> Event {
    Event::Failed(AttemptFailure {
        job,
        attempt,
        code: FailureCode::AttemptsExhausted,
        message: format!("gave up after {deliveries} deliveries without a result"),
        will_retry: false,
        at: AT,
    })
}
/// A reprocess of a video whose first job (job 0) finished, as job 1 with `spec`.
fn reprocess_requested(spec: ExtractionSpec) -> Event {
    Event::ReprocessRequested { job: 1, spec, at: AT }
}
/// Job 0 uploaded and its first attempt completed.
fn completed_history() -> [Event; 3] {
    [uploaded(), started(0, 1), completed(0, 1)]
}
/// Job 0 uploaded, then its attempt `attempt` started and failed with `code`.
fn failed_history(attempt: u32, code: FailureCode, will_retry: bool) -> [Event; 3] {
    [
        uploaded(),
        started(0, attempt),
        failed(0, attempt, code, will_retry),
    ]
}
fn jpeg_spec() -> ExtractionSpec {
    ExtractionSpec {
        selection: Selection::Every {
            seconds: Rational::new(2, 1),
        },
        format: ImageFormat::Jpeg { quality: 85 },
        max_width: Some(640),
        max_height: None,
        storyboard: None,
    }
}

// --- upload -------------------------------------------------------------------------------------------------

#[test]
fn upload_of_a_new_video_is_queued() {
    let state = given([]).when(register()).then([uploaded()]);
    assert_eq!(state.status, VideoStatus::Queued);
    assert_eq!(state.owner, Some(owner()));
    assert_eq!(state.job, 0);
}

#[test]
fn upload_with_an_invalid_spec_is_rejected() {
    let spec = ExtractionSpec {
        selection: Selection::Count { count: 0 },
        ..ExtractionSpec::default()
    };
    let command = Command::RegisterUpload {
        video_id: video_id(),
        owner: owner(),
        source: source(),
        spec,
        at: AT,
    };
    given([])
        .when(command)
        .then_err(VideoError::InvalidSpec(SpecError::CountOutOfRange {
            max: 100_000,
        }));
}

#[test]
fn upload_over_an_existing_video_is_rejected() {
    given([uploaded()])
        .when(register())
        .then_err(VideoError::AlreadyExists);
    given(completed_history())
        .when(register())
        .then_err(VideoError::AlreadyExists);
}

#[test]
fn upload_over_a_deleted_video_is_rejected() {
    given([uploaded(), Event::Deleted { at: AT }])
        .when(register())
        .then_err(VideoError::Deleted);
}

/// One of each command that follows an upload, by the owner, on job 0's first attempt (a failure that
/// `will_retry` or not).
fn commands_after_upload(will_retry: bool) -> [Command; 5] {
    [
        start(0, 1),
        complete(0, 1),
        fail(0, 1, FailureCode::Internal, will_retry),
        reprocess(owner(), None),
        delete(owner()),
    ]
}

#[test]
fn commands_on_a_video_never_uploaded_are_not_found() {
    for command in commands_after_upload(true) {
        given([]).when(command).then_err(VideoError::NotFound);
    }
}

// --- processing -----------------------------------------------------------------------------------------------

#[test]
fn a_queued_video_starts_processing() {
    let state = given([uploaded()]).when(start(0, 1)).then([started(0, 1)]);
    assert_eq!((state.status, state.attempt), (VideoStatus::Processing, 1));
}

#[test]
fn attempt_numbers_start_at_one() {
    given([uploaded()])
        .when(start(0, 0))
        .then_err(VideoError::InvalidAttempt);
}

#[test]
fn a_delivery_that_crashed_before_starting_leaves_a_gap_in_attempts() {
    given([uploaded()]).when(start(0, 3)).then([started(0, 3)]);
}

#[test]
fn a_redelivery_takes_over_a_stale_attempt() {
    let state = given([uploaded(), started(0, 1)])
        .when(start(0, 2))
        .then([started(0, 2)]);
    assert_eq!(state.attempt, 2);
}

#[test]
fn an_old_delivery_cannot_start_over_a_newer_attempt() {
    given([uploaded(), started(0, 2)])
        .when(start(0, 2))
        .then_err(VideoError::AttemptSuperseded { current: 2, got: 2 });
    given([uploaded(), started(0, 2)])
        .when(start(0, 1))
        .then_err(VideoError::AttemptSuperseded { current: 2, got: 1 });
}

#[test]
fn a_start_for_another_job_is_stale() {
    given([uploaded()])
        .when(start(1, 1))
        .then_err(VideoError::StaleJob { current: 0, got: 1 });
    let reprocessed = [
        uploaded(),
        started(0, 1),
        completed(0, 1),
        reprocess_requested(ExtractionSpec::default()),
    ];
    given(reprocessed.clone())
        .when(start(0, 2))
        .then_err(VideoError::StaleJob { current: 1, got: 0 });
    given(reprocessed).when(start(1, 1)).then([started(1, 1)]);
}

#[test]
fn a_running_attempt_completes() {
    let state = given([uploaded(), started(0, 1)])
        .when(complete(0, 1))
        .then([completed(0, 1)]);
    assert_eq!(state.status, VideoStatus::Completed);
    assert_eq!(state.archive, Some(archive()));
}

#[test]
fn completion_needs_a_running_attempt() {
    given([uploaded()])
        .when(complete(0, 1))
        .then_err(VideoError::NotProcessing(VideoStatus::Queued));
    given(completed_history())
        .when(complete(0, 1))
        .then_err(VideoError::NotProcessing(VideoStatus::Completed));
}

#[test]
fn a_superseded_attempt_cannot_complete_or_fail() {
    let history = [uploaded(), started(0, 1), started(0, 2)];
    given(history.clone())
        .when(complete(0, 1))
        .then_err(VideoError::AttemptSuperseded { current: 2, got: 1 });
    given(history)
        .when(fail(0, 1, FailureCode::Internal, true))
        .then_err(VideoError::AttemptSuperseded { current: 2, got: 1 });
}

/// Job 0's running first attempt fails with `code`: the failure is recorded as reported.
fn first_attempt_fails(code: FailureCode, will_retry: bool) -> Video {
    given([uploaded(), started(0, 1)])
        .when(fail(0, 1, code, will_retry))
        .then([failed(0, 1, code, will_retry)])
}

#[test]
fn a_retryable_failure_schedules_a_retry_that_a_later_delivery_starts() {
    let state = first_attempt_fails(FailureCode::StorageUnavailable, true);
    assert_eq!(state.status, VideoStatus::RetryScheduled);
    let history = failed_history(1, FailureCode::StorageUnavailable, true);
    let state = given(history.clone()).when(start(0, 2)).then([started(0, 2)]);
    assert_eq!(state.failure, None);
    given(history)
        .when(start(0, 1))
        .then_err(VideoError::AttemptSuperseded { current: 1, got: 1 });
}

#[test]
fn a_bad_input_failure_is_final() {
    let state = first_attempt_fails(FailureCode::CorruptInput, false);
    assert_eq!(state.status, VideoStatus::Failed);
    assert_eq!(state.failure, Some((FailureCode::CorruptInput, "boom".into())));
}

#[test]
fn bad_input_cannot_be_retried() {
    given([uploaded(), started(0, 1)])
        .when(fail(0, 1, FailureCode::CorruptInput, true))
        .then_err(VideoError::NotRetryable(FailureCode::CorruptInput));
    given([uploaded(), started(0, 1)])
        .when(fail(0, 1, FailureCode::AttemptsExhausted, true))
        .then_err(VideoError::NotRetryable(FailureCode::AttemptsExhausted));
}

#[test]
fn the_last_delivery_ends_with_attempts_exhausted() {
    let state = given([
        uploaded(),
        started(0, 1),
        failed(0, 1, FailureCode::StorageUnavailable, true),
        started(0, 2),
    ])
    .when(fail(0, 2, FailureCode::AttemptsExhausted, false))
    .then([failed(0, 2, FailureCode::AttemptsExhausted, false)]);
    assert_eq!(state.status, VideoStatus::Failed);
}

#[test]
fn finished_jobs_do_not_start_again() {
    assert_finished_job_refuses(start(0, 2), failed_history(1, FailureCode::TooLong, false));
}

/// `command` is refused once job 0 has completed, and once it has ended as `failed`.
fn assert_finished_job_refuses(command: Command, failed: [Event; 3]) {
    given(completed_history())
        .when(command.clone())
        .then_err(VideoError::AlreadyCompleted);
    given(failed).when(command).then_err(VideoError::AlreadyFailed);
}

#[test]
fn failing_needs_a_running_attempt() {
    given([uploaded()])
        .when(fail(0, 1, FailureCode::Internal, false))
        .then_err(VideoError::NotProcessing(VideoStatus::Queued));
}

// --- reprocess ------------------------------------------------------------------------------------------------

#[test]
fn a_completed_video_is_reprocessed_with_a_new_spec_as_the_next_job() {
    let state = given(completed_history())
        .when(reprocess(owner(), Some(jpeg_spec())))
        .then([reprocess_requested(jpeg_spec())]);
    assert_eq!(
        (state.status, state.job, state.attempt, state.spec),
        (VideoStatus::Queued, 1, 0, jpeg_spec())
    );
    assert_eq!(
        state.archive,
        Some(archive()),
        "the previous archive stays until the new one replaces it"
    );
}

#[test]
fn a_failed_video_is_reprocessed_with_its_spec() {
    given(failed_history(1, FailureCode::AttemptsExhausted, false))
        .when(reprocess(owner(), None))
        .then([reprocess_requested(ExtractionSpec::default())]);
}

#[test]
fn reprocess_is_rejected_while_a_job_is_pending() {
    given([uploaded()])
        .when(reprocess(owner(), None))
        .then_err(VideoError::ReprocessNotAllowed(VideoStatus::Queued));
    given([uploaded(), started(0, 1)])
        .when(reprocess(owner(), None))
        .then_err(VideoError::ReprocessNotAllowed(VideoStatus::Processing));
    given(failed_history(1, FailureCode::StorageUnavailable, true))
        .when(reprocess(owner(), None))
        .then_err(VideoError::ReprocessNotAllowed(VideoStatus::RetryScheduled));
}

#[test]
fn reprocess_with_an_invalid_spec_is_rejected() {
    let bad = ExtractionSpec {
        format: ImageFormat::Jpeg { quality: 101 },
        ..ExtractionSpec::default()
    };
    given(completed_history())
        .when(reprocess(owner(), Some(bad)))
        .then_err(VideoError::InvalidSpec(SpecError::QualityOutOfRange));
}

#[test]
fn only_the_owner_reprocesses_or_deletes() {
    let history = completed_history();
    given(history.clone())
        .when(reprocess(stranger(), None))
        .then_err(VideoError::NotOwner);
    given(history)
        .when(delete(stranger()))
        .then_err(VideoError::NotOwner);
}

// --- delete ---------------------------------------------------------------------------------------------------

#[test]
fn delete_is_accepted_from_every_live_state() {
    let histories: [Vec<Event>; 5] = [
        vec![uploaded()],
        vec![uploaded(), started(0, 1)],
        failed_history(1, FailureCode::StorageUnavailable, true).to_vec(),
        completed_history().to_vec(),
        failed_history(1, FailureCode::CorruptInput, false).to_vec(),
    ];
    for history in histories {
        let state = given(history)
            .when(delete(owner()))
            .then([Event::Deleted { at: AT }]);
        assert_eq!(state.status, VideoStatus::Deleted);
    }
}

#[test]
fn nothing_happens_to_a_deleted_video() {
    let history = [uploaded(), Event::Deleted { at: AT }];
    for command in commands_after_upload(false) {
        given(history.clone()).when(command).then_err(VideoError::Deleted);
    }
}

#[test]
fn a_processor_finishing_after_delete_is_told_the_video_is_gone() {
    given([uploaded(), started(0, 1), Event::Deleted { at: AT }])
        .when(complete(0, 1))
        .then_err(VideoError::Deleted);
}

#[test]
fn event_types_are_stable_strings() {
    let events = [
        uploaded(),
        started(0, 1),
        completed(0, 1),
        failed(0, 1, FailureCode::Internal, false),
        reprocess_requested(ExtractionSpec::default()),
        Event::Deleted { at: AT },
    ];
    let types: Vec<_> = events.iter().map(Event::event_type).collect();
    assert_eq!(types, Event::TYPES);
}

#[test]
fn statuses_are_stable_strings_that_parse_back() {
    let names: Vec<_> = VideoStatus::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(
        names,
        [
            "queued",
            "processing",
            "retry_scheduled",
            "completed",
            "failed",
            "deleted"
        ]
    );
    for status in VideoStatus::ALL {
        assert_eq!(status.as_str().parse(), Ok(status));
    }
    assert!("Queued".parse::<VideoStatus>().is_err());
}

// --- properties -----------------------------------------------------------------------------------------------

fn arb_spec() -> impl Strategy<Value = ExtractionSpec> {
    // Past the limits too: `decide` validates the spec.
    testing::arb_spec(SpecRanges {
        numerator: 0..5,
        denominator: 0..3,
        count: 0..20,
        quality: 0..=101,
        max_width: 0..2000,
        max_height: None,
    })
}

fn arb_code() -> impl Strategy<Value = FailureCode> {
    proptest::sample::select(FailureCode::ALL.to_vec())
}

fn arb_command() -> impl Strategy<Value = Command> {
    let who = prop_oneof![4 => Just(owner()), 1 => Just(stranger())];
    prop_oneof![
        arb_spec().prop_map(|spec| Command::RegisterUpload {
            video_id: video_id(),
            owner: owner(),
            source: source(),
            spec,
            at: AT
        }),
        (0u32..3, 0u32..5).prop_map(|(job, attempt)| start(job, attempt)),
        (0u32..3, 0u32..5).prop_map(|(job, attempt)| complete(job, attempt)),
        (0u32..3, 0u32..5, arb_code(), any::<bool>())
            .prop_map(|(job, attempt, code, retry)| fail(job, attempt, code, retry)),
        (who.clone(), proptest::option::of(arb_spec())).prop_map(|(by, spec)| reprocess(by, spec)),
        who.prop_map(delete),
        (0u32..3, 0u32..6).prop_map(|(job, deliveries)| abandon(job, deliveries)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// Whatever commands arrive, in whatever order, the decided events fold to a valid state, replaying them gives the
    /// same state, and a rejection leaves the state untouched.
    #[test]
    fn any_command_sequence_folds_to_a_valid_state(commands in proptest::collection::vec(arb_command(), 0..40)) {
        let mut state = Video::default();
        let mut log: Vec<Event> = Vec::new();
        for command in commands {
            let before = state.clone();
            match decide(&state, command) {
                Ok(events) => {
                    prop_assert!(!events.is_empty(), "an accepted command emits at least one event");
                    for event in &events {
                        let next = evolve(state.clone(), event);
                        prop_assert!(allowed_transition(state.status, next.status), "{:?} -> {:?} by {:?}", state.status, next.status, event);
                        state = next;
                    }
                    log.extend(events);
                }
                Err(_) => prop_assert_eq!(&state, &before),
            }
            prop_assert_eq!(state.invariant_violation(), None, "{:?}", state);
        }
        prop_assert_eq!(Video::from_events(&log), state.clone());
        // Attempts only grow within a job, and jobs only grow.
        let mut last = (0u32, 0u32);
        for event in &log {
            if let Event::ProcessingStarted { job, attempt, .. } = event {
                prop_assert!((*job, *attempt) > last, "{:?} after {:?}", (job, attempt), last);
                last = (*job, *attempt);
            }
        }
        // Nothing follows a deletion.
        if let Some(pos) = log.iter().position(|e| matches!(e, Event::Deleted { .. })) {
            prop_assert_eq!(pos, log.len() - 1);
        }
    }
}

/// The edges of the state machine drawn in DESIGN.md.
fn allowed_transition(from: VideoStatus, to: VideoStatus) -> bool {
    use VideoStatus::*;
    matches!(
        (from, to),
        (New, Queued)
            | (Queued | Processing | RetryScheduled, Processing)
            | (Processing, Completed | Failed | RetryScheduled)
            // A max-deliveries advisory ends a job whose last delivery left no final event.
            | (Queued | RetryScheduled, Failed)
            | (Completed | Failed, Queued)
            | (Queued | Processing | RetryScheduled | Completed | Failed, Deleted)
    )
}

// --- abandoned jobs (max-deliveries advisory) ----------------------------------------------------------------

#[test]
fn an_abandoned_running_attempt_ends_attempts_exhausted() {
    let state = given([uploaded(), started(0, 4)])
        .when(abandon(0, 4))
        .then([exhausted(0, 4, 4)]);
    assert_eq!(state.status, VideoStatus::Failed);
    assert_eq!(
        state.failure.map(|(code, _)| code),
        Some(FailureCode::AttemptsExhausted)
    );
}

#[test]
fn a_job_that_never_started_or_waits_for_a_retry_can_be_abandoned() {
    given([uploaded()]).when(abandon(0, 4)).then([exhausted(0, 4, 4)]);
    given(failed_history(3, FailureCode::StorageUnavailable, true))
        .when(abandon(0, 4))
        .then([exhausted(0, 4, 4)]);
}

#[test]
fn abandoning_a_finished_or_other_job_is_rejected() {
    assert_finished_job_refuses(
        abandon(0, 4),
        failed_history(4, FailureCode::AttemptsExhausted, false),
    );
    given([uploaded()])
        .when(abandon(1, 4))
        .then_err(VideoError::StaleJob { current: 0, got: 1 });
}

#[test]
fn nothing_starts_after_an_abandoned_job() {
    given([uploaded(), started(0, 2), exhausted(0, 4, 4)])
        .when(start(0, 5))
        .then_err(VideoError::AlreadyFailed);
}
