//! Which browser origins may open the STOMP WebSocket.

use axum::http::HeaderValue;

/// The origins allowed to open the endpoint (checked on the `Origin` header of the
/// upgrade request; a refused handshake is HTTP 403).
///
/// Requests without `Origin` (non-browser clients) are always allowed, and so are
/// same-origin requests (the `Origin` authority equals the `Host` header), as in Spring.
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

    /// Whether a request with these `Origin` and `Host` headers may upgrade.
    pub(crate) fn allows(&self, origin: Option<&HeaderValue>, host: Option<&HeaderValue>) -> bool {
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
        if is_same_origin(origin, host.and_then(|h| h.to_str().ok())) {
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
                allowed.allows(origin.as_ref(), host.as_ref()),
                *expected,
                "{allowed:?} origin={origin:?} host={host:?}"
            );
        }
    }

    #[test]
    fn a_star_in_the_list_means_any() {
        assert_eq!(AllowedOrigins::list(["http://x", "*"]), AllowedOrigins::Any);
    }
}
