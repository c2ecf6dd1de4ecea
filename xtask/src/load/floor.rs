//! The machine's floor for a client that wakes once per frame: the CPU a bare reader pays to be
//! woken by a small message over loopback TCP and read it, with nothing else to do.
//!
//! The CPU steps' client pays per frame this floor plus its own work (the WebSocket layer, the
//! runtime, the decode, the mirror, the change stream). At 1,000 changes/s the simulator sends a
//! frame of about 5 changes every 5 ms, so a floor of 17 µs per wake-up is already 3.4 µs per change
//! before the client has done anything: a figure that moves with the machine (a VM's wake-ups cost
//! several times a bare-metal host's), which is why the run measures it instead of assuming it.
//!
//! The reader makes the system calls tokio makes per frame (measured with `strace -c` on the
//! `mirror` example: one `epoll_wait` and one read per frame): it waits in `epoll_wait`, reads once,
//! and reads again only when the read filled its buffer. Its CPU is its own thread's
//! (`/proc/thread-self/schedstat`, nanoseconds), so the writer's wake-ups are not counted.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use serde::{Deserialize, Serialize};

/// The bytes of one message: about one frame of 5 compressed diffs (ha-sim at 1,000 changes/s
/// sends 815 bytes per frame on average).
pub(crate) const MESSAGE_BYTES: usize = 800;
/// The gap between messages: ha-sim's emit interval.
const INTERVAL: Duration = Duration::from_millis(5);
/// Messages measured (5 s at [`INTERVAL`]); a few more are sent first as a warm-up.
const MESSAGES: u32 = 1_000;
/// Messages read before the measurement starts.
const WARMUP_MESSAGES: u32 = 20;
/// About how long [`measure_at`] measures: its gap decides how many messages that is.
const SPAN: Duration = Duration::from_secs(3);
/// The fewest and the most messages [`measure_at`] measures.
const AT_MESSAGES: std::ops::RangeInclusive<u32> = 100..=3_000;
/// The gaps [`measure_at`] accepts. Below 0.1 ms the writer's sleeps are not that precise, and
/// messages would run together in the reader's socket; above 100 ms the fewest messages would take
/// longer than a floor is worth (and the wake-up's price stops rising after about 20 ms).
pub(crate) const GAPS: std::ops::RangeInclusive<Duration> = Duration::from_micros(100)..=Duration::from_millis(100);
/// How long the reader waits for one message before giving up (the writer has died).
const STALL: Duration = Duration::from_secs(5);

/// What the bare reader paid.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct Floor {
    /// Messages (wake-ups) measured.
    pub(crate) wakeups: u64,
    /// CPU of the reader's thread per wake-up, µs.
    pub(crate) cpu_us_per_wakeup: f64,
    /// Bytes per message.
    pub(crate) message_bytes: usize,
    /// Gap between messages, ms.
    pub(crate) interval_ms: f64,
}

impl Floor {
    /// One line for the log.
    pub(crate) fn describe(&self) -> String {
        format!(
            "{:.1} µs CPU per wake-up (a bare epoll reader woken by {} messages of {} bytes, one every {} ms, \
             over loopback TCP)",
            self.cpu_us_per_wakeup,
            self.wakeups,
            self.message_bytes,
            gap_ms(self.interval_ms)
        )
    }

    /// A frame's cost split into this floor and the client's own work, per frame and per change:
    /// `per_frame` µs of CPU per frame at `changes_per_frame` changes per frame (one wake-up each).
    pub(crate) fn split(&self, per_frame: f64, changes_per_frame: f64) -> String {
        let above = per_frame - self.cpu_us_per_wakeup;
        format!(
            "of which the wake-up floor {:.1} µs per frame ({:.2} µs per change; a bare reader woken every {} ms), the \
             client's own work {:.1} µs per frame ({:.2} µs per change)",
            self.cpu_us_per_wakeup,
            self.cpu_us_per_wakeup / changes_per_frame,
            gap_ms(self.interval_ms),
            above,
            above / changes_per_frame,
        )
    }
}

/// A gap in ms as the log gives it: whole when it is (`5`), else to the hundredth (`0.77`).
fn gap_ms(ms: f64) -> String {
    if ms.fract() == 0.0 { format!("{ms:.0}") } else { format!("{ms:.2}") }
}

/// The nanoseconds a thread has run, the first field of `/proc/<pid>/task/<tid>/schedstat`.
pub(crate) fn parse_schedstat(text: &str) -> Option<u64> {
    text.split_whitespace().next()?.parse().ok()
}

/// The CPU time the calling thread has used so far.
fn thread_cpu() -> Result<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").context("reading /proc/thread-self/schedstat")?;
    let ns = parse_schedstat(&text).with_context(|| format!("unexpected schedstat {text:?}"))?;
    Ok(Duration::from_nanos(ns))
}

/// Measures the floor as the load test and the churn run report it: [`MESSAGES`] messages of
/// [`MESSAGE_BYTES`], one every [`INTERVAL`].
pub(crate) fn measure_standard() -> Result<Floor> {
    measure(MESSAGES, MESSAGE_BYTES, INTERVAL).context("measuring the machine's wake-up floor")
}

/// Measures the floor at another gap between messages and another message size: about [`SPAN`] of
/// messages of `bytes` bytes, one every `interval` (within [`GAPS`]). A wake-up costs more the
/// longer the reader slept before it (docs/performance.md, sixteenth round: on the AMD VM 8-9 µs at
/// 0.5 ms, 15-16 µs at 5 ms, 26-38 µs at 10 ms), so a client's frames are split against the floor at
/// their own gap.
pub(crate) fn measure_at(interval: Duration, bytes: usize) -> Result<Floor> {
    ensure!(
        GAPS.contains(&interval),
        "a gap of {interval:?} between messages is outside the floor's {:?} to {:?}",
        GAPS.start(),
        GAPS.end()
    );
    measure(messages_for(interval), bytes, interval)
        .with_context(|| format!("measuring the machine's wake-up floor at one message every {interval:?}"))
}

/// How many messages of one every `interval` take about [`SPAN`], within [`AT_MESSAGES`].
fn messages_for(interval: Duration) -> u32 {
    let wanted = (SPAN.as_secs_f64() / interval.as_secs_f64()).round();
    // Clamped to the range's bounds first, so the conversion cannot overflow.
    wanted.clamp(f64::from(*AT_MESSAGES.start()), f64::from(*AT_MESSAGES.end())) as u32
}

/// Measures the floor with `messages` messages of `bytes` bytes, one every `interval`.
fn measure(messages: u32, bytes: usize, interval: Duration) -> Result<Floor> {
    ensure!(messages > 0 && bytes > 0, "the floor needs at least one message of at least one byte");
    let listener = TcpListener::bind("127.0.0.1:0").context("binding a loopback listener")?;
    let address = listener.local_addr()?;
    let total = messages + WARMUP_MESSAGES;
    let writer = std::thread::spawn(move || -> Result<()> {
        let (mut stream, _) = listener.accept().context("accepting the reader")?;
        stream.set_nodelay(true)?;
        let message = vec![b'x'; bytes];
        let start = Instant::now();
        for i in 1..=total {
            // Absolute deadlines, so the gap does not drift with the writer's own latency.
            let due = start + interval * i;
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            stream.write_all(&message).context("writing a message")?;
        }
        Ok(())
    });
    let read = read_messages(address, total, bytes);
    let written = writer.join().map_err(|_| anyhow::anyhow!("the floor's writer panicked"))?;
    let cpu = read?;
    written?;
    Ok(Floor {
        wakeups: u64::from(messages),
        cpu_us_per_wakeup: cpu.as_secs_f64() * 1e6 / f64::from(messages),
        message_bytes: bytes,
        interval_ms: interval.as_secs_f64() * 1e3,
    })
}

/// Reads `total` messages of `bytes` bytes from `address`; returns the reader's CPU over all but
/// the first [`WARMUP_MESSAGES`].
fn read_messages(address: std::net::SocketAddr, total: u32, bytes: usize) -> Result<Duration> {
    let mut stream = TcpStream::connect(address).context("connecting the reader")?;
    stream.set_nonblocking(true)?;
    let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).context("creating an epoll instance")?;
    epoll.add(stream.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN | EpollFlags::EPOLLET, 0))?;
    let stall = EpollTimeout::try_from(STALL).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    // tungstenite's read buffer is 16 KiB in ha-client.
    let mut buf = vec![0u8; 16 * 1024];
    let mut received = 0usize;
    let wanted = total as usize * bytes;
    let warm = WARMUP_MESSAGES as usize * bytes;
    let mut started = None;
    let mut events = [EpollEvent::empty()];
    while received < wanted {
        if started.is_none() && received >= warm {
            started = Some(thread_cpu()?);
        }
        if epoll.wait(&mut events, stall).context("epoll_wait")? == 0 {
            bail!("no message for {STALL:?} after {received} of {wanted} bytes");
        }
        loop {
            match stream.read(&mut buf) {
                Ok(0) => bail!("the writer closed after {received} of {wanted} bytes"),
                Ok(n) => {
                    received += n;
                    if n < buf.len() {
                        break;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => return Err(e).context("reading a message"),
            }
        }
    }
    let started = started.context("the warm-up took every message")?;
    Ok(thread_cpu()?.saturating_sub(started))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedstat_gives_the_nanoseconds_run() {
        let ns = parse_schedstat("123456789 5000 42\n");

        assert_eq!(ns, Some(123_456_789));
    }

    #[test]
    fn an_empty_schedstat_gives_nothing() {
        let ns = parse_schedstat("");

        assert_eq!(ns, None);
    }

    #[test]
    fn the_reader_is_charged_for_every_measured_wakeup() {
        let floor = measure(10, 64, Duration::from_millis(1)).unwrap();

        assert_eq!((floor.wakeups, floor.message_bytes), (10, 64));
        assert!(floor.cpu_us_per_wakeup > 0.0 && floor.cpu_us_per_wakeup.is_finite(), "{floor:?}");
    }

    #[test]
    fn a_floor_names_its_gap_whole_or_to_the_hundredth() {
        let at = |interval_ms| Floor { wakeups: 600, cpu_us_per_wakeup: 12.34, message_bytes: 900, interval_ms };

        let lines = [at(5.0).describe(), at(0.7712).describe()];

        assert!(lines[0].contains("600 messages of 900 bytes, one every 5 ms"), "{}", lines[0]);
        assert!(lines[1].contains("one every 0.77 ms"), "{}", lines[1]);
    }

    #[test]
    fn a_gap_sets_how_many_messages_fill_about_three_seconds() {
        let counts = [Duration::from_millis(1), Duration::from_millis(5)].map(messages_for);

        assert_eq!(counts, [3_000, 600]);
    }

    #[test]
    fn a_long_gap_still_measures_the_fewest_messages() {
        let count = messages_for(Duration::from_millis(100));

        assert_eq!(count, 100);
    }

    #[test]
    fn a_gap_below_the_shortest_is_refused() {
        let floor = measure_at(Duration::from_micros(10), 64);

        assert!(floor.is_err_and(|e| e.to_string().contains("outside the floor's")));
    }

    #[test]
    fn a_gap_above_the_longest_is_refused() {
        let floor = measure_at(Duration::from_secs(1), 64);

        assert!(floor.is_err_and(|e| e.to_string().contains("outside the floor's")));
    }

    #[test]
    fn no_message_is_an_error() {
        let floor = measure(0, 64, Duration::from_millis(1));

        assert!(floor.is_err());
    }
}
