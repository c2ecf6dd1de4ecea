//! The entities with the largest attribute payloads (the recorder drops sets over 16 KiB).

/// Home Assistant's recorder drops attribute sets larger than this many bytes of JSON.
pub const RECORDER_ATTRIBUTE_LIMIT: usize = 16_384;

/// One entity with a large attribute payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    /// The entity.
    pub entity_id: String,
    /// Largest attribute JSON size seen for it, in bytes.
    pub max_bytes: usize,
    /// Whether that exceeds [`RECORDER_ATTRIBUTE_LIMIT`] (the recorder drops it).
    pub over_recorder_limit: bool,
}

/// The `capacity` entities whose attributes were the largest ever seen.
///
/// Cheap on the hot path: once full, a payload not larger than the smallest kept is rejected by one
/// comparison.
#[derive(Debug)]
pub struct LargestPayloads {
    capacity: usize,
    entries: Vec<(Box<str>, usize)>,
    min_kept: usize,
}

impl LargestPayloads {
    /// Keeps at most `capacity` entities.
    pub fn new(capacity: usize) -> Self {
        Self { capacity: capacity.max(1), entries: Vec::new(), min_kept: 0 }
    }

    /// Notes that `entity_id` has an attribute payload of `bytes` bytes of JSON.
    #[inline]
    pub fn observe(&mut self, entity_id: &str, bytes: usize) {
        if self.entries.len() == self.capacity && bytes <= self.min_kept {
            return;
        }
        if let Some(e) = self.entries.iter_mut().find(|(id, _)| &**id == entity_id) {
            e.1 = e.1.max(bytes);
        } else if self.entries.len() < self.capacity {
            self.entries.push((entity_id.into(), bytes));
        } else if let Some(min) = self.entries.iter_mut().min_by_key(|(_, b)| *b) {
            *min = (entity_id.into(), bytes);
        }
        if self.entries.len() == self.capacity {
            self.min_kept = self.entries.iter().map(|(_, b)| *b).min().unwrap_or(0);
        }
    }

    /// The kept entities, largest first.
    pub fn largest(&self) -> Vec<Payload> {
        let mut out: Vec<Payload> = self
            .entries
            .iter()
            .map(|(id, b)| Payload {
                entity_id: id.to_string(),
                max_bytes: *b,
                over_recorder_limit: *b > RECORDER_ATTRIBUTE_LIMIT,
            })
            .collect();
        out.sort_by(|a, b| b.max_bytes.cmp(&a.max_bytes).then_with(|| a.entity_id.cmp(&b.entity_id)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_largest_and_flags_those_over_the_recorder_limit() {
        let mut p = LargestPayloads::new(2);

        p.observe("sensor.small", 100);
        p.observe("sensor.huge", 20_000);
        p.observe("sensor.mid", 5_000);
        p.observe("sensor.tiny", 10);

        let got = p.largest();
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].entity_id.as_str(), got[0].over_recorder_limit), ("sensor.huge", true));
        assert_eq!((got[1].entity_id.as_str(), got[1].over_recorder_limit), ("sensor.mid", false));
    }

    #[test]
    fn same_entity_is_kept_once_with_its_maximum() {
        let mut p = LargestPayloads::new(3);

        p.observe("sensor.a", 500);
        p.observe("sensor.a", 900);
        p.observe("sensor.a", 100);

        assert_eq!(
            p.largest(),
            vec![Payload { entity_id: "sensor.a".into(), max_bytes: 900, over_recorder_limit: false }]
        );
    }
}
