//! Onboarding without a person: create the owner, exchange the auth code for an access token, and trade that
//! for a long-lived token over the WebSocket. Also the wait for the core state `RUNNING`.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher as _, Hasher as _};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use serde_json::{Value, json};
use tungstenite::Message;

use super::config::Urls;

/// Timeout of one HTTP request or WebSocket read during onboarding.
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// A bearer token. Its Debug output never shows the token.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Token(String);

impl Token {
    /// A token with the given text, for unit tests.
    #[cfg(test)]
    pub(crate) fn for_tests(text: &str) -> Self {
        Self(text.to_owned())
    }

    /// The token itself, for the `Authorization` header or the suite's environment.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// The owner account created during onboarding.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Owner {
    /// Login name.
    pub(crate) username: String,
    /// Password; random per run, never printed.
    password: String,
}

impl fmt::Debug for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Owner").field("username", &self.username).field("password", &"<redacted>").finish()
    }
}

impl Owner {
    /// The owner `hapulse` with a random password (nobody logs in with it; the run only needs the token).
    pub(crate) fn random() -> Self {
        let password: String = (0..4).map(|_| format!("{:016x}", RandomState::new().build_hasher().finish())).collect();
        Self { username: "hapulse".to_owned(), password }
    }
}

/// The body of `POST /api/onboarding/users`.
pub(crate) fn onboarding_users_body(urls: &Urls, owner: &Owner) -> Value {
    json!({
        "client_id": urls.client_id(),
        "name": "hapulse conformance",
        "username": owner.username,
        "password": owner.password,
        "language": "en",
    })
}

/// The form of `POST /auth/token` that exchanges an onboarding auth code.
pub(crate) fn token_form(urls: &Urls, auth_code: &str) -> [(&'static str, String); 3] {
    [("grant_type", "authorization_code".to_owned()), ("code", auth_code.to_owned()), ("client_id", urls.client_id())]
}

/// The WebSocket command that asks for a long-lived token (lifespan in days).
pub(crate) fn long_lived_token_command(id: u64) -> Value {
    json!({"id": id, "type": "auth/long_lived_access_token", "client_name": "hapulse-conformance", "lifespan": 1})
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(IO_TIMEOUT)).build().into()
}

/// Reads a JSON body, failing with the status and body text unless the status is `expected`.
fn json_body(response: ureq::http::Response<ureq::Body>, expected: u16, what: &str) -> anyhow::Result<Value> {
    let status = response.status().as_u16();
    let text = response.into_body().read_to_string().with_context(|| format!("reading the {what} response"))?;
    if status != expected {
        bail!("{what} answered {status} (expected {expected}): {}", truncate(&text, 300));
    }
    serde_json::from_str(&text).with_context(|| format!("{what} answered non-JSON: {}", truncate(&text, 300)))
}

fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((index, _)) => &text[..index],
        None => text,
    }
}

/// Creates the owner and returns a long-lived access token for it.
pub(crate) fn onboard(urls: &Urls) -> anyhow::Result<Token> {
    let agent = agent();
    let owner = Owner::random();

    let response = agent
        .post(urls.onboarding_users())
        .send_json(onboarding_users_body(urls, &owner))
        .context("POST /api/onboarding/users")?;
    let body = json_body(response, 200, "POST /api/onboarding/users")?;
    let auth_code = body["auth_code"].as_str().context("POST /api/onboarding/users gave no auth_code")?.to_owned();

    let response = agent.post(urls.auth_token()).send_form(token_form(urls, &auth_code)).context("POST /auth/token")?;
    let body = json_body(response, 200, "POST /auth/token")?;
    let access = Token(body["access_token"].as_str().context("POST /auth/token gave no access_token")?.to_owned());

    long_lived_token(urls, &access)
}

fn long_lived_token(urls: &Urls, access: &Token) -> anyhow::Result<Token> {
    let address = format!("127.0.0.1:{}", urls.port());
    let stream = TcpStream::connect(&address).with_context(|| format!("connecting to {address}"))?;
    stream.set_read_timeout(Some(IO_TIMEOUT)).context("setting the read timeout")?;
    stream.set_write_timeout(Some(IO_TIMEOUT)).context("setting the write timeout")?;
    let (mut ws, _) = tungstenite::client(urls.websocket(), stream)
        .map_err(|err| anyhow!("WebSocket handshake with {}: {err}", urls.websocket()))?;

    let next_json = |ws: &mut tungstenite::WebSocket<TcpStream>| -> anyhow::Result<Value> {
        loop {
            match ws.read().context("reading from the WebSocket")? {
                Message::Text(text) => return serde_json::from_str(text.as_str()).context("non-JSON WebSocket frame"),
                Message::Close(frame) => bail!("the server closed the WebSocket: {frame:?}"),
                _ => {}
            }
        }
    };

    let hello = next_json(&mut ws)?;
    if hello["type"] != "auth_required" {
        bail!("expected auth_required first, got {hello}");
    }
    let auth = json!({"type": "auth", "access_token": access.expose()});
    ws.send(Message::text(auth.to_string())).context("sending auth")?;
    let answer = next_json(&mut ws)?;
    if answer["type"] != "auth_ok" {
        bail!("the access token from /auth/token was refused: {}", answer["type"]);
    }

    ws.send(Message::text(long_lived_token_command(1).to_string())).context("asking for a long-lived token")?;
    let result = next_json(&mut ws)?;
    let token = match (&result["success"], result["result"].as_str()) {
        (Value::Bool(true), Some(token)) => Token(token.to_owned()),
        _ => bail!("auth/long_lived_access_token failed: {}", result["error"]),
    };
    // Best effort: the token is ours either way.
    let _ = ws.close(None);
    Ok(token)
}

/// Waits until `GET /api/config` reports the core state `RUNNING`, at most `within`.
///
/// `GET /api/` answers as soon as the HTTP server is up, while integrations may still be setting up (and
/// pip-installing their requirements); the suite must see the finished server.
pub(crate) fn wait_running(
    urls: &Urls,
    token: &Token,
    within: Duration,
    cancelled: impl Fn() -> bool,
) -> anyhow::Result<()> {
    let agent = agent();
    let deadline = Instant::now() + within;
    let mut last = String::from("no answer");
    loop {
        if cancelled() {
            bail!("interrupted while waiting for Home Assistant to finish starting");
        }
        let response =
            agent.get(urls.api_config()).header("Authorization", format!("Bearer {}", token.expose())).call();
        if let Ok(response) = response
            && let Ok(body) = json_body(response, 200, "GET /api/config")
        {
            if body["state"] == "RUNNING" {
                return Ok(());
            }
            last = format!("state {}", body["state"]);
        }
        if Instant::now() >= deadline {
            bail!("Home Assistant did not reach RUNNING within {} s ({last})", within.as_secs());
        }
        thread::sleep(Duration::from_millis(250));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_debug_hides_the_token() {
        let token = Token::for_tests("secret-value");

        let shown = format!("{token:?}");

        assert!(!shown.contains("secret-value"));
    }

    #[test]
    fn owner_debug_hides_the_password() {
        let owner = Owner::random();

        let shown = format!("{owner:?}");

        assert!(!shown.contains(&owner.password));
    }

    #[test]
    fn random_owners_get_different_passwords() {
        let (a, b) = (Owner::random(), Owner::random());

        let same = a.password == b.password;

        assert!(!same);
    }

    #[test]
    fn onboarding_body_uses_the_client_id_of_the_server() {
        let (urls, owner) = (Urls::new(8125), Owner::random());

        let body = onboarding_users_body(&urls, &owner);

        assert_eq!(body["client_id"], "http://127.0.0.1:8125/");
        assert_eq!(body["username"], "hapulse");
        assert_eq!(body["language"], "en");
    }

    #[test]
    fn token_form_sends_the_same_client_id_as_onboarding() {
        let urls = Urls::new(8125);

        let form = token_form(&urls, "code-1");

        assert_eq!(
            form,
            [
                ("grant_type", "authorization_code".to_owned()),
                ("code", "code-1".to_owned()),
                ("client_id", "http://127.0.0.1:8125/".to_owned()),
            ]
        );
    }

    #[test]
    fn long_lived_token_command_has_the_documented_shape() {
        let id = 7;

        let command = long_lived_token_command(id);

        assert_eq!(
            command,
            json!({"id": 7, "type": "auth/long_lived_access_token", "client_name": "hapulse-conformance", "lifespan": 1})
        );
    }

    #[test]
    fn truncate_cuts_on_character_boundaries() {
        let text = "ééé";

        let cut = truncate(text, 2);

        assert_eq!(cut, "éé");
    }
}
