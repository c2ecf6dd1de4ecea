//! `subscribe_trigger` for the `state` platform: parsing the trigger config and deciding
//! whether a state change fires it (Home Assistant's `homeassistant/triggers/state.py` rules
//! without `for`, `attribute` or templates).

use std::collections::HashSet;

use ha_proto::{EntityId, State};
use serde_json::{Value, json};

/// A parsed state trigger.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StateTrigger {
    entity_ids: HashSet<EntityId>,
    /// Accepted old states (`None` = any).
    from: Option<Vec<String>>,
    /// Accepted new states (`None` = any).
    to: Option<Vec<String>>,
    /// Whether `from` or `to` was given at all (`to: null` counts): then attribute-only
    /// changes do not fire.
    state_only: bool,
}

/// Why a trigger config was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TriggerError {
    /// Not a valid state trigger (`invalid_format`).
    Invalid(String),
    /// A platform the simulator does not implement (`not_supported`).
    Unsupported(String),
}

fn states(value: Option<&Value>, key: &str) -> Result<Option<Vec<String>>, TriggerError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(vec![s.clone()])),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .map(Some)
            .ok_or_else(|| TriggerError::Invalid(format!("expected str for dictionary value @ data['{key}']"))),
        Some(_) => Err(TriggerError::Invalid(format!("expected str for dictionary value @ data['{key}']"))),
    }
}

impl StateTrigger {
    /// Parses `trigger` (one config or a list of exactly one).
    pub(crate) fn parse(trigger: &Value) -> Result<StateTrigger, TriggerError> {
        let config = match trigger {
            Value::Array(items) if items.len() == 1 => &items[0],
            Value::Array(_) => return Err(TriggerError::Unsupported("only one trigger per subscription".to_owned())),
            other => other,
        };
        let Value::Object(map) = config else {
            return Err(TriggerError::Invalid("expected a dictionary".to_owned()));
        };
        let platform = map.get("platform").or_else(|| map.get("trigger")).and_then(Value::as_str).unwrap_or_default();
        if platform != "state" {
            return Err(TriggerError::Unsupported(format!("trigger platform {platform:?}")));
        }
        let ids: Vec<String> = match map.get("entity_id") {
            Some(Value::String(s)) => s.split(',').map(|p| p.trim().to_owned()).collect(),
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
            _ => return Err(TriggerError::Invalid("required key not provided @ data['entity_id']".to_owned())),
        };
        let entity_ids = ids
            .iter()
            .map(|id| {
                EntityId::new(id).map_err(|_| {
                    TriggerError::Invalid(format!("Entity {id} is neither a valid entity ID nor a valid UUID"))
                })
            })
            .collect::<Result<HashSet<_>, _>>()?;
        Ok(StateTrigger {
            entity_ids,
            from: states(map.get("from"), "from")?,
            to: states(map.get("to"), "to")?,
            state_only: map.contains_key("from") || map.contains_key("to"),
        })
    }

    /// Whether `old` → `new` fires the trigger.
    pub(crate) fn fires(&self, old: Option<&State>, new: Option<&State>) -> bool {
        let (Some(old), Some(new)) = (old, new) else { return false };
        if !self.entity_ids.contains(&new.entity_id) {
            return false;
        }
        if self.state_only && old.state == new.state {
            return false;
        }
        let accepts =
            |allowed: &Option<Vec<String>>, state: &str| allowed.as_ref().is_none_or(|a| a.iter().any(|s| s == state));
        accepts(&self.from, &old.state) && accepts(&self.to, &new.state)
    }

    /// The event body Home Assistant sends when the trigger fires.
    pub(crate) fn event(old: &State, new: &State) -> Value {
        json!({
            "variables": {
                "trigger": {
                    "id": "0",
                    "idx": "0",
                    "alias": null,
                    "platform": "state",
                    "entity_id": new.entity_id,
                    "from_state": old,
                    "to_state": new,
                    "for": null,
                    "attribute": null,
                    "description": format!("state of {}", new.entity_id),
                }
            },
            "context": new.context,
        })
    }
}

#[cfg(test)]
mod tests {
    use ha_proto::{Attributes, Context, Timestamp};

    use super::*;

    fn st(id: &str, state: &str, attr: i64) -> State {
        let mut attributes = Attributes::new();
        attributes.insert_value("n", &attr);
        State {
            entity_id: EntityId::new(id).unwrap(),
            state: state.to_owned(),
            attributes,
            last_changed: Timestamp::from_micros(0),
            last_reported: None,
            last_updated: Timestamp::from_micros(0),
            context: Context::from_id("c"),
        }
    }

    #[test]
    fn to_matches_only_the_new_state() {
        let trigger =
            StateTrigger::parse(&json!({"platform": "state", "entity_id": "binary_sensor.door", "to": "on"})).unwrap();

        let opened = trigger.fires(Some(&st("binary_sensor.door", "off", 0)), Some(&st("binary_sensor.door", "on", 0)));
        let closed = trigger.fires(Some(&st("binary_sensor.door", "on", 0)), Some(&st("binary_sensor.door", "off", 0)));

        assert!(opened);
        assert!(!closed);
    }

    #[test]
    fn without_from_or_to_attribute_changes_fire() {
        let trigger = StateTrigger::parse(&json!({"platform": "state", "entity_id": ["sensor.a"]})).unwrap();

        let fired = trigger.fires(Some(&st("sensor.a", "1", 0)), Some(&st("sensor.a", "1", 1)));

        assert!(fired);
    }

    #[test]
    fn to_null_ignores_attribute_changes() {
        let trigger = StateTrigger::parse(&json!({"platform": "state", "entity_id": "sensor.a", "to": null})).unwrap();

        let fired = trigger.fires(Some(&st("sensor.a", "1", 0)), Some(&st("sensor.a", "1", 1)));

        assert!(!fired);
    }

    #[test]
    fn other_entities_and_platforms_are_not_matched() {
        let trigger = StateTrigger::parse(&json!({"platform": "state", "entity_id": "sensor.a"})).unwrap();
        let time = StateTrigger::parse(&json!({"platform": "time", "at": "10:00"}));

        let fired = trigger.fires(Some(&st("sensor.b", "1", 0)), Some(&st("sensor.b", "2", 0)));

        assert!(!fired);
        assert!(matches!(time, Err(TriggerError::Unsupported(_))));
    }
}
