//! The summary figures of a row's timed runs. Plain functions of the numbers, shared by the
//! live table and by the reader of saved runs.

/// Above this spread a row's runs disagree enough that the table warns about it.
pub const WIDE_SPREAD: f64 = 0.10;

/// The median of `runs` (the upper one of an even count); `None` when there are none.
pub fn median(runs: &[f64]) -> Option<f64> {
    let mut v = runs.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied()
}

/// How far apart the runs were: (max - min) / median. Zero for a single run; `None` for none,
/// or when the median is not a positive number.
pub fn spread(runs: &[f64]) -> Option<f64> {
    let m = median(runs).filter(|m| *m > 0.0)?;
    let lo = runs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = runs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Some((hi - lo) / m).filter(|s| s.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_spread_of_known_runs() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(3.0));
        assert_eq!(median(&[]), None);
        assert_eq!(spread(&[9.0, 10.0, 11.0]), Some(0.2));
        assert_eq!(spread(&[5.0]), Some(0.0));
        assert_eq!(spread(&[]), None);
        assert_eq!(spread(&[0.0, 0.0]), None);
    }
}
