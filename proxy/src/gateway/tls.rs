//! Gateway listeners with TLS: certificates from files, re-read when they change.
