//! Login timing: a wrong password for a known e-mail against an unknown e-mail (verified against the decoy hash),
//! with the production argon2id parameters. The ratio should be close to 1.0: the response time must not tell
//! whether an account exists. Also prints the cost of one verification (what a login costs the server).

use std::time::{Duration, Instant};

use fiapx_auth::{Argon2Settings, Passwords};

const ROUNDS: usize = 40;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

#[tokio::main]
async fn main() {
    let passwords = Passwords::new(Argon2Settings::default()).expect("default argon2 parameters");
    let hash = passwords
        .hash("correct horse battery".into())
        .await
        .expect("hash");
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    // Interleaved, so that machine noise hits both sides alike.
    for _ in 0..ROUNDS {
        let started = Instant::now();
        assert!(
            !passwords
                .verify("wrong horse battery".into(), Some(hash.clone()))
                .await
        );
        known.push(started.elapsed());
        let started = Instant::now();
        assert!(!passwords.verify("wrong horse battery".into(), None).await);
        unknown.push(started.elapsed());
    }
    let (known, unknown) = (median(known), median(unknown));
    println!("login timing, argon2id m=19MiB t=2 p=1, {ROUNDS} interleaved rounds (medians)");
    println!(
        "  wrong password, known e-mail: {:>8.2} ms",
        known.as_secs_f64() * 1e3
    );
    println!(
        "  unknown e-mail (decoy hash):  {:>8.2} ms",
        unknown.as_secs_f64() * 1e3
    );
    println!(
        "  ratio unknown/known: {:.3} (1.0 = indistinguishable)",
        unknown.as_secs_f64() / known.as_secs_f64()
    );
}
