//! `/api/history/period` over the world's ring of recent states: a pure function from the
//! recorded states and the query to Home Assistant's list-of-lists answer.

use std::collections::HashMap;
use std::sync::Arc;

use ha_proto::{State, Timestamp};
use serde_json::{Value, json};

/// The parsed query.
#[derive(Debug, Clone)]
pub(crate) struct Query {
    pub(crate) entity_ids: Vec<String>,
    pub(crate) start: Timestamp,
    pub(crate) end: Timestamp,
    pub(crate) minimal_response: bool,
    pub(crate) no_attributes: bool,
    pub(crate) significant_changes_only: bool,
    pub(crate) include_start_time_state: bool,
}

/// Domains whose attribute changes are significant, and which minimal responses keep whole
/// (Home Assistant's `SIGNIFICANT_DOMAINS` / `NEED_ATTRIBUTE_DOMAINS`).
const ATTRIBUTE_DOMAINS: &[&str] =
    &["climate", "device_tracker", "humidifier", "input_datetime", "thermostat", "water_heater"];

/// An entity's state at the start, and its states during the period.
type Recorded<'a> = (Option<&'a Arc<State>>, Vec<&'a Arc<State>>);

/// One list per entity (in the order asked, entities without states left out); each list
/// starts with the state at `start` (stamped `start`), then every recorded change up to `end`.
pub(crate) fn query<'a>(recorded: impl Iterator<Item = &'a Arc<State>>, q: &Query) -> Vec<Vec<Value>> {
    let mut per_entity: HashMap<&str, Recorded<'a>> =
        q.entity_ids.iter().map(|id| (id.as_str(), (None, Vec::new()))).collect();
    for state in recorded {
        let Some((before, during)) = per_entity.get_mut(state.entity_id.as_str()) else { continue };
        if state.last_updated <= q.start {
            *before = Some(state);
        } else if state.last_updated <= q.end {
            during.push(state);
        }
    }
    let mut out = Vec::new();
    for id in &q.entity_ids {
        let Some((before, during)) = per_entity.remove(id.as_str()) else { continue };
        let domain = id.split('.').next().unwrap_or_default();
        let keeps_attributes = ATTRIBUTE_DOMAINS.contains(&domain);
        let mut list: Vec<Value> = Vec::new();
        let mut prev_state: Option<&str> = None;
        if let Some(first) = before.filter(|_| q.include_start_time_state) {
            list.push(full(first, q.no_attributes, Some(q.start)));
            prev_state = Some(&first.state);
        }
        for state in during {
            let significant = state.last_changed == state.last_updated || keeps_attributes;
            if q.significant_changes_only && !significant {
                continue;
            }
            if q.minimal_response && !keeps_attributes && prev_state.is_some() {
                if prev_state != Some(state.state.as_str()) {
                    list.push(json!({"state": state.state, "last_changed": state.last_updated}));
                }
            } else {
                list.push(full(state, q.no_attributes, None));
            }
            prev_state = Some(&state.state);
        }
        if !list.is_empty() {
            out.push(list);
        }
    }
    out
}

fn full(state: &State, no_attributes: bool, stamp: Option<Timestamp>) -> Value {
    let attributes =
        if no_attributes { json!({}) } else { serde_json::to_value(&state.attributes).unwrap_or_default() };
    json!({
        "entity_id": state.entity_id,
        "state": state.state,
        "attributes": attributes,
        "last_changed": stamp.unwrap_or(state.last_changed),
        "last_updated": stamp.unwrap_or(state.last_updated),
    })
}

#[cfg(test)]
mod tests {
    use ha_proto::{Attributes, Context, EntityId};

    use super::*;

    fn st(id: &str, state: &str, changed: i64, updated: i64) -> Arc<State> {
        Arc::new(State {
            entity_id: EntityId::new(id).unwrap(),
            state: state.to_owned(),
            attributes: Attributes::new(),
            last_changed: Timestamp::from_micros(changed),
            last_reported: None,
            last_updated: Timestamp::from_micros(updated),
            context: Context::from_id("c"),
        })
    }

    fn q(ids: &[&str], start: i64, end: i64) -> Query {
        Query {
            entity_ids: ids.iter().map(|s| (*s).to_owned()).collect(),
            start: Timestamp::from_micros(start),
            end: Timestamp::from_micros(end),
            minimal_response: false,
            no_attributes: false,
            significant_changes_only: true,
            include_start_time_state: true,
        }
    }

    #[test]
    fn starts_with_the_state_at_start_then_lists_changes() {
        let ring = [st("light.a", "on", 10, 10), st("light.a", "off", 20, 20), st("light.a", "on", 30, 30)];

        let lists = query(ring.iter(), &q(&["light.a"], 15, 25));

        assert_eq!(lists.len(), 1);
        let states: Vec<&str> = lists[0].iter().map(|e| e["state"].as_str().unwrap()).collect();
        assert_eq!(states, ["on", "off"]);
        assert_eq!(lists[0][0]["last_changed"], json!(Timestamp::from_micros(15)));
    }

    #[test]
    fn significant_only_skips_attribute_updates() {
        let ring = [st("sensor.a", "1", 10, 10), st("sensor.a", "1", 10, 20)];

        let lists = query(ring.iter(), &q(&["sensor.a"], 5, 25));

        assert_eq!(lists[0].len(), 1);
    }

    #[test]
    fn minimal_response_keeps_only_state_and_last_changed_after_the_first() {
        let ring = [st("light.a", "on", 10, 10), st("light.a", "off", 20, 20)];
        let mut query_ = q(&["light.a"], 5, 25);
        query_.minimal_response = true;

        let lists = query(ring.iter(), &query_);

        assert!(lists[0][0].get("entity_id").is_some());
        assert_eq!(lists[0][1], json!({"state": "off", "last_changed": Timestamp::from_micros(20)}));
    }

    #[test]
    fn entities_without_states_are_left_out() {
        let ring = [st("light.a", "on", 10, 10)];

        let lists = query(ring.iter(), &q(&["light.a", "light.b"], 15, 25));

        assert_eq!(lists.len(), 1);
    }
}
