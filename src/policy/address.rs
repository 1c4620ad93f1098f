//! Which IP addresses count as public: the check behind every host a
//! statement names, applied to the addresses DNS returns.
//!
//! ```
//! use std::net::IpAddr;
//! assert!(!voidx::policy::address::is_public("::ffff:127.0.0.1".parse::<IpAddr>().unwrap()));
//! assert!(voidx::policy::address::is_public("93.184.216.34".parse::<IpAddr>().unwrap()));
//! ```

use std::net::{IpAddr, Ipv4Addr};

pub(crate) fn in_network(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let bits = u32::from(prefix.min(32));
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let bits = u32::from(prefix.min(128));
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(a) & mask == u128::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V4(_)) => a
            .to_ipv4_mapped()
            .is_some_and(|a| in_network(IpAddr::V4(a), net, prefix)),
        _ => false,
    }
}

/// Public = not loopback, private, link-local (169.254/16, cloud metadata),
/// shared, documentation, multicast or unspecified. IPv6 addresses that
/// carry an IPv4 address (mapped `::ffff:a.b.c.d`, compatible `::a.b.c.d`,
/// NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) are judged by that address;
/// Teredo and local NAT64 (`64:ff9b:1::/48`) are never public.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                || (o[0] == 198 && (o[1] & 0xfe) == 18)
                || o[0] >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_ipv4(&v6.segments()) {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] & 0xffc0) == 0xfec0
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                || (s[0] == 0x2001 && s[1] == 0)
                || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1)
                || (s[0] == 0x100 && s[1] == 0 && s[2] == 0 && s[3] == 0))
        }
    }
}

/// The IPv4 address an IPv6 address stands for, if it is one of the
/// IPv4-embedding forms.
fn embedded_ipv4(s: &[u16; 8]) -> Option<Ipv4Addr> {
    let low =
        |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible; not :: or ::1).
    if s[..5].iter().all(|&x| x == 0) && (s[5] == 0xffff || s[5] == 0) {
        if s[5] == 0 && s[6] == 0 {
            return None;
        }
        return Some(low(s[6], s[7]));
    }
    // ::ffff:0:a.b.c.d (SIIT translated).
    if s[..4].iter().all(|&x| x == 0) && s[4] == 0xffff && s[5] == 0 {
        return Some(low(s[6], s[7]));
    }
    // 64:ff9b::/96, the well-known NAT64 prefix.
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6].iter().all(|&x| x == 0) {
        return Some(low(s[6], s[7]));
    }
    // 2002:aabb:ccdd::/48, 6to4.
    if s[0] == 0x2002 {
        return Some(low(s[1], s[2]));
    }
    None
}
