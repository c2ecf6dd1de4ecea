//! Dates without a clock: the gate never reads the time itself; callers pass seconds since the epoch.

/// RFC 3339 UTC date for seconds since the Unix epoch (pure; civil-from-days algorithm).
pub fn rfc3339_utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_of_known_instants() {
        let instants = [0, 951_782_400, 1_795_737_600 + 3_661];

        let dates: Vec<String> = instants.iter().map(|s| rfc3339_utc(*s)).collect();

        assert_eq!(dates, ["1970-01-01T00:00:00Z", "2000-02-29T00:00:00Z", "2026-11-27T01:01:01Z"]);
    }
}
