//! A bare WebSocket to Home Assistant (tokio-tungstenite, no ha-client) for commands the client does not model,
//! such as `persistent_notification/subscribe`: it authenticates, sends JSON commands with increasing ids and
//! reads messages one at a time, unpacking coalesced array frames.

use std::collections::VecDeque;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

use super::support::{RealHa, within};

/// An authenticated raw connection.
pub(crate) struct RawWs {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    queued: VecDeque<Value>,
}

impl RawWs {
    /// Connects to `/api/websocket` and authenticates with the suite's token.
    pub(crate) async fn connect(real: &RealHa) -> RawWs {
        let url = format!("{}/api/websocket", real.url.replacen("http", "ws", 1));
        let (ws, _) = within(connect_async(url.as_str())).await.expect("raw websocket connects");
        let mut raw = RawWs { ws, next_id: 1, queued: VecDeque::new() };
        let required = raw.next_message().await;
        assert_eq!(required["type"], "auth_required", "{required}");
        let auth = json!({"type": "auth", "access_token": real.token.expose()});
        within(raw.ws.send(Message::text(auth.to_string()))).await.expect("auth sent");
        let ok = raw.next_message().await;
        assert_eq!(ok["type"], "auth_ok", "raw websocket not authenticated: {}", ok["type"]);
        raw
    }

    /// Sends `command` (an object without `id`) with the next id, returning that id.
    pub(crate) async fn send(&mut self, mut command: Value) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        command["id"] = json!(id);
        within(self.ws.send(Message::text(command.to_string()))).await.expect("command sent");
        id
    }

    /// The next message (an element of an array frame counts as one message).
    pub(crate) async fn next_message(&mut self) -> Value {
        loop {
            if let Some(message) = self.queued.pop_front() {
                return message;
            }
            let frame = within(self.ws.next()).await.expect("raw websocket ended").expect("raw websocket read");
            match frame {
                Message::Text(text) => match serde_json::from_str(text.as_str()).expect("frame is JSON") {
                    Value::Array(messages) => self.queued.extend(messages),
                    message => self.queued.push_back(message),
                },
                Message::Close(close) => panic!("raw websocket closed by the server: {close:?}"),
                _ => {}
            }
        }
    }

    /// Skips messages until the answer to command `id` (a `result` or `pong`), and returns it.
    pub(crate) async fn answer(&mut self, id: u64) -> Value {
        loop {
            let message = self.next_message().await;
            if message["id"] == json!(id) && message["type"] != "event" {
                return message;
            }
        }
    }

    /// Skips messages until an event of subscription `id` that satisfies `wanted`, and returns its `event`.
    pub(crate) async fn event_where(&mut self, id: u64, wanted: impl Fn(&Value) -> bool) -> Value {
        loop {
            let message = self.next_message().await;
            if message["id"] == json!(id) && message["type"] == "event" && wanted(&message["event"]) {
                return message["event"].clone();
            }
        }
    }
}
