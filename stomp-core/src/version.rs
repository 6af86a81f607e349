//! Protocol versions and their negotiation.

use std::fmt;
use std::str::FromStr;

/// A STOMP protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    /// STOMP 1.0: no header escaping, no NACK, no heart-beats required.
    V1_0,
    /// STOMP 1.1: escaping of `\n`, `:` and `\`; NACK; heart-beats.
    V1_1,
    /// STOMP 1.2: also escapes `\r`; `\r\n` line ends; ack ids.
    V1_2,
}

impl Version {
    /// Every version, oldest first.
    pub const ALL: [Version; 3] = [Version::V1_0, Version::V1_1, Version::V1_2];

    /// The version as written in `version` / `accept-version` headers.
    pub const fn as_str(self) -> &'static str {
        match self {
            Version::V1_0 => "1.0",
            Version::V1_1 => "1.1",
            Version::V1_2 => "1.2",
        }
    }

    /// The WebSocket subprotocol naming this version (`v12.stomp`, ...).
    pub const fn subprotocol(self) -> &'static str {
        match self {
            Version::V1_0 => "v10.stomp",
            Version::V1_1 => "v11.stomp",
            Version::V1_2 => "v12.stomp",
        }
    }

    /// The version a WebSocket subprotocol names, if any.
    pub fn from_subprotocol(protocol: &str) -> Option<Version> {
        Version::ALL
            .into_iter()
            .find(|v| v.subprotocol() == protocol)
    }

    /// Whether header values are escaped in this version (1.1 and later).
    pub const fn escapes(self) -> bool {
        !matches!(self, Version::V1_0)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A version string that is not `1.0`, `1.1` or `1.2`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown STOMP version {0:?}")]
pub struct UnknownVersion(pub String);

impl FromStr for Version {
    type Err = UnknownVersion;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Version::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| UnknownVersion(s.to_owned()))
    }
}

/// No version offered by the client is supported by the server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("supported protocol versions are {}", supported_list(.supported))]
pub struct NoCommonVersion {
    /// What the client offered (the raw `accept-version`).
    pub offered: String,
    /// What the server supports.
    pub supported: Vec<Version>,
}

impl NoCommonVersion {
    /// The comma-separated list for the ERROR frame's `version` header.
    pub fn supported_header(&self) -> String {
        supported_list(&self.supported)
    }
}

fn supported_list(versions: &[Version]) -> String {
    versions
        .iter()
        .map(|v| v.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// Picks the highest version both sides support.
///
/// `accept_version` is the raw header of CONNECT; `None` means the client speaks 1.0 only,
/// as the specification says. Unknown entries in the list are ignored.
pub fn negotiate_version(
    accept_version: Option<&str>,
    supported: &[Version],
) -> Result<Version, NoCommonVersion> {
    let offered = accept_version.unwrap_or("1.0");
    offered
        .split(',')
        .filter_map(|v| v.trim().parse::<Version>().ok())
        .filter(|v| supported.contains(v))
        .max()
        .ok_or_else(|| NoCommonVersion {
            offered: offered.to_owned(),
            supported: supported.to_vec(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_picks_the_highest_common_version() {
        let all = &Version::ALL[..];
        let cases: &[(Option<&str>, &[Version], Option<Version>)] = &[
            (None, all, Some(Version::V1_0)),
            (Some("1.0"), all, Some(Version::V1_0)),
            (Some("1.0,1.1,1.2"), all, Some(Version::V1_2)),
            (Some("1.2,1.0"), all, Some(Version::V1_2)),
            (Some("1.1, 1.0"), all, Some(Version::V1_1)),
            (Some("1.0,1.1,1.2"), &[Version::V1_1], Some(Version::V1_1)),
            (Some("1.0,2.0"), all, Some(Version::V1_0)),
            (Some("2.0"), all, None),
            (Some(""), all, None),
            (None, &[Version::V1_2], None),
        ];
        for (offered, supported, expected) in cases {
            assert_eq!(
                negotiate_version(*offered, supported).ok(),
                *expected,
                "{offered:?} vs {supported:?}"
            );
        }
    }

    #[test]
    fn no_common_version_lists_the_supported_ones() {
        let err = negotiate_version(Some("3.0"), &Version::ALL).unwrap_err();
        assert_eq!(err.supported_header(), "1.0,1.1,1.2");
    }

    #[test]
    fn subprotocols_map_to_versions() {
        assert_eq!(Version::from_subprotocol("v12.stomp"), Some(Version::V1_2));
        assert_eq!(Version::from_subprotocol("v11.stomp"), Some(Version::V1_1));
        assert_eq!(Version::from_subprotocol("v10.stomp"), Some(Version::V1_0));
        assert_eq!(Version::from_subprotocol("stomp"), None);
    }
}
