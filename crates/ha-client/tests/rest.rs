//! The REST client against ha-sim.

mod common;

use common::{client, first_of, sim, truth, within};
use ha_client::{HistoryQuery, ServiceCall};
use ha_proto::rest::SetStateRequest;
use ha_proto::{Attributes, Target, Timestamp};
use serde_json::json;

#[tokio::test]
async fn rest_get_states_equals_the_truth() {
    let sim = sim(40).await;
    let client = client(&sim).await;

    let mut states = within(client.rest().get_states()).await.unwrap();

    states.sort_by(|a, b| a.entity_id.as_str().cmp(b.entity_id.as_str()));
    assert!(states == sim.states(), "REST states differ from the sim's states");
}

#[tokio::test]
async fn rest_get_state_finds_one_entity() {
    let sim = sim(10).await;
    let client = client(&sim).await;
    let wanted = sim.states().remove(3);

    let got = within(client.rest().get_state(wanted.entity_id.as_str())).await.unwrap();

    assert_eq!(got, Some(wanted));
}

#[tokio::test]
async fn rest_get_state_of_a_missing_entity_is_none() {
    let sim = sim(10).await;
    let client = client(&sim).await;

    let got = within(client.rest().get_state("sensor.does_not_exist")).await.unwrap();

    assert_eq!(got, None);
}

#[tokio::test]
async fn rest_set_state_creates_then_updates() {
    let sim = sim(10).await;
    let client = client(&sim).await;
    let body = |s: &str| SetStateRequest { state: s.to_owned(), attributes: Attributes::new(), force_update: false };

    let first = within(client.rest().set_state("sensor.rest_made", &body("1"))).await.unwrap();
    let second = within(client.rest().set_state("sensor.rest_made", &body("2"))).await.unwrap();

    assert!(first.created);
    assert!(!second.created);
    assert_eq!(second.state.state, "2");
    assert_eq!(sim.states().iter().find(|s| s.entity_id == "sensor.rest_made").unwrap().state, "2");
}

#[tokio::test]
async fn rest_delete_state_removes_the_entity() {
    let sim = sim(10).await;
    let client = client(&sim).await;
    let victim = truth(&sim)[0].entity_id.to_string();

    let deleted = within(client.rest().delete_state(&victim)).await.unwrap();
    let again = within(client.rest().delete_state(&victim)).await.unwrap();

    assert!(deleted);
    assert!(!again);
}

#[tokio::test]
async fn rest_call_service_returns_changed_states() {
    let sim = sim(60).await;
    let client = client(&sim).await;
    let light = first_of(&sim, "light");
    let call = ServiceCall::new("light", "turn_on").target(Target::entities([light.as_str()]));

    let result = within(client.rest().call_service(&call)).await.unwrap();

    assert!(result.changed_states.iter().any(|s| s.entity_id == light.as_str() && s.state == "on"));
    assert_eq!(result.service_response, None);
}

#[tokio::test]
async fn rest_call_service_with_return_response_gives_changed_states_without_response() {
    let sim = sim(5).await;
    let client = client(&sim).await;
    let call = ServiceCall::new("conversation", "process").data(json!({"text": "hi"})).return_response();

    let result = within(client.rest().call_service(&call)).await;

    // Home Assistant 2024.3.3 (and ha-sim) ignore ?return_response over REST: the plain array comes back.
    assert_eq!(result.expect("the plain array of changed states decodes").service_response, None);
}

#[tokio::test]
async fn rest_unknown_service_is_an_http_error() {
    let sim = sim(5).await;
    let client = client(&sim).await;

    let err = within(client.rest().call_service(&ServiceCall::new("light", "explode"))).await.unwrap_err();

    assert!(matches!(err, ha_client::ClientError::Http { status: 400, .. }), "{err:?}");
}

#[tokio::test]
async fn rest_fire_event_is_acknowledged() {
    let sim = sim(5).await;
    let client = client(&sim).await;

    let message = within(client.rest().fire_event("rest_event", Some(&json!({"x": 1})))).await.unwrap();

    assert_eq!(message, "Event rest_event fired.");
}

#[tokio::test]
async fn rest_check_api_answers() {
    let sim = sim(5).await;
    let client = client(&sim).await;

    let message = within(client.rest().check_api()).await.unwrap();

    assert_eq!(message, "API running.");
}

#[tokio::test]
async fn rest_history_lists_recent_changes_of_an_entity() {
    let sim = sim(60).await;
    let client = client(&sim).await;
    let light = first_of(&sim, "light");
    let call = ServiceCall::new("light", "toggle").target(Target::entities([light.as_str()]));
    within(client.call_service(&call)).await.unwrap();
    let query = HistoryQuery {
        start: Timestamp::from_micros(0),
        end: Some(Timestamp::from_micros(4_000_000_000_000_000)),
        entity_ids: vec![light.clone()],
        ..HistoryQuery::default()
    };

    let history = within(client.rest().history_period(&query)).await.unwrap();

    assert_eq!(history.len(), 1, "{history:?}");
    assert!(!history[0].is_empty());
}
