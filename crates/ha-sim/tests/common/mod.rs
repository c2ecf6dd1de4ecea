//! A raw WebSocket client for driving the simulator in tests: no ha-client, only
//! tokio-tungstenite and ha-proto's parsers, so the wire shapes themselves are checked.
#![allow(dead_code, unreachable_pub)]

use std::collections::VecDeque;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use ha_proto::{ServerMessage, State};
use ha_sim::{Sim, SimConfig};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A guard against hangs (never an assertion about speed).
pub const HANG: Duration = Duration::from_secs(60);

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A simulator with `entities` entities and no background load.
pub async fn sim(entities: usize) -> Sim {
    Sim::start(SimConfig { entities, ..SimConfig::default() }).await.expect("sim starts")
}

/// One raw connection.
#[derive(Debug)]
pub struct Client {
    pub ws: Ws,
    /// Messages received but not yet taken (from array frames).
    pub queue: VecDeque<ServerMessage<'static>>,
    /// Whether any frame so far was an array.
    pub saw_array: bool,
    next_id: u64,
}

impl Client {
    /// Connects and reads `auth_required`; returns the client and the announced version.
    pub async fn open(sim: &Sim) -> (Client, String) {
        let (ws, _) = tokio_tungstenite::connect_async(sim.ws_url()).await.expect("connects");
        let mut client = Client { ws, queue: VecDeque::new(), saw_array: false, next_id: 1 };
        match client.next().await {
            Some(ServerMessage::AuthRequired { ha_version }) => {
                let version = ha_version.into_owned();
                (client, version)
            }
            other => panic!("expected auth_required, got {other:?}"),
        }
    }

    /// Connects and authenticates with the sim's default token.
    pub async fn connect(sim: &Sim) -> Client {
        Client::connect_with(sim, "sim-token").await
    }

    /// Connects and authenticates with `token`, expecting `auth_ok`.
    pub async fn connect_with(sim: &Sim, token: &str) -> Client {
        let (mut client, _) = Client::open(sim).await;
        client.send(json!({"type": "auth", "access_token": token})).await;
        match client.next().await {
            Some(ServerMessage::AuthOk { .. }) => client,
            other => panic!("expected auth_ok, got {other:?}"),
        }
    }

    /// A fresh id.
    pub fn id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    pub async fn send(&mut self, value: Value) {
        self.send_text(value.to_string()).await;
    }

    pub async fn send_text(&mut self, text: String) {
        self.ws.send(Message::Text(text.into())).await.expect("sends");
    }

    /// The next text frame (protocol pings are answered by tungstenite and skipped);
    /// `None` when the connection ended.
    pub async fn next_text(&mut self) -> Option<String> {
        loop {
            let msg = tokio::time::timeout(HANG, self.ws.next()).await.expect("no hang");
            match msg {
                Some(Ok(Message::Text(t))) => return Some(t.to_string()),
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                Some(Ok(Message::Binary(_))) => panic!("binary frame"),
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            }
        }
    }

    /// The next message; `None` when the connection ended.
    pub async fn next(&mut self) -> Option<ServerMessage<'static>> {
        loop {
            if let Some(msg) = self.queue.pop_front() {
                return Some(msg);
            }
            let text = self.next_text().await?;
            let frame = ha_proto::Frame::parse(&text).unwrap_or_else(|e| panic!("bad frame {text}: {e}"));
            assert!(frame.errors.is_empty(), "bad messages in {text}: {:?}", frame.errors);
            self.saw_array |= frame.coalesced;
            self.queue.extend(frame.messages.into_iter().map(ServerMessage::into_owned));
        }
    }

    /// Sends a command (its `id` is filled in) and waits for its result or pong, keeping
    /// other messages queued in order.
    pub async fn command(&mut self, mut cmd: Value) -> ServerMessage<'static> {
        let id = self.id();
        cmd["id"] = json!(id);
        self.send(cmd).await;
        self.reply_to(id).await
    }

    /// Waits for the result or pong of `id`; messages before it stay queued.
    pub async fn reply_to(&mut self, id: u64) -> ServerMessage<'static> {
        let mut skipped = VecDeque::new();
        let found = loop {
            let msg = self.next().await.expect("connection open");
            match &msg {
                ServerMessage::Result { id: got, .. } | ServerMessage::Pong { id: got } if *got == id => break msg,
                _ => skipped.push_back(msg),
            }
        };
        skipped.extend(self.queue.drain(..));
        self.queue = skipped;
        found
    }

    /// A successful result's payload as JSON.
    pub async fn ok(&mut self, cmd: Value) -> Value {
        match self.command(cmd).await {
            ServerMessage::Result { outcome: Ok(raw), .. } => serde_json::from_str(raw.get()).unwrap(),
            other => panic!("expected success, got {other:?}"),
        }
    }

    /// A failed result's error.
    pub async fn err(&mut self, cmd: Value) -> ha_proto::ErrorInfo {
        match self.command(cmd).await {
            ServerMessage::Result { outcome: Err(e), .. } => e,
            other => panic!("expected an error, got {other:?}"),
        }
    }

    /// The next event message: (subscription id, event JSON text).
    pub async fn event(&mut self) -> (u64, String) {
        loop {
            match self.next().await.expect("connection open") {
                ServerMessage::Event { id, event } => return (id, event.get().to_owned()),
                ServerMessage::Result { .. } | ServerMessage::Pong { .. } => continue,
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    /// Reads until the server closes; how many messages arrived before that.
    pub async fn until_closed(&mut self) -> usize {
        let mut n = self.queue.len();
        self.queue.clear();
        while let Some(text) = self.next_text().await {
            n += match ha_proto::Frame::parse(&text) {
                Ok(frame) => frame.messages.len(),
                Err(_) => 1,
            };
        }
        n
    }
}

/// States as subscribers see them: without `last_reported` (not part of compressed states).
pub fn without_reported(mut states: Vec<State>) -> Vec<State> {
    for s in &mut states {
        s.last_reported = None;
    }
    states
}
