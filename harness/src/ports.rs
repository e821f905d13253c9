//! Free TCP ports on 127.0.0.1 for brokers, controllers and proxies.
//!
//! Ports come from below the kernel's ephemeral range (`ip_local_port_range`): a port handed
//! out by `bind(0)` is an ephemeral one, and once released it can be taken as the *source*
//! port of any outgoing client connection before the broker binds it. Reserved ports are held
//! by listening sockets until the caller drops the reservation, and never handed out twice
//! by this process.

use std::collections::HashSet;
use std::hash::{BuildHasher, Hasher};
use std::net::TcpListener;
use std::sync::{Mutex, OnceLock};

use crate::error::{HarnessError, Result};

/// Ports held open until dropped.
#[derive(Debug)]
pub struct PortReservation {
    ports: Vec<u16>,
    listeners: Vec<TcpListener>,
}

impl PortReservation {
    pub fn ports(&self) -> Vec<u16> {
        self.ports.clone()
    }

    /// Hands over the listening socket holding `port`, so whoever serves on it (a fault
    /// proxy) takes it without a window in which another process could bind it.
    pub fn take_listener(&mut self, port: u16) -> Option<TcpListener> {
        let i = self.ports.iter().position(|p| *p == port)?;
        self.ports.remove(i);
        Some(self.listeners.remove(i))
    }
}

fn handed_out() -> &'static Mutex<HashSet<u16>> {
    static SET: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    SET.get_or_init(|| Mutex::new(HashSet::new()))
}

fn ephemeral_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|p| p.parse().ok()))
        .unwrap_or(32768)
}

fn random_u64() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}

/// Reserves `count` distinct free ports.
pub fn reserve(count: usize) -> Result<PortReservation> {
    let high = ephemeral_start().max(12000);
    let low = 10000u16;
    let span = u64::from(high - low);
    let mut ports = Vec::with_capacity(count);
    let mut listeners = Vec::with_capacity(count);
    let mut set = handed_out()
        .lock()
        .map_err(|_| HarnessError::io("port registry")(std::io::Error::other("poisoned")))?;
    let mut tries = 0;
    while ports.len() < count {
        tries += 1;
        if tries > 5000 {
            return Err(HarnessError::Io {
                context: format!("finding {count} free ports between {low} and {high}"),
                source: std::io::Error::other("too many ports in use"),
            });
        }
        let port = low + (random_u64() % span) as u16;
        if set.contains(&port) {
            continue;
        }
        if let Ok(listener) = TcpListener::bind(("127.0.0.1", port)) {
            set.insert(port);
            ports.push(port);
            listeners.push(listener);
        }
    }
    Ok(PortReservation { ports, listeners })
}

/// Reserves exactly these ports, or says which one is in use.
pub fn reserve_explicit(ports: &[u16], what: &str) -> Result<PortReservation> {
    let mut listeners = Vec::with_capacity(ports.len());
    for &port in ports {
        let listener =
            TcpListener::bind(("127.0.0.1", port)).map_err(|_| HarnessError::PortInUse {
                port,
                what: format!("asked for by cluster `{what}`"),
            })?;
        listeners.push(listener);
    }
    if let Ok(mut set) = handed_out().lock() {
        set.extend(ports.iter().copied());
    }
    Ok(PortReservation {
        ports: ports.to_vec(),
        listeners,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_ports_are_distinct_below_the_ephemeral_range_and_held() {
        let r = reserve(6).unwrap();
        let ports = r.ports();
        let unique: HashSet<u16> = ports.iter().copied().collect();
        assert_eq!(unique.len(), 6);
        assert!(ports.iter().all(|p| *p < ephemeral_start().max(12000)));
        assert!(
            TcpListener::bind(("127.0.0.1", ports[0])).is_err(),
            "held while reserved"
        );
        drop(r);
        assert!(
            TcpListener::bind(("127.0.0.1", ports[0])).is_ok(),
            "free once dropped"
        );
    }

    #[test]
    fn a_taken_listener_keeps_its_port_held_after_the_reservation_is_dropped() {
        let mut r = reserve(2).unwrap();
        let ports = r.ports();
        let held = r.take_listener(ports[1]).unwrap();
        assert_eq!(held.local_addr().unwrap().port(), ports[1]);
        assert_eq!(r.ports(), vec![ports[0]]);
        assert!(r.take_listener(ports[1]).is_none());
        drop(r);
        assert!(TcpListener::bind(("127.0.0.1", ports[1])).is_err());
        assert!(TcpListener::bind(("127.0.0.1", ports[0])).is_ok());
    }

    #[test]
    fn an_explicit_port_in_use_is_named() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let err = reserve_explicit(&[port], "source").unwrap_err().to_string();
        assert!(
            err.contains(&port.to_string()) && err.contains("in use"),
            "{err}"
        );
    }
}
