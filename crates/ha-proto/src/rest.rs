//! REST bodies (`/api/...`) and the command results that have a fixed shape
//! (`get_config`, `get_services`, `call_service`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::state::{Attributes, Context, State};
use crate::timestamp::Timestamp;

/// `{"message": "..."}`: `GET /api/`, `POST /api/events/<type>`, and REST errors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiMessage {
    /// The message.
    pub message: String,
}

/// Body of `POST /api/states/<entity_id>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetStateRequest {
    /// The new state.
    pub state: String,
    /// The new attributes (replacing all existing ones).
    #[serde(default)]
    pub attributes: Attributes,
    /// Write even when nothing changed (updates `last_updated`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force_update: bool,
}

/// Result of `call_service` over the WebSocket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallServiceResult {
    /// The context of the call.
    pub context: Context,
    /// The service response, only when `return_response` was true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Value>,
}

/// Body of `POST /api/services/<domain>/<service>?return_response`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceResponseBody {
    /// States the call changed.
    pub changed_states: Vec<State>,
    /// The service's response.
    pub service_response: Value,
}

/// Result of `fire_event`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FireEventResult {
    /// The context of the fired event.
    pub context: Context,
}

/// One row of `GET /api/events`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventListenerCount {
    /// Event type.
    pub event: String,
    /// How many listeners it has.
    pub listener_count: u64,
}

/// One entry of `GET /api/history/period` (with `minimal_response`, entries after the first
/// carry only `state` and `last_changed`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// Which entity (absent in minimal entries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_id: Option<String>,
    /// The state.
    pub state: String,
    /// Attributes (absent with `no_attributes` or in minimal entries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Attributes>,
    /// When it changed.
    pub last_changed: Timestamp,
    /// When it was updated (absent in minimal entries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<Timestamp>,
}

/// `unit_system` of `get_config`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct UnitSystem {
    /// e.g. `km`.
    #[serde(default)]
    pub length: String,
    /// e.g. `g`.
    #[serde(default)]
    pub mass: String,
    /// e.g. `°C`.
    #[serde(default)]
    pub temperature: String,
    /// e.g. `L`.
    #[serde(default)]
    pub volume: String,
    /// Keys added by later releases (accumulated_precipitation, pressure, wind_speed, ...).
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

/// Result of `get_config` (core configuration). Unknown keys are kept in `other`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct HaConfig {
    /// Loaded integrations.
    #[serde(default)]
    pub components: Vec<String>,
    /// Configuration folder.
    #[serde(default)]
    pub config_dir: String,
    /// Home latitude.
    #[serde(default)]
    pub latitude: f64,
    /// Home longitude.
    #[serde(default)]
    pub longitude: f64,
    /// Home elevation in metres.
    #[serde(default)]
    pub elevation: i64,
    /// Name of the home.
    #[serde(default)]
    pub location_name: String,
    /// IANA time zone.
    #[serde(default)]
    pub time_zone: String,
    /// Units.
    #[serde(default)]
    pub unit_system: UnitSystem,
    /// Home Assistant's version.
    #[serde(default)]
    pub version: String,
    /// `RUNNING` once started.
    #[serde(default)]
    pub state: String,
    /// Started in safe mode.
    #[serde(default)]
    pub safe_mode: bool,
    /// Started in recovery mode.
    #[serde(default)]
    pub recovery_mode: bool,
    /// Every other key (currency, country, language, urls, radius, ...).
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

/// One service of `get_services`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ServiceDescription {
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Fields by name.
    #[serde(default)]
    pub fields: BTreeMap<String, Value>,
    /// Target selector, when the service takes a target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Value>,
    /// Response description, when the service can respond.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Value>,
}

/// Result of `get_services`: domain → service → description.
pub type Services = BTreeMap<String, BTreeMap<String, ServiceDescription>>;
