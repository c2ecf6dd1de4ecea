//! The auth phase: what the server says first, how it answers good and bad tokens, and
//! that it does not wait forever.

mod common;

use std::time::Duration;

use common::{Client, sim};
use ha_proto::ServerMessage;
use ha_sim::{Sim, SimConfig};
use serde_json::json;

#[tokio::test]
async fn server_speaks_first_with_its_version() {
    let sim = sim(5).await;

    let (_client, version) = Client::open(&sim).await;

    assert_eq!(version, "2024.3.3");
}

#[tokio::test]
async fn right_token_gets_auth_ok_and_counts_as_a_connection() {
    let sim = sim(5).await;

    let _client = Client::connect(&sim).await;
    sim.wait_for_connections(1).await;

    assert_eq!(sim.connections(), 1);
}

#[tokio::test]
async fn wrong_token_gets_auth_invalid_then_close() {
    let sim = sim(5).await;
    let (mut client, _) = Client::open(&sim).await;

    client.send(json!({"type": "auth", "access_token": "wrong"})).await;
    let reply = client.next().await;
    let after = client.next().await;

    assert!(
        matches!(reply, Some(ServerMessage::AuthInvalid { ref message }) if message == "Invalid access token or password")
    );
    assert!(after.is_none(), "connection should close after auth_invalid");
    assert_eq!(sim.auth_failures(), 1);
}

#[tokio::test]
async fn reject_auth_fault_refuses_the_right_token() {
    let sim = sim(5).await;
    sim.faults().reject_auth(true);
    let (mut client, _) = Client::open(&sim).await;

    client.send(json!({"type": "auth", "access_token": "sim-token"})).await;

    assert!(matches!(client.next().await, Some(ServerMessage::AuthInvalid { .. })));
    assert_eq!(sim.auth_failures(), 1);
}

#[tokio::test]
async fn invalid_json_during_auth_closes_without_answer() {
    let sim = sim(5).await;
    let (mut client, _) = Client::open(&sim).await;

    client.send_text("{not json".to_owned()).await;

    assert!(client.next().await.is_none());
}

#[tokio::test(start_paused = true)]
async fn silent_client_is_closed_after_the_auth_timeout() {
    let sim = Sim::start(SimConfig { entities: 1, auth_timeout: Duration::from_secs(10), ..SimConfig::default() })
        .await
        .unwrap();
    let (mut client, _) = Client::open(&sim).await;

    // The paused clock jumps to the server's deadline while the client waits.
    let next = client.next().await;

    assert!(next.is_none());
    assert_eq!(sim.connections(), 0);
}

#[tokio::test]
async fn malformed_auth_message_gets_auth_invalid() {
    let sim = sim(5).await;
    let (mut client, _) = Client::open(&sim).await;

    client.send(json!({"type": "auth", "api_password": "x"})).await;

    assert!(
        matches!(client.next().await, Some(ServerMessage::AuthInvalid { ref message }) if message.starts_with("Auth message incorrectly formatted"))
    );
}

#[tokio::test]
async fn the_token_never_shows_in_debug_output() {
    let sim = Sim::start(SimConfig { entities: 0, token: "hunter2-secret".to_owned(), ..SimConfig::default() })
        .await
        .unwrap();

    let shown = format!("{sim:?} {:?}", sim.faults());

    assert!(!shown.contains("hunter2-secret"), "{shown}");
}
