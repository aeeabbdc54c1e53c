//! Loopback ports: free ones for a child to bind, and closed ones where nothing listens.
//!
//! Between picking a port and the child binding it, any outgoing connection on the machine
//! may take it as its ephemeral source port, and those come from `127.0.0.1`; and another
//! test's listener on `127.0.0.1:0` may take a port just released. On Linux, where all of
//! `127.0.0.0/8` answers, [`closed_port`] and [`free_ports`] therefore use an address of their
//! own (`127.x.y.z`, chosen at random) where neither can collide; where only `127.0.0.1`
//! exists (macOS), they fall back to it.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};

/// A port on `127.0.0.1` that was free a moment ago (bound and released), for a listener a
/// child binds that clients reach by name (`localhost`) or that cannot report its address.
pub fn try_free_port() -> std::io::Result<SocketAddr> {
    TcpListener::bind("127.0.0.1:0")?.local_addr()
}

/// [`try_free_port`], panicking if loopback cannot be bound.
pub fn free_port() -> SocketAddr {
    try_free_port().expect("bind a probe port")
}

/// An address on loopback where nothing listens (a dead endpoint or app): a port just bound
/// and released, on a random loopback address other than `127.0.0.1`, so that no other
/// test's listener on `127.0.0.1:0` can take the port before it is used (a "dead endpoint"
/// would then answer); on `127.0.0.1` where only that address exists.
pub fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind((private_loopback(), 0))
        .or_else(|_| TcpListener::bind("127.0.0.1:0"))
        .expect("bind a probe port");
    listener.local_addr().expect("a bound address")
}

/// `n` distinct free ports on one loopback address of their own (see the module's notes). All
/// listeners are held until every port is picked, so no port is handed out twice.
pub fn free_ports(n: usize) -> std::io::Result<Vec<SocketAddr>> {
    let private = private_loopback();
    let ip = if TcpListener::bind((private, 0)).is_ok() {
        private
    } else {
        Ipv4Addr::LOCALHOST
    };
    let listeners = (0..n)
        .map(|_| TcpListener::bind((ip, 0)))
        .collect::<std::io::Result<Vec<_>>>()?;
    listeners.iter().map(TcpListener::local_addr).collect()
}

/// A random loopback address other than `127.0.0.1` (and not a network or broadcast address
/// of any /24).
fn private_loopback() -> Ipv4Addr {
    use rand::Rng as _;
    let mut rng = rand::rng();
    Ipv4Addr::new(
        127,
        rng.random_range(1..=254),
        rng.random_range(0..=255),
        rng.random_range(1..=254),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_distinct_and_on_one_address() {
        let ports = free_ports(10).unwrap();
        let mut numbers: Vec<u16> = ports.iter().map(SocketAddr::port).collect();
        numbers.sort_unstable();
        numbers.dedup();
        assert_eq!(numbers.len(), 10);
        assert!(ports.iter().all(|p| p.ip() == ports[0].ip()));
        assert!(ports.iter().all(|p| p.ip().is_loopback()));
    }

    #[test]
    fn nothing_listens_on_a_closed_port() {
        let addr = closed_port();
        assert!(addr.ip().is_loopback());
        assert!(std::net::TcpStream::connect(addr).is_err());
    }

    #[test]
    fn a_free_port_is_on_localhost() {
        assert_eq!(free_port().ip(), Ipv4Addr::LOCALHOST);
    }
}
