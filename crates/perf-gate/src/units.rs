//! How the gate writes numbers, in one place: counts with thousands separators, times scaled to
//! ns/µs/ms/s, bytes exact or in MiB. Reports, charts, bisect and release messages all use it.

use crate::schema::Metric;

/// A count with thousands separators, rounded to a whole number: `46,006,873`.
pub fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if value < 0.0 { format!("-{out}") } else { out }
}

/// A value in its metric's natural unit: counts with separators, time scaled, bytes exact or in MiB.
pub fn format_value(metric: Metric, value: f64) -> String {
    match metric {
        Metric::WallNs if value >= 1e9 => format!("{:.3} s", value / 1e9),
        Metric::WallNs if value >= 1e6 => format!("{:.3} ms", value / 1e6),
        Metric::WallNs if value >= 1e3 => format!("{:.2} µs", value / 1e3),
        Metric::WallNs => format!("{value:.1} ns"),
        Metric::HeapTotalBytes | Metric::HeapMaxBytes if value >= 1024.0 * 1024.0 => {
            format!("{:.2} MiB", value / (1024.0 * 1024.0))
        }
        Metric::HeapTotalBytes | Metric::HeapMaxBytes => format!("{} B", thousands(value)),
        Metric::Instructions | Metric::EstimatedCycles | Metric::HeapTotalBlocks => thousands(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_value_uses_natural_units() {
        let cases = [
            (Metric::Instructions, 46_006_873.0),
            (Metric::WallNs, 31_407.7),
            (Metric::HeapMaxBytes, 1600.0),
            (Metric::HeapMaxBytes, 3.0 * 1048576.0),
        ];

        let texts: Vec<String> = cases.iter().map(|(m, v)| format_value(*m, *v)).collect();

        assert_eq!(texts, ["46,006,873", "31.41 µs", "1,600 B", "3.00 MiB"]);
    }
}
