//! The one error type of the hapulse library.

use std::path::PathBuf;

/// What can go wrong in hapulse's library part. Messages never contain a token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HapulseError {
    /// No token was given by any of the accepted sources.
    #[error("no access token: pass --token-file FILE, or set HASS_TOKEN (or SUPERVISOR_TOKEN in an add-on)")]
    MissingToken,
    /// No URL was given and none follows from the token source.
    #[error("no Home Assistant URL: pass --url or set HASS_URL")]
    MissingUrl,
    /// The token file could not be read.
    #[error("cannot read the token file {path}")]
    TokenFile {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The token file holds nothing but whitespace.
    #[error("the token file {path} is empty")]
    EmptyTokenFile {
        /// The file.
        path: PathBuf,
    },
    /// The configuration file could not be read.
    #[error("cannot read the configuration file {path}")]
    ConfigRead {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The configuration file is wrong at `line`, key `key`.
    #[error("{path}:{line}:{column}: key `{key}`: {message}")]
    Config {
        /// The file (`<inline>` for text not read from a file).
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The key at fault (empty when unknown).
        key: String,
        /// What is wrong.
        message: String,
    },
    /// The metrics endpoint could not listen.
    #[error("cannot listen on {addr} for /metrics")]
    Listen {
        /// The address.
        addr: std::net::SocketAddr,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The Home Assistant client failed.
    #[error(transparent)]
    Client(#[from] ha_client::ClientError),
}
