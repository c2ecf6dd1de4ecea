//! The REST API: Bearer auth, states, services, events and history.

mod common;

use common::{Client, sim};
use ha_proto::rest::{ApiMessage, EventListenerCount};
use ha_proto::{Event, State};
use reqwest::StatusCode;
use serde_json::{Value, json};

struct Rest {
    http: reqwest::Client,
    base: String,
}

impl Rest {
    fn new(sim: &ha_sim::Sim) -> Rest {
        Rest { http: reqwest::Client::new(), base: sim.http_url() }
    }

    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.get(format!("{}{path}", self.base)).bearer_auth("sim-token")
    }

    fn post(&self, path: &str, body: Value) -> reqwest::RequestBuilder {
        self.http.post(format!("{}{path}", self.base)).bearer_auth("sim-token").json(&body)
    }
}

#[tokio::test]
async fn missing_or_wrong_token_is_401() {
    let sim = sim(1).await;
    let http = reqwest::Client::new();

    let none = http.get(format!("{}/api/", sim.http_url())).send().await.unwrap();
    let wrong = http.get(format!("{}/api/states", sim.http_url())).bearer_auth("nope").send().await.unwrap();

    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn api_root_says_running() {
    let sim = sim(1).await;

    let body: ApiMessage = Rest::new(&sim).get("/api/").send().await.unwrap().json().await.unwrap();

    assert_eq!(body.message, "API running.");
}

#[tokio::test]
async fn all_states_equal_the_truth() {
    let sim = sim(40).await;

    let text = Rest::new(&sim).get("/api/states").send().await.unwrap().text().await.unwrap();

    let mut states = ha_proto::parse_states(&text).unwrap();
    states.sort_by(|a, b| a.entity_id.as_str().cmp(b.entity_id.as_str()));
    assert_eq!(states, sim.states());
}

#[tokio::test]
async fn unknown_entity_is_404_with_message() {
    let sim = sim(1).await;

    let response = Rest::new(&sim).get("/api/states/light.nowhere").send().await.unwrap();

    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(response.json::<ApiMessage>().await.unwrap().message, "Entity not found.");
}

#[tokio::test]
async fn posting_a_state_creates_then_updates() {
    let sim = sim(0).await;
    let rest = Rest::new(&sim);

    let created = rest
        .post("/api/states/sensor.posted", json!({"state": "25", "attributes": {"unit_of_measurement": "°C"}}))
        .send()
        .await
        .unwrap();
    let location = created.headers().get("location").cloned();
    let created_status = created.status();
    let updated = rest.post("/api/states/sensor.posted", json!({"state": "26"})).send().await.unwrap();
    let updated_status = updated.status();
    let body: State = updated.json().await.unwrap();

    assert_eq!(created_status, StatusCode::CREATED);
    assert_eq!(location.unwrap(), "/api/states/sensor.posted");
    assert_eq!(updated_status, StatusCode::OK);
    assert_eq!(body.state, "26");
    assert_eq!(sim.states()[0], body);
}

#[tokio::test]
async fn deleting_a_state_removes_it_once() {
    let sim = sim(0).await;
    sim.set_state("sensor.doomed", "1", ha_proto::Attributes::new());
    let rest = Rest::new(&sim);
    let url = format!("{}/api/states/sensor.doomed", sim.http_url());

    let first = rest.http.delete(&url).bearer_auth("sim-token").send().await.unwrap().status();
    let second = rest.http.delete(&url).bearer_auth("sim-token").send().await.unwrap().status();

    assert_eq!(first, StatusCode::OK);
    assert_eq!(second, StatusCode::NOT_FOUND);
    assert!(sim.states().is_empty());
}

#[tokio::test]
async fn calling_a_service_returns_the_changed_states() {
    let sim = sim(0).await;
    sim.set_state("switch.pump", "off", ha_proto::Attributes::new());

    let changed: Vec<State> = Rest::new(&sim)
        .post("/api/services/switch/turn_on", json!({"entity_id": "switch.pump"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].state, "on");
}

#[tokio::test]
async fn return_response_query_is_ignored_like_2024_3() {
    let sim = sim(0).await;
    sim.set_state("switch.pump", "off", ha_proto::Attributes::new());

    let response = Rest::new(&sim)
        .post("/api/services/switch/turn_on?return_response", json!({"entity_id": "switch.pump"}))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    let changed: Vec<State> = response.json().await.unwrap();
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].state, "on");
}

#[tokio::test]
async fn return_response_query_on_a_service_with_a_response_still_gives_the_plain_array() {
    let sim = sim(0).await;

    let body: Value = Rest::new(&sim)
        .post("/api/services/conversation/process?return_response=1", json!({"text": "hi"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    assert_eq!(body, json!([]));
}

#[tokio::test]
async fn response_only_service_over_rest_is_a_plain_500() {
    let sim = sim(0).await;

    let response = Rest::new(&sim)
        .post("/api/services/weather/get_forecasts?return_response", json!({"type": "daily"}))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(response.headers()["content-type"], "text/plain; charset=utf-8");
}

#[tokio::test]
async fn schema_error_is_a_plain_400() {
    let sim = sim(0).await;

    let response =
        Rest::new(&sim).post("/api/services/switch/turn_on", json!({"bogus_field": 1})).send().await.unwrap();

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(response.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(response.text().await.unwrap(), "400: Bad Request");
}

#[tokio::test]
async fn unknown_service_is_400() {
    let sim = sim(0).await;

    let response = Rest::new(&sim).post("/api/services/light/explode", json!({})).send().await.unwrap();

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn fired_event_reaches_websocket_subscribers_and_listener_counts() {
    let sim = sim(0).await;
    let mut client = Client::connect(&sim).await;
    client.ok(json!({"type": "subscribe_events", "event_type": "doorbell"})).await;
    let rest = Rest::new(&sim);

    let fired: ApiMessage =
        rest.post("/api/events/doorbell", json!({"ring": 2})).send().await.unwrap().json().await.unwrap();
    let (_, event) = client.event().await;
    let counts: Vec<EventListenerCount> = rest.get("/api/events").send().await.unwrap().json().await.unwrap();

    assert_eq!(fired.message, "Event doorbell fired.");
    assert_eq!(Event::parse(&event).unwrap().data.get(), r#"{"ring":2}"#);
    assert!(counts.iter().any(|c| c.event == "doorbell" && c.listener_count == 1));
}

#[tokio::test]
async fn history_lists_the_changes_of_the_asked_entities() {
    let sim = sim(0).await;
    let first = sim.set_state("sensor.temp", "20", ha_proto::Attributes::new());
    sim.set_state("sensor.temp", "21", ha_proto::Attributes::new());
    sim.set_state("sensor.other", "x", ha_proto::Attributes::new());
    let start = ha_proto::Timestamp::from_micros(first.last_updated.as_micros() - 1_000_000);

    let lists: Vec<Vec<Value>> = Rest::new(&sim)
        .get(&format!("/api/history/period/{start}?filter_entity_id=sensor.temp"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    assert_eq!(lists.len(), 1);
    let states: Vec<&str> = lists[0].iter().map(|e| e["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["20", "21"]);
}

#[tokio::test]
async fn history_without_filter_is_400() {
    let sim = sim(0).await;

    let response = Rest::new(&sim).get("/api/history/period").send().await.unwrap();

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(response.json::<ApiMessage>().await.unwrap().message, "filter_entity_id is missing");
}

#[tokio::test]
async fn history_minimal_response_and_no_attributes_trim_entries() {
    let sim = sim(0).await;
    let mut attributes = ha_proto::Attributes::new();
    attributes.insert_value("unit_of_measurement", "W");
    let first = sim.set_state("sensor.power", "1", attributes.clone());
    sim.set_state("sensor.power", "2", attributes);
    let start = ha_proto::Timestamp::from_micros(first.last_updated.as_micros() - 1_000_000);

    let lists: Vec<Vec<Value>> = Rest::new(&sim)
        .get(&format!("/api/history/period/{start}?filter_entity_id=sensor.power&minimal_response&no_attributes"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    assert_eq!(lists[0][0]["attributes"], json!({}));
    assert_eq!(lists[0][1].as_object().unwrap().len(), 2, "{:?}", lists[0][1]);
    assert_eq!(lists[0][1]["state"], "2");
}

#[tokio::test]
async fn shutdown_finishes_while_clients_keep_connections_open() {
    let sim = sim(1).await;
    let rest = Rest::new(&sim);
    rest.get("/api/").send().await.unwrap();
    let _ws = Client::connect(&sim).await;

    let finished = tokio::time::timeout(common::HANG, sim.shutdown()).await;

    assert!(finished.is_ok());
}
