//! Mirrors every entity of a Home Assistant (or ha-sim) and prints, once a second, the
//! entity count, entity changes per second and reconnects; or, with `--measure`, measures what the
//! mirror costs the process and prints it as one JSON line.
//!
//! `cargo run -p ha-client --example mirror -- --url ws://127.0.0.1:8123 --token T`
//! (or set HASS_URL / HASS_TOKEN).
//!
//! `--measure 20 --warmup 5` (what `cargo xtask load` runs): after the snapshot and the warm-up it
//! prints `measuring` on a line of its own, then measures for 20 s and prints one JSON object: the
//! process's CPU time (user and system, from `getrusage`: the figures of `/proc/self/stat` to the
//! microsecond) per entity change and per frame, voluntary and involuntary context switches of all
//! its threads (`/proc/self/task/*/status`), its peak RSS, and the client's counters over the same window. `--runtime current-thread` runs
//! the client on tokio's single-threaded runtime instead of the default multi-threaded one;
//! `--consumer main-thread` reads the change stream in `block_on`'s future on the main thread
//! instead of a spawned task.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use futures_util::StreamExt;
use ha_client::{Client, ClientConfig, ClientStats, ConnectionState, Mirror, ReadBatching};
use ha_proto::Secret;
use nix::sys::resource::{UsageWho, getrusage};
use nix::sys::time::TimeVal;

#[derive(Debug, Parser)]
struct Args {
    /// Base URL (http, https, ws or wss).
    #[arg(long, env = "HASS_URL")]
    url: String,
    /// Access token.
    #[arg(long, env = "HASS_TOKEN", hide_env_values = true)]
    token: String,
    /// Stop after this many seconds (runs until Ctrl-C when absent).
    #[arg(long)]
    seconds: Option<u64>,
    /// Measure the process's CPU per change for this many seconds and print it as JSON.
    #[arg(long, value_name = "SECS")]
    measure: Option<f64>,
    /// With --measure: seconds to wait after the snapshot before measuring.
    #[arg(long, value_name = "SECS", default_value_t = 5.0)]
    warmup: f64,
    /// Which tokio runtime runs the client.
    #[arg(long, value_enum, default_value_t = Runtime::MultiThread)]
    runtime: Runtime,
    /// Where the change stream is consumed.
    #[arg(long, value_enum, default_value_t = Consumer::Task)]
    consumer: Consumer,
    /// Hold reads back for up to this many milliseconds, so that one wake-up reads what the
    /// window brought (`ClientConfig::read_batching`; events arrive up to this much later), or
    /// `off` to read every frame as it arrives. Absent: ha-client's default (10 ms on Linux).
    #[arg(long, value_name = "MS|off", value_parser = parse_batch_reads)]
    batch_reads: Option<BatchReads>,
}

/// `--batch-reads`: a window or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BatchReads {
    Off,
    Ms(u64),
}

fn parse_batch_reads(s: &str) -> Result<BatchReads, String> {
    match s {
        "off" => Ok(BatchReads::Off),
        ms => {
            ms.parse().map(BatchReads::Ms).map_err(|_| format!("{ms:?} is neither a number of milliseconds nor `off`"))
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Consumer {
    /// In a task spawned on the runtime, as hapulse does: on the multi-threaded runtime the
    /// connection task wakes it on the same worker, one thread wake-up per frame.
    Task,
    /// In the future `block_on` runs on the main thread: every frame also wakes the main thread
    /// (2 context switches per frame instead of 1, measured 2026-12-05).
    MainThread,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Runtime {
    /// `#[tokio::main]`'s default: one worker thread per core.
    MultiThread,
    /// Everything on the main thread.
    CurrentThread,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = match args.runtime {
        Runtime::MultiThread => tokio::runtime::Builder::new_multi_thread(),
        Runtime::CurrentThread => tokio::runtime::Builder::new_current_thread(),
    }
    .enable_all()
    .build()
    .context("starting the tokio runtime")?;
    match args.consumer {
        Consumer::Task => runtime.block_on(async { tokio::spawn(run(args)).await.context("the client's task")? }),
        Consumer::MainThread => runtime.block_on(run(args)),
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let mut config = ClientConfig::new(&args.url, Secret::new(args.token.clone())).context("reading --url")?;
    match args.batch_reads {
        None => {}
        Some(BatchReads::Off) => config.read_batching = None,
        Some(BatchReads::Ms(ms)) => {
            config.read_batching = Some(ReadBatching::new(Duration::from_millis(ms)).context("--batch-reads")?);
        }
    }
    let client = Client::connect(config).await.context("connecting")?;
    let mut mirror = client.subscribe_entities(None).await.context("subscribing to entities")?;
    if let Some(seconds) = args.measure {
        let result =
            measure(&client, &mut mirror, Duration::from_secs_f64(args.warmup), Duration::from_secs_f64(seconds))
                .await?;
        println!("{}", serde_json::to_string(&result)?);
        client.close().await;
        return Ok(());
    }
    println!("connected; {} entities", mirror.len());

    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let mut last = client.stats();
    let mut elapsed = 0u64;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            // Drain the change stream so `lagged` only counts real lag.
            Some(_) = mirror.next() => continue,
            _ = tokio::signal::ctrl_c() => break,
        }
        elapsed += 1;
        let rtt = client.ping().await.map_or_else(|e| e.to_string(), |d| format!("{d:?}"));
        let now = client.stats();
        let state = match client.state() {
            ConnectionState::Connected { ha_version, .. } => format!("connected to {ha_version}"),
            ConnectionState::Reconnecting { reason } => format!("reconnecting ({reason})"),
            ConnectionState::Failed(err) => format!("stopped: {err}"),
            other => format!("{other:?}"),
        };
        println!(
            "entities {:>6}  changes/s {:>8}  events/s {:>7}  reconnects {:>3}  resyncs {:>3}  lagged {:>5}  ping {rtt}  {state}",
            mirror.len(),
            now.entity_changes - last.entity_changes,
            now.events_in - last.events_in,
            now.reconnects,
            now.resyncs,
            now.lagged,
        );
        last = now;
        if matches!(client.state(), ConnectionState::Failed(_)) || args.seconds.is_some_and(|s| elapsed >= s) {
            break;
        }
    }
    client.close().await;
    Ok(())
}

/// Drains the mirror's change stream until `deadline` (as a consumer of the mirror would).
async fn drain_until(mirror: &mut Mirror, deadline: tokio::time::Instant) {
    // One timer for the whole window: a new one per item would cost a timer registration per frame.
    let mut end = std::pin::pin!(tokio::time::sleep_until(deadline));
    loop {
        tokio::select! {
            () = &mut end => return,
            item = mirror.next() => if item.is_none() { return },
        }
    }
}

/// What `--measure` prints: the process's cost over the measured window.
#[derive(Debug, serde::Serialize)]
struct Measured {
    seconds: f64,
    entity_changes: u64,
    frames: u64,
    events: u64,
    bytes: u64,
    user_seconds: f64,
    system_seconds: f64,
    cpu_us_per_change: Option<f64>,
    cpu_us_per_frame: Option<f64>,
    voluntary_switches: u64,
    involuntary_switches: u64,
    peak_rss_bytes: u64,
    lagged: u64,
    reconnects: u64,
    /// Reconnections between the first connection and the window: not in its CPU, but in its peak
    /// RSS (each loads a snapshot again while the mirror it replaces still holds memory).
    reconnects_before_window: u64,
    resyncs: u64,
    entities: usize,
    /// The client's read-batching window, ms (absent when it reads every frame as it arrives).
    #[serde(skip_serializing_if = "Option::is_none")]
    read_batching_ms: Option<u64>,
    /// Windows the reads were held back for.
    read_windows: u64,
}

async fn measure(client: &Client, mirror: &mut Mirror, warmup: Duration, window: Duration) -> anyhow::Result<Measured> {
    let read_batching_ms =
        client.config().read_batching.map(|b| u64::try_from(b.window().as_millis()).unwrap_or(u64::MAX));
    drain_until(mirror, tokio::time::Instant::now() + warmup).await;
    let (before, stats_before, started) = (Sample::read()?, client.stats(), Instant::now());
    // A line of its own, so that whoever runs this can sample other processes over the same window.
    println!("measuring");
    drain_until(mirror, tokio::time::Instant::now() + window).await;
    let (after, stats_after, seconds) = (Sample::read()?, client.stats(), started.elapsed().as_secs_f64());
    let delta = |f: fn(&ClientStats) -> u64| f(&stats_after).saturating_sub(f(&stats_before));
    let (changes, frames) = (delta(|s| s.entity_changes), delta(|s| s.frames_in));
    let cpu_us = (after.user_seconds - before.user_seconds + after.system_seconds - before.system_seconds) * 1e6;
    let per = |n: u64| (n > 0).then(|| cpu_us / n as f64);
    Ok(Measured {
        seconds,
        entity_changes: changes,
        frames,
        events: delta(|s| s.events_in),
        bytes: delta(|s| s.bytes_in),
        user_seconds: after.user_seconds - before.user_seconds,
        system_seconds: after.system_seconds - before.system_seconds,
        cpu_us_per_change: per(changes),
        cpu_us_per_frame: per(frames),
        voluntary_switches: after.voluntary_switches.saturating_sub(before.voluntary_switches),
        involuntary_switches: after.involuntary_switches.saturating_sub(before.involuntary_switches),
        peak_rss_bytes: after.peak_rss_bytes,
        lagged: delta(|s| s.lagged),
        reconnects: delta(|s| s.reconnects),
        reconnects_before_window: stats_before.reconnects,
        resyncs: delta(|s| s.resyncs),
        entities: mirror.len(),
        read_batching_ms,
        read_windows: delta(|s| s.read_windows),
    })
}

/// The process's own counters at one moment.
#[derive(Debug, Clone, Copy)]
struct Sample {
    user_seconds: f64,
    system_seconds: f64,
    voluntary_switches: u64,
    involuntary_switches: u64,
    peak_rss_bytes: u64,
}

impl Sample {
    fn read() -> anyhow::Result<Sample> {
        // The same user and system time as `/proc/self/stat` (all threads, also those that have
        // exited), in microseconds instead of its 10 ms ticks: at 1,000 changes/s over 20 s a
        // tick is 0.5 µs per change.
        let usage = getrusage(UsageWho::RUSAGE_SELF).context("getrusage")?;
        let seconds = |t: TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
        let (user_seconds, system_seconds) = (seconds(usage.user_time()), seconds(usage.system_time()));
        // Context switches are counted per thread; a tokio runtime has several.
        let (mut voluntary_switches, mut involuntary_switches) = (0, 0);
        for task in std::fs::read_dir("/proc/self/task").context("listing /proc/self/task")? {
            let Ok(status) = std::fs::read_to_string(task?.path().join("status")) else { continue };
            voluntary_switches += status_field(&status, "voluntary_ctxt_switches:").unwrap_or(0);
            involuntary_switches += status_field(&status, "nonvoluntary_ctxt_switches:").unwrap_or(0);
        }
        let status = std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
        let Some(peak_kb) = status_field(&status, "VmHWM:") else { bail!("/proc/self/status has no VmHWM") };
        Ok(Sample {
            user_seconds,
            system_seconds,
            voluntary_switches,
            involuntary_switches,
            peak_rss_bytes: peak_kb * 1024,
        })
    }
}

/// The number after `name` on its line of a `/proc/*/status` text.
fn status_field(status: &str, name: &str) -> Option<u64> {
    status.lines().find_map(|l| l.strip_prefix(name)).and_then(|v| v.split_whitespace().next()?.parse().ok())
}
