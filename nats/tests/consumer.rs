//! The consumer runner against a real nats-server: outcomes, heartbeats, restarts, slots and batches.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull};
use fiapx_nats::test_support::NatsServer;
use fiapx_nats::{BatchHandler, ConsumerRunner, ConsumerSpec, Handler, Outcome, Pull};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const STREAM: &str = "RUNNER";

async fn setup() -> (NatsServer, jetstream::Context) {
    let server = NatsServer::start();
    let client = async_nats::connect(&server.settings().url).await.unwrap();
    let js = jetstream::new(client);
    js.create_stream(jetstream::stream::Config {
        name: STREAM.into(),
        subjects: vec!["work.>".into()],
        ..Default::default()
    })
    .await
    .unwrap();
    (server, js)
}

fn spec(ack_wait: Duration) -> ConsumerSpec {
    ConsumerSpec::new(
        STREAM,
        pull::Config {
            durable_name: Some("runner".into()),
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            ack_wait,
            max_deliver: 5,
            ..Default::default()
        },
    )
}

/// Runs `handler` on a runner of `spec` in a task; cancel the token and await the task to stop it.
fn start<H: Handler>(
    js: &jetstream::Context,
    spec: ConsumerSpec,
    handler: H,
) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let runner = ConsumerRunner::new(js.clone(), spec);
    let shutdown = CancellationToken::new();
    let task = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { runner.run(handler, shutdown).await }
    });
    (shutdown, task)
}

async fn publish(js: &jetstream::Context, subject: &str) {
    js.publish(subject.to_owned(), "x".into())
        .await
        .unwrap()
        .await
        .unwrap();
}

/// Says what each subject wants and reports every delivery as (subject, delivery count).
struct Scripted {
    seen: mpsc::UnboundedSender<(String, i64)>,
    slow: Duration,
}

impl Handler for Scripted {
    async fn handle(&self, message: &jetstream::Message) -> Outcome {
        let delivered = message.info().unwrap().delivered;
        self.seen.send((message.subject.to_string(), delivered)).unwrap();
        match (message.subject.as_str(), delivered) {
            ("work.nak", 1) => Outcome::Nak(Duration::ZERO),
            ("work.term", _) => Outcome::Term,
            ("work.slow", _) => {
                tokio::time::sleep(self.slow).await;
                Outcome::Ack
            }
            _ => Outcome::Ack,
        }
    }
}

async fn expect(seen: &mut mpsc::UnboundedReceiver<(String, i64)>) -> (String, i64) {
    tokio::time::timeout(Duration::from_secs(10), seen.recv())
        .await
        .expect("a delivery")
        .expect("runner alive")
}

async fn quiet(seen: &mut mpsc::UnboundedReceiver<(String, i64)>, for_: Duration) {
    if let Ok(Some(extra)) = tokio::time::timeout(for_, seen.recv()).await {
        panic!("unexpected delivery {extra:?}");
    }
}

#[tokio::test]
async fn outcomes_are_carried_out_and_heartbeats_keep_slow_work() {
    let (_server, js) = setup().await;
    let (tx, mut seen) = mpsc::unbounded_channel();
    let handler = Scripted {
        seen: tx,
        slow: Duration::from_secs(5),
    };
    let (shutdown, task) = start(&js, spec(Duration::from_secs(2)), handler);

    publish(&js, "work.nak").await;
    assert_eq!(expect(&mut seen).await, ("work.nak".into(), 1));
    assert_eq!(expect(&mut seen).await, ("work.nak".into(), 2));
    publish(&js, "work.term").await;
    assert_eq!(expect(&mut seen).await, ("work.term".into(), 1));
    // Slower than ack_wait (2 s): only the runner's Progress acks keep it from a redelivery.
    publish(&js, "work.slow").await;
    assert_eq!(expect(&mut seen).await, ("work.slow".into(), 1));
    quiet(&mut seen, Duration::from_secs(7)).await;

    shutdown.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn a_deleted_consumer_is_created_again() {
    let (_server, js) = setup().await;
    let (tx, mut seen) = mpsc::unbounded_channel();
    let one_per_slot = ConsumerSpec {
        pull: Pull::OnePerSlot {
            expires: Duration::from_secs(1),
        },
        ..spec(Duration::from_secs(30))
    };
    let handler = Scripted {
        seen: tx,
        slow: Duration::ZERO,
    };
    let (shutdown, task) = start(&js, one_per_slot, handler);
    publish(&js, "work.one").await;
    assert_eq!(expect(&mut seen).await, ("work.one".into(), 1));
    js.get_stream(STREAM)
        .await
        .unwrap()
        .delete_consumer("runner")
        .await
        .unwrap();
    // The recreated consumer starts over (deliver all): both messages come, the new one included.
    publish(&js, "work.two").await;
    let mut subjects = Vec::new();
    while !subjects.contains(&"work.two".to_owned()) {
        subjects.push(expect(&mut seen).await.0);
    }
    shutdown.cancel();
    task.await.unwrap();
}

/// Holds every handler until released; counts how many run at once.
struct Gate {
    running: Arc<AtomicUsize>,
    release: Arc<tokio::sync::Notify>,
}

impl Handler for Gate {
    async fn handle(&self, _message: &jetstream::Message) -> Outcome {
        self.running.fetch_add(1, Ordering::SeqCst);
        self.release.notified().await;
        Outcome::Ack
    }
}

#[tokio::test]
async fn a_busy_runner_pulls_nothing_beyond_its_slots() {
    let (_server, js) = setup().await;
    for _ in 0..5 {
        publish(&js, "work.job").await;
    }
    let two_slots = ConsumerSpec {
        pull: Pull::OnePerSlot {
            expires: Duration::from_secs(1),
        },
        concurrency: 2,
        shutdown_grace: Duration::from_millis(200),
        ..spec(Duration::from_secs(30))
    };
    let running = Arc::new(AtomicUsize::new(0));
    let handler = Gate {
        running: Arc::clone(&running),
        release: Arc::new(tokio::sync::Notify::new()),
    };
    let (shutdown, task) = start(&js, two_slots, handler);
    while running.load(Ordering::SeqCst) < 2 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(running.load(Ordering::SeqCst), 2);
    let mut consumer: jetstream::consumer::PullConsumer = js
        .get_stream(STREAM)
        .await
        .unwrap()
        .get_consumer("runner")
        .await
        .unwrap();
    let info = consumer.info().await.unwrap();
    // Two taken, three left for other processes.
    assert_eq!((info.num_ack_pending, info.num_pending), (2, 3));
    // The stop abandons both (grace over), un-acked: they come back to the next process.
    shutdown.cancel();
    task.await.unwrap();
}

/// Records batches; naks the first one as a whole.
struct Batches {
    seen: mpsc::UnboundedSender<Vec<u64>>,
    calls: AtomicUsize,
}

impl BatchHandler for Batches {
    type Error = String;

    async fn handle_batch(&self, messages: &[jetstream::Message]) -> Result<Outcome, String> {
        let sequences = messages
            .iter()
            .map(|m| m.info().unwrap().stream_sequence)
            .collect();
        self.seen.send(sequences).unwrap();
        if self.calls.fetch_add(1, Ordering::SeqCst) == 0 {
            return Ok(Outcome::Nak(Duration::from_millis(300)));
        }
        Ok(Outcome::Ack)
    }
}

#[tokio::test]
async fn batches_come_in_order_and_a_naked_batch_comes_back() {
    let (_server, js) = setup().await;
    for _ in 0..4 {
        publish(&js, "work.event").await;
    }
    let runner = ConsumerRunner::new(
        js.clone(),
        ConsumerSpec {
            pull: Pull::Stream {
                batch: Some(16),
                heartbeat: None,
                expires: None,
            },
            ..spec(Duration::from_secs(30))
        },
    );
    let (tx, mut seen) = mpsc::unbounded_channel();
    let shutdown = CancellationToken::new();
    let handler = Batches {
        seen: tx,
        calls: AtomicUsize::new(0),
    };
    let task = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { runner.run_batches(handler, shutdown).await }
    });
    let recv = async |seen: &mut mpsc::UnboundedReceiver<Vec<u64>>| {
        let batch = tokio::time::timeout(Duration::from_secs(10), seen.recv())
            .await
            .unwrap()
            .unwrap();
        let mut sorted = batch.clone();
        sorted.sort_unstable();
        assert_eq!(batch, sorted, "a batch is in stream order");
        batch
    };
    let naked = recv(&mut seen).await;
    assert_eq!(naked.first(), Some(&1));
    // Every message of the naked batch comes again, and every later batch is acked.
    let mut acked = std::collections::BTreeSet::new();
    while acked.len() < 4 {
        acked.extend(recv(&mut seen).await);
    }
    assert_eq!(acked.into_iter().collect::<Vec<_>>(), vec![1, 2, 3, 4]);
    shutdown.cancel();
    task.await.unwrap();
}
