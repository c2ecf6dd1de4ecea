//! Client settings: where Home Assistant is, the token, timeouts, limits, reconnect and
//! heartbeat policies, and the URL normalisation that turns any base URL into the
//! WebSocket and REST endpoints.

use std::fmt;
use std::time::Duration;

use ha_proto::Secret;

use crate::backoff::BackoffPolicy;
use crate::credentials::resolve_credentials;
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

/// Reads held back so that one wake-up reads what a whole window brought
/// ([`ClientConfig::read_batching`]).
///
/// A client woken for every frame pays the machine's cost of a wake-up (a context switch and
/// two system calls; 15-30 µs of CPU on the project's 2-core VM) per frame, and Home Assistant
/// sends a frame every few changes. With a window, once the last four frames came within one
/// window, the connection asks the kernel not to wake it until `min_bytes` have arrived
/// (`SO_RCVLOWAT`) or the window has passed, whichever comes first, and then reads everything
/// that is there at once. An event then reaches a mirror or a stream up to `window` later than it
/// would have; a quieter stream is read as it arrives. Replies are never held back: while a
/// command (a call, a subscription, the heartbeat's ping) waits for its answer, every frame is
/// read as it arrives. [`ClientStats::read_windows`](crate::ClientStats::read_windows) counts the
/// holds.
///
/// Linux only (`SO_RCVLOWAT` and a timerfd on the runtime's epoll). Elsewhere, or where the socket
/// refuses the option, the connection reads as if no window were set and logs why.
///
/// **On by default** on Linux, with a window of [`DEFAULT_WINDOW`](Self::DEFAULT_WINDOW) (10 ms;
/// [`platform_default`](Self::platform_default)): a stream is held only while four frames come
/// within 10 ms (over 300 frames a second, a very busy installation), an event then waits at
/// most 10 ms more (less than one frame of a 60 Hz screen), and the client pays a third to a half
/// of the CPU per change.
/// Set [`ClientConfig::read_batching`] to `None` to read every frame as it arrives, or to a longer
/// window to pay less still.
///
/// Measured (docs/performance.md, "Read batching" and the fourteenth round), CPU per change of the
/// `mirror` example against Home Assistant under REST churn, alternating: on an AMD EPYC VM
/// (2 cores) 15.9-17.8 µs without a window, 7.4-7.9 µs with 5 ms, 4.6-4.8 µs with 10 ms,
/// 2.8-3.6 µs with 20 ms, 2.0-2.6 µs with 50 ms; on an Intel Xeon VM (2 cores, with the
/// hypervisor's steal reported) 28.0-39.4 µs without against 7.0-21.0 µs with 10 ms, cheaper in
/// each of four pairs, also at like steal. Against ha-sim at 10,000 changes/s 2.3-2.8 µs without,
/// 1.1 µs with 50 ms; at 1,000/s 13-21 µs without, 5.0-5.5 µs with 50 ms. A window shorter than
/// four times the server's interval between frames is never used (too little to gather): ha-sim
/// sends a frame every 5 ms, so the default window holds its streams only when frames come early.
///
/// The default was withdrawn once, when the load test's overloaded hold failed with it; that
/// hold turned out to fail with and without a window alike (ha-sim's oversized batches and a ramp
/// that overrated the machine, both since fixed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadBatching {
    window: Duration,
    min_bytes: u32,
}

impl ReadBatching {
    /// The longest window accepted: events later than this would be stale for any consumer.
    pub const MAX_WINDOW: Duration = Duration::from_secs(1);
    /// The window of [`platform_default`](Self::platform_default): 10 ms.
    pub const DEFAULT_WINDOW: Duration = Duration::from_millis(10);
    /// The burst that ends a window early unless [`with_min_bytes`](Self::with_min_bytes) says
    /// otherwise: 64 KiB, about 800 compressed changes.
    pub const DEFAULT_MIN_BYTES: u32 = 64 * 1024;

    /// Holds reads back for at most `window` (1 ms to [`MAX_WINDOW`](Self::MAX_WINDOW)).
    pub fn new(window: Duration) -> Result<Self, ClientError> {
        if window < Duration::from_millis(1) || window > Self::MAX_WINDOW {
            return Err(ClientError::InvalidConfig {
                setting: "read_batching.window",
                reason: format!("{window:?} is not between 1 ms and {:?}", Self::MAX_WINDOW),
            });
        }
        Ok(ReadBatching { window, min_bytes: Self::DEFAULT_MIN_BYTES })
    }

    /// Ends a window early once `bytes` have arrived (at least 2: 1 would wake for every frame,
    /// as with no window at all).
    pub fn with_min_bytes(self, bytes: u32) -> Result<Self, ClientError> {
        if bytes < 2 || bytes > i32::MAX as u32 {
            return Err(ClientError::InvalidConfig {
                setting: "read_batching.min_bytes",
                reason: format!("{bytes} is not between 2 and {}", i32::MAX),
            });
        }
        Ok(ReadBatching { min_bytes: bytes, ..self })
    }

    /// What [`ClientConfig::new`] sets: a window of [`DEFAULT_WINDOW`](Self::DEFAULT_WINDOW) where
    /// read batching is implemented (Linux), `None` elsewhere (where a window could only be
    /// refused, with a warning on every connect).
    pub fn platform_default() -> Option<Self> {
        cfg!(target_os = "linux")
            .then_some(ReadBatching { window: Self::DEFAULT_WINDOW, min_bytes: Self::DEFAULT_MIN_BYTES })
    }

    /// The longest an event waits before it is read.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// The bytes that end a window early.
    pub fn min_bytes(&self) -> u32 {
        self.min_bytes
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
    /// Reads held back to wake less often while the stream is busy, at the price of events
    /// arriving up to a window later ([`ReadBatching`]). The default is
    /// [`ReadBatching::platform_default`]: a 10 ms window on Linux, none elsewhere. `None` reads
    /// every frame as it arrives.
    pub read_batching: Option<ReadBatching>,
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
            .field("read_batching", &self.read_batching)
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
            read_batching: ReadBatching::platform_default(),
        })
    }

    /// Reads the URL and token from the environment by the one precedence rule of
    /// [`crate::resolve_credentials`]: `HASS_URL` and `HASS_TOKEN`, or add-on mode
    /// (`SUPERVISOR_TOKEN` with [`SUPERVISOR_URL`] unless `HASS_URL` is set).
    pub fn from_env() -> Result<Self, ClientError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// [`ClientConfig::from_env`] over any variable source (testable without touching the
    /// process environment).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ClientError> {
        let creds = resolve_credentials(None, None, var)?;
        Self::new(&creds.url, creds.token)
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
    fn a_read_batching_window_outside_1_ms_to_1_s_is_rejected() {
        let too_short = ReadBatching::new(Duration::ZERO).unwrap_err();
        let too_long = ReadBatching::new(Duration::from_millis(1001)).unwrap_err();

        assert!(matches!(too_short, ClientError::InvalidConfig { setting: "read_batching.window", .. }));
        assert!(matches!(too_long, ClientError::InvalidConfig { setting: "read_batching.window", .. }));
    }

    #[test]
    fn a_read_batching_window_keeps_its_length_and_the_default_batch_size() {
        let batching = ReadBatching::new(Duration::from_millis(20)).unwrap();

        assert_eq!(
            (batching.window(), batching.min_bytes()),
            (Duration::from_millis(20), ReadBatching::DEFAULT_MIN_BYTES)
        );
    }

    #[test]
    fn a_batch_size_of_one_byte_is_rejected() {
        let batching = ReadBatching::new(Duration::from_millis(20)).unwrap();

        let err = batching.with_min_bytes(1).unwrap_err();

        assert!(matches!(err, ClientError::InvalidConfig { setting: "read_batching.min_bytes", .. }), "{err:?}");
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn read_batching_holds_a_busy_stream_for_10_ms_by_default_on_linux() {
        let config = ClientConfig::new("http://127.0.0.1:8123", Secret::new("t".to_owned())).unwrap();

        assert_eq!(
            config.read_batching.map(|b| (b.window(), b.min_bytes())),
            Some((Duration::from_millis(10), ReadBatching::DEFAULT_MIN_BYTES))
        );
    }

    #[test]
    #[cfg(not(target_os = "linux"))]
    fn read_batching_is_off_by_default_where_it_is_not_implemented() {
        let config = ClientConfig::new("http://127.0.0.1:8123", Secret::new("t".to_owned())).unwrap();

        assert_eq!(config.read_batching, None);
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
    fn from_vars_follows_the_one_credentials_rule_for_every_combination() {
        let vars = |url: bool, hass: bool, sup: bool| {
            move |n: &str| match n {
                "HASS_URL" if url => Some("http://h:1".to_owned()),
                "HASS_TOKEN" if hass => Some("t-hass".to_owned()),
                "SUPERVISOR_TOKEN" if sup => Some("t-sup".to_owned()),
                _ => None,
            }
        };
        let outcome = |r: Result<ClientConfig, ClientError>| match r {
            Ok(cfg) => Ok((cfg.endpoints.rest, cfg.token.expose().to_owned())),
            Err(ClientError::MissingEnv { name }) => Err(name),
            Err(other) => panic!("unexpected error {other}"),
        };
        let ok = |rest: &str, token: &str| Ok((rest.to_owned(), token.to_owned()));
        let supervisor_rest = "http://supervisor/core/api/";
        let want = [
            ((false, false, false), Err("HASS_TOKEN")),
            ((false, false, true), ok(supervisor_rest, "t-sup")),
            ((false, true, false), Err("HASS_URL")),
            ((false, true, true), Err("HASS_URL")),
            ((true, false, false), Err("HASS_TOKEN")),
            ((true, false, true), ok("http://h:1/api/", "t-sup")),
            ((true, true, false), ok("http://h:1/api/", "t-hass")),
            ((true, true, true), ok("http://h:1/api/", "t-hass")),
        ];

        let got: Vec<_> =
            want.iter().map(|&((u, h, s), _)| ((u, h, s), outcome(ClientConfig::from_vars(vars(u, h, s))))).collect();

        assert_eq!(got, want);
    }

    #[test]
    fn debug_output_hides_the_token() {
        let cfg = ClientConfig::new("http://h", Secret::new("very-secret-token")).unwrap();

        let text = format!("{cfg:?}");

        assert!(!text.contains("very-secret-token"), "{text}");
    }
}
