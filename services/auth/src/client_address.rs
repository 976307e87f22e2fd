//! Which client a login attempt comes from, for throttling. Behind a reverse proxy every
//! connection comes from the proxy, which would make "per (user, address)" mean "per user"
//! and let five failures lock an account for everyone; so the address a *trusted* proxy
//! reports in `X-Forwarded-For` is used (the rightmost one that is not itself a trusted
//! proxy; anything to its left was written by the client and proves nothing). IPv6 clients
//! are grouped by /64, the block one subscriber usually holds, so rotating addresses inside
//! it buys no extra guesses.

use std::net::IpAddr;

use axum::http::HeaderMap;

/// The throttling key of a request from `peer` with `headers`.
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted_proxies: &[IpAddr]) -> String {
    let mut client = peer;
    if trusted_proxies.contains(&peer) {
        let forwarded: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|part| part.trim().parse().ok())
            .collect();
        if let Some(address) = forwarded
            .iter()
            .rev()
            .find(|address| !trusted_proxies.contains(address))
        {
            client = *address;
        }
    }
    match client {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(forwarded: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in forwarded {
            headers.append("x-forwarded-for", value.parse().unwrap());
        }
        headers
    }

    #[test]
    fn only_a_trusted_proxy_may_name_the_client() {
        let proxy: IpAddr = "10.0.0.2".parse().unwrap();
        let trusted = [proxy];
        let spoofed = headers(&["203.0.113.9"]);
        // A client sending the header itself is still itself.
        assert_eq!(
            client_address("198.51.100.7".parse().unwrap(), &spoofed, &trusted),
            "198.51.100.7"
        );
        // Through the proxy: the rightmost untrusted address, not what the client prepended.
        let through = headers(&["1.2.3.4, 198.51.100.7"]);
        assert_eq!(client_address(proxy, &through, &trusted), "198.51.100.7");
        let two_hops = headers(&["1.2.3.4", "198.51.100.7, 10.0.0.2"]);
        assert_eq!(client_address(proxy, &two_hops, &trusted), "198.51.100.7");
        // No usable header: the proxy itself.
        assert_eq!(
            client_address(proxy, &headers(&["garbage"]), &trusted),
            "10.0.0.2"
        );
        // Nothing is trusted by default.
        assert_eq!(client_address(proxy, &through, &[]), "10.0.0.2");
    }

    #[test]
    fn ipv6_clients_are_grouped_by_64() {
        let a = client_address("2001:db8:1:2::1".parse().unwrap(), &HeaderMap::new(), &[]);
        let b = client_address(
            "2001:db8:1:2:ffff:ffff:ffff:fffe".parse().unwrap(),
            &HeaderMap::new(),
            &[],
        );
        assert_eq!(a, "2001:db8:1:2::/64");
        assert_eq!(a, b);
        let mapped = client_address("::ffff:192.0.2.1".parse().unwrap(), &HeaderMap::new(), &[]);
        assert_eq!(mapped, "192.0.2.1");
    }
}
