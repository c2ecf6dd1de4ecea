//! The self-contained HTML trend page of `cargo xtask perf history --html` (being written).

use anyhow::Result;

use super::Point;

/// Renders the trend page of `points` (oldest first).
pub(crate) fn render(points: &[Point], title: &str) -> Result<String> {
    anyhow::bail!("the HTML trend page is not built yet ({} points, {title})", points.len())
}
