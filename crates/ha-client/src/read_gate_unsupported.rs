//! Read batching where it is not implemented (every target but Linux): the gate cannot be made,
//! so the connection task logs why and reads every frame as it arrives. The types mirror
//! `read_gate.rs` (Linux) so that the connection task compiles unchanged.

use std::io;
use std::time::{Duration, Instant};

use crate::config::ReadBatching;
use crate::conn::Ws;

fn unsupported() -> io::Error {
    io::Error::new(io::ErrorKind::Unsupported, "read batching needs Linux (SO_RCVLOWAT and timerfd)")
}

/// Never made: [`ReadGate::new`] always fails here.
#[derive(Debug)]
pub(crate) struct ReadGate {
    window: Duration,
}

impl ReadGate {
    /// Fails: read batching needs Linux.
    pub(crate) fn new(_ws: &Ws, _batching: ReadBatching) -> io::Result<Self> {
        Err(unsupported())
    }

    pub(crate) fn is_held(&self) -> bool {
        false
    }

    pub(crate) fn window(&self) -> Duration {
        self.window
    }

    pub(crate) fn hold(&mut self, _now: Instant) -> io::Result<()> {
        Err(unsupported())
    }

    pub(crate) fn extend(&mut self, _now: Instant) -> io::Result<()> {
        Err(unsupported())
    }

    pub(crate) fn release(&mut self) -> io::Result<()> {
        Ok(())
    }

    pub(crate) fn window_ended(&mut self) -> io::Result<()> {
        Ok(())
    }

    pub(crate) async fn window_end(&self) -> io::Result<()> {
        std::future::pending().await
    }
}
