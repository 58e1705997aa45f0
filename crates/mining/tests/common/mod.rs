//! Helpers more than one test binary uses.

pub mod duty;
