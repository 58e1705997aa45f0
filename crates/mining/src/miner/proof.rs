//! How much hashing accepted shares prove, with its uncertainty. A share of difficulty `d`
//! turns up once per `d * 2^32` hashes on average, so the shares of a run are a Poisson count
//! whose mean is the hashes done over that. The exact (Garwood) interval for a Poisson mean
//! after `k` events runs from the `a/2` quantile of a gamma distribution of shape `k` to the
//! `1 - a/2` quantile of shape `k + 1`; scaled by `d * 2^32` and divided by the time, it bounds
//! the hash rate. Shares at several difficulties count as `(Σd)² / Σd²` shares of difficulty
//! `Σd² / Σd` (the same mean and variance), which is exact when they share one difficulty.

/// Hashes per difficulty-1 share.
pub(super) const HASHES_PER_DIFFICULTY: f64 = 4_294_967_296.0;

/// The sums over accepted shares that the proof needs.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct ShareSums {
    /// Σd.
    pub difficulty: f64,
    /// Σd².
    pub difficulty_squared: f64,
}

impl ShareSums {
    /// The hash rate these shares prove over `seconds`, as the interval that holds it with
    /// probability `confidence` (e.g. 0.95): `(low, high)` in hashes per second.
    pub(crate) fn interval(&self, seconds: f64, confidence: f64) -> (f64, f64) {
        if seconds <= 0.0 || !(0.0..1.0).contains(&confidence) {
            return (0.0, f64::INFINITY);
        }
        let tail = (1.0 - confidence) / 2.0;
        // No share: the count is 0 and the unit is the difficulty still unknown; nothing is
        // proven, and no bound above can be given without a difficulty.
        if self.difficulty <= 0.0 || self.difficulty_squared <= 0.0 {
            return (0.0, f64::INFINITY);
        }
        let count = self.difficulty * self.difficulty / self.difficulty_squared;
        let unit = self.difficulty_squared / self.difficulty * HASHES_PER_DIFFICULTY / seconds;
        (
            gamma_quantile(count, tail) * unit,
            gamma_quantile(count + 1.0, 1.0 - tail) * unit,
        )
    }
}

/// The `p` quantile of the gamma distribution of shape `shape` and scale 1: the `x` where the
/// regularised lower incomplete gamma function reaches `p`, by bisection (the function rises
/// from 0 to 1, so 200 halvings reach the precision of an f64).
fn gamma_quantile(shape: f64, p: f64) -> f64 {
    let (mut low, mut high) = (0.0, shape + 10.0 * shape.sqrt() + 50.0);
    while lower_regularized_gamma(shape, high) < p {
        high *= 2.0;
    }
    for _ in 0..200 {
        let mid = (low + high) / 2.0;
        if lower_regularized_gamma(shape, mid) < p {
            low = mid;
        } else {
            high = mid;
        }
    }
    (low + high) / 2.0
}

/// P(a, x) = γ(a, x) / Γ(a): the series below `a + 1`, the continued fraction (Lentz) above,
/// each converging fast on its side.
fn lower_regularized_gamma(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    let log_prefix = a * x.ln() - x - ln_gamma(a);
    if x < a + 1.0 {
        let (mut term, mut sum, mut n) = (1.0 / a, 1.0 / a, a);
        for _ in 0..10_000 {
            n += 1.0;
            term *= x / n;
            sum += term;
            if term.abs() < sum.abs() * 1e-16 {
                break;
            }
        }
        (sum.ln() + log_prefix).exp().min(1.0)
    } else {
        let tiny = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / tiny;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..10_000 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < tiny {
                d = tiny;
            }
            c = b + an / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            let step = d * c;
            h *= step;
            if (step - 1.0).abs() < 1e-16 {
                break;
            }
        }
        (1.0 - (h.ln() + log_prefix).exp()).max(0.0)
    }
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7, nine terms: about 15 digits).
fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x) Γ(1 - x) = π / sin(πx).
        return (std::f64::consts::PI / (std::f64::consts::PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let t = x + G + 0.5;
    let sum = C[1..]
        .iter()
        .enumerate()
        .fold(C[0], |acc, (i, c)| acc + c / (x + i as f64 + 1.0));
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sums(difficulties: impl IntoIterator<Item = f64>) -> ShareSums {
        let mut sums = ShareSums::default();
        for d in difficulties {
            sums.difficulty += d;
            sums.difficulty_squared += d * d;
        }
        sums
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-3 * b.abs().max(1e-9)
    }

    /// The exact 95% limits for a Poisson mean after k events, as statistics tables give them.
    #[test]
    fn garwood_limits_match_the_tables() {
        for (k, low, high) in [
            (1.0, 0.0253, 5.5716),
            (2.0, 0.2422, 7.2247),
            (10.0, 4.7954, 18.3904),
            (100.0, 81.3639, 121.6288),
        ] {
            let (l, h) = (gamma_quantile(k, 0.025), gamma_quantile(k + 1.0, 0.975));
            assert!(close(l, low) && close(h, high), "k = {k}: {l} {h}");
        }
    }

    #[test]
    fn ln_gamma_matches_factorials() {
        for (x, want) in [
            (1.0, 0.0),
            (5.0, 24f64.ln()),
            (0.5, std::f64::consts::PI.sqrt().ln()),
        ] {
            assert!((ln_gamma(x) - want).abs() < 1e-12, "{x}");
        }
    }

    /// Ten shares of difficulty 1 in 10 s: about 4.3 GH/s, between 2.06 and 7.90 GH/s.
    #[test]
    fn shares_of_one_difficulty_scale_the_count() {
        let sums = sums([1.0; 10]);
        let (low, high) = sums.interval(10.0, 0.95);
        assert!(close(low, 4.7954 * HASHES_PER_DIFFICULTY / 10.0), "{low}");
        assert!(
            close(high, 18.3904 * HASHES_PER_DIFFICULTY / 10.0),
            "{high}"
        );
        let estimate = sums.difficulty * HASHES_PER_DIFFICULTY / 10.0;
        assert!(low < estimate && estimate < high);
    }

    /// Mixed difficulties: the same shares, halved in difficulty and doubled in number, prove
    /// the same rate more tightly; one huge share next to tiny ones counts as about one.
    #[test]
    fn mixed_difficulties_count_by_their_spread() {
        let coarse = sums([2.0; 10]);
        let fine = sums([1.0; 20]);
        let (cl, ch) = coarse.interval(10.0, 0.95);
        let (fl, fh) = fine.interval(10.0, 0.95);
        assert!(cl < fl && fh < ch, "{cl} {fl} {fh} {ch}");
        let lopsided = sums(std::iter::once(1000.0).chain([0.001; 10]));
        let count = lopsided.difficulty.powi(2) / lopsided.difficulty_squared;
        assert!((1.0..1.001).contains(&count), "{count}");
    }

    #[test]
    fn nothing_proven_without_shares_or_time() {
        assert_eq!(
            ShareSums::default().interval(10.0, 0.95),
            (0.0, f64::INFINITY)
        );
        assert_eq!(sums([1.0]).interval(0.0, 0.95), (0.0, f64::INFINITY));
    }
}
