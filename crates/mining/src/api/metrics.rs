//! Prometheus metrics in the text exposition format 0.0.4.
