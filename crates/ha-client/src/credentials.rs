//! The one precedence rule for where Home Assistant's URL and the access token come from:
//! what the caller gives (flags, a config file), then `HASS_URL` / `HASS_TOKEN`, then add-on
//! mode (`SUPERVISOR_TOKEN` with [`SUPERVISOR_URL`]). [`crate::ClientConfig::from_vars`] and
//! `hapulse`'s token resolution both go through [`resolve_credentials`], so they cannot disagree.
//!
//! The rule:
//! 1. Token: the caller's, else `HASS_TOKEN`, else `SUPERVISOR_TOKEN`.
//! 2. URL: the caller's, else `HASS_URL`, else [`SUPERVISOR_URL`] only when the token is
//!    `SUPERVISOR_TOKEN`. A URL given by any source is never ignored, and `HASS_TOKEN` (a
//!    long-lived token for Home Assistant itself) is never sent to the Supervisor.
//! 3. A variable that is empty or only whitespace counts as unset; values are trimmed.
//!
//! | `HASS_URL` | `HASS_TOKEN` | `SUPERVISOR_TOKEN` | result |
//! |---|---|---|---|
//! | - | - | - | error: no token (`HASS_TOKEN`) |
//! | - | - | set | `SUPERVISOR_URL` + `SUPERVISOR_TOKEN` (add-on mode) |
//! | - | set | - | error: no URL (`HASS_URL`) |
//! | - | set | set | error: no URL (`HASS_URL`): `HASS_TOKEN` is not for the Supervisor |
//! | set | - | - | error: no token (`HASS_TOKEN`) |
//! | set | - | set | `HASS_URL` + `SUPERVISOR_TOKEN` |
//! | set | set | - | `HASS_URL` + `HASS_TOKEN` |
//! | set | set | set | `HASS_URL` + `HASS_TOKEN` |

use ha_proto::Secret;

use crate::config::SUPERVISOR_URL;
use crate::error::ClientError;

/// The variable holding Home Assistant's base URL.
pub const HASS_URL: &str = "HASS_URL";
/// The variable holding a long-lived access token.
pub const HASS_TOKEN: &str = "HASS_TOKEN";
/// The variable the Supervisor sets inside an add-on.
pub const SUPERVISOR_TOKEN: &str = "SUPERVISOR_TOKEN";

/// Where the token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    /// The caller gave it (a flag, a file named by a flag, a config file).
    Given,
    /// `HASS_TOKEN`.
    HassToken,
    /// `SUPERVISOR_TOKEN` (add-on mode).
    SupervisorToken,
}

/// A resolved URL and token. `Debug` never shows the token.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// Base URL of Home Assistant, as given (not yet normalised).
    pub url: String,
    /// The access token.
    pub token: Secret,
    /// Where the token came from.
    pub token_source: TokenSource,
}

/// Applies the precedence rule (module docs) to what the caller gave (`url`, `token`; `None`
/// when not given) and the variables `var` reads (the process environment, or a map in tests).
///
/// Fails with [`ClientError::MissingEnv`] naming `HASS_TOKEN` when no source holds a token, and
/// naming `HASS_URL` when no URL is given and the token is not `SUPERVISOR_TOKEN`.
pub fn resolve_credentials(
    url: Option<&str>,
    token: Option<&Secret>,
    var: impl Fn(&str) -> Option<String>,
) -> Result<Credentials, ClientError> {
    let get = |name: &str| var(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let (token, token_source) = match (token, get(HASS_TOKEN), get(SUPERVISOR_TOKEN)) {
        (Some(given), _, _) => (given.clone(), TokenSource::Given),
        (None, Some(t), _) => (Secret::new(t), TokenSource::HassToken),
        (None, None, Some(t)) => (Secret::new(t), TokenSource::SupervisorToken),
        (None, None, None) => return Err(ClientError::MissingEnv { name: HASS_TOKEN }),
    };
    let url = match (url.map(str::trim).filter(|u| !u.is_empty()), get(HASS_URL)) {
        (Some(given), _) => given.to_owned(),
        (None, Some(from_env)) => from_env,
        (None, None) if token_source == TokenSource::SupervisorToken => SUPERVISOR_URL.to_owned(),
        (None, None) => return Err(ClientError::MissingEnv { name: HASS_URL }),
    };
    Ok(Credentials { url, token, token_source })
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "http://ha.local:8123";

    /// The variables of one combination: which of `HASS_URL`, `HASS_TOKEN`, `SUPERVISOR_TOKEN` are set.
    fn vars(url: bool, hass: bool, sup: bool) -> impl Fn(&str) -> Option<String> {
        move |name: &str| match name {
            HASS_URL if url => Some(URL.to_owned()),
            HASS_TOKEN if hass => Some("hass-token".to_owned()),
            SUPERVISOR_TOKEN if sup => Some("supervisor-token".to_owned()),
            _ => None,
        }
    }

    /// `(url, token)` or the missing variable's name.
    fn outcome(r: Result<Credentials, ClientError>) -> Result<(String, String), &'static str> {
        match r {
            Ok(c) => Ok((c.url, c.token.expose().to_owned())),
            Err(ClientError::MissingEnv { name }) => Err(name),
            Err(other) => panic!("unexpected error {other}"),
        }
    }

    #[test]
    fn every_combination_of_the_three_variables_follows_the_documented_table() {
        let ok = |url: &str, token: &str| Ok((url.to_owned(), token.to_owned()));
        let table = [
            ((false, false, false), Err(HASS_TOKEN)),
            ((false, false, true), ok(SUPERVISOR_URL, "supervisor-token")),
            ((false, true, false), Err(HASS_URL)),
            ((false, true, true), Err(HASS_URL)),
            ((true, false, false), Err(HASS_TOKEN)),
            ((true, false, true), ok(URL, "supervisor-token")),
            ((true, true, false), ok(URL, "hass-token")),
            ((true, true, true), ok(URL, "hass-token")),
        ];

        let got: Vec<_> = table
            .iter()
            .map(|((u, h, s), _)| ((*u, *h, *s), outcome(resolve_credentials(None, None, vars(*u, *h, *s)))))
            .collect();

        let want: Vec<_> = table.into_iter().collect();
        assert_eq!(got, want);
    }

    #[test]
    fn given_url_and_token_win_over_every_variable() {
        let given = Secret::new("given-token");

        let c = resolve_credentials(Some("http://given:1"), Some(&given), vars(true, true, true)).unwrap();

        assert_eq!(
            (c.url.as_str(), c.token.expose(), c.token_source),
            ("http://given:1", "given-token", TokenSource::Given)
        );
    }

    #[test]
    fn given_token_without_any_url_names_hass_url_even_in_an_addon() {
        let given = Secret::new("given-token");

        let err = resolve_credentials(None, Some(&given), vars(false, false, true)).unwrap_err();

        assert!(matches!(err, ClientError::MissingEnv { name: HASS_URL }), "{err:?}");
    }

    #[test]
    fn blank_variables_count_as_unset_and_values_are_trimmed() {
        let var = |name: &str| match name {
            HASS_TOKEN => Some("   ".to_owned()),
            SUPERVISOR_TOKEN => Some(" sup\n".to_owned()),
            _ => None,
        };

        let c = resolve_credentials(None, None, var).unwrap();

        assert_eq!((c.url.as_str(), c.token.expose()), (SUPERVISOR_URL, "sup"));
    }
}
