//! `cargo xtask perf history`: the trend over recorded runs and every commit that changed the
//! baselines, as a terminal overview, one benchmark's table, or the self-contained HTML page.

use anyhow::{Context, Result};

use super::ctx::Ctx;
use super::{history, schema};
use crate::cli::{HistoryArgs, usage};
use crate::git;

/// `perf history`: merge the recorded runs with the baselines' git log, then print or render.
pub(crate) fn run(ctx: &Ctx, args: &HistoryArgs) -> Result<u8> {
    let metric = match &args.metric {
        Some(name) => Some(schema::Metric::from_name(name).ok_or_else(|| {
            let known: Vec<&str> = schema::Metric::ALL.iter().map(|m| m.name()).collect();
            usage(format!("unknown metric `{name}` (one of {})", known.join(", ")))
        })?),
        None => None,
    };
    let recorded = history::read(&ctx.history)?;
    let rebuilt = if args.no_git {
        Vec::new()
    } else {
        history::rebuild(git::baseline_commits(&ctx.sh, &ctx.ws.root, &ctx.baselines)?, &ctx.config)
    };
    let (n_recorded, n_rebuilt) = (recorded.len(), rebuilt.len());
    let points = history::merge(recorded, rebuilt);
    eprintln!(
        "perf history: {} point(s): {n_recorded} recorded in {}, {n_rebuilt} rebuilt from the git log of {}",
        points.len(),
        ctx.history.display(),
        ctx.baselines.display()
    );
    if let Some(path) = &args.write {
        let text: String = points.iter().map(history::to_line).collect::<Result<_>>()?;
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    if let Some(path) = &args.html {
        let page = history::html::render(&points, "hapulse performance history")?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(path, page).with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    match &args.bench {
        Some(id) => {
            let table = history::text::bench_table(&points, id, metric).map_err(|e| usage(format!("{e:#}")))?;
            print!("{table}");
        }
        None if args.html.is_none() && args.write.is_none() => print!("{}", history::text::overview(&points, metric)),
        None => {}
    }
    Ok(0)
}
