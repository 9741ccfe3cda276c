//! Outbound address safety (SSRF), docs/notifications.md §6: which addresses a notification may never reach.
//!
//! Pure classification over [`IpAddr`]: the save-time URL check applies it to IP literals (in whatever spelling
//! the URL parser accepts: `127.1`, `2130706433`, `0x7f.0.0.1`, `[::ffff:127.0.0.1]`), and the notifier applies it
//! again to every address a host name resolves to, just before connecting.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What kind of address an IP is, for outbound requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressClass {
    /// A public address: allowed.
    Public,
    /// `0.0.0.0/8`, `::`.
    Unspecified,
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// `10/8`, `172.16/12`, `192.168/16`, `fc00::/7`, `fec0::/10`.
    Private,
    /// `100.64/10` (carrier-grade NAT).
    SharedAddressSpace,
    /// `169.254/16`, `fe80::/10`.
    LinkLocal,
    /// `224/4`, `ff00::/8`.
    Multicast,
    /// `255.255.255.255`.
    Broadcast,
    /// `240/4` and other reserved ranges.
    Reserved,
}

impl AddressClass {
    /// Whether a notification may be sent to such an address without `--allow-local-requests`.
    pub fn is_blocked(self) -> bool {
        self != AddressClass::Public
    }

    /// The reason shown in `External url is blocked: <reason>` (a delivery's `last_error` names the address).
    pub fn reason(self) -> &'static str {
        match self {
            AddressClass::Public => "Requests to this address are allowed",
            AddressClass::Unspecified => "Requests to the unspecified address are not allowed",
            AddressClass::Loopback => "Requests to loopback addresses are not allowed",
            AddressClass::Private => "Requests to the local network are not allowed",
            AddressClass::SharedAddressSpace => {
                "Requests to the shared address space are not allowed"
            }
            AddressClass::LinkLocal => "Requests to the link local network are not allowed",
            AddressClass::Multicast => "Requests to multicast addresses are not allowed",
            AddressClass::Broadcast => "Requests to the limited broadcast address are not allowed",
            AddressClass::Reserved => "Requests to reserved addresses are not allowed",
        }
    }
}

/// Classifies an address. IPv6 forms that embed an IPv4 address (mapped `::ffff:a.b.c.d`, compatible
/// `::a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) are classified by the embedded address.
pub fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

/// Whether an address is blocked for outbound requests unless local requests are allowed.
pub fn is_blocked(ip: IpAddr) -> bool {
    classify(ip).is_blocked()
}

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    let [a, b, _, _] = ip.octets();
    if a == 0 {
        AddressClass::Unspecified
    } else if a == 127 {
        AddressClass::Loopback
    } else if a == 10 || (a == 172 && (16..=31).contains(&b)) || (a == 192 && b == 168) {
        AddressClass::Private
    } else if a == 100 && (64..=127).contains(&b) {
        AddressClass::SharedAddressSpace
    } else if a == 169 && b == 254 {
        AddressClass::LinkLocal
    } else if ip.is_broadcast() {
        AddressClass::Broadcast
    } else if (224..=239).contains(&a) {
        AddressClass::Multicast
    } else if a >= 240 {
        AddressClass::Reserved
    } else {
        AddressClass::Public
    }
}

fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    let segments = ip.segments();
    if ip.is_unspecified() {
        return AddressClass::Unspecified;
    }
    if ip.is_loopback() {
        return AddressClass::Loopback;
    }
    if let Some(v4) = embedded_v4(ip) {
        return classify_v4(v4);
    }
    let first = segments[0];
    if first & 0xfe00 == 0xfc00 || first & 0xffc0 == 0xfec0 {
        AddressClass::Private
    } else if first & 0xffc0 == 0xfe80 {
        AddressClass::LinkLocal
    } else if first & 0xff00 == 0xff00 {
        AddressClass::Multicast
    } else {
        AddressClass::Public
    }
}

/// The IPv4 address an IPv6 address carries, for the forms that route to it.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible, deprecated).
        [0, 0, 0, 0, 0, 0xffff, _, _] | [0, 0, 0, 0, 0, 0, _, _] => Some(low),
        // 64:ff9b::a.b.c.d (NAT64).
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(low),
        // 2002:AABB:CCDD::/48 (6to4).
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new(
            (hi >> 8) as u8,
            hi as u8,
            (lo >> 8) as u8,
            lo as u8,
        )),
        _ => None,
    }
}

/// Whether a host name is `localhost` or a subdomain of it (case-insensitive, trailing dot ignored).
pub fn is_localhost_name(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    host == "localhost" || host.ends_with(".localhost")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn class(raw: &str) -> AddressClass {
        classify(raw.parse().unwrap_or_else(|_| panic!("not an ip: {raw}")))
    }

    #[test]
    fn every_class_of_the_contract() {
        assert_eq!(class("127.0.0.1"), AddressClass::Loopback);
        assert_eq!(class("127.255.0.9"), AddressClass::Loopback);
        assert_eq!(class("::1"), AddressClass::Loopback);
        assert_eq!(class("10.1.2.3"), AddressClass::Private);
        assert_eq!(class("172.16.0.1"), AddressClass::Private);
        assert_eq!(class("172.31.255.255"), AddressClass::Private);
        assert_eq!(class("172.32.0.1"), AddressClass::Public);
        assert_eq!(class("172.15.0.1"), AddressClass::Public);
        assert_eq!(class("192.168.0.1"), AddressClass::Private);
        assert_eq!(class("169.254.169.254"), AddressClass::LinkLocal);
        assert_eq!(class("fc00::1"), AddressClass::Private);
        assert_eq!(class("fd12:3456::1"), AddressClass::Private);
        assert_eq!(class("fe80::1"), AddressClass::LinkLocal);
        assert_eq!(class("febf::1"), AddressClass::LinkLocal);
        assert_eq!(class("ff02::1"), AddressClass::Multicast);
        assert_eq!(class("224.0.0.1"), AddressClass::Multicast);
        assert_eq!(class("0.0.0.0"), AddressClass::Unspecified);
        assert_eq!(class("0.1.2.3"), AddressClass::Unspecified);
        assert_eq!(class("::"), AddressClass::Unspecified);
        assert_eq!(class("255.255.255.255"), AddressClass::Broadcast);
        assert_eq!(class("240.0.0.1"), AddressClass::Reserved);
        assert_eq!(class("100.64.0.1"), AddressClass::SharedAddressSpace);
        assert_eq!(class("8.8.8.8"), AddressClass::Public);
        assert_eq!(class("2606:4700::1111"), AddressClass::Public);
    }

    #[test]
    fn embedded_ipv4_is_classified_by_its_v4_part() {
        assert_eq!(class("::ffff:127.0.0.1"), AddressClass::Loopback);
        assert_eq!(class("::ffff:10.0.0.1"), AddressClass::Private);
        assert_eq!(class("::ffff:8.8.8.8"), AddressClass::Public);
        assert_eq!(class("::127.0.0.1"), AddressClass::Loopback);
        assert_eq!(class("64:ff9b::169.254.169.254"), AddressClass::LinkLocal);
        assert_eq!(class("2002:7f00:1::"), AddressClass::Loopback);
        assert_eq!(class("2002:808:808::"), AddressClass::Public);
    }

    #[test]
    fn localhost_names() {
        assert!(is_localhost_name("localhost"));
        assert!(is_localhost_name("LOCALHOST."));
        assert!(is_localhost_name("api.localhost"));
        assert!(!is_localhost_name("localhost.example.com"));
        assert!(!is_localhost_name("notlocalhost"));
    }

    proptest! {
        #[test]
        fn v4_agrees_with_the_standard_library(raw in any::<u32>()) {
            let ip = Ipv4Addr::from(raw);
            let std_says_local = ip.is_loopback() || ip.is_private() || ip.is_link_local()
                || ip.is_multicast() || ip.is_broadcast() || ip.is_unspecified();
            // Everything std calls local is blocked; we block a few more ranges besides.
            if std_says_local {
                prop_assert!(classify_v4(ip).is_blocked());
            }
        }

        #[test]
        fn mapped_v6_is_classified_like_its_v4(raw in any::<u32>()) {
            let v4 = Ipv4Addr::from(raw);
            prop_assert_eq!(classify(IpAddr::V6(v4.to_ipv6_mapped())), classify(IpAddr::V4(v4)));
        }

        #[test]
        fn every_unique_local_and_link_local_v6_is_blocked(rest in any::<u128>()) {
            let ula = Ipv6Addr::from((0xfc00u128 << 112) | (rest >> 7));
            let link = Ipv6Addr::from((0xfe80u128 << 112) | (rest >> 10));
            prop_assert!(is_blocked(IpAddr::V6(ula)));
            prop_assert!(is_blocked(IpAddr::V6(link)));
        }
    }
}

/// The operator's outbound allowlist (`--outbound-allowlist`): host names, IP addresses and CIDR ranges that
/// outbound requests (to checks and forges) may reach although they are local, as GitLab's "Local IP
/// addresses and domain names that hooks and integrations can access". Host names match exactly, without
/// regard to case or a trailing dot; an entry never admits more than it names.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OutboundAllowlist {
    hosts: Vec<String>,
    networks: Vec<(IpAddr, u8)>,
}

impl OutboundAllowlist {
    /// Reads a comma-separated list: `git.internal`, `10.0.0.5`, `10.1.0.0/16`, `fd00::/8`; blanks are
    /// skipped. The error names the first entry that is none of these.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut list = OutboundAllowlist::default();
        for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if let Some((ip, bits)) = entry.split_once('/') {
                let ip: IpAddr = ip
                    .parse()
                    .map_err(|_| format!("`{entry}` is not a CIDR range"))?;
                let max = if ip.is_ipv4() { 32 } else { 128 };
                let bits: u8 = bits
                    .parse()
                    .ok()
                    .filter(|b| *b <= max)
                    .ok_or_else(|| format!("`{entry}` is not a CIDR range"))?;
                list.networks.push((ip, bits));
            } else if let Ok(ip) = entry
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
            {
                list.networks
                    .push((ip, if ip.is_ipv4() { 32 } else { 128 }));
            } else if entry
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
            {
                list.hosts
                    .push(entry.trim_end_matches('.').to_ascii_lowercase());
            } else {
                return Err(format!(
                    "`{entry}` is not a host name, an IP address or a CIDR range"
                ));
            }
        }
        Ok(list)
    }

    /// Whether the list names nothing.
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty() && self.networks.is_empty()
    }

    /// Whether `host` (a name, as in a URL) is on the list.
    pub fn admits_name(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.hosts.contains(&host)
    }

    /// Whether `ip` is in one of the listed addresses or ranges.
    pub fn admits_ip(&self, ip: IpAddr) -> bool {
        self.networks
            .iter()
            .any(|(network, bits)| in_network(ip, *network, *bits))
    }
}

fn in_network(ip: IpAddr, network: IpAddr, bits: u8) -> bool {
    match (ip, network) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V4(_)) => ip
            .to_ipv4_mapped()
            .is_some_and(|v4| in_network(IpAddr::V4(v4), network, bits)),
        (IpAddr::V4(_), IpAddr::V6(_)) => false,
    }
}

#[cfg(test)]
mod allowlist_tests {
    use super::*;

    fn ip(raw: &str) -> IpAddr {
        raw.parse().unwrap_or_else(|_| panic!("{raw}"))
    }

    #[test]
    fn entries_admit_what_they_name_and_nothing_more() {
        let list = OutboundAllowlist::parse(" git.internal., 10.0.0.5 ,192.168.0.0/16, fd00::/8,")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(list.admits_name("GIT.internal"));
        assert!(!list.admits_name("evil.git.internal"));
        assert!(list.admits_ip(ip("10.0.0.5")));
        assert!(!list.admits_ip(ip("10.0.0.6")));
        assert!(list.admits_ip(ip("192.168.44.1")));
        assert!(list.admits_ip(ip("::ffff:192.168.1.1")));
        assert!(!list.admits_ip(ip("192.169.0.1")));
        assert!(list.admits_ip(ip("fd12::1")));
        assert!(!list.admits_ip(ip("fe80::1")));
        assert!(OutboundAllowlist::parse("").is_ok_and(|l| l.is_empty()));
        for bad in ["10.0.0.0/33", "a b", "http://x", "::/129", "x/8"] {
            assert!(OutboundAllowlist::parse(bad).is_err(), "{bad}");
        }
        let everything = OutboundAllowlist::parse("0.0.0.0/0").unwrap_or_default();
        assert!(everything.admits_ip(ip("127.0.0.1")));
    }
}
