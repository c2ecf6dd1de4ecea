//! REST (`/api/...`): one pooled keep-alive HTTP client shared by every call, gzip, the
//! Bearer token as a sensitive default header, timeouts, and one retry of idempotent GETs
//! after a connection error.

use std::fmt;

use ha_proto::rest::{ApiMessage, HistoryEntry, ServiceResponseBody, SetStateRequest};
use ha_proto::{State, Timestamp};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::client::ServiceCall;
use crate::config::ClientConfig;
use crate::error::ClientError;

/// What `POST /api/states/<entity_id>` did.
#[derive(Debug, Clone, PartialEq)]
pub struct SetStateOutcome {
    /// The state as stored.
    pub state: State,
    /// Whether the entity was new (201) rather than updated (200).
    pub created: bool,
}

/// What `POST /api/services/<domain>/<service>` returned.
#[derive(Debug, Clone, PartialEq)]
pub struct RestServiceResult {
    /// States the call changed.
    pub changed_states: Vec<State>,
    /// The service's response (only when asked for with `return_response`).
    pub service_response: Option<Value>,
}

/// Which history `GET /api/history/period/<start>` returns.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HistoryQuery {
    /// Start of the period.
    pub start: Timestamp,
    /// End of the period (default: one day after `start`, Home Assistant's choice).
    pub end: Option<Timestamp>,
    /// Only these entities (Home Assistant requires at least one in recent releases).
    pub entity_ids: Vec<String>,
    /// Entries after the first carry only `state` and `last_changed`.
    pub minimal_response: bool,
    /// Leave attributes out.
    pub no_attributes: bool,
}

/// The REST client. Cheap to clone (clones share the connection pool).
#[derive(Clone)]
pub struct RestClient {
    http: reqwest::Client,
    base: String,
}

impl fmt::Debug for RestClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RestClient").field("base", &self.base).finish_non_exhaustive()
    }
}

impl RestClient {
    /// A client for `cfg.endpoints.rest` with `cfg.token`; requests time out after
    /// `cfg.command_timeout`.
    pub fn new(cfg: &ClientConfig) -> Result<Self, ClientError> {
        let mut auth =
            HeaderValue::from_str(&format!("Bearer {}", cfg.token.expose())).map_err(|_| ClientError::Request {
                path: String::new(),
                message: "token holds characters not allowed in a header".into(),
            })?;
        auth.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, auth);
        let tls = cfg.tls.clone().unwrap_or_else(crate::tls::default_config);
        let http = reqwest::Client::builder()
            .use_preconfigured_tls((*tls).clone())
            .default_headers(headers)
            .gzip(true)
            .timeout(cfg.command_timeout)
            .connect_timeout(cfg.command_timeout)
            .pool_idle_timeout(std::time::Duration::from_secs(90))
            .tcp_nodelay(true)
            .build()
            .map_err(|e| ClientError::Request { path: String::new(), message: e.to_string() })?;
        Ok(RestClient { http, base: cfg.endpoints.rest.clone() })
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, format!("{}{path}", self.base))
    }

    async fn send(
        &self,
        path: &str,
        build: impl Fn() -> RequestBuilder,
        idempotent: bool,
    ) -> Result<Response, ClientError> {
        let mut retried = false;
        loop {
            match build().send().await {
                Ok(resp) => return Ok(resp),
                // A pooled connection the server closed meanwhile: worth one more try.
                Err(e) if idempotent && !retried && (e.is_connect() || e.is_request()) && !e.is_timeout() => {
                    retried = true;
                }
                Err(e) => return Err(request_error(path, &e)),
            }
        }
    }

    async fn check(path: &str, resp: Response) -> Result<Response, ClientError> {
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        if status == StatusCode::UNAUTHORIZED {
            return Err(ClientError::Unauthorized { path: path.to_owned() });
        }
        let body = resp.text().await.unwrap_or_default();
        let message = serde_json::from_str::<ApiMessage>(&body).map(|m| m.message).unwrap_or(body);
        Err(ClientError::Http { status: status.as_u16(), path: path.to_owned(), message })
    }

    async fn json<T: DeserializeOwned>(path: &str, what: &'static str, resp: Response) -> Result<T, ClientError> {
        let bytes = resp.bytes().await.map_err(|e| request_error(path, &e))?;
        serde_json::from_slice(&bytes).map_err(|e| ClientError::decode(what, e))
    }

    async fn get<T: DeserializeOwned>(&self, path: &str, what: &'static str) -> Result<T, ClientError> {
        let resp = self.send(path, || self.request(Method::GET, path), true).await?;
        Self::json(path, what, Self::check(path, resp).await?).await
    }

    /// `GET /api/`: checks that the API answers and the token is accepted.
    pub async fn check_api(&self) -> Result<String, ClientError> {
        self.get::<ApiMessage>("", "api message").await.map(|m| m.message)
    }

    /// `GET /api/states`.
    pub async fn get_states(&self) -> Result<Vec<State>, ClientError> {
        self.get("states", "state list").await
    }

    /// `GET /api/states/<entity_id>`; `None` when the entity does not exist.
    pub async fn get_state(&self, entity_id: &str) -> Result<Option<State>, ClientError> {
        let path = format!("states/{entity_id}");
        let resp = self.send(&path, || self.request(Method::GET, &path), true).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        Self::json(&path, "state", Self::check(&path, resp).await?).await.map(Some)
    }

    /// `POST /api/states/<entity_id>` (admin): writes the state machine only.
    pub async fn set_state(&self, entity_id: &str, body: &SetStateRequest) -> Result<SetStateOutcome, ClientError> {
        let path = format!("states/{entity_id}");
        let resp = self.send(&path, || self.request(Method::POST, &path).json(body), false).await?;
        let created = resp.status() == StatusCode::CREATED;
        let state = Self::json(&path, "state", Self::check(&path, resp).await?).await?;
        Ok(SetStateOutcome { state, created })
    }

    /// `DELETE /api/states/<entity_id>`; false when it did not exist.
    pub async fn delete_state(&self, entity_id: &str) -> Result<bool, ClientError> {
        let path = format!("states/{entity_id}");
        let resp = self.send(&path, || self.request(Method::DELETE, &path), false).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(false);
        }
        Self::check(&path, resp).await.map(|_| true)
    }

    /// `POST /api/services/<domain>/<service>[?return_response]`. REST has no `target`: its
    /// ids are merged into the service data, as Home Assistant expects.
    pub async fn call_service(&self, call: &ServiceCall) -> Result<RestServiceResult, ClientError> {
        let path = format!("services/{}/{}", call.domain, call.service);
        let mut data = match &call.data {
            Some(Value::Object(map)) => map.clone(),
            Some(other) => {
                return Err(ClientError::Request {
                    path,
                    message: format!("service data must be an object, got {other}"),
                });
            }
            None => serde_json::Map::new(),
        };
        if let Some(Value::Object(target)) = call.target.as_ref().map(serde_json::to_value).transpose().ok().flatten() {
            data.extend(target);
        }
        let body = Value::Object(data);
        let build = || {
            let req = self.request(Method::POST, &path).json(&body);
            if call.return_response { req.query(&[("return_response", "")]) } else { req }
        };
        let resp = Self::check(&path, self.send(&path, build, false).await?).await?;
        // Home Assistant 2024.3.3 ignores `?return_response` and always answers the plain array of
        // changed states (measured by the real-server suite, 2026-11); later releases wrap it as
        // `{changed_states, service_response}`. Accept both, so a response is never misread as an error.
        // (Decided by the first byte: serde's untagged enums buffer values, which raw attributes cannot use.)
        let bytes = resp.bytes().await.map_err(|e| request_error(&path, &e))?;
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
            let body: ServiceResponseBody =
                serde_json::from_slice(&bytes).map_err(|e| ClientError::decode("service response", e))?;
            Ok(RestServiceResult { changed_states: body.changed_states, service_response: Some(body.service_response) })
        } else {
            let changed_states =
                serde_json::from_slice(&bytes).map_err(|e| ClientError::decode("changed states", e))?;
            Ok(RestServiceResult { changed_states, service_response: None })
        }
    }

    /// `POST /api/events/<event_type>` (admin); returns Home Assistant's message.
    pub async fn fire_event(&self, event_type: &str, data: Option<&Value>) -> Result<String, ClientError> {
        let path = format!("events/{event_type}");
        let build = || {
            let req = self.request(Method::POST, &path);
            match data {
                Some(d) => req.json(d),
                None => req,
            }
        };
        let resp = Self::check(&path, self.send(&path, build, false).await?).await?;
        Self::json::<ApiMessage>(&path, "api message", resp).await.map(|m| m.message)
    }

    /// `GET /api/history/period/<start>`: one list of entries per entity.
    pub async fn history_period(&self, query: &HistoryQuery) -> Result<Vec<Vec<HistoryEntry>>, ClientError> {
        // `+` of the offset would read as a space in some decoders: escape it.
        let path = format!("history/period/{}", query.start.to_string().replace('+', "%2B"));
        let mut params: Vec<(&str, String)> = Vec::new();
        if !query.entity_ids.is_empty() {
            params.push(("filter_entity_id", query.entity_ids.join(",")));
        }
        if let Some(end) = query.end {
            params.push(("end_time", end.to_string()));
        }
        if query.minimal_response {
            params.push(("minimal_response", String::new()));
        }
        if query.no_attributes {
            params.push(("no_attributes", String::new()));
        }
        let resp = self.send(&path, || self.request(Method::GET, &path).query(&params), true).await?;
        Self::json(&path, "history", Self::check(&path, resp).await?).await
    }
}

fn request_error(path: &str, err: &reqwest::Error) -> ClientError {
    // reqwest's messages name the URL (no token: it travels only in a sensitive header).
    let message = if err.is_timeout() { "timed out".to_owned() } else { err.to_string() };
    ClientError::Request { path: path.to_owned(), message }
}
