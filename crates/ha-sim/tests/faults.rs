//! Every fault of `Faults`, seen from a raw client.

mod common;

use std::time::Duration;

use common::{Client, sim, without_reported};
use ha_proto::{CompressedEvent, ServerMessage};
use ha_sim::{MalformedItem, Sim, SimConfig};
use serde_json::json;

/// For paused-clock tests: no heartbeat, so the clock only jumps to the timers under test.
async fn quiet_sim() -> Sim {
    Sim::start(SimConfig { entities: 0, heartbeat: Duration::ZERO, ..SimConfig::default() }).await.unwrap()
}

#[tokio::test]
async fn drop_all_now_closes_every_connection() {
    let sim = sim(1).await;
    let mut a = Client::connect(&sim).await;
    let mut b = Client::connect(&sim).await;
    sim.wait_for_connections(2).await;

    sim.faults().drop_all_now();

    assert!(a.next().await.is_none());
    assert!(b.next().await.is_none());
    sim.wait_for_connections_at_most(0).await;
}

#[tokio::test]
async fn dropped_connections_get_no_close_frame() {
    let sim = sim(1).await;
    let mut client = Client::connect(&sim).await;
    sim.wait_for_connections(1).await;

    sim.faults().drop_all_now();
    let end = futures_util::StreamExt::next(&mut client.ws).await;

    assert!(matches!(end, None | Some(Err(_))), "{end:?}");
}

#[tokio::test]
async fn restart_ends_connections_without_a_close_frame() {
    let sim = sim(1).await;
    let mut client = Client::connect(&sim).await;
    sim.wait_for_connections(1).await;

    sim.faults().restart();
    let end = futures_util::StreamExt::next(&mut client.ws).await;

    // A stopping Home Assistant 2024.3.3 drops the TCP connection (no close frame).
    assert!(matches!(end, None | Some(Err(_))), "{end:?}");
}

#[tokio::test]
async fn drop_after_messages_closes_after_exactly_n_more() {
    let sim = sim(0).await;
    let mut client = Client::connect(&sim).await;
    client.ok(json!({"type": "subscribe_events", "event_type": "state_changed"})).await;

    sim.faults().drop_after_messages(3);
    for i in 0..6 {
        sim.set_state("sensor.counter", &i.to_string(), ha_proto::Attributes::new());
    }
    let received = client.until_closed().await;

    assert_eq!(received, 3);
}

#[tokio::test]
async fn clear_lifts_drop_after_for_new_connections() {
    let sim = sim(0).await;
    sim.faults().drop_after_messages(0);
    sim.faults().clear();
    let mut client = Client::connect(&sim).await;

    let reply = client.command(json!({"type": "ping"})).await;

    assert!(matches!(reply, ServerMessage::Pong { .. }));
}

#[tokio::test(start_paused = true)]
async fn delayed_responses_arrive_after_the_delay() {
    let sim = quiet_sim().await;
    let mut client = Client::connect(&sim).await;
    sim.faults().delay_responses(Duration::from_secs(5));
    let sent_at = tokio::time::Instant::now();

    let reply = client.command(json!({"type": "ping"})).await;

    assert!(matches!(reply, ServerMessage::Pong { .. }));
    // Virtual time: the paused clock only moves as far as the server's delay.
    assert!(sent_at.elapsed() >= Duration::from_secs(5));
}

#[tokio::test]
async fn stopped_reading_holds_commands_but_not_events() {
    let sim = sim(0).await;
    let mut client = Client::connect(&sim).await;
    client.ok(json!({"type": "subscribe_events", "event_type": "state_changed"})).await;
    sim.faults().stop_reading(Duration::from_secs(3600));

    client.send(json!({"id": 100, "type": "ping"})).await;
    sim.set_state("sensor.during_stall", "1", ha_proto::Attributes::new());
    let first = client.next().await.unwrap();
    sim.faults().clear();
    let second = client.next().await.unwrap();

    assert!(matches!(first, ServerMessage::Event { .. }), "{first:?}");
    assert!(matches!(second, ServerMessage::Pong { id: 100 }), "{second:?}");
}

#[tokio::test]
async fn malformed_frame_is_not_json() {
    let sim = sim(0).await;
    let mut client = Client::connect(&sim).await;
    sim.wait_for_connections(1).await;

    sim.faults().send_malformed_frame();
    let text = client.next_text().await.unwrap();

    assert!(ha_proto::Frame::parse(&text).is_err());
}

/// A raw client with coalescing on, subscribed to the entities `ids`; returns it and the
/// subscription's id.
async fn coalescing_entities_client(sim: &Sim, ids: &[&str]) -> (Client, u64) {
    let mut client = Client::connect(sim).await;
    client.ok(json!({"type": "supported_features", "features": {"coalesce_messages": 1}})).await;
    let id = client.id() + 1;
    client.ok(json!({"type": "subscribe_entities", "entity_ids": ids})).await;
    let _snapshot = client.event().await;
    (client, id)
}

#[tokio::test]
async fn malformed_item_sits_inside_the_array_frame_of_its_neighbours() {
    // arrange
    let sim = sim(20).await;
    let light = sim.states()[0].entity_id.to_string();
    let (mut client, sub) = coalescing_entities_client(&sim, &[&light]).await;

    // act: queued while the writer cannot run (current-thread runtime, no await in between)
    sim.set_state(&light, "fault-test-1", Default::default());
    sim.faults().send_malformed_in_array(MalformedItem::EntitiesPayload { entity_id: light.clone() });
    sim.set_state(&light, "fault-test-2", Default::default());
    let text = client.next_text().await.unwrap();

    // assert: one array frame; its middle item is an event for the subscription with a bad payload
    let frame = ha_proto::Frame::parse(&text).unwrap();
    assert!(frame.coalesced, "{text}");
    let ids: Vec<_> = frame.messages.iter().map(ServerMessage::id).collect();
    assert_eq!(ids, [Some(sub); 3], "{text}");
    let ServerMessage::Event { event, .. } = &frame.messages[1] else { panic!("{text}") };
    assert!(CompressedEvent::parse(event.get()).is_err(), "{text}");
    assert!(frame.messages.iter().enumerate().all(|(i, m)| i == 1
        || matches!(m, ServerMessage::Event { event, .. } if CompressedEvent::parse(event.get()).is_ok())));
}

#[tokio::test]
async fn malformed_envelope_reaches_only_subscribers_of_its_entity() {
    // arrange
    let sim = sim(20).await;
    let states = sim.states();
    let (light, other) = (states[0].entity_id.to_string(), states[1].entity_id.to_string());
    let (mut mine, sub) = coalescing_entities_client(&sim, &[&light]).await;
    let (mut theirs, _) = coalescing_entities_client(&sim, &[&other]).await;

    // act
    sim.faults().send_malformed_in_array(MalformedItem::EntitiesEnvelope { entity_id: light.clone() });
    sim.set_state(&other, "fault-test-3", Default::default());
    let text = mine.next_text().await.unwrap();
    let (_, their_event) = theirs.event().await;

    // assert: a one-item array with a readable id and no payload, and nothing bad elsewhere
    let frame = ha_proto::Frame::parse(&text).unwrap();
    assert!(frame.coalesced && frame.messages.is_empty(), "{text}");
    assert!(
        matches!(&frame.errors[..], [ha_proto::ProtoError::InvalidMessage { id: Some(id), .. }] if *id == sub),
        "{text}"
    );
    assert!(CompressedEvent::parse(&their_event).is_ok(), "{their_event}");
}

#[tokio::test]
async fn refused_commands_get_the_code_a_set_number_of_times_then_run() {
    // arrange
    let sim = sim(5).await;
    let mut client = Client::connect(&sim).await;
    sim.faults().refuse_commands("subscribe_entities", 2, ha_proto::ErrorCode::UnknownCommand);

    // act
    let first = client.err(json!({"type": "subscribe_entities"})).await;
    let other = client.ok(json!({"type": "get_config"})).await;
    let second = client.err(json!({"type": "subscribe_entities"})).await;
    let third = client.ok(json!({"type": "subscribe_entities"})).await;

    // assert
    assert_eq!((first.code.as_str(), second.code.as_str()), ("unknown_command", "unknown_command"));
    assert!(other.is_object() && third.is_null(), "{other} {third}");
}

#[tokio::test]
async fn oversized_message_has_the_requested_size() {
    let sim = sim(0).await;
    let mut client = Client::connect(&sim).await;
    sim.wait_for_connections(1).await;

    sim.faults().send_oversized(2 << 20);
    let text = client.next_text().await.unwrap();

    assert!(text.len() >= 2 << 20);
    assert!(ha_proto::Frame::parse(&text).is_ok());
}

#[tokio::test]
async fn reject_auth_then_clear_lets_the_token_in_again() {
    let sim = sim(0).await;
    sim.faults().reject_auth(true);
    sim.faults().clear();

    let _client = Client::connect(&sim).await;

    assert_eq!(sim.auth_failures(), 0);
}

#[tokio::test]
async fn restart_closes_bumps_the_version_and_churns_entities() {
    let sim = Sim::start(SimConfig { entities: 100, restart_churn: Some(5), ..SimConfig::default() }).await.unwrap();
    sim.set_state("sensor.made_over_the_api", "1", ha_proto::Attributes::new());
    let before = sim.states();
    let mut client = Client::connect(&sim).await;
    sim.wait_for_connections(1).await;

    sim.faults().restart();
    let closed = client.next().await.is_none();
    let (mut again, version) = Client::open(&sim).await;
    again.send(json!({"type": "auth", "access_token": "sim-token"})).await;
    again.next().await.unwrap();
    again.send(json!({"id": 1, "type": "subscribe_entities"})).await;
    again.reply_to(1).await;
    let (_, snapshot) = again.event().await;

    let after = sim.states();
    assert!(closed);
    assert_eq!(version, "2024.3.4");
    assert!(after.iter().all(|s| s.entity_id != "sensor.made_over_the_api"));
    let gone = before.iter().filter(|s| !after.iter().any(|a| a.entity_id == s.entity_id)).count();
    let new = after.iter().filter(|s| !before.iter().any(|b| b.entity_id == s.entity_id)).count();
    assert_eq!(gone, 6, "5 churned plus the API-made entity");
    assert_eq!(new, 5);
    let snapshot = CompressedEvent::parse(&snapshot).unwrap();
    let mut mirrored: Vec<_> = snapshot.added.iter().map(|(k, c)| c.to_state(k.to_entity_id())).collect();
    mirrored.sort_by(|a, b| a.entity_id.as_str().cmp(b.entity_id.as_str()));
    assert_eq!(mirrored, without_reported(after));
}

#[tokio::test]
async fn flow_control_cuts_a_client_too_far_behind() {
    // A current-thread runtime: the writer cannot run while `emit_changes` queues, so the
    // client is exactly as far behind as the number of changes.
    let sim = Sim::start(SimConfig { entities: 50, max_pending: 20, ..SimConfig::default() }).await.unwrap();
    let mut client = Client::connect(&sim).await;
    client.ok(json!({"type": "subscribe_events"})).await;

    sim.emit_changes(100);
    let received = client.until_closed().await;

    assert!(received < 20, "received {received}");
    sim.wait_for_connections_at_most(0).await;
}

#[tokio::test(start_paused = true)]
async fn the_background_load_never_queues_more_than_a_quarter_of_the_flow_control_limit_at_once() {
    // A current-thread runtime and a paused clock: every 5 ms tick owes 1,000 changes at once, and
    // the writer runs only when the generator yields between its batches.
    let config = SimConfig { entities: 50, max_pending: 400, heartbeat: Duration::ZERO, ..SimConfig::default() };
    let sim = Sim::start(config).await.unwrap();
    let mut client = Client::connect(&sim).await;
    client.ok(json!({"type": "subscribe_events", "event_type": "state_changed"})).await;

    sim.set_rate(200_000.0);
    for _ in 0..5_000 {
        client.event().await;
    }

    assert_eq!(sim.connections(), 1);
}

#[tokio::test(start_paused = true)]
async fn unanswered_protocol_pings_close_the_connection() {
    let config = SimConfig {
        entities: 0,
        heartbeat: Duration::from_secs(55),
        auth_timeout: Duration::from_secs(3600),
        ..SimConfig::default()
    };
    let sim = Sim::start(config).await.unwrap();
    let _client = Client::connect(&sim).await;
    sim.wait_for_connections(1).await;

    // The client never reads, so it never answers the ping; the paused clock runs ahead.
    sim.wait_for_connections_at_most(0).await;

    assert_eq!(sim.connections(), 0);
}

#[tokio::test(start_paused = true)]
async fn server_sends_protocol_pings() {
    let config = SimConfig { entities: 0, heartbeat: Duration::from_secs(55), ..SimConfig::default() };
    let sim = Sim::start(config).await.unwrap();
    let mut client = Client::connect(&sim).await;

    let frame = futures_util::StreamExt::next(&mut client.ws).await;

    assert!(matches!(frame, Some(Ok(tokio_tungstenite::tungstenite::Message::Ping(_)))), "{frame:?}");
}

#[tokio::test]
async fn restart_with_downtime_refuses_clients_until_cleared() {
    let sim = sim(5).await;
    sim.faults().restart_with_downtime(Duration::from_secs(3600));

    let refused = tokio_tungstenite::connect_async(sim.ws_url()).await;
    let rest =
        reqwest::Client::new().get(format!("{}/api/", sim.http_url())).bearer_auth("sim-token").send().await.unwrap();
    sim.faults().clear();
    let (_client, version) = Client::open(&sim).await;

    assert!(refused.is_err());
    assert_eq!(rest.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(version, "2024.3.4");
}

#[tokio::test]
async fn clear_releases_commands_held_by_the_delay() {
    let sim = sim(0).await;
    let mut client = Client::connect(&sim).await;
    sim.faults().delay_responses(Duration::from_secs(3600));
    client.send(json!({"id": 7, "type": "ping"})).await;
    client.send(json!({"id": 8, "type": "get_config"})).await;
    // A protocol ping is answered by the server's reader without delay: its pong proves
    // both commands were read (and are being held).
    futures_util::SinkExt::send(&mut client.ws, tokio_tungstenite::tungstenite::Message::Ping(Default::default()))
        .await
        .unwrap();
    let pong = futures_util::StreamExt::next(&mut client.ws).await;

    sim.faults().clear();
    let reply = client.reply_to(7).await;

    assert!(matches!(pong, Some(Ok(tokio_tungstenite::tungstenite::Message::Pong(_)))), "{pong:?}");
    assert!(matches!(reply, ServerMessage::Pong { id: 7 }));
}

#[tokio::test]
async fn restart_forgets_old_connections_at_once() {
    let sim = sim(5).await;
    let _old = Client::connect(&sim).await;
    sim.wait_for_connections(1).await;

    sim.faults().restart();
    let right_after = sim.connections();
    let _new = Client::connect(&sim).await;
    sim.wait_for_connections(1).await;

    assert_eq!(right_after, 0);
    assert_eq!(sim.connections(), 1);
}
