//! Gateway mode: the proxy at the edge of the mesh, as an API gateway (see `convoy_config::model::gateway`).

pub mod auth;
