//! Name resolution: the system resolver (getaddrinfo, so `/etc/hosts` and
//! the configured DNS servers apply, as for k6), except for names RFC 6761
//! reserves as never resolvable.

use std::net::SocketAddr;

use super::ErrorKind;
use super::connect::Failure;

/// The addresses of `host`, in the resolver's order.
pub(crate) async fn lookup(host: &str, port: u16) -> Result<Vec<SocketAddr>, Failure> {
    if is_reserved_invalid(host) {
        // RFC 6761 §6.4: resolver libraries should answer names under
        // `.invalid` negatively at once. Doing so here keeps such a lookup
        // on this machine (no query reaches a DNS server) whatever the
        // system resolver does with it.
        return Err(Failure::new(
            ErrorKind::Dns,
            format!("dns: lookup {host}: no such host (.invalid names never resolve, RFC 6761)"),
        ));
    }
    match tokio::net::lookup_host((host, port)).await {
        Ok(addrs) => {
            let addrs: Vec<SocketAddr> = addrs.collect();
            if addrs.is_empty() {
                Err(Failure::new(
                    ErrorKind::Dns,
                    format!("dns: no address found for {host}"),
                ))
            } else {
                Ok(addrs)
            }
        }
        Err(e) => {
            let text = e.to_string();
            let reason = text
                .strip_prefix("failed to lookup address information: ")
                .unwrap_or(&text);
            Err(Failure::new(
                ErrorKind::Dns,
                format!("dns: lookup {host}: {reason}"),
            ))
        }
    }
}

/// `invalid` or a name under it, in any case, with or without the root dot.
fn is_reserved_invalid(host: &str) -> bool {
    let name = host.strip_suffix('.').unwrap_or(host);
    let tld = name.rsplit('.').next().unwrap_or(name);
    tld.eq_ignore_ascii_case("invalid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_names_under_invalid_are_reserved() {
        for name in ["invalid", "x.invalid", "a.b.INVALID", "x.invalid."] {
            assert!(is_reserved_invalid(name), "{name}");
        }
        for name in ["localhost", "invalid.example", "x.invalidx", "127.0.0.1"] {
            assert!(!is_reserved_invalid(name), "{name}");
        }
    }
}
