//! The dispatch loop: rate-sized dispatches over every (version group, nonce range), two in
//! flight, hit buffers read back in order and never allowed to lose a candidate.

use super::setup::scoped;
use super::GpuEngine;
use crate::engine::{Control, Hits};
use crate::sha256::Prehash;
use crate::{Error, ErrorKind, Work};
use std::collections::VecDeque;
use std::sync::mpsc;
use std::time::{Duration, Instant};

include!(concat!(env!("OUT_DIR"), "/sha256d_params.rs"));

/// Dispatches in flight: one running while the host reads the other's results.
pub(super) const SLOTS: usize = 2;

/// The first words of every kernel's `Params`: the range and the limit, set per dispatch.
const FIRST: usize = 0;
const COUNT: usize = 1;
const LIMIT: usize = 2;
/// The uniform buffer fits the largest kernel's `Params`.
pub(super) const PARAMS_BYTES: u64 = PARAM_WORDS as u64 * 4;
/// A hit is (nonce, version index), after the count and its padding.
const HIT_BYTES: u64 = 8;
const HITS_HEAD: u64 = 8;
/// The hit buffer's binding holds at least the count and one hit.
pub(super) const HITS_MIN_BYTES: u64 = HITS_HEAD + HIT_BYTES;

/// The most nonces one dispatch covers. With at most 2^20 nonces per workgroup this keeps
/// every nonce offset the kernel computes, padding invocations included, below 2^32.
const MAX_DISPATCH: u64 = 1 << 30;

/// How long to wait for one dispatch before calling the device hung.
const HANG: Duration = Duration::from_secs(60);

/// Workgroups for `count` nonces at `quantum` nonces per workgroup, as `(columns, rows)` with
/// at most `max_groups` columns: a row is as long as the device allows, and rows are balanced
/// so the padding past `count` stays under one workgroup per row.
fn grid(count: u32, quantum: u32, max_groups: u32) -> (u32, u32) {
    let groups = count.div_ceil(quantum).max(1);
    let rows = groups.div_ceil(max_groups);
    (groups.div_ceil(rows), rows)
}

/// One dispatch's buffers: its parameters, the hit list the kernel appends to, and the
/// host-readable copy of that list.
pub(super) struct Slot {
    params: wgpu::Buffer,
    hits: wgpu::Buffer,
    staging: wgpu::Buffer,
    bind: wgpu::BindGroup,
    capacity: u32,
}

impl Slot {
    pub(super) fn new(
        device: &wgpu::Device,
        layout: &wgpu::BindGroupLayout,
        capacity: u32,
    ) -> Result<Self, Error> {
        scoped(device, "buffer allocation", || {
            let bytes = HITS_HEAD + HIT_BYTES * u64::from(capacity);
            let buffer = |label, size, usage| {
                device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some(label),
                    size,
                    usage,
                    mapped_at_creation: false,
                })
            };
            use wgpu::BufferUsages as U;
            let params = buffer("sha256d params", PARAMS_BYTES, U::UNIFORM | U::COPY_DST);
            let hits = buffer(
                "sha256d hits",
                bytes,
                U::STORAGE | U::COPY_SRC | U::COPY_DST,
            );
            let staging = buffer("sha256d readback", bytes, U::MAP_READ | U::COPY_DST);
            let bind = device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("sha256d"),
                layout,
                entries: &[
                    wgpu::BindGroupEntry {
                        binding: 0,
                        resource: params.as_entire_binding(),
                    },
                    wgpu::BindGroupEntry {
                        binding: 1,
                        resource: hits.as_entire_binding(),
                    },
                ],
            });
            Slot {
                params,
                hits,
                staging,
                bind,
                capacity,
            }
        })
    }
}

/// What persists between searches: the buffers, the kernels built so far, and the measured
/// rate that sizes dispatches.
pub(super) struct State {
    slots: Vec<Slot>,
    /// The kernel for `i + 1` versions sharing a dispatch, built on first use: software
    /// rasterisers take a while to compile the bigger ones.
    pub(super) pipelines: Vec<Option<wgpu::ComputePipeline>>,
    /// Hashes (nonces times versions) per second, 0 until the first dispatch completes.
    rate: f64,
}

impl State {
    pub(super) fn new(slots: Vec<Slot>) -> Self {
        State {
            slots,
            pipelines: (0..super::MAX_VERSIONS).map(|_| None).collect(),
            rate: 0.0,
        }
    }
}

/// Versions that share dispatches: `len` of them from roll `first`, and their parameters.
#[derive(Clone)]
struct Group {
    first: u64,
    len: u32,
    params: Vec<u32>,
}

/// A submitted dispatch.
struct Flight {
    slot: usize,
    group: Group,
    submitted: Instant,
    index: wgpu::SubmissionIndex,
    mapped: mpsc::Receiver<Result<(), wgpu::BufferAsyncError>>,
}

impl Flight {
    fn first(&self) -> u32 {
        self.group.params[FIRST]
    }

    fn count(&self) -> u32 {
        self.group.params[COUNT]
    }
}

/// What a dispatch's hit buffer held: the kernel's candidate count, which exceeds the
/// buffer's capacity when some were not stored, and the stored (nonce, version index) pairs.
struct Readout {
    count: u32,
    found: Vec<(u32, u32)>,
}

impl GpuEngine {
    pub(super) fn search_dispatches(
        &self,
        work: &Work,
        ctl: &Control,
        hits: &mut Hits<'_>,
    ) -> Result<(), Error> {
        let mut state = self.state.lock().map_err(|_| {
            Error::new(
                ErrorKind::Device,
                "an earlier search on this GPU engine panicked",
            )
        })?;
        self.faults.check()?;
        let mut flights = VecDeque::new();
        let result = self.pipeline_loop(&mut state, &mut flights, work, ctl, hits);
        if result.is_err() {
            // Leave no buffer mapped or pending, so the next search starts clean.
            let _ = self.device.poll(wgpu::PollType::Wait {
                submission_index: None,
                timeout: Some(HANG),
            });
            for f in flights {
                if let Ok(Ok(())) = f.mapped.try_recv() {
                    state.slots[f.slot].staging.unmap();
                }
            }
        }
        result
    }

    /// The versions from roll `first` on that the next dispatches share, with their
    /// parameters, and the kernel for that many built.
    fn group(&self, state: &mut State, work: &Work, first: u64) -> Result<Group, Error> {
        let len = (work.rolls() - first).min(u64::from(self.versions_per_dispatch())) as u32;
        let pre: Vec<Prehash> = (first..first + u64::from(len))
            .map(|roll| Prehash::new(&work.header_bytes(work.version(roll), 0)))
            .collect();
        let mut params = params(&pre);
        params[LIMIT] = work.target().top_u32();
        let built = &mut state.pipelines[len as usize - 1];
        if built.is_none() {
            *built = Some(self.build_pipeline(len)?);
        }
        Ok(Group { first, len, params })
    }

    fn pipeline_loop(
        &self,
        state: &mut State,
        flights: &mut VecDeque<Flight>,
        work: &Work,
        ctl: &Control,
        hits: &mut Hits<'_>,
    ) -> Result<(), Error> {
        let range = work.nonces();
        let mut next = range.start;
        let mut group: Option<Group> = None;
        let mut roll = 0;
        let mut submitted = 0usize;
        let mut last_done = Instant::now();
        loop {
            while flights.len() < SLOTS && roll < work.rolls() && !ctl.is_cancelled() {
                let g = match &group {
                    Some(g) => g.clone(),
                    None => group.insert(self.group(state, work, roll)?).clone(),
                };
                // `next` < `range.end` <= 2^32 and the count is at most MAX_DISPATCH, so both
                // fit, and the dispatch stops at the range's end.
                let count = self.dispatch_size(state.rate, g.len).min(range.end - next);
                let slot = submitted % SLOTS;
                submitted += 1;
                let f = self.submit(state, slot, g, next as u32, count as u32);
                next += count;
                if next >= range.end {
                    roll += u64::from(f.group.len);
                    (next, group) = (range.start, None);
                }
                flights.push_back(f);
            }
            let Some(f) = flights.pop_front() else {
                return Ok(());
            };
            let readout = self.wait(&state.slots[f.slot], &f)?;
            let done = Instant::now();
            let busy = done.duration_since(f.submitted.max(last_done));
            let hashes = u64::from(f.count()) * u64::from(f.group.len);
            let sample = hashes as f64 / busy.as_secs_f64().max(1e-6);
            state.rate = if state.rate > 0.0 {
                (state.rate + sample) / 2.0
            } else {
                sample
            };
            last_done = done;
            let mut found = if readout.count > state.slots[f.slot].capacity {
                self.rescan(state, f.slot, &f.group, f.first(), f.count(), readout.count)?
            } else {
                readout.found
            };
            // Ascending (version, nonce): versions ascend with the roll index.
            found.sort_unstable_by_key(|&(nonce, k)| (k, nonce));
            for (nonce, k) in found {
                if k < f.group.len {
                    hits.offer(work.version(f.group.first + u64::from(k)), nonce)?;
                } else {
                    hits.hardware_error();
                }
            }
            ctl.add_hashes(hashes);
        }
    }

    /// Nonces for the next dispatch of `versions` versions: the measured rate times the
    /// adapter's dispatch time, in whole workgroups.
    fn dispatch_size(&self, rate: f64, versions: u32) -> u64 {
        let quantum =
            u64::from(self.config.workgroup_size) * u64::from(self.config.nonces_per_invocation);
        let most = MAX_DISPATCH.min(quantum * u64::from(self.max_groups).pow(2));
        // Before any measurement, something small enough to be quick even on a CPU.
        let want = if rate > 0.0 {
            (rate * self.dispatch_time().as_secs_f64() / f64::from(versions)) as u64
        } else {
            quantum * 8
        };
        want.clamp(quantum, most) / quantum * quantum
    }

    fn submit(
        &self,
        state: &State,
        slot_index: usize,
        mut group: Group,
        first: u32,
        count: u32,
    ) -> Flight {
        let slot = &state.slots[slot_index];
        group.params[FIRST] = first;
        group.params[COUNT] = count;
        self.queue
            .write_buffer(&slot.params, 0, bytemuck::cast_slice(&group.params));
        let quantum = self.config.workgroup_size * self.config.nonces_per_invocation;
        let (cols, rows) = grid(count, quantum, self.max_groups);
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("sha256d"),
            });
        encoder.clear_buffer(&slot.hits, 0, Some(4));
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("sha256d"),
                timestamp_writes: None,
            });
            let pipeline = state.pipelines[group.len as usize - 1]
                .as_ref()
                .expect("`group` built the kernel before any dispatch of the group");
            pass.set_pipeline(pipeline);
            pass.set_bind_group(0, &slot.bind, &[]);
            pass.dispatch_workgroups(cols, rows, 1);
        }
        encoder.copy_buffer_to_buffer(&slot.hits, 0, &slot.staging, 0, None);
        let index = self.queue.submit([encoder.finish()]);
        let (tx, rx) = mpsc::channel();
        slot.staging.map_async(wgpu::MapMode::Read, .., move |r| {
            // The receiver is gone only if the search already failed; nothing to tell.
            let _ = tx.send(r);
        });
        Flight {
            slot: slot_index,
            group,
            submitted: Instant::now(),
            index,
            mapped: rx,
        }
    }

    /// Waits for `f` and reads its hit buffer back.
    fn wait(&self, slot: &Slot, f: &Flight) -> Result<Readout, Error> {
        let device_error = |what: String| Error::new(ErrorKind::Device, what);
        self.device
            .poll(wgpu::PollType::Wait {
                submission_index: Some(f.index.clone()),
                timeout: Some(HANG),
            })
            .map_err(|e| device_error(format!("GPU did not finish a dispatch: {e}")))?;
        self.faults.check()?;
        match f.mapped.try_recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(device_error(format!("reading GPU results: {e}"))),
            Err(_) => {
                return Err(device_error(
                    "GPU finished a dispatch but never mapped its results".into(),
                ))
            }
        }
        let readout = {
            let view = slot
                .staging
                .get_mapped_range(..)
                .map_err(|e| device_error(format!("reading GPU results: {e}")))?;
            let word = |c: &[u8]| u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            let count = view.get(..4).map_or(0, word);
            Readout {
                count,
                found: view[HITS_HEAD as usize..]
                    .chunks_exact(HIT_BYTES as usize)
                    .take(count as usize)
                    .map(|c| (word(&c[..4]), word(&c[4..])))
                    .collect(),
            }
        };
        slot.staging.unmap();
        Ok(readout)
    }

    /// Scans `first..first + count` again after a dispatch counted `reported` candidates but
    /// could store fewer: with a hit buffer grown to fit them if the ceiling allows, else in
    /// pieces small enough to fit.
    fn rescan(
        &self,
        state: &mut State,
        slot: usize,
        group: &Group,
        first: u32,
        count: u32,
        reported: u32,
    ) -> Result<Vec<(u32, u32)>, Error> {
        let capacity = state.slots[slot].capacity;
        if u64::from(count) * u64::from(group.len) <= u64::from(capacity) {
            // Fewer candidates possible than slots, yet it overflowed: the device is lying.
            return Err(Error::new(
                ErrorKind::Device,
                format!(
                    "GPU reported {reported} candidates among {count} nonces x {} versions",
                    group.len
                ),
            ));
        }
        if capacity < self.max_capacity {
            let grown = reported
                .checked_next_power_of_two()
                .unwrap_or(u32::MAX)
                .min(self.max_capacity);
            state.slots[slot] = Slot::new(&self.device, &self.layout, grown)?;
        }
        let capacity = state.slots[slot].capacity;
        let pieces = if reported <= capacity {
            1
        } else {
            // Aim each piece at half the capacity; at least halve, so this ends.
            (u64::from(reported) * 2)
                .div_ceil(u64::from(capacity))
                .clamp(2, u64::from(count)) as u32
        };
        let step = count.div_ceil(pieces);
        let mut out = Vec::new();
        let mut start = first;
        let end = u64::from(first) + u64::from(count);
        while u64::from(start) < end {
            let n = step.min((end - u64::from(start)) as u32);
            let f = self.submit(state, slot, group.clone(), start, n);
            let readout = self.wait(&state.slots[slot], &f)?;
            if readout.count > state.slots[slot].capacity {
                out.extend(self.rescan(state, slot, group, start, n, readout.count)?);
            } else {
                out.extend(readout.found);
            }
            // The last piece may end exactly at 2^32, where `start` has nowhere to go.
            match start.checked_add(n) {
                Some(s) => start = s,
                None => break,
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel's indexing: invocation `y * cols * WG + x`, nonces `invocation * NPI + j`.
    #[test]
    fn grid_covers_every_nonce_without_wrapping() {
        for (count, wg, npi, max) in [
            (1, 64, 32, 65535),
            (70_001, 1, 1, 65535),
            (MAX_DISPATCH as u32, 1, 1, 65535),
            (MAX_DISPATCH as u32, 1024, 1024, 65535),
            (5_000_000, 64, 1, 1000),
        ] {
            let (cols, rows) = grid(count, wg * npi, max);
            assert!(
                cols <= max && rows <= max,
                "{count} {wg} {npi}: {cols} x {rows}"
            );
            let groups = u64::from(cols) * u64::from(rows);
            assert!(groups * u64::from(wg * npi) >= u64::from(count));
            // The last nonce offset the grid computes, padding included, fits in a u32.
            let last = groups * u64::from(wg) * u64::from(npi) - 1;
            assert!(last < 1 << 32, "{count} {wg} {npi}: offset {last}");
        }
        assert_eq!(grid(70_001, 1, 65535), (35_001, 2));
    }

    /// Every kernel's `Params` starts with the words the dispatch sets, and `params` fills
    /// exactly as many words as the kernel declares fields, the largest fitting the buffer.
    #[test]
    fn params_follow_the_kernel_struct() {
        let pre = Prehash::new(&[7; 80]);
        for versions in 1..=super::super::MAX_VERSIONS {
            let kernel = super::super::kernel_wgsl(versions).expect("1..=MAX_VERSIONS");
            let body = kernel
                .split_once("struct Params {")
                .and_then(|(_, rest)| rest.split_once('}'))
                .expect("the kernel declares Params")
                .0;
            let fields: Vec<&str> = body
                .split(',')
                .filter_map(|f| f.split_once(':'))
                .map(|(name, _)| name.trim())
                .collect();
            assert_eq!(
                (fields[FIRST], fields[COUNT], fields[LIMIT]),
                ("first", "count", "limit")
            );
            let words = params(&vec![pre.clone(); versions as usize]).len();
            assert_eq!(fields.len(), words, "{versions} versions");
            assert!(words <= PARAM_WORDS);
        }
        assert_eq!(params(&[]), Vec::<u32>::new());
    }
}
