//! What the Stratum V1 tests share: a pool source on the test pools with quick retries, a
//! watch over its events, and shares found for real on a pool's job.
// Each test binary that includes this uses part of it.
#![allow(dead_code)]

use sha256d::{Control, Work};
use sha256d_mining::{
    Event, Job, PoolConfig, PoolOptions, PoolSource, PoolUrl, Share, Source, Verdict,
};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Long enough for a loaded CI machine; every wait returns as soon as its event comes.
pub const PATIENCE: Duration = Duration::from_secs(30);

pub fn options(urls: &[String]) -> PoolOptions {
    let pools = urls
        .iter()
        .map(|u| PoolConfig::new(PoolUrl::parse(u).expect("test URL"), "w1", "pw"))
        .collect();
    let mut o = PoolOptions::new(pools);
    o.backoff_min = Duration::from_millis(50);
    o.backoff_max = Duration::from_millis(400);
    o.retry_primary = Duration::from_millis(300);
    o.connect_timeout = Duration::from_secs(5);
    o.idle_timeout = Duration::from_secs(20);
    o
}

pub fn source(urls: &[String]) -> PoolSource {
    PoolSource::new(options(urls)).expect("valid options")
}

/// Polls until `pick` finds what it wants, keeping every event seen on the way.
pub struct Watch<'a> {
    pub src: &'a mut PoolSource,
    pub seen: Vec<Event>,
    /// Events polled but not yet looked at (a poll can return several).
    pending: std::collections::VecDeque<Event>,
}

impl<'a> Watch<'a> {
    pub fn new(src: &'a mut PoolSource) -> Self {
        Watch {
            src,
            seen: Vec::new(),
            pending: Default::default(),
        }
    }

    pub fn until<T>(&mut self, what: &str, mut pick: impl FnMut(&Event) -> Option<T>) -> T {
        let end = Instant::now() + PATIENCE;
        loop {
            while let Some(ev) = self.pending.pop_front() {
                let hit = pick(&ev);
                self.seen.push(ev);
                if let Some(t) = hit {
                    return t;
                }
            }
            assert!(
                Instant::now() < end,
                "no {what} within {PATIENCE:?}; saw {:#?}",
                self.seen
            );
            let start = Instant::now();
            let events = self
                .src
                .poll(Duration::from_millis(100))
                .unwrap_or_else(|e| panic!("poll failed waiting for {what}: {e}"));
            assert!(
                start.elapsed() < Duration::from_millis(100) + Duration::from_secs(1),
                "poll overran its timeout"
            );
            self.pending.extend(events);
        }
    }

    pub fn job(&mut self) -> Arc<Job> {
        self.until("job", |e| match e {
            Event::Job(j) => Some(j.clone()),
            _ => None,
        })
    }

    pub fn job_where(&mut self, what: &str, f: impl Fn(&Job) -> bool) -> Arc<Job> {
        self.until(what, |e| match e {
            Event::Job(j) if f(j) => Some(j.clone()),
            _ => None,
        })
    }

    pub fn verdict(&mut self) -> (Share, Verdict) {
        self.until("verdict", |e| match e {
            Event::Verdict { share, verdict } => Some((share.clone(), verdict.clone())),
            _ => None,
        })
    }

    pub fn notice(&mut self, needle: &str) -> String {
        self.until(needle, |e| match e {
            Event::Notice(n) if n.contains(needle) => Some(n.clone()),
            _ => None,
        })
    }

    pub fn submit(&mut self, share: Share) {
        let events = self.src.submit(share).expect("submit");
        self.pending.extend(events);
    }
}

/// Searches `job` for a share: the first result on the best CPU engine, with nonzero rolled
/// version bits when the job allows rolling.
pub fn mine(job: &Arc<Job>, extranonce2: &[u8]) -> Share {
    let engine = sha256d::best();
    let header = job.header(extranonce2, job.ntime);
    let mut work = Work::new(header, job.share_target);
    if job.version_mask != 0 {
        work = work
            .with_nonces(0..1 << 12)
            .expect("range")
            .with_version_rolling(job.version_mask, 1 << job.version_mask.count_ones())
            .expect("rolls fit the mask");
    }
    let ctl = Control::new();
    let mut found = None;
    engine
        .search_stream(&work, &ctl, &mut |f| {
            if found.is_none() && (job.version_mask == 0 || f.version & job.version_mask != 0) {
                found = Some(*f);
                ctl.cancel();
            }
        })
        .expect("search");
    let f = found.expect("a share within the searched range");
    let mut header = header;
    header.version = f.version;
    header.nonce = f.nonce;
    assert_eq!(header.block_hash(), f.hash);
    Share {
        job: job.clone(),
        extranonce2: extranonce2.to_vec(),
        header,
        hash: f.hash,
        is_block: job.block_target.is_met_by(&f.hash),
        stale: false,
    }
}

pub fn accepted(share: &Share, verdict: &(Share, Verdict)) {
    assert_eq!(verdict, &(share.clone(), Verdict::Accepted));
}

pub fn is_from(tag: &str) -> impl Fn(&Job) -> bool + '_ {
    move |j: &Job| {
        let marker = format!("/testpool {tag}/");
        j.coinb2.starts_with(marker.as_bytes())
    }
}
