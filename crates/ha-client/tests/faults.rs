//! The fault matrix: for each fault ha-sim can inject, the client recovers by itself (and
//! its mirror equals the sim's truth afterwards) or returns the documented error.

mod common;

use std::time::Duration;

use common::{assert_mirror_matches, client, config, settle, sim, within};
use futures_util::StreamExt;
use ha_client::{Client, ClientError, ConnectionState, DisconnectReason, Heartbeat, StreamItem};
use ha_sim::MalformedItem;

/// Waits for connection `generation` and returns why the previous one ended.
async fn reconnected(client: &Client, generation: u64) -> Option<DisconnectReason> {
    match within(client.wait_for_generation(generation)).await.expect("client reconnects") {
        ConnectionState::Connected { after, .. } => after,
        other => panic!("not connected: {other:?}"),
    }
}

#[tokio::test]
async fn in_flight_command_fails_with_connection_lost_on_drop() {
    let sim = sim(10).await;
    let client = client(&sim).await;
    sim.faults().delay_responses(Duration::from_secs(3600));
    let pending = tokio::spawn({
        let client = client.clone();
        async move { client.ping().await }
    });
    // The ping is in flight once the sim holds it; a ping of our own proves nothing here, so
    // wait for the command to have been sent.
    within(async {
        while client.stats().frames_out < 2 {
            tokio::task::yield_now().await;
        }
    })
    .await;

    sim.faults().drop_all_now();
    let outcome = within(pending).await.unwrap();

    assert!(matches!(outcome, Err(ClientError::ConnectionLost { .. })), "{outcome:?}");
}

#[tokio::test]
async fn mirror_resyncs_after_drop_all_now() {
    let sim = sim(100).await;
    let client = client(&sim).await;
    let mut mirror = within(client.subscribe_entities(None)).await.unwrap();

    sim.faults().drop_all_now();
    sim.emit_changes(50);
    reconnected(&client, 2).await;
    within(mirror.wait_for_snapshot(2)).await.unwrap();
    settle(&client).await;

    assert_mirror_matches(&mirror, &sim);
    assert_eq!(client.stats().reconnects, 1);
}

#[tokio::test]
async fn event_stream_continues_after_reconnect() {
    let sim = sim(10).await;
    let client = client(&sim).await;
    let mut events = within(client.subscribe_events(Some("after_drop"))).await.unwrap();

    sim.faults().drop_all_now();
    reconnected(&client, 2).await;
    settle(&client).await;
    within(client.fire_event("after_drop", None)).await.unwrap();
    let first = within(events.next()).await.unwrap();
    let second = within(events.next()).await.unwrap();

    assert_eq!(first, StreamItem::Reconnected);
    assert!(matches!(&second, StreamItem::Item(e) if e.event_type == "after_drop"), "{second:?}");
}

#[tokio::test]
async fn drop_after_messages_is_survived_and_mirror_converges() {
    let sim = sim(100).await;
    let client = client(&sim).await;
    let mirror = within(client.subscribe_entities(None)).await.unwrap();

    sim.faults().drop_after_messages(5);
    sim.emit_changes(200);
    reconnected(&client, 2).await;
    // Once the new connection carries the subscription again, more changes end it as well.
    settle(&client).await;
    sim.emit_changes(200);
    reconnected(&client, 3).await;
    sim.faults().clear();
    sim.emit_changes(50);
    settle(&client).await;

    assert_mirror_matches(&mirror, &sim);
    assert!(client.stats().reconnects >= 2);
}

#[tokio::test]
async fn delayed_responses_still_arrive() {
    let sim = sim(10).await;
    let client = client(&sim).await;

    sim.faults().delay_responses(Duration::from_millis(20));
    let states = within(client.get_states()).await;

    assert_eq!(states.unwrap().len(), 10);
}

#[tokio::test]
async fn response_slower_than_the_command_timeout_is_a_timeout_error() {
    let sim = sim(10).await;
    let mut cfg = config(&sim);
    cfg.command_timeout = Duration::from_millis(100);
    let client = within(Client::connect(cfg)).await.unwrap();

    sim.faults().delay_responses(Duration::from_secs(3600));
    let err = within(client.get_config()).await.unwrap_err();

    assert!(matches!(err, ClientError::Timeout { command: "get_config", .. }), "{err:?}");
}

#[tokio::test]
async fn server_that_stops_reading_is_detected_by_the_heartbeat() {
    let sim = sim(20).await;
    let mut cfg = config(&sim);
    cfg.heartbeat = Some(Heartbeat { interval: Duration::from_millis(20), timeout: Duration::from_millis(50) });
    let client = within(Client::connect(cfg)).await.unwrap();
    let mut mirror = within(client.subscribe_entities(None)).await.unwrap();
    let mut state = client.watch_state();

    sim.faults().stop_reading(Duration::from_secs(3600));
    let lost = within(state.wait_for(|s| matches!(s, ConnectionState::Reconnecting { .. }))).await.unwrap().clone();
    sim.faults().clear();
    sim.emit_changes(20);
    reconnected(&client, 2).await;
    within(mirror.wait_for_snapshot(2)).await.unwrap();
    settle(&client).await;

    let ConnectionState::Reconnecting { reason } = lost else { unreachable!() };
    assert!(matches!(reason, DisconnectReason::HeartbeatTimeout(_)), "{reason:?}");
    assert_mirror_matches(&mirror, &sim);
}

#[tokio::test]
async fn short_read_pause_is_ridden_out() {
    let sim = sim(10).await;
    let client = client(&sim).await;

    sim.faults().stop_reading(Duration::from_millis(50));
    let rtt = within(client.ping()).await;

    assert!(rtt.is_ok(), "{rtt:?}");
    assert_eq!(client.stats().reconnects, 0);
}

#[tokio::test]
async fn malformed_frame_resets_the_connection_without_panic() {
    let sim = sim(50).await;
    let client = client(&sim).await;
    let mirror = within(client.subscribe_entities(None)).await.unwrap();

    sim.faults().send_malformed_frame();
    let reason = reconnected(&client, 2).await;
    sim.emit_changes(30);
    settle(&client).await;

    assert!(matches!(reason, Some(DisconnectReason::Malformed(_))), "{reason:?}");
    assert_eq!(client.stats().malformed_frames, 1);
    assert_mirror_matches(&mirror, &sim);
}

#[tokio::test]
async fn oversized_message_gives_a_clear_error_and_a_reconnect() {
    let sim = sim(10).await;
    let mut cfg = config(&sim);
    cfg.max_message_size = 64 * 1024;
    let client = within(Client::connect(cfg)).await.unwrap();

    sim.faults().send_oversized(256 * 1024);
    let reason = reconnected(&client, 2).await;
    let after = within(client.ping()).await;

    let Some(DisconnectReason::MessageTooLarge { limit, .. }) = reason.clone() else { panic!("{reason:?}") };
    assert_eq!(limit, 64 * 1024);
    assert!(reason.unwrap().to_string().contains("max_message_size"));
    assert!(after.is_ok(), "{after:?}");
}

#[tokio::test]
async fn message_within_the_limit_is_accepted() {
    let sim = sim(10).await;
    let client = client(&sim).await;

    sim.faults().send_oversized(8 * 1024 * 1024);
    settle(&client).await;

    assert_eq!(client.stats().reconnects, 0);
    assert!(client.stats().bytes_in > 8 * 1024 * 1024);
}

#[tokio::test]
async fn restart_replaces_the_mirror_so_deleted_entities_disappear() {
    let sim = sim(200).await;
    let client = client(&sim).await;
    let mut mirror = within(client.subscribe_entities(None)).await.unwrap();
    let before: Vec<String> = mirror.states().iter().map(|s| s.entity_id.to_string()).collect();

    sim.faults().restart();
    reconnected(&client, 2).await;
    within(mirror.wait_for_snapshot(2)).await.unwrap();
    settle(&client).await;

    let gone = before.iter().filter(|id| mirror.get(id).is_none()).count();
    assert!(gone > 0, "the restart removed no entity the mirror had");
    assert_mirror_matches(&mirror, &sim);
    assert!(matches!(client.state(), ConnectionState::Connected { ha_version, .. } if ha_version == sim.ha_version()));
    assert_eq!(client.stats().resyncs, 1);
}

#[tokio::test]
async fn rejected_auth_on_reconnect_stops_for_good_after_one_attempt() {
    let sim = sim(10).await;
    let client = client(&sim).await;
    let mut events = within(client.subscribe_events(None)).await.unwrap();
    let mut state = client.watch_state();

    sim.faults().reject_auth(true);
    sim.faults().drop_all_now();
    let failed = within(state.wait_for(|s| matches!(s, ConnectionState::Failed(_)))).await.unwrap().clone();
    let err = within(client.ping()).await.unwrap_err();
    let rest_of_stream: Vec<_> = within(events.by_ref().collect::<Vec<_>>()).await;

    assert!(matches!(failed, ConnectionState::Failed(ClientError::AuthInvalid { .. })), "{failed:?}");
    assert!(matches!(err, ClientError::AuthInvalid { .. }), "{err:?}");
    assert!(rest_of_stream.iter().all(|i| !matches!(i, StreamItem::Item(_))));
    assert_eq!(sim.auth_failures(), 1);
}

/// What one malformed item inside an array frame cost: two entity mirrors (`a` gets the bad
/// item, `b` does not), an event stream and a stream of state changes, all fed by the same frame.
struct BadItemOutcome {
    stats: ha_client::ClientStats,
    a_snapshots: u64,
    a_state: String,
    b_snapshots: u64,
    b_state: String,
    events: Vec<StreamItem<String>>,
    /// The entities of the state changes seen, in order.
    changes: Vec<String>,
    /// The ids of entities `a` and `b`.
    a: String,
    b: String,
}

async fn bad_item_in_an_array(item: impl FnOnce(String) -> MalformedItem) -> BadItemOutcome {
    let sim = sim(50).await;
    let client = client(&sim).await;
    let states = sim.states();
    let (a, b) = (states[0].entity_id.to_string(), states[1].entity_id.to_string());
    let mut mirror_a = within(client.subscribe_entities(Some(vec![a.clone()]))).await.unwrap();
    let mut mirror_b = within(client.subscribe_entities(Some(vec![b.clone()]))).await.unwrap();
    let mut events = within(client.subscribe_events(Some("state_changed"))).await.unwrap();
    let mut state_changes = within(client.subscribe_state_changes()).await.unwrap();
    settle(&client).await;

    // One batch (the sim's writer cannot run before the next await): b changes, the bad item
    // for a's subscription, b changes again, a changes.
    sim.set_state(&b, "before-bad-item", Default::default());
    sim.faults().send_malformed_in_array(item(a.clone()));
    sim.set_state(&b, "after-bad-item", Default::default());
    sim.set_state(&a, "changed-in-the-same-frame", Default::default());
    let mut seen = Vec::new();
    while seen.iter().filter(|i| matches!(i, StreamItem::Item(_))).count() < 3 {
        seen.push(match within(events.next()).await.expect("stream open") {
            StreamItem::Item(e) => StreamItem::Item(e.event_type.to_string()),
            StreamItem::Lagged(n) => StreamItem::Lagged(n),
            StreamItem::Reconnected => StreamItem::Reconnected,
        });
    }
    let mut changes = Vec::new();
    while changes.len() < 3 {
        if let StreamItem::Item(change) = within(state_changes.next()).await.expect("stream open") {
            changes.push(change.get().change.entity_id.as_str().to_owned());
        }
    }
    let _ = within(mirror_a.wait_for_snapshot(2)).await;
    let _ = within(mirror_b.wait_for_snapshot(1)).await;
    settle(&client).await;
    let state_of = |m: &ha_client::Mirror, id: &str| m.get(id).map(|s| s.state).unwrap_or_default();
    BadItemOutcome {
        stats: client.stats(),
        a_snapshots: mirror_a.snapshots(),
        a_state: state_of(&mirror_a, &a),
        b_snapshots: mirror_b.snapshots(),
        b_state: state_of(&mirror_b, &b),
        events: seen,
        changes,
        a,
        b,
    }
}

#[tokio::test]
async fn bad_payload_inside_an_array_resyncs_only_the_mirror_it_belonged_to() {
    let o = bad_item_in_an_array(|entity_id| MalformedItem::EntitiesPayload { entity_id }).await;

    assert_eq!((o.stats.reconnects, o.stats.malformed_frames, o.stats.malformed_messages), (0, 0, 1));
    assert_eq!((o.a_snapshots, o.a_state.as_str()), (2, "changed-in-the-same-frame"));
    assert_eq!((o.b_snapshots, o.b_state.as_str()), (1, "after-bad-item"));
    assert_eq!(o.events, vec![StreamItem::Item("state_changed".to_owned()); 3]);
}

#[tokio::test]
async fn a_bad_item_inside_an_array_costs_a_subscriber_of_state_changes_nothing() {
    // Arrange + Act: the array is read from the copy the state changes borrow from
    let o = bad_item_in_an_array(|entity_id| MalformedItem::EntitiesPayload { entity_id }).await;

    // Assert
    assert_eq!(o.changes, [o.b.clone(), o.b.clone(), o.a.clone()]);
}

#[tokio::test]
async fn bad_envelope_inside_an_array_resyncs_only_the_mirror_it_belonged_to() {
    let o = bad_item_in_an_array(|entity_id| MalformedItem::EntitiesEnvelope { entity_id }).await;

    assert_eq!((o.stats.reconnects, o.stats.malformed_frames, o.stats.malformed_messages), (0, 0, 1));
    assert_eq!((o.a_snapshots, o.a_state.as_str()), (2, "changed-in-the-same-frame"));
    assert_eq!((o.b_snapshots, o.b_state.as_str()), (1, "after-bad-item"));
    assert_eq!(o.events, vec![StreamItem::Item("state_changed".to_owned()); 3]);
}

#[tokio::test]
async fn bad_item_with_an_unreadable_id_falls_back_to_a_reconnect() {
    let o = bad_item_in_an_array(|_| MalformedItem::UnreadableId).await;

    assert_eq!((o.stats.reconnects, o.stats.malformed_frames, o.stats.malformed_messages), (1, 1, 0));
    assert_eq!((o.a_snapshots, o.a_state.as_str()), (2, "changed-in-the-same-frame"));
    assert_eq!((o.b_snapshots, o.b_state.as_str()), (2, "after-bad-item"));
    assert_eq!(o.events.first(), Some(&StreamItem::Item("state_changed".to_owned())));
}
