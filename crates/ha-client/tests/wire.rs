//! Behaviour at the wire that ha-sim does not exercise: protocol pings, a server that
//! never answers application pings (on tokio's paused clock), and TLS on `wss://` / `https://`.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use ha_client::{Client, ClientConfig, ClientError, ConnectionState, DisconnectReason, RestClient, StreamItem};
use ha_proto::{Command, Secret, parse_client_frame};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::{Bytes, Message};

/// What the fake server saw.
#[derive(Debug, PartialEq)]
enum Seen {
    Connected,
    Pong(Vec<u8>),
}

/// A minimal Home Assistant: authenticates anyone, answers every command with a `null`
/// result, never answers `ping`, and sends one protocol ping frame after auth when asked.
async fn fake_server(send_protocol_ping: bool) -> (SocketAddr, mpsc::UnboundedReceiver<Seen>) {
    scripted_server(send_protocol_ping, Vec::new()).await
}

/// [`fake_server`] that also sends `script` (frames where `ID` stands for the subscription
/// id) after the result of `subscribe_entities`.
async fn scripted_server(
    send_protocol_ping: bool,
    script: Vec<&'static str>,
) -> (SocketAddr, mpsc::UnboundedReceiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (seen, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let seen = seen.clone();
            let script = script.clone();
            tokio::spawn(async move {
                let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
                ws.send(Message::text(r#"{"type":"auth_required","ha_version":"2024.3.3"}"#)).await.unwrap();
                let _auth = ws.next().await;
                ws.send(Message::text(r#"{"type":"auth_ok","ha_version":"2024.3.3"}"#)).await.unwrap();
                let _ = seen.send(Seen::Connected);
                if send_protocol_ping {
                    ws.send(Message::Ping(Bytes::from_static(b"hb"))).await.unwrap();
                }
                while let Some(Ok(msg)) = ws.next().await {
                    match msg {
                        Message::Pong(data) => {
                            let _ = seen.send(Seen::Pong(data.to_vec()));
                        }
                        Message::Text(text) => {
                            for cmd in parse_client_frame(text.as_str()).unwrap().into_iter().flatten() {
                                if cmd.command != Command::Ping {
                                    let reply =
                                        format!(r#"{{"id":{},"type":"result","success":true,"result":null}}"#, cmd.id);
                                    let _ = ws.send(Message::text(reply)).await;
                                }
                                if matches!(cmd.command, Command::SubscribeEntities { .. }) {
                                    for frame in &script {
                                        let frame = frame.replace("ID", &cmd.id.to_string());
                                        let _ = ws.send(Message::text(frame)).await;
                                    }
                                }
                            }
                        }
                        _ => {}
                    }
                }
            });
        }
    });
    (addr, rx)
}

fn config(url: &str) -> ClientConfig {
    ClientConfig::new(url, Secret::new("t")).unwrap()
}

#[tokio::test]
async fn protocol_ping_from_the_server_is_answered() {
    let (addr, mut seen) = fake_server(true).await;

    let _client = Client::connect(config(&format!("ws://{addr}"))).await.unwrap();
    let first = seen.recv().await;
    let second = seen.recv().await;

    assert_eq!(first, Some(Seen::Connected));
    assert_eq!(second, Some(Seen::Pong(b"hb".to_vec())));
}

#[tokio::test(start_paused = true)]
async fn missing_pong_is_a_dead_connection_and_leads_to_a_reconnect() {
    let (addr, mut seen) = fake_server(false).await;
    let client = Client::connect(config(&format!("ws://{addr}"))).await.unwrap();

    // The paused clock jumps over the 30 s ping interval and the 10 s pong timeout.
    let state = client.wait_for_generation(2).await.unwrap();

    let ConnectionState::Connected { after, .. } = state else { panic!("{state:?}") };
    assert_eq!(after, Some(DisconnectReason::HeartbeatTimeout(Duration::from_secs(10))));
    assert_eq!((seen.recv().await, seen.recv().await), (Some(Seen::Connected), Some(Seen::Connected)));
}

/// A TCP server that reports the first byte a client sends, then hangs up.
async fn first_byte_server() -> (SocketAddr, mpsc::UnboundedReceiver<u8>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let mut byte = [0u8; 1];
            if tcp.read_exact(&mut byte).await.is_ok() {
                let _ = tx.send(byte[0]);
            }
        }
    });
    (addr, rx)
}

/// The first byte of a TLS connection: a handshake record.
const TLS_HANDSHAKE: u8 = 0x16;

#[tokio::test]
async fn wss_url_speaks_tls() {
    let (addr, mut first) = first_byte_server().await;

    let err = Client::connect(config(&format!("wss://{addr}"))).await.unwrap_err();

    assert_eq!(first.recv().await, Some(TLS_HANDSHAKE));
    assert!(matches!(err, ClientError::Connect { .. }), "{err:?}");
}

#[tokio::test]
async fn https_url_speaks_tls_for_rest() {
    let (addr, mut first) = first_byte_server().await;
    let rest = RestClient::new(&config(&format!("https://{addr}"))).unwrap();

    let err = rest.check_api().await.unwrap_err();

    assert_eq!(first.recv().await, Some(TLS_HANDSHAKE));
    assert!(matches!(err, ClientError::Request { .. }), "{err:?}");
}

#[tokio::test]
async fn changes_of_one_coalesced_frame_arrive_as_one_report() {
    let snapshot = r#"{"id":ID,"type":"event","event":{"a":{"light.a":{"s":"on","c":"c1","lc":1.0},"light.b":{"s":"on","c":"c1","lc":1.0}}}}"#;
    let changes = r#"[{"id":ID,"type":"event","event":{"c":{"light.a":{"+":{"s":"off","lc":2.0}}}}},
                      {"id":ID,"type":"event","event":{"c":{"light.b":{"+":{"s":"off","lc":2.0}}}}},
                      {"id":ID,"type":"event","event":{"r":["light.a"]}}]"#;
    let (addr, _seen) = scripted_server(false, vec![snapshot, changes]).await;
    let client = Client::connect(config(&format!("ws://{addr}"))).await.unwrap();
    let mut mirror = client.subscribe_entities(None).await.unwrap();

    let first = mirror.next().await;
    let second = mirror.next().await;

    assert!(matches!(first, Some(StreamItem::Item(r)) if r.added.len() == 2));
    let Some(StreamItem::Item(report)) = second else { panic!("{second:?}") };
    assert_eq!((report.updated.len(), report.removed.len()), (2, 1));
    assert_eq!(
        mirror.states().iter().map(|s| (s.entity_id.to_string(), s.state.clone())).collect::<Vec<_>>(),
        [("light.b".to_owned(), "off".to_owned())]
    );
}

#[tokio::test]
async fn change_for_an_unknown_entity_triggers_a_fresh_snapshot() {
    let snapshot = r#"{"id":ID,"type":"event","event":{"a":{"light.a":{"s":"on","c":"c1","lc":1.0}}}}"#;
    let diverged = r#"{"id":ID,"type":"event","event":{"c":{"light.ghost":{"+":{"s":"off"}}}}}"#;
    let (addr, _seen) = scripted_server(false, vec![snapshot, diverged]).await;
    let client = Client::connect(config(&format!("ws://{addr}"))).await.unwrap();
    let mut mirror = client.subscribe_entities(None).await.unwrap();

    // The client resubscribes; the scripted server answers with the snapshot again.
    let snapshots = mirror.wait_for_snapshot(2).await.unwrap();

    assert_eq!(snapshots, 2);
    assert_eq!(client.stats().resyncs, 1);
}

#[tokio::test]
async fn mirror_events_alone_in_a_frame_count_like_coalesced_ones() {
    // arrange: single-event frames take the one-pass path, the array the generic one
    let snapshot = r#"{"id":ID,"type":"event","event":{"a":{"light.a":{"s":"on","c":"c1","lc":1.0},"light.b":{"s":"on","c":"c1","lc":1.0}}}}"#;
    let alone = r#"{"id":ID,"type":"event","event":{"c":{"light.a":{"+":{"s":"off","lc":2.0}}}}}"#;
    let coalesced = r#"[{"id":ID,"type":"event","event":{"c":{"light.b":{"+":{"s":"off","lc":2.0}}}}},
                        {"id":ID,"type":"event","event":{"r":["light.a"]}}]"#;
    let (addr, _seen) = scripted_server(false, vec![snapshot, alone, coalesced]).await;
    let client = Client::connect(config(&format!("ws://{addr}"))).await.unwrap();
    let mut mirror = client.subscribe_entities(None).await.unwrap();

    // act
    let reports = [mirror.next().await, mirror.next().await, mirror.next().await];

    // assert
    let sizes: Vec<_> = reports
        .iter()
        .map(|r| match r {
            Some(StreamItem::Item(r)) => (r.added.len(), r.updated.len(), r.removed.len()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(sizes, [(2, 0, 0), (0, 1, 0), (0, 1, 1)]);
    let stats = client.stats();
    assert_eq!((stats.events_in, stats.entity_changes, stats.malformed_frames), (4, 5, 0));
    assert_eq!(stats.messages_in, stats.frames_in + 1, "{stats:?}");
    assert_eq!(mirror.states().iter().map(|s| s.state.as_str()).collect::<Vec<_>>(), ["off"]);
}

#[tokio::test]
async fn bad_compressed_event_alone_in_a_frame_resyncs_its_mirror_without_a_reconnect() {
    // arrange: the server answers every subscribe with the snapshot, then a bad event
    let snapshot = r#"{"id":ID,"type":"event","event":{"a":{"light.a":{"s":"on","c":"c1","lc":1.0}}}}"#;
    let bad = r#"{"id":ID,"type":"event","event":{"c":{"Light.A":{"+":{"s":"off"}}}}}"#;
    let (addr, _seen) = scripted_server(false, vec![snapshot, bad]).await;
    let client = Client::connect(config(&format!("ws://{addr}"))).await.unwrap();
    let mut mirror = client.subscribe_entities(None).await.unwrap();

    // act: the one-pass path rejects the frame, the generic path finds the bad payload
    let snapshots = mirror.wait_for_snapshot(2).await.unwrap();

    // assert
    let stats = client.stats();
    assert!(snapshots >= 2);
    assert_eq!((stats.connects, stats.malformed_frames), (1, 0), "{stats:?}");
    assert!(stats.malformed_messages >= 1, "{stats:?}");
}

/// An HTTP server that hangs up on its first connection without answering, then answers
/// every later request with `{"message":"API running."}`; reports each connection.
async fn flaky_http_server() -> (SocketAddr, mpsc::UnboundedReceiver<usize>) {
    use tokio::io::AsyncWriteExt;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut n = 0;
        while let Ok((mut tcp, _)) = listener.accept().await {
            n += 1;
            let _ = tx.send(n);
            if n == 1 {
                continue; // dropped: the client sees the connection close with no response
            }
            let mut buf = vec![0u8; 4096];
            let _ = tcp.read(&mut buf).await;
            let body = r#"{"message":"API running."}"#;
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = tcp.write_all(format!("{head}{body}").as_bytes()).await;
        }
    });
    (addr, rx)
}

#[tokio::test]
async fn idempotent_get_is_retried_once_after_a_connection_error() {
    let (addr, mut connections) = flaky_http_server().await;
    let rest = RestClient::new(&config(&format!("http://{addr}"))).unwrap();

    let message = rest.check_api().await;

    assert_eq!(message.unwrap(), "API running.");
    assert_eq!((connections.recv().await, connections.recv().await), (Some(1), Some(2)));
}

#[tokio::test]
async fn post_is_not_retried_after_a_connection_error() {
    let (addr, mut connections) = flaky_http_server().await;
    let rest = RestClient::new(&config(&format!("http://{addr}"))).unwrap();

    let outcome = rest.fire_event("once", None).await;

    assert!(matches!(outcome, Err(ClientError::Request { .. })), "{outcome:?}");
    assert_eq!(connections.recv().await, Some(1));
    assert!(connections.try_recv().is_err(), "a second connection was made");
}
