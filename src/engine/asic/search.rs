//! One search on an open session: the plan's sweeps sent as jobs, replies verified on the host,
//! sweeps with faults swept again, and known-answer jobs interleaved by the policy.

use super::ffi::{self, Reply};
use super::known::{Policy, MAX_MISSES};
use super::plan;
use super::port::{Frame, Job, Session};
use super::regs::{self, reg, val};
use super::{bump, Protocol, Settings, Stats};
use crate::engine::{Control, Hits, Offer};
use crate::{sha256, Error, ErrorKind, Work};
use alloc::{format, vec, vec::Vec};
use core::time::Duration;
use std::collections::HashSet;
use std::time::Instant;

/// Longest a chip may take to answer a register read before it counts as gone.
const FENCE_TIMEOUT: Duration = Duration::from_secs(2);
/// How often a long job is interrupted by a register read to prove the chips still answer.
const KEEPALIVE: Duration = Duration::from_millis(500);
/// Time beyond a job's expected sweep before the next job replaces it: USB latency and host
/// scheduling, which do not scale with the job.
const JOB_SLACK: Duration = Duration::from_millis(30);
/// How long a known answer may come after its deadline and still count as a slow stick
/// rather than a miss.
const LATE_GRACE: Duration = Duration::from_secs(1);
/// Sweeps of one window, beyond the confirming ones, before its faults count as unresolved.
const EXTRA_SWEEPS: u32 = 2;

/// Cancelled engines credit hashes in proportion to the time a sweep was given.
#[derive(Clone, Copy)]
struct Cost {
    /// Positions (nonce x version) the chip visits.
    positions: u64,
    /// Time the sweep takes on silicon at the programmed clock.
    silicon: Duration,
    /// Hashes of the work the sweep covers, credited once it completes.
    covered: u64,
}

/// What one job asks of the chip.
enum Spec {
    Bm1397 {
        header: [u8; 80],
        versions: Vec<u32>,
    },
    Bm1370 {
        header: [u8; 80],
        version: u32,
        sweep: plan::Sweep,
    },
    Icarus {
        header: [u8; 80],
        version: u32,
    },
}

/// Where the current job's replies lie in the chip's sweep order, for the tail check.
#[derive(Clone, Copy)]
enum Geom {
    Bm1370 {
        slot: usize,
        start: u32,
        /// Counter values per batch, overrun included.
        full: u64,
        mask: u32,
    },
    Bm1397 {
        slot: usize,
        n: u64,
    },
}

/// Replies a completed sweep would still have sent past the last one seen, on average, before
/// the sweep counts as cut short (a stick slower than its configured rate): the chance of
/// such a gap by luck is e^-4, about 2%, and then only costs a longer re-sweep.
const TAIL_REPLIES: f64 = 4.0;

pub(super) struct Search<'a> {
    s: &'a mut Session,
    settings: &'a Settings,
    stats: &'a Stats,
    work: &'a Work,
    /// Top 32 hash bits every reported nonce must clear.
    limit: u32,
    /// Zero bits the chips require now, and the extra bits the ticket mask adds.
    need: u32,
    extra: u32,
    delivered: HashSet<(u32, u32)>,
    fence_sent: Option<Instant>,
    last_answer: Instant,
    /// Faults seen (garbled frames, nonces that fail the re-hash): a sweep that saw one is
    /// swept again.
    faults: u64,
    geom: Option<Geom>,
    /// The furthest position in the current job's sweep a verified reply came from.
    reached: Option<u64>,
    /// How much longer than the configured rate allows sweeps are given, after one fell short.
    stretch: f64,
}

fn limit_for(zero_bits: u32) -> u32 {
    if zero_bits >= 32 {
        0
    } else {
        u32::MAX >> zero_bits
    }
}

fn leading_zero_bits(le: &[u8; 32]) -> u32 {
    let mut n = 0;
    for b in le.iter().rev() {
        n += b.leading_zeros();
        if *b != 0 {
            break;
        }
    }
    n
}

impl<'a> Search<'a> {
    pub fn new(
        s: &'a mut Session,
        settings: &'a Settings,
        stats: &'a Stats,
        work: &'a Work,
    ) -> Self {
        Search {
            s,
            settings,
            stats,
            work,
            limit: 0,
            need: 0,
            extra: 0,
            delivered: HashSet::new(),
            fence_sent: None,
            last_answer: Instant::now(),
            faults: 0,
            geom: None,
            reached: None,
            stretch: 1.0,
        }
    }

    fn now(&self) -> f64 {
        self.s.epoch.elapsed().as_secs_f64()
    }

    pub fn run(mut self, ctl: &Control, hits: &mut Hits<'_>) -> Result<(), Error> {
        self.s.port.flush()?;
        self.s.rx.clear();
        let target_bits = leading_zero_bits(&self.work.target().to_le_bytes());
        let z = self.settings.ticket_bits;
        self.extra = match self.s.protocol {
            Protocol::Icarus => 0,
            _ => target_bits.saturating_sub(z).min(32),
        };
        self.need = z + self.extra;
        self.limit = limit_for(self.need);
        if self.work.nonces().is_empty() {
            return Ok(());
        }
        let range = self.work.nonces();
        let range_len = range.end - range.start;
        let rolls = self.work.rolls();
        match self.s.protocol {
            Protocol::Bm1397 => {
                let Some(sweep) = plan::bm1397_sweep(&range) else {
                    return Ok(());
                };
                let mut k = 0;
                while k < rolls && !ctl.is_cancelled() {
                    let n = (rolls - k).min(4);
                    let versions: Vec<u32> = (k..k + n).map(|i| self.work.version(i)).collect();
                    let cost = Cost {
                        positions: sweep.counters * regs::BM1397_CORES * n,
                        silicon: self.clock_time(sweep.counters as f64),
                        covered: range_len * n,
                    };
                    let header = self.work.header_bytes(versions[0], 0);
                    self.sweep(&Spec::Bm1397 { header, versions }, cost, ctl, hits)?;
                    k += n;
                }
            }
            Protocol::Bm1370 => {
                let mask = self.work.version_mask();
                let on_chip = rolls > 1 && mask & !0x1fff_e000 == 0;
                let chip_mask = if on_chip { mask } else { 0 };
                self.s.set_register(
                    reg::VERSION_MASK,
                    super::init::version_mask_value(chip_mask),
                )?;
                let jobs: Vec<(u32, u64)> = if on_chip {
                    vec![(self.work.header().version & !mask, rolls)]
                } else {
                    (0..rolls).map(|k| (self.work.version(k), 1)).collect()
                };
                let pll = self.pll()?;
                let per_counter = regs::BM1370_CORES * regs::BM1370_BATCH;
                let window_cost =
                    (JOB_SLACK.as_secs_f64() * self.settings.hashrate / per_counter as f64) as u64;
                let windows = plan::bm1370_windows(&range, pll, window_cost);
                let share = (windows.len() as u64).max(1);
                for (version, count) in jobs {
                    let batches = count.div_ceil(regs::BM1370_BATCH);
                    for &sweep in &windows {
                        if ctl.is_cancelled() {
                            break;
                        }
                        // Every batch but the last runs its whole window and the overrun;
                        // the last only has to reach the window's end.
                        let overrun = u64::from(self.settings.overrun_ticks);
                        let full = regs::counters_for(
                            sweep.hcn.saturating_add(self.settings.overrun_ticks),
                            pll,
                        );
                        let ticks =
                            (batches - 1) * (u64::from(sweep.hcn) + overrun) + u64::from(sweep.hcn);
                        let cost = Cost {
                            positions: per_counter * ((batches - 1) * full + sweep.counters),
                            silicon: Duration::from_secs_f64(ticks as f64 / regs::CRYSTAL_HZ),
                            covered: range_len * count / share,
                        };
                        let header = self.work.header_bytes(version, 0);
                        let spec = Spec::Bm1370 {
                            header,
                            version,
                            sweep,
                        };
                        self.sweep(&spec, cost, ctl, hits)?;
                    }
                }
            }
            Protocol::Icarus => {
                let end = plan::icarus_end(&range);
                for k in 0..rolls {
                    if ctl.is_cancelled() {
                        break;
                    }
                    let version = self.work.version(k);
                    let header = self.work.header_bytes(version, 0);
                    let cost = Cost {
                        positions: end,
                        silicon: Duration::ZERO,
                        covered: range_len,
                    };
                    self.sweep(&Spec::Icarus { header, version }, cost, ctl, hits)?;
                }
            }
        }
        if self.s.protocol == Protocol::Bm1370 {
            // The chip re-sweeps its last window until told otherwise: a zero deadline parks
            // it, so a stick hashes only while a search runs. A duty cycle's rests and a
            // miner waiting for work then cost the stick's power, not stale hashing.
            self.s.set_register(reg::HASH_COUNTING_NUMBER, 0)?;
        }
        self.sync(hits)
    }

    fn pll(&self) -> Result<regs::Pll, Error> {
        self.s.pll.ok_or_else(|| {
            Error::new(
                ErrorKind::Device,
                "the stick's hash clock was never programmed",
            )
        })
    }

    /// Time `clocks` hash clocks take at the programmed frequency.
    fn clock_time(&self, clocks: f64) -> Duration {
        let hz = self.s.pll.map_or(1e6, |p| p.mhz() * 1e6);
        Duration::from_secs_f64((clocks / hz).min(1e6))
    }

    /// Sweeps one job until a sweep is clean (no faults) and, with confirmation on, until the
    /// configured number of further clean sweeps has added nothing: a nonce a stick drops
    /// without a trace is then lost only if every sweep drops it.
    fn sweep(
        &mut self,
        spec: &Spec,
        cost: Cost,
        ctl: &Control,
        hits: &mut Hits<'_>,
    ) -> Result<(), Error> {
        let confirm = self.settings.confirm_sweeps;
        let mut quiet = 0;
        let mut sweeps = 0;
        let mut credited = 0;
        loop {
            self.maybe_known_answer(hits)?;
            let (faults, found) = (self.faults, self.delivered.len());
            self.send_job(spec)?;
            self.run_job(cost, ctl, hits, &mut credited)?;
            self.sync(hits)?;
            if ctl.is_cancelled() {
                return Ok(());
            }
            sweeps += 1;
            // No reply from the end of the sweep where several were due: the stick did not get
            // there in the time it was given. Sweep again, for longer.
            let gap = cost.positions.saturating_sub(self.reached.unwrap_or(0)) as f64;
            let short = gap * (-f64::from(self.need)).exp2() > TAIL_REPLIES;
            if short {
                bump(&self.stats.short_sweeps);
                self.stretch = (self.stretch * 2.0).min(16.0);
            } else {
                // A sweep that reached its end: the extra time can shrink again.
                self.stretch = (self.stretch * 0.75).max(1.0);
            }
            let faulty = self.faults > faults || short;
            let fresh = self.delivered.len() > found;
            if sweeps > 1 && !faulty && !fresh {
                quiet += 1;
            } else if faulty || fresh {
                quiet = 0;
            }
            if !faulty && quiet >= confirm {
                break;
            }
            if sweeps >= 1 + confirm + EXTRA_SWEEPS {
                hits.incomplete();
                bump(&self.stats.unresolved);
                break;
            }
            bump(&self.stats.resweeps);
        }
        ctl.add_hashes(cost.covered.saturating_sub(credited));
        Ok(())
    }

    fn wait_for(&self, cost: Cost) -> Duration {
        let by_rate = cost.positions as f64 / self.settings.hashrate;
        let secs = by_rate.max(cost.silicon.as_secs_f64()) * 1.1 * self.stretch;
        Duration::from_secs_f64(secs.min(1e9)) + JOB_SLACK
    }

    fn send_job(&mut self, spec: &Spec) -> Result<(), Error> {
        match spec {
            Spec::Bm1397 { header, versions } => {
                self.s
                    .set_register(reg::TICKET_MASK, regs::ticket_mask(self.extra))?;
                let mids: Vec<[u32; 8]> = versions
                    .iter()
                    .map(|&v| {
                        let mut h = *header;
                        h[..4].copy_from_slice(&v.to_le_bytes());
                        sha256::Prehash::new(&h).midstate
                    })
                    .collect();
                let id = self.s.take_slot(Job {
                    header: *header,
                    versions: versions.clone(),
                    base_version: 0,
                    golden: None,
                    known: None,
                });
                self.geom = Some(Geom::Bm1397 {
                    slot: id,
                    n: versions.len() as u64,
                });
                self.reached = None;
                self.s
                    .send(&ffi::bm1397_job((id * 4) as u8, 0, header, &mids))
            }
            Spec::Bm1370 {
                header,
                version,
                sweep,
            } => {
                self.s
                    .set_register(reg::TICKET_MASK, regs::ticket_mask(self.extra))?;
                self.bm1370_window(*sweep)?;
                let id = self.s.take_slot(Job {
                    header: *header,
                    versions: vec![*version],
                    base_version: *version,
                    golden: None,
                    known: None,
                });
                let pll = self.pll()?;
                let mask = self
                    .s
                    .written
                    .iter()
                    .find(|w| w.0 == reg::VERSION_MASK)
                    .map_or(0, |w| w.1 & 0xffff);
                self.geom = Some(Geom::Bm1370 {
                    slot: id,
                    start: sweep.offset << 9,
                    full: regs::counters_for(
                        sweep.hcn.saturating_add(self.settings.overrun_ticks),
                        pll,
                    ),
                    mask,
                });
                self.reached = None;
                self.s.send(&ffi::bm1370_job((id << 3) as u8, 0, header))
            }
            Spec::Icarus { header, version } => {
                let mid = sha256::Prehash::new(header).midstate;
                self.s.take_slot(Job {
                    header: *header,
                    versions: vec![*version],
                    base_version: *version,
                    golden: None,
                    known: None,
                });
                self.s.port.flush()?;
                self.s.rx.clear();
                self.s.send(&ffi::icarus_work(&mid, header, 0))
            }
        }
    }

    /// Points every core's counter at the window's start and sets its deadline.
    fn bm1370_window(&mut self, sweep: plan::Sweep) -> Result<(), Error> {
        self.s.set_register(
            reg::CHIP_NONCE_OFFSET,
            val::NONCE_OFFSET_ENABLE | sweep.offset,
        )?;
        self.s.set_register(reg::HASH_COUNTING_NUMBER, sweep.hcn)
    }

    /// Services replies until the chips have had time for `cost`. The work the sweep covers
    /// is credited as the time it was given passes (`credited` so far, over every sweep of the
    /// same job): a long sweep shows its rate before it ends, a cancelled one is credited for
    /// the time it had, and sweeping again credits nothing twice.
    fn run_job(
        &mut self,
        cost: Cost,
        ctl: &Control,
        hits: &mut Hits<'_>,
        credited: &mut u64,
    ) -> Result<(), Error> {
        let sent = Instant::now();
        let given = self.wait_for(cost);
        let deadline = sent + given;
        let icarus = self.s.protocol == Protocol::Icarus;
        let mut credit = || {
            let frac = sent.elapsed().as_secs_f64() / given.as_secs_f64().max(1e-9);
            let due = (cost.covered as f64 * frac.min(1.0)) as u64;
            if due > *credited {
                ctl.add_hashes(due - *credited);
                *credited = due;
            }
        };
        while Instant::now() < deadline && !ctl.is_cancelled() {
            if !icarus {
                self.keepalive()?;
            }
            let wait = deadline
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(50));
            // An Icarus stick stops at its first nonce.
            let nonce = self.pump(wait, hits)?;
            credit();
            if nonce && icarus {
                break;
            }
        }
        Ok(())
    }

    fn keepalive(&mut self) -> Result<(), Error> {
        self.check_fence()?;
        if self.fence_sent.is_none() && self.last_answer.elapsed() >= KEEPALIVE {
            self.send_fence()?;
        }
        Ok(())
    }

    fn check_fence(&self) -> Result<(), Error> {
        match self.fence_sent {
            Some(t) if t.elapsed() > FENCE_TIMEOUT => Err(Error::new(
                ErrorKind::Device,
                format!(
                    "the stick stopped answering: no reply to a register read within {} s",
                    FENCE_TIMEOUT.as_secs()
                ),
            )),
            _ => Ok(()),
        }
    }

    fn send_fence(&mut self) -> Result<(), Error> {
        self.s.send(&super::init::read_one(0, reg::CHIP_ID))?;
        self.fence_sent = Some(Instant::now());
        Ok(())
    }

    /// Waits for every nonce found so far: a register read is answered after them.
    fn sync(&mut self, hits: &mut Hits<'_>) -> Result<(), Error> {
        if self.s.protocol == Protocol::Icarus {
            let until = Instant::now() + Duration::from_millis(50);
            while let Some(left) = until.checked_duration_since(Instant::now()) {
                self.pump(left, hits)?;
            }
            return Ok(());
        }
        // A read already out may have left before the last job's nonces were found: let it
        // land, then send the one that fences.
        for fresh in [false, true] {
            if fresh {
                self.send_fence()?;
            }
            while self.fence_sent.is_some() {
                self.check_fence()?;
                self.pump(Duration::from_millis(50), hits)?;
            }
        }
        Ok(())
    }

    /// Reads and handles replies for up to `wait`; returns whether a nonce arrived.
    fn pump(&mut self, wait: Duration, hits: &mut Hits<'_>) -> Result<bool, Error> {
        let mut nonce = false;
        for f in self.s.read_frames(wait)? {
            match f {
                Frame::Bad => {
                    bump(&self.stats.bad_frames);
                    self.faults += 1;
                    hits.hardware_error();
                }
                Frame::Reply(Reply::Register { .. }) => {
                    self.fence_sent = None;
                    self.last_answer = Instant::now();
                }
                Frame::Reply(Reply::Nonce {
                    wire,
                    b7,
                    version_bits,
                    ..
                }) => {
                    nonce = true;
                    bump(&self.stats.nonce_replies);
                    self.nonce(wire, b7, version_bits, hits)?;
                }
            }
        }
        Ok(nonce)
    }

    fn invalid(&mut self, hits: &mut Hits<'_>) {
        bump(&self.stats.invalid);
        self.faults += 1;
        hits.hardware_error();
    }

    fn nonce(
        &mut self,
        wire: [u8; 4],
        b7: u8,
        version_bits: u16,
        hits: &mut Hits<'_>,
    ) -> Result<(), Error> {
        let nonce = u32::from_le_bytes(wire);
        let (slot, first) = match self.s.protocol {
            Protocol::Icarus => (0, 0),
            Protocol::Bm1397 => (usize::from(b7 >> 2) & 31, usize::from(b7 & 3)),
            Protocol::Bm1370 => (usize::from(b7 >> 4), 0),
        };
        let Some(job) = self.s.slots.get(slot).and_then(Option::as_ref) else {
            self.invalid(hits);
            return Ok(());
        };
        let candidates: Vec<u32> = match self.s.protocol {
            Protocol::Bm1370 => vec![job.base_version | (u32::from(version_bits) << 13)],
            // Try the midstate the reply names first, then the job's others: decoders
            // disagree on where the index lives.
            _ => {
                let n = job.versions.len();
                (0..n).map(|i| job.versions[(first + i) % n]).collect()
            }
        };
        // Known-answer jobs run with no ticket mask: their answers clear only the chip's bits.
        let limit = if job.known.is_some() {
            limit_for(self.settings.ticket_bits)
        } else {
            self.limit
        };
        let verified = candidates.into_iter().find(|&v| {
            let top = match &job.golden {
                Some((mid, rest)) => super::top_from_midstate(mid, rest, nonce),
                None => {
                    let mut h = job.header;
                    h[..4].copy_from_slice(&v.to_le_bytes());
                    h[76..].copy_from_slice(&nonce.to_le_bytes());
                    sha256::top_word(&sha256::sha256d_header(&h))
                }
            };
            top <= limit
        });
        let Some(version) = verified else {
            self.invalid(hits);
            return Ok(());
        };
        let pos = match self.geom {
            Some(Geom::Bm1370 {
                slot: s,
                start,
                full,
                mask,
            }) if s == slot => Some(plan::bm1370_position(
                nonce,
                plan::gather(u32::from(version_bits), mask),
                start,
                full,
            )),
            Some(Geom::Bm1397 { slot: s, n }) if s == slot => {
                let m = job.versions.iter().position(|&v| v == version).unwrap_or(0) as u64;
                Some(plan::bm1397_position(nonce, m, n))
            }
            _ => None,
        };
        if let Some(p) = pos {
            self.reached = Some(self.reached.map_or(p, |r| r.max(p)));
        }
        if job.known.is_some() {
            if let Some(Some(j)) = self.s.slots.get_mut(slot) {
                if let Some((want, answered)) = &mut j.known {
                    if want.is_none_or(|n| n == nonce) {
                        *answered = true;
                    }
                }
            }
            return Ok(());
        }
        let in_work =
            self.work.nonces().contains(&u64::from(nonce)) && self.work.has_version(version);
        if !in_work {
            bump(&self.stats.overruns);
            return Ok(());
        }
        if self.delivered.contains(&(version, nonce)) {
            bump(&self.stats.duplicates);
            return Ok(());
        }
        match hits.offer_with_limit(version, nonce, self.limit)? {
            Offer::Found => {
                bump(&self.stats.found);
                self.delivered.insert((version, nonce));
            }
            Offer::Filtered => bump(&self.stats.filtered),
            Offer::Invalid => {
                bump(&self.stats.invalid);
                self.faults += 1;
            }
        }
        Ok(())
    }

    /// Sends a known-answer job if one is due. A miss marks the results incomplete and, after
    /// several in a row, fails the search: a stick that hashes wrongly or not at all must not
    /// pass for an unlucky one. Until a session has passed one, misses are retried at once.
    fn maybe_known_answer(&mut self, hits: &mut Hits<'_>) -> Result<(), Error> {
        if !self.s.known.due(self.now()) {
            return Ok(());
        }
        let mut garbled = 0;
        loop {
            let faults = self.faults;
            let answered = self.known_answer(hits)?;
            // A reply garbled on the way is a link fault, not a stick that cannot hash: try
            // again before counting a miss.
            if !answered && self.faults > faults && garbled < 2 {
                garbled += 1;
                continue;
            }
            if answered {
                bump(&self.stats.known_answers);
                hits.known_answer_passed();
                let now = self.now();
                self.s.known.pass(now);
                return Ok(());
            }
            bump(&self.stats.known_answers_missed);
            hits.known_answer_miss();
            let now = self.now();
            if self.s.known.miss(now) {
                return Err(Error::new(
                    ErrorKind::Device,
                    format!(
                        "the {} stick missed {MAX_MISSES} known-answer jobs in a row: it is not \
                         hashing correctly, or hashes far slower than the configured {:.0} H/s",
                        self.s.protocol.name(),
                        self.settings.hashrate
                    ),
                ));
            }
            if self.s.known.passed {
                return Ok(());
            }
        }
    }

    /// Runs one known-answer job; returns whether it was answered in time.
    fn known_answer(&mut self, hits: &mut Hits<'_>) -> Result<bool, Error> {
        let (id, cost) = match self.s.protocol {
            Protocol::Icarus => {
                let (mid, rest, wire) = super::icarus_golden();
                let id = self.s.take_slot(Job {
                    header: [0; 80],
                    versions: vec![0],
                    base_version: 0,
                    golden: Some((mid, rest)),
                    // With a relaxed ticket an earlier counter may clear it: any verified
                    // answer proves the stick hashes.
                    known: Some((None, false)),
                });
                self.s.port.flush()?;
                self.s.rx.clear();
                self.s.send(&wire)?;
                let cost = Cost {
                    positions: u64::from(super::ICARUS_GOLDEN_COUNTER) + 1,
                    silicon: Duration::ZERO,
                    covered: 0,
                };
                (id, cost)
            }
            protocol => {
                let v = self.s.vector(self.settings.ticket_bits);
                // The answer clears the hard-wired bits, not necessarily the search's mask.
                self.s
                    .set_register(reg::TICKET_MASK, regs::ticket_mask(0))?;
                let id = self.s.take_slot(Job {
                    header: v.header,
                    versions: vec![v.version],
                    base_version: v.version,
                    golden: None,
                    known: Some((Some(v.nonce), false)),
                });
                let n = u64::from(v.nonce);
                let cost = if protocol == Protocol::Bm1370 {
                    let pll = self.pll()?;
                    let w = plan::bm1370_windows(&(n..n + 1), pll, 0)[0];
                    self.bm1370_window(w)?;
                    self.s
                        .send(&ffi::bm1370_job((id << 3) as u8, 0, &v.header))?;
                    Cost {
                        positions: regs::BM1370_CORES * regs::BM1370_BATCH * w.counters,
                        silicon: Duration::from_secs_f64(f64::from(w.hcn) / regs::CRYSTAL_HZ),
                        covered: 0,
                    }
                } else {
                    let sweep = plan::bm1397_sweep(&(n..n + 1)).expect("a one-nonce range");
                    let mid = sha256::Prehash::new(&v.header).midstate;
                    self.s
                        .send(&ffi::bm1397_job((id * 4) as u8, 0, &v.header, &[mid]))?;
                    Cost {
                        positions: sweep.counters * regs::BM1397_CORES,
                        silicon: self.clock_time(sweep.counters as f64),
                        covered: 0,
                    }
                };
                (id, cost)
            }
        };
        let expected = Duration::from_secs_f64(
            (cost.positions as f64 / self.settings.hashrate * self.stretch)
                .max(cost.silicon.as_secs_f64())
                .min(1e6),
        );
        let sent = Instant::now();
        let until = sent + Policy::deadline(expected);
        while !self.answered(id) && Instant::now() < until {
            let left = until.saturating_duration_since(Instant::now());
            self.pump(left.min(Duration::from_millis(50)), hits)?;
        }
        if self.s.protocol != Protocol::Icarus {
            self.sync(hits)?;
        }
        if self.answered(id) {
            return Ok(true);
        }
        // A late answer is a stick slower than configured: sweeps so far may have been cut
        // short (the miss marks the results incomplete), and later ones get more time.
        let grace = Instant::now() + LATE_GRACE;
        while !self.answered(id) && Instant::now() < grace {
            self.pump(Duration::from_millis(50), hits)?;
        }
        if self.answered(id) {
            bump(&self.stats.late_known_answers);
            self.stretch = (self.stretch * 2.0).min(16.0);
        }
        Ok(false)
    }

    fn answered(&self, id: usize) -> bool {
        self.s.slots[id]
            .as_ref()
            .and_then(|j| j.known)
            .is_some_and(|k| k.1)
    }
}
