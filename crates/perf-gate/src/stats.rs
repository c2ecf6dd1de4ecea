//! Small statistics used by the gate: mean with a Student-t confidence interval, and relative spread.

use crate::schema::Interval;

/// Mean, 95% confidence interval of the mean, and sample count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Arithmetic mean.
    pub mean: f64,
    /// 95% confidence interval of the mean.
    pub ci: Interval,
    /// Number of values.
    pub n: u64,
}

/// Two-sided 97.5% quantile of Student's t distribution for `df` degrees of freedom.
fn t_quantile_975(df: u64) -> f64 {
    // Standard table values; beyond 30 degrees of freedom the normal quantile is close enough.
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::INFINITY,
        1..=30 => TABLE[(df - 1) as usize],
        _ => 1.96,
    }
}

/// Mean and 95% confidence interval of `values`; `None` when empty or not finite.
pub fn summarise(values: &[f64]) -> Option<Summary> {
    if values.is_empty() || values.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let half = if values.len() < 2 {
        0.0
    } else {
        let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
        t_quantile_975(values.len() as u64 - 1) * (variance / n).sqrt()
    };
    Some(Summary { mean, ci: Interval { lower: mean - half, upper: mean + half }, n: values.len() as u64 })
}

/// Median of `values` (mean of the middle two for an even count); `None` when empty or not finite.
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() || values.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    Some(if sorted.len() % 2 == 1 { sorted[mid] } else { (sorted[mid - 1] + sorted[mid]) / 2.0 })
}

/// Relative spread of repeated measurements: (max - min) / min, 0 for fewer than two values.
pub fn relative_spread(values: &[f64]) -> f64 {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if values.len() < 2 || min <= 0.0 { 0.0 } else { (max - min) / min }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summarise_gives_mean_and_symmetric_interval() {
        let values = [10.0, 12.0, 14.0];

        let summary = summarise(&values).unwrap();

        // sd = 2, se = 2/sqrt(3), t(2) = 4.303
        let half = 4.303 * 2.0 / 3f64.sqrt();
        assert_eq!(summary.mean, 12.0);
        assert!((summary.ci.lower - (12.0 - half)).abs() < 1e-9);
        assert!((summary.ci.upper - (12.0 + half)).abs() < 1e-9);
        assert_eq!(summary.n, 3);
    }

    #[test]
    fn summarise_rejects_empty_and_non_finite_input() {
        let empty: [f64; 0] = [];

        let results = (summarise(&empty), summarise(&[1.0, f64::NAN]));

        assert_eq!(results, (None, None));
    }

    #[test]
    fn median_of_even_count_is_the_mean_of_the_middle_two() {
        let values = [4.0, 1.0, 3.0, 100.0];

        let middle = median(&values);

        assert_eq!(middle, Some(3.5));
    }

    #[test]
    fn relative_spread_is_range_over_minimum() {
        let values = [100.0, 101.0, 100.5];

        let spread = relative_spread(&values);

        assert!((spread - 0.01).abs() < 1e-12);
    }
}
