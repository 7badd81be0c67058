//! Idle keep-alive connections of one client, per origin (scheme, host, port).
//!
//! Owned by a single VU and used from one task at a time, so plain `&mut`
//! access does: no locks. Origins get a small integer id the first time they
//! are seen; a lookup after that reuses a scratch key buffer and allocates
//! nothing.

use std::collections::HashMap;
use std::fmt::Write as _;

use super::connect::Conn;

pub(crate) struct Pools {
    ids: HashMap<Box<str>, usize>,
    /// Idle connections per origin id; the most recently used is last.
    idle: Vec<Vec<Conn>>,
    /// Idle connections kept per origin.
    max_idle: usize,
    key: String,
}

impl Pools {
    pub(crate) fn new(max_conns_per_origin: usize) -> Self {
        Pools {
            ids: HashMap::new(),
            idle: Vec::new(),
            max_idle: max_conns_per_origin.max(1),
            key: String::new(),
        }
    }

    /// The id of an origin; host names compare case-insensitively.
    pub(crate) fn origin(&mut self, tls: bool, host: &str, port: u16) -> usize {
        self.key.clear();
        self.key.push_str(if tls { "https://" } else { "http://" });
        self.key
            .extend(host.chars().map(|c| c.to_ascii_lowercase()));
        let _ = write!(self.key, ":{port}");
        if let Some(&id) = self.ids.get(self.key.as_str()) {
            return id;
        }
        let id = self.idle.len();
        self.idle.push(Vec::new());
        self.ids.insert(self.key.as_str().into(), id);
        id
    }

    /// The most recently used idle connection not known to be closed.
    /// (A closed one is dropped here; one that closes meanwhile is caught by
    /// the readiness check or the keep-alive retry.)
    pub(crate) fn take(&mut self, origin: usize) -> Option<Conn> {
        let idle = &mut self.idle[origin];
        while let Some(conn) = idle.pop() {
            if !conn.sender.is_closed() {
                return Some(conn);
            }
        }
        None
    }

    /// Returns a connection after a complete exchange.
    pub(crate) fn put(&mut self, origin: usize, conn: Conn) {
        let idle = &mut self.idle[origin];
        if !conn.sender.is_closed() && idle.len() < self.max_idle {
            idle.push(conn);
        }
    }

    /// Connections held and not known to be closed.
    pub(crate) fn open(&self) -> usize {
        self.idle
            .iter()
            .flatten()
            .filter(|c| !c.sender.is_closed())
            .count()
    }
}
