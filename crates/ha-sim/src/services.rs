//! The services the simulated home offers: their descriptions (`get_services`) and what a
//! call does (`call_service`, `POST /api/services/...`), with Home Assistant's validation
//! and `return_response` rules.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use ha_proto::raw::RawJson;
use ha_proto::{Attributes, Context, EntityId, ErrorCode, ErrorInfo, State, Target};
use serde_json::{Map, Value, json};

use crate::Core;
use crate::hub::NoteUpdate;
use crate::world::Force;

/// Whether and how a service responds (Home Assistant's `SupportsResponse`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Responds {
    No,
    Optional,
    Only,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Int { min: i64, max: i64 },
    Float,
    Text,
    List,
    OneOf(&'static [&'static str]),
}

#[derive(Debug)]
struct Field {
    name: &'static str,
    kind: Kind,
    required: bool,
}

const fn opt(name: &'static str, kind: Kind) -> Field {
    Field { name, kind, required: false }
}

const fn req(name: &'static str, kind: Kind) -> Field {
    Field { name, kind, required: true }
}

#[derive(Debug)]
struct Spec {
    domain: &'static str,
    service: &'static str,
    name: &'static str,
    description: &'static str,
    fields: &'static [Field],
    /// Entity domains the target may name (empty = the service takes no target).
    target: &'static [&'static str],
    responds: Responds,
}

const ON_OFF_DOMAINS: &[&str] = &["light", "switch", "input_boolean", "fan", "media_player"];
const LIGHT_ON_FIELDS: &[Field] = &[
    opt("transition", Kind::Float),
    opt("brightness", Kind::Int { min: 0, max: 255 }),
    opt("brightness_pct", Kind::Int { min: 0, max: 100 }),
    opt("brightness_step", Kind::Int { min: -255, max: 255 }),
    opt("brightness_step_pct", Kind::Int { min: -100, max: 100 }),
    opt("color_name", Kind::Text),
    opt("color_temp", Kind::Int { min: 1, max: 65535 }),
    opt("color_temp_kelvin", Kind::Int { min: 1, max: 100_000 }),
    opt("kelvin", Kind::Int { min: 1, max: 100_000 }),
    opt("hs_color", Kind::List),
    opt("rgb_color", Kind::List),
    opt("rgbw_color", Kind::List),
    opt("rgbww_color", Kind::List),
    opt("xy_color", Kind::List),
    opt("white", Kind::Int { min: 0, max: 255 }),
    opt("effect", Kind::Text),
    opt("flash", Kind::OneOf(&["short", "long"])),
    opt("profile", Kind::Text),
];

const SPECS: &[Spec] = &[
    Spec {
        domain: "homeassistant",
        service: "turn_on",
        name: "Generic turn on",
        description: "Generic service to turn devices on under any domain.",
        fields: &[],
        target: ON_OFF_DOMAINS,
        responds: Responds::No,
    },
    Spec {
        domain: "homeassistant",
        service: "turn_off",
        name: "Generic turn off",
        description: "Generic service to turn devices off under any domain.",
        fields: &[],
        target: ON_OFF_DOMAINS,
        responds: Responds::No,
    },
    Spec {
        domain: "homeassistant",
        service: "toggle",
        name: "Generic toggle",
        description: "Generic service to toggle devices on/off under any domain.",
        fields: &[],
        target: ON_OFF_DOMAINS,
        responds: Responds::No,
    },
    Spec {
        domain: "homeassistant",
        service: "update_entity",
        name: "Update entity",
        description: "Forces one or more entities to update its data.",
        fields: &[],
        target: &["*"],
        responds: Responds::No,
    },
    Spec {
        domain: "light",
        service: "turn_on",
        name: "Turn on",
        description: "Turn on one or more lights and adjust properties of the light.",
        fields: LIGHT_ON_FIELDS,
        target: &["light"],
        responds: Responds::No,
    },
    Spec {
        domain: "light",
        service: "turn_off",
        name: "Turn off",
        description: "Turn off one or more lights.",
        fields: &[opt("transition", Kind::Float), opt("flash", Kind::OneOf(&["short", "long"]))],
        target: &["light"],
        responds: Responds::No,
    },
    Spec {
        domain: "light",
        service: "toggle",
        name: "Toggle",
        description: "Toggles one or more lights, from on to off, or, off to on.",
        fields: LIGHT_ON_FIELDS,
        target: &["light"],
        responds: Responds::No,
    },
    Spec {
        domain: "switch",
        service: "turn_on",
        name: "Turn on",
        description: "Turns a switch on.",
        fields: &[],
        target: &["switch"],
        responds: Responds::No,
    },
    Spec {
        domain: "switch",
        service: "turn_off",
        name: "Turn off",
        description: "Turns a switch off.",
        fields: &[],
        target: &["switch"],
        responds: Responds::No,
    },
    Spec {
        domain: "switch",
        service: "toggle",
        name: "Toggle",
        description: "Toggles a switch on/off.",
        fields: &[],
        target: &["switch"],
        responds: Responds::No,
    },
    Spec {
        domain: "input_boolean",
        service: "turn_on",
        name: "Turn on",
        description: "Turns on the helper.",
        fields: &[],
        target: &["input_boolean"],
        responds: Responds::No,
    },
    Spec {
        domain: "input_boolean",
        service: "turn_off",
        name: "Turn off",
        description: "Turns off the helper.",
        fields: &[],
        target: &["input_boolean"],
        responds: Responds::No,
    },
    Spec {
        domain: "input_boolean",
        service: "toggle",
        name: "Toggle",
        description: "Toggles the helper on/off.",
        fields: &[],
        target: &["input_boolean"],
        responds: Responds::No,
    },
    Spec {
        domain: "input_number",
        service: "set_value",
        name: "Set",
        description: "Sets the value.",
        fields: &[req("value", Kind::Float)],
        target: &["input_number"],
        responds: Responds::No,
    },
    Spec {
        domain: "persistent_notification",
        service: "create",
        name: "Create",
        description: "Shows a notification on the notifications panel.",
        fields: &[req("message", Kind::Text), opt("title", Kind::Text), opt("notification_id", Kind::Text)],
        target: &[],
        responds: Responds::No,
    },
    Spec {
        domain: "persistent_notification",
        service: "dismiss",
        name: "Dismiss",
        description: "Removes a notification from the notifications panel.",
        fields: &[req("notification_id", Kind::Text)],
        target: &[],
        responds: Responds::No,
    },
    Spec {
        domain: "persistent_notification",
        service: "dismiss_all",
        name: "Dismiss all",
        description: "Removes all notifications from the notifications panel.",
        fields: &[],
        target: &[],
        responds: Responds::No,
    },
    Spec {
        domain: "script",
        service: "reload",
        name: "Reload",
        description: "Reloads all the available scripts.",
        fields: &[],
        target: &[],
        responds: Responds::No,
    },
    Spec {
        domain: "conversation",
        service: "process",
        name: "Process",
        description: "Launches a conversation from a transcribed text.",
        fields: &[
            req("text", Kind::Text),
            opt("language", Kind::Text),
            opt("agent_id", Kind::Text),
            opt("conversation_id", Kind::Text),
        ],
        target: &[],
        responds: Responds::Optional,
    },
    Spec {
        domain: "weather",
        service: "get_forecasts",
        name: "Get forecasts",
        description: "Get weather forecasts.",
        fields: &[req("type", Kind::OneOf(&["daily", "hourly", "twice_daily"]))],
        target: &["weather"],
        responds: Responds::Only,
    },
    Spec {
        domain: "system_log",
        service: "write",
        name: "Write",
        description: "Write log entry.",
        fields: &[
            req("message", Kind::Text),
            opt("level", Kind::OneOf(&["debug", "info", "warning", "error", "critical"])),
            opt("logger", Kind::Text),
        ],
        target: &[],
        responds: Responds::No,
    },
];

/// The service Home Assistant registers for every script (`script.<object_id>`): any
/// fields (they become the script's variables), responses optional. Found by entity, not
/// listed by `get_services`.
static SCRIPT_RUN: Spec = Spec {
    domain: "script",
    service: "<object_id>",
    name: "Run script",
    description: "Runs the script.",
    fields: &[],
    target: &[],
    responds: Responds::Optional,
};

const TARGET_KEYS: &[&str] = &["entity_id", "device_id", "area_id", "floor_id", "label_id"];

fn spec(domain: &str, service: &str) -> Option<&'static Spec> {
    SPECS.iter().find(|s| s.domain == domain && s.service == service)
}

/// Every service's description, as `get_services` returns it (encoded once).
pub(crate) fn descriptions_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        let mut domains: BTreeMap<&str, Map<String, Value>> = BTreeMap::new();
        for s in SPECS {
            let mut fields = Map::new();
            for f in s.fields {
                let selector = match f.kind {
                    Kind::Int { min, max } => json!({"number": {"min": min, "max": max}}),
                    Kind::Float => json!({"number": {"mode": "box"}}),
                    Kind::Text => json!({"text": null}),
                    Kind::List => json!({"object": null}),
                    Kind::OneOf(options) => json!({"select": {"options": options}}),
                };
                let mut field = json!({"selector": selector});
                if f.required {
                    field["required"] = json!(true);
                }
                fields.insert(f.name.to_owned(), field);
            }
            let mut desc = json!({"name": s.name, "description": s.description, "fields": fields});
            if !s.target.is_empty() {
                let entity = if s.target == ["*"] { json!([{}]) } else { json!([{"domain": s.target}]) };
                desc["target"] = json!({"entity": entity});
            }
            if s.responds != Responds::No {
                desc["response"] = json!({"optional": s.responds == Responds::Optional});
            }
            domains.entry(s.domain).or_default().insert(s.service.to_owned(), desc);
        }
        serde_json::to_string(&domains).expect("descriptions serialise")
    })
}

/// `ValueError` text of a `return_response` on a service that cannot respond (2024.3).
pub(crate) const NO_RESPONSE_SUPPORT: &str =
    "Invalid argument return_response=True when handler does not support responses";

/// `ValueError` text of a response-only service called without `return_response` (2024.3).
pub(crate) const RESPONSE_REQUIRED: &str = "Service call requires responses but caller did not ask for responses";

/// Why a call failed, mapped to Home Assistant's codes by the callers.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ServiceError {
    /// No such service (`not_found`).
    NotFound { domain: String, service: String },
    /// Schema validation failed (`invalid_format`), with voluptuous' wording.
    Invalid(String),
    /// A `ValueError` raised by `ServiceRegistry.async_call` (`unknown_error`): in 2024.3
    /// that is how `return_response` misuse fails (later releases raise
    /// `ServiceValidationError` instead).
    Value(&'static str),
}

impl ServiceError {
    /// The WebSocket error of this failure.
    pub(crate) fn to_error_info(&self) -> ErrorInfo {
        match self {
            ServiceError::NotFound { domain, service } => ErrorInfo {
                code: ErrorCode::NotFound,
                message: format!("Service {domain}.{service} not found."),
                translation_key: Some("service_not_found".to_owned()),
                translation_domain: Some("homeassistant".to_owned()),
                translation_placeholders: Some(BTreeMap::from([
                    ("domain".to_owned(), domain.clone()),
                    ("service".to_owned(), service.clone()),
                ])),
            },
            ServiceError::Invalid(message) => ErrorInfo::new(ErrorCode::InvalidFormat, message.clone()),
            ServiceError::Value(message) => ErrorInfo::new(ErrorCode::UnknownError, *message),
        }
    }
}

/// What a successful call did.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) context: Context,
    pub(crate) response: Option<Value>,
    pub(crate) changed: Vec<Arc<State>>,
}

/// A service call as both APIs make it.
#[derive(Debug)]
pub(crate) struct Call<'a> {
    pub(crate) domain: &'a str,
    pub(crate) service: &'a str,
    pub(crate) data: Option<Value>,
    pub(crate) target: Option<Target>,
    pub(crate) return_response: bool,
    pub(crate) user_id: &'a str,
}

/// Calls a service: validates, fires `call_service`, changes states (fanned out at once).
pub(crate) fn call(core: &mut Core, call: Call<'_>) -> Result<Outcome, ServiceError> {
    let script = call.domain == "script" && core.world.get(&format!("script.{}", call.service)).is_some();
    let spec = spec(call.domain, call.service)
        .or(script.then_some(&SCRIPT_RUN))
        .ok_or_else(|| ServiceError::NotFound { domain: call.domain.to_owned(), service: call.service.to_owned() })?;
    let mut data = match call.data {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map,
        Some(_) => {
            return Err(ServiceError::Invalid(
                "expected a dictionary for dictionary value @ data['service_data']".to_owned(),
            ));
        }
    };
    // The target's keys join the data, as Home Assistant merges them before validation.
    if let Some(target) = &call.target {
        let target = serde_json::to_value(target).expect("targets serialise");
        if let Value::Object(t) = target {
            data.extend(t);
        }
    }
    // Home Assistant 2024.3 checks `return_response` before the schema, and raises a
    // plain `ValueError` (captured from 2024.3.3: `unknown_error` with this message).
    if call.return_response && spec.responds == Responds::No {
        return Err(ServiceError::Value(NO_RESPONSE_SUPPORT));
    }
    if !call.return_response && spec.responds == Responds::Only {
        return Err(ServiceError::Value(RESPONSE_REQUIRED));
    }
    if !std::ptr::eq(spec, &SCRIPT_RUN) {
        validate(spec, &data)?;
    }
    let entity_ids = resolve_targets(core, spec, &data)?;

    let context = core.world.context(Some(call.user_id));
    let now = core.world.clock.now();
    let event_data = json!({"domain": call.domain, "service": call.service, "service_data": data});
    core.hub.event("call_service", RawJson::from_value(&event_data), &context, now);

    let mut changed = Vec::new();
    let mut response = None;
    let text = |k: &str| {
        data.get(k).and_then(|v| v.as_str().map(str::to_owned).or_else(|| v.is_number().then(|| v.to_string())))
    };
    match (spec.domain, spec.service) {
        ("persistent_notification", "create") => {
            let note = core.world.notify(text("notification_id"), text("title"), text("message").unwrap_or_default());
            core.hub.notifications(NoteUpdate::Added, &[note]);
        }
        ("persistent_notification", "dismiss") => {
            // Dismissing an unknown id succeeds and tells nobody (captured from 2024.3.3).
            let removed = text("notification_id").and_then(|id| core.world.dismiss(&id));
            core.hub.notifications(NoteUpdate::Removed, removed.as_slice());
        }
        ("persistent_notification", "dismiss_all") => {
            let removed = core.world.dismiss_all();
            core.hub.notifications(NoteUpdate::Removed, &removed);
        }
        ("script", "<object_id>") => {
            // Like the conformance fixture `script.hapulse_echo` (`stop` with
            // `response_variable` {"echo": value}): every simulated script echoes `value`.
            response = Some(match data.get("value") {
                Some(value) => json!({"echo": value}),
                None => json!({}),
            });
        }
        ("conversation", "process") => {
            response = Some(json!({
                "response": {
                    "speech": {"plain": {"speech": "Sorry, I couldn't understand that", "extra_data": null}},
                    "card": {},
                    "language": data.get("language").and_then(Value::as_str).unwrap_or("en"),
                    "response_type": "error",
                    "data": {"code": "no_intent_match"},
                },
                "conversation_id": null,
            }));
        }
        ("weather", "get_forecasts") => {
            let mut out = Map::new();
            for id in &entity_ids {
                let temp = core.world.get(id.as_str()).and_then(|s| s.attributes.get_as::<f64>("temperature"));
                let forecast = json!([{"condition": "sunny", "temperature": temp.unwrap_or(20.0), "datetime": now}]);
                out.insert(id.as_str().to_owned(), json!({"forecast": forecast}));
            }
            response = Some(Value::Object(out));
        }
        ("input_number", "set_value") => {
            let value = data.get("value").and_then(Value::as_f64).unwrap_or_default();
            for id in &entity_ids {
                let Some(current) = core.world.get(id.as_str()).cloned() else { continue };
                let min = current.attributes.get_as::<f64>("min").unwrap_or(f64::MIN);
                let max = current.attributes.get_as::<f64>("max").unwrap_or(f64::MAX);
                if value < min || value > max {
                    return Err(ServiceError::Invalid(format!(
                        "Invalid value for {id}: {value} (range {min} - {max})"
                    )));
                }
                let text = format!("{value:?}");
                apply(core, id, &text, current.attributes.clone(), &context, &mut changed);
            }
        }
        (_, "turn_on" | "turn_off" | "toggle") => {
            for id in &entity_ids {
                let Some(current) = core.world.get(id.as_str()).cloned() else { continue };
                let on = match spec.service {
                    "turn_on" => true,
                    "turn_off" => false,
                    _ => current.state != "on",
                };
                let attributes = switched_attributes(&current, on, &data);
                apply(core, id, if on { "on" } else { "off" }, attributes, &context, &mut changed);
            }
        }
        _ => {}
    }
    if call.return_response && response.is_none() {
        response = Some(json!({}));
    }
    Ok(Outcome { context, response, changed })
}

fn apply(
    core: &mut Core,
    id: &EntityId,
    state: &str,
    attributes: Attributes,
    context: &Context,
    out: &mut Vec<Arc<State>>,
) {
    if let Some(change) = core.world.set(id, state, attributes, context.clone(), Force::No) {
        core.publish(&change);
        if let Some(new) = &change.new {
            out.push(new.clone());
        }
    }
}

/// The attributes of an entity switched on or off (lights gain or lose brightness).
fn switched_attributes(current: &State, on: bool, data: &Map<String, Value>) -> Attributes {
    let mut attrs = current.attributes.clone();
    if current.entity_id.domain() != "light" {
        return attrs;
    }
    let onoff_only =
        attrs.get_as::<Vec<String>>("supported_color_modes").is_some_and(|m| m.iter().all(|m| m == "onoff"));
    if !on {
        if attrs.get("brightness").is_some() {
            attrs.insert_value("brightness", &Value::Null);
        }
        if attrs.get("color_mode").is_some() {
            attrs.insert_value("color_mode", &Value::Null);
        }
        return attrs;
    }
    if onoff_only {
        attrs.insert_value("color_mode", "onoff");
        return attrs;
    }
    let current_brightness = attrs.get_as::<i64>("brightness").filter(|_| current.state == "on");
    let brightness = if let Some(b) = data.get("brightness").and_then(Value::as_i64) {
        b
    } else if let Some(pct) = data.get("brightness_pct").and_then(Value::as_i64) {
        (pct * 255 + 50) / 100
    } else if let Some(step) = data.get("brightness_step").and_then(Value::as_i64) {
        (current_brightness.unwrap_or(0) + step).clamp(0, 255)
    } else {
        current_brightness.unwrap_or(255)
    };
    attrs.insert_value("brightness", &brightness);
    attrs.insert_value("color_mode", "brightness");
    attrs
}

/// voluptuous' checks: no extra keys, required keys present, values of the right kind.
fn validate(spec: &Spec, data: &Map<String, Value>) -> Result<(), ServiceError> {
    let invalid = |what: &str, key: &str| Err(ServiceError::Invalid(format!("{what} @ data['{key}']")));
    for (key, value) in data {
        if TARGET_KEYS.contains(&key.as_str()) {
            if spec.target.is_empty() {
                return invalid("extra keys not allowed", key);
            }
            continue;
        }
        let Some(field) = spec.fields.iter().find(|f| f.name == key) else {
            return invalid("extra keys not allowed", key);
        };
        let ok = match field.kind {
            Kind::Int { min, max } => match value.as_f64() {
                Some(v) if v < min as f64 => {
                    return invalid(&format!("value must be at least {min} for dictionary value"), key);
                }
                Some(v) if v > max as f64 => {
                    return invalid(&format!("value must be at most {max} for dictionary value"), key);
                }
                Some(_) => true,
                None => false,
            },
            Kind::Float => value.is_number() || value.as_str().is_some_and(|s| s.parse::<f64>().is_ok()),
            Kind::Text => value.is_string() || value.is_number(),
            Kind::List => value.is_array(),
            Kind::OneOf(options) => value.as_str().is_some_and(|v| options.contains(&v)),
        };
        if !ok {
            let what = match field.kind {
                Kind::Int { .. } => "expected int for dictionary value",
                Kind::Float => "expected float for dictionary value",
                Kind::Text => "expected str for dictionary value",
                Kind::List => "expected list for dictionary value",
                Kind::OneOf(_) => "value must be one of the allowed options for dictionary value",
            };
            return invalid(what, key);
        }
    }
    if let Some(missing) = spec.fields.iter().find(|f| f.required && !data.contains_key(f.name)) {
        return invalid("required key not provided", missing.name);
    }
    Ok(())
}

/// The entities a call acts on: `entity_id` (one, many, or `all`), limited to the
/// service's domains; ids that do not exist are skipped as Home Assistant does.
fn resolve_targets(core: &Core, spec: &Spec, data: &Map<String, Value>) -> Result<Vec<EntityId>, ServiceError> {
    if spec.target.is_empty() {
        return Ok(Vec::new());
    }
    let listed: Vec<String> = match data.get("entity_id") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => s.split(',').map(|p| p.trim().to_owned()).filter(|p| !p.is_empty()).collect(),
        Some(Value::Array(items)) => items.iter().map(|v| v.as_str().unwrap_or_default().to_owned()).collect(),
        Some(_) => {
            return Err(ServiceError::Invalid("expected a list for dictionary value @ data['entity_id']".to_owned()));
        }
    };
    let wanted = |id: &EntityId| spec.target == ["*"] || spec.target.contains(&id.domain());
    if listed.iter().any(|s| s == "all") {
        return Ok(core.world.states().iter().map(|s| s.entity_id.clone()).filter(wanted).collect());
    }
    let mut ids = Vec::new();
    for text in listed {
        let id = EntityId::new(&text.to_lowercase()).map_err(|_| {
            ServiceError::Invalid(format!(
                "Entity {text} is neither a valid entity ID nor a valid UUID for dictionary value @ data['entity_id']"
            ))
        })?;
        if wanted(&id) && core.world.get(id.as_str()).is_some() {
            ids.push(id);
        }
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_mark_response_services() {
        let all: Value = serde_json::from_str(descriptions_json()).unwrap();

        assert_eq!(all["weather"]["get_forecasts"]["response"]["optional"], json!(false));
        assert_eq!(all["conversation"]["process"]["response"]["optional"], json!(true));
        assert!(all["light"]["turn_on"].get("response").is_none());
    }

    #[test]
    fn validation_rejects_extra_keys_like_voluptuous() {
        let spec = spec("switch", "turn_on").unwrap();
        let data = json!({"colour": 1}).as_object().unwrap().clone();

        let err = validate(spec, &data).unwrap_err();

        assert_eq!(err, ServiceError::Invalid("extra keys not allowed @ data['colour']".to_owned()));
    }

    #[test]
    fn validation_checks_int_ranges() {
        let spec = spec("light", "turn_on").unwrap();
        let data = json!({"brightness": 300}).as_object().unwrap().clone();

        let err = validate(spec, &data).unwrap_err();

        assert_eq!(
            err,
            ServiceError::Invalid("value must be at most 255 for dictionary value @ data['brightness']".to_owned())
        );
    }
}
