//! cutover's one seeded generator: SplitMix64 (Steele, Lea and Flood, "Fast splittable
//! pseudorandom number generators", OOPSLA 2014). Our own few lines, so a seed gives the same
//! stream whatever dependency versions a build picks: the workload's records
//! (`workload::rng::Rng` wraps it) and the fault proxies' jitter draw from it, both seeded by
//! the scenario's seed, so a run replays.

/// SplitMix64: 64-bit state, fast, good enough for traffic shapes and jitter (not for
/// cryptography).
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

/// The golden-ratio increment of SplitMix64.
pub const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

impl SplitMix64 {
    /// A generator whose state starts at `state`.
    pub const fn new(state: u64) -> SplitMix64 {
        SplitMix64(state)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN_GAMMA);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A seed for sub-stream `stream` of `seed` (a producer, a broker's proxy, a connection):
    /// different streams of one seed are unrelated, the same stream of a seed is always the
    /// same.
    pub fn derive(seed: u64, stream: u64) -> u64 {
        let mut first = SplitMix64(seed);
        let a = first.next_u64();
        SplitMix64(a ^ stream.wrapping_mul(0xD6E8_FEB8_6659_FD93)).next_u64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_is_the_published_splitmix64() {
        // Reference values of SplitMix64 seeded with 0 (as in Vigna's splitmix64.c).
        let mut r = SplitMix64::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        assert_ne!(SplitMix64::derive(7, 1), SplitMix64::derive(7, 2));
        assert_eq!(SplitMix64::derive(7, 1), SplitMix64::derive(7, 1));
    }
}
