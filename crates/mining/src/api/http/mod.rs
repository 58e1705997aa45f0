//! The HTTP API: JSON over HTTP/1.1 with read and control bearer tokens.
