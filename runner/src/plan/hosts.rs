//! Allowed hosts: where a scenario's requests may go. The module declares
//! patterns in `describe()` (`allowed_hosts`), an options file may add some,
//! and `--allow-host` adds more; a request to any other host fails with the
//! `forbidden-host` error before a name is resolved or a socket opened.
//!
//! A pattern is `HOST`, `HOST:PORT` or `HOST:*`, where HOST is a name
//! (`api.example.com`, `localhost`), a wildcard for every subdomain of a name
//! (`*.example.com`, which does not match `example.com` itself), an IPv4
//! address or a bracketed IPv6 address (`[::1]`); `*` alone allows every host.
//! Without a port every port is allowed. Names compare case-insensitively and
//! match the URL's host as written, before any DNS lookup.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::exit::bad_input;

/// What a pattern's host part matches.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HostMatch {
    /// `*`: every host.
    Any,
    /// One name, lowercase, without a trailing dot.
    Name(String),
    /// Every subdomain: the name with a leading dot (`.example.com`).
    Subdomains(String),
    /// One address.
    Ip(IpAddr),
}

/// One allowed-host pattern, as written and as parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    text: String,
    host: HostMatch,
    /// None: every port.
    port: Option<u16>,
}

/// Why a pattern was refused (shown after the pattern and its source).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError(String);

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn refuse<T>(msg: impl Into<String>) -> Result<T, PatternError> {
    Err(PatternError(msg.into()))
}

impl HostPattern {
    /// Parses one pattern.
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        let s = text.trim();
        if s.is_empty() {
            return refuse("the pattern is empty");
        }
        if let Some((scheme, rest)) = s.split_once("://") {
            let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
            return refuse(format!(
                "give a host, not a {scheme}:// URL (e.g. `{authority}`)"
            ));
        }
        if s.contains(['/', '?', '#', '@']) || s.chars().any(char::is_whitespace) {
            return refuse("a host pattern is HOST, HOST:PORT or *.DOMAIN, without a path");
        }
        let (host, port) = split_port(s)?;
        let host = parse_host(host)?;
        if host == HostMatch::Any && port.is_some() {
            return refuse("`*` already allows every port; write `*` alone");
        }
        Ok(HostPattern {
            text: s.to_owned(),
            host,
            port,
        })
    }

    /// Whether a request to `host` (as in the URL; IPv6 in brackets) on
    /// `port` matches.
    pub fn matches(&self, host: &str, port: u16) -> bool {
        if self.port.is_some_and(|p| p != port) {
            return false;
        }
        match &self.host {
            HostMatch::Any => true,
            HostMatch::Ip(ip) => parse_ip(host).is_some_and(|h| h == *ip),
            HostMatch::Name(name) => normalise(host).is_some_and(|h| h == *name),
            HostMatch::Subdomains(suffix) => normalise(host)
                .is_some_and(|h| h.len() > suffix.len() && h.ends_with(suffix.as_str())),
        }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// Splits `host[:port]`; IPv6 addresses must be bracketed.
fn split_port(s: &str) -> Result<(&str, Option<u16>), PatternError> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let Some(end) = rest.find(']') else {
            return refuse("an IPv6 address needs its closing `]`, e.g. `[::1]:8080`");
        };
        let after = &rest[end + 1..];
        let port = match after {
            "" => None,
            p => match p.strip_prefix(':') {
                Some(p) => Some(p),
                None => return refuse("expected `:PORT` after the `]`"),
            },
        };
        (&s[..end + 2], port)
    } else {
        match s.matches(':').count() {
            0 => (s, None),
            1 => {
                let (h, p) = s.split_once(':').unwrap_or((s, ""));
                (h, Some(p))
            }
            _ => return refuse("write IPv6 addresses in brackets, e.g. `[::1]:8080`"),
        }
    };
    let port = match port {
        None | Some("*") => None,
        Some(p) => match p.parse::<u16>() {
            Ok(0) | Err(_) => {
                return refuse(format!(
                    "`{p}` is not a port; give 1-65535 or `*` for every port"
                ));
            }
            Ok(n) => Some(n),
        },
    };
    Ok((host, port))
}

fn parse_host(host: &str) -> Result<HostMatch, PatternError> {
    if host == "*" {
        return Ok(HostMatch::Any);
    }
    if let Some(inner) = host.strip_prefix('[') {
        let inner = inner.strip_suffix(']').unwrap_or(inner);
        return match inner.parse::<std::net::Ipv6Addr>() {
            Ok(ip) => Ok(HostMatch::Ip(IpAddr::V6(ip))),
            Err(_) => refuse(format!("`{inner}` is not an IPv6 address")),
        };
    }
    if let Ok(ip) = host.parse::<std::net::Ipv4Addr>() {
        return Ok(HostMatch::Ip(IpAddr::V4(ip)));
    }
    let (wildcard, name) = match host.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, host),
    };
    if name.contains('*') {
        return refuse("`*` may only stand alone or as the first label, as in `*.example.com`");
    }
    let name = check_name(name)?;
    Ok(if wildcard {
        HostMatch::Subdomains(format!(".{name}"))
    } else {
        HostMatch::Name(name)
    })
}

/// A DNS name, lowercased, without a trailing dot.
fn check_name(name: &str) -> Result<String, PatternError> {
    if !name.is_ascii() {
        return refuse("write internationalised names in their ASCII form (`xn--...`)");
    }
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    if name.is_empty() || name.len() > 253 {
        return refuse("a host name has 1 to 253 characters");
    }
    for label in name.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return refuse(format!(
                "`{label}` is not a valid label of a host name (letters, digits, `-`; 1-63 characters)"
            ));
        }
    }
    if name
        .split('.')
        .next_back()
        .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
    {
        return refuse(format!(
            "`{name}` is neither a host name nor an IPv4 address"
        ));
    }
    Ok(name)
}

/// A URL host as an address, if it is one.
fn parse_ip(host: &str) -> Option<IpAddr> {
    match host.strip_prefix('[') {
        Some(inner) => inner.strip_suffix(']')?.parse().ok(),
        None => host.parse().ok(),
    }
}

/// A URL host as a comparable name: lowercase, no trailing dot.
fn normalise(host: &str) -> Option<String> {
    if host.starts_with('[') {
        return None;
    }
    let host = host.strip_suffix('.').unwrap_or(host);
    Some(host.to_ascii_lowercase())
}

/// The patterns a run allows, from every source together.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedHosts {
    patterns: Vec<HostPattern>,
}

impl AllowedHosts {
    /// Every host (what `*` means); for tests of the HTTP client.
    pub fn any() -> Self {
        AllowedHosts {
            patterns: vec![HostPattern {
                text: "*".into(),
                host: HostMatch::Any,
                port: None,
            }],
        }
    }

    /// Adds `items`, naming `source` (e.g. "--allow-host") if one is invalid.
    pub fn add(&mut self, source: &str, items: &[String]) -> anyhow::Result<()> {
        for item in items {
            let pattern = HostPattern::parse(item)
                .map_err(|e| bad_input(format!("{source}: `{item}` is not a host pattern: {e}")))?;
            if !self.patterns.contains(&pattern) {
                self.patterns.push(pattern);
            }
        }
        Ok(())
    }

    /// Whether a request to `host` (as in the URL) on `port` may go out.
    pub fn allows(&self, host: &str, port: u16) -> bool {
        self.patterns.iter().any(|p| p.matches(host, port))
    }

    /// True when no host at all is allowed.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// The patterns as written.
    pub fn patterns(&self) -> impl Iterator<Item = &str> {
        self.patterns.iter().map(HostPattern::as_str)
    }
}

impl Serialize for AllowedHosts {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.patterns())
    }
}

/// Read back from a results file's plan (`merge`), the patterns re-parsed.
impl<'de> Deserialize<'de> for AllowedHosts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let items = Vec::<String>::deserialize(d)?;
        let mut hosts = AllowedHosts::default();
        hosts
            .add("allowed_hosts", &items)
            .map_err(serde::de::Error::custom)?;
        Ok(hosts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> HostPattern {
        HostPattern::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn names_ports_and_wildcards_match() {
        let exact = p("API.Example.com:8080");
        assert!(exact.matches("api.example.com", 8080));
        assert!(exact.matches("api.EXAMPLE.com.", 8080));
        assert!(!exact.matches("api.example.com", 80));
        assert!(!exact.matches("x.api.example.com", 8080));

        let any_port = p("localhost");
        assert!(any_port.matches("localhost", 1));
        assert!(any_port.matches("localhost", 65535));
        assert_eq!(
            p("localhost:*"),
            HostPattern {
                text: "localhost:*".into(),
                ..any_port
            }
        );

        let sub = p("*.example.com");
        assert!(sub.matches("a.example.com", 443));
        assert!(sub.matches("a.b.example.com", 80));
        assert!(!sub.matches("example.com", 443));
        assert!(!sub.matches("badexample.com", 443));

        assert!(p("*").matches("anything.at.all", 9));
    }

    #[test]
    fn addresses_match_as_addresses() {
        let v4 = p("127.0.0.1:8080");
        assert!(v4.matches("127.0.0.1", 8080));
        assert!(!v4.matches("127.0.0.2", 8080));
        assert!(!v4.matches("localhost", 8080));
        let v6 = p("[::1]");
        assert!(v6.matches("[::1]", 443));
        assert!(v6.matches("[0:0:0:0:0:0:0:1]", 80));
        assert!(!v6.matches("[::2]", 80));
        assert!(p("[::1]:9000").matches("[::1]", 9000));
        assert!(!p("[::1]:9000").matches("[::1]", 9001));
    }

    #[test]
    fn bad_patterns_say_what_is_wrong() {
        for (bad, needle) in [
            ("", "empty"),
            (
                "http://127.0.0.1:8080/x",
                "not a http:// URL (e.g. `127.0.0.1:8080`)",
            ),
            ("host/path", "without a path"),
            ("::1", "brackets"),
            ("[::1", "closing"),
            ("[::1]8080", "`:PORT`"),
            ("[zz]", "not an IPv6 address"),
            ("host:0", "not a port"),
            ("host:99999", "not a port"),
            ("host:http", "not a port"),
            ("*:80", "every port"),
            ("a.*.com", "first label"),
            ("**.com", "first label"),
            ("-bad.com", "not a valid label"),
            ("a..b", "not a valid label"),
            ("bücher.de", "xn--"),
            ("1.2.3", "neither a host name nor an IPv4"),
            ("999.1.1.1", "neither a host name nor an IPv4"),
        ] {
            let err = HostPattern::parse(bad).unwrap_err().to_string();
            assert!(err.contains(needle), "{bad:?}: {err}");
        }
    }

    #[test]
    fn the_set_names_the_source_of_a_bad_pattern_and_dedups() {
        let mut hosts = AllowedHosts::default();
        assert!(hosts.is_empty());
        assert!(!hosts.allows("127.0.0.1", 80));
        hosts
            .add(
                "describe()",
                &["127.0.0.1:8080".into(), "127.0.0.1:8080".into()],
            )
            .unwrap();
        hosts.add("--allow-host", &["*.svc".into()]).unwrap();
        assert_eq!(
            hosts.patterns().collect::<Vec<_>>(),
            ["127.0.0.1:8080", "*.svc"]
        );
        assert!(hosts.allows("127.0.0.1", 8080));
        assert!(hosts.allows("db.svc", 5432));
        assert!(!hosts.allows("127.0.0.1", 8081));
        assert_eq!(
            serde_json::to_string(&hosts).unwrap(),
            r#"["127.0.0.1:8080","*.svc"]"#
        );
        let err = hosts.add("--allow-host", &["a b".into()]).unwrap_err();
        assert!(crate::exit::is_bad_input(&err));
        assert_eq!(
            err.to_string(),
            "--allow-host: `a b` is not a host pattern: a host pattern is HOST, HOST:PORT or *.DOMAIN, without a path"
        );
    }
}
