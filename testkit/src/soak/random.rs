//! The soak's one source of chance: every load and fault follows from the run's seed.

/// A small reproducible random generator (xorshift64*), so a soak's load and faults follow from
/// its seed.
#[derive(Debug, Clone)]
pub struct Random(u64);

impl Random {
    pub fn new(seed: u64) -> Random {
        Random(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// The number of calls up to and including the next fault, each call a fault with
    /// probability `rate` (geometric, at least 1).
    pub fn geometric(&mut self, rate: f64) -> u32 {
        let u = 1.0 - self.unit();
        ((u.ln() / (1.0 - rate).ln()).floor() as u32).saturating_add(1)
    }

    /// A name drawn by weight.
    pub fn weighted<'a>(&mut self, choices: &[(&'a str, u32)]) -> &'a str {
        let total: u32 = choices.iter().map(|c| c.1).sum();
        let mut pick = self.below(u64::from(total)) as u32;
        for (name, weight) in choices {
            if pick < *weight {
                return name;
            }
            pick -= weight;
        }
        choices[0].0
    }

    /// A random lower-case UUID, as Supply Chain's instance ids are.
    pub fn uuid(&mut self) -> String {
        let (a, b) = (self.next_u64(), self.next_u64());
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | (b >> 48) & 0x3fff,
            b & 0xffff_ffff_ffff
        )
    }
}

#[cfg(test)]
mod tests {
    use super::Random;

    #[test]
    fn geometric_gaps_make_the_stated_rate() {
        let mut random = Random::new(7);
        let calls: u64 = (0..20_000).map(|_| u64::from(random.geometric(0.2))).sum();
        let rate = 20_000.0 / calls as f64;
        assert!((rate - 0.2).abs() < 0.01, "{rate}");
        assert!(Random::new(1).uuid().len() == 36);
    }
}
