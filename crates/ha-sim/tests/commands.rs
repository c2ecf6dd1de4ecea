//! The command phase over a raw WebSocket: id rules, error shapes, and each command.

mod common;

use common::{Client, sim, without_reported};
use ha_proto::{ErrorCode, Event, ServerMessage};
use serde_json::json;

#[tokio::test]
async fn get_states_returns_the_truth() {
    let sim = sim(50).await;
    let mut client = Client::connect(&sim).await;

    let result = client.ok(json!({"type": "get_states"})).await;

    let mut states = ha_proto::parse_states(&result.to_string()).unwrap();
    states.sort_by(|a, b| a.entity_id.as_str().cmp(b.entity_id.as_str()));
    assert_eq!(states, sim.states());
}

#[tokio::test]
async fn get_config_reports_the_version_and_units() {
    let sim = sim(1).await;
    let mut client = Client::connect(&sim).await;

    let config: ha_proto::rest::HaConfig =
        serde_json::from_value(client.ok(json!({"type": "get_config"})).await).unwrap();

    assert_eq!(config.version, "2024.3.3");
    assert_eq!(config.state, "RUNNING");
    assert_eq!(config.unit_system.temperature, "°C");
}

#[tokio::test]
async fn get_services_describes_light_turn_on() {
    let sim = sim(1).await;
    let mut client = Client::connect(&sim).await;

    let services: ha_proto::rest::Services =
        serde_json::from_value(client.ok(json!({"type": "get_services"})).await).unwrap();

    let turn_on = &services["light"]["turn_on"];
    assert!(turn_on.fields.contains_key("brightness"));
    assert!(turn_on.target.is_some());
}

#[tokio::test]
async fn reused_id_gets_id_reuse() {
    let sim = sim(1).await;
    let mut client = Client::connect(&sim).await;
    client.send(json!({"id": 5, "type": "ping"})).await;
    client.reply_to(5).await;

    client.send(json!({"id": 5, "type": "ping"})).await;
    let reply = client.reply_to(5).await;

    let ServerMessage::Result { outcome: Err(error), .. } = reply else { panic!("{reply:?}") };
    assert_eq!(error.code, ErrorCode::IdReuse);
    assert_eq!(error.message, "Identifier values have to increase.");
}

#[tokio::test]
async fn unknown_type_gets_unknown_command() {
    let sim = sim(1).await;
    let mut client = Client::connect(&sim).await;

    let error = client.err(json!({"type": "no_such_command"})).await;

    assert_eq!(error.code, ErrorCode::UnknownCommand);
}

#[tokio::test]
async fn wrong_shape_gets_invalid_format() {
    let sim = sim(1).await;
    let mut client = Client::connect(&sim).await;

    let error = client.err(json!({"type": "call_service", "domain": "light"})).await;

    assert_eq!(error.code, ErrorCode::InvalidFormat);
    assert_eq!(error.message, "required key not provided @ data['service']. Got None");
}

#[tokio::test]
async fn ping_gets_pong() {
    let sim = sim(1).await;
    let mut client = Client::connect(&sim).await;

    let reply = client.command(json!({"type": "ping"})).await;

    assert!(matches!(reply, ServerMessage::Pong { id: 1 }));
}

#[tokio::test]
async fn array_of_commands_is_handled_in_order() {
    let sim = sim(1).await;
    let mut client = Client::connect(&sim).await;

    client.send(json!([{"id": 1, "type": "ping"}, {"id": 2, "type": "get_config"}, {"id": 3, "type": "ping"}])).await;
    let ids: Vec<Option<u64>> = [client.next().await, client.next().await, client.next().await]
        .iter()
        .map(|m| m.as_ref().unwrap().id())
        .collect();

    assert_eq!(ids, [Some(1), Some(2), Some(3)]);
}

#[tokio::test]
async fn turning_a_light_on_changes_its_state_and_fires_state_changed() {
    let sim = sim(1).await;
    sim.set_state("light.kitchen", "off", ha_proto::Attributes::new());
    let mut client = Client::connect(&sim).await;
    client.ok(json!({"type": "subscribe_events", "event_type": "state_changed"})).await;

    let result = client
        .ok(json!({"type": "call_service", "domain": "light", "service": "turn_on",
                    "service_data": {"brightness": 101}, "target": {"entity_id": "light.kitchen"}}))
        .await;
    let (_, event) = client.event().await;

    let event = Event::parse(&event).unwrap();
    let data = event.state_changed().unwrap().unwrap();
    let new = data.new_state.unwrap();
    assert_eq!(new.state, "on");
    assert_eq!(new.attributes.get_as::<i64>("brightness"), Some(101));
    assert_eq!(new.context.id, result["context"]["id"].as_str().unwrap());
    assert_eq!(sim.states().iter().find(|s| s.entity_id == "light.kitchen").unwrap().state, "on");
}

#[tokio::test]
async fn toggle_flips_an_input_boolean() {
    let sim = sim(1).await;
    sim.set_state("input_boolean.guest", "on", ha_proto::Attributes::new());
    let mut client = Client::connect(&sim).await;

    client
        .ok(json!({"type": "call_service", "domain": "input_boolean", "service": "toggle",
                    "target": {"entity_id": ["input_boolean.guest"]}}))
        .await;

    assert_eq!(sim.states().iter().find(|s| s.entity_id == "input_boolean.guest").unwrap().state, "off");
}

#[tokio::test]
async fn unknown_service_gets_not_found_with_translation() {
    let sim = sim(1).await;
    let mut client = Client::connect(&sim).await;

    let error = client.err(json!({"type": "call_service", "domain": "light", "service": "foo"})).await;

    assert_eq!(error.code, ErrorCode::NotFound);
    assert_eq!(error.message, "Service light.foo not found.");
    assert_eq!(error.translation_key.as_deref(), Some("service_not_found"));
    assert_eq!(error.translation_placeholders.unwrap()["service"], "foo");
}

#[tokio::test]
async fn out_of_range_service_data_gets_invalid_format() {
    let sim = sim(1).await;
    let mut client = Client::connect(&sim).await;

    let error = client
        .err(json!({"type": "call_service", "domain": "light", "service": "turn_on", "service_data": {"brightness": 300}}))
        .await;

    assert_eq!(error.code, ErrorCode::InvalidFormat);
}

#[tokio::test]
async fn return_response_on_a_service_without_response_is_an_unknown_error() {
    let sim = sim(1).await;
    let mut client = Client::connect(&sim).await;

    let error = client
        .err(json!({"type": "call_service", "domain": "switch", "service": "turn_on", "return_response": true}))
        .await;

    // Captured from Home Assistant 2024.3.3 (later releases say service_validation_error).
    assert_eq!(error.code, ErrorCode::UnknownError);
    assert_eq!(error.message, "Invalid argument return_response=True when handler does not support responses");
    assert_eq!(error.translation_key, None);
}

#[tokio::test]
async fn return_response_is_checked_before_the_service_data() {
    let sim = sim(1).await;
    let mut client = Client::connect(&sim).await;

    let error = client
        .err(json!({"type": "call_service", "domain": "switch", "service": "turn_on",
                    "service_data": {"bogus_field": 1}, "return_response": true}))
        .await;

    assert_eq!(error.code, ErrorCode::UnknownError);
}

#[tokio::test]
async fn response_only_service_without_return_response_is_an_unknown_error() {
    let sim = sim(1).await;
    let mut client = Client::connect(&sim).await;

    let error = client
        .err(json!({"type": "call_service", "domain": "weather", "service": "get_forecasts", "service_data": {"type": "daily"}}))
        .await;

    assert_eq!(error.code, ErrorCode::UnknownError);
    assert_eq!(error.message, "Service call requires responses but caller did not ask for responses");
}

#[tokio::test]
async fn return_response_gives_the_response_next_to_the_context() {
    let sim = sim(1).await;
    let mut client = Client::connect(&sim).await;

    let result = client
        .ok(json!({"type": "call_service", "domain": "conversation", "service": "process",
                    "service_data": {"text": "hello"}, "return_response": true}))
        .await;

    assert!(result["context"]["id"].is_string());
    assert!(result["response"]["response"]["speech"].is_object());
}

#[tokio::test]
async fn notifications_are_created_replaced_and_dismissed() {
    let sim = sim(1).await;
    let mut client = Client::connect(&sim).await;
    let create = |message: &str| {
        json!({"type": "call_service", "domain": "persistent_notification", "service": "create",
               "service_data": {"message": message, "title": "T", "notification_id": "n1"}})
    };

    client.ok(create("first")).await;
    client.ok(create("second")).await;
    let after_create = sim.notifications();
    client
        .ok(json!({"type": "call_service", "domain": "persistent_notification", "service": "dismiss",
                    "service_data": {"notification_id": "n1"}}))
        .await;

    assert_eq!(after_create.len(), 1);
    assert_eq!(after_create[0].message, "second");
    assert_eq!(after_create[0].title.as_deref(), Some("T"));
    assert!(sim.notifications().is_empty());
}

#[tokio::test]
async fn subscribe_events_filters_by_event_type() {
    let sim = sim(1).await;
    let mut client = Client::connect(&sim).await;
    let sub = client.id();
    client.send(json!({"id": sub, "type": "subscribe_events", "event_type": "wanted"})).await;
    client.reply_to(sub).await;

    client.ok(json!({"type": "fire_event", "event_type": "unwanted", "event_data": {"n": 1}})).await;
    client.ok(json!({"type": "fire_event", "event_type": "wanted", "event_data": {"n": 2}})).await;
    let (id, event) = client.event().await;

    let event = Event::parse(&event).unwrap();
    assert_eq!(id, sub);
    assert_eq!(event.event_type, "wanted");
    assert_eq!(event.data.get(), r#"{"n":2}"#);
}

#[tokio::test]
async fn unsubscribe_stops_events_and_unknown_subscription_is_not_found() {
    let sim = sim(1).await;
    let mut client = Client::connect(&sim).await;
    let sub = client.id();
    client.send(json!({"id": sub, "type": "subscribe_events", "event_type": "x"})).await;
    client.reply_to(sub).await;

    client.ok(json!({"type": "unsubscribe_events", "subscription": sub})).await;
    let again = client.err(json!({"type": "unsubscribe_events", "subscription": sub})).await;

    assert_eq!(again.code, ErrorCode::NotFound);
    assert_eq!(again.message, "Subscription not found.");
}

#[tokio::test]
async fn set_state_and_remove_state_reach_event_subscribers() {
    let sim = sim(1).await;
    let mut client = Client::connect(&sim).await;
    client.ok(json!({"type": "subscribe_events", "event_type": "state_changed"})).await;

    sim.set_state("sensor.new_one", "1", ha_proto::Attributes::new());
    let removed = sim.remove_state("sensor.new_one");
    let added = Event::parse(&client.event().await.1).unwrap().state_changed().unwrap().unwrap();
    let gone = Event::parse(&client.event().await.1).unwrap().state_changed().unwrap().unwrap();

    assert!(removed);
    assert!(added.old_state.is_none() && added.new_state.is_some());
    assert!(gone.old_state.is_some() && gone.new_state.is_none());
    assert!(without_reported(sim.states()).iter().all(|s| s.entity_id != "sensor.new_one"));
}

#[tokio::test]
async fn state_trigger_fires_on_the_matching_change_only() {
    let sim = sim(0).await;
    sim.set_state("binary_sensor.door", "off", ha_proto::Attributes::new());
    let mut client = Client::connect(&sim).await;
    let sub = client.id();
    client
        .send(json!({"id": sub, "type": "subscribe_trigger",
                     "trigger": {"platform": "state", "entity_id": "binary_sensor.door", "to": "on"}}))
        .await;
    client.reply_to(sub).await;

    sim.set_state("binary_sensor.door", "unavailable", ha_proto::Attributes::new());
    sim.set_state("binary_sensor.door", "on", ha_proto::Attributes::new());
    let (id, event) = client.event().await;

    let event: ha_proto::TriggerEvent = serde_json::from_str(&event).unwrap();
    assert_eq!(id, sub);
    assert_eq!(event.variables["trigger"]["from_state"]["state"], "unavailable");
    assert_eq!(event.variables["trigger"]["to_state"]["state"], "on");
}

#[tokio::test]
async fn subscriptions_are_counted_and_sim_events_reach_subscribers() {
    let sim = sim(0).await;
    let mut client = Client::connect(&sim).await;
    let sub = client.id();
    client.send(json!({"id": sub, "type": "subscribe_events", "event_type": "custom"})).await;

    sim.wait_for_subscriptions(1).await;
    sim.fire_event("custom", json!({"k": "v"}));
    let (id, event) = client.event().await;

    assert_eq!(id, sub);
    assert_eq!(Event::parse(&event).unwrap().data.get(), r#"{"k":"v"}"#);
    assert_eq!(sim.subscriptions(), 1);
}

#[tokio::test(start_paused = true)]
async fn set_rate_starts_and_freezes_the_background_load() {
    let config = ha_sim::SimConfig { entities: 20, heartbeat: std::time::Duration::ZERO, ..Default::default() };
    let sim = ha_sim::Sim::start(config).await.unwrap();
    let mut client = Client::connect(&sim).await;
    client.ok(json!({"type": "subscribe_events", "event_type": "state_changed"})).await;

    sim.set_rate(1000.0);
    client.event().await;
    sim.set_rate(0.0);
    let frozen = sim.load_changes();
    let states = sim.states();
    tokio::time::advance(std::time::Duration::from_secs(10)).await;
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }

    assert!(frozen > 0);
    assert_eq!(sim.load_changes(), frozen);
    assert_eq!(sim.states(), states);
}
