//! The dashboard page, shipped inside the binary.
