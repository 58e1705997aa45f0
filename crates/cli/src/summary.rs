//! `mine`'s status line tail and its summary, as text and as `--json`.

use crate::progress::si;
use serde_json::json;
use sha256d_mining::{AcceptedBlock, DeviceStats, Stats, MAX_LISTED_BLOCKS};
use std::collections::BTreeMap;
use std::time::Duration;

/// How sure the proven hash rate's interval is.
const CONFIDENCE: f64 = 0.95;

/// The status after the hashrate: engines, share counts, difficulty, best share, blocks
/// (behind a pool, block candidates).
pub fn status_tail(s: &Stats) -> String {
    let mut tail = format!(
        "{} | A {} R {} S {} | diff {} | best {} | blocks {}",
        s.engines.join("+"),
        s.accepted,
        s.rejected_total(),
        s.stale,
        s.difficulty.map_or("-".into(), difficulty),
        difficulty(s.best_share_difficulty),
        s.blocks_accepted,
    );
    if s.block_candidates > 0 {
        tail += &format!(" | candidates {}", s.block_candidates);
    }
    tail
}

/// Pool difficulties run from 1e-10 (regtest) to 1e14 (mainnet): plain decimals in between,
/// exponents at the ends.
fn difficulty(d: f64) -> String {
    if d == 0.0 || (1e-3..1e9).contains(&d) {
        format!("{d:.4}")
    } else {
        format!("{d:.3e}")
    }
}

pub fn summary_json(s: &Stats) -> serde_json::Value {
    // No upper bound before the first accepted share: null, as JSON has no infinity.
    let (low, high) = s.proven_hashrate_interval(CONFIDENCE);
    json!({
        "source": s.source,
        "engines": s.engines,
        "elapsed_s": s.elapsed.as_secs_f64(),
        "hashes": s.hashes,
        "hashrate": s.hashrate(),
        "proven_hashrate": s.proven_hashrate(),
        "proven_hashrate_interval": [low, high.is_finite().then_some(high)],
        "jobs": s.jobs,
        "job_switch_ms_max": s.job_switch_worst.as_secs_f64() * 1e3,
        "accepted": s.accepted,
        "rejected": s.rejected,
        "rejected_total": s.rejected_total(),
        "stale": s.stale,
        "hardware_errors": s.hardware_errors,
        "shares_found": s.shares_found,
        "shares_submitted": s.shares_submitted,
        "dropped": s.dropped.iter().map(|(why, n)| (why.as_str(), n)).collect::<BTreeMap<_, _>>(),
        "dropped_total": s.dropped_total(),
        "unanswered": s.unanswered,
        "engine_failures": s.engine_failures,
        "best_share_difficulty": s.best_share_difficulty,
        "difficulty": s.difficulty,
        "blocks_found": s.blocks_found,
        "blocks_accepted": s.blocks_accepted,
        "blocks": blocks_json(&s.blocks),
        "block_candidates": s.block_candidates,
        "candidates": blocks_json(&s.candidates),
        "devices": s.devices.iter().map(|d| device_json(d, s.elapsed)).collect::<Vec<_>>(),
    })
}

fn device_json(d: &DeviceStats, elapsed: Duration) -> serde_json::Value {
    let (low, high) = d.proven_hashrate_interval(elapsed, CONFIDENCE);
    json!({
        "engine": d.engine,
        "device": d.device,
        "hashes": d.hashes,
        "hashrate": d.hashrate(elapsed),
        "proven_hashrate": d.proven_hashrate(elapsed),
        "proven_hashrate_interval": [low, high.is_finite().then_some(high)],
        "shares_found": d.shares_found,
        "accepted": d.accepted,
        "rejected": d.rejected,
        "stale": d.stale,
        "hardware_errors": d.hardware_errors,
        "known_answer_misses": d.known_answer_misses,
        "known_answers_passed": d.known_answers_passed,
        "failure": d.failure,
    })
}

/// A line per device, when there are several (with one, the totals are its figures), and a
/// warning for each that claims more than its accepted shares prove.
fn devices_text(s: &Stats) -> String {
    let mut out = String::new();
    if s.devices.len() > 1 {
        for d in &s.devices {
            let (low, high) = d.proven_hashrate_interval(s.elapsed, CONFIDENCE);
            let interval = if high.is_finite() {
                format!(" (95%: {} to {})", si(low, "H/s"), si(high, "H/s"))
            } else {
                String::new()
            };
            out += &format!(
                "\n  {} ({}): {} measured, {} proven{}, accepted {}, rejected {}, stale {}, \
                 hardware errors {}, known answers {} passed and {} missed",
                d.engine,
                d.device,
                si(d.hashrate(s.elapsed), "H/s"),
                si(d.proven_hashrate(s.elapsed), "H/s"),
                interval,
                d.accepted,
                d.rejected,
                d.stale,
                d.hardware_errors,
                d.known_answers_passed,
                d.known_answer_misses,
            );
            // Why is among the engine failures below.
            if d.failure.is_some() {
                out += ", stopped";
            }
        }
    }
    for d in s
        .devices
        .iter()
        .filter(|d| d.claims_more_than_proven(s.elapsed, CONFIDENCE))
    {
        out += &format!(
            "\nwarning: {} ({}) claims {} but its accepted shares prove at most {} (95%)",
            d.engine,
            d.device,
            si(d.hashrate(s.elapsed), "H/s"),
            si(d.proven_hashrate_interval(s.elapsed, CONFIDENCE).1, "H/s"),
        );
    }
    out
}

fn blocks_json(blocks: &[AcceptedBlock]) -> Vec<serde_json::Value> {
    blocks
        .iter()
        .map(|b| {
            json!({
                "hash": b.hash.to_string(),
                "height": b.height,
                "hashes": b.hashes,
            })
        })
        .collect()
}

pub fn summary_text(s: &Stats) -> String {
    let (low, high) = s.proven_hashrate_interval(CONFIDENCE);
    let interval = if high.is_finite() {
        format!(" (95%: {} to {})", si(low, "H/s"), si(high, "H/s"))
    } else {
        String::new()
    };
    let mut out = format!(
        "{} in {:.1} s on {}: {} hashes, {} measured, {} proven by accepted shares{}\n\
         accepted {}, rejected {}, stale {}, hardware errors {}, best share difficulty {}",
        s.source,
        s.elapsed.as_secs_f64(),
        s.engines.join(", "),
        s.hashes,
        si(s.hashrate(), "H/s"),
        si(s.proven_hashrate(), "H/s"),
        interval,
        s.accepted,
        s.rejected_total(),
        s.stale,
        s.hardware_errors,
        difficulty(s.best_share_difficulty),
    );
    for (reason, n) in &s.rejected {
        out += &format!("\n  rejected {n} x {reason}");
    }
    out += &format!(
        "\nfound {}, submitted {}, unanswered {}, not submitted {}",
        s.shares_found,
        s.shares_submitted,
        s.unanswered,
        s.dropped_total()
    );
    for (why, n) in &s.dropped {
        out += &format!("\n  not submitted {n} x {why}");
    }
    out += &devices_text(s);
    for failure in &s.engine_failures {
        out += &format!("\n{failure}");
    }
    if s.hashrate() > high {
        out += &format!(
            "\nwarning: the engines claim {} but the accepted shares prove at most {} (95%): \
             an engine counts hashes it does not do, or shares are lost on the way",
            si(s.hashrate(), "H/s"),
            si(high, "H/s")
        );
    }
    out += &list_blocks("block", "blocks", &s.blocks, s.blocks_accepted);
    if s.block_candidates > 0 {
        out += &format!(
            "\n{} block candidates: shares that meet the network target, accepted by the pool, \
             which may submit them (only the chain tells whether one got in)",
            s.block_candidates
        );
    }
    out += &list_blocks(
        "block candidate",
        "candidates",
        &s.candidates,
        s.block_candidates,
    );
    out
}

/// The first few of `blocks` (`total` in all) as lines: on regtest behind a pool nearly every
/// share is a block candidate.
fn list_blocks(what: &str, plural: &str, blocks: &[AcceptedBlock], total: u64) -> String {
    const LISTED: usize = 10;
    let mut out = String::new();
    for b in blocks.iter().take(LISTED) {
        out += &format!("\n{what} {}", b.hash);
        if let Some(h) = b.height {
            out += &format!(" at height {h}");
        }
    }
    let more = total.saturating_sub(LISTED as u64);
    if more > 0 {
        out +=
            &format!("\n... and {more} more {plural} (--json lists the first {MAX_LISTED_BLOCKS})");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 10 s, 100 accepted shares of difficulty 1e-4: about 4.3 MH/s proven.
    fn stats(hashes: u64) -> Stats {
        Stats {
            source: "pool".into(),
            engines: vec!["asic".into()],
            elapsed: Duration::from_secs(10),
            hashes,
            accepted: 100,
            accepted_difficulty: 100.0 * 1e-4,
            accepted_difficulty_squared: 100.0 * 1e-8,
            ..Stats::default()
        }
    }

    #[test]
    fn the_summary_gives_the_proven_interval_and_warns_when_claims_exceed_it() {
        let honest = summary_text(&stats(43_000_000));
        assert!(
            honest.contains("4.29 MH/s proven by accepted shares (95%: 3.49 MH/s to 5.22 MH/s)"),
            "{honest}"
        );
        assert!(!honest.contains("warning"), "{honest}");
        let inflated = summary_text(&stats(430_000_000));
        assert!(
            inflated.contains(
                "warning: the engines claim 43.00 MH/s but the accepted shares prove at most \
                 5.22 MH/s (95%)"
            ),
            "{inflated}"
        );
        let json = summary_json(&stats(43_000_000));
        let interval = json["proven_hashrate_interval"]
            .as_array()
            .expect("a pair")
            .iter()
            .map(|v| v.as_f64().expect("a number"))
            .collect::<Vec<_>>();
        assert!((interval[0] - 3.49e6).abs() < 0.02e6, "{interval:?}");
        assert!((interval[1] - 5.22e6).abs() < 0.02e6, "{interval:?}");
        let nothing = summary_json(&Stats {
            elapsed: Duration::from_secs(1),
            ..Stats::default()
        });
        assert_eq!(nothing["proven_hashrate_interval"], json!([0.0, null]));
    }
}
