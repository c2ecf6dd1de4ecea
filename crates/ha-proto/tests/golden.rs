//! Golden messages (`tests/data/`): every file is decoded with the entry point a real peer
//! would use, re-encoded, and compared with the original as JSON; then what each file means
//! is checked on the decoded types.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use ha_proto::rest::{
    ApiMessage, CallServiceResult, EventListenerCount, FireEventResult, HaConfig, HistoryEntry, ServiceResponseBody,
    Services, SetStateRequest,
};
use ha_proto::{
    AuthMessage, Command, CompressedEvent, ErrorCode, Event, Frame, OneOrMany, ProtoError, Secret, ServerMessage,
    State, TriggerEvent, parse_client_frame, parse_states,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

#[allow(dead_code)] // only `manifest_dir` is used here
mod common;

// ---------------------------------------------------------------- the table of goldens

/// How the payload (`result` or `event`) of one server message is decoded for the deep round trip.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Payload {
    /// Nothing beyond the envelope (or `null`).
    Plain,
    States,
    Config,
    Services,
    CallService,
    FireEvent,
    Token,
    StateChanged,
    OtherEvent,
    Compressed,
    Trigger,
}

/// The entry point a file belongs to.
#[derive(Clone, Copy)]
enum Decoder {
    /// `Frame::parse`, with one payload decoder per message of the frame.
    Server(&'static [Payload]),
    /// `parse_client_frame`.
    Client,
    /// `AuthMessage` (auth phase, client side).
    Auth,
    /// A REST body decoded as a typed value.
    Rest(fn(&str) -> Result<Value, String>),
    /// Not round-tripped: the frame is meant to be partly rejected.
    Malformed,
}

struct Golden {
    file: &'static str,
    decoder: Decoder,
    /// JSON pointers of unknown fields that decoding tolerates and re-encoding drops.
    dropped: &'static [&'static str],
}

const fn golden(file: &'static str, decoder: Decoder) -> Golden {
    Golden { file, decoder, dropped: &[] }
}

use Decoder::{Auth, Client, Malformed, Rest, Server};
use Payload::*;

const GOLDENS: &[Golden] = &[
    // auth phase
    golden("server/auth_required.json", Server(&[Plain])),
    golden("server/auth_ok.json", Server(&[Plain])),
    golden("server/auth_invalid.json", Server(&[Plain])),
    golden("client/auth.json", Auth),
    // commands
    golden("client/get_states.json", Client),
    golden("client/get_config.json", Client),
    golden("client/get_services.json", Client),
    golden("client/call_service.json", Client),
    golden("client/call_service_light.json", Client),
    golden("client/subscribe_events.json", Client),
    golden("client/subscribe_events_all.json", Client),
    golden("client/unsubscribe_events.json", Client),
    golden("client/subscribe_entities.json", Client),
    golden("client/subscribe_trigger.json", Client),
    golden("client/fire_event.json", Client),
    golden("client/ping.json", Client),
    golden("client/supported_features.json", Client),
    golden("client/long_lived_access_token.json", Client),
    golden("client/render_template.json", Client),
    golden("client/batch.json", Client),
    // results
    golden("server/result_null.json", Server(&[Plain])),
    golden("server/result_get_states.json", Server(&[States])),
    golden("server/result_get_config.json", Server(&[Config])),
    golden("server/result_get_services.json", Server(&[Services])),
    golden("server/result_call_service.json", Server(&[CallService])),
    golden("server/result_fire_event.json", Server(&[FireEvent])),
    golden("server/result_long_lived_token.json", Server(&[Token])),
    // errors
    golden("server/error_id_reuse.json", Server(&[Plain])),
    golden("server/error_invalid_format.json", Server(&[Plain])),
    golden("server/error_not_allowed.json", Server(&[Plain])),
    golden("server/error_not_found.json", Server(&[Plain])),
    golden("server/error_not_supported.json", Server(&[Plain])),
    golden("server/error_home_assistant_error.json", Server(&[Plain])),
    golden("server/error_service_validation_error.json", Server(&[Plain])),
    golden("server/error_unknown_command.json", Server(&[Plain])),
    golden("server/error_unknown_error.json", Server(&[Plain])),
    golden("server/error_unauthorized.json", Server(&[Plain])),
    golden("server/error_timeout.json", Server(&[Plain])),
    golden("server/error_template_error.json", Server(&[Plain])),
    golden("server/error_unknown_code.json", Server(&[Plain])),
    // events
    golden("server/event_state_changed_added.json", Server(&[StateChanged])),
    golden("server/event_state_changed_changed.json", Server(&[StateChanged])),
    golden("server/event_state_changed_removed.json", Server(&[StateChanged])),
    golden("server/event_call_service.json", Server(&[OtherEvent])),
    golden("server/event_subscribe_trigger.json", Server(&[Trigger])),
    golden("server/entities_snapshot.json", Server(&[Compressed])),
    golden("server/entities_changed.json", Server(&[Compressed])),
    golden("server/entities_removed.json", Server(&[Compressed])),
    // everything else a server sends
    golden("server/pong.json", Server(&[Plain])),
    golden("server/coalesced.json", Server(&[Plain, Plain, Compressed, StateChanged, Plain, Plain, Plain])),
    golden("server/unknown_type.json", Server(&[Plain])),
    Golden { file: "server/extra_fields_result.json", decoder: Server(&[Plain]), dropped: &["/elapsed_ms"] },
    Golden {
        file: "server/extra_fields_error.json",
        decoder: Server(&[Plain]),
        dropped: &["/trace_id", "/error/hint"],
    },
    Golden {
        file: "server/extra_fields_event.json",
        decoder: Server(&[StateChanged]),
        dropped: &["/delivery", "/event/priority", "/event/data/new_state/icon_state"],
    },
    Golden {
        file: "server/extra_fields_entities.json",
        decoder: Server(&[Compressed]),
        dropped: &[
            "/event/v",
            "/event/a/light.kitchen/lr",
            "/event/c/sensor.house_power/+/lr",
            "/event/c/sensor.house_power/~0",
        ],
    },
    golden("malformed/coalesced_one_bad_element.json", Malformed),
    // REST bodies
    golden("rest/api_running.json", Rest(typed::<ApiMessage>)),
    golden("rest/state_not_found.json", Rest(typed::<ApiMessage>)),
    golden("rest/event_fired.json", Rest(typed::<ApiMessage>)),
    golden("rest/state.json", Rest(typed::<State>)),
    golden("rest/states.json", Rest(states)),
    golden("rest/set_state_request.json", Rest(typed::<SetStateRequest>)),
    golden("rest/set_state_request_forced.json", Rest(typed::<SetStateRequest>)),
    golden("rest/service_response_body.json", Rest(typed::<ServiceResponseBody>)),
    golden("rest/event_listeners.json", Rest(typed::<Vec<EventListenerCount>>)),
    golden("rest/history_period_minimal.json", Rest(typed::<Vec<Vec<HistoryEntry>>>)),
    golden("rest/history_period_no_attributes.json", Rest(typed::<Vec<Vec<HistoryEntry>>>)),
];

// ---------------------------------------------------------------- helpers

fn data_dir() -> PathBuf {
    common::manifest_dir().join("tests/data")
}

fn read(file: &str) -> String {
    fs::read_to_string(data_dir().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn json(file: &str) -> Value {
    serde_json::from_str(&read(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn to_value<T: Serialize + ?Sized>(v: &T) -> Result<Value, String> {
    serde_json::to_value(v).map_err(|e| format!("re-encoding: {e}"))
}

fn typed<T: DeserializeOwned + Serialize>(text: &str) -> Result<Value, String> {
    let decoded: T = serde_json::from_str(text).map_err(|e| e.to_string())?;
    to_value(&decoded)
}

fn states(text: &str) -> Result<Value, String> {
    to_value(&parse_states(text).map_err(|e| e.to_string())?)
}

fn decode_payload(payload: Payload, raw: &str) -> Result<Value, String> {
    let err = |e: ProtoError| e.to_string();
    match payload {
        Plain => serde_json::from_str(raw).map_err(|e| e.to_string()),
        States => states(raw),
        Config => typed::<HaConfig>(raw),
        Services => typed::<Services>(raw),
        CallService => typed::<CallServiceResult>(raw),
        FireEvent => typed::<FireEventResult>(raw),
        Token => {
            let token: Secret = serde_json::from_str(raw).map_err(|e| e.to_string())?;
            Ok(Value::String(token.expose().to_owned()))
        }
        StateChanged => {
            let event = Event::parse(raw).map_err(err)?;
            let data = event.state_changed().ok_or("not a state_changed event")?.map_err(err)?;
            let mut value = to_value(&event)?;
            value["data"] = to_value(&data)?;
            Ok(value)
        }
        OtherEvent => {
            let event = Event::parse(raw).map_err(err)?;
            if event.state_changed().is_some() {
                return Err("a state_changed event where another type was expected".into());
            }
            to_value(&event)
        }
        Compressed => to_value(&CompressedEvent::parse(raw).map_err(err)?),
        Trigger => typed::<TriggerEvent>(raw),
    }
}

/// Re-encodes one server message with its payload decoded and re-encoded too.
fn deep(message: &ServerMessage<'_>, payload: Payload) -> Result<Value, String> {
    let mut value = to_value(message)?;
    let (field, raw) = match message {
        ServerMessage::Result { outcome: Ok(result), .. } => ("result", result.get()),
        ServerMessage::Event { event, .. } => ("event", event.get()),
        _ if payload == Plain => return Ok(value),
        other => return Err(format!("payload {payload:?} given for {other:?}")),
    };
    value[field] = decode_payload(payload, raw)?;
    Ok(value)
}

fn round_trip(decoder: Decoder, text: &str) -> Result<Value, String> {
    match decoder {
        Server(payloads) => {
            let frame = Frame::parse(text).map_err(|e| e.to_string())?;
            if !frame.errors.is_empty() {
                return Err(format!("frame errors: {:?}", frame.errors));
            }
            if frame.messages.len() != payloads.len() {
                return Err(format!("{} messages, table says {}", frame.messages.len(), payloads.len()));
            }
            let mut values =
                frame.messages.iter().zip(payloads).map(|(m, p)| deep(m, *p)).collect::<Result<Vec<_>, _>>()?;
            Ok(if frame.coalesced { Value::Array(values) } else { values.remove(0) })
        }
        Client => {
            let commands = parse_client_frame(text).map_err(|e| e.to_string())?;
            let mut values = commands
                .iter()
                .map(|c| c.as_ref().map_err(|e| e.to_string()).and_then(to_value))
                .collect::<Result<Vec<_>, _>>()?;
            let is_array = text.trim_start().starts_with('[');
            Ok(if is_array { Value::Array(values) } else { values.remove(0) })
        }
        Auth => typed::<AuthMessage>(text),
        Rest(decode) => decode(text),
        Malformed => Err("malformed goldens are not round-tripped".into()),
    }
}

/// The original with the fields decoding is allowed to drop removed.
fn expected(file: &str, dropped: &[&str]) -> Value {
    let mut value = json(file);
    for pointer in dropped {
        let (parent, key) = pointer.rsplit_once('/').expect("pointer has a '/'");
        let key = key.replace("~1", "/").replace("~0", "~");
        let removed = value.pointer_mut(parent).and_then(Value::as_object_mut).and_then(|o| o.remove(&key));
        assert!(removed.is_some(), "{file}: nothing at {pointer}");
    }
    value
}

fn list_files(dir: &Path, out: &mut BTreeSet<String>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            list_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.insert(path.strip_prefix(data_dir()).unwrap().to_string_lossy().replace('\\', "/"));
        }
    }
}

fn frame(file: &str) -> (String, Frame<'static>) {
    let text = read(file);
    let leaked: &'static str = Box::leak(text.clone().into_boxed_str());
    (text, Frame::parse(leaked).unwrap_or_else(|e| panic!("{file}: {e}")))
}

fn only_message(file: &str) -> ServerMessage<'static> {
    let (_, mut frame) = frame(file);
    assert!(frame.errors.is_empty(), "{file}: {:?}", frame.errors);
    assert_eq!(frame.messages.len(), 1, "{file}");
    frame.messages.remove(0)
}

fn event_payload(file: &str) -> &'static str {
    match only_message(file) {
        ServerMessage::Event { event, .. } => Box::leak(event.get().to_owned().into_boxed_str()),
        other => panic!("{file}: not an event: {other:?}"),
    }
}

fn result_payload(file: &str) -> &'static str {
    match only_message(file) {
        ServerMessage::Result { outcome: Ok(result), .. } => Box::leak(result.get().to_owned().into_boxed_str()),
        other => panic!("{file}: not a success result: {other:?}"),
    }
}

fn command(file: &str) -> (u64, Command) {
    let mut commands = parse_client_frame(&read(file)).unwrap();
    assert_eq!(commands.len(), 1, "{file}");
    let message = commands.remove(0).unwrap_or_else(|e| panic!("{file}: {e}"));
    (message.id, message.command)
}

// ---------------------------------------------------------------- round trips

#[test]
fn every_golden_file_has_a_decoder_and_every_decoder_a_file() {
    // arrange
    let mut on_disk = BTreeSet::new();

    // act
    list_files(&data_dir(), &mut on_disk);

    // assert
    let in_table: BTreeSet<String> = GOLDENS.iter().map(|g| g.file.to_owned()).collect();
    assert_eq!(on_disk, in_table);
}

#[test]
fn every_golden_round_trips_through_its_decoder() {
    // arrange
    let goldens = GOLDENS.iter().filter(|g| !matches!(g.decoder, Malformed));

    // act
    let failures: Vec<String> = goldens
        .filter_map(|g| match round_trip(g.decoder, &read(g.file)) {
            Ok(value) if value == expected(g.file, g.dropped) => None,
            Ok(value) => Some(format!("{}: re-encoded differently:\n  {value}", g.file)),
            Err(e) => Some(format!("{}: {e}", g.file)),
        })
        .collect();

    // assert
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn frame_encode_reproduces_every_server_golden() {
    // arrange
    let servers = GOLDENS.iter().filter(|g| matches!(g.decoder, Server(_)));

    // act
    let failures: Vec<String> = servers
        .filter_map(|g| {
            let (_, frame) = frame(g.file);
            let encoded: Value = serde_json::from_str(&Frame::encode(&frame.messages)).unwrap();
            // payloads stay raw, so only fields dropped from the envelope itself are missing
            let envelope: Vec<&str> =
                g.dropped.iter().copied().filter(|p| !p.starts_with("/event/") && !p.starts_with("/result/")).collect();
            (encoded != expected(g.file, &envelope)).then(|| format!("{}: {encoded}", g.file))
        })
        .collect();

    // assert
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn unknown_fields_lists_exactly_what_re_encoding_drops_from_the_envelope() {
    // arrange
    let servers = GOLDENS.iter().filter(|g| matches!(g.decoder, Server(_)));

    // act
    let failures: Vec<String> = servers
        .filter_map(|g| {
            let text: &'static str = Box::leak(read(g.file).into_boxed_str());
            let listed: BTreeSet<String> =
                Frame::unknown_fields(text).unwrap().into_iter().map(|f| f.path.replace('.', "/")).collect();
            let dropped: BTreeSet<String> = g
                .dropped
                .iter()
                .filter(|p| !p.starts_with("/event/") && !p.starts_with("/result/"))
                .map(|p| p[1..].to_owned())
                .collect();
            (listed != dropped).then(|| format!("{}: listed {listed:?}, dropped {dropped:?}", g.file))
        })
        .collect();

    // assert
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------- auth phase

#[test]
fn auth_required_and_auth_ok_carry_the_version() {
    // act
    let required = only_message("server/auth_required.json");
    let ok = only_message("server/auth_ok.json");

    // assert
    assert_eq!(required, ServerMessage::AuthRequired { ha_version: "2024.3.3".into() });
    assert_eq!(ok, ServerMessage::AuthOk { ha_version: "2024.3.3".into() });
}

#[test]
fn auth_invalid_carries_the_reason() {
    // act
    let message = only_message("server/auth_invalid.json");

    // assert
    assert_eq!(message, ServerMessage::AuthInvalid { message: "Invalid access token or password".into() });
}

#[test]
fn auth_message_never_shows_its_token_in_debug() {
    // arrange
    let file = json("client/auth.json");
    let token = file["access_token"].as_str().unwrap();

    // act
    let auth: AuthMessage = serde_json::from_str(&read("client/auth.json")).unwrap();
    let debug = format!("{auth:?} {:?} {}", auth.access_token, auth.access_token);

    // assert
    assert_eq!(auth.access_token.expose(), token);
    assert!(!debug.contains(token) && !debug.contains(&token[..12]), "{debug}");
}

#[test]
fn auth_message_decodes_from_a_json_value_too() {
    // arrange: what a server does after peeking at the message as a Value
    let value = json("client/auth.json");

    // act
    let auth: AuthMessage = serde_json::from_value(value.clone()).unwrap();

    // assert
    assert_eq!(auth.access_token.expose(), value["access_token"]);
}

#[test]
fn states_decode_from_a_json_value_too() {
    // arrange
    let value = json("rest/states.json");

    // act
    let states: Vec<State> = serde_json::from_value(value.clone()).unwrap();

    // assert
    assert_eq!(serde_json::to_value(&states).unwrap(), value);
}

#[test]
fn auth_message_with_another_type_is_rejected_without_echoing_the_token() {
    // arrange
    let text = read("client/auth.json").replace(r#""type":"auth""#, r#""type":"login""#);

    // act
    let err = serde_json::from_str::<AuthMessage>(&text).unwrap_err().to_string();

    // assert
    assert!(err.contains("login"), "{err}");
    assert!(!err.contains("eyJ"), "{err}");
}

#[test]
fn long_lived_token_result_decodes_into_a_secret() {
    // arrange
    let raw = result_payload("server/result_long_lived_token.json");

    // act
    let token: Secret = serde_json::from_str(raw).unwrap();

    // assert
    assert!(token.expose().starts_with("eyJ"));
    assert_eq!(format!("{token:?}"), "Secret(***)");
}

// ---------------------------------------------------------------- commands

#[test]
fn every_command_golden_decodes_to_the_command_its_type_names() {
    // arrange
    let files = GOLDENS.iter().filter(|g| matches!(g.decoder, Client) && g.file != "client/batch.json");

    // act + assert
    for g in files {
        let file = json(g.file);
        let (id, command) = command(g.file);
        assert_eq!(Some(id), file["id"].as_u64(), "{}", g.file);
        assert_eq!(Some(command.type_name()), file["type"].as_str(), "{}", g.file);
    }
}

#[test]
fn call_service_keeps_target_and_return_response() {
    // act
    let (_, command) = command("client/call_service.json");

    // assert
    let Command::CallService { domain, service, target, return_response, service_data } = command else {
        panic!("{command:?}")
    };
    assert_eq!((domain.as_str(), service.as_str()), ("weather", "get_forecasts"));
    assert_eq!(target.unwrap().entity_id, Some(OneOrMany::Many(vec!["weather.home".into()])));
    assert_eq!(return_response, Some(true));
    assert_eq!(service_data, Some(serde_json::json!({"type": "daily"})));
}

#[test]
fn subscribe_events_without_event_type_means_all_events() {
    // act
    let (_, all) = command("client/subscribe_events_all.json");
    let (_, one) = command("client/subscribe_events.json");

    // assert
    assert_eq!(all, Command::SubscribeEvents { event_type: None });
    assert_eq!(one, Command::SubscribeEvents { event_type: Some("state_changed".into()) });
}

#[test]
fn subscribe_entities_keeps_its_entity_ids() {
    // act
    let (_, command) = command("client/subscribe_entities.json");

    // assert
    let expected = Some(vec!["light.kitchen".to_owned(), "sensor.house_power".to_owned()]);
    assert_eq!(command, Command::SubscribeEntities { entity_ids: expected });
}

#[test]
fn client_batch_frame_yields_every_command_in_order() {
    // act
    let commands = parse_client_frame(&read("client/batch.json")).unwrap();

    // assert
    let ids: Vec<u64> = commands.iter().map(|c| c.as_ref().unwrap().id).collect();
    assert_eq!(ids, [5, 6, 7]);
}

// ---------------------------------------------------------------- results and errors

#[test]
fn every_error_golden_decodes_to_its_code_variant() {
    // arrange
    let table = [
        ("id_reuse", ErrorCode::IdReuse),
        ("invalid_format", ErrorCode::InvalidFormat),
        ("not_allowed", ErrorCode::NotAllowed),
        ("not_found", ErrorCode::NotFound),
        ("not_supported", ErrorCode::NotSupported),
        ("home_assistant_error", ErrorCode::HomeAssistantError),
        ("service_validation_error", ErrorCode::ServiceValidationError),
        ("unknown_command", ErrorCode::UnknownCommand),
        ("unknown_error", ErrorCode::UnknownError),
        ("unauthorized", ErrorCode::Unauthorized),
        ("timeout", ErrorCode::Timeout),
        ("template_error", ErrorCode::TemplateError),
        ("unknown_code", ErrorCode::Other("rate_limited".into())),
    ];

    // act + assert
    for (name, code) in table {
        let file = format!("server/error_{name}.json");
        let ServerMessage::Result { id, outcome: Err(info) } = only_message(&file) else { panic!("{file}") };
        let original = json(&file);
        assert_eq!(Some(id), original["id"].as_u64(), "{file}");
        assert_eq!(info.code, code, "{file}");
        assert_eq!(info.code.as_str(), original["error"]["code"], "{file}");
        assert_eq!(info.message, original["error"]["message"], "{file}");
    }
}

#[test]
fn translation_fields_are_decoded_when_present() {
    // act
    let ServerMessage::Result { outcome: Err(with), .. } = only_message("server/error_not_found.json") else {
        panic!()
    };
    let ServerMessage::Result { outcome: Err(without), .. } = only_message("server/error_id_reuse.json") else {
        panic!()
    };

    // assert
    assert_eq!(with.translation_key.as_deref(), Some("service_not_found"));
    assert_eq!(with.translation_domain.as_deref(), Some("homeassistant"));
    let placeholders = with.translation_placeholders.unwrap();
    assert_eq!((placeholders["domain"].as_str(), placeholders["service"].as_str()), ("light", "foo"));
    assert_eq!(
        (without.translation_key, without.translation_domain, without.translation_placeholders),
        (None, None, None)
    );
}

#[test]
fn placeholder_that_is_not_a_string_does_not_lose_the_error() {
    // arrange
    let text = read("server/error_not_found.json").replace(r#""service":"foo""#, r#""service":7"#);

    // act
    let frame = Frame::parse(&text).unwrap();

    // assert
    let [ServerMessage::Result { id: 24, outcome: Err(info) }] = &frame.messages[..] else { panic!("{frame:?}") };
    assert_eq!(info.translation_placeholders.as_ref().unwrap()["service"], "7");
}

#[test]
fn get_states_result_decodes_every_state() {
    // arrange
    let raw = result_payload("server/result_get_states.json");
    let original: Value = serde_json::from_str(raw).unwrap();

    // act
    let states = parse_states(raw).unwrap();

    // assert
    let ids: Vec<&str> = states.iter().map(|s| s.entity_id.as_str()).collect();
    let expected: Vec<&str> = original.as_array().unwrap().iter().map(|s| s["entity_id"].as_str().unwrap()).collect();
    assert_eq!(ids, expected);
    let guest = &states[2];
    assert_eq!(guest.last_reported, None, "input_boolean.guest_mode is written without last_reported");
    assert_eq!(guest.context.parent_id.as_deref(), Some("01HSBDN7R2T5W8Y1A4C6E9G3JK"));
    assert_eq!(states[0].attributes.get_as::<String>("unit_of_measurement").as_deref(), Some("°C"));
}

#[test]
fn get_config_result_keeps_known_and_unknown_keys() {
    // act
    let config: HaConfig = serde_json::from_str(result_payload("server/result_get_config.json")).unwrap();

    // assert
    assert_eq!((config.version.as_str(), config.state.as_str()), ("2024.3.3", "RUNNING"));
    assert_eq!(config.unit_system.temperature, "°C");
    assert_eq!(config.unit_system.other["wind_speed"], "m/s");
    assert_eq!(config.other["currency"], "EUR");
}

#[test]
fn get_services_result_shows_which_services_respond() {
    // act
    let services: Services = serde_json::from_str(result_payload("server/result_get_services.json")).unwrap();

    // assert
    assert!(services["weather"]["get_forecasts"].response.is_some());
    assert!(services["light"]["turn_on"].response.is_none());
    assert!(services["light"]["turn_on"].fields.contains_key("brightness"));
}

#[test]
fn call_service_result_has_context_and_response() {
    // act
    let result: CallServiceResult = serde_json::from_str(result_payload("server/result_call_service.json")).unwrap();

    // assert
    assert_eq!(result.context.user_id.as_deref(), Some("9c7e0b5a2f1d4e3c8b6a7d5e4f3c2b1a"));
    assert_eq!(result.response.unwrap()["weather.home"]["forecast"][0]["condition"], "rainy");
}

#[test]
fn fire_event_result_has_its_context() {
    // act
    let result: FireEventResult = serde_json::from_str(result_payload("server/result_fire_event.json")).unwrap();

    // assert
    assert_eq!(result.context.id, "01HSBDV8E1H4K7N0R3U6X9A2D5");
}

#[test]
fn success_result_null_is_null() {
    // act
    let message = only_message("server/result_null.json");

    // assert
    let ServerMessage::Result { id: 18, outcome: Ok(result) } = message else { panic!("{message:?}") };
    assert!(result.is_null());
}

// ---------------------------------------------------------------- subscribe_events

#[test]
fn state_changed_added_has_no_old_state() {
    // arrange
    let event = Event::parse(event_payload("server/event_state_changed_added.json")).unwrap();

    // act
    let data = event.state_changed().unwrap().unwrap();

    // assert
    assert_eq!(data.entity_id, "sensor.kitchen_temp");
    assert!(data.old_state.is_none());
    assert_eq!(data.new_state.unwrap().state, "21.5");
}

#[test]
fn state_changed_changed_has_both_states() {
    // arrange
    let event = Event::parse(event_payload("server/event_state_changed_changed.json")).unwrap();

    // act
    let data = event.state_changed().unwrap().unwrap();

    // assert
    let (old, new) = (data.old_state.unwrap(), data.new_state.unwrap());
    assert_eq!((old.state.as_str(), new.state.as_str()), ("off", "on"));
    assert_eq!(new.attributes.get_as::<u8>("brightness"), Some(101));
    assert_eq!(new.last_changed.to_string(), "2024-03-20T10:00:00.123456+00:00");
    assert_eq!(event.time_fired, new.last_changed);
}

#[test]
fn state_changed_removed_has_no_new_state() {
    // arrange
    let event = Event::parse(event_payload("server/event_state_changed_removed.json")).unwrap();

    // act
    let data = event.state_changed().unwrap().unwrap();

    // assert
    assert_eq!(data.entity_id, "sensor.old_thermometer");
    assert!(data.new_state.is_none());
    assert_eq!(data.old_state.unwrap().state, "unavailable");
}

#[test]
fn state_changed_update_gives_the_new_state_and_skips_the_old_one() {
    // arrange
    let event = Event::parse(event_payload("server/event_state_changed_changed.json")).unwrap();
    let full = event.state_changed().unwrap().unwrap();

    // act
    let update = event.state_changed_update().unwrap().unwrap();

    // assert
    assert_eq!((&update.entity_id, &update.new_state), (&full.entity_id, &full.new_state));
    assert!(full.old_state.is_some() && update.old_state.is_none());
}

#[test]
fn state_changed_update_of_a_removal_has_no_new_state() {
    // arrange
    let event = Event::parse(event_payload("server/event_state_changed_removed.json")).unwrap();

    // act
    let update = event.state_changed_update().unwrap().unwrap();

    // assert
    assert_eq!(update.entity_id, "sensor.old_thermometer");
    assert!(update.new_state.is_none());
}

#[test]
fn state_changed_update_is_none_for_other_event_types() {
    let event = Event::parse(
        r#"{"event_type":"call_service","data":{},"time_fired":"2024-03-20T10:00:00+00:00","context":{"id":"c"}}"#,
    )
    .unwrap();

    assert!(event.state_changed_update().is_none());
}

#[test]
fn state_changed_update_still_refuses_data_that_is_not_json() {
    let event = Event::parse(
        r#"{"event_type":"state_changed","data":{"entity_id":"a.b","old_state":{"x":[}},"time_fired":"2024-03-20T10:00:00+00:00","context":{"id":"c"}}"#,
    );

    assert!(event.is_err() || event.unwrap().state_changed_update().unwrap().is_err());
}

#[test]
fn attributes_move_out_in_received_order() {
    // arrange
    let mut states = parse_states(result_payload("server/result_get_states.json")).unwrap();
    states.sort_by_key(|s| std::cmp::Reverse(s.attributes.len()));
    let state = states.swap_remove(0);
    let expected: Vec<(String, String)> =
        state.attributes.iter().map(|(k, v)| (k.to_owned(), v.get().to_owned())).collect();

    // act
    let moved: Vec<(String, String)> =
        state.attributes.into_iter().map(|(k, v)| (k.into_string(), v.get().to_owned())).collect();

    // assert
    assert!(!moved.is_empty());
    assert_eq!(moved, expected);
}

#[test]
fn other_event_types_keep_their_data_raw() {
    // arrange
    let event = Event::parse(event_payload("server/event_call_service.json")).unwrap();

    // act
    let data: Value = event.data.decode().unwrap();

    // assert
    assert!(event.state_changed().is_none());
    assert_eq!(event.event_type, "call_service");
    assert_eq!(data["service_data"]["brightness"], 101);
}

#[test]
fn subscribe_trigger_event_holds_the_trigger_variables() {
    // act
    let event: TriggerEvent = serde_json::from_str(event_payload("server/event_subscribe_trigger.json")).unwrap();

    // assert
    let trigger = &event.variables["trigger"];
    assert_eq!((trigger["platform"].as_str(), trigger["to_state"]["state"].as_str()), (Some("state"), Some("on")));
    assert_eq!(event.context.unwrap().id, "01HSBDY1G4J7M0P3S6V9Y2B5E8");
}

// ---------------------------------------------------------------- subscribe_entities

#[test]
fn compressed_snapshot_expands_contexts_and_last_updated_like_the_file_says() {
    // arrange
    let original = json("server/entities_snapshot.json");
    let added = &original["event"]["a"];

    // act
    let event = CompressedEvent::parse(event_payload("server/entities_snapshot.json")).unwrap();

    // assert
    assert_eq!(event.added.len(), added.as_object().unwrap().len());
    for (key, compressed) in &event.added {
        let file = &added[key.as_str()];
        let state = compressed.to_state(key.to_entity_id());
        assert_eq!(state.state, file["s"], "{key:?}");
        assert_eq!(state.last_changed.as_epoch_secs(), file["lc"].as_f64().unwrap(), "{key:?}");
        let lu = file.get("lu").map_or(file["lc"].as_f64(), Value::as_f64).unwrap();
        assert_eq!(state.last_updated.as_epoch_secs(), lu, "{key:?}");
        match &file["c"] {
            Value::String(id) => {
                assert!(compressed.context.bare_id, "{key:?}");
                assert_eq!(state.context, ha_proto::Context::from_id(id.as_str()), "{key:?}");
            }
            object => assert_eq!(serde_json::to_value(&state.context).unwrap(), *object, "{key:?}"),
        }
        assert_eq!(serde_json::to_value(&state.attributes).unwrap(), file["a"], "{key:?}");
    }
}

#[test]
fn compressed_changes_hold_exactly_the_fields_the_file_says() {
    // arrange
    let original = json("server/entities_changed.json");
    let changed = &original["event"]["c"];

    // act
    let event = CompressedEvent::parse(event_payload("server/entities_changed.json")).unwrap();

    // assert
    assert_eq!(event.changed.len(), changed.as_object().unwrap().len());
    for (key, diff) in &event.changed {
        let plus = &changed[key.as_str()]["+"];
        let add = diff.additions.as_ref().unwrap();
        assert_eq!(add.state.as_deref(), plus["s"].as_str(), "{key:?} s");
        assert_eq!(add.last_changed.map(|t| t.as_epoch_secs()), plus["lc"].as_f64(), "{key:?} lc");
        assert_eq!(add.last_updated.map(|t| t.as_epoch_secs()), plus["lu"].as_f64(), "{key:?} lu");
        let attrs = add.attributes.as_ref().map(|a| serde_json::to_value(a).unwrap());
        assert_eq!(attrs.as_ref(), plus.get("a"), "{key:?} a");
        let context = add.context.as_ref().map(|c| serde_json::to_value(c).unwrap());
        assert_eq!(context.as_ref(), plus.get("c"), "{key:?} c");
        let removed: Option<Vec<&str>> =
            diff.removals.as_ref().map(|r| r.attributes.iter().map(|a| a.as_ref()).collect());
        let file_removed: Option<Vec<&str>> =
            changed[key.as_str()]["-"]["a"].as_array().map(|a| a.iter().map(|k| k.as_str().unwrap()).collect());
        assert_eq!(removed, file_removed, "{key:?} -.a");
    }
}

#[test]
fn compressed_context_forms_decode_to_the_right_patch() {
    // arrange
    let event = CompressedEvent::parse(event_payload("server/entities_changed.json")).unwrap();
    let context_of = |id: &str| {
        event.changed.iter().find(|(k, _)| k.as_str() == id).unwrap().1.additions.as_ref().unwrap().context.clone()
    };

    // act
    let bare = context_of("light.kitchen").unwrap();
    let partial = context_of("media_player.living_room").unwrap();
    let id_and_user = context_of("input_boolean.guest_mode").unwrap();

    // assert
    assert!(bare.bare_id && bare.parent_id.is_none() && bare.user_id.is_none());
    assert_eq!((partial.id, partial.parent_id, partial.user_id, partial.bare_id), (None, None, Some(None), false));
    assert_eq!(id_and_user.user_id, Some(Some("9c7e0b5a2f1d4e3c8b6a7d5e4f3c2b1a".into())));
    assert_eq!(id_and_user.parent_id, None);
}

#[test]
fn compressed_removal_lists_the_removed_entities() {
    // act
    let event = CompressedEvent::parse(event_payload("server/entities_removed.json")).unwrap();

    // assert
    let removed: Vec<&str> = event.removed.iter().map(|k| k.as_str()).collect();
    assert_eq!(removed, ["sensor.old_thermometer", "light.garage_2"]);
    assert!(event.added.is_empty() && event.changed.is_empty());
}

// ---------------------------------------------------------------- frames

#[test]
fn pong_is_its_own_message() {
    // act
    let message = only_message("server/pong.json");

    // assert
    assert_eq!(message, ServerMessage::Pong { id: 19 });
}

#[test]
fn coalesced_frame_yields_every_message_in_order() {
    // arrange
    let original = json("server/coalesced.json");

    // act
    let (_, frame) = frame("server/coalesced.json");

    // assert
    assert!(frame.coalesced);
    assert!(frame.errors.is_empty(), "{:?}", frame.errors);
    let ids: Vec<Option<u64>> = frame.messages.iter().map(ServerMessage::id).collect();
    let file_ids: Vec<Option<u64>> = original.as_array().unwrap().iter().map(|m| m["id"].as_u64()).collect();
    assert_eq!(ids, file_ids);
    assert!(matches!(frame.messages[4], ServerMessage::Pong { id: 19 }));
    assert!(
        matches!(&frame.messages[5], ServerMessage::Result { outcome: Err(e), .. } if e.code == ErrorCode::NotFound)
    );
}

#[test]
fn single_object_frame_is_not_coalesced() {
    // act
    let (_, frame) = frame("server/result_null.json");

    // assert
    assert!(!frame.coalesced);
}

#[test]
fn unknown_type_is_kept_whole_with_its_unknown_fields() {
    // arrange
    let original = json("server/unknown_type.json");

    // act
    let message = only_message("server/unknown_type.json");

    // assert
    let ServerMessage::Unknown { msg_type, id, raw } = message else { panic!("{message:?}") };
    assert_eq!((msg_type.as_ref(), id), ("stream_keepalive", Some(42)));
    assert_eq!(serde_json::from_str::<Value>(raw.get()).unwrap(), original);
}

#[test]
fn unknown_type_inside_a_coalesced_frame_is_kept_whole() {
    // arrange
    let original = json("server/coalesced.json");

    // act
    let (_, frame) = frame("server/coalesced.json");

    // assert
    let ServerMessage::Unknown { msg_type, raw, .. } = &frame.messages[6] else { panic!("{:?}", frame.messages[6]) };
    assert_eq!(msg_type, "server_notice");
    assert_eq!(serde_json::from_str::<Value>(raw.get()).unwrap(), original[6]);
}

#[test]
fn unknown_fields_do_not_disturb_known_ones() {
    // act
    let result = only_message("server/extra_fields_result.json");
    let error = only_message("server/extra_fields_error.json");
    let data = Event::parse(event_payload("server/extra_fields_event.json")).unwrap().state_changed().unwrap().unwrap();
    let entities = CompressedEvent::parse(event_payload("server/extra_fields_entities.json")).unwrap();

    // assert
    assert!(matches!(result, ServerMessage::Result { id: 5, outcome: Ok(r) } if r.is_null()));
    assert!(matches!(error, ServerMessage::Result { id: 6, outcome: Err(e) } if e.code == ErrorCode::NotFound));
    assert_eq!(data.new_state.unwrap().state, "on");
    assert_eq!((entities.added.len(), entities.changed.len()), (1, 1));
    assert_eq!(entities.changed[0].1.additions.as_ref().unwrap().state.as_deref(), Some("1500.0"));
}

#[test]
fn unknown_fields_inside_payloads_stay_in_the_raw_payload() {
    // act
    let message = only_message("server/extra_fields_event.json");

    // assert
    let ServerMessage::Event { event, .. } = message else { panic!("{message:?}") };
    let event: Value = serde_json::from_str(event.get()).unwrap();
    assert_eq!(event["priority"], 2);
    assert_eq!(event["data"]["new_state"]["icon_state"], "lit");
}

#[test]
fn bad_elements_of_a_coalesced_frame_are_reported_by_index_and_the_rest_kept() {
    // act
    let (_, frame) = frame("malformed/coalesced_one_bad_element.json");

    // assert
    assert_eq!(frame.messages.iter().map(ServerMessage::id).collect::<Vec<_>>(), [Some(1), Some(4)]);
    let indexes: Vec<usize> = frame
        .errors
        .iter()
        .map(|e| match e {
            ProtoError::InvalidMessage { index, .. } => *index,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(indexes, [1, 2]);
    assert!(frame.errors[0].to_string().starts_with("message 1 of the frame"), "{}", frame.errors[0]);
    let not_object = frame.errors[1].to_string();
    assert!(not_object.contains("not a message object") && !not_object.contains(" at line "), "{not_object}");
}

#[test]
fn bad_element_of_a_coalesced_frame_names_its_id_when_the_id_is_readable() {
    // arrange: an event without its payload (id 7 readable), then one whose id is text
    let text = r#"[{"id":1,"type":"pong"},{"id":7,"type":"event"},{"id":"x","type":"event","event":{}}]"#;

    // act
    let frame = Frame::parse(text).unwrap();

    // assert
    let ids: Vec<Option<u64>> = frame
        .errors
        .iter()
        .map(|e| match e {
            ProtoError::InvalidMessage { id, .. } => *id,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(ids, [Some(7), None]);
    assert_eq!(frame.messages.len(), 1);
}

// ---------------------------------------------------------------- REST

#[test]
fn history_minimal_response_entries_after_the_first_are_minimal() {
    // act
    let history: Vec<Vec<HistoryEntry>> = serde_json::from_str(&read("rest/history_period_minimal.json")).unwrap();

    // assert
    for entity in &history {
        let (first, rest) = entity.split_first().unwrap();
        assert!(first.entity_id.is_some() && first.attributes.is_some() && first.last_updated.is_some());
        assert!(rest.iter().all(|e| e.entity_id.is_none() && e.attributes.is_none() && e.last_updated.is_none()));
    }
    assert_eq!(history[1][1].last_changed.to_string(), "2024-03-20T10:05:00.500000+00:00");
}

#[test]
fn set_state_request_keeps_attributes_and_force_update() {
    // act
    let plain: SetStateRequest = serde_json::from_str(&read("rest/set_state_request.json")).unwrap();
    let forced: SetStateRequest = serde_json::from_str(&read("rest/set_state_request_forced.json")).unwrap();

    // assert
    assert_eq!(plain.attributes.get_as::<String>("friendly_name").as_deref(), Some("Bench temperature"));
    assert_eq!((plain.force_update, forced.force_update), (false, true));
}

#[test]
fn service_response_body_has_changed_states_and_response() {
    // act
    let body: ServiceResponseBody = serde_json::from_str(&read("rest/service_response_body.json")).unwrap();

    // assert
    assert_eq!(body.changed_states[0].entity_id, "weather.home");
    assert_eq!(body.service_response["weather.home"]["forecast"][0]["condition"], "sunny");
}

#[test]
fn event_listener_counts_decode() {
    // act
    let counts: Vec<EventListenerCount> = serde_json::from_str(&read("rest/event_listeners.json")).unwrap();

    // assert
    assert_eq!(counts[0], EventListenerCount { event: "state_changed".into(), listener_count: 5 });
}

#[test]
fn not_found_body_is_an_api_message() {
    // act
    let body: ApiMessage = serde_json::from_str(&read("rest/state_not_found.json")).unwrap();

    // assert
    assert_eq!(body.message, "Entity not found.");
}
