//! `supported_features` coalescing: messages queued together leave as one array frame.

mod common;

use common::{Client, sim};
use serde_json::json;

#[tokio::test]
async fn with_coalescing_queued_events_share_one_frame() {
    let sim = sim(50).await;
    let mut client = Client::connect(&sim).await;
    client.ok(json!({"type": "supported_features", "features": {"coalesce_messages": 1}})).await;
    client.ok(json!({"type": "subscribe_events", "event_type": "state_changed"})).await;

    sim.emit_changes(100);
    let text = client.next_text().await.unwrap();

    let frame = ha_proto::Frame::parse(&text).unwrap();
    assert!(frame.coalesced);
    assert_eq!(frame.messages.len(), 100);
}

#[tokio::test]
async fn without_coalescing_every_frame_is_one_object() {
    let sim = sim(50).await;
    let mut client = Client::connect(&sim).await;
    client.ok(json!({"type": "subscribe_events", "event_type": "state_changed"})).await;

    sim.emit_changes(20);
    let mut frames = Vec::new();
    for _ in 0..20 {
        frames.push(ha_proto::Frame::parse(&client.next_text().await.unwrap()).unwrap().coalesced);
    }

    assert!(frames.iter().all(|coalesced| !coalesced));
}
