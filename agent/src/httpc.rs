//! The HTTP client executors and tests use: the runtime's one client,
//! [`libprocess::http_client`], re-exported under its old name.

pub use libprocess::http_client::{record, request, stream, Body, Head, Response};
