//! Request and connection counters, shared by every connection of one server.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// Snapshot of what a [`crate::TargetServer`] has served so far.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct Stats {
    /// Requests counted, i.e. all requests except those to `/__stats`.
    pub total: u64,
    /// Requests per route key (`"ok"`, `"tasks.list"`, `"other"`, ...).
    pub by_route: BTreeMap<String, u64>,
    /// TCP connections accepted (before any TLS handshake).
    pub connections: u64,
}

/// Live counters behind [`Stats`].
#[derive(Debug, Default)]
pub(crate) struct StatsRecorder {
    // One lock for both so a snapshot's `total` always equals the sum of `by_route`.
    requests: Mutex<Requests>,
    connections: AtomicU64,
}

#[derive(Debug, Default)]
struct Requests {
    total: u64,
    by_route: BTreeMap<&'static str, u64>,
}

impl StatsRecorder {
    pub(crate) fn record_request(&self, route_key: &'static str) {
        let mut requests = lock(&self.requests);
        requests.total += 1;
        *requests.by_route.entry(route_key).or_default() += 1;
    }

    pub(crate) fn record_connection(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> Stats {
        let requests = lock(&self.requests);
        Stats {
            total: requests.total,
            by_route: requests
                .by_route
                .iter()
                .map(|(key, count)| ((*key).to_owned(), *count))
                .collect(),
            connections: self.connections.load(Ordering::Relaxed),
        }
    }
}

/// Counters stay meaningful even if a holder panicked, so ignore poisoning.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
