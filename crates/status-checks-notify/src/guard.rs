//! The SSRF guard at send time (docs/notifications.md §6): every address a host name resolves to is classified with the
//! core's rule before any connection, and the HTTP client connects only to the addresses checked here.
//! IP-literal hosts (which no resolver sees) are checked by [`check_literal_host`].

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use status_checks_core::ssrf;
use std::fmt;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;

/// Why the guard refused a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The address is loopback, private, link-local, … and local requests are not allowed.
    Blocked(IpAddr),
    /// The name does not resolve.
    Unresolvable,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Blocked(ip) => write!(f, "blocked address {ip}"),
            Refusal::Unresolvable => f.write_str("unresolvable host"),
        }
    }
}

impl std::error::Error for Refusal {}

/// A name lookup: the system resolver in production, a fixed table in tests.
pub type Lookup = Arc<
    dyn Fn(String) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>>
        + Send
        + Sync,
>;

/// The operating system's resolver.
pub fn system_lookup() -> Lookup {
    Arc::new(|host: String| {
        Box::pin(async move {
            let addresses = tokio::net::lookup_host((host.as_str(), 0)).await?;
            Ok(addresses.map(|a| a.ip()).collect())
        })
    })
}

/// A resolver that refuses blocked addresses unless local requests are allowed.
#[derive(Clone)]
pub struct GuardedResolver {
    allow_local_requests: bool,
    lookup: Lookup,
}

impl GuardedResolver {
    /// A guard over `lookup`.
    pub fn new(allow_local_requests: bool, lookup: Lookup) -> Self {
        GuardedResolver {
            allow_local_requests,
            lookup,
        }
    }
}

/// The addresses a connection may use, or why none.
pub fn vet(addresses: Vec<IpAddr>, allow_local_requests: bool) -> Result<Vec<IpAddr>, Refusal> {
    if addresses.is_empty() {
        return Err(Refusal::Unresolvable);
    }
    if !allow_local_requests {
        // One blocked address refuses the name: a name that mixes public and private answers is a rebinding trick.
        if let Some(blocked) = addresses.iter().find(|ip| ssrf::is_blocked(**ip)) {
            return Err(Refusal::Blocked(*blocked));
        }
    }
    Ok(addresses)
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let lookup = self.lookup.clone();
        let allow = self.allow_local_requests;
        Box::pin(async move {
            let resolved = lookup(host).await.map_err(|_| {
                Box::new(Refusal::Unresolvable) as Box<dyn std::error::Error + Send + Sync>
            })?;
            let vetted = vet(resolved, allow)
                .map_err(|r| Box::new(r) as Box<dyn std::error::Error + Send + Sync>)?;
            let addrs: Addrs = Box::new(vetted.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// Refuses a URL whose host is an IP literal in a blocked range (names go through [`GuardedResolver`]).
pub fn check_literal_host(url: &url::Url, allow_local_requests: bool) -> Result<(), Refusal> {
    let ip = match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
        _ => return Ok(()),
    };
    if !allow_local_requests && ssrf::is_blocked(ip) {
        return Err(Refusal::Blocked(ip));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(raw: &str) -> IpAddr {
        raw.parse().unwrap_or_else(|_| panic!("{raw}"))
    }

    #[test]
    fn vetting() {
        assert_eq!(vet(vec![ip("8.8.8.8")], false), Ok(vec![ip("8.8.8.8")]));
        assert_eq!(
            vet(vec![ip("8.8.8.8"), ip("10.0.0.1")], false),
            Err(Refusal::Blocked(ip("10.0.0.1")))
        );
        assert_eq!(
            vet(vec![ip("::1")], false),
            Err(Refusal::Blocked(ip("::1")))
        );
        assert_eq!(vet(vec![ip("127.0.0.1")], true), Ok(vec![ip("127.0.0.1")]));
        assert_eq!(vet(vec![], true), Err(Refusal::Unresolvable));
        assert_eq!(
            Refusal::Blocked(ip("127.0.0.1")).to_string(),
            "blocked address 127.0.0.1"
        );
    }

    #[test]
    fn literal_hosts() {
        let url = |raw: &str| url::Url::parse(raw).unwrap_or_else(|_| panic!("{raw}"));
        assert_eq!(
            check_literal_host(&url("http://127.1/x"), false),
            Err(Refusal::Blocked(ip("127.0.0.1")))
        );
        assert_eq!(
            check_literal_host(&url("http://[::ffff:10.0.0.1]/"), false),
            Err(Refusal::Blocked(ip("::ffff:10.0.0.1")))
        );
        assert_eq!(check_literal_host(&url("http://0x7f.0.0.1"), true), Ok(()));
        assert_eq!(
            check_literal_host(&url("http://example.com"), false),
            Ok(())
        );
        assert_eq!(check_literal_host(&url("http://8.8.8.8"), false), Ok(()));
    }
}
