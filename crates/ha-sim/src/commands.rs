//! The command phase: Home Assistant's id rules (`admit`) and every command's handler.

use std::collections::HashSet;
use std::io::Write;
use std::sync::Arc;

use ha_proto::raw::RawJson;
use ha_proto::{ClientMessage, Command, CommandError, EntityId, ErrorCode, ErrorInfo, ServerMessage, State};
use serde::Serialize;
use serde_json::json;

use crate::Shared;
use crate::conn::Conn;
use crate::hub::{self, NoteUpdate, Out, SubKind};
use crate::services::{self, Call};
use crate::trigger::{StateTrigger, TriggerError};

/// `{"id":<id>,"type":"result","success":true,"result":<result>}`, encoded in one pass.
pub(crate) fn result_json<T: Serialize + ?Sized>(id: u64, result: &T) -> String {
    let mut buf = Vec::with_capacity(128);
    write!(buf, "{{\"id\":{id},\"type\":\"result\",\"success\":true,\"result\":").expect("writes to memory");
    serde_json::to_writer(&mut buf, result).expect("results serialise");
    buf.push(b'}');
    String::from_utf8(buf).expect("JSON is UTF-8")
}

/// A result whose payload is already JSON text.
fn raw_result(id: u64, json: &str) -> String {
    format!("{{\"id\":{id},\"type\":\"result\",\"success\":true,\"result\":{json}}}")
}

fn error_json(id: u64, info: ErrorInfo) -> String {
    ServerMessage::Result { id, outcome: Err(info) }.to_json()
}

fn error(id: u64, code: ErrorCode, message: &str) -> String {
    error_json(id, ErrorInfo::new(code, message))
}

/// A command that passed [`admit`].
// Moved once per command and never stored in bulk: boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum Admitted {
    /// A command ha-proto knows.
    Command(ClientMessage),
    /// `persistent_notification/subscribe` (not one of ha-proto's commands).
    NotificationsSubscribe { id: u64 },
    /// `execute_script` (not one of ha-proto's commands), with its `sequence`.
    ExecuteScript { id: u64, sequence: serde_json::Value },
}

/// `type` of the notification subscription, which ha-proto does not parse.
const NOTIFICATIONS_SUBSCRIBE: &str = "persistent_notification/subscribe";

/// Applies Home Assistant's checks before a command runs (`ActiveConnection.async_handle`):
/// a message that is not an object, or lacks a non-zero integer id or a non-empty string
/// type, gets `invalid_format` echoing its id as sent (0 for a non-object); an id not above
/// the last one (negative ones too) gets `id_reuse`; an unknown type gets `unknown_command`
/// (and does not count as the last id); a bad shape gets `invalid_format` (and does count).
/// `raw` gives the message as JSON, asked for only on those rare error paths.
pub(crate) fn admit(
    conn: &Conn,
    last_id: &mut u64,
    item: Result<ClientMessage, CommandError>,
    raw: impl FnOnce() -> Option<serde_json::Value>,
) -> Option<Admitted> {
    let id = match &item {
        Ok(msg) => msg.id,
        Err(CommandError::UnknownCommand { msg_type, .. }) if msg_type.is_empty() => {
            conn.send(bad_envelope(raw().as_ref(), *last_id));
            return None;
        }
        Err(CommandError::MissingId) => {
            conn.send(bad_envelope(raw().as_ref(), *last_id));
            return None;
        }
        Err(CommandError::UnknownCommand { id, .. } | CommandError::InvalidFormat { id, .. }) => *id,
    };
    if id <= *last_id {
        conn.send(error(id, ErrorCode::IdReuse, "Identifier values have to increase."));
        return None;
    }
    match item {
        Ok(msg) => {
            *last_id = id;
            Some(Admitted::Command(msg))
        }
        Err(CommandError::UnknownCommand { msg_type, .. }) if msg_type == NOTIFICATIONS_SUBSCRIBE => {
            *last_id = id;
            Some(Admitted::NotificationsSubscribe { id })
        }
        Err(CommandError::UnknownCommand { msg_type, .. }) if msg_type == "execute_script" => {
            *last_id = id;
            let sequence = raw().and_then(|mut item| item.get_mut("sequence").map(serde_json::Value::take));
            match sequence {
                Some(sequence) => Some(Admitted::ExecuteScript { id, sequence }),
                None => {
                    conn.send(error(id, ErrorCode::InvalidFormat, "required key not provided @ data['sequence']"));
                    None
                }
            }
        }
        Err(CommandError::UnknownCommand { .. }) => {
            conn.send(error(id, ErrorCode::UnknownCommand, "Unknown command."));
            None
        }
        Err(CommandError::InvalidFormat { message, .. }) => {
            *last_id = id;
            conn.send(error(id, ErrorCode::InvalidFormat, &humanize(&message)));
            None
        }
        Err(CommandError::MissingId) => None,
    }
}

/// Home Assistant's answer to a message whose envelope (`id`, `type`) is unusable
/// (captured from 2024.3.3: `{"type":"ping"}` → id null, `{"id":"15",…}` → id `"15"`,
/// `5` or `[1]` → id 0, a negative id → `id_reuse`).
pub(crate) fn bad_envelope(item: Option<&serde_json::Value>, last_id: u64) -> String {
    let incorrectly_formatted = |id: &str| {
        format!(
            r#"{{"id":{id},"type":"result","success":false,"error":{{"code":"invalid_format","message":"Message incorrectly formatted."}}}}"#
        )
    };
    let Some(serde_json::Value::Object(map)) = item else {
        return incorrectly_formatted("0");
    };
    let raw_id = map.get("id").unwrap_or(&serde_json::Value::Null);
    let id = raw_id.as_i64().filter(|id| *id != 0);
    let typed = map.get("type").and_then(serde_json::Value::as_str).is_some_and(|t| !t.is_empty());
    match id {
        Some(id) if typed && id <= last_id as i64 => format!(
            r#"{{"id":{id},"type":"result","success":false,"error":{{"code":"id_reuse","message":"Identifier values have to increase."}}}}"#
        ),
        _ => incorrectly_formatted(&raw_id.to_string()),
    }
}

/// The items of a client frame as JSON values, in the order ha-proto's parser gives them.
pub(crate) fn frame_items(frame: &str) -> Vec<serde_json::Value> {
    match serde_json::from_str(frame) {
        Ok(serde_json::Value::Array(items)) => items,
        Ok(other) => vec![other],
        Err(_) => Vec::new(),
    }
}

/// voluptuous' wording (`humanize_error`) for the serde errors it is likely to meet.
fn humanize(serde_message: &str) -> String {
    let message = serde_message.split(" at line ").next().unwrap_or(serde_message);
    match message.strip_prefix("missing field `").and_then(|rest| rest.strip_suffix('`')) {
        Some(field) => format!("required key not provided @ data['{field}']. Got None"),
        None => message.to_owned(),
    }
}

/// Runs one admitted command; its answer (and any events) go to the connection's queue.
pub(crate) fn handle(shared: &Shared, conn: &Arc<Conn>, admitted: Admitted) {
    let msg = match admitted {
        Admitted::Command(msg) => msg,
        Admitted::NotificationsSubscribe { id } => {
            // Result, then every current notification, registered under the lock so no
            // change falls between.
            let mut core = shared.core();
            let current = hub::encode_notifications(NoteUpdate::Current, core.world.notifications());
            core.hub.add(conn.outbox.clone(), id, SubKind::Notifications);
            conn.send(result_json(id, &()));
            conn.outbox.push(Out::Event { id, body: current });
            return;
        }
        Admitted::ExecuteScript { id, sequence } => {
            let response = run_script(&sequence);
            let context = shared.core().world.context(Some(&shared.user_id));
            conn.send(result_json(id, &json!({"context": context, "response": response})));
            return;
        }
    };
    let id = msg.id;
    if let Some(code) = shared.faults.take_refusal(msg.command.type_name()) {
        conn.send(error(id, code, "Refused by the simulator's refuse_commands fault."));
        return;
    }
    match msg.command {
        Command::GetStates => {
            let states: Vec<Arc<State>> = shared.core().world.states().to_vec();
            let list: Vec<&State> = states.iter().map(|s| &**s).collect();
            conn.send(result_json(id, &list));
        }
        Command::GetConfig => {
            let version = shared.core().ha_version.clone();
            conn.send(result_json(id, &config_value(&version)));
        }
        Command::GetServices => conn.send(raw_result(id, services::descriptions_json())),
        Command::CallService { domain, service, service_data, target, return_response } => {
            let want_response = return_response.unwrap_or(false);
            let mut core = shared.core();
            let call = Call {
                domain: &domain,
                service: &service,
                data: service_data,
                target,
                return_response: want_response,
                user_id: &shared.user_id,
            };
            // As in Home Assistant, the events a call causes are queued before its result.
            match services::call(&mut core, call) {
                Ok(outcome) => {
                    let body = match outcome.response {
                        Some(response) if want_response => json!({"context": outcome.context, "response": response}),
                        _ => json!({"context": outcome.context}),
                    };
                    conn.send(result_json(id, &body));
                }
                Err(err) => conn.send(error_json(id, err.to_error_info())),
            }
        }
        Command::SubscribeEvents { event_type } => {
            let mut core = shared.core();
            core.hub.add(conn.outbox.clone(), id, SubKind::Events(event_type));
            conn.send(result_json(id, &()));
        }
        Command::UnsubscribeEvents { subscription } => {
            let removed = shared.core().hub.remove(conn.id(), subscription);
            if removed {
                conn.send(result_json(id, &()));
            } else {
                conn.send(error(id, ErrorCode::NotFound, "Subscription not found."));
            }
        }
        Command::SubscribeEntities { entity_ids } => {
            let filter = match entity_ids {
                None => None,
                Some(list) => {
                    let mut set = HashSet::new();
                    for text in &list {
                        match EntityId::new(text) {
                            Ok(eid) => {
                                set.insert(eid);
                            }
                            Err(_) => {
                                let message = format!(
                                    "Entity ID {text} is an invalid entity ID for dictionary value @ data['entity_ids']. Got {list:?}"
                                );
                                conn.send(error(id, ErrorCode::InvalidFormat, &message));
                                return;
                            }
                        }
                    }
                    // An empty list means every entity, as in Home Assistant.
                    (!set.is_empty()).then_some(set)
                }
            };
            // Listener first, then the snapshot, under one lock: no change can fall between.
            let mut guard = shared.core();
            let core = &mut *guard;
            let states = core.world.states().iter();
            let snapshot = match &filter {
                None => core.snapshots.encode(states),
                Some(f) => core.snapshots.encode(states.filter(|s| f.contains(&s.entity_id))),
            };
            core.hub.add(conn.outbox.clone(), id, SubKind::Entities(filter));
            conn.send(result_json(id, &()));
            conn.outbox.push(Out::Event { id, body: snapshot });
        }
        Command::FireEvent { event_type, event_data } => {
            let mut core = shared.core();
            let context = core.world.context(Some(&shared.user_id));
            let now = core.world.clock.now();
            let data = event_data.unwrap_or_else(|| json!({}));
            core.hub.event(&event_type, RawJson::from_value(&data), &context, now);
            conn.send(result_json(id, &json!({"context": context})));
        }
        Command::Ping => conn.send(ServerMessage::Pong { id }.to_json()),
        Command::SupportedFeatures { features } => {
            let on = features.coalesce_messages == Some(1);
            conn.outbox.coalesce.store(on, std::sync::atomic::Ordering::Release);
            conn.send(result_json(id, &()));
        }
        Command::LongLivedAccessToken { .. } => {
            let mut core = shared.core();
            let token = format!("{}{}", core.world.ids.hex32(), core.world.ids.hex32());
            core.extra_tokens.push(ha_proto::Secret::new(token.clone()));
            conn.send(result_json(id, &token));
        }
        Command::RenderTemplate { template, .. } => {
            let rendered = render_template(&shared.core().world, &template);
            conn.send(result_json(id, &()));
            let event = json!({
                "result": rendered,
                "listeners": {"all": false, "domains": [], "entities": [], "time": false},
            });
            conn.outbox.push(Out::Event { id, body: serde_json::to_string(&event).expect("serialises").into() });
        }
        Command::SubscribeTrigger { trigger, .. } => match StateTrigger::parse(&trigger) {
            Ok(trigger) => {
                let mut core = shared.core();
                core.hub.add(conn.outbox.clone(), id, SubKind::Trigger(trigger));
                conn.send(result_json(id, &()));
            }
            Err(TriggerError::Invalid(message)) => conn.send(error(id, ErrorCode::InvalidFormat, &message)),
            Err(TriggerError::Unsupported(what)) => {
                conn.send(error(id, ErrorCode::NotSupported, &format!("The simulator does not support {what}.")));
            }
        },
        _ => conn.send(error(id, ErrorCode::UnknownCommand, "Unknown command.")),
    }
}

/// A very small script runner for `execute_script`: `variables` steps set variables, a
/// `stop` step with `response_variable` ends with that variable as the response (captured
/// from 2024.3.3: `[{"variables":{"r":{"a":1}}},{"stop":"x","response_variable":"r"}]` →
/// `{"a":1}`; without a response, `null`). Other steps are skipped.
fn run_script(sequence: &serde_json::Value) -> serde_json::Value {
    let steps = match sequence {
        serde_json::Value::Array(steps) => steps.as_slice(),
        one => std::slice::from_ref(one),
    };
    let mut variables = serde_json::Map::new();
    for step in steps {
        if let Some(serde_json::Value::Object(set)) = step.get("variables") {
            variables.extend(set.clone());
        }
        if step.get("stop").is_some() {
            return step
                .get("response_variable")
                .and_then(serde_json::Value::as_str)
                .and_then(|name| variables.get(name).cloned())
                .unwrap_or(serde_json::Value::Null);
        }
    }
    serde_json::Value::Null
}

/// A very small template renderer: `{{ states('entity_id') }}` and literal text.
fn render_template(world: &crate::world::World, template: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let expr = rest[start + 2..start + end].trim();
        let value = expr
            .strip_prefix("states(")
            .and_then(|e| e.strip_suffix(')'))
            .map(|arg| arg.trim_matches(|c| c == '\'' || c == '"'))
            .map(|eid| world.get(eid).map_or_else(|| "unknown".to_owned(), |s| s.state.clone()))
            .unwrap_or_default();
        out.push_str(&value);
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    out
}

/// `get_config`'s result: the keys of `hass.config.as_dict()` as Home Assistant 2024.3.3
/// answers (captured: no `radius` or `debug`, the old alias `whitelist_external_dirs` next to
/// `allowlist_external_dirs`, 7 `unit_system` keys, `country` null and `currency` `EUR` when
/// not configured). The values describe the simulated home.
pub(crate) fn config_value(version: &str) -> serde_json::Value {
    let external_dirs = json!(["/media", "/config/www"]);
    json!({
        "latitude": 52.3731,
        "longitude": 4.8922,
        "elevation": 0,
        "unit_system": {
            "length": "km",
            "accumulated_precipitation": "mm",
            "mass": "g",
            "pressure": "Pa",
            "temperature": "°C",
            "volume": "L",
            "wind_speed": "m/s",
        },
        "location_name": "Simulated Home",
        "time_zone": "UTC",
        "components": [
            "api", "conversation", "frontend", "history", "homeassistant", "http", "input_boolean",
            "input_number", "light", "persistent_notification", "recorder", "sensor", "switch",
            "system_log", "weather", "websocket_api",
        ],
        "config_dir": "/config",
        "whitelist_external_dirs": external_dirs,
        "allowlist_external_dirs": external_dirs,
        "allowlist_external_urls": [],
        "version": version,
        "config_source": "yaml",
        "recovery_mode": false,
        "state": "RUNNING",
        "external_url": null,
        "internal_url": null,
        "currency": "EUR",
        "country": null,
        "language": "en",
        "safe_mode": false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_fields_are_worded_like_voluptuous() {
        let text = humanize("missing field `domain`");

        assert_eq!(text, "required key not provided @ data['domain']. Got None");
    }
}
