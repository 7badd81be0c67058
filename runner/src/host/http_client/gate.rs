//! The sandbox's network gate: every request's host is checked against the
//! run's allowed hosts before any name is resolved or socket opened. The set
//! is settled once the plan is resolved; until then (in `describe()`) no
//! request may go out.

use std::sync::OnceLock;

use super::ErrorKind;
use super::connect::{Failure, Target};
use crate::plan::hosts::AllowedHosts;

/// Which hosts requests may go to.
#[derive(Debug, Clone, Default)]
pub struct HostGate(OnceLock<AllowedHosts>);

/// How many allowed patterns a refusal lists before "...".
const LISTED: usize = 4;

impl HostGate {
    /// A gate open to every host (for tests of the client).
    pub fn open() -> Self {
        Self::settled(AllowedHosts::any())
    }

    /// A gate already settled to `hosts`.
    pub fn settled(hosts: AllowedHosts) -> Self {
        let gate = HostGate::default();
        gate.settle(hosts);
        gate
    }

    /// Fixes the allowed hosts; later calls change nothing.
    pub fn settle(&self, hosts: AllowedHosts) {
        let _ = self.0.set(hosts);
    }

    /// Refuses `target` unless it is allowed.
    pub(crate) fn check(&self, target: &Target<'_>) -> Result<(), Failure> {
        let Some(hosts) = self.0.get() else {
            return Err(Failure::new(
                ErrorKind::ForbiddenHost,
                "requests cannot be sent before the plan is resolved (describe() sends none)",
            ));
        };
        if hosts.allows(target.host, target.port) {
            return Ok(());
        }
        let wanted = format!("{}:{}", target.host, target.port);
        let allowed = if hosts.is_empty() {
            "none".to_owned()
        } else {
            let mut list: Vec<&str> = hosts.patterns().take(LISTED).collect();
            if hosts.patterns().count() > LISTED {
                list.push("...");
            }
            list.join(", ")
        };
        Err(Failure::new(
            ErrorKind::ForbiddenHost,
            format!(
                "forbidden host {wanted}: not an allowed host (allowed: {allowed}); \
                 allow it with --allow-host {wanted} or in describe()'s allowed_hosts"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(host: &str, port: u16) -> Target<'_> {
        Target {
            host,
            port,
            tls: false,
        }
    }

    #[test]
    fn unsettled_refuses_all_and_settled_follows_the_set() {
        let gate = HostGate::default();
        let e = gate.check(&target("127.0.0.1", 80)).unwrap_err();
        assert_eq!(e.kind, ErrorKind::ForbiddenHost);
        assert!(e.message.contains("describe()"), "{}", e.message);

        let mut hosts = AllowedHosts::default();
        hosts.add("test", &["127.0.0.1:8080".into()]).unwrap();
        gate.settle(hosts);
        gate.settle(AllowedHosts::any());
        gate.check(&target("127.0.0.1", 8080)).unwrap();
        let e = gate.check(&target("10.0.0.1", 8080)).unwrap_err();
        assert_eq!(
            e.message,
            "forbidden host 10.0.0.1:8080: not an allowed host (allowed: 127.0.0.1:8080); \
             allow it with --allow-host 10.0.0.1:8080 or in describe()'s allowed_hosts"
        );
        let e = HostGate::settled(AllowedHosts::default())
            .check(&target("x", 1))
            .unwrap_err();
        assert!(e.message.contains("(allowed: none)"), "{}", e.message);
        HostGate::open().check(&target("x", 1)).unwrap();
    }
}
