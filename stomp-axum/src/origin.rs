//! Which browser origins may open the STOMP WebSocket, and under which `Host` names
//! (DNS-rebinding defence).

use std::net::IpAddr;

use axum::http::HeaderValue;

/// The origins allowed to open the endpoint (checked on the `Origin` header of the
/// upgrade request; a refused handshake is HTTP 403).
///
/// Requests without `Origin` (non-browser clients) are always allowed, and so are
/// same-origin requests (the `Origin` authority equals the `Host` header, as in Spring)
/// whose `Host` is one of the [`AllowedHosts`] (see there on DNS rebinding).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum AllowedOrigins {
    /// Same-origin requests only. The default.
    #[default]
    SameOrigin,
    /// Same-origin requests and these origins (`scheme://host[:port]`, compared without
    /// regard to ASCII case).
    List(Vec<String>),
    /// Any origin (`*`).
    Any,
}

/// The `Host` names this server answers to as itself, for the same-origin rule of
/// [`AllowedOrigins`].
///
/// # Same origin and DNS rebinding
///
/// A request is same-origin when its `Origin` names the same scheme-less authority as its
/// `Host` header. Both come from the browser, and a DNS-rebinding page controls both: a page
/// on `http://evil.example:8080` whose name the attacker re-points at this server's address
/// makes the browser send `Host: evil.example:8080` and `Origin: http://evil.example:8080`,
/// which match. So the same-origin rule also requires the `Host` name to be one of this
/// server's own ([`AllowedHosts`]): by default `localhost`, names under `.localhost` and IP
/// addresses (a page whose origin is an IP address was served from that address, so it
/// cannot be a rebinding page), plus the names the application lists with
/// [`StompBuilder::allow_hosts`](crate::StompBuilder::allow_hosts). A server reached by a
/// DNS name (`chat.example.com`) must list that name, or its own pages are refused (HTTP
/// 403) like a rebinding page would be.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum AllowedHosts {
    /// `localhost`, names under `.localhost`, and IP addresses (IPv6 in brackets). The
    /// default.
    #[default]
    Local,
    /// The local names and addresses above, and these host names (without port, compared
    /// without regard to ASCII case; `*.example.com` matches any name under
    /// `example.com`).
    List(Vec<String>),
    /// Any `Host`: same-origin is decided from the headers alone, and a DNS-rebinding page
    /// passes. Only behind a proxy that checks `Host` itself.
    Any,
}

impl AllowedHosts {
    /// The local names and addresses plus `names` (`"*"` allows any host).
    pub fn list<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let names: Vec<String> = names
            .into_iter()
            .map(|n| n.into().trim().trim_end_matches('.').to_ascii_lowercase())
            .collect();
        if names.iter().any(|n| n == "*") {
            AllowedHosts::Any
        } else {
            AllowedHosts::List(names)
        }
    }

    /// Whether a request with this `Host` header (`name[:port]`) is addressed to this
    /// server by one of its own names.
    pub fn allows(&self, host: &str) -> bool {
        if *self == AllowedHosts::Any {
            return true;
        }
        let Some(name) = host_name(host) else {
            return false;
        };
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if is_local(&name) {
            return true;
        }
        match self {
            AllowedHosts::List(names) => {
                names
                    .iter()
                    .any(|allowed| match allowed.strip_prefix("*.") {
                        Some(parent) => name
                            .strip_suffix(parent)
                            .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
                        None => *allowed == name,
                    })
            }
            _ => false,
        }
    }
}

/// The host part of a `Host` header value: `name` of `name:port`, the address of
/// `[v6]:port`; `None` if it is malformed.
fn host_name(host: &str) -> Option<&str> {
    if let Some(bracketed) = host.strip_prefix('[') {
        let (address, after) = bracketed.split_once(']')?;
        let port_ok = after.is_empty()
            || after
                .strip_prefix(':')
                .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()));
        return port_ok.then_some(address);
    }
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        Some(_) => return None,
        None => host,
    };
    (!name.is_empty()).then_some(name)
}

/// `localhost`, a name under `.localhost` (RFC 6761: always loopback), or an IP address.
fn is_local(name: &str) -> bool {
    name == "localhost" || name.ends_with(".localhost") || name.parse::<IpAddr>().is_ok()
}

impl AllowedOrigins {
    /// Same origin plus `origins`; a `"*"` entry allows any origin.
    pub fn list<I, S>(origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let origins: Vec<String> = origins
            .into_iter()
            .map(|o| o.into().trim_end_matches('/').to_owned())
            .collect();
        if origins.iter().any(|o| o == "*") {
            AllowedOrigins::Any
        } else {
            AllowedOrigins::List(origins)
        }
    }

    /// Whether a request with these `Origin` and `Host` headers may upgrade, the `Host`
    /// counting for the same-origin rule only if `hosts` allows it.
    pub(crate) fn allows(
        &self,
        origin: Option<&HeaderValue>,
        host: Option<&HeaderValue>,
        hosts: &AllowedHosts,
    ) -> bool {
        let Some(origin) = origin else {
            return true;
        };
        if *self == AllowedOrigins::Any {
            return true;
        }
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        let origin = origin.trim_end_matches('/');
        let host = host
            .and_then(|h| h.to_str().ok())
            .filter(|h| hosts.allows(h));
        if is_same_origin(origin, host) {
            return true;
        }
        match self {
            AllowedOrigins::List(list) => list.iter().any(|o| o.eq_ignore_ascii_case(origin)),
            _ => false,
        }
    }
}

/// `Origin: scheme://authority` names the same host and port as `Host: authority`.
fn is_same_origin(origin: &str, host: Option<&str>) -> bool {
    let Some(host) = host else {
        return false;
    };
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" | "ws" => ":80",
        "https" | "wss" => ":443",
        _ => "",
    };
    let strip = |a: &str| -> String {
        let a = a.to_ascii_lowercase();
        match a.strip_suffix(default_port) {
            Some(rest) if !default_port.is_empty() => rest.to_owned(),
            _ => a,
        }
    };
    strip(authority) == strip(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_table() {
        let list = AllowedOrigins::list(["https://app.example.com"]);
        let cases: &[(&AllowedOrigins, Option<&str>, Option<&str>, bool)] = &[
            (&AllowedOrigins::SameOrigin, None, Some("a.com"), true),
            (
                &AllowedOrigins::SameOrigin,
                Some("http://a.com"),
                Some("a.com"),
                true,
            ),
            (
                &AllowedOrigins::SameOrigin,
                Some("http://A.com:80"),
                Some("a.com"),
                true,
            ),
            (
                &AllowedOrigins::SameOrigin,
                Some("https://a.com"),
                Some("a.com:443"),
                true,
            ),
            (
                &AllowedOrigins::SameOrigin,
                Some("http://a.com:8080"),
                Some("a.com:8080"),
                true,
            ),
            (
                &AllowedOrigins::SameOrigin,
                Some("http://a.com:8080"),
                Some("a.com"),
                false,
            ),
            (
                &AllowedOrigins::SameOrigin,
                Some("http://evil.com"),
                Some("a.com"),
                false,
            ),
            (
                &AllowedOrigins::SameOrigin,
                Some("null"),
                Some("a.com"),
                false,
            ),
            (
                &AllowedOrigins::SameOrigin,
                Some("http://a.com"),
                None,
                false,
            ),
            (&list, Some("https://app.example.com"), Some("a.com"), true),
            (&list, Some("https://APP.example.com/"), Some("a.com"), true),
            (&list, Some("http://app.example.com"), Some("a.com"), false),
            (&list, Some("http://a.com"), Some("a.com"), true),
            (
                &AllowedOrigins::Any,
                Some("http://evil.com"),
                Some("a.com"),
                true,
            ),
        ];
        for (allowed, origin, host, expected) in cases {
            let origin = origin.map(HeaderValue::from_static);
            let host = host.map(HeaderValue::from_static);
            assert_eq!(
                allowed.allows(origin.as_ref(), host.as_ref(), &AllowedHosts::Any),
                *expected,
                "{allowed:?} origin={origin:?} host={host:?}"
            );
        }
    }

    #[test]
    fn host_table() {
        let listed = AllowedHosts::list(["Chat.Example.com", "*.apps.example.com"]);
        let cases: &[(&AllowedHosts, &str, bool)] = &[
            (&AllowedHosts::Local, "localhost", true),
            (&AllowedHosts::Local, "LOCALHOST:8080", true),
            (&AllowedHosts::Local, "app.localhost:8080", true),
            (&AllowedHosts::Local, "127.0.0.1:8080", true),
            (&AllowedHosts::Local, "10.1.2.3", true),
            (&AllowedHosts::Local, "[::1]:8080", true),
            (&AllowedHosts::Local, "[::1]", true),
            (&AllowedHosts::Local, "evil.example:8080", false),
            (&AllowedHosts::Local, "localhost.evil.example", false),
            (&AllowedHosts::Local, "127.0.0.1.evil.example", false),
            (&AllowedHosts::Local, "", false),
            (&AllowedHosts::Local, ":80", false),
            (&AllowedHosts::Local, "[::1", false),
            (&AllowedHosts::Local, "a.com:x", false),
            (&listed, "chat.example.com:443", true),
            (&listed, "chat.example.com.", true),
            (&listed, "a.apps.example.com", true),
            (&listed, "apps.example.com", false),
            (&listed, "evilapps.example.com", false),
            (&listed, "example.com", false),
            (&listed, "localhost:1", true),
            (&AllowedHosts::Any, "evil.example", true),
        ];
        for (hosts, host, expected) in cases {
            assert_eq!(hosts.allows(host), *expected, "{hosts:?} {host:?}");
        }
        assert_eq!(AllowedHosts::list(["x", "*"]), AllowedHosts::Any);
    }

    #[test]
    fn same_origin_needs_an_allowed_host() {
        let rebinding = HeaderValue::from_static("http://evil.example:8080");
        let evil_host = HeaderValue::from_static("evil.example:8080");
        let same = AllowedOrigins::SameOrigin;
        assert!(!same.allows(Some(&rebinding), Some(&evil_host), &AllowedHosts::Local));
        assert!(same.allows(Some(&rebinding), Some(&evil_host), &AllowedHosts::Any));
        let listed = AllowedHosts::list(["evil.example"]);
        assert!(same.allows(Some(&rebinding), Some(&evil_host), &listed));
        let local = HeaderValue::from_static("http://127.0.0.1:8080");
        let local_host = HeaderValue::from_static("127.0.0.1:8080");
        assert!(same.allows(Some(&local), Some(&local_host), &AllowedHosts::Local));
        // No Origin: not a browser, no rebinding to fear.
        assert!(same.allows(None, Some(&evil_host), &AllowedHosts::Local));
        // An explicitly listed origin does not depend on Host.
        let list = AllowedOrigins::list(["http://evil.example:8080"]);
        assert!(list.allows(Some(&rebinding), Some(&evil_host), &AllowedHosts::Local));
    }

    #[test]
    fn a_star_in_the_list_means_any() {
        assert_eq!(AllowedOrigins::list(["http://x", "*"]), AllowedOrigins::Any);
    }
}
