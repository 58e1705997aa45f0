//! A cgminer-compatible API (JSON form), for the dashboards and fleet tools that speak it.
