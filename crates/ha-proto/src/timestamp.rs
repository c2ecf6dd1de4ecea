//! `Timestamp`: an instant with microsecond precision, read from Home Assistant's two
//! encodings (ISO 8601 strings in full states, epoch-second floats in compressed states).

use std::fmt;

/// Microseconds since 1970-01-01T00:00:00Z.
///
/// Home Assistant keeps `datetime` values with microsecond precision, so this is exact
/// for both encodings it uses: ISO strings (`2024-03-20T10:00:00.123456+00:00`) and
/// epoch floats (`1683832716.072648`, rounded to the nearest microsecond).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Timestamp(i64);

/// A timestamp text or number that is not a valid instant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid timestamp {value:?}: {reason}")]
pub struct InvalidTimestamp {
    /// The rejected input, as text.
    pub value: String,
    /// What was wrong with it.
    pub reason: &'static str,
}

// Years 1..=9999, as Python's datetime allows.
const MIN_MICROS: i64 = -62_135_596_800_000_000;
const MAX_MICROS: i64 = 253_402_300_799_999_999;

impl Timestamp {
    /// From microseconds since the Unix epoch.
    pub const fn from_micros(micros: i64) -> Self {
        Timestamp(micros)
    }

    /// Microseconds since the Unix epoch.
    pub const fn as_micros(self) -> i64 {
        self.0
    }

    /// From epoch seconds as Home Assistant's compressed states send them.
    ///
    /// Exact to the microsecond while the float's ulp stays below one microsecond, that is
    /// for |secs| < 2^33 (years 1698 to 2242); Home Assistant's floats share that limit.
    pub fn from_epoch_secs(secs: f64) -> Result<Self, InvalidTimestamp> {
        // Scale only the fraction: `secs * 1e6` rounds once more, which after 2^32 s
        // (year 2106) is enough to land on the neighbouring microsecond.
        let whole = secs.trunc();
        let micros = whole * 1e6 + ((secs - whole) * 1e6).round();
        // Compare as integers: MAX_MICROS as f64 rounds up to year 10000. `as` saturates,
        // so huge values land outside the range too.
        if !micros.is_finite() || !(MIN_MICROS..=MAX_MICROS).contains(&(micros as i64)) {
            return Err(InvalidTimestamp { value: secs.to_string(), reason: "out of range" });
        }
        Ok(Timestamp(micros as i64))
    }

    /// Epoch seconds, the compressed-state encoding.
    pub fn as_epoch_secs(self) -> f64 {
        self.0 as f64 / 1e6
    }

    /// Parses ISO 8601 as Home Assistant writes it (`YYYY-MM-DDTHH:MM:SS[.ffffff][+HH:MM|Z]`).
    /// A missing offset means UTC; fractions beyond microseconds are truncated.
    pub fn parse_iso(text: &str) -> Result<Self, InvalidTimestamp> {
        parse_iso(text.as_bytes())
            .and_then(|m| (MIN_MICROS..=MAX_MICROS).contains(&m).then_some(m).ok_or("out of range"))
            .map(Timestamp)
            .map_err(|reason| InvalidTimestamp { value: text.to_owned(), reason })
    }

    /// [`parse_iso`](Self::parse_iso) for the one form Home Assistant writes every timestamp in,
    /// `YYYY-MM-DDTHH:MM:SS.ffffff+HH:MM` (32 bytes); `None` for any other text, valid or not.
    /// What it accepts is digits and separators only (no quote, backslash or control
    /// character), so a scanner that finds a quote right after the 32 bytes has found the
    /// string's end without searching for it.
    pub(crate) fn parse_home_assistants(b: &[u8; 32]) -> Option<Self> {
        parse_home_assistants_iso(b).filter(|m| (MIN_MICROS..=MAX_MICROS).contains(m)).map(Timestamp)
    }

    /// Difference `self - earlier` in microseconds.
    pub const fn micros_since(self, earlier: Timestamp) -> i64 {
        self.0 - earlier.0
    }
}

fn digits(b: &[u8], at: usize, n: usize) -> Result<i64, &'static str> {
    let part = b.get(at..at + n).ok_or("too short")?;
    part.iter().try_fold(0i64, |acc, &c| {
        if c.is_ascii_digit() { Ok(acc * 10 + i64::from(c - b'0')) } else { Err("expected a digit") }
    })
}

fn expect(b: &[u8], at: usize, c: u8) -> Result<(), &'static str> {
    if b.get(at) == Some(&c) { Ok(()) } else { Err("unexpected separator") }
}

fn parse_iso(b: &[u8]) -> Result<i64, &'static str> {
    if let Some(micros) = b.as_array::<32>().and_then(parse_home_assistants_iso) {
        return Ok(micros);
    }
    parse_any_iso(b)
}

/// The form Home Assistant writes every timestamp in, `YYYY-MM-DDTHH:MM:SS.ffffff+HH:MM` (32
/// bytes), read at fixed places; `None` for any other text, valid or not ([`parse_any_iso`] then
/// decides). Whatever it reads, it reads as [`parse_any_iso`] does, with the same checks.
fn parse_home_assistants_iso(b: &[u8; 32]) -> Option<i64> {
    const SEPARATORS: [(usize, u8); 7] =
        [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':'), (19, b'.'), (29, b':')];
    if SEPARATORS.iter().any(|&(at, c)| b[at] != c) {
        return None;
    }
    let number = |from: usize, len: usize| {
        b[from..from + len].iter().try_fold(0_i64, |acc, &c| {
            let digit = c.wrapping_sub(b'0');
            (digit <= 9).then_some(acc * 10 + i64::from(digit))
        })
    };
    let (year, month, day) = (number(0, 4)?, number(5, 2)?, number(8, 2)?);
    let (hour, minute, second, micros) = (number(11, 2)?, number(14, 2)?, number(17, 2)?, number(20, 6)?);
    let (offset_hours, offset_minutes) = (number(27, 2)?, number(30, 2)?);
    let valid = (1..=12).contains(&month)
        && (1..=days_in_month(year, month)).contains(&day)
        && hour <= 23
        && minute <= 59
        && second <= 59
        && offset_hours <= 23
        && offset_minutes <= 59;
    let offset_secs = offset_hours * 3600 + offset_minutes * 60;
    let offset_secs = match b[26] {
        b'+' => offset_secs,
        b'-' => -offset_secs,
        _ => return None,
    };
    let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
    valid.then_some(secs * 1_000_000 + micros)
}

/// Any ISO 8601 timestamp of the forms [`Timestamp::parse_iso`] reads.
fn parse_any_iso(b: &[u8]) -> Result<i64, &'static str> {
    let year = digits(b, 0, 4)?;
    expect(b, 4, b'-')?;
    let month = digits(b, 5, 2)?;
    expect(b, 7, b'-')?;
    let day = digits(b, 8, 2)?;
    if !matches!(b.get(10), Some(b'T' | b't' | b' ')) {
        return Err("expected 'T' between date and time");
    }
    let hour = digits(b, 11, 2)?;
    expect(b, 13, b':')?;
    let minute = digits(b, 14, 2)?;
    expect(b, 16, b':')?;
    let second = digits(b, 17, 2)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err("no such date");
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err("no such time of day");
    }
    let mut at = 19;
    let mut micros = 0i64;
    if b.get(at) == Some(&b'.') {
        at += 1;
        let start = at;
        while b.get(at).is_some_and(u8::is_ascii_digit) {
            if at - start < 6 {
                micros = micros * 10 + i64::from(b[at] - b'0');
            }
            at += 1;
        }
        let n = at - start;
        if n == 0 {
            return Err("empty fraction of a second");
        }
        for _ in n..6 {
            micros *= 10;
        }
    }
    let offset_secs = match b.get(at) {
        None => 0,
        Some(b'Z' | b'z') if at + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) => {
            let oh = digits(b, at + 1, 2)?;
            let (om, end) = if b.get(at + 3) == Some(&b':') {
                (digits(b, at + 4, 2)?, at + 6)
            } else {
                (digits(b, at + 3, 2)?, at + 5)
            };
            if end != b.len() || oh > 23 || om > 59 {
                return Err("invalid UTC offset");
            }
            let secs = oh * 3600 + om * 60;
            if sign == b'+' { secs } else { -secs }
        }
        Some(_) => return Err("unexpected text after the time"),
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
    Ok(secs * 1_000_000 + micros)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's days_from_civil: days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { yoe + era * 400 + 1 } else { yoe + era * 400 }, m, d)
}

/// Formats like Python's `datetime.isoformat()` on a UTC datetime, which is what Home
/// Assistant sends: the fraction is left out when it is zero.
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.div_euclid(1_000_000);
        let micros = self.0.rem_euclid(1_000_000);
        let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
        let sod = secs.rem_euclid(86_400);
        write!(f, "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}", sod / 3600, sod / 60 % 60, sod % 60)?;
        if micros != 0 {
            write!(f, ".{micros:06}")?;
        }
        f.write_str("+00:00")
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Serialises as an ISO string (full states); deserialises from an ISO string or epoch seconds.
impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TimestampVisitor)
    }
}

struct TimestampVisitor;

impl serde::de::Visitor<'_> for TimestampVisitor {
    type Value = Timestamp;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an ISO 8601 timestamp or epoch seconds")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Timestamp, E> {
        Timestamp::parse_iso(v).map_err(E::custom)
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Timestamp, E> {
        Timestamp::from_epoch_secs(v).map_err(E::custom)
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Timestamp, E> {
        self.visit_f64(v as f64)
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Timestamp, E> {
        self.visit_f64(v as f64)
    }
}

/// `#[serde(with = "epoch_secs")]`: the compressed-state encoding (a float).
pub mod epoch_secs {
    use super::Timestamp;

    /// Writes epoch seconds.
    pub fn serialize<S: serde::Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(t.as_epoch_secs())
    }

    /// Reads epoch seconds (or, leniently, an ISO string).
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        serde::Deserialize::deserialize(d)
    }

    /// The same for `Option<Timestamp>` fields.
    pub mod option {
        use super::Timestamp;

        /// Writes epoch seconds or null.
        pub fn serialize<S: serde::Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => s.serialize_f64(t.as_epoch_secs()),
                None => s.serialize_none(),
            }
        }

        /// Reads epoch seconds (or an ISO string), or null.
        pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
            serde::Deserialize::deserialize(d)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4096))]

        /// Home Assistant's form, valid or made invalid at any byte, reads as the general parser
        /// reads it.
        #[test]
        fn home_assistants_form_reads_as_any_form_does(
            micros in -62_135_596_800_000_000_i64..253_402_300_799_999_999,
            offset_minutes in -1439_i64..=1439,
            at in 0_usize..32,
            byte in proptest::sample::select(b"0123456789-+:.Tt Zz\xff\"\\\x01".to_vec()),
            mutate: bool,
        ) {
            let sign = if offset_minutes < 0 { '-' } else { '+' };
            let local = Timestamp(micros + offset_minutes * 60_000_000).to_string();
            let mut text = format!("{}.{:06}{sign}{:02}:{:02}", &local[..19], micros.rem_euclid(1_000_000), offset_minutes.abs() / 60, offset_minutes.abs() % 60).into_bytes();
            if mutate {
                text[at] = byte;
            }
            let fixed: &[u8; 32] = text.as_slice().try_into().expect("32 bytes");

            let fast = parse_home_assistants_iso(fixed);

            let any = parse_any_iso(&text);
            proptest::prop_assert!(fast.is_none() || fast == any.ok(), "{:?}: {fast:?} vs {any:?}", String::from_utf8_lossy(&text));
            if !mutate {
                proptest::prop_assert_eq!(fast, Some(micros));
            }
        }
    }

    #[test]
    fn parses_home_assistant_iso_format() {
        let text = "2024-03-20T10:00:00.123456+00:00";

        let t = Timestamp::parse_iso(text).unwrap();

        assert_eq!(t.as_micros(), 1_710_928_800_123_456);
    }

    #[test]
    fn formats_like_python_isoformat() {
        let with_fraction = Timestamp::from_micros(1_710_928_800_123_456);
        let whole = Timestamp::from_micros(1_710_928_800_000_000);

        let texts = (with_fraction.to_string(), whole.to_string());

        assert_eq!(texts.0, "2024-03-20T10:00:00.123456+00:00");
        assert_eq!(texts.1, "2024-03-20T10:00:00+00:00");
    }

    #[test]
    fn offsets_are_converted_to_utc() {
        let t = Timestamp::parse_iso("2024-03-20T12:00:00+02:00").unwrap();

        assert_eq!(t.to_string(), "2024-03-20T10:00:00+00:00");
    }

    #[test]
    fn epoch_float_and_iso_agree() {
        let from_float = Timestamp::from_epoch_secs(1_683_832_716.072_648).unwrap();

        let from_iso = Timestamp::parse_iso("2023-05-11T19:18:36.072648+00:00").unwrap();

        assert_eq!(from_float, from_iso);
    }

    #[test]
    fn rejects_malformed_text_without_panicking() {
        for bad in [
            "",
            "2024",
            "2024-13-01T00:00:00",
            "2024-02-30T00:00:00",
            "2024-03-20T10:00:00.",
            "2024-03-20T10:00:00+0",
            "2024-03-20T25:00:00",
            "2024-03-20T10:00:00x",
        ] {
            assert!(Timestamp::parse_iso(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn rejects_non_finite_epoch() {
        assert!(Timestamp::from_epoch_secs(f64::NAN).is_err());
    }

    #[test]
    fn epoch_seconds_keep_microseconds_after_2106() {
        let t = Timestamp::parse_iso("2106-02-07T11:19:38.687347+00:00").unwrap();

        let back = Timestamp::from_epoch_secs(t.as_epoch_secs()).unwrap();

        assert_eq!(back, t);
    }

    #[test]
    fn rejects_epoch_seconds_past_year_9999() {
        let first_second_of_year_10000 = 253_402_300_800.0;

        let result = Timestamp::from_epoch_secs(first_second_of_year_10000);

        assert!(result.is_err(), "{result:?}");
    }

    #[test]
    fn accepts_last_second_of_year_9999() {
        let t = Timestamp::from_epoch_secs(253_402_300_799.0).unwrap();

        assert_eq!(t.to_string(), "9999-12-31T23:59:59+00:00");
    }

    #[test]
    fn civil_round_trip_over_wide_range() {
        for days in (-719_162..2_932_896).step_by(997) {
            let (y, m, d) = civil_from_days(days);

            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
