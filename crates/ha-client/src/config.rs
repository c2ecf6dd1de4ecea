//! Client settings: where Home Assistant is, the token, timeouts, limits, reconnect and
//! heartbeat policies, and the URL normalisation that turns any base URL into the
//! WebSocket and REST endpoints.

use std::fmt;
use std::time::Duration;

use ha_proto::Secret;

use crate::backoff::BackoffPolicy;
use crate::error::ClientError;

/// The URL of Home Assistant's API as seen from an add-on (with `SUPERVISOR_TOKEN`).
pub const SUPERVISOR_URL: &str = "http://supervisor/core";

/// Application-level heartbeat: a `ping` command every `interval`; no `pong` within
/// `timeout` means the connection is dead and is replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heartbeat {
    /// Time between pings (default 30 s).
    pub interval: Duration,
    /// How long to wait for the pong (default 10 s).
    pub timeout: Duration,
}

impl Default for Heartbeat {
    fn default() -> Self {
        Heartbeat { interval: Duration::from_secs(30), timeout: Duration::from_secs(10) }
    }
}

/// The two endpoints derived from a base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// `ws(s)://host[:port][/prefix]/api/websocket`.
    pub websocket: String,
    /// `http(s)://host[:port][/prefix]/api/` (always ends with `/`).
    pub rest: String,
}

impl Endpoints {
    /// Normalises a base URL given as `http`, `https`, `ws` or `wss`, with or without a
    /// trailing `/`, `/api` or `/api/websocket`.
    pub fn from_url(url: &str) -> Result<Self, ClientError> {
        let invalid = |why: &str| ClientError::InvalidUrl { url: url.to_owned(), reason: why.to_owned() };
        let trimmed = url.trim();
        let (scheme, rest) = trimmed.split_once("://").ok_or_else(|| invalid("missing scheme"))?;
        let secure = match scheme.to_ascii_lowercase().as_str() {
            "http" | "ws" => false,
            "https" | "wss" => true,
            _ => return Err(invalid("scheme must be http, https, ws or wss")),
        };
        if rest.contains(['?', '#']) {
            return Err(invalid("query and fragment are not allowed"));
        }
        let (host, path) = match rest.find('/') {
            Some(at) => rest.split_at(at),
            None => (rest, ""),
        };
        if host.is_empty() || host.contains(char::is_whitespace) {
            return Err(invalid("missing host"));
        }
        let mut prefix = path.trim_end_matches('/');
        for suffix in ["/api/websocket", "/api"] {
            if let Some(p) = prefix.strip_suffix(suffix) {
                prefix = p;
                break;
            }
        }
        let (ws, http) = if secure { ("wss", "https") } else { ("ws", "http") };
        Ok(Endpoints {
            websocket: format!("{ws}://{host}{prefix}/api/websocket"),
            rest: format!("{http}://{host}{prefix}/api/"),
        })
    }
}

/// Everything [`crate::Client::connect`] needs.
#[derive(Clone)]
pub struct ClientConfig {
    /// Where Home Assistant is (normalised).
    pub endpoints: Endpoints,
    /// The access token.
    pub token: Secret,
    /// How long a command (and connecting) may take (default 10 s).
    pub command_timeout: Duration,
    /// Largest message accepted from the server (default 64 MiB, what the supervisor proxy allows).
    pub max_message_size: usize,
    /// Reconnect delays.
    pub backoff: BackoffPolicy,
    /// Application pings; `None` switches them off (protocol pings are always answered).
    pub heartbeat: Option<Heartbeat>,
    /// Items buffered per subscription stream before the oldest are dropped and reported as
    /// `Lagged` (default 4096).
    pub stream_capacity: usize,
    /// TLS settings for `wss://` and `https://` (default: rustls with the webpki roots).
    /// Set your own to trust, for example, a self-signed certificate.
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("endpoints", &self.endpoints)
            .field("token", &self.token)
            .field("command_timeout", &self.command_timeout)
            .field("max_message_size", &self.max_message_size)
            .field("backoff", &self.backoff)
            .field("heartbeat", &self.heartbeat)
            .field("stream_capacity", &self.stream_capacity)
            .field("custom_tls", &self.tls.is_some())
            .finish()
    }
}

impl ClientConfig {
    /// Default settings for a base URL and token.
    pub fn new(url: &str, token: Secret) -> Result<Self, ClientError> {
        Ok(ClientConfig {
            endpoints: Endpoints::from_url(url)?,
            token,
            command_timeout: Duration::from_secs(10),
            max_message_size: 64 * 1024 * 1024,
            backoff: BackoffPolicy::default(),
            heartbeat: Some(Heartbeat::default()),
            stream_capacity: 4096,
            tls: None,
        })
    }

    /// Reads `HASS_URL` and `HASS_TOKEN`, or else `SUPERVISOR_TOKEN` (add-on mode, talking to
    /// [`SUPERVISOR_URL`]).
    pub fn from_env() -> Result<Self, ClientError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// [`ClientConfig::from_env`] over any variable source (testable without touching the
    /// process environment).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ClientError> {
        let get = |name| var(name).filter(|v| !v.trim().is_empty());
        match (get("HASS_URL"), get("HASS_TOKEN"), get("SUPERVISOR_TOKEN")) {
            (Some(url), Some(token), _) => Self::new(&url, Secret::new(token)),
            (None, token, Some(supervisor)) => Self::new(SUPERVISOR_URL, Secret::new(token.unwrap_or(supervisor))),
            (Some(_), None, Some(supervisor)) => Self::new(SUPERVISOR_URL, Secret::new(supervisor)),
            (None, _, None) => Err(ClientError::MissingEnv { name: "HASS_URL" }),
            (Some(_), None, None) => Err(ClientError::MissingEnv { name: "HASS_TOKEN" }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoints(url: &str) -> Endpoints {
        Endpoints::from_url(url).expect("valid url")
    }

    #[test]
    fn http_base_becomes_ws_and_rest_endpoints() {
        let e = endpoints("http://127.0.0.1:8123");

        assert_eq!(e.websocket, "ws://127.0.0.1:8123/api/websocket");
        assert_eq!(e.rest, "http://127.0.0.1:8123/api/");
    }

    #[test]
    fn wss_websocket_url_maps_to_https_rest() {
        let e = endpoints("wss://ha.example/api/websocket");

        assert_eq!(e.websocket, "wss://ha.example/api/websocket");
        assert_eq!(e.rest, "https://ha.example/api/");
    }

    #[test]
    fn trailing_slash_and_api_suffix_are_stripped() {
        let a = endpoints("https://ha.example/");
        let b = endpoints("https://ha.example/api/");

        assert_eq!(a, b);
        assert_eq!(a.websocket, "wss://ha.example/api/websocket");
    }

    #[test]
    fn path_prefix_is_kept() {
        let e = endpoints(SUPERVISOR_URL);

        assert_eq!(e.websocket, "ws://supervisor/core/api/websocket");
        assert_eq!(e.rest, "http://supervisor/core/api/");
    }

    #[test]
    fn unknown_scheme_is_rejected() {
        let err = Endpoints::from_url("ftp://host").unwrap_err();

        assert!(matches!(err, ClientError::InvalidUrl { .. }), "{err:?}");
    }

    #[test]
    fn missing_host_is_rejected() {
        let err = Endpoints::from_url("http:///api").unwrap_err();

        assert!(matches!(err, ClientError::InvalidUrl { .. }), "{err:?}");
    }

    #[test]
    fn env_prefers_hass_url_and_token() {
        let vars = |n: &str| match n {
            "HASS_URL" => Some("http://h:1".to_owned()),
            "HASS_TOKEN" => Some("t1".to_owned()),
            "SUPERVISOR_TOKEN" => Some("t2".to_owned()),
            _ => None,
        };

        let cfg = ClientConfig::from_vars(vars).unwrap();

        assert_eq!(cfg.endpoints.rest, "http://h:1/api/");
        assert_eq!(cfg.token.expose(), "t1");
    }

    #[test]
    fn env_supervisor_token_means_addon_mode() {
        let vars = |n: &str| (n == "SUPERVISOR_TOKEN").then(|| "sup".to_owned());

        let cfg = ClientConfig::from_vars(vars).unwrap();

        assert_eq!(cfg.endpoints.websocket, "ws://supervisor/core/api/websocket");
        assert_eq!(cfg.token.expose(), "sup");
    }

    #[test]
    fn env_without_token_names_the_missing_variable() {
        let vars = |n: &str| (n == "HASS_URL").then(|| "http://h".to_owned());

        let err = ClientConfig::from_vars(vars).unwrap_err();

        assert!(matches!(err, ClientError::MissingEnv { name: "HASS_TOKEN" }), "{err:?}");
    }

    #[test]
    fn debug_output_hides_the_token() {
        let cfg = ClientConfig::new("http://h", Secret::new("very-secret-token")).unwrap();

        let text = format!("{cfg:?}");

        assert!(!text.contains("very-secret-token"), "{text}");
    }
}
