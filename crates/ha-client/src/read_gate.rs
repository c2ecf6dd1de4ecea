//! Holding a connection's reads back ([`ReadBatching`]): the kernel is asked not to report the
//! socket readable until `min_bytes` have arrived (`SO_RCVLOWAT`), and the connection task lowers
//! that mark to one byte again when the window has passed or a reply is awaited.
//!
//! Lowering the mark is what ends a window: Linux then reports the socket readable at once if
//! anything is waiting (`tcp_set_rcvlowat` signals the waiting reader), so the runtime's reactor
//! sees an ordinary readiness event and the WebSocket reads as usual. A read that finds less than
//! the mark is not held up either: a non-blocking `recv` returns what is there. So the mark only
//! decides when the process is woken, never what it reads.
//!
//! The window's end is a [`WindowTimer`]: a timerfd the runtime's reactor watches like the socket.
//! A tokio timer woke the process once more in most windows (its wheel wakes when a deadline
//! crosses one of its 64 ms slots, and sometimes a millisecond early): 1.8 wake-ups per 50 ms
//! window instead of one.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use tokio::io::unix::AsyncFd;
use tokio::net::TcpStream;

use crate::config::ReadBatching;
use crate::conn::Ws;

/// The connection's socket, the timer that ends a window, and whether reads are held back (the
/// timer is armed exactly while they are).
#[derive(Debug)]
pub(crate) struct ReadGate {
    /// A duplicate of the connection's TCP socket descriptor (the WebSocket owns the original), so
    /// that the option can be set while the reader and the writer halves hold the stream.
    socket: OwnedFd,
    timer: WindowTimer,
    min_bytes: libc::c_int,
    window: Duration,
    held: bool,
    /// When the window last started (meaningful while held).
    started: Instant,
}

impl ReadGate {
    /// A gate on the TCP socket under `ws` (plain or TLS), open (reads not held).
    pub(crate) fn new(ws: &Ws, batching: ReadBatching) -> io::Result<Self> {
        Self::on_socket(ws.get_ref().get_ref(), batching)
    }

    /// A gate on `tcp`, open. Needs a runtime with I/O enabled (for the window's timer).
    fn on_socket(tcp: &TcpStream, batching: ReadBatching) -> io::Result<Self> {
        let socket = tcp.as_fd().try_clone_to_owned()?;
        let min_bytes = libc::c_int::try_from(batching.min_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "min_bytes above i32::MAX"))?;
        Ok(ReadGate {
            socket,
            timer: WindowTimer::new()?,
            min_bytes,
            window: batching.window(),
            held: false,
            started: Instant::now(),
        })
    }

    /// Whether reads are held back now.
    pub(crate) fn is_held(&self) -> bool {
        self.held
    }

    /// The longest a window lasts.
    pub(crate) fn window(&self) -> Duration {
        self.window
    }

    /// Holds reads back for a window from `now`: the process is not woken until `min_bytes` have
    /// arrived or the window ends ([`window_end`](Self::window_end)), unless the gate is released
    /// first.
    pub(crate) fn hold(&mut self, now: Instant) -> io::Result<()> {
        self.start_window(now)?;
        set_receive_low_mark(&self.socket, self.min_bytes)?;
        self.held = true;
        Ok(())
    }

    /// Starts the window again from `now` (reads stay held), unless it started less than an
    /// eighth of a window before ([`restarts`]).
    pub(crate) fn extend(&mut self, now: Instant) -> io::Result<()> {
        if restarts(now.saturating_duration_since(self.started), self.window) {
            self.start_window(now)?;
        }
        Ok(())
    }

    /// Arms the window's timer for a window from `now`.
    fn start_window(&mut self, now: Instant) -> io::Result<()> {
        self.timer.arm(self.window)?;
        self.started = now;
        Ok(())
    }

    /// Reads as frames arrive again; whatever is already waiting is reported readable at once.
    pub(crate) fn release(&mut self) -> io::Result<()> {
        self.window_ended()?;
        self.timer.disarm()
    }

    /// Reads as frames arrive again once the window has ended ([`window_end`](Self::window_end)
    /// returned): [`release`](Self::release) without disarming the timer, which a one-shot timer
    /// that fired no longer is (a `timerfd_settime` less per window).
    pub(crate) fn window_ended(&mut self) -> io::Result<()> {
        set_receive_low_mark(&self.socket, 1)?;
        self.held = false;
        Ok(())
    }

    /// When the window ends (never while reads are not held).
    pub(crate) async fn window_end(&self) -> io::Result<()> {
        self.timer.fired().await
    }

    /// The mark the kernel holds for the socket now (for tests).
    #[cfg(test)]
    pub(crate) fn low_mark(&self) -> io::Result<libc::c_int> {
        receive_low_mark(&self.socket)
    }
}

/// Whether a frame read `since` the window started restarts a window of `window`: not within its
/// first eighth. The frames one wake-up reads (all those that came in a window, once it ends)
/// then re-arm the timer once instead of once each, a system call per frame (measured at 1,000
/// changes/s and a 100 ms window: 20 `timerfd_settime` calls per window before, 2 after, its
/// arming and its disarming), and the data still to come waits at most a window after the last
/// read, less at most an eighth.
fn restarts(since: Duration, window: Duration) -> bool {
    since >= window / 8
}

/// A one-shot kernel timer (`timerfd`) that the runtime's reactor watches: the end of a read
/// batching window.
#[derive(Debug)]
pub(crate) struct WindowTimer {
    fd: AsyncFd<Timer>,
}

/// A `TimerFd` as tokio's `AsyncFd` wants it (by its raw descriptor).
#[derive(Debug)]
struct Timer(TimerFd);

impl AsRawFd for Timer {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

impl WindowTimer {
    /// A disarmed timer. Needs a runtime with I/O enabled.
    #[allow(unsafe_code)]
    pub(crate) fn new() -> io::Result<Self> {
        let timer = TimerFd::new(ClockId::CLOCK_MONOTONIC, TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC)?;
        // SAFETY: `Timer` owns its `TimerFd`, which stays open until the `AsyncFd` drops it, and is
        // never replaced (the field is private and only borrowed), so `as_raw_fd` names the same
        // open descriptor for the `AsyncFd`'s whole life.
        let fd = unsafe { AsyncFd::register(Timer(timer)) }.map_err(io::Error::from)?;
        Ok(WindowTimer { fd })
    }

    /// Fires once, `after` from now (a timer armed before is replaced, an expiry not yet taken
    /// is forgotten).
    pub(crate) fn arm(&self, after: Duration) -> io::Result<()> {
        // A zero expiry would disarm the timer instead: fire after a nanosecond at least.
        let after = after.max(Duration::from_nanos(1));
        self.fd.get_ref().0.set(Expiration::OneShot(TimeSpec::from_duration(after)), TimerSetTimeFlags::empty())?;
        Ok(())
    }

    /// Stops the timer (an expiry not yet taken is forgotten).
    pub(crate) fn disarm(&self) -> io::Result<()> {
        self.fd.get_ref().0.unset()?;
        Ok(())
    }

    /// Waits until the timer fires, and takes the expiry. Never returns while disarmed.
    pub(crate) async fn fired(&self) -> io::Result<()> {
        loop {
            let mut ready = self.fd.readable().await?;
            // Readiness seen before a re-arm may be stale: the read then finds nothing
            // (`EAGAIN`), and `try_io` clears it so the next wait is for the new expiry.
            match ready.try_io(|fd| fd.get_ref().0.wait().map_err(io::Error::from)) {
                Ok(taken) => {
                    // A one-shot timer whose expiry was taken is not readable again until it is
                    // re-armed and fires, which the reactor sees as a new event: forget this one
                    // now rather than with a read that finds nothing (`EAGAIN`) next window.
                    ready.clear_ready();
                    return taken;
                }
                Err(_stale) => continue,
            }
        }
    }
}

/// `setsockopt(SOL_SOCKET, SO_RCVLOWAT, bytes)`.
#[allow(unsafe_code)]
fn set_receive_low_mark(socket: &OwnedFd, bytes: libc::c_int) -> io::Result<()> {
    let len = libc::socklen_t::try_from(size_of::<libc::c_int>()).expect("an int's size fits socklen_t");
    // SAFETY: the descriptor is open for the whole call (borrowed from an `OwnedFd` we hold), and
    // the option value points to a live `c_int` of the length passed, which the kernel only reads.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVLOWAT,
            (&raw const bytes).cast::<libc::c_void>(),
            len,
        )
    };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// `getsockopt(SOL_SOCKET, SO_RCVLOWAT)`.
#[cfg(test)]
#[allow(unsafe_code)]
fn receive_low_mark(socket: &OwnedFd) -> io::Result<libc::c_int> {
    let mut bytes: libc::c_int = 0;
    let mut len = libc::socklen_t::try_from(size_of::<libc::c_int>()).expect("an int's size fits socklen_t");
    // SAFETY: the descriptor is open for the whole call, and `bytes`/`len` are live locals of the
    // sizes the kernel is told, which it writes at most.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVLOWAT,
            (&raw mut bytes).cast::<libc::c_void>(),
            &raw mut len,
        )
    };
    if rc == 0 { Ok(bytes) } else { Err(io::Error::last_os_error()) }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::net::{TcpListener, TcpStream};

    use super::*;

    /// Both ends of a loopback TCP connection.
    async fn connection() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (client, server)
    }

    fn batching() -> ReadBatching {
        ReadBatching::new(Duration::from_millis(20)).unwrap().with_min_bytes(10_000).unwrap()
    }

    #[test]
    fn a_frame_read_early_in_a_window_does_not_restart_it() {
        // arrange
        let window = Duration::from_millis(100);

        // act
        let early = restarts(Duration::from_millis(12), window);

        // assert
        assert!(!early);
    }

    #[test]
    fn a_frame_read_from_an_eighth_of_the_window_on_restarts_it() {
        // arrange
        let window = Duration::from_millis(100);

        // act
        let later = [restarts(Duration::from_micros(12_500), window), restarts(Duration::from_millis(99), window)];

        // assert
        assert_eq!(later, [true, true]);
    }

    #[tokio::test]
    async fn an_armed_window_timer_fires() {
        // arrange
        let timer = WindowTimer::new().unwrap();
        timer.arm(Duration::from_millis(1)).unwrap();

        // act
        let fired = tokio::time::timeout(Duration::from_secs(30), timer.fired()).await;

        // assert
        assert!(matches!(fired, Ok(Ok(()))), "{fired:?}");
    }

    #[tokio::test]
    async fn a_disarmed_window_timer_does_not_fire_and_a_rearmed_one_fires_once() {
        // arrange: armed, then disarmed, then armed again and fired
        let timer = WindowTimer::new().unwrap();
        timer.arm(Duration::from_millis(1)).unwrap();
        timer.disarm().unwrap();
        timer.arm(Duration::from_millis(1)).unwrap();
        tokio::time::timeout(Duration::from_secs(30), timer.fired()).await.unwrap().unwrap();

        // act: the expiry was taken; nothing more is due
        tokio::task::yield_now().await;
        let again = futures_util::FutureExt::now_or_never(timer.fired());

        // assert
        assert!(again.is_none(), "a one-shot timer fired twice");
    }

    #[tokio::test]
    async fn holding_sets_the_kernels_low_mark_to_the_batch_size() {
        // arrange
        let (client, _server) = connection().await;
        let mut gate = ReadGate::on_socket(&client, batching()).unwrap();

        // act
        gate.hold(Instant::now()).unwrap();

        // assert
        assert!(gate.is_held());
        assert_eq!(gate.low_mark().unwrap(), 10_000);
    }

    #[tokio::test]
    async fn releasing_sets_the_low_mark_back_to_one_byte() {
        // arrange
        let (client, _server) = connection().await;
        let mut gate = ReadGate::on_socket(&client, batching()).unwrap();
        gate.hold(Instant::now()).unwrap();

        // act
        gate.release().unwrap();

        // assert
        assert!(!gate.is_held());
        assert_eq!(gate.low_mark().unwrap(), 1);
    }

    #[tokio::test]
    async fn releasing_a_held_socket_with_data_waiting_makes_it_readable() {
        // arrange: a held socket with less than the batch waiting, which the reactor does not
        // report readable
        use tokio::io::AsyncWriteExt;
        let (client, mut server) = connection().await;
        let mut gate = ReadGate::on_socket(&client, batching()).unwrap();
        gate.hold(Instant::now()).unwrap();
        server.write_all(b"one frame").await.unwrap();
        server.flush().await.unwrap();
        let mut buf = [0u8; 64];
        // One yield: the runtime polls its reactor before it resumes this task.
        tokio::task::yield_now().await;
        let before = futures_util::FutureExt::now_or_never(client.readable());

        // act
        gate.release().unwrap();
        client.readable().await.unwrap();
        let read = client.try_read(&mut buf).unwrap();

        // assert
        assert!(before.is_none(), "a held socket was reported readable below its mark");
        assert_eq!(&buf[..read], b"one frame");
    }
}
