//! Pseudonymisation at the door of the lake: a citizen id becomes a keyed hash and a
//! birth year an age band. Names and phone numbers are never read at all.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Keyed hashing of citizen ids with the data dir's key (HMAC-SHA256).
#[derive(Clone)]
pub struct Pseudonymiser {
    mac: Hmac<Sha256>,
}

impl Pseudonymiser {
    pub fn new(key: &[u8; 32]) -> Self {
        Pseudonymiser { mac: Hmac::new_from_slice(key).expect("HMAC takes keys of any length") }
    }

    /// The first 64 bits of HMAC-SHA256(key, "citizen:" || id). Without the key the
    /// id cannot be recovered nor the hash recomputed from a guessed id; 64 bits keep
    /// the lake's joins and distinct counts on integers, and the chance that two of
    /// 100 million citizens share a key is below 3 in 10,000.
    pub fn citizen_key(&self, id: i64) -> i64 {
        let mut mac = self.mac.clone();
        mac.update(b"citizen:");
        mac.update(&id.to_be_bytes());
        let out = mac.finalize().into_bytes();
        i64::from_be_bytes(out[..8].try_into().expect("32-byte output"))
    }
}

/// The age band of someone born in `birth_year`, in `year`.
pub fn age_band(birth_year: i64, year: i64) -> &'static str {
    match year - birth_year {
        i64::MIN..=4 => "0-4",
        5..=14 => "5-14",
        15..=24 => "15-24",
        25..=49 => "25-49",
        50..=64 => "50-64",
        _ => "65+",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_and_stable() {
        let a = Pseudonymiser::new(&[1; 32]);
        let b = Pseudonymiser::new(&[2; 32]);
        assert_eq!(a.citizen_key(42), a.citizen_key(42));
        assert_ne!(a.citizen_key(42), a.citizen_key(43));
        assert_ne!(a.citizen_key(42), b.citizen_key(42));
    }

    #[test]
    fn bands_at_their_edges() {
        let band = |age: i64| age_band(2000, 2000 + age);
        assert_eq!([band(0), band(4), band(5), band(14), band(15)], ["0-4", "0-4", "5-14", "5-14", "15-24"]);
        assert_eq!(
            [band(24), band(25), band(49), band(50), band(64), band(65)],
            ["15-24", "25-49", "25-49", "50-64", "50-64", "65+"]
        );
    }
}
