//! `--shard i/n`: which bench targets one CI job runs. Targets are the unit (one process each);
//! they are dealt round-robin in a stable order so every shard gets a mix of suites.

use std::fmt;
use std::str::FromStr;

use crate::schema::Target;

/// Shard `index` (1-based) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 1-based index.
    pub index: usize,
    /// Number of shards.
    pub count: usize,
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Shard, String> {
        let (i, n) = text.split_once('/').ok_or_else(|| format!("shard `{text}` is not `i/n`"))?;
        let index: usize = i.trim().parse().map_err(|_| format!("shard index `{i}` is not a number"))?;
        let count: usize = n.trim().parse().map_err(|_| format!("shard count `{n}` is not a number"))?;
        if count == 0 || index == 0 || index > count {
            return Err(format!("shard `{text}` needs 1 <= i <= n"));
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// This shard's targets out of all `targets` (given in the workspace's sorted order).
    pub fn select(self, targets: &[Target]) -> Vec<Target> {
        targets.iter().enumerate().filter(|(k, _)| k % self.count == self.index - 1).map(|(_, t)| t.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Suite;

    fn targets() -> Vec<Target> {
        ["instr_a", "heap_a", "heap_b", "wall_a", "wall_b"]
            .iter()
            .map(|n| Target { suite: Suite::of_target(n).unwrap(), name: (*n).to_owned() })
            .collect()
    }

    #[test]
    fn shards_partition_the_targets() {
        let all = targets();

        let (one, two) = ("1/2".parse::<Shard>().unwrap().select(&all), "2/2".parse::<Shard>().unwrap().select(&all));

        let names = |v: &[Target]| v.iter().map(|t| t.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&one), ["instr_a", "heap_b", "wall_b"]);
        assert_eq!(names(&two), ["heap_a", "wall_a"]);
    }

    #[test]
    fn malformed_shards_are_rejected() {
        let texts = ["0/2", "3/2", "1/0", "a/2", "12"];

        let parsed: Vec<bool> = texts.iter().map(|t| t.parse::<Shard>().is_ok()).collect();

        assert_eq!(parsed, [false; 5]);
    }
}
