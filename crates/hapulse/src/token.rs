//! Where the access token and the URL come from: `--token-file`, `--token`, `HASS_TOKEN`, or
//! `SUPERVISOR_TOKEN` (add-on mode, which also implies the supervisor's URL). The token is a
//! [`Secret`] from the moment it is read: its `Debug` and `Display` never show it.

use std::path::{Path, PathBuf};

use ha_client::SUPERVISOR_URL;
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
        let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let mut supervisor = false;
        let token = if let Some(t) = &self.token {
            t.clone()
        } else if let Some(path) = &self.token_file {
            let text = read(path).map_err(|source| HapulseError::TokenFile { path: path.clone(), source })?;
            let text = text.trim();
            if text.is_empty() {
                return Err(HapulseError::EmptyTokenFile { path: path.clone() });
            }
            Secret::new(text)
        } else if let Some(t) = var("HASS_TOKEN") {
            Secret::new(t.trim())
        } else if let Some(t) = var("SUPERVISOR_TOKEN") {
            supervisor = true;
            Secret::new(t.trim())
        } else {
            return Err(HapulseError::MissingToken);
        };
        let url = match (&self.url, var("HASS_URL")) {
            (Some(url), _) => url.clone(),
            (None, Some(url)) => url,
            (None, None) if supervisor => SUPERVISOR_URL.to_owned(),
            (None, None) => return Err(HapulseError::MissingUrl),
        };
        Ok(Resolved { url, token })
    }

    /// [`Credentials::resolve`] with the process environment and the file system.
    pub fn resolve_from_env(&self) -> Result<Resolved, HapulseError> {
        self.resolve(|n| std::env::var(n).ok(), |p| std::fs::read_to_string(p))
    }
}

#[cfg(test)]
mod tests {
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
