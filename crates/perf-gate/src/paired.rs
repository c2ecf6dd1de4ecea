//! Paired statistics for interleaved A/B wall-clock runs (pure): each round of an A/B run yields
//! one head/base ratio per benchmark, and a benchmark's verdict comes from those ratios alone.
//!
//! The test is Wilcoxon's signed-rank test on the log-ratios, with the exact null distribution
//! (no normal approximation below 64 rounds), and the estimate is its companion, the
//! Hodges–Lehmann pseudo-median of the Walsh averages with its distribution-free confidence
//! interval. Both assume only that a round's log-ratio is symmetric around the true change, which
//! ABBA ordering (base first in one round, head first in the next) is there to make true. Many
//! benchmarks are tested at once, so the first pass controls the false discovery rate with
//! Benjamini–Hochberg; see docs/benchmarking.md.

/// The exact null distribution of the signed-rank statistic T+ for `n` ranks: `P(T+ <= t)` for
/// `t = 0 ..= n(n+1)/2`.
fn signed_rank_cdf(n: usize) -> Vec<f64> {
    let max = n * (n + 1) / 2;
    // Probabilities rather than counts: 2^n overflows every integer type past 127 rounds.
    let mut density = vec![0.0_f64; max + 1];
    density[0] = 1.0;
    for rank in 1..=n {
        for t in (rank..=max).rev() {
            density[t] = 0.5 * density[t] + 0.5 * density[t - rank];
        }
        for value in density.iter_mut().take(rank) {
            *value *= 0.5;
        }
    }
    density
        .iter()
        .scan(0.0, |acc, p| {
            *acc += p;
            Some(acc.min(1.0))
        })
        .collect()
}

/// Ranks 1..=n of `values` by absolute value (ties get the average of their ranks).
fn abs_ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].abs().total_cmp(&values[b].abs()));
    let mut ranks = vec![0.0; values.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && values[order[j + 1]].abs() == values[order[i]].abs() {
            j += 1;
        }
        let average = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            ranks[k] = average;
        }
        i = j + 1;
    }
    ranks
}

/// One-sided p-value of the signed-rank test that the centre of `values` lies above `shift`
/// (H0: centre <= shift). Values equal to `shift` are dropped, as in Wilcoxon's test; with none
/// left the p-value is 1.
pub fn p_above(values: &[f64], shift: f64) -> f64 {
    let diffs: Vec<f64> = values.iter().map(|v| v - shift).filter(|d| *d != 0.0).collect();
    if diffs.is_empty() {
        return 1.0;
    }
    let ranks = abs_ranks(&diffs);
    let t_plus: f64 = diffs.iter().zip(&ranks).filter(|(d, _)| **d > 0.0).map(|(_, r)| r).sum();
    let cdf = signed_rank_cdf(diffs.len());
    // P(T+ >= t) = 1 - P(T+ <= ceil(t) - 1); average ranks can make t a half-integer.
    let t = t_plus.ceil() as usize;
    if t == 0 { 1.0 } else { (1.0 - cdf[t - 1]).clamp(0.0, 1.0) }
}

/// A paired estimate of a change, on the log scale of head/base ratios.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// Rounds behind it.
    pub n: usize,
    /// Hodges–Lehmann pseudo-median of the log-ratios.
    pub log_change: f64,
    /// Its confidence interval (log scale); infinite bounds when there are too few rounds.
    pub log_ci: (f64, f64),
}

impl Estimate {
    /// The change as a relative figure (head / base - 1).
    pub fn change(&self) -> f64 {
        self.log_change.exp_m1()
    }

    /// The interval as relative figures.
    pub fn ci(&self) -> (f64, f64) {
        (self.log_ci.0.exp_m1(), self.log_ci.1.exp_m1())
    }
}

/// Hodges–Lehmann estimate of the centre of `values` with a `confidence` (e.g. 0.95) two-sided
/// interval from the order statistics of the Walsh averages; `None` for no values or non-finite ones.
pub fn hodges_lehmann(values: &[f64], confidence: f64) -> Option<Estimate> {
    let n = values.len();
    if n == 0 || values.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let mut walsh = Vec::with_capacity(n * (n + 1) / 2);
    for i in 0..n {
        for j in i..n {
            walsh.push((values[i] + values[j]) / 2.0);
        }
    }
    walsh.sort_by(f64::total_cmp);
    let m = walsh.len();
    let median = if m % 2 == 1 { walsh[m / 2] } else { (walsh[m / 2 - 1] + walsh[m / 2]) / 2.0 };
    // k = 1 + the largest t with P(T+ <= t) <= alpha/2: the interval is [W(k), W(m + 1 - k)].
    let alpha_half = (1.0 - confidence) / 2.0;
    let cdf = signed_rank_cdf(n);
    let below = cdf.iter().take_while(|p| **p <= alpha_half).count();
    let log_ci = if below == 0 || below > m / 2 {
        (f64::NEG_INFINITY, f64::INFINITY)
    } else {
        (walsh[below - 1], walsh[m - below])
    };
    Some(Estimate { n, log_change: median, log_ci })
}

/// Benjamini–Hochberg: which of `p_values` are discoveries at false discovery rate `q`.
pub fn benjamini_hochberg(p_values: &[f64], q: f64) -> Vec<bool> {
    let m = p_values.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p_values[a].total_cmp(&p_values[b]));
    let cutoff = order
        .iter()
        .enumerate()
        .filter(|(rank, i)| p_values[**i] <= (*rank + 1) as f64 * q / m as f64)
        .map(|(rank, _)| rank + 1)
        .max()
        .unwrap_or(0);
    let mut out = vec![false; m];
    for &i in &order[..cutoff] {
        out[i] = true;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_distribution_of_three_ranks_matches_enumeration() {
        // Subsets of {1,2,3}: sums 0,1,2,3,3,4,5,6 -> P(T+ <= t) in eighths.
        let expected = [1.0, 2.0, 3.0, 5.0, 6.0, 7.0, 8.0].map(|c| c / 8.0);

        let cdf = signed_rank_cdf(3);

        assert_eq!(cdf.len(), expected.len());
        for (got, want) in cdf.iter().zip(expected) {
            assert!((got - want).abs() < 1e-12, "{cdf:?}");
        }
    }

    #[test]
    fn all_rounds_above_the_shift_give_the_smallest_p_value() {
        let values = [0.06, 0.05, 0.07, 0.055, 0.065, 0.052, 0.058, 0.061, 0.049, 0.063];

        let p = p_above(&values, 0.02);

        assert!((p - 1.0 / 1024.0).abs() < 1e-12, "{p}");
    }

    #[test]
    fn rounds_centred_on_the_shift_are_not_significant() {
        let values = [0.01, -0.01, 0.02, -0.02, 0.005, -0.005, 0.015, -0.015, 0.0, 0.001];

        let p = p_above(&values, 0.0);

        assert!(p > 0.3, "{p}");
    }

    #[test]
    fn hodges_lehmann_of_symmetric_values_is_their_centre_inside_its_interval() {
        let values: Vec<f64> = (-5..=5).map(|i| 0.05 + 0.002 * f64::from(i)).collect();

        let estimate = hodges_lehmann(&values, 0.95).unwrap();

        assert!((estimate.log_change - 0.05).abs() < 1e-12, "{estimate:?}");
        assert!(estimate.log_ci.0 < estimate.log_change && estimate.log_change < estimate.log_ci.1, "{estimate:?}");
    }

    #[test]
    fn ten_rounds_use_the_ninth_walsh_average_as_lower_bound() {
        // n = 10: P(T+ <= 8) = 0.0244 <= 0.025 < P(T+ <= 9), so the 95% interval is [W(9), W(47)].
        let values: Vec<f64> = (1..=10).map(f64::from).collect();
        let mut walsh = Vec::new();
        for i in 0..10 {
            for j in i..10 {
                walsh.push((values[i] + values[j]) / 2.0);
            }
        }
        walsh.sort_by(f64::total_cmp);

        let estimate = hodges_lehmann(&values, 0.95).unwrap();

        assert_eq!(estimate.log_ci, (walsh[8], walsh[46]));
    }

    #[test]
    fn five_rounds_are_too_few_for_a_95_percent_interval() {
        let values = [0.1, 0.2, 0.3, 0.4, 0.5];

        let estimate = hodges_lehmann(&values, 0.95).unwrap();

        assert_eq!(estimate.log_ci, (f64::NEG_INFINITY, f64::INFINITY));
    }

    #[test]
    fn benjamini_hochberg_keeps_the_step_up_cutoff() {
        // m = 5, q = 0.05: thresholds 0.01 .. 0.05; sorted p = 0.001, 0.025, 0.03, 0.04, 0.5. The second
        // misses its threshold (0.02), but the largest k with p(k) <= k q / m is 4, so all four below go.
        let p = [0.04, 0.001, 0.5, 0.025, 0.03];

        let discoveries = benjamini_hochberg(&p, 0.05);

        assert_eq!(discoveries, [true, true, false, true, true]);
    }

    #[test]
    fn benjamini_hochberg_rejects_nothing_above_the_first_threshold() {
        let p = [0.02, 0.04, 0.06];

        let discoveries = benjamini_hochberg(&p, 0.05);

        assert_eq!(discoveries, [false, false, false]);
    }
}
