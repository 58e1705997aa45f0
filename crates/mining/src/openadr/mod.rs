//! OpenADR 3: the miner as a VEN (virtual end node) of a utility's VTN (virtual top node).
//!
//! The VEN gets an OAuth2 client-credentials token, finds its program by name, pages through
//! the program's events and resolves them into a [`Timeline`]: every interval placed in time
//! (RFC 3339 starts, the spec's "now" start, ISO 8601 durations with `P9999Y` for forever,
//! `randomizeStart` offsets), and at any instant the [`Limit`] that wins by priority:
//!
//! - `IMPORT_CAPACITY_LIMIT` (kW on the wire) as a cap in watts,
//! - `SIMPLE` levels 0 to 3 as fractions of the load's usual power ([`SimpleLevels`]),
//! - `ALERT_GRID_EMERGENCY` and `ALERT_BLACK_START` as a hard stop, whatever the priority.
//!
//! It posts reports back ([`Reading`]: average power as `DEMAND` in kW).
//!
//! [`Ven`] is the protocol as a pure state machine (requests out, replies in); [`VenClient`]
//! is its blocking HTTP shell. Everything read from the VTN is bounded: replies are capped at
//! [`MAX_REPLY_BYTES`], a poll at [`MAX_EVENTS`] events and [`MAX_POLL_INTERVALS`] intervals,
//! durations at a thousand years (or the spec's forever). Not implemented: the event
//! `duration` that loops intervals (OpenADR 3.1), targets beyond what the VTN filters, MQTT
//! or webhook notifications (the VEN polls), https.

mod client;
mod event;
mod iso;
mod timeline;
mod ven;

pub use client::{VenClient, MAX_REPLY_BYTES, REQUEST_DEADLINE};
pub use event::Signal;
pub use timeline::{Limit, Segment, SimpleLevels, Timeline};
pub use ven::{Reading, Request, Step, Ven, VenConfig, MAX_EVENTS, MAX_POLL_INTERVALS, PAGE};

#[cfg(test)]
mod tests;
