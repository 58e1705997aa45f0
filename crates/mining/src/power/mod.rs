//! The power policy's decisions: setpoints, where they come from, and how fast to reach them.
//!
//! Everything here is pure (time is passed in) except the thin file readers and writers and
//! the duty gate's sleep, so each rule is tested with exact instants:
//!
//! - [`Cap`]: a setpoint (off, full, a fraction, a hashrate, watts) and its flag syntax;
//! - [`Schedule`]: `--schedule` windows in local time, DST handled;
//! - [`PriceRule`]: curtail while a price stays above a strike for a hold time;
//! - [`HardStopStore`]: a persisted hard stop that survives a restart;
//! - [`Policy`]: named sources combined by the lowest cap, with fail-safes and [`PowerEvent`]s;
//! - [`Ramp`]: economic changes ramped, emergencies at once;
//! - [`Duty`] and [`DutyGate`]: how workers throttle to a duty fraction.
//!
//! One tick of the caller's loop (once a second, and at [`Policy::next_change_after`]): feed
//! each source into the [`Policy`] (the schedule as `cap_at` until `next_change_after`, the
//! price rule's [`PriceStatus`], a [`HardStop`] as an emergency `off`), [`Policy::evaluate`],
//! pass the decision's duty and urgency through the [`Ramp`], store the result in the shared
//! [`Duty`], and call [`Policy::complied`] once the devices measure the new duty.
//!
//! A worker throttles like this, hashing at most [`busy_slice`] before each rest:
//!
//! ```no_run
//! use sha256d_mining::power::{busy_slice, Duty, DutyGate};
//! use std::sync::atomic::AtomicBool;
//! use std::time::Instant;
//!
//! fn worker(duty: &Duty, stop: &AtomicBool, mut hash_for: impl FnMut(std::time::Duration)) {
//!     let mut gate = DutyGate::new();
//!     while !stop.load(std::sync::atomic::Ordering::Relaxed) {
//!         let start = Instant::now();
//!         hash_for(busy_slice(duty.get()));
//!         gate.rest(start.elapsed(), duty, stop);
//!     }
//! }
//! ```

mod cap;
mod duty;
mod feed;
mod file;
mod hard_stop;
mod policy;
mod price;
mod ramp;
mod schedule;

pub use cap::{Cap, CapError, Capacity, ParseCapError};
pub use duty::{busy_slice, rest_for, Duty, DutyGate, PERIOD};
pub use feed::PriceFeed;
pub use hard_stop::{HardStop, HardStopError, HardStopStore, MAX_HARD_STOP_FILE_BYTES};
pub use policy::{Decision, Policy, PolicyError, PowerEvent, Segment, MAX_EVENTS};
pub use price::{
    parse_price, read_price_file, ParsePriceError, PriceReading, PriceRule, PriceState,
    PriceStatus, MAX_PRICE_FILE_BYTES,
};
pub use ramp::{Ramp, RampConfig, Urgency};
pub use schedule::{ParseScheduleError, Schedule, ScheduleRule};
