//! The HTTP side: the WebSocket upgrade at `/api/websocket` and Home Assistant's REST API
//! (`/api/...`, Bearer token, 401 otherwise), with its status codes and messages.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State as AxumState, WebSocketUpgrade};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use ha_proto::raw::RawJson;
use ha_proto::{Attributes, EntityId, Timestamp};
use serde_json::{Value, json};

use crate::Shared;
use crate::history;
use crate::services::{self, Call, ServiceError};
use crate::world::Force;

type Ctx = AxumState<Arc<Shared>>;

/// Biggest message accepted from a WebSocket client: aiohttp's default `max_msg_size`,
/// which Home Assistant's WebSocket endpoint keeps.
const MAX_CLIENT_MESSAGE: usize = 4 << 20;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let api = Router::new()
        .route("/api/", get(api_running))
        .route("/api/config", get(config))
        .route("/api/states", get(all_states))
        .route("/api/states/{entity_id}", get(get_state).post(post_state).delete(delete_state))
        .route("/api/services", get(list_services))
        .route("/api/services/{domain}/{service}", post(call_service))
        .route("/api/events", get(list_events))
        .route("/api/events/{event_type}", post(fire_event))
        .route("/api/history/period", get(history_default))
        .route("/api/history/period/{start}", get(history_from))
        .route_layer(middleware::from_fn_with_state(shared.clone(), bearer));
    Router::new().route("/api/websocket", get(websocket)).merge(api).fallback(not_found_plain).with_state(shared)
}

async fn websocket(AxumState(shared): Ctx, upgrade: WebSocketUpgrade) -> Response {
    if shared.faults.is_down() {
        return unavailable();
    }
    upgrade.max_message_size(MAX_CLIENT_MESSAGE).on_upgrade(move |socket| crate::conn::serve(socket, shared))
}

/// Rejects requests without the right `Authorization: Bearer` header, as aiohttp's
/// `HTTPUnauthorized` does (plain text).
async fn bearer(AxumState(shared): Ctx, request: Request, next: Next) -> Response {
    if shared.faults.is_down() {
        return unavailable();
    }
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match token {
        Some(token) if shared.token_ok(token) => next.run(request).await,
        _ => {
            shared.login_failed();
            (StatusCode::UNAUTHORIZED, "401: Unauthorized").into_response()
        }
    }
}

fn unavailable() -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, "503: Service Unavailable").into_response()
}

fn json_body(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response()
}

fn ok_json<T: serde::Serialize + ?Sized>(value: &T) -> Response {
    json_body(StatusCode::OK, serde_json::to_string(value).expect("bodies serialise"))
}

fn message(status: StatusCode, text: &str) -> Response {
    json_body(status, json!({"message": text}).to_string())
}

/// aiohttp's `HTTPBadRequest` (captured from 2024.3.3 for unknown services and schema
/// errors: `text/plain; charset=utf-8`, no JSON message).
fn bad_request_plain() -> Response {
    (StatusCode::BAD_REQUEST, "400: Bad Request").into_response()
}

/// aiohttp's answer to an exception a handler did not catch.
fn internal_error_plain() -> Response {
    (StatusCode::INTERNAL_SERVER_ERROR, "500 Internal Server Error\n\nServer got itself in trouble").into_response()
}

/// aiohttp's `HTTPNotFound`: unknown paths (captured from 2024.3.3: `404: Not Found`).
async fn not_found_plain() -> Response {
    (StatusCode::NOT_FOUND, "404: Not Found").into_response()
}

async fn api_running() -> Response {
    message(StatusCode::OK, "API running.")
}

async fn config(AxumState(shared): Ctx) -> Response {
    let version = shared.core().ha_version.clone();
    ok_json(&crate::commands::config_value(&version))
}

async fn all_states(AxumState(shared): Ctx) -> Response {
    let states = shared.core().world.states().to_vec();
    let list: Vec<&ha_proto::State> = states.iter().map(|s| &**s).collect();
    ok_json(&list)
}

/// Home Assistant's state machine lowercases every entity id it is given
/// (`hass.states.get/async_set/async_remove`), so the REST paths are case-insensitive.
async fn get_state(AxumState(shared): Ctx, Path(entity_id): Path<String>) -> Response {
    let state = shared.core().world.get(&entity_id.to_lowercase()).cloned();
    match state {
        Some(state) => ok_json(&*state),
        None => message(StatusCode::NOT_FOUND, "Entity not found."),
    }
}

async fn post_state(AxumState(shared): Ctx, Path(entity_id): Path<String>, body: Bytes) -> Response {
    let Ok(data) = serde_json::from_slice::<Value>(&body) else {
        return message(StatusCode::BAD_REQUEST, "Invalid JSON specified.");
    };
    let new_state = match data.get("state") {
        None | Some(Value::Null) => return message(StatusCode::BAD_REQUEST, "No state specified."),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    let attributes = match data.get("attributes") {
        None | Some(Value::Null) => Attributes::new(),
        Some(v @ Value::Object(_)) => match serde_json::from_value::<Attributes>(v.clone()) {
            Ok(a) => a,
            Err(_) => return message(StatusCode::BAD_REQUEST, "Invalid JSON specified."),
        },
        Some(_) => return message(StatusCode::BAD_REQUEST, "Invalid JSON specified."),
    };
    let force = if data.get("force_update").and_then(Value::as_bool).unwrap_or(false) { Force::Yes } else { Force::No };
    // Captured from 2024.3.3: `POST /api/states/Bad.Id` is 201 with `"entity_id":"bad.id"`.
    let Ok(id) = EntityId::new(&entity_id.to_lowercase()) else {
        return message(StatusCode::BAD_REQUEST, "Invalid entity ID specified.");
    };
    if new_state.chars().count() > 255 {
        return message(StatusCode::BAD_REQUEST, "Invalid state specified.");
    }
    let (created, state) = {
        let mut core = shared.core();
        let created = core.world.get(id.as_str()).is_none();
        let context = core.world.context(Some(&shared.user_id));
        if let Some(change) = core.world.set(&id, &new_state, attributes, context, force) {
            core.publish(&change);
        }
        (created, core.world.get(id.as_str()).cloned().expect("just written"))
    };
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    let mut response = json_body(status, serde_json::to_string(&*state).expect("states serialise"));
    if let Ok(location) = HeaderValue::from_str(&format!("/api/states/{entity_id}")) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

async fn delete_state(AxumState(shared): Ctx, Path(entity_id): Path<String>) -> Response {
    let mut core = shared.core();
    // Captured from 2024.3.3: the removal's event carries a fresh context without a user,
    // not the caller's.
    let context = core.world.context(None);
    match core.world.remove(&entity_id.to_lowercase(), context) {
        Some(change) => {
            core.publish(&change);
            message(StatusCode::OK, "Entity removed.")
        }
        None => message(StatusCode::NOT_FOUND, "Entity not found."),
    }
}

async fn list_services() -> Response {
    let all: serde_json::Map<String, Value> =
        serde_json::from_str(services::descriptions_json()).expect("descriptions are an object");
    let list: Vec<Value> =
        all.into_iter().map(|(domain, services)| json!({"domain": domain, "services": services})).collect();
    ok_json(&list)
}

/// `POST /api/services/<domain>/<service>`: the states the call changed. Home Assistant
/// 2024.3 ignores `?return_response` here (captured from 2024.3.3: always the plain array;
/// the `changed_states`/`service_response` wrapper came in a later release), so a
/// response-only service fails with the `ValueError` of a call without `return_response`,
/// which aiohttp turns into a plain 500.
async fn call_service(
    AxumState(shared): Ctx,
    Path((domain, service)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let data = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(v) => Some(v),
            Err(_) => return message(StatusCode::BAD_REQUEST, "Data should be valid JSON."),
        }
    };
    let mut core = shared.core();
    let call = Call {
        domain: &domain,
        service: &service,
        data,
        target: None,
        return_response: false,
        user_id: &shared.user_id,
    };
    match services::call(&mut core, call) {
        Ok(outcome) => {
            let changed: Vec<&ha_proto::State> = outcome.changed.iter().map(|s| &**s).collect();
            ok_json(&changed)
        }
        Err(ServiceError::NotFound { .. } | ServiceError::Invalid(_)) => bad_request_plain(),
        Err(ServiceError::Value(_)) => internal_error_plain(),
    }
}

async fn list_events(AxumState(shared): Ctx) -> Response {
    let counts = shared.core().hub.listener_counts();
    let mut rows: Vec<Value> =
        counts.into_iter().map(|(event, n)| json!({"event": event, "listener_count": n})).collect();
    // Home Assistant's own listeners are always there.
    for builtin in ["homeassistant_start", "homeassistant_stop", "call_service", "service_registered"] {
        if !rows.iter().any(|r| r["event"] == builtin) {
            rows.push(json!({"event": builtin, "listener_count": 1}));
        }
    }
    ok_json(&rows)
}

async fn fire_event(AxumState(shared): Ctx, Path(event_type): Path<String>, body: Bytes) -> Response {
    let data = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(v @ Value::Object(_)) => v,
            Ok(_) => return message(StatusCode::BAD_REQUEST, "Event data should be a JSON object"),
            Err(_) => return message(StatusCode::BAD_REQUEST, "Event data should be valid JSON."),
        }
    };
    let mut core = shared.core();
    let context = core.world.context(Some(&shared.user_id));
    let now = core.world.clock.now();
    core.hub.event(&event_type, RawJson::from_value(&data), &context, now);
    message(StatusCode::OK, &format!("Event {event_type} fired."))
}

async fn history_default(ctx: Ctx, Query(params): Query<HashMap<String, String>>) -> Response {
    history_response(ctx, None, params)
}

async fn history_from(ctx: Ctx, Path(start): Path<String>, Query(params): Query<HashMap<String, String>>) -> Response {
    history_response(ctx, Some(start), params)
}

/// ISO timestamps; a `+` that a query string turned into a space is put back.
fn parse_time(text: &str) -> Option<Timestamp> {
    Timestamp::parse_iso(text).or_else(|_| Timestamp::parse_iso(&text.replace(' ', "+"))).ok()
}

fn history_response(AxumState(shared): Ctx, start: Option<String>, params: HashMap<String, String>) -> Response {
    const ONE_DAY: i64 = 86_400_000_000;
    let start = match start {
        None => None,
        Some(text) => match parse_time(&text) {
            Some(t) => Some(t),
            None => return message(StatusCode::BAD_REQUEST, "Invalid datetime"),
        },
    };
    let entity_ids: Vec<String> = params
        .get("filter_entity_id")
        .map(|s| s.trim().to_lowercase().split(',').map(str::to_owned).filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    if entity_ids.is_empty() {
        return message(StatusCode::BAD_REQUEST, "filter_entity_id is missing");
    }
    let mut core = shared.core();
    if entity_ids.iter().any(|id| core.world.get(id).is_none() && EntityId::new(id).is_err()) {
        return message(StatusCode::BAD_REQUEST, "Invalid filter_entity_id");
    }
    let now = core.world.clock.now();
    let start = start.unwrap_or(Timestamp::from_micros(now.as_micros() - ONE_DAY));
    if start > now {
        return ok_json(&Vec::<Value>::new());
    }
    let end = match params.get("end_time") {
        None => Timestamp::from_micros(start.as_micros() + ONE_DAY),
        Some(text) => match parse_time(text) {
            Some(t) => t,
            None => return message(StatusCode::BAD_REQUEST, "Invalid end_time"),
        },
    };
    let query = history::Query {
        entity_ids,
        start,
        end,
        minimal_response: params.contains_key("minimal_response"),
        no_attributes: params.contains_key("no_attributes"),
        significant_changes_only: params.get("significant_changes_only").is_none_or(|v| v != "0"),
        include_start_time_state: !params.contains_key("skip_initial_state"),
    };
    let lists = history::query(core.world.history().iter(), &query);
    drop(core);
    ok_json(&lists)
}
