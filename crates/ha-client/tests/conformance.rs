//! ha-client against ha-sim: every command, its result shape and its error codes.

mod common;

use common::{assert_mirror_matches, client, first_of, settle, sim, truth, within};
use futures_util::StreamExt;
use ha_client::{ClientError, CommandKind, ServiceCall, StreamItem};
use ha_proto::{Attributes, Command, Target};
use serde_json::json;

#[tokio::test]
async fn get_states_equals_the_sims_truth() {
    let sim = sim(50).await;
    let client = client(&sim).await;

    let mut states = within(client.get_states()).await.unwrap();

    states.sort_by(|a, b| a.entity_id.as_str().cmp(b.entity_id.as_str()));
    assert!(states == sim.states(), "get_states differs from the sim's states");
}

#[tokio::test]
async fn get_config_reports_the_running_version() {
    let sim = sim(5).await;
    let client = client(&sim).await;

    let config = within(client.get_config()).await.unwrap();

    assert_eq!(config.version, sim.ha_version());
    assert_eq!(config.state, "RUNNING");
}

#[tokio::test]
async fn get_services_lists_light_turn_on() {
    let sim = sim(5).await;
    let client = client(&sim).await;

    let services = within(client.get_services()).await.unwrap();

    assert!(services.get("light").is_some_and(|l| l.contains_key("turn_on")), "{:?}", services.keys());
}

#[tokio::test]
async fn call_service_changes_state_and_the_mirror_follows() {
    let sim = sim(60).await;
    let client = client(&sim).await;
    let mirror = within(client.subscribe_entities(None)).await.unwrap();
    let light = first_of(&sim, "light");
    let call = ServiceCall::new("light", "turn_off").target(Target::entities([light.as_str()]));

    let result = within(client.call_service(&call)).await.unwrap();
    settle(&client).await;

    assert!(!result.context.id.is_empty());
    assert_eq!(mirror.get(&light).unwrap().state, "off");
    assert_mirror_matches(&mirror, &sim);
}

#[tokio::test]
async fn call_service_with_return_response_gives_the_response() {
    let sim = sim(5).await;
    let client = client(&sim).await;
    let call = ServiceCall::new("conversation", "process").data(json!({"text": "hello"})).return_response();

    let result = within(client.call_service(&call)).await.unwrap();

    let response = result.response.expect("a response");
    assert_eq!(response["response"]["response_type"], json!("error"));
}

#[tokio::test]
async fn unknown_service_is_not_found() {
    let sim = sim(5).await;
    let client = client(&sim).await;

    let err = within(client.call_service(&ServiceCall::new("light", "explode"))).await.unwrap_err();

    assert!(err.is_code("not_found"), "{err:?}");
}

#[tokio::test]
async fn bad_service_data_is_invalid_format() {
    let sim = sim(60).await;
    let client = client(&sim).await;
    let light = first_of(&sim, "light");
    let call =
        ServiceCall::new("light", "turn_on").data(json!({"colour": "red"})).target(Target::entities([light.as_str()]));

    let err = within(client.call_service(&call)).await.unwrap_err();

    assert!(err.is_code("invalid_format"), "{err:?}");
}

#[tokio::test]
async fn return_response_without_one_is_unknown_error_like_home_assistant_2024_3() {
    let sim = sim(60).await;
    let client = client(&sim).await;
    let light = first_of(&sim, "light");
    let call = ServiceCall::new("light", "turn_on").target(Target::entities([light.as_str()])).return_response();

    let err = within(client.call_service(&call)).await.unwrap_err();

    assert!(
        matches!(&err, ClientError::Command { error, .. } if error.code.as_str() == "unknown_error" && error.message.contains("return_response")),
        "{err:?}"
    );
}

#[tokio::test]
async fn subscribe_trigger_without_an_entity_is_invalid_format() {
    let sim = sim(5).await;
    let client = client(&sim).await;
    let command = Command::SubscribeTrigger { trigger: json!({"platform": "state"}), variables: None };

    let err = within(client.subscribe_raw(&command)).await.unwrap_err();

    assert!(err.is_code("invalid_format"), "{err:?}");
}

#[tokio::test]
async fn state_trigger_fires_when_the_entity_changes() {
    let sim = sim(60).await;
    let client = client(&sim).await;
    let light = first_of(&sim, "light");
    let trigger = json!({"platform": "state", "entity_id": light, "to": "on"});
    let mut fired =
        within(client.subscribe_raw(&Command::SubscribeTrigger { trigger, variables: None })).await.unwrap();

    let off = ServiceCall::new("light", "turn_off").target(Target::entities([light.as_str()]));
    within(client.call_service(&off)).await.unwrap();
    let on = ServiceCall::new("light", "turn_on").target(Target::entities([light.as_str()]));
    within(client.call_service(&on)).await.unwrap();
    let item = within(fired.next()).await.unwrap();

    let StreamItem::Item(raw) = item else { panic!("expected a trigger event, got {item:?}") };
    let event: ha_proto::TriggerEvent = serde_json::from_str(raw.get()).unwrap();
    assert_eq!(event.variables["trigger"]["entity_id"], json!(light));
}

#[tokio::test]
async fn fired_event_reaches_a_subscriber() {
    let sim = sim(5).await;
    let client = client(&sim).await;
    let mut events = within(client.subscribe_events(Some("my_event"))).await.unwrap();

    let fired = within(client.fire_event("my_event", Some(json!({"a": 1})))).await.unwrap();
    let item = within(events.next()).await.unwrap();

    let StreamItem::Item(event) = item else { panic!("expected an event, got {item:?}") };
    assert_eq!(event.event_type, "my_event");
    assert_eq!(event.data.get(), r#"{"a":1}"#);
    assert_eq!(event.context.id, fired.context.id);
}

#[tokio::test]
async fn subscribe_events_filters_by_type() {
    let sim = sim(5).await;
    let client = client(&sim).await;
    let mut events = within(client.subscribe_events(Some("wanted"))).await.unwrap();

    within(client.fire_event("unwanted", None)).await.unwrap();
    within(client.fire_event("wanted", None)).await.unwrap();
    let item = within(events.next()).await.unwrap();

    let StreamItem::Item(event) = item else { panic!("expected an event, got {item:?}") };
    assert_eq!(event.event_type, "wanted");
}

#[tokio::test]
async fn subscribe_all_events_sees_state_changes() {
    let sim = sim(30).await;
    let client = client(&sim).await;
    let mut events = within(client.subscribe_events(None)).await.unwrap();

    sim.emit_changes(3);
    let got: Vec<_> = within(events.by_ref().take(3).collect::<Vec<_>>()).await;

    assert!(got.iter().all(|i| matches!(i, StreamItem::Item(e) if e.event_type == "state_changed")), "{got:?}");
}

#[tokio::test]
async fn ping_is_answered_and_counted() {
    let sim = sim(5).await;
    let client = client(&sim).await;

    within(client.ping()).await.unwrap();

    let stats = client.stats();
    assert_eq!(stats.command(CommandKind::Ping).ok, 1);
    assert!(stats.bytes_out > 0 && stats.bytes_in > 0);
}

#[tokio::test]
async fn render_template_renders_a_state() {
    let sim = sim(60).await;
    let client = client(&sim).await;
    let light = first_of(&sim, "light");
    let expected = sim.states().into_iter().find(|s| s.entity_id == light.as_str()).unwrap().state;

    let rendered = within(client.render_template(&format!("is {{{{ states('{light}') }}}}"))).await.unwrap();

    assert_eq!(rendered, json!(format!("is {expected}")));
}

#[tokio::test]
async fn mirror_starts_equal_to_the_truth() {
    let sim = sim(200).await;
    let client = client(&sim).await;

    let mirror = within(client.subscribe_entities(None)).await.unwrap();

    assert_eq!(mirror.snapshots(), 1);
    assert_mirror_matches(&mirror, &sim);
}

#[tokio::test]
async fn mirror_with_a_filter_holds_only_the_listed_entities() {
    let sim = sim(50).await;
    let client = client(&sim).await;
    let wanted: Vec<String> = truth(&sim).iter().take(3).map(|s| s.entity_id.to_string()).collect();

    let mirror = within(client.subscribe_entities(Some(wanted.clone()))).await.unwrap();

    let got: Vec<String> = mirror.states().iter().map(|s| s.entity_id.to_string()).collect();
    assert_eq!(got, wanted);
}

#[tokio::test]
async fn mirror_follows_changes_additions_and_removals() {
    let sim = sim(100).await;
    let client = client(&sim).await;
    let mirror = within(client.subscribe_entities(None)).await.unwrap();
    let victim = first_of(&sim, "light");

    sim.emit_changes(500);
    sim.set_state("sensor.brand_new", "1", Attributes::new());
    sim.remove_state(&victim);
    settle(&client).await;

    assert!(mirror.get("sensor.brand_new").is_some());
    assert!(mirror.get(&victim).is_none());
    assert_mirror_matches(&mirror, &sim);
}

#[tokio::test]
async fn mirror_change_stream_reports_each_change() {
    let sim = sim(20).await;
    let client = client(&sim).await;
    let mut mirror = within(client.subscribe_entities(None)).await.unwrap();
    let snapshot = within(mirror.next()).await.unwrap();

    sim.set_state("sensor.brand_new", "1", Attributes::new());
    let change = within(mirror.next()).await.unwrap();

    assert!(matches!(snapshot, StreamItem::Item(r) if r.added.len() == 20));
    let StreamItem::Item(report) = change else { panic!("expected a report, got {change:?}") };
    assert_eq!(report.added.iter().map(|id| id.as_str()).collect::<Vec<_>>(), ["sensor.brand_new"]);
}

#[tokio::test]
async fn notification_service_is_recorded() {
    let sim = sim(5).await;
    let client = client(&sim).await;
    let call = ServiceCall::new("persistent_notification", "create")
        .data(json!({"title": "T", "message": "M", "notification_id": "n1"}));

    within(client.call_service(&call)).await.unwrap();

    let notes = sim.notifications();
    assert_eq!(notes.len(), 1, "{notes:?}");
}

#[tokio::test]
async fn closed_client_refuses_commands() {
    let sim = sim(5).await;
    let client = client(&sim).await;

    within(client.close()).await;
    let err = within(client.ping()).await.unwrap_err();

    assert!(matches!(err, ClientError::Shutdown), "{err:?}");
}

#[tokio::test]
async fn dropping_the_last_handle_closes_the_connection() {
    let sim = sim(5).await;
    let client = client(&sim).await;
    let mirror = within(client.subscribe_entities(None)).await.unwrap();

    drop(client);
    within(sim.wait_for_connections_at_most(0)).await;

    assert_eq!(sim.connections(), 0);
    assert_eq!(mirror.len(), 5, "the mirror keeps its last state");
}

/// What a subscriber of state changes got, as (entity id, new state text) per event.
fn changes_of(items: &[StreamItem<ha_proto::StateChangedEventBuf>]) -> Vec<(String, Option<String>)> {
    items
        .iter()
        .filter_map(|item| match item {
            StreamItem::Item(event) => {
                let change = &event.get().change;
                Some((change.entity_id.as_str().to_owned(), change.new_state.as_ref().map(|s| s.state.to_string())))
            }
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn subscribe_state_changes_gives_what_subscribe_events_then_state_change_give() {
    // Arrange
    let sim = sim(30).await;
    let client = client(&sim).await;
    let mut changes = within(client.subscribe_state_changes()).await.unwrap();
    let mut events = within(client.subscribe_events(Some("state_changed"))).await.unwrap();

    // Act
    sim.emit_changes(20);
    let got: Vec<_> = within(changes.by_ref().take(20).collect::<Vec<_>>()).await;
    let expected: Vec<_> = within(events.by_ref().take(20).collect::<Vec<_>>()).await;

    // Assert
    let expected: Vec<_> = expected
        .iter()
        .filter_map(|item| match item {
            StreamItem::Item(event) => {
                let change = event.state_change().expect("a state_changed event").expect("valid data");
                Some((change.entity_id.as_str().to_owned(), change.new_state.map(|s| s.state.to_string())))
            }
            _ => None,
        })
        .collect();
    assert_eq!((changes_of(&got).len(), changes_of(&got)), (20, expected));
}

#[tokio::test]
async fn a_store_fed_by_state_changes_converges_to_the_sims_truth() {
    // Arrange
    let sim = sim(40).await;
    let client = client(&sim).await;
    let mut changes = within(client.subscribe_state_changes()).await.unwrap();
    let mut store = ha_state::EntityStore::new();
    store.replace_from_states(within(client.get_states()).await.unwrap());

    // Act
    sim.emit_changes(25);
    let mut report = ha_state::ChangeReport::new();
    for item in within(changes.by_ref().take(25).collect::<Vec<_>>()).await {
        let StreamItem::Item(event) = item else { panic!("expected an event, got {item:?}") };
        store.apply_state_change_into(&event.get().change, &mut report);
    }

    // Assert
    let truth = truth(&sim);
    let held: Vec<_> = truth.iter().filter_map(|s| store.get(s.entity_id.as_str())).collect();
    assert_eq!((store.len(), held), (truth.len(), truth));
}
