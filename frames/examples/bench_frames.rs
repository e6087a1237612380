//! `make bench-frames`: the frame engine against the monolith it replaces and against FFmpeg's decode limit.
//!
//! Variants, each run as a child process so wall time and peak RSS (from `wait4`) are its own, several rounds
//! interleaved so drift on a shared machine hits all of them alike:
//! - baseline: the old monolith, `ffmpeg -vf fps=1` PNGs then `zip` (Deflate);
//! - limit: `ffmpeg -skip_frame noref -i in -f null -`, decoding no more than our selection needs to;
//! - ours, default spec (PNG, fps=1) and JPEG q85.
//!
//! Then memory flatness: peak RSS of ours on a 1-minute and a 10-minute 720p clip.
//!
//! Then sparse selections (`count=10`, `every=30`) on the 10-minute 720p clip: ours (seeking) against the seek
//! limit, one `ffmpeg -ss T -i clip -frames:v 1` run per frame wanted, and against ours decoding through (every
//! reference frame, as before seeking existed).
//!
//! Then the other selection modes on the 1080p clip, each against the ffmpeg CLI doing the same: `keyframes`
//! against `-skip_frame nokey`, `scene=0.3` against `select='gt(scene,0.3)'`; and the cost of a storyboard
//! (`fps=1` with and without `storyboard=10`).
//!
//! Clips are generated once with the ffmpeg CLI into `.state/bench-frames/`. `BENCH_ROUNDS` sets the rounds
//! (default 3); `BENCH_QUICK=1` uses a 20 s clip and skips the long one, for a smoke run; `BENCH_SPARSE_ONLY=1` runs
//! only the sparse selections, `BENCH_MODES_ONLY=1` only the other modes.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use fiapx_domain::{ExtractionSpec, ImageFormat, Position, Selection, Storyboard};
use fiapx_frames::{Extractor, Limits, test_support};

/// Builds the command of one variant for a round.
type CommandFor<'a> = Box<dyn Fn(usize) -> Command + 'a>;

/// Hidden first argument that makes this binary run one extraction in-process (the child of a measurement).
const CHILD_FLAG: &str = "--child-extract";

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(CHILD_FLAG) {
        let selection = args.get(5).map_or("fps=1", String::as_str);
        let through = args.get(6).is_some_and(|mode| mode == "through");
        return child_extract(
            &args[2],
            Path::new(&args[3]),
            Path::new(&args[4]),
            selection,
            through,
        );
    }
    let quick = std::env::var_os("BENCH_QUICK").is_some_and(|v| v != "0");
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .max(1);
    let dir = workspace_root().join(".state/bench-frames");
    std::fs::create_dir_all(&dir)?;
    if std::env::var_os("BENCH_SPARSE_ONLY").is_some_and(|v| v != "0") {
        let work = tempfile::tempdir_in(&dir)?;
        let (clip, seconds) = if quick {
            (generate(&dir, "1080p30", "1920x1080", 20)?, 20)
        } else {
            (generate(&dir, "720p30", "1280x720", 600)?, 600)
        };
        return sparse(&std::env::current_exe()?, &clip, seconds, rounds, work.path());
    }
    let seconds = if quick { 20 } else { 60 };
    let clip = generate(&dir, "1080p30", "1920x1080", seconds)?;
    if std::env::var_os("BENCH_MODES_ONLY").is_some_and(|v| v != "0") {
        let work = tempfile::tempdir_in(&dir)?;
        return modes(&std::env::current_exe()?, &clip, rounds, work.path());
    }
    let work = tempfile::tempdir_in(&dir)?;
    let me = std::env::current_exe()?;
    let clip_s = clip.to_str().context("utf-8 path")?;

    let variants: Vec<(&str, CommandFor<'_>)> = vec![
        (
            "baseline: ffmpeg fps=1 PNG + zip",
            Box::new(|round| {
                let out = work.path().join(format!("baseline{round}"));
                let script = format!(
                    "rm -rf {o} && mkdir -p {o} && ffmpeg -v error -i {clip_s} -vf fps=1 {o}/frame_%04d.png && \
                     zip -q -j {o}.zip {o}/*.png",
                    o = out.display()
                );
                let mut c = Command::new("sh");
                c.arg("-c").arg(script);
                c
            }),
        ),
        (
            "limit: ffmpeg -skip_frame noref -f null",
            Box::new(|_| {
                let mut c = Command::new("ffmpeg");
                c.args([
                    "-v",
                    "error",
                    "-skip_frame",
                    "noref",
                    "-i",
                    clip_s,
                    "-f",
                    "null",
                    "-",
                ]);
                c
            }),
        ),
        (
            "ours: PNG (default spec)",
            Box::new(|round| child(&me, "png", &clip, &work.path().join(format!("png{round}.zip")))),
        ),
        (
            "ours: JPEG q85",
            Box::new(|round| child(&me, "jpeg", &clip, &work.path().join(format!("jpeg{round}.zip")))),
        ),
    ];

    eprintln!(
        "clip: {} ({} s 1080p30 H.264), {rounds} rounds",
        clip.display(),
        seconds
    );
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); variants.len()];
    for round in 0..rounds {
        for (i, (name, command)) in variants.iter().enumerate() {
            let sample = measure(command(round)).with_context(|| format!("running {name}"))?;
            eprintln!(
                "  round {} {name}: {:.2} s, {} MB",
                round + 1,
                sample.wall.as_secs_f64(),
                sample.max_rss_kb / 1024
            );
            samples[i].push(sample);
        }
        // Keep the disk flat between rounds.
        for entry in std::fs::read_dir(work.path())? {
            let path = entry?.path();
            if path.is_dir() {
                std::fs::remove_dir_all(path)?
            } else {
                std::fs::remove_file(path)?
            }
        }
    }

    let medians: Vec<(f64, u64)> = samples
        .iter()
        .map(|s| {
            (
                median(s.iter().map(|x| x.wall.as_secs_f64()).collect()),
                s.iter().map(|x| x.max_rss_kb).max().unwrap_or(0),
            )
        })
        .collect();
    let (baseline, limit) = (medians[0].0, medians[1].0);
    println!();
    println!("| variant | median wall (s) | vs baseline | vs limit | peak RSS (MB) |");
    println!("|---|---:|---:|---:|---:|");
    for ((name, _), (wall, rss)) in variants.iter().zip(&medians) {
        println!(
            "| {name} | {wall:.2} | {:.2}x faster | {:.2}x | {} |",
            baseline / wall,
            wall / limit,
            rss / 1024
        );
    }
    let (ours, ours_rss) = medians[2];
    println!();
    println!(
        "ours (PNG) vs baseline: {:.2}x faster (target >= 1.70x) {}",
        baseline / ours,
        verdict(baseline / ours >= 1.7)
    );
    println!(
        "ours (PNG) vs limit: {:.3}x the wall time (target <= 1.10x) {}",
        ours / limit,
        verdict(ours / limit <= 1.10)
    );
    println!(
        "ours (PNG) peak RSS: {} MB (target < 200 MB) {}",
        ours_rss / 1024,
        verdict(ours_rss < 200 * 1024)
    );

    if !quick {
        let short = generate(&dir, "720p30", "1280x720", 60)?;
        let long = generate(&dir, "720p30", "1280x720", 600)?;
        let a = measure(child(&me, "png", &short, &work.path().join("short.zip")))?;
        let b = measure(child(&me, "png", &long, &work.path().join("long.zip")))?;
        println!();
        println!("| 720p30 clip | wall (s) | peak RSS (MB) |");
        println!("|---|---:|---:|");
        println!(
            "| 1 min | {:.2} | {} |",
            a.wall.as_secs_f64(),
            a.max_rss_kb / 1024
        );
        println!(
            "| 10 min | {:.2} | {} |",
            b.wall.as_secs_f64(),
            b.max_rss_kb / 1024
        );
        let growth = b.max_rss_kb as f64 / a.max_rss_kb.max(1) as f64;
        println!(
            "peak RSS 10 min / 1 min: {growth:.2}x (flat means close to 1) {}",
            verdict(growth < 1.25)
        );
    }

    let (sparse_clip, sparse_seconds) = if quick {
        (clip.clone(), seconds)
    } else {
        (generate(&dir, "720p30", "1280x720", 600)?, 600)
    };
    sparse(&me, &sparse_clip, sparse_seconds, rounds, work.path())?;
    modes(&me, &clip, rounds, work.path())?;
    Ok(())
}

/// The other selection modes against the ffmpeg CLI doing the same, and a storyboard's cost, on `clip`.
fn modes(me: &Path, clip: &Path, rounds: usize, work: &Path) -> anyhow::Result<()> {
    let clip_s = clip.to_str().context("utf-8 path")?;
    let cli = |name: &'static str, before: &'static str, after: &'static str| -> CommandFor<'_> {
        Box::new(move |round| {
            let out = work.join(format!("{name}{round}"));
            let mut c = Command::new("sh");
            c.arg("-c").arg(format!(
                "rm -rf {o} && mkdir -p {o} && ffmpeg -v error {before} -i {clip_s} {after} -fps_mode passthrough \
                 {o}/frame_%04d.png",
                o = out.display()
            ));
            c
        })
    };
    let ours = |name: &'static str, selection: &'static str| -> CommandFor<'_> {
        Box::new(move |round| {
            let mut c = child(me, "png", clip, &work.join(format!("{name}{round}.zip")));
            c.arg(selection).arg("seek");
            c
        })
    };
    let cases: Vec<(&str, &str, CommandFor<'_>, CommandFor<'_>)> = vec![
        (
            "keyframes",
            "ffmpeg -skip_frame nokey",
            cli("nokey", "-skip_frame nokey", ""),
            ours("keyframes", "keyframes"),
        ),
        (
            "scene=0.3",
            "ffmpeg select='gt(scene,0.3)'",
            cli("scene", "", "-vf select='gt(scene\\,0.3)'"),
            ours("scene", "scene=0.3"),
        ),
        (
            "fps=1 + storyboard=10",
            "ours, fps=1 alone",
            ours("plain", "fps=1"),
            ours("storyboard", "fps=1+storyboard=10"),
        ),
    ];
    println!();
    println!("other modes on {}, {rounds} rounds:", clip.display());
    println!("| case | baseline | baseline (s) | ours (s) | ours / baseline |");
    println!("|---|---|---:|---:|---:|");
    for (case, baseline_name, baseline, ours) in &cases {
        let mut walls = [Vec::new(), Vec::new()];
        for round in 0..rounds {
            for (i, command) in [baseline, ours].into_iter().enumerate() {
                let sample = measure(command(round)).with_context(|| format!("{case}, variant {i}"))?;
                walls[i].push(sample.wall.as_secs_f64());
            }
        }
        let [base, mine] = walls.map(median);
        println!(
            "| {case} | {baseline_name} | {base:.2} | {mine:.2} | {:.2}x |",
            mine / base
        );
    }
    Ok(())
}

/// Sparse selections on `clip` (`seconds` long): ours seeking, the seek limit, ours decoding through.
fn sparse(me: &Path, clip: &Path, seconds: u32, rounds: usize, work: &Path) -> anyhow::Result<()> {
    let seconds = f64::from(seconds);
    let every = (seconds / 20.0).round().max(1.0);
    let cases = [
        (
            "count=10".to_owned(),
            (0..10)
                .map(|i| (f64::from(i) + 0.5) * seconds / 10.0)
                .collect::<Vec<_>>(),
        ),
        (
            format!("every={every}"),
            (0..(seconds / every).round() as u32)
                .map(|i| f64::from(i) * every)
                .collect(),
        ),
    ];
    let clip_s = clip.to_str().context("utf-8 path")?;
    println!();
    println!(
        "sparse selections on {} ({seconds} s), {rounds} rounds:",
        clip.display()
    );
    println!(
        "| selection | seek limit: one ffmpeg -ss per frame (s) | ours, seeking (s) | ours, decoding through (s) | ours / seek limit | through / ours |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (selection, times) in &cases {
        let variants: Vec<CommandFor<'_>> = vec![
            Box::new(|round| {
                let out = work.join(format!("seek{round}"));
                let script = times
                    .iter()
                    .enumerate()
                    .map(|(i, t)| {
                        format!(
                            "ffmpeg -v error -ss {t:.3} -i {clip_s} -frames:v 1 {}/frame_{i:04}.png",
                            out.display()
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(" && ");
                let mut c = Command::new("sh");
                c.arg("-c").arg(format!(
                    "rm -rf {o} && mkdir -p {o} && {script}",
                    o = out.display()
                ));
                c
            }),
            Box::new(|round| {
                let mut c = child(me, "png", clip, &work.join(format!("sparse{round}.zip")));
                c.arg(selection).arg("seek");
                c
            }),
            Box::new(|round| {
                let mut c = child(me, "png", clip, &work.join(format!("through{round}.zip")));
                c.arg(selection).arg("through");
                c
            }),
        ];
        let mut walls = vec![Vec::new(); variants.len()];
        for round in 0..rounds {
            for (i, command) in variants.iter().enumerate() {
                let sample = measure(command(round)).with_context(|| format!("{selection}, variant {i}"))?;
                walls[i].push(sample.wall.as_secs_f64());
            }
        }
        let [limit, ours, through] = [0, 1, 2].map(|i| median(walls[i].clone()));
        println!(
            "| {selection} | {limit:.2} | {ours:.2} | {through:.2} | {:.2}x | {:.1}x |",
            ours / limit,
            through / ours
        );
        println!(
            "{selection}: ours within 1.2x of the seek limit {}, at least 10x faster than decoding through {}",
            verdict(ours / limit <= 1.2),
            verdict(through / ours >= 10.0)
        );
    }
    Ok(())
}

fn verdict(ok: bool) -> &'static str {
    if ok { "OK" } else { "MISSED" }
}

fn child(me: &Path, format: &str, input: &Path, output: &Path) -> Command {
    let mut c = Command::new(me);
    c.arg(CHILD_FLAG).arg(format).arg(input).arg(output);
    c
}

/// One extraction with the library, as the processor service runs it: `selection` is `fps=N`, `every=N`,
/// `count=N`, `at=LIST`, `scene=T` or `keyframes`, optionally followed by `+storyboard=N`; `through` decodes every
/// reference frame instead of seeking.
fn child_extract(
    format: &str,
    input: &Path,
    output: &Path,
    selection: &str,
    through: bool,
) -> anyhow::Result<()> {
    let format = match format {
        "png" => ImageFormat::Png,
        "jpeg" => ImageFormat::Jpeg { quality: 85 },
        other => bail!("unknown format {other}"),
    };
    let (selection, storyboard) = match selection.split_once("+storyboard=") {
        Some((selection, every)) => (
            selection,
            Some(Storyboard::every(
                every.parse().map_err(|e| anyhow::anyhow!("{e}"))?,
            )),
        ),
        None => (selection, None),
    };
    let selection = match selection.split_once('=') {
        _ if selection == "keyframes" => Selection::Keyframes,
        Some(("at", list)) => Selection::At {
            at: Position::parse_list(list).map_err(|e| anyhow::anyhow!("{e}"))?,
        },
        Some(("scene", threshold)) => Selection::Scene {
            threshold: threshold.parse().map_err(|e| anyhow::anyhow!("{e}"))?,
            min_gap: fiapx_domain::Rational::zero(),
        },
        Some(("fps", rate)) => Selection::Fps {
            fps: rate.parse().map_err(|e| anyhow::anyhow!("{e}"))?,
        },
        Some(("every", seconds)) => Selection::Every {
            seconds: seconds.parse().map_err(|e| anyhow::anyhow!("{e}"))?,
        },
        Some(("count", count)) => Selection::Count {
            count: count.parse()?,
        },
        _ => bail!("unknown selection {selection}"),
    };
    let spec = ExtractionSpec {
        format,
        selection,
        storyboard,
        ..Default::default()
    };
    let extractor = Extractor::new(Limits::default());
    let extractor = if through {
        extractor.decoding_through()
    } else {
        extractor
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let file = tokio::fs::File::create(output).await?;
        let writer = tokio::io::BufWriter::with_capacity(1 << 20, file);
        let (mut writer, summary) = extractor.extract_path(input, &spec, writer, |_| {}).await?;
        if std::env::var_os("BENCH_VERBOSE").is_some() {
            eprintln!("{:?}", summary.stats);
        }
        tokio::io::AsyncWriteExt::shutdown(&mut writer).await?;
        anyhow::Ok(())
    })
}

#[derive(Clone, Copy, Debug)]
struct Sample {
    wall: Duration,
    max_rss_kb: u64,
}

/// Runs `command` to completion and reads its wall time and peak RSS (its whole process tree's, via `wait4`).
fn measure(mut command: Command) -> anyhow::Result<Sample> {
    let started = Instant::now();
    let child = command.spawn()?;
    let (status, max_rss_kb) = wait4(child.id() as libc::pid_t)?;
    let wall = started.elapsed();
    if status != 0 {
        bail!("exited with status {status}");
    }
    Ok(Sample { wall, max_rss_kb })
}

/// `std::process::Child::wait` discards the rusage; `wait4` returns it for the reaped process.
#[expect(unsafe_code, reason = "wait4 is the only way to get a child's own peak RSS")]
fn wait4(pid: libc::pid_t) -> anyhow::Result<(i32, u64)> {
    let mut status = 0;
    // SAFETY: zeroed rusage is a valid value of a plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our own unreaped child; both out-pointers are valid for the call.
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    if reaped != pid {
        bail!("wait4 failed: {}", std::io::Error::last_os_error());
    }
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    Ok((code, usage.ru_maxrss.max(0) as u64))
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// Generates (once) `seconds` of H.264 at `size`, 30 fps, with light temporal noise so it compresses and decodes
/// like camera footage rather than a flat test pattern.
fn generate(dir: &Path, label: &str, size: &str, seconds: u32) -> anyhow::Result<PathBuf> {
    let name = format!("{label}_{seconds}s.mp4");
    if !dir.join(&name).exists() {
        eprintln!("generating {} (once)...", dir.join(&name).display());
    }
    let source = format!("testsrc2=size={size}:rate=30");
    let seconds = seconds.to_string();
    let args = [
        &[
            "-f",
            "lavfi",
            "-i",
            &source,
            "-t",
            &seconds,
            "-vf",
            "noise=alls=8:allf=t",
        ],
        test_support::X264_VERYFAST,
    ]
    .concat();
    Ok(test_support::generated(dir, &name, &args))
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("workspace root exists")
}
