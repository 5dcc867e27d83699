//! Published host ports that the kernel forwards by DNAT are held: bound by the
//! monitor, never listened on, for as long as it runs. The start checks that a port
//! is free, but without a holder a host process could bind it later and never see
//! a connection (the DNAT rule takes them first), with no error anywhere. Held, that
//! process gets "address in use" instead; Docker's userland proxy holds its ports
//! the same way.

use std::io;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;

use rustix::net::{sockopt, AddressFamily, SocketFlags, SocketType};

use crate::config::HoldConfig;

/// A socket bound to `addr` and left at that: TCP without listen(2), so a
/// connection to it is refused as if nothing were bound; UDP with the smallest
/// receive buffer, since nothing reads it. An IPv6 one is IPv6-only, so holding
/// `[::]:P` does not also take `0.0.0.0:P`.
fn bind_only(addr: SocketAddr, udp: bool) -> io::Result<OwnedFd> {
    let family = if addr.is_ipv6() {
        AddressFamily::INET6
    } else {
        AddressFamily::INET
    };
    let kind = if udp {
        SocketType::DGRAM
    } else {
        SocketType::STREAM
    };
    let fd = rustix::net::socket_with(family, kind, SocketFlags::CLOEXEC, None)?;
    if addr.is_ipv6() {
        sockopt::set_ipv6_v6only(&fd, true)?;
    }
    if udp {
        sockopt::set_socket_recv_buffer_size(&fd, 1)?;
    }
    rustix::net::bind(&fd, &addr)?;
    Ok(fd)
}

/// Binds every port, or none: the first that fails is the error.
pub fn bind_all(holds: &[HoldConfig]) -> io::Result<Vec<OwnedFd>> {
    holds
        .iter()
        .map(|h| {
            bind_only(h.addr, h.udp).map_err(|e| {
                let proto = if h.udp { "udp" } else { "tcp" };
                io::Error::new(e.kind(), format!("holding {}/{proto}: {e}", h.addr))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};

    #[test]
    fn a_held_port_cannot_be_bound_and_refuses_connections() {
        let free = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let addr = free.local_addr().unwrap();
        drop(free);
        let held = bind_all(&[
            HoldConfig { addr, udp: false },
            HoldConfig { addr, udp: true },
        ])
        .unwrap();
        let e = TcpListener::bind(addr).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse, "{e}");
        let e = UdpSocket::bind(addr).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse, "{e}");
        let e = TcpStream::connect(addr).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused, "{e}");
        // Holding it twice fails, naming the port.
        let e = bind_all(&[HoldConfig { addr, udp: false }]).unwrap_err();
        assert!(e.to_string().contains(&format!("{addr}/tcp")), "{e}");
        drop(held);
        TcpListener::bind(addr).unwrap();
    }

    #[test]
    fn an_ipv6_hold_leaves_the_ipv4_port_alone() {
        let free = TcpListener::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap();
        let port = free.local_addr().unwrap().port();
        drop(free);
        let any6 = SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), port);
        let Ok(held) = bind_all(&[HoldConfig {
            addr: any6,
            udp: false,
        }]) else {
            // A host without IPv6 cannot hold an IPv6 port; nothing to test.
            assert!(
                TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).is_err(),
                "IPv6 works here, so the hold should have too"
            );
            return;
        };
        TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)).expect("the IPv4 port stays free");
        drop(held);
    }
}
