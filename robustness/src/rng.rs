//! A small deterministic PRNG (xorshift64*) for traffic, fault choice and simulations.
//!
//! Determinism from a seed makes a failing simulated history reproducible, and the runner
//! prints its seed; statistical quality beyond "not obviously patterned" is not needed, so no
//! dependency is taken for it.

pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform-enough in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn same_seed_same_sequence_and_values_stay_in_range() {
        let (mut a, mut b) = (super::Rng::new(3), super::Rng::new(3));
        let xs: Vec<u64> = (0..100).map(|_| a.below(10)).collect();
        let ys: Vec<u64> = (0..100).map(|_| b.below(10)).collect();
        assert_eq!(xs, ys);
        assert!(xs.iter().all(|x| *x < 10));
        assert!(xs.iter().any(|x| *x != xs[0]), "not constant");
    }
}
