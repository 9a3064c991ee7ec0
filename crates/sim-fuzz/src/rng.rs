//! A tiny seeded generator: case `i` of (target, seed) is a pure function of the three.

/// SplitMix64: enough quality for choosing mutations, and no dependency.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// The generator of one case.
    pub fn for_case(target: &str, seed: u64, case: u64) -> Rng {
        // FNV-1a of the target name, so targets with the same seed explore differently.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in target.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        let mut r = Rng(h ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        r.0 ^= r.next_u64() ^ case.wrapping_mul(0xd1b5_4a32_d192_ed03);
        r.next_u64();
        r
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`; 0 when `n` is 0.
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    /// True with probability 1/`n`.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.next_u64().is_multiple_of(n.max(1))
    }

    /// A uniformly chosen element; `None` for an empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        if items.is_empty() {
            None
        } else {
            Some(&items[self.below(items.len())])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_case_same_numbers_and_cases_differ() {
        let a: Vec<u64> = (0..4)
            .map(|_| Rng::for_case("scenario", 1, 7).next_u64())
            .collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(
            Rng::for_case("scenario", 1, 7).next_u64(),
            Rng::for_case("scenario", 1, 8).next_u64()
        );
        assert_ne!(
            Rng::for_case("scenario", 1, 7).next_u64(),
            Rng::for_case("sweep", 1, 7).next_u64()
        );
    }
}
