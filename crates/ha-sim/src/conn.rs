//! One WebSocket connection: the auth phase, then a reader (commands) and a writer (the
//! connection's queue, coalesced into array frames when the client asked, plus protocol
//! pings) that run until the client leaves, a fault closes it, or flow control cuts it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use ha_proto::{AuthMessage, ServerMessage};
use tokio::sync::mpsc;

use crate::Shared;
use crate::commands;
use crate::hub::{Out, Outbox};

/// Most messages put into one coalesced frame.
const MAX_BATCH: usize = 2048;

/// How long a closing connection may take to send its close frame.
const CLOSE_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// What a connection's command handlers need.
#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) outbox: Arc<Outbox>,
    /// Set by the reader when a protocol pong arrives; cleared by the writer's pings.
    pong_seen: AtomicBool,
}

impl Conn {
    pub(crate) fn id(&self) -> u64 {
        self.outbox.conn_id
    }

    /// Queues one message.
    pub(crate) fn send(&self, msg: String) {
        self.outbox.push(Out::Msg(msg));
    }
}

/// Serves one upgraded socket to the end.
pub(crate) async fn serve(socket: WebSocket, shared: Arc<Shared>) {
    let conn_id = shared.next_conn.fetch_add(1, Ordering::Relaxed);
    let (mut sink, mut stream) = socket.split();
    if !authenticate(&shared, &mut sink, &mut stream).await {
        return;
    }
    let (outbox, rx) = Outbox::new(conn_id, shared.limits());
    let conn = Arc::new(Conn { outbox: outbox.clone(), pong_seen: AtomicBool::new(true) });
    shared.conn_opened(outbox.clone());
    tracing::debug!(conn = conn_id, "authenticated");

    {
        let writer = write_loop(&mut sink, rx, conn.clone(), shared.clone());
        let reader = read_loop(stream, conn.clone(), shared.clone());
        let peak = watch_peak(&outbox, shared.config.pending_peak_time);
        tokio::select! {
            () = writer => {}
            () = reader => {}
            () = peak => {}
            () = outbox.cancel.cancelled() => {}
            () = shared.shutdown.cancelled() => {}
        }
    }
    outbox.cancel.cancel();
    shared.conn_closed(conn_id);
    // A stopping server just drops its sockets (captured from 2024.3.3: SIGTERM ends the
    // TCP connection without a close frame).
    if shared.shutdown.is_cancelled() {
        outbox.abrupt.store(true, Ordering::Release);
    }
    if !outbox.abrupt.load(Ordering::Acquire) {
        // Home Assistant ends a connection with a close frame (aiohttp's `close()`), except
        // when the transport itself failed or the server stops; the drop faults imitate those.
        let _ = tokio::time::timeout(CLOSE_GRACE, close_normally(&mut sink)).await;
    }
    tracing::debug!(
        conn = conn_id,
        overflowed = outbox.overflowed.load(Ordering::Acquire),
        most_pending = outbox.most_pending(),
        "closed"
    );
}

/// Checks the flow-control peak rule every second, also while nothing new is queued.
async fn watch_peak(outbox: &Outbox, peak_time: std::time::Duration) {
    let every = peak_time.clamp(std::time::Duration::from_millis(10), std::time::Duration::from_secs(1));
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        outbox.check_peak();
        if outbox.cancel.is_cancelled() {
            return;
        }
    }
}

/// aiohttp's `close()`: a close frame with code 1000 and no reason, then the end.
async fn close_normally(sink: &mut Sink) {
    let close = Message::Close(Some(CloseFrame { code: 1000, reason: Utf8Bytes::from_static("") }));
    if sink.send(close).await.is_ok() {
        let _ = sink.close().await;
    }
}

type Sink = SplitSink<WebSocket, Message>;
type Stream = SplitStream<WebSocket>;

fn text(s: String) -> Message {
    Message::Text(Utf8Bytes::from(s))
}

/// The auth phase; true when the client may go on.
async fn authenticate(shared: &Shared, sink: &mut Sink, stream: &mut Stream) -> bool {
    let version = shared.core().ha_version.clone();
    let hello = ServerMessage::AuthRequired { ha_version: version.as_str().into() }.to_json();
    if sink.send(text(hello)).await.is_err() {
        return false;
    }
    let first = tokio::select! {
        msg = tokio::time::timeout(shared.config.auth_timeout, stream.next()) => msg,
        () = shared.shutdown.cancelled() => return false,
    };
    let frame = match first {
        Err(_) => {
            // Captured from 2024.3.3: after 10 s the TCP connection ends, no close frame.
            tracing::debug!("did not receive auth message in time");
            return false;
        }
        Ok(Some(Ok(Message::Text(frame)))) => frame,
        Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => return false,
        // Not text: Home Assistant disconnects (close 1000, no message).
        Ok(Some(Ok(_))) => {
            close_normally(sink).await;
            return false;
        }
    };
    let Ok(value) = serde_json::from_str::<serde_json::Value>(frame.as_str()) else {
        // Captured from 2024.3.3: non-JSON text during auth gives close 1000, no message.
        close_normally(sink).await;
        return false;
    };
    let reply = match serde_json::from_value::<AuthMessage>(value) {
        Err(err) => Err(format!("Auth message incorrectly formatted: {}", describe(&err))),
        Ok(auth)
            if shared.faults.reject_auth.load(Ordering::Acquire) || !shared.token_ok(auth.access_token.expose()) =>
        {
            Err(WRONG_TOKEN.to_owned())
        }
        Ok(_) => Ok(()),
    };
    match reply {
        Ok(()) => {
            let version = shared.core().ha_version.clone();
            let ok = ServerMessage::AuthOk { ha_version: version.as_str().into() }.to_json();
            sink.send(text(ok)).await.is_ok()
        }
        Err(message) => {
            shared.auth_failures.fetch_add(1, Ordering::AcqRel);
            let wrong_token = message == WRONG_TOKEN;
            let invalid = ServerMessage::AuthInvalid { message: message.into() }.to_json();
            if sink.send(text(invalid)).await.is_ok() {
                // Only a wrong token counts as a failed login (not a malformed message), and
                // only if the client is still there once the login was processed.
                if wrong_token && still_there(stream).await {
                    shared.login_failed();
                }
                close_normally(sink).await;
            }
            false
        }
    }
}

const WRONG_TOKEN: &str = "Invalid access token or password";

/// How long Home Assistant takes to process a failed login after `auth_invalid` (a
/// reverse-DNS lookup in its executor), during which a client that drops the TCP
/// connection cancels it.
const LOGIN_PROCESSING: std::time::Duration = std::time::Duration::from_millis(250);

/// Whether the client is still connected after [`LOGIN_PROCESSING`]: Home Assistant
/// 2024.3.3 sends `auth_invalid` first and only then records the failed login (log line,
/// `http-login` notification, ban counter); a client that ends the TCP connection at once
/// leaves no trace, one that closes gracefully or waits for the server's close does
/// (captured by the conformance suite).
async fn still_there(stream: &mut Stream) -> bool {
    match tokio::time::timeout(LOGIN_PROCESSING, stream.next()).await {
        Err(_) => true,
        Ok(None | Some(Err(_))) => false,
        Ok(Some(Ok(_))) => true,
    }
}

/// serde's message without the token (serde never echoes string values, but be sure).
fn describe(err: &serde_json::Error) -> String {
    let full = err.to_string();
    match full.rfind(" at line ") {
        Some(cut) => full[..cut].to_owned(),
        None => full,
    }
}

async fn read_loop(mut stream: Stream, conn: Arc<Conn>, shared: Arc<Shared>) {
    let mut last_id = 0u64;
    loop {
        if let Some(until) = shared.faults.reading_paused_until() {
            // `clear()` ends the pause early.
            let changed = shared.faults.changed.notified();
            tokio::select! {
                () = tokio::time::sleep_until(until) => {}
                () = changed => {}
            }
            continue;
        }
        let changed = shared.faults.changed.notified();
        let msg = tokio::select! {
            msg = stream.next() => msg,
            () = changed => continue,
        };
        // Like aiohttp, anything received counts as a sign of life for the heartbeat.
        conn.pong_seen.store(true, Ordering::Release);
        let frame = match msg {
            Some(Ok(Message::Text(frame))) => frame,
            Some(Ok(Message::Pong(_))) => continue,
            Some(Ok(Message::Ping(_))) => continue,
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
            // Home Assistant 2024.3 hands binary messages to its binary handlers (the
            // first byte picks one) and ignores those for unknown handlers (captured: no
            // reply, no close); an empty one ends the connection.
            Some(Ok(Message::Binary(data))) => {
                if data.is_empty() {
                    tracing::debug!(conn = conn.id(), "received an empty binary message");
                    return;
                }
                continue;
            }
        };
        let Ok(items) = ha_proto::parse_client_frame(frame.as_str()) else {
            tracing::debug!(conn = conn.id(), "received invalid JSON");
            return;
        };
        // The raw items are parsed again only when a message's envelope is bad.
        let mut raw_items: Option<Vec<serde_json::Value>> = None;
        for (index, item) in items.into_iter().enumerate() {
            let raw = || raw_items.get_or_insert_with(|| commands::frame_items(frame.as_str())).get(index).cloned();
            if let Some(command) = commands::admit(&conn, &mut last_id, item, raw) {
                let delay = shared.faults.delay();
                if delay.is_zero() {
                    commands::handle(&shared, &conn, command);
                } else {
                    let (shared, conn) = (shared.clone(), conn.clone());
                    tokio::spawn(async move {
                        // `clear()` (or a zero delay) releases commands already waiting.
                        let deadline = tokio::time::Instant::now() + delay;
                        loop {
                            let changed = shared.faults.changed.notified();
                            if shared.faults.delay().is_zero() {
                                break;
                            }
                            tokio::select! {
                                () = tokio::time::sleep_until(deadline) => break,
                                () = changed => {}
                            }
                        }
                        if !conn.outbox.cancel.is_cancelled() {
                            commands::handle(&shared, &conn, command);
                        }
                    });
                }
            }
        }
    }
}

/// Where the writer stands with the drop-after fault.
struct DropCount {
    generation: u64,
    limit: Option<u64>,
    sent: u64,
}

impl DropCount {
    /// How many more messages may go out (None = no limit).
    fn allowance(&mut self, shared: &Shared) -> Option<u64> {
        match shared.faults.drop_after() {
            None => self.limit = None,
            Some((generation, n)) if generation != self.generation => {
                self.generation = generation;
                self.limit = Some(self.sent + n);
            }
            Some(_) => {}
        }
        self.limit.map(|limit| limit.saturating_sub(self.sent))
    }
}

fn render(out: &Out, into: &mut String) {
    match out {
        Out::Msg(m) => into.push_str(m),
        Out::Event { id, body } => {
            into.push_str("{\"id\":");
            into.push_str(&id.to_string());
            into.push_str(",\"type\":\"event\",\"event\":");
            into.push_str(body);
            into.push('}');
        }
        Out::BusEvent { id, body } => {
            into.push_str("{\"type\":\"event\",\"event\":");
            into.push_str(body);
            into.push_str(",\"id\":");
            into.push_str(&id.to_string());
            into.push('}');
        }
        Out::BadItem(text) => into.push_str(text),
        Out::Malformed | Out::Oversized(_) => {}
    }
}

/// The message of the oversized fault: valid JSON of an unknown type that clients ignore
/// when they can take it at all.
fn oversized(bytes: usize) -> String {
    let head = "{\"type\":\"sim_oversized\",\"padding\":\"";
    let pad = bytes.saturating_sub(head.len() + 2);
    let mut s = String::with_capacity(head.len() + pad + 2);
    s.push_str(head);
    s.extend(std::iter::repeat_n('x', pad));
    s.push_str("\"}");
    s
}

async fn write_loop<S>(sink: &mut S, mut rx: mpsc::UnboundedReceiver<Out>, conn: Arc<Conn>, shared: Arc<Shared>)
where
    S: futures_util::Sink<Message> + Unpin,
{
    let mut drops = DropCount { generation: 0, limit: None, sent: 0 };
    if let Some((generation, n)) = shared.faults.drop_after() {
        drops = DropCount { generation, limit: Some(n), sent: 0 };
    }
    // aiohttp's heartbeat (Home Assistant uses 55 s): a ping every interval, and no sign of
    // life within half an interval after it ends the connection without a close frame.
    let heartbeat = shared.config.heartbeat;
    let period = if heartbeat.is_zero() { std::time::Duration::from_secs(86_400) } else { heartbeat };
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    let mut pong_deadline: Option<tokio::time::Instant> = None;
    let mut batch: Vec<Out> = Vec::new();
    loop {
        tokio::select! {
            item = rx.recv() => {
                let Some(first) = item else { return };
                batch.push(first);
            }
            _ = ticker.tick(), if !heartbeat.is_zero() => {
                conn.pong_seen.store(false, Ordering::Release);
                if sink.send(Message::Ping(Default::default())).await.is_err() {
                    return;
                }
                pong_deadline = Some(tokio::time::Instant::now() + heartbeat / 2);
                continue;
            }
            () = sleep_until_some(pong_deadline) => {
                pong_deadline = None;
                if !conn.pong_seen.load(Ordering::Acquire) {
                    tracing::debug!(conn = conn.id(), "no pong within half a heartbeat");
                    conn.outbox.abrupt.store(true, Ordering::Release);
                    return;
                }
                continue;
            }
        }
        if conn.outbox.coalesce.load(Ordering::Acquire) {
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
        }
        // What the writer took has left the queue: Home Assistant's writer pops each message
        // before it writes, and its flow control counts only what is still queued. Counting the
        // batch until the socket accepted all of it cut clients up to `MAX_BATCH` messages sooner
        // than Home Assistant does while a large frame (a snapshot) was being written.
        conn.outbox.dequeued(batch.len());
        let allowance = drops.allowance(&shared);
        let ok = send_batch(sink, &mut batch, allowance, &mut drops.sent).await;
        if !ok {
            // The drop-after fault (or a dead socket): no close frame either way.
            conn.outbox.abrupt.store(true, Ordering::Release);
            return;
        }
    }
}

/// Sleeps until `deadline`, or forever when there is none.
async fn sleep_until_some(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Writes a batch: runs of plain messages as one frame each (an array when more than one, or
/// when it holds a malformed item), fault frames alone. Returns false when the connection must end.
async fn send_batch<S>(sink: &mut S, batch: &mut Vec<Out>, allowance: Option<u64>, sent: &mut u64) -> bool
where
    S: futures_util::Sink<Message> + Unpin,
{
    let mut budget = allowance.unwrap_or(u64::MAX);
    let mut frame = Run::default();
    let mut result = true;
    for out in batch.drain(..) {
        if budget == 0 {
            result = false;
            break;
        }
        match out {
            Out::Malformed | Out::Oversized(_) => {
                if frame.len > 0 && !flush(sink, &mut frame).await {
                    result = false;
                    break;
                }
                let text_frame = match out {
                    Out::Oversized(bytes) => oversized(bytes),
                    _ => "this is not JSON {".to_owned(),
                };
                if sink.feed(text(text_frame)).await.is_err() {
                    result = false;
                    break;
                }
            }
            plain => {
                if frame.len > 0 {
                    frame.text.push(',');
                }
                frame.array |= matches!(plain, Out::BadItem(_));
                render(&plain, &mut frame.text);
                frame.len += 1;
            }
        }
        budget -= 1;
        *sent += 1;
    }
    batch.clear();
    if result && frame.len > 0 {
        result = flush(sink, &mut frame).await;
    } else if !result && frame.len > 0 {
        // The drop-after limit fell inside the batch: deliver what was allowed, then drop.
        let _ = flush(sink, &mut frame).await;
    }
    if sink.flush().await.is_err() {
        return false;
    }
    // "After n more messages": the n-th message was the last one.
    result && !(allowance.is_some() && budget == 0)
}

/// The messages of the frame being built.
#[derive(Default)]
struct Run {
    /// The messages, comma-separated.
    text: String,
    /// How many.
    len: usize,
    /// Sent as an array even with one message (it holds a malformed item).
    array: bool,
}

async fn flush<S>(sink: &mut S, frame: &mut Run) -> bool
where
    S: futures_util::Sink<Message> + Unpin,
{
    let run = std::mem::take(frame);
    let body = if run.len > 1 || run.array { format!("[{}]", run.text) } else { run.text };
    sink.feed(text(body)).await.is_ok()
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use std::time::Duration;

    use super::*;
    use crate::SimConfig;

    /// A socket whose peer stopped reading: it never takes another frame.
    struct StalledSink;

    impl futures_util::Sink<Message> for StalledSink {
        type Error = std::convert::Infallible;

        fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Pending
        }

        fn start_send(self: Pin<&mut Self>, _: Message) -> Result<(), Self::Error> {
            Ok(())
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Pending
        }

        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Pending
        }
    }

    #[tokio::test]
    async fn messages_the_writer_took_no_longer_count_toward_flow_control() {
        // Arrange: a limit of 10 with 9 messages queued, coalescing on, a peer that stopped reading.
        let config = SimConfig { entities: 0, max_pending: 10, heartbeat: Duration::ZERO, ..SimConfig::default() };
        let shared = Arc::new(Shared::new(config));
        let (outbox, rx) = Outbox::new(1, shared.limits());
        outbox.coalesce.store(true, Ordering::Release);
        let conn = Arc::new(Conn { outbox: outbox.clone(), pong_seen: AtomicBool::new(true) });
        for _ in 0..9 {
            assert!(outbox.push(Out::Msg("{}".to_owned())));
        }
        let writer = tokio::spawn(async move { write_loop(&mut StalledSink, rx, conn, shared).await });

        // Act: the writer takes all 9 into one frame and waits for the socket; 9 more are queued.
        for _ in 0..10_000 {
            if outbox.pending() == 0 {
                break;
            }
            tokio::task::yield_now().await;
        }
        let accepted = (0..9).filter(|_| outbox.push(Out::Msg("{}".to_owned()))).count();

        // Assert: only the 9 still queued are pending, as in Home Assistant, so none was refused.
        assert_eq!(accepted, 9);
        assert!(!outbox.cancel.is_cancelled());
        assert!(!writer.is_finished(), "the writer waits for the socket");
        writer.abort();
    }
}
