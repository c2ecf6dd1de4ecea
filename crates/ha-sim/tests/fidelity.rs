//! What a real Home Assistant 2024.3.3 was seen to do (`/work/notes/real-ha-findings.md`,
//! captured by the conformance helper) and the simulator now does too: one test per
//! captured behaviour that differed from the simulator's first version.

mod common;

use std::time::Duration;

use common::{Client, sim};
use futures_util::{SinkExt, StreamExt};
use ha_proto::ServerMessage;
use ha_sim::{Sim, SimConfig};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

const FULL_STATE_KEYS: [&str; 6] = ["attributes", "context", "entity_id", "last_changed", "last_updated", "state"];

fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value.as_object().expect("an object").keys().map(String::as_str).collect();
    keys.sort_unstable();
    keys
}

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

async fn get_json(sim: &Sim, path: &str) -> Value {
    http().get(format!("{}{path}", sim.http_url())).bearer_auth("sim-token").send().await.unwrap().json().await.unwrap()
}

// --- last_reported ---------------------------------------------------------------------

#[tokio::test]
async fn get_states_has_no_last_reported() {
    let sim = sim(20).await;
    let mut client = Client::connect(&sim).await;
    sim.set_state("sensor.written", "1", ha_proto::Attributes::new());

    let states = client.ok(json!({"type": "get_states"})).await;

    let states = states.as_array().unwrap();
    assert_eq!(states.len(), 21);
    assert!(states.iter().all(|s| keys(s) == FULL_STATE_KEYS), "{states:?}");
}

#[tokio::test]
async fn rest_states_have_no_last_reported() {
    let sim = sim(20).await;
    sim.set_state("sensor.written", "1", ha_proto::Attributes::new());
    sim.set_state("sensor.written", "1", ha_proto::Attributes::new());

    let states = get_json(&sim, "/api/states").await;

    assert!(states.as_array().unwrap().iter().all(|s| keys(s) == FULL_STATE_KEYS), "{states:?}");
}

#[tokio::test]
async fn state_changed_events_have_no_last_reported() {
    let sim = sim(0).await;
    sim.set_state("sensor.x", "1", ha_proto::Attributes::new());
    let mut client = Client::connect(&sim).await;
    client.ok(json!({"type": "subscribe_events", "event_type": "state_changed"})).await;

    sim.set_state("sensor.x", "2", ha_proto::Attributes::new());
    let (_, event) = client.event().await;

    let event: Value = serde_json::from_str(&event).unwrap();
    assert_eq!(keys(&event["data"]["old_state"]), FULL_STATE_KEYS);
    assert_eq!(keys(&event["data"]["new_state"]), FULL_STATE_KEYS);
}

// --- get_config ------------------------------------------------------------------------

#[tokio::test]
async fn get_config_has_the_keys_of_2024_3_3() {
    let sim = sim(0).await;
    let mut client = Client::connect(&sim).await;

    let config = client.ok(json!({"type": "get_config"})).await;

    let mut expected = vec![
        "allowlist_external_dirs",
        "allowlist_external_urls",
        "components",
        "config_dir",
        "config_source",
        "country",
        "currency",
        "elevation",
        "external_url",
        "internal_url",
        "language",
        "latitude",
        "location_name",
        "longitude",
        "recovery_mode",
        "safe_mode",
        "state",
        "time_zone",
        "unit_system",
        "version",
        "whitelist_external_dirs",
    ];
    expected.sort_unstable();
    assert_eq!(keys(&config), expected);
    assert_eq!(config["unit_system"].as_object().unwrap().len(), 7);
    assert_eq!(config["country"], Value::Null);
    assert_eq!(config["currency"], "EUR");
    assert_eq!(config["whitelist_external_dirs"], config["allowlist_external_dirs"]);
}

#[tokio::test]
async fn rest_config_equals_get_config() {
    let sim = sim(0).await;
    let mut client = Client::connect(&sim).await;

    let rest = get_json(&sim, "/api/config").await;
    let ws = client.ok(json!({"type": "get_config"})).await;

    assert_eq!(rest, ws);
}

// --- REST states -----------------------------------------------------------------------

#[tokio::test]
async fn posting_an_uppercase_entity_id_creates_it_lowercased() {
    let sim = sim(0).await;

    let response = http()
        .post(format!("{}/api/states/Sensor.Bad_Id", sim.http_url()))
        .bearer_auth("sim-token")
        .json(&json!({"state": "1"}))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["entity_id"], "sensor.bad_id");
    assert_eq!(sim.states()[0].entity_id.as_str(), "sensor.bad_id");
}

#[tokio::test]
async fn rest_state_paths_ignore_case() {
    let sim = sim(0).await;
    sim.set_state("sensor.mixed", "1", ha_proto::Attributes::new());

    let found = get_json(&sim, "/api/states/SENSOR.Mixed").await;

    assert_eq!(found["entity_id"], "sensor.mixed");
}

#[tokio::test]
async fn rest_removal_fires_with_a_fresh_context_without_user() {
    let sim = sim(0).await;
    sim.set_state("sensor.gone", "1", ha_proto::Attributes::new());
    let mut client = Client::connect(&sim).await;
    client.ok(json!({"type": "subscribe_events", "event_type": "state_changed"})).await;

    let response = http()
        .delete(format!("{}/api/states/sensor.gone", sim.http_url()))
        .bearer_auth("sim-token")
        .send()
        .await
        .unwrap();
    let (_, event) = client.event().await;

    assert_eq!(response.status(), StatusCode::OK);
    let event: Value = serde_json::from_str(&event).unwrap();
    assert_eq!(event["data"]["new_state"], Value::Null);
    assert_eq!(event["context"]["user_id"], Value::Null);
    assert_ne!(event["context"]["id"], event["data"]["old_state"]["context"]["id"]);
}

#[tokio::test]
async fn unknown_api_path_is_a_plain_404() {
    let sim = sim(0).await;

    let response = http().get(format!("{}/api/nothing/here", sim.http_url())).send().await.unwrap();

    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(response.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(response.text().await.unwrap(), "404: Not Found");
}

// --- persistent notifications ----------------------------------------------------------

async fn notify(client: &mut Client, id: &str, message: &str) {
    client
        .ok(json!({"type": "call_service", "domain": "persistent_notification", "service": "create",
                   "service_data": {"notification_id": id, "message": message}}))
        .await;
}

#[tokio::test]
async fn notifications_are_not_entities() {
    let sim = sim(5).await;
    let mut client = Client::connect(&sim).await;

    notify(&mut client, "n1", "M").await;

    assert_eq!(sim.notifications().len(), 1);
    assert_eq!(sim.states().len(), 5);
    assert!(sim.states().iter().all(|s| s.entity_id.domain() != "persistent_notification"));
}

#[tokio::test]
async fn notification_subscription_starts_with_the_current_ones() {
    let sim = sim(0).await;
    let mut client = Client::connect(&sim).await;
    notify(&mut client, "hp2", "M").await;

    let result = client.ok(json!({"type": "persistent_notification/subscribe"})).await;
    let (_, event) = client.event().await;

    assert_eq!(result, Value::Null);
    let event: Value = serde_json::from_str(&event).unwrap();
    assert_eq!(event["type"], "current");
    let note = &event["notifications"]["hp2"];
    assert_eq!(keys(note), ["created_at", "message", "notification_id", "title"]);
    assert_eq!(
        (&note["message"], &note["notification_id"], &note["title"]),
        (&json!("M"), &json!("hp2"), &Value::Null)
    );
}

#[tokio::test]
async fn creating_an_existing_notification_is_added_again() {
    let sim = sim(0).await;
    let mut client = Client::connect(&sim).await;
    notify(&mut client, "n1", "first").await;
    client.ok(json!({"type": "persistent_notification/subscribe"})).await;
    client.event().await; // current

    notify(&mut client, "n1", "second").await;
    let (_, event) = client.event().await;

    let event: Value = serde_json::from_str(&event).unwrap();
    assert_eq!(event["type"], "added");
    assert_eq!(event["notifications"]["n1"]["message"], "second");
    assert_eq!(sim.notifications().len(), 1);
}

#[tokio::test]
async fn dismissing_sends_removed_with_the_last_content() {
    let sim = sim(0).await;
    let mut client = Client::connect(&sim).await;
    notify(&mut client, "n1", "bye").await;
    client.ok(json!({"type": "persistent_notification/subscribe"})).await;
    client.event().await; // current

    client
        .ok(json!({"type": "call_service", "domain": "persistent_notification", "service": "dismiss",
                   "service_data": {"notification_id": "n1"}}))
        .await;
    let (_, event) = client.event().await;

    let event: Value = serde_json::from_str(&event).unwrap();
    assert_eq!(event["type"], "removed");
    assert_eq!(event["notifications"]["n1"]["message"], "bye");
    assert!(sim.notifications().is_empty());
}

#[tokio::test]
async fn dismissing_an_unknown_notification_succeeds_silently() {
    let sim = sim(0).await;
    let mut client = Client::connect(&sim).await;
    client.ok(json!({"type": "persistent_notification/subscribe"})).await;
    client.event().await; // current

    client
        .ok(json!({"type": "call_service", "domain": "persistent_notification", "service": "dismiss",
                   "service_data": {"notification_id": "never"}}))
        .await;
    notify(&mut client, "next", "M").await;
    let (_, event) = client.event().await;

    // The first event after the dismiss is the next creation's: the dismiss sent nothing.
    let event: Value = serde_json::from_str(&event).unwrap();
    assert_eq!(event["type"], "added");
}

#[tokio::test]
async fn a_rejected_token_creates_the_login_notification() {
    let sim = sim(0).await;

    let response = http().get(format!("{}/api/", sim.http_url())).bearer_auth("wrong").send().await.unwrap();

    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let notes = sim.notifications();
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].notification_id, ha_sim::LOGIN_NOTIFICATION_ID);
    assert_eq!(notes[0].title.as_deref(), Some("Login attempt failed"));
}

#[tokio::test]
async fn a_rejected_websocket_login_is_announced_to_notification_subscribers() {
    let sim = sim(0).await;
    let mut watcher = Client::connect(&sim).await;
    watcher.ok(json!({"type": "persistent_notification/subscribe"})).await;
    watcher.event().await; // current
    let (mut intruder, _) = Client::open(&sim).await;

    intruder.send(json!({"type": "auth", "access_token": "wrong"})).await;
    let (_, event) = watcher.event().await;

    let event: Value = serde_json::from_str(&event).unwrap();
    assert_eq!(event["type"], "added");
    assert!(event["notifications"]["http-login"].is_object(), "{event}");
}

// --- closing ---------------------------------------------------------------------------

#[tokio::test]
async fn auth_invalid_is_followed_by_close_code_1000() {
    let sim = sim(0).await;
    let (mut client, _) = Client::open(&sim).await;

    client.send(json!({"type": "auth", "access_token": "wrong"})).await;
    let _auth_invalid = client.ws.next().await;
    let end = client.ws.next().await;

    match end {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(frame.code, CloseCode::Normal),
        other => panic!("expected close 1000, got {other:?}"),
    }
}

#[tokio::test]
async fn auth_timeout_ends_the_connection_without_a_close_frame() {
    let sim = Sim::start(SimConfig { entities: 0, auth_timeout: Duration::from_millis(20), ..SimConfig::default() })
        .await
        .unwrap();
    let (mut client, _) = Client::open(&sim).await;

    let end = tokio::time::timeout(common::HANG, client.ws.next()).await.expect("no hang");

    assert!(matches!(end, None | Some(Err(_))), "{end:?}");
}

#[tokio::test]
async fn shutdown_ends_connections_without_a_close_frame() {
    let sim = sim(0).await;
    let mut client = Client::connect(&sim).await;
    sim.wait_for_connections(1).await;

    sim.shutdown().await;
    let end = tokio::time::timeout(common::HANG, client.ws.next()).await.expect("no hang");

    assert!(matches!(end, None | Some(Err(_))), "{end:?}");
}

#[tokio::test]
async fn binary_frames_after_auth_are_ignored() {
    let sim = sim(0).await;
    let mut client = Client::connect(&sim).await;

    client.ws.send(Message::Binary(vec![7, 1, 2].into())).await.unwrap();
    let pong = client.command(json!({"type": "ping"})).await;

    assert!(matches!(pong, ServerMessage::Pong { .. }), "{pong:?}");
}

// --- malformed messages ----------------------------------------------------------------

async fn raw_reply(client: &mut Client, sent: &str) -> Value {
    client.send_text(sent.to_owned()).await;
    serde_json::from_str(&client.next_text().await.expect("a reply")).unwrap()
}

#[tokio::test]
async fn a_message_without_id_is_answered_with_a_null_id() {
    let sim = sim(0).await;
    let mut client = Client::connect(&sim).await;

    let reply = raw_reply(&mut client, r#"{"type":"ping"}"#).await;

    assert_eq!(reply["id"], Value::Null);
    assert_eq!(reply["error"]["code"], "invalid_format");
    assert_eq!(reply["error"]["message"], "Message incorrectly formatted.");
}

#[tokio::test]
async fn a_string_id_is_echoed_as_a_string() {
    let sim = sim(0).await;
    let mut client = Client::connect(&sim).await;

    let reply = raw_reply(&mut client, r#"{"id":"15","type":"ping"}"#).await;

    assert_eq!(reply["id"], "15");
    assert_eq!(reply["error"]["code"], "invalid_format");
}

#[tokio::test]
async fn a_message_that_is_not_an_object_is_answered_with_id_0() {
    let sim = sim(0).await;
    let mut client = Client::connect(&sim).await;

    let reply = raw_reply(&mut client, "[1]").await;

    assert_eq!(reply["id"], 0);
    assert_eq!(reply["error"]["code"], "invalid_format");
}

#[tokio::test]
async fn a_message_without_type_is_invalid_format() {
    let sim = sim(0).await;
    let mut client = Client::connect(&sim).await;

    let reply = raw_reply(&mut client, r#"{"id":14}"#).await;

    assert_eq!((&reply["id"], &reply["error"]["code"]), (&json!(14), &json!("invalid_format")));
}

#[tokio::test]
async fn a_negative_id_is_id_reuse() {
    let sim = sim(0).await;
    let mut client = Client::connect(&sim).await;

    let reply = raw_reply(&mut client, r#"{"id":-3,"type":"ping"}"#).await;

    assert_eq!((&reply["id"], &reply["error"]["code"]), (&json!(-3), &json!("id_reuse")));
}

#[tokio::test]
async fn an_empty_array_gets_no_reply() {
    let sim = sim(0).await;
    let mut client = Client::connect(&sim).await;

    client.send_text("[]".to_owned()).await;
    let next = raw_reply(&mut client, r#"{"id":1,"type":"ping"}"#).await;

    assert_eq!(next, json!({"id": 1, "type": "pong"}));
}

#[tokio::test]
async fn non_json_text_after_auth_closes_with_code_1000() {
    let sim = sim(0).await;
    let mut client = Client::connect(&sim).await;

    client.send_text("this is not JSON {".to_owned()).await;
    let end = tokio::time::timeout(common::HANG, client.ws.next()).await.expect("no hang");

    match end {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(frame.code, CloseCode::Normal),
        other => panic!("expected close 1000, got {other:?}"),
    }
}

// --- key order -------------------------------------------------------------------------

#[tokio::test]
async fn bus_events_put_the_id_last() {
    let sim = sim(0).await;
    let mut client = Client::connect(&sim).await;
    client.send(json!({"id": 1, "type": "subscribe_events", "event_type": "doorbell"})).await;
    let _result = client.next_text().await;

    sim.fire_event("doorbell", json!({}));
    let text = client.next_text().await.expect("the event");

    assert!(text.starts_with(r#"{"type":"event","event":{"#), "{text}");
    assert!(text.ends_with(r#","id":1}"#), "{text}");
}

#[tokio::test]
async fn entity_diffs_put_the_id_last_but_the_snapshot_first() {
    let sim = sim(0).await;
    sim.set_state("sensor.x", "1", ha_proto::Attributes::new());
    let mut client = Client::connect(&sim).await;
    client.send(json!({"id": 1, "type": "subscribe_entities"})).await;
    let _result = client.next_text().await;
    let snapshot = client.next_text().await.expect("the snapshot");

    sim.set_state("sensor.x", "2", ha_proto::Attributes::new());
    let diff = client.next_text().await.expect("the diff");

    assert!(snapshot.starts_with(r#"{"id":1,"type":"event","#), "{snapshot}");
    assert!(diff.starts_with(r#"{"type":"event","event":{"c":"#), "{diff}");
    assert!(diff.ends_with(r#","id":1}"#), "{diff}");
}

#[tokio::test]
async fn a_rejected_websocket_login_closed_gracefully_creates_the_login_notification() {
    let sim = sim(0).await;
    let mut watcher = Client::connect(&sim).await;
    watcher.ok(json!({"type": "persistent_notification/subscribe"})).await;
    watcher.event().await; // current
    let (mut intruder, _) = Client::open(&sim).await;

    intruder.send(json!({"type": "auth", "access_token": "wrong"})).await;
    let _auth_invalid = intruder.ws.next().await;
    intruder.ws.close(None).await.unwrap();
    let (_, event) = watcher.event().await;

    let event: Value = serde_json::from_str(&event).unwrap();
    assert!(event["notifications"]["http-login"].is_object(), "{event}");
}

// --- the conformance server's configuration ---------------------------------------------

async fn conformance_sim() -> Sim {
    Sim::start(SimConfig { entities: 10, conformance_fixtures: true, ..SimConfig::default() }).await.unwrap()
}

#[tokio::test]
async fn conformance_fixtures_install_the_xtask_helpers() {
    let sim = conformance_sim().await;

    let level = get_json(&sim, "/api/states/input_number.hapulse_level").await;

    assert_eq!(level["state"], "50.0");
    assert_eq!(level["attributes"]["max"], 100.0);
    assert_eq!(sim.states().len(), 17);
}

#[tokio::test]
async fn conformance_fixtures_survive_a_restart() {
    let sim = Sim::start(SimConfig {
        entities: 0,
        conformance_fixtures: true,
        restart_churn: Some(7),
        ..SimConfig::default()
    })
    .await
    .unwrap();

    sim.faults().restart();

    assert!(sim.states().iter().any(|s| s.entity_id == "input_boolean.hapulse_switch"));
    assert!(sim.states().iter().any(|s| s.entity_id == "script.hapulse_echo"));
}

#[tokio::test]
async fn a_script_is_a_service_that_can_respond() {
    let sim = conformance_sim().await;
    let mut client = Client::connect(&sim).await;

    let result = client
        .ok(json!({"type": "call_service", "domain": "script", "service": "hapulse_echo",
                   "service_data": {"value": "hi"}, "return_response": true}))
        .await;

    assert_eq!(result["response"], json!({"echo": "hi"}));
    assert!(result["context"]["id"].is_string());
}

#[tokio::test]
async fn a_script_service_without_return_response_gives_only_the_context() {
    let sim = conformance_sim().await;
    let mut client = Client::connect(&sim).await;

    let result = client.ok(json!({"type": "call_service", "domain": "script", "service": "hapulse_echo"})).await;

    assert_eq!(keys(&result), ["context"]);
}

#[tokio::test]
async fn a_service_for_a_script_that_does_not_exist_is_not_found() {
    let sim = conformance_sim().await;
    let mut client = Client::connect(&sim).await;

    let error = client.err(json!({"type": "call_service", "domain": "script", "service": "nope"})).await;

    assert_eq!(error.code, ha_proto::ErrorCode::NotFound);
}

#[tokio::test]
async fn execute_script_returns_the_stop_steps_response_variable() {
    let sim = sim(0).await;
    let mut client = Client::connect(&sim).await;

    let result = client
        .ok(json!({"type": "execute_script",
                   "sequence": [{"variables": {"r": {"a": 1}}}, {"stop": "x", "response_variable": "r"}]}))
        .await;

    assert_eq!(result["response"], json!({"a": 1}));
    assert!(result["context"]["id"].is_string());
}

#[tokio::test]
async fn execute_script_without_a_response_gives_null() {
    let sim = sim(0).await;
    let mut client = Client::connect(&sim).await;

    let result = client.ok(json!({"type": "execute_script", "sequence": [{"stop": "x"}]})).await;

    assert_eq!(result["response"], Value::Null);
}

#[tokio::test]
async fn the_spare_helper_with_initial_false_is_off_again_after_a_restart() {
    let sim = conformance_sim().await;
    let mut client = Client::connect(&sim).await;
    client
        .ok(json!({"type": "call_service", "domain": "input_boolean", "service": "turn_on",
                   "target": {"entity_id": ["input_boolean.hapulse_spare", "input_boolean.hapulse_switch"]}}))
        .await;

    sim.faults().restart();

    let state_of = |id: &str| sim.states().into_iter().find(|s| s.entity_id == id).map(|s| s.state);
    assert_eq!(state_of("input_boolean.hapulse_spare").as_deref(), Some("off"));
    assert_eq!(state_of("input_boolean.hapulse_switch").as_deref(), Some("on"));
}
