//! A given/when/then harness for the video aggregate.
//!
//! `given([uploaded]).when(start(0, 1)).then([started(0, 1)])` folds the history, runs `decide`, and checks
//! the events (and that the state after them keeps every invariant), or `.then_err(error)` checks the rejection.

use crate::video::{Command, Event, Video, VideoError, decide, evolve};

/// The history before the command.
#[must_use = "call .when(command)"]
pub struct Given {
    state: Video,
}

/// The outcome of the command, to be checked.
#[must_use = "call .then(events) or .then_err(error)"]
pub struct When {
    outcome: Result<Vec<Event>, VideoError>,
    state: Video,
}

/// Starts a scenario from a history of events.
pub fn given(events: impl IntoIterator<Item = Event>) -> Given {
    Given {
        state: events
            .into_iter()
            .fold(Video::default(), |video, event| evolve(video, &event)),
    }
}

impl Given {
    /// Runs `decide` on the folded history.
    pub fn when(self, command: Command) -> When {
        When {
            outcome: decide(&self.state, command),
            state: self.state,
        }
    }
}

impl When {
    /// Asserts the command was accepted with exactly these events, and returns the state after them.
    #[track_caller]
    pub fn then(self, expected: impl IntoIterator<Item = Event>) -> Video {
        let expected: Vec<Event> = expected.into_iter().collect();
        match self.outcome {
            Ok(events) => {
                assert_eq!(events, expected, "unexpected events");
                let state = events.iter().fold(self.state, evolve);
                assert_eq!(
                    state.invariant_violation(),
                    None,
                    "state after the events: {state:?}"
                );
                state
            }
            Err(error) => panic!("expected events {expected:?}, got rejection {error:?}"),
        }
    }

    /// Asserts the command was rejected with this error.
    #[track_caller]
    pub fn then_err(self, expected: VideoError) {
        match self.outcome {
            Ok(events) => panic!("expected rejection {expected:?}, got events {events:?}"),
            Err(error) => assert_eq!(error, expected),
        }
    }
}
