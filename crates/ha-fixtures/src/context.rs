//! Context ids (ULID-like, 26 Crockford base32 characters) and the users and parents that
//! real contexts carry.

use ha_proto::{Context, Timestamp};
use rand::Rng;
use rand::seq::IndexedRandom;

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A ULID for time `at`: 10 characters of milliseconds, then 16 random characters,
/// which is what Home Assistant's `ulid_now()` gives.
pub(crate) fn ulid<R: Rng>(rng: &mut R, at: Timestamp) -> String {
    let mut ms = u64::try_from(at.as_micros().div_euclid(1000)).unwrap_or(0);
    let mut out = [b'0'; 26];
    for slot in out[..10].iter_mut().rev() {
        *slot = CROCKFORD[(ms & 31) as usize];
        ms >>= 5;
    }
    for slot in &mut out[10..] {
        *slot = CROCKFORD[rng.random_range(0..32usize)];
    }
    out.iter().map(|&b| char::from(b)).collect()
}

/// A Home Assistant user id: 32 lowercase hex characters (a uuid4 without dashes).
pub(crate) fn user_id<R: Rng>(rng: &mut R) -> String {
    format!("{:032x}", rng.random::<u128>())
}

/// Who causes changes in an install: a few users; most changes come from devices
/// (no user, no parent), some from automations (a parent context).
#[derive(Debug, Clone)]
pub(crate) struct Actors {
    users: Vec<String>,
}

impl Actors {
    /// Two to five users.
    pub(crate) fn new<R: Rng>(rng: &mut R) -> Self {
        let n = rng.random_range(2..=5);
        Actors { users: (0..n).map(|_| user_id(rng)).collect() }
    }

    /// The users' ids.
    pub(crate) fn users(&self) -> &[String] {
        &self.users
    }

    /// A context at time `at`: about 8 % carry a user (someone pressed a button), about
    /// 12 % a parent (an automation acted), the rest neither (a device reported).
    pub(crate) fn context<R: Rng>(&self, rng: &mut R, at: Timestamp) -> Context {
        let id = ulid(rng, at);
        let roll = rng.random_range(0..100u32);
        let user_id = (roll < 8).then(|| self.users.choose(rng).cloned()).flatten();
        let parent_id = (8..20).contains(&roll).then(|| ulid(rng, Timestamp::from_micros(at.as_micros() - 1_500)));
        Context { id, parent_id, user_id }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    #[test]
    fn ulid_has_26_crockford_chars_and_encodes_the_time() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let at = Timestamp::from_micros(1_683_832_716_072_648);

        let id = ulid(&mut rng, at);

        assert_eq!(id.len(), 26);
        assert!(id.bytes().all(|b| CROCKFORD.contains(&b)), "{id}");
        // 1683832716072 ms, as in Home Assistant's example context 01H0640ES8...
        assert_eq!(&id[..10], "01H0640ES8");
    }
}
