//! `cargo xtask ha-conformance`: ha-client against a real Home Assistant (not built yet; see issue 4).

/// Options of `cargo xtask ha-conformance`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

pub(crate) fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("the real Home Assistant conformance run is not built yet (issue 4)")
}
