//! In-process upstream servers on `127.0.0.1:0`: they stand in for the apps behind sidecars
//! and record what reached them.

mod echo;
mod flaky;
mod grpc;
mod serve;
mod streaming;
mod tcp_echo;

pub use echo::{Behaviour, EchoServer, Seen};
pub use flaky::Flaky;
pub use grpc::{grpc_frame, grpc_messages, GrpcServer, CUSTOM_TRAILER};
pub use streaming::{StreamingServer, Upload};
pub use tcp_echo::TcpEchoServer;
