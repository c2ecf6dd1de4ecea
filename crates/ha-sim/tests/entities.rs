//! `subscribe_entities`: result, one snapshot, then compressed diffs that keep a mirror
//! equal to the truth.

mod common;

use common::{Client, sim, without_reported};
use ha_proto::CompressedEvent;
use ha_state::EntityStore;
use serde_json::json;

/// Subscribes and returns (subscription id, mirror built from the snapshot).
async fn subscribe(client: &mut Client, filter: Option<&[&str]>) -> (u64, EntityStore) {
    let id = client.id();
    let mut cmd = json!({"id": id, "type": "subscribe_entities"});
    if let Some(ids) = filter {
        cmd["entity_ids"] = json!(ids);
    }
    client.send(cmd).await;
    let result = client.reply_to(id).await;
    assert!(matches!(result, ha_proto::ServerMessage::Result { outcome: Ok(ref r), .. } if r.is_null()));
    let (sub, snapshot) = client.event().await;
    assert_eq!(sub, id);
    let mut store = EntityStore::new();
    store.replace_from_compressed(&CompressedEvent::parse(&snapshot).unwrap()).unwrap();
    (id, store)
}

fn mirror_equals_truth(store: &EntityStore, truth: &[ha_proto::State]) {
    assert_eq!(store.len(), truth.len());
    for state in truth {
        assert_eq!(store.get(state.entity_id.as_str()).as_ref(), Some(state), "{}", state.entity_id);
    }
}

#[tokio::test]
async fn snapshot_holds_every_state() {
    let sim = sim(200).await;
    let mut client = Client::connect(&sim).await;

    let (_, store) = subscribe(&mut client, None).await;

    mirror_equals_truth(&store, &without_reported(sim.states()));
}

#[tokio::test]
async fn diffs_keep_the_mirror_equal_to_the_truth() {
    let sim = sim(200).await;
    let mut client = Client::connect(&sim).await;
    let (_, mut store) = subscribe(&mut client, None).await;

    sim.emit_changes(500);
    for _ in 0..500 {
        let (_, event) = client.event().await;
        store.apply_compressed(&CompressedEvent::parse(&event).unwrap()).unwrap();
    }

    mirror_equals_truth(&store, &without_reported(sim.states()));
}

#[tokio::test]
async fn added_and_removed_entities_arrive_as_a_and_r() {
    let sim = sim(3).await;
    let mut client = Client::connect(&sim).await;
    subscribe(&mut client, None).await;

    sim.set_state("sensor.fresh", "1", ha_proto::Attributes::new());
    sim.remove_state("sensor.fresh");
    let added = client.event().await.1;
    let removed = client.event().await.1;

    let added = CompressedEvent::parse(&added).unwrap();
    let removed = CompressedEvent::parse(&removed).unwrap();
    assert_eq!(added.added[0].0.as_str(), "sensor.fresh");
    assert_eq!(removed.removed[0].as_str(), "sensor.fresh");
}

#[tokio::test]
async fn entity_ids_filter_limits_snapshot_and_diffs() {
    let sim = sim(0).await;
    sim.set_state("light.a", "off", ha_proto::Attributes::new());
    sim.set_state("light.b", "off", ha_proto::Attributes::new());
    let mut client = Client::connect(&sim).await;
    let (_, store) = subscribe(&mut client, Some(&["light.b"])).await;

    sim.set_state("light.a", "on", ha_proto::Attributes::new());
    sim.set_state("light.b", "on", ha_proto::Attributes::new());
    let (_, event) = client.event().await;

    assert_eq!(store.len(), 1);
    let event = CompressedEvent::parse(&event).unwrap();
    assert_eq!(event.changed.len(), 1);
    assert_eq!(event.changed[0].0.as_str(), "light.b");
}

#[tokio::test]
async fn invalid_entity_id_in_filter_is_invalid_format() {
    let sim = sim(1).await;
    let mut client = Client::connect(&sim).await;

    let error = client.err(json!({"type": "subscribe_entities", "entity_ids": ["Not Valid"]})).await;

    assert_eq!(error.code, ha_proto::ErrorCode::InvalidFormat);
}

#[tokio::test]
async fn snapshot_of_nothing_is_an_empty_a() {
    let sim = sim(3).await;
    let mut client = Client::connect(&sim).await;
    client.send(json!({"id": 1, "type": "subscribe_entities", "entity_ids": ["light.not_there"]})).await;
    client.reply_to(1).await;

    let (_, snapshot) = client.event().await;

    assert_eq!(snapshot, r#"{"a":{}}"#);
}
