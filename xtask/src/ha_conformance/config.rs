//! What one conformance run of Home Assistant looks like: its `configuration.yaml` and its URLs (pure, no I/O).

use std::fmt::Write as _;

/// The `input_boolean` helpers every run configures: `input_boolean.<id>` exists and starts `off`.
pub(crate) const INPUT_BOOLEANS: [&str; 2] = ["hapulse_switch", "hapulse_spare"];

/// The `input_number` helpers every run configures: 0..=100 in steps of 1, starting at 50.
pub(crate) const INPUT_NUMBERS: [&str; 2] = ["hapulse_level", "hapulse_spare_level"];

/// The script `script.hapulse_echo`: a service that supports responses (`return_response` gives
/// `{"echo": <value or "none">}`), since none of the always-loaded integrations offers one.
const ECHO_SCRIPT: &str = r#"script:
  hapulse_echo:
    alias: "hapulse echo"
    fields:
      value:
        description: "Echoed back in the response."
    sequence:
      - variables:
          reply:
            echo: "{{ value | default('none') }}"
      - stop: "done"
        response_variable: reply
"#;

/// The settings of one run that end up in `configuration.yaml`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HaConfig {
    /// `homeassistant.name`: the location name `get_config` reports.
    pub(crate) location_name: String,
    /// `homeassistant.latitude`.
    pub(crate) latitude: f64,
    /// `homeassistant.longitude`.
    pub(crate) longitude: f64,
    /// `homeassistant.elevation` in metres.
    pub(crate) elevation: i32,
    /// `http.server_port`; the server always listens on 127.0.0.1 only.
    pub(crate) port: u16,
}

impl HaConfig {
    /// The settings used by `cargo xtask ha-conformance`, listening on `port`.
    pub(crate) fn for_port(port: u16) -> Self {
        Self {
            location_name: "hapulse conformance".to_owned(),
            latitude: 46.948,
            longitude: 7.447,
            elevation: 540,
            port,
        }
    }

    /// The top-level integrations the configuration names, sorted. Home Assistant installs their
    /// requirements on first start, so a change here means `--skip-pip` is no longer safe.
    pub(crate) fn integrations(&self) -> Vec<&'static str> {
        vec!["homeassistant", "http", "input_boolean", "input_number", "logger", "script"]
    }

    /// `configuration.yaml` for this run. Written before the first start so that Home Assistant does not
    /// create its own (which would contain `default_config:` and pull in integrations that need the internet).
    pub(crate) fn render_yaml(&self) -> String {
        let mut yaml = String::new();
        // `write!` into a String cannot fail; the results are ignored on purpose.
        let _ = writeln!(yaml, "# Written by `cargo xtask ha-conformance` for one run; deleted afterwards.");
        let _ = writeln!(yaml, "homeassistant:");
        let _ = writeln!(yaml, "  name: {}", yaml_string(&self.location_name));
        let _ = writeln!(yaml, "  latitude: {}", self.latitude);
        let _ = writeln!(yaml, "  longitude: {}", self.longitude);
        let _ = writeln!(yaml, "  elevation: {}", self.elevation);
        let _ = writeln!(yaml, "  unit_system: metric");
        let _ = writeln!(yaml, "  time_zone: UTC");
        let _ = writeln!(yaml, "http:");
        let _ = writeln!(yaml, "  server_host: 127.0.0.1");
        let _ = writeln!(yaml, "  server_port: {}", self.port);
        let _ = writeln!(yaml, "logger:");
        let _ = writeln!(yaml, "  default: warning");
        let _ = writeln!(yaml, "input_boolean:");
        for id in INPUT_BOOLEANS {
            let _ = writeln!(yaml, "  {id}:");
            let _ = writeln!(yaml, "    name: {}", yaml_string(&id.replace('_', " ")));
            let _ = writeln!(yaml, "    initial: false");
        }
        let _ = writeln!(yaml, "input_number:");
        for id in INPUT_NUMBERS {
            let _ = writeln!(yaml, "  {id}:");
            let _ = writeln!(yaml, "    name: {}", yaml_string(&id.replace('_', " ")));
            let _ = writeln!(yaml, "    min: 0");
            let _ = writeln!(yaml, "    max: 100");
            let _ = writeln!(yaml, "    step: 1");
            let _ = writeln!(yaml, "    initial: 50");
        }
        yaml.push_str(ECHO_SCRIPT);
        yaml
    }
}

/// A YAML double-quoted scalar. JSON string syntax is a subset of it, so serde_json does the escaping.
fn yaml_string(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

/// The addresses of a Home Assistant listening on 127.0.0.1:`port`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Urls {
    port: u16,
}

impl Urls {
    /// The URLs of the server on `port`.
    pub(crate) fn new(port: u16) -> Self {
        Self { port }
    }

    /// The port the server listens on.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>`: what the suite receives as `HAPULSE_HA_URL` (no trailing slash).
    pub(crate) fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:<port>/`: the OAuth client id. Home Assistant accepts any URL as client id but
    /// requires the same one for `/api/onboarding/users` and `/auth/token`.
    pub(crate) fn client_id(&self) -> String {
        format!("{}/", self.base())
    }

    /// `GET /api/`: 401 without a token once the HTTP server is up.
    pub(crate) fn api_root(&self) -> String {
        format!("{}/api/", self.base())
    }

    /// `GET /api/config`: the core config including `state` (`RUNNING` once started).
    pub(crate) fn api_config(&self) -> String {
        format!("{}/api/config", self.base())
    }

    /// `POST /api/onboarding/users`: creates the owner while onboarding is not done.
    pub(crate) fn onboarding_users(&self) -> String {
        format!("{}/api/onboarding/users", self.base())
    }

    /// `POST /auth/token`: exchanges the onboarding auth code for an access token.
    pub(crate) fn auth_token(&self) -> String {
        format!("{}/auth/token", self.base())
    }

    /// `ws://127.0.0.1:<port>/api/websocket`.
    pub(crate) fn websocket(&self) -> String {
        format!("ws://127.0.0.1:{}/api/websocket", self.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml_lines(config: &HaConfig) -> Vec<String> {
        config.render_yaml().lines().map(str::to_owned).collect()
    }

    #[test]
    fn yaml_listens_on_loopback_and_the_given_port() {
        let config = HaConfig::for_port(18123);

        let lines = yaml_lines(&config);

        let http = lines.iter().position(|l| l == "http:").expect("http section");
        assert_eq!(lines[http + 1], "  server_host: 127.0.0.1");
        assert_eq!(lines[http + 2], "  server_port: 18123");
    }

    #[test]
    fn yaml_sets_utc_metric_core_settings() {
        let config = HaConfig::for_port(8123);

        let lines = yaml_lines(&config);

        assert!(lines.contains(&"  time_zone: UTC".to_owned()));
        assert!(lines.contains(&"  unit_system: metric".to_owned()));
        assert!(lines.contains(&"  name: \"hapulse conformance\"".to_owned()));
    }

    #[test]
    fn yaml_does_not_enable_default_config() {
        let config = HaConfig::for_port(8123);

        let yaml = config.render_yaml();

        assert!(!yaml.contains("default_config"));
    }

    #[test]
    fn yaml_top_level_sections_are_the_declared_integrations() {
        let config = HaConfig::for_port(8123);

        let mut sections: Vec<String> = yaml_lines(&config)
            .into_iter()
            .filter(|l| !l.starts_with(' ') && !l.starts_with('#'))
            .map(|l| l.trim_end_matches(':').to_owned())
            .collect();
        sections.sort();

        assert_eq!(sections, config.integrations());
    }

    #[test]
    fn yaml_declares_every_helper() {
        let config = HaConfig::for_port(8123);

        let lines = yaml_lines(&config);

        for id in INPUT_BOOLEANS.iter().chain(INPUT_NUMBERS.iter()) {
            assert!(lines.contains(&format!("  {id}:")), "{id} missing");
        }
    }

    #[test]
    fn yaml_declares_the_echo_script() {
        let config = HaConfig::for_port(8123);

        let lines = yaml_lines(&config);

        let script = lines.iter().position(|l| l == "script:").expect("script section");
        assert_eq!(lines[script + 1], "  hapulse_echo:");
        assert!(lines.contains(&"        response_variable: reply".to_owned()));
    }

    #[test]
    fn yaml_quotes_names_with_special_characters() {
        let config = HaConfig { location_name: "a: \"b\" # c".to_owned(), ..HaConfig::for_port(8123) };

        let lines = yaml_lines(&config);

        assert!(lines.contains(&r#"  name: "a: \"b\" # c""#.to_owned()));
    }

    #[test]
    fn urls_point_at_loopback_and_port() {
        let urls = Urls::new(18123);

        let all = [urls.api_root(), urls.api_config(), urls.onboarding_users(), urls.auth_token(), urls.client_id()];

        assert_eq!(all[0], "http://127.0.0.1:18123/api/");
        assert_eq!(all[1], "http://127.0.0.1:18123/api/config");
        assert_eq!(all[2], "http://127.0.0.1:18123/api/onboarding/users");
        assert_eq!(all[3], "http://127.0.0.1:18123/auth/token");
        assert_eq!(all[4], "http://127.0.0.1:18123/");
    }

    #[test]
    fn base_url_has_no_trailing_slash() {
        let urls = Urls::new(8123);

        let base = urls.base();

        assert_eq!(base, "http://127.0.0.1:8123");
    }

    #[test]
    fn websocket_url_uses_ws_scheme_and_api_path() {
        let urls = Urls::new(8124);

        let ws = urls.websocket();

        assert_eq!(ws, "ws://127.0.0.1:8124/api/websocket");
    }
}
