//! The one error type of ha-monitor.

/// What can go wrong in ha-monitor: configuration mistakes and unreadable procfs files.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MonitorError {
    /// An alert configuration could not be used; `line` and `column` are 1-based.
    #[error("alert config line {line} column {column}, key `{key}`: {message}")]
    Config {
        /// 1-based line of the offending text.
        line: usize,
        /// 1-based column (in characters) of the offending text.
        column: usize,
        /// The key whose value is wrong, e.g. `for` or `rule[2].threshold`; empty when unknown.
        key: String,
        /// What was wrong.
        message: String,
    },
    /// A procfs file did not have the expected shape.
    #[error("unexpected content in {file}: {message}")]
    Procfs {
        /// Which file, e.g. `/proc/self/stat`.
        file: &'static str,
        /// What was missing or malformed.
        message: String,
    },
    /// A procfs file could not be read.
    #[error("cannot read {file}")]
    Io {
        /// Which file.
        file: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}
