//! A TCP relay to one address that can be cut: a stand-in for a network partition between
//! a sidecar and its control plane (point the sidecar's `--control-plane` at the relay).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Forwards every connection it accepts to `target`, while open. Closed, it drops each
/// connection as soon as it is accepted (connections relayed before stay as they are).
/// Dropping it stops accepting; relayed connections end when either side closes.
#[derive(Debug)]
pub struct TcpRelay {
    addr: SocketAddr,
    open: Arc<AtomicBool>,
    accept: JoinHandle<()>,
}

impl TcpRelay {
    /// An open relay on `127.0.0.1:0` to `target`.
    pub async fn start(target: SocketAddr) -> TcpRelay {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the relay");
        let addr = listener.local_addr().expect("a bound address");
        let open = Arc::new(AtomicBool::new(true));
        let accept = tokio::spawn({
            let open = open.clone();
            async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    if !open.load(Ordering::SeqCst) {
                        continue;
                    }
                    tokio::spawn(async move {
                        if let Ok(mut outbound) = TcpStream::connect(target).await {
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    });
                }
            }
        });
        TcpRelay { addr, open, accept }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Opens (true) or closes (false) it for new connections.
    pub fn set_open(&self, open: bool) {
        self.open.store(open, Ordering::SeqCst);
    }
}

impl Drop for TcpRelay {
    fn drop(&mut self) {
        self.accept.abort();
    }
}
