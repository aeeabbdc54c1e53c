//! `convoy-config`: the single typed model of a Convoy mesh and sidecar, parsed from YAML and validated once.
//!
//! Raw serde shapes (`raw`) are read from YAML and converted into validated types (`model`,
//! re-exported at the root: [`ProxyConfig`], [`Mesh`], [`Service`] and their parts); [`wire`] is
//! the form a snapshot travels in.
//! Every error names the file, line, column and the path of the field, with a "did you mean"
//! hint for misspelt names. Nothing downstream of the model needs to re-check a value it accepted.
//! All YAML parsing lives in this crate, so the parser can be swapped without touching users.

// Configuration errors are made once, on a cold path, and carry a whole position; boxing them
// would only make every caller unwrap a box.
#![allow(clippy::result_large_err)]

mod duration;
mod error;
mod load;
mod locate;
mod mesh_dir;
mod model;
mod path;
mod raw;
mod validate;
pub mod wire;

pub use duration::{format_duration, parse_duration};
pub use error::{ConfigError, ErrorKind};
pub use load::{load_proxy_config, parse_proxy_config, MAX_CONFIG_BYTES};
pub use mesh_dir::{decode_wire_mesh, load_mesh_dir, mesh_files, parse_mesh_files, MeshSource};
pub use model::*;
pub use path::{normalize_path, PathError};
