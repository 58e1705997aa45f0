//! What the duty tests share: a source of one job forever, and how long a change of duty
//! took to show in a count sampled over time.

use sha256d::{CompactTarget, Target};
use sha256d_mining::{Event, Job, Share, Source, Verdict};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One job forever, every share accepted; hard enough that shares are rare.
pub struct OneJob(pub Option<Job>);

impl Source for OneJob {
    fn poll(&mut self, timeout: Duration) -> Result<Vec<Event>, sha256d::Error> {
        match self.0.take() {
            Some(job) => Ok(vec![Event::Job(Arc::new(job))]),
            None => {
                std::thread::sleep(timeout);
                Ok(Vec::new())
            }
        }
    }

    fn submit(&mut self, share: Share) -> Result<Vec<Event>, sha256d::Error> {
        Ok(vec![Event::Verdict {
            share,
            verdict: Verdict::Accepted,
        }])
    }

    fn describe(&self) -> String {
        "one job".into()
    }
}

/// Version rolling, difficulty 1.
pub fn job() -> Job {
    Job {
        id: "j".into(),
        prev_hash: [3; 32],
        coinb1: vec![1, 0, 0, 0, 1, 3],
        extranonce1: vec![0xe1, 0xe2],
        extranonce2_size: 4,
        coinb2: vec![0xff, 0xff, 0xff, 0xff, 0],
        merkle_branch: Vec::new(),
        fixed_merkle_root: None,
        version: 0x2000_0000,
        version_mask: 0x1fff_e000,
        bits: CompactTarget::from_consensus(0x1d00_ffff),
        ntime: 1_700_000_000,
        ntime_max: 1_700_007_000,
        share_target: Target::from_difficulty(1.0).expect("positive"),
        block_target: Target::from_compact(CompactTarget::from_consensus(0x1d00_ffff))
            .expect("valid bits"),
        clean: true,
        height: None,
    }
}

/// From `t0` to the end of the first `window` after it whose rate is within `tolerance` x
/// `full` of `target`; `Duration::MAX` if none is.
pub fn settle_time(
    samples: &[(Instant, u64)],
    t0: Instant,
    window: Duration,
    (target, full, tolerance): (f64, f64, f64),
) -> Duration {
    let after: Vec<&(Instant, u64)> = samples.iter().filter(|s| s.0 >= t0).collect();
    for (i, a) in after.iter().enumerate() {
        let Some(b) = after[i..]
            .iter()
            .find(|b| b.0.duration_since(a.0) >= window)
        else {
            break;
        };
        let rate = (b.1 - a.1) as f64 / b.0.duration_since(a.0).as_secs_f64();
        if (rate - target).abs() <= tolerance * full {
            return b.0.duration_since(t0);
        }
    }
    Duration::MAX
}
