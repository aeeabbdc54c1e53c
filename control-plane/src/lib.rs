//! `convoy-control-plane`: reads the mesh from a directory of YAML, validates it, and streams versioned snapshots to every sidecar.
//!
//! The pieces, one file each: the directory [`watcher`] (notify events, debounced, plus a
//! polling fallback) feeds the [`hub`], which publishes each version once as a pre-serialized
//! line shared by every sidecar [`session`]; the [`registry`] turns registered sidecars into
//! endpoints; [`history`] keeps what was published (and the configurations for rollback).
//! [`api`] (over [`tls`]) and [`admin`] are the two listeners; [`commands`] are the
//! command-line clients. [`ca`] is the mesh CA: the trust anchor, join tokens, and the
//! certificates [`certificate`] issues from sidecars' CSRs.

pub mod admin;
pub mod api;
pub mod app;
pub mod ca;
pub mod certificate;
pub mod cli;
pub mod client;
pub mod commands;
pub mod debounce;
pub mod history;
pub mod http;
pub mod hub;
pub mod metrics;
pub mod registry;
pub mod server;
pub mod session;
pub mod summary;
pub mod table;
pub mod tls;
pub mod views;
pub mod watcher;
