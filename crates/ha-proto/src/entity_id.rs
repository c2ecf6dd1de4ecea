//! `EntityId`: `<domain>.<object_id>`, validated exactly like Home Assistant's `valid_entity_id`.

use std::borrow::Borrow;
use std::fmt;
use std::sync::Arc;

use wide::u8x16;

/// A validated entity id such as `light.kitchen`.
///
/// Home Assistant's rule (`homeassistant/core.py`, `VALID_ENTITY_ID`, 2024.3):
/// `^(?!.+__)(?!_)[\da-z_]+(?<!_)\.(?!_)[\da-z_]+(?<!_)$`, that is: lowercase ASCII
/// letters, digits and `_`; exactly one `.`; neither part empty, starting or ending
/// with `_`; and no `__` anywhere.
///
/// Two deliberate differences from Python's regex semantics, where Home Assistant is looser
/// than it means to be: Python's `\d` also matches non-ASCII decimal digits (`sensor.temp_٣`)
/// and `$` also matches before a final `\n`; both are rejected here. Home Assistant's own
/// `slugify` never produces such ids.
///
/// Cloning is cheap (the text is shared).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntityId(Arc<str>);

/// An entity id that Home Assistant would reject.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid entity id {id:?}: {reason}")]
pub struct InvalidEntityId {
    /// The rejected text.
    pub id: String,
    /// Which rule it broke.
    pub reason: &'static str,
}

impl EntityId {
    /// Validates `id` and wraps it.
    pub fn new(id: &str) -> Result<Self, InvalidEntityId> {
        validate(id)?;
        Ok(EntityId(Arc::from(id)))
    }

    /// Wraps a text that [`validate`] has already accepted (an [`EntityKey`](crate::EntityKey)'s),
    /// without checking it a second time.
    pub(crate) fn from_validated(id: &str) -> Self {
        debug_assert!(validate(id).is_ok(), "{id:?} was validated");
        EntityId(Arc::from(id))
    }

    /// The entity id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the dot, e.g. `light`.
    pub fn domain(&self) -> &str {
        split(&self.0).0
    }

    /// The part after the dot, e.g. `kitchen`.
    pub fn object_id(&self) -> &str {
        split(&self.0).1
    }
}

fn split(id: &str) -> (&str, &str) {
    // Validated ids hold exactly one dot.
    id.split_once('.').unwrap_or((id, ""))
}

/// Checks `id` against Home Assistant's entity id rule without allocating.
pub fn validate(id: &str) -> Result<(), InvalidEntityId> {
    if is_valid(id.as_bytes()) {
        return Ok(());
    }
    Err(InvalidEntityId { id: id.to_owned(), reason: broken_rule(id) })
}

/// The class of each byte in an entity id: 0 not allowed, 1 a letter or digit, 2 `_`, 3 `.`.
const CLASS: [u8; 256] = {
    let mut table = [0; 256];
    let mut byte = 0;
    while byte < 256 {
        table[byte] = match byte as u8 {
            b'a'..=b'z' | b'0'..=b'9' => 1,
            b'_' => 2,
            b'.' => 3,
            _ => 0,
        };
        byte += 1;
    }
    table
};

/// The rule: a letter or digit may follow anything, `_` and `.` only a letter or digit (the start
/// counts as a `.`), and the id ends on a letter or digit after exactly one `.`. Every change
/// and every snapshot entry validates its id, so this is on the hot path: ids of up to 64 bytes
/// (nearly all) are checked sixteen bytes a step ([`is_valid_short`]), longer ones a byte at a
/// time ([`is_valid_bytewise`]).
fn is_valid(bytes: &[u8]) -> bool {
    is_valid_short(bytes).unwrap_or_else(|| is_valid_bytewise(bytes))
}

/// [`is_valid`] for an id of 1 to 64 bytes, one bit per byte in each of three masks: a letter or
/// digit, a separator (`_` or `.`), a dot. `None` for another length.
fn is_valid_short(bytes: &[u8]) -> Option<bool> {
    const MAX: usize = 64;
    if bytes.is_empty() || bytes.len() > MAX {
        return None;
    }
    // Zero bytes past the end are neither letters, digits nor separators.
    let mut padded = [0_u8; MAX];
    padded[..bytes.len()].copy_from_slice(bytes);
    let in_range =
        |v: u8x16, low: u8, high: u8| v.max(u8x16::splat(low)).simd_eq(v) & v.min(u8x16::splat(high)).simd_eq(v);
    let (mut alnum, mut separator, mut dot) = (0_u64, 0_u64, 0_u64);
    for (step, chunk) in padded.chunks_exact(16).enumerate().take(bytes.len().div_ceil(16)) {
        let v = u8x16::new(chunk.try_into().expect("sixteen bytes"));
        let dots = v.simd_eq(u8x16::splat(b'.'));
        let shift = step * 16;
        alnum |= u64::from((in_range(v, b'a', b'z') | in_range(v, b'0', b'9')).to_bitmask()) << shift;
        separator |= u64::from((dots | v.simd_eq(u8x16::splat(b'_'))).to_bitmask()) << shift;
        dot |= u64::from(dots.to_bitmask()) << shift;
    }
    let all = u64::MAX >> (MAX - bytes.len());
    let last = 1_u64 << (bytes.len() - 1);
    Some((alnum | separator) == all && separator & !(alnum << 1) == 0 && dot.count_ones() == 1 && alnum & last != 0)
}

/// [`is_valid`] in one pass over the bytes, any length.
fn is_valid_bytewise(bytes: &[u8]) -> bool {
    let mut dots = 0;
    let mut previous = 3;
    for &byte in bytes {
        let class = CLASS[usize::from(byte)];
        if class != 1 && (class == 0 || previous != 1) {
            return false;
        }
        dots += usize::from(class == 3);
        previous = class;
    }
    dots == 1 && previous == 1
}

/// Which rule an id that [`is_valid`] rejects breaks, checked in the order a reader would.
fn broken_rule(id: &str) -> &'static str {
    let Some((domain, object_id)) = id.split_once('.') else {
        return "missing '.' between domain and object id";
    };
    for (part, name) in [(domain, "domain"), (object_id, "object id")] {
        let bytes = part.as_bytes();
        let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else {
            return if name == "domain" { "empty domain" } else { "empty object id" };
        };
        if first == b'_' || last == b'_' {
            return if name == "domain" {
                "domain starts or ends with '_'"
            } else {
                "object id starts or ends with '_'"
            };
        }
        if !bytes.iter().all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_')) {
            return "only lowercase letters, digits, '_' and one '.' are allowed";
        }
    }
    if id.contains("__") {
        return "contains '__'";
    }
    unreachable!("{id:?} breaks no rule but was rejected")
}

impl fmt::Debug for EntityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for EntityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for EntityId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for EntityId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for EntityId {
    type Err = InvalidEntityId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EntityId::new(s)
    }
}

impl TryFrom<&str> for EntityId {
    type Error = InvalidEntityId;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        EntityId::new(s)
    }
}

impl PartialEq<str> for EntityId {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for EntityId {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl serde::Serialize for EntityId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for EntityId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = crate::cow::borrow(d)?;
        EntityId::new(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_short_id_over_the_rule_s_alphabet_is_judged_with_a_reason() {
        // Every text of up to 6 bytes over `a`, `0`, `_`, `.` and `A`: the one-pass check
        // accepts exactly the ids the regex does, and every rejected one has a broken rule.
        let alphabet = [b'a', b'0', b'_', b'.', b'A'];
        let mut texts = vec![Vec::new()];
        for len in 1..=6 {
            let mut index = vec![0usize; len];
            loop {
                texts.push(index.iter().map(|&i| alphabet[i]).collect::<Vec<u8>>());
                let Some(pos) = index.iter().rposition(|&i| i + 1 < alphabet.len()) else { break };
                index[pos] += 1;
                index[pos + 1..].iter_mut().for_each(|i| *i = 0);
            }
        }

        let disagreements: Vec<String> = texts
            .iter()
            .map(|t| String::from_utf8(t.clone()).unwrap())
            .filter(|t| validate(t).is_ok() != regex_accepts(t))
            .collect();

        assert_eq!(disagreements, Vec::<String>::new());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2048))]

        /// Ids of any length (both sides of each sixteen-byte step, and past 64), over the
        /// rule's alphabet and the bytes next to its ranges, are judged as the bytewise check
        /// judges them.
        #[test]
        fn the_sixteen_byte_check_judges_as_the_bytewise_one(
            body in proptest::collection::vec(
                proptest::prop_oneof![
                    40 => proptest::sample::select(b"az09az09_".to_vec()),
                    1 => proptest::sample::select(b".`{/:A\x00\xff".to_vec()),
                ],
                0..80,
            ),
            domain_len in 1_usize..20,
        ) {
            // Mostly valid-looking ids: a domain, one dot, an object id, then the noise.
            let mut id = b"sensor_living_room_temperature".repeat(3)[..domain_len].to_vec();
            id.push(b'.');
            id.extend(body);

            proptest::prop_assert_eq!(is_valid(&id), is_valid_bytewise(&id), "{:?}", String::from_utf8_lossy(&id));
        }
    }

    /// Home Assistant's regex, spelled out rule by rule.
    fn regex_accepts(id: &str) -> bool {
        let Some((domain, object_id)) = id.split_once('.') else { return false };
        let part_ok = |p: &str| {
            !p.is_empty()
                && !p.starts_with('_')
                && !p.ends_with('_')
                && p.bytes().all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_'))
        };
        part_ok(domain) && part_ok(object_id) && !id.contains("__")
    }

    #[test]
    fn accepts_ordinary_ids() {
        for id in ["light.kitchen", "sensor.power_2", "a.b", "input_boolean.x1", "1.2"] {
            assert!(EntityId::new(id).is_ok(), "{id}");
        }
    }

    #[test]
    fn rejects_ids_home_assistant_rejects() {
        let bad = [
            "",
            "light",
            "light.",
            ".kitchen",
            "Light.kitchen",
            "light.kit chen",
            "light.kitchen.extra",
            "_light.kitchen",
            "light_.kitchen",
            "light._kitchen",
            "light.kitchen_",
            "light.kit__chen",
            "lig__ht.kitchen",
            "light.küche",
        ];
        for id in bad {
            assert!(EntityId::new(id).is_err(), "{id:?} should be rejected");
        }
    }

    #[test]
    fn error_names_the_id() {
        let err = EntityId::new("Light.Kitchen").unwrap_err();

        let text = err.to_string();

        assert!(text.contains("\"Light.Kitchen\""), "{text}");
    }

    #[test]
    fn splits_domain_and_object_id() {
        let id = EntityId::new("media_player.living_room").unwrap();

        let parts = (id.domain(), id.object_id());

        assert_eq!(parts, ("media_player", "living_room"));
    }
}
