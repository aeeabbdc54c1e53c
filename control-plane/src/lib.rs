//! `convoy-control-plane`: reads the mesh from a directory of YAML, validates it, and streams versioned snapshots to every sidecar.
//!
//! The pieces, one file each: the directory `watcher` (notify events, debounced, plus a
//! polling fallback) feeds the `hub`, which publishes each version once as a pre-serialized
//! line shared by every sidecar `session`; the `registry` turns registered sidecars into
//! endpoints; `history` keeps what was published (and the configurations for rollback).
//! `api` (over `tls`) and `admin` are the two listeners; [`commands`] are the
//! command-line clients. `ca` is the mesh CA: the trust anchor, join tokens, and the
//! certificates `certificate` issues from sidecars' CSRs.
//!
//! What the binary uses is public: the command line ([`Cli`]), [`run`] for `serve`, and the
//! [`commands`].

mod admin;
mod api;
mod app;
mod ca;
mod certificate;
mod cli;
mod client;
pub mod commands;
mod debounce;
mod history;
mod http;
mod hub;
mod metrics;
mod registry;
mod server;
mod session;
mod summary;
mod table;
mod tls;
mod views;
mod watcher;

pub use app::{run, AppError};
pub use ca::CaError;
pub use cli::{Cli, Command, HistoryArgs, RollbackArgs, ServeArgs, StatusArgs, ValidateArgs};
pub use client::ClientError;
pub use hub::PublishError;
pub use tls::TlsError;
