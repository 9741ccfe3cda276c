//! The SSRF guard at send time (docs/notifications.md §6): every address a host name resolves to is classified with the
//! core's rule before any connection, and the HTTP client connects only to the addresses checked here.
//! IP-literal hosts (which no resolver sees) are checked by [`check_literal_host`].

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use status_checks_core::ssrf;
use status_checks_core::status_checks::UrlPolicy;
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

/// A resolver that refuses blocked addresses unless the operator's policy admits them.
#[derive(Clone)]
pub struct GuardedResolver {
    policy: Arc<UrlPolicy>,
    lookup: Lookup,
}

impl GuardedResolver {
    /// A guard over `lookup` under `policy` (`--allow-local-requests`, `--outbound-allowlist`).
    pub fn new(policy: UrlPolicy, lookup: Lookup) -> Self {
        GuardedResolver {
            policy: Arc::new(policy),
            lookup,
        }
    }
}

/// The addresses `host` resolved to that a connection may use, or why none: a local address passes only
/// if local requests are allowed, or the allowlist names the host or the address.
pub fn vet(host: &str, addresses: Vec<IpAddr>, policy: &UrlPolicy) -> Result<Vec<IpAddr>, Refusal> {
    if addresses.is_empty() {
        return Err(Refusal::Unresolvable);
    }
    if !policy.allow_local_requests && !policy.allowlist.admits_name(host) {
        // One blocked address refuses the name: a name that mixes public and private answers is a rebinding trick.
        if let Some(blocked) = addresses
            .iter()
            .find(|ip| ssrf::is_blocked(**ip) && !policy.allowlist.admits_ip(**ip))
        {
            return Err(Refusal::Blocked(*blocked));
        }
    }
    Ok(addresses)
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let lookup = self.lookup.clone();
        let policy = self.policy.clone();
        Box::pin(async move {
            let resolved = lookup(host.clone()).await.map_err(|_| {
                Box::new(Refusal::Unresolvable) as Box<dyn std::error::Error + Send + Sync>
            })?;
            let vetted = vet(&host, resolved, &policy)
                .map_err(|r| Box::new(r) as Box<dyn std::error::Error + Send + Sync>)?;
            let addrs: Addrs = Box::new(vetted.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// Refuses a URL whose host is an IP literal in a blocked range (names go through [`GuardedResolver`]).
pub fn check_literal_host(url: &url::Url, policy: &UrlPolicy) -> Result<(), Refusal> {
    let ip = match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
        _ => return Ok(()),
    };
    if !policy.allow_local_requests && ssrf::is_blocked(ip) && !policy.allowlist.admits_ip(ip) {
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

    fn policy(allow_local_requests: bool) -> UrlPolicy {
        UrlPolicy {
            allow_local_requests,
            ..UrlPolicy::default()
        }
    }

    #[test]
    fn the_allowlist_admits_what_it_names() {
        let allowlist = ssrf::OutboundAllowlist::parse("git.internal, 10.9.0.0/16")
            .unwrap_or_else(|e| panic!("{e}"));
        let policy = UrlPolicy {
            allow_local_requests: false,
            allowlist,
        };
        assert!(vet("git.internal", vec![ip("127.0.0.1")], &policy).is_ok());
        assert!(vet("other.internal", vec![ip("10.9.3.4")], &policy).is_ok());
        assert_eq!(
            vet("other.internal", vec![ip("10.8.3.4")], &policy),
            Err(Refusal::Blocked(ip("10.8.3.4")))
        );
        let url = |raw: &str| url::Url::parse(raw).unwrap_or_else(|_| panic!("{raw}"));
        assert_eq!(
            check_literal_host(&url("http://10.9.0.1/"), &policy),
            Ok(())
        );
        assert!(check_literal_host(&url("http://10.10.0.1/"), &policy).is_err());
    }

    #[test]
    fn vetting() {
        assert_eq!(
            vet("h", vec![ip("8.8.8.8")], &policy(false)),
            Ok(vec![ip("8.8.8.8")])
        );
        assert_eq!(
            vet("h", vec![ip("8.8.8.8"), ip("10.0.0.1")], &policy(false)),
            Err(Refusal::Blocked(ip("10.0.0.1")))
        );
        assert_eq!(
            vet("h", vec![ip("::1")], &policy(false)),
            Err(Refusal::Blocked(ip("::1")))
        );
        assert_eq!(
            vet("h", vec![ip("127.0.0.1")], &policy(true)),
            Ok(vec![ip("127.0.0.1")])
        );
        assert_eq!(vet("h", vec![], &policy(true)), Err(Refusal::Unresolvable));
        assert_eq!(
            Refusal::Blocked(ip("127.0.0.1")).to_string(),
            "blocked address 127.0.0.1"
        );
    }

    #[test]
    fn literal_hosts() {
        let url = |raw: &str| url::Url::parse(raw).unwrap_or_else(|_| panic!("{raw}"));
        assert_eq!(
            check_literal_host(&url("http://127.1/x"), &policy(false)),
            Err(Refusal::Blocked(ip("127.0.0.1")))
        );
        assert_eq!(
            check_literal_host(&url("http://[::ffff:10.0.0.1]/"), &policy(false)),
            Err(Refusal::Blocked(ip("::ffff:10.0.0.1")))
        );
        assert_eq!(
            check_literal_host(&url("http://0x7f.0.0.1"), &policy(true)),
            Ok(())
        );
        assert_eq!(
            check_literal_host(&url("http://example.com"), &policy(false)),
            Ok(())
        );
        assert_eq!(
            check_literal_host(&url("http://8.8.8.8"), &policy(false)),
            Ok(())
        );
    }
}
