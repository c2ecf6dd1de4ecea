//! `hapulse.toml`, the configuration of `hapulse serve`: where Home Assistant is, the metrics
//! endpoint, publishing, sampling, and alert rules (ha-monitor's `[[rule]]` format, in the same
//! file). Every error names the file, the line and the key.
//!
//! ```toml
//! url = "http://homeassistant.local:8123"
//! token_file = "/run/secrets/hass_token"    # or HASS_TOKEN / SUPERVISOR_TOKEN
//! use_default_rules = true
//!
//! [metrics]
//! listen = "127.0.0.1:9464"                 # Prometheus text at /metrics; enabled = false to switch off
//!
//! [publish]
//! enabled = true                            # sensor.hapulse_* and persistent notifications
//! every = "10s"                             # planning interval
//! min_interval = "30s"                      # at most one post per sensor per this
//! refresh_interval = "10m"                  # re-post unchanged sensors after this
//!
//! [sample]
//! every = "1s"                              # client stats, mirror size, RSS and CPU
//! ping_every = "5s"
//!
//! [client]
//! read_batching = "50ms"                    # ha-client's default when absent (10ms on Linux); "off"
//!
//! [[rule]]
//! name = "slow_services"
//! metric = "hapulse_command_latency_seconds"
//! labels = { command = "call_service" }
//! aggregation = "p99"
//! window = "1m"
//! above = "2s"
//! for = "30s"
//! ```
//!
//! `client.read_batching` lets the connection hold a busy event stream back for up to that long
//! (1ms to 1s) and read it with one wake-up (ha-client's `ReadBatching`): against Home Assistant a
//! 50 ms window cut the client's CPU per change by four fifths or more on the project's test machine,
//! ha-client's default of 10 ms (on Linux, when the file does not set it) by a half to two thirds,
//! and every event (and so every metric and alert) then arrives up to a window later. Only a busy
//! stream is held (four frames within a window), and replies to hapulse's own commands (calls,
//! pings) are never held back. `read_batching = "off"` reads every frame as it arrives.
//!
//! Where the URL and the token come from when `url` / `token_file` are not set (and no flag
//! gives them): ha-client's one rule, `HASS_URL` + `HASS_TOKEN`, or `SUPERVISOR_TOKEN` with the
//! Supervisor's URL inside an add-on (see `ha_client::resolve_credentials`).
//!
//! # The stale-mirror alert
//!
//! The built-in rule `mirror_stale` fires when hapulse's entity mirror has not been current for
//! longer than **2 minutes**: the connection is down and being re-established, a re-subscribe is
//! being retried, or Home Assistant refused the subscription for good. The value it judges,
//! `hapulse_mirror_stale_seconds` (also on `/metrics`), is how long the mirror has been out of
//! date, sampled every `sample.every`; it is 0 while the mirror is current, and the alert
//! resolves as soon as a fresh snapshot arrives. To alert after another time, give a rule of
//! the same name (it replaces the built-in one):
//!
//! ```toml
//! [[rule]]
//! name = "mirror_stale"
//! summary = "Home Assistant's states have been out of date for 5 minutes"
//! metric = "hapulse_mirror_stale_seconds"
//! aggregation = "value"
//! above = "5m"                              # the time the mirror may stay stale
//! severity = "critical"
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ha_client::ReadBatching;
use ha_monitor::rules::{RuleSet, parse_duration};
use ha_monitor::{MonitorError, Registry};
use serde::Deserialize;
use toml::Spanned;

use crate::HapulseError;
use crate::agent::AgentConfig;
use crate::monitor::SessionConfig;

/// Default address of the metrics endpoint (loopback only).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9464";

/// A validated `hapulse.toml`.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// `url`.
    pub url: Option<String>,
    /// `token_file`.
    pub token_file: Option<PathBuf>,
    /// Where `/metrics` listens (`None` = off).
    pub listen: Option<SocketAddr>,
    /// Publishing.
    pub agent: AgentConfig,
    /// Sampling.
    pub session: SessionConfig,
    /// Alert rules (defaults plus the file's).
    pub rules: RuleSet,
    /// `client.read_batching` (`None` = off; ha-client's default when the file does not set it).
    pub read_batching: Option<ReadBatching>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    url: Option<String>,
    token_file: Option<String>,
    metrics: Option<RawMetrics>,
    publish: Option<RawPublish>,
    sample: Option<RawSample>,
    client: Option<RawClient>,
    // Read by ha-monitor's rule parser.
    #[allow(dead_code)]
    use_default_rules: Option<toml::Value>,
    #[allow(dead_code)]
    rule: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    enabled: Option<bool>,
    listen: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPublish {
    enabled: Option<bool>,
    every: Option<Spanned<String>>,
    min_interval: Option<Spanned<String>>,
    refresh_interval: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClient {
    read_batching: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSample {
    every: Option<Spanned<String>>,
    ping_every: Option<Spanned<String>>,
}

impl ServeConfig {
    /// Reads and validates `path`.
    pub fn load(path: &Path) -> Result<Self, HapulseError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| HapulseError::ConfigRead { path: path.to_owned(), source })?;
        Self::parse(&text, path)
    }

    /// Parses `text` (errors name `path`).
    pub fn parse(text: &str, path: &Path) -> Result<Self, HapulseError> {
        let err = |at: usize, key: &str, message: String| {
            let (line, column) = position(text, at);
            HapulseError::Config { path: path.to_owned(), line, column, key: key.to_owned(), message }
        };
        let raw: Raw = toml::from_str(text).map_err(|e| {
            let at = e.span().map_or(0, |s| s.start);
            let message = e.message().trim().to_owned();
            let key = message
                .split('`')
                .nth(1)
                .filter(|_| message.contains("field `"))
                .map(str::to_owned)
                .unwrap_or_else(|| key_on_line(text, position(text, at).0));
            err(at, &key, message)
        })?;
        let duration = |v: Option<Spanned<String>>, key: &str, default: Duration| match v {
            None => Ok(default),
            Some(s) => parse_duration(s.get_ref()).map_err(|m| err(s.span().start, key, m)),
        };

        let metrics = raw.metrics.unwrap_or(RawMetrics { enabled: None, listen: None });
        let listen = if metrics.enabled == Some(false) {
            None
        } else {
            Some(match metrics.listen {
                None => DEFAULT_LISTEN.parse().expect("valid default"),
                Some(s) => s.get_ref().parse().map_err(|e| err(s.span().start, "metrics.listen", format!("{e}")))?,
            })
        };

        let publish = raw.publish.unwrap_or(RawPublish {
            enabled: None,
            every: None,
            min_interval: None,
            refresh_interval: None,
        });
        let defaults = AgentConfig::default();
        let mut agent = AgentConfig {
            publish: publish.enabled.unwrap_or(true),
            publish_every: duration(publish.every, "publish.every", defaults.publish_every)?,
            ..defaults
        };
        agent.publisher.min_interval =
            duration(publish.min_interval, "publish.min_interval", agent.publisher.min_interval)?;
        agent.publisher.refresh_interval =
            duration(publish.refresh_interval, "publish.refresh_interval", agent.publisher.refresh_interval)?;

        let sample = raw.sample.unwrap_or(RawSample { every: None, ping_every: None });
        let session_defaults = SessionConfig::default();
        let session = SessionConfig {
            sample_every: duration(sample.every, "sample.every", session_defaults.sample_every)?,
            ping_every: Some(duration(sample.ping_every, "sample.ping_every", Duration::from_secs(5))?)
                .filter(|d| !d.is_zero()),
        };

        let read_batching = match raw.client.and_then(|c| c.read_batching) {
            None => ReadBatching::platform_default(),
            Some(s) if s.get_ref() == "off" => None,
            Some(s) => {
                let at = s.span().start;
                let window = parse_duration(s.get_ref()).map_err(|m| err(at, "client.read_batching", m))?;
                Some(ReadBatching::new(window).map_err(|e| err(at, "client.read_batching", e.to_string()))?)
            }
        };

        let rules_text = rules_only(text);
        let monitor_err = |e: MonitorError| match e {
            MonitorError::Config { line, column, key, message } => {
                HapulseError::Config { path: path.to_owned(), line, column, key, message }
            }
            other => HapulseError::Config {
                path: path.to_owned(),
                line: 1,
                column: 1,
                key: String::new(),
                message: other.to_string(),
            },
        };
        let rules = RuleSet::parse(&rules_text).map_err(monitor_err)?;
        let mut probe = Registry::default();
        ha_monitor::StdMetrics::register(&mut probe);
        rules.check(&probe).map_err(monitor_err)?;

        Ok(Self {
            url: raw.url,
            token_file: raw.token_file.map(PathBuf::from),
            listen,
            agent,
            session,
            rules,
            read_batching,
        })
    }
}

/// The text with every line that is not part of the rules blanked, so ha-monitor's parser sees
/// only `use_default_rules` and the `[[rule]]` tables, at their original lines and columns.
fn rules_only(text: &str) -> String {
    let mut in_rules = false;
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with('[') {
            let name = t.trim_start_matches('[').trim_start();
            in_rules = name.starts_with("rule]") || name.starts_with("rule.") || name.starts_with("rule ");
        }
        let top_level_rule_key = t.starts_with("use_default_rules");
        if in_rules || top_level_rule_key {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// 1-based line and column of byte `offset`.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..text.floor_char_boundary(offset)];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (before.matches('\n').count() + 1, before[line_start..].chars().count() + 1)
}

fn key_on_line(text: &str, line: usize) -> String {
    let l = text.lines().nth(line.saturating_sub(1)).unwrap_or("");
    l.split_once('=').map(|(k, _)| k.trim().trim_matches('"').to_owned()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ServeConfig, HapulseError> {
        ServeConfig::parse(text, Path::new("/etc/hapulse.toml"))
    }

    fn located(err: HapulseError) -> (String, usize, String) {
        match err {
            HapulseError::Config { path, line, key, .. } => (path.display().to_string(), line, key),
            other => panic!("not a config error: {other}"),
        }
    }

    #[test]
    fn read_batching_is_ha_clients_default_unless_the_file_sets_it() {
        let c = parse("").unwrap();

        assert_eq!(c.read_batching, ReadBatching::platform_default());
    }

    #[test]
    fn client_read_batching_off_reads_every_frame_as_it_arrives() {
        let c = parse("[client]\nread_batching = \"off\"\n").unwrap();

        assert_eq!(c.read_batching, None);
    }

    #[test]
    fn client_read_batching_takes_a_window() {
        let c = parse("[client]\nread_batching = \"50ms\"\n").unwrap();

        assert_eq!(c.read_batching.map(|b| b.window()), Some(Duration::from_millis(50)));
    }

    #[test]
    fn a_read_batching_window_out_of_range_names_its_line_and_key() {
        let err = parse("url = \"http://h\"\n[client]\nread_batching = \"5s\"\n").unwrap_err();

        assert_eq!(located(err), ("/etc/hapulse.toml".to_owned(), 3, "client.read_batching".to_owned()));
    }

    #[test]
    fn empty_file_gives_defaults_on_loopback() {
        let c = parse("").unwrap();

        assert_eq!(c.listen, Some(DEFAULT_LISTEN.parse().unwrap()));
        assert!(c.agent.publish);
        assert_eq!(c.rules.rules.len(), ha_monitor::rules::RuleSet::defaults().rules.len());
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let err = parse("url = \"http://h\"\n\n[publish]\nenabeld = true\n").unwrap_err();

        assert_eq!(located(err), ("/etc/hapulse.toml".into(), 4, "enabeld".into()));
    }

    #[test]
    fn bad_duration_names_its_line_and_dotted_key() {
        let err = parse("[sample]\nevery = \"1s\"\nping_every = \"5 parsecs\"\n").unwrap_err();

        assert_eq!(located(err), ("/etc/hapulse.toml".into(), 3, "sample.ping_every".into()));
    }

    #[test]
    fn rule_error_keeps_the_line_of_the_whole_file() {
        let text = "url = \"http://h\"\n[metrics]\nlisten = \"127.0.0.1:9999\"\n\n[[rule]]\nname = \"x\"\nmetric = \"nope\"\naggregation = \"value\"\nabove = 1\n";

        let err = parse(text).unwrap_err();

        assert_eq!(located(err), ("/etc/hapulse.toml".into(), 7, "metric".into()));
    }

    #[test]
    fn rules_and_settings_share_the_file() {
        let text = "url = \"http://h\"\nuse_default_rules = false\n[publish]\nenabled = false\n[[rule]]\nname = \"rss\"\nmetric = \"hapulse_process_resident_memory_bytes\"\naggregation = \"value\"\nabove = \"100MB\"\n[metrics]\nenabled = false\n";

        let c = parse(text).unwrap();

        assert_eq!(c.rules.rules.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["rss"]);
        assert_eq!((c.listen, c.agent.publish, c.url.as_deref()), (None, false, Some("http://h")));
    }

    #[test]
    fn mirror_stale_threshold_is_configured_by_a_rule_of_the_same_name() {
        let text = "[[rule]]\nname = \"mirror_stale\"\nmetric = \"hapulse_mirror_stale_seconds\"\naggregation = \"value\"\nabove = \"5m\"\n";

        let c = parse(text).unwrap();

        let stale: Vec<_> = c.rules.rules.iter().filter(|r| r.name == "mirror_stale").collect();
        assert_eq!(stale.iter().map(|r| r.threshold()).collect::<Vec<_>>(), [300.0]);
    }

    #[test]
    fn default_mirror_stale_threshold_is_two_minutes() {
        let c = parse("").unwrap();

        let stale = c.rules.rules.iter().find(|r| r.name == "mirror_stale").expect("a built-in rule");
        assert_eq!(stale.threshold(), 120.0);
    }

    #[test]
    fn bad_listen_address_is_reported_on_its_line() {
        let err = parse("[metrics]\nlisten = \"localhost\"\n").unwrap_err();

        assert_eq!(located(err).1, 2);
    }
}
