//! Where the access token and the URL come from: `--token`, `--token-file` (or `token_file` in
//! `hapulse.toml`), `--url` (or `url`), then the environment. The precedence is ha-client's one
//! rule ([`ha_client::resolve_credentials`]): the given token, else `HASS_TOKEN`, else
//! `SUPERVISOR_TOKEN`; the given URL, else `HASS_URL`, else the Supervisor's URL only when the
//! token is `SUPERVISOR_TOKEN`. This module only adds the flags (and reads the token file) in
//! front of it. The token is a [`Secret`] from the moment it is read: its `Debug` and `Display`
//! never show it.

use std::path::{Path, PathBuf};

use ha_client::{ClientError, HASS_TOKEN, HASS_URL, resolve_credentials};
use ha_proto::Secret;

use crate::HapulseError;

/// What the user gave on the command line (or in the config file).
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// `--url`.
    pub url: Option<String>,
    /// `--token` (discouraged: visible in `ps`; prefer a file or the environment).
    pub token: Option<Secret>,
    /// `--token-file`.
    pub token_file: Option<PathBuf>,
}

/// A resolved URL and token.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// Base URL of Home Assistant.
    pub url: String,
    /// The access token.
    pub token: Secret,
}

impl Credentials {
    /// Resolves URL and token; `var` reads environment variables (`HASS_URL`, `HASS_TOKEN`,
    /// `SUPERVISOR_TOKEN`) and `read` reads the token file, so tests touch neither.
    ///
    /// Order for the token: `--token`, `--token-file`, `HASS_TOKEN`, `SUPERVISOR_TOKEN`. The URL is
    /// `--url`, else `HASS_URL`, else the supervisor's URL when the token is `SUPERVISOR_TOKEN`.
    pub fn resolve(
        &self,
        var: impl Fn(&str) -> Option<String>,
        read: impl Fn(&Path) -> std::io::Result<String>,
    ) -> Result<Resolved, HapulseError> {
        let given = match (&self.token, &self.token_file) {
            (Some(t), _) => Some(t.clone()),
            (None, Some(path)) => {
                let text = read(path).map_err(|source| HapulseError::TokenFile { path: path.clone(), source })?;
                let text = text.trim();
                if text.is_empty() {
                    return Err(HapulseError::EmptyTokenFile { path: path.clone() });
                }
                Some(Secret::new(text))
            }
            (None, None) => None,
        };
        match resolve_credentials(self.url.as_deref(), given.as_ref(), var) {
            Ok(c) => Ok(Resolved { url: c.url, token: c.token }),
            Err(ClientError::MissingEnv { name: HASS_TOKEN }) => Err(HapulseError::MissingToken),
            Err(ClientError::MissingEnv { name: HASS_URL }) => Err(HapulseError::MissingUrl),
            Err(other) => Err(other.into()),
        }
    }

    /// [`Credentials::resolve`] with the process environment and the file system.
    pub fn resolve_from_env(&self) -> Result<Resolved, HapulseError> {
        self.resolve(|n| std::env::var(n).ok(), |p| std::fs::read_to_string(p))
    }
}

#[cfg(test)]
mod tests {
    use ha_client::SUPERVISOR_URL;

    use super::*;

    const TOKEN: &str = "tok-3b8f-very-secret";

    fn no_file(_: &Path) -> std::io::Result<String> {
        Err(std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"))
    }

    #[test]
    fn token_file_wins_over_the_environment_and_is_trimmed() {
        let creds = Credentials { url: Some("http://h:8123".into()), token_file: Some("t".into()), token: None };
        let env = |n: &str| (n == "HASS_TOKEN").then(|| "from-env".to_owned());

        let r = creds.resolve(env, |_| Ok(format!("{TOKEN}\n"))).unwrap();

        assert_eq!(r.token.expose(), TOKEN);
    }

    #[test]
    fn supervisor_token_implies_the_supervisor_url() {
        let env = |n: &str| (n == "SUPERVISOR_TOKEN").then(|| TOKEN.to_owned());

        let r = Credentials::default().resolve(env, no_file).unwrap();

        assert_eq!((r.url.as_str(), r.token.expose()), (SUPERVISOR_URL, TOKEN));
    }

    #[test]
    fn hass_token_without_url_is_an_error_naming_the_url() {
        let env = |n: &str| (n == "HASS_TOKEN").then(|| TOKEN.to_owned());

        let err = Credentials::default().resolve(env, no_file).unwrap_err();

        assert!(matches!(err, HapulseError::MissingUrl), "{err}");
    }

    #[test]
    fn every_combination_of_flags_and_variables_agrees_with_the_client_rule() {
        // arrange: --url and --token given or not, times the 8 combinations of the variables
        let vars = |url: bool, hass: bool, sup: bool| {
            move |n: &str| match n {
                "HASS_URL" if url => Some("http://env:8123".to_owned()),
                "HASS_TOKEN" if hass => Some("t-hass".to_owned()),
                "SUPERVISOR_TOKEN" if sup => Some("t-sup".to_owned()),
                _ => None,
            }
        };
        let flags = |url: bool, token: bool| Credentials {
            url: url.then(|| "http://flag:8123".to_owned()),
            token: token.then(|| Secret::new("t-flag")),
            token_file: None,
        };
        let mut disagreements = Vec::new();
        let mut cases = 0;

        // act
        for bits in 0..32u8 {
            let [fu, ft, u, h, s] = [0, 1, 2, 3, 4].map(|i| bits & (1 << i) != 0);
            cases += 1;
            let mine = flags(fu, ft).resolve(vars(u, h, s), no_file).map(|r| (r.url, r.token.expose().to_owned()));
            let flag_token = ft.then(|| Secret::new("t-flag"));
            let rule = resolve_credentials(fu.then_some("http://flag:8123"), flag_token.as_ref(), vars(u, h, s))
                .map(|c| (c.url, c.token.expose().to_owned()));
            let agree = match (&mine, &rule) {
                (Ok(a), Ok(b)) => a == b,
                (Err(HapulseError::MissingToken), Err(ClientError::MissingEnv { name: HASS_TOKEN }))
                | (Err(HapulseError::MissingUrl), Err(ClientError::MissingEnv { name: HASS_URL })) => true,
                _ => false,
            };
            // Without flags, hapulse must do exactly what the client's from_vars does.
            let from_vars = ha_client::ClientConfig::from_vars(vars(u, h, s)).map(|c| c.endpoints.rest);
            let mine_rest = mine.as_ref().map(|(url, _)| ha_client::Endpoints::from_url(url).unwrap().rest);
            let agree_env = fu || ft || from_vars.as_ref().ok() == mine_rest.as_ref().ok();
            if !(agree && agree_env) {
                disagreements.push(format!("flags url={fu} token={ft}, env url={u} hass={h} sup={s}: {mine:?}"));
            }
        }

        // assert
        assert_eq!(cases, 32);
        assert!(disagreements.is_empty(), "{disagreements:#?}");
    }

    #[test]
    fn hass_token_is_never_sent_to_the_supervisor_url() {
        let env = |n: &str| match n {
            "HASS_TOKEN" => Some("t-hass".to_owned()),
            "SUPERVISOR_TOKEN" => Some(TOKEN.to_owned()),
            _ => None,
        };

        let hapulse = Credentials::default().resolve(env, no_file).unwrap_err();
        let client = ha_client::ClientConfig::from_vars(env).unwrap_err();

        assert!(matches!(hapulse, HapulseError::MissingUrl), "{hapulse}");
        assert!(matches!(client, ClientError::MissingEnv { name: "HASS_URL" }), "{client}");
    }

    #[test]
    fn no_source_at_all_is_missing_token() {
        let err = Credentials::default().resolve(|_| None, no_file).unwrap_err();

        assert!(err.to_string().contains("--token-file"), "{err}");
    }

    #[test]
    fn debug_of_credentials_and_resolved_hides_the_token() {
        let creds = Credentials { url: Some("http://h".into()), token: Some(Secret::new(TOKEN)), token_file: None };

        let r = creds.resolve(|_| None, no_file).unwrap();
        let text = format!("{creds:?} {r:?} {}", r.token);

        assert!(!text.contains(TOKEN), "{text}");
    }

    #[test]
    fn unreadable_token_file_error_names_the_file_not_the_token() {
        let creds = Credentials { url: None, token: None, token_file: Some("/nope/token".into()) };
        let env = |n: &str| (n == "HASS_TOKEN").then(|| TOKEN.to_owned());

        let err = creds.resolve(env, no_file).unwrap_err();

        let text = format!("{err} {err:?}");
        assert!(text.contains("/nope/token") && !text.contains(TOKEN), "{text}");
    }
}
