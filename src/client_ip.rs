//! The client's IP address, decided in one place for every feature that
//! keys on it (throttling today).
//!
//! `X-Forwarded-For` is written by whoever sends the request, so it is only
//! believed when the socket peer is one of `TRUSTED_PROXIES`, and then only
//! the hops those proxies appended: walking from the right, the first address
//! that is not itself a trusted proxy is the client. Everything left of it
//! was supplied by the client and is ignored. (actix's
//! `ConnectionInfo::realip_remote_addr` believes the left-most entry from
//! anyone, which is why it is not used.)

use std::{
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    str::FromStr,
};

use actix_web::{HttpRequest, http::header};

/// One `TRUSTED_PROXIES` entry: an address or a CIDR range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    network: IpAddr,
    prefix: u8,
}

impl IpRange {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                mask_v4(u32::from(ip), self.prefix) == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                mask_v6(u128::from(ip), self.prefix) == u128::from(net)
            }
            _ => false,
        }
    }
}

fn mask_v4(bits: u32, prefix: u8) -> u32 {
    bits & u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn mask_v6(bits: u128, prefix: u8) -> u128 {
    bits & u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

impl FromStr for IpRange {
    type Err = String;

    fn from_str(entry: &str) -> Result<Self, String> {
        let (address, prefix) = match entry.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (entry, None),
        };
        let network: IpAddr = address
            .parse()
            .map_err(|_| format!("`{entry}` is not an IP address or CIDR range"))?;
        // Peers are compared in canonical form, so a mapped range would never match.
        if let IpAddr::V6(v6) = network
            && v6.to_ipv4_mapped().is_some()
        {
            return Err(format!("`{entry}`: write IPv4 addresses in IPv4 form"));
        }
        let bits = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => bits,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= bits)
                .ok_or_else(|| format!("`{entry}` has a prefix length outside 0..={bits}"))?,
        };
        if prefix == 0 {
            return Err(format!(
                "`{entry}` trusts every address, which would let any client choose its own IP"
            ));
        }
        let masked = match network {
            IpAddr::V4(ip) => IpAddr::V4(Ipv4Addr::from(mask_v4(u32::from(ip), prefix))),
            IpAddr::V6(ip) => IpAddr::V6(Ipv6Addr::from(mask_v6(u128::from(ip), prefix))),
        };
        if masked != network {
            return Err(format!(
                "`{entry}` has host bits set (did you mean {masked}/{prefix}?)"
            ));
        }
        Ok(IpRange { network, prefix })
    }
}

impl fmt::Display for IpRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// The proxies whose `X-Forwarded-For` entries are believed. Empty (the
/// default) means the header is ignored entirely.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpRange>);

impl TrustedProxies {
    /// A comma-separated list of addresses and CIDR ranges.
    pub fn parse(list: &str) -> Result<Self, String> {
        list.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(IpRange::from_str)
            .collect::<Result<_, _>>()
            .map(TrustedProxies)
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|range| range.contains(ip))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The key a client is counted under (throttling, the bcrypt bound): its
/// address, but one IPv6 host usually owns a whole /64, so keying by full
/// address would hand it 2^64 budgets.
pub fn budget_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        v4 => v4,
    }
}

/// The client address of a request.
pub fn client_ip(req: &HttpRequest, trusted: &TrustedProxies) -> IpAddr {
    // Only a non-TCP transport has no peer; sharing one budget is the
    // cautious answer, since such clients cannot be told apart.
    let Some(peer) = req.peer_addr() else {
        return IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    };
    if !trusted.contains(peer.ip()) {
        return peer.ip().to_canonical();
    }
    // A value that is not visible ASCII stays in place as an unparseable hop,
    // so the walk stops there rather than skipping over it.
    let values: Vec<&str> = req
        .headers()
        .get_all(header::X_FORWARDED_FOR)
        .map(|value| value.to_str().unwrap_or(""))
        .collect();
    resolve(peer.ip(), &values, trusted)
}

/// The client address, given the socket peer and the `X-Forwarded-For`
/// header values in the order they were received.
pub fn resolve(peer: IpAddr, forwarded_for: &[&str], trusted: &TrustedProxies) -> IpAddr {
    let mut client = peer.to_canonical();
    if !trusted.contains(client) {
        return client;
    }
    for hop in forwarded_for.iter().flat_map(|v| v.split(',')).rev() {
        // A hop our proxies cannot have written means the chain is not what
        // it claims: stop at the last address a trusted proxy vouched for.
        let Some(ip) = parse_hop(hop) else {
            break;
        };
        client = ip;
        if !trusted.contains(ip) {
            break;
        }
    }
    client
}

/// Some proxies append the client's port (`1.2.3.4:5678`, `[2001:db8::1]:443`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    let ip = hop
        .parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            hop.strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .and_then(|h| h.parse::<Ipv6Addr>().ok())
                .map(IpAddr::V6)
        })?;
    Some(ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    fn trusted(list: &str) -> TrustedProxies {
        TrustedProxies::parse(list).expect("valid list")
    }

    #[test]
    fn trusted_proxies_accept_addresses_and_cidr_ranges() {
        let list = trusted(" 10.0.0.0/8, 192.168.1.7 ,fd00::/8, ::1 ,");
        assert!(list.contains(ip("10.200.3.4")));
        assert!(list.contains(ip("192.168.1.7")));
        assert!(!list.contains(ip("192.168.1.8")));
        assert!(!list.contains(ip("11.0.0.1")));
        assert!(list.contains(ip("fd12:3456::1")));
        assert!(list.contains(ip("::1")));
        assert!(!list.contains(ip("fe80::1")));
        // IPv4 peers reported on a dual-stack socket still match IPv4 ranges.
        assert!(list.contains(ip("::ffff:10.1.2.3")));
        assert!(trusted("").is_empty());
        assert!(trusted("192.0.2.1/32").contains(ip("192.0.2.1")));
        assert!(!trusted("192.0.2.1/32").contains(ip("192.0.2.2")));
    }

    #[test]
    fn bad_trusted_proxy_entries_are_refused_with_a_reason() {
        for (entry, reason) in [
            ("10.0.0.1/8", "host bits"),
            ("10.0.0.0/33", "prefix length"),
            ("::/129", "prefix length"),
            ("10.0.0.0/x", "prefix length"),
            ("0.0.0.0/0", "every address"),
            ("::/0", "every address"),
            ("proxy.internal", "not an IP"),
            ("10.0.0.0/8/8", "prefix length"),
            ("::ffff:10.0.0.1", "IPv4 form"),
        ] {
            let err = TrustedProxies::parse(entry).expect_err(entry);
            assert!(err.contains(reason), "{entry}: {err}");
        }
    }

    #[test]
    fn clients_are_counted_by_address_and_ipv6_by_its_64_bit_prefix() {
        assert_eq!(budget_key(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(
            budget_key(ip("2001:db8:1:2:aaaa::1")),
            budget_key(ip("2001:db8:1:2:bbbb::2"))
        );
        assert_ne!(
            budget_key(ip("2001:db8:1:2::1")),
            budget_key(ip("2001:db8:1:3::1"))
        );
        assert_eq!(budget_key(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
        assert_eq!(budget_key(ip("192.0.2.1")), ip("192.0.2.1"));
    }

    #[test]
    fn forwarded_for_is_ignored_unless_the_peer_is_trusted() {
        let none = TrustedProxies::default();
        assert_eq!(
            resolve(ip("203.0.113.9"), &["1.2.3.4"], &none),
            ip("203.0.113.9")
        );
        let proxies = trusted("10.0.0.0/8");
        assert_eq!(
            resolve(ip("203.0.113.9"), &["1.2.3.4"], &proxies),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let proxies = trusted("10.0.0.0/8");
        let peer = ip("10.0.0.1");
        // The left-most entries were written by the client and are ignored.
        assert_eq!(
            resolve(peer, &["6.6.6.6, 198.51.100.4, 10.0.0.2"], &proxies),
            ip("198.51.100.4")
        );
        // Several header lines are one list, in order.
        assert_eq!(
            resolve(peer, &["6.6.6.6", "198.51.100.4,10.9.9.9"], &proxies),
            ip("198.51.100.4")
        );
        assert_eq!(
            resolve(peer, &["198.51.100.4:5678"], &proxies),
            ip("198.51.100.4")
        );
        assert_eq!(
            resolve(peer, &["[2001:db8::5]:443"], &proxies),
            ip("2001:db8::5")
        );
        assert_eq!(
            resolve(peer, &["::ffff:198.51.100.4"], &proxies),
            ip("198.51.100.4")
        );
    }

    #[test]
    fn a_missing_or_unparseable_chain_falls_back_to_the_nearest_trusted_hop() {
        let proxies = trusted("10.0.0.0/8");
        let peer = ip("10.0.0.1");
        assert_eq!(resolve(peer, &[], &proxies), peer);
        assert_eq!(resolve(peer, &[""], &proxies), peer);
        assert_eq!(resolve(peer, &["unknown"], &proxies), peer);
        assert_eq!(
            resolve(peer, &["198.51.100.4, garbage, 10.0.0.2"], &proxies),
            ip("10.0.0.2")
        );
        // An empty element is not skipped: the client may have written it.
        assert_eq!(
            resolve(peer, &["198.51.100.4,, 10.0.0.2"], &proxies),
            ip("10.0.0.2")
        );
        // Only trusted hops: the request came from inside.
        assert_eq!(
            resolve(peer, &["10.0.0.3, 10.0.0.2"], &proxies),
            ip("10.0.0.3")
        );
    }
}
