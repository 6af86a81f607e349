//! Heart-beat offers and their negotiation.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A `heart-beat` header value: `outgoing,incoming` in milliseconds, 0 meaning "none".
///
/// From a client, `outgoing` is how often it can send (cx) and `incoming` how often it
/// wants to receive (cy); from a server, the same from the server's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HeartBeat {
    /// The smallest interval at which the sender can send beats (ms), 0 = cannot.
    pub outgoing: u32,
    /// The interval at which the sender wants to receive beats (ms), 0 = does not want any.
    pub incoming: u32,
}

impl HeartBeat {
    /// No heart-beats in either direction (`0,0`).
    pub const NONE: HeartBeat = HeartBeat {
        outgoing: 0,
        incoming: 0,
    };

    /// A heart-beat offer.
    pub const fn new(outgoing: u32, incoming: u32) -> Self {
        HeartBeat { outgoing, incoming }
    }
}

impl fmt::Display for HeartBeat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{}", self.outgoing, self.incoming)
    }
}

/// A `heart-beat` value that is not two comma-separated decimals.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid heart-beat {0:?}")]
pub struct InvalidHeartBeat(pub String);

impl FromStr for HeartBeat {
    type Err = InvalidHeartBeat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidHeartBeat(s.chars().take(64).collect());
        let (out, inc) = s.split_once(',').ok_or_else(invalid)?;
        let parse = |v: &str| {
            crate::frame::parse_decimal(v.trim())
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(invalid)
        };
        Ok(HeartBeat::new(parse(out)?, parse(inc)?))
    }
}

/// The negotiated heart-beat intervals of one session, from the server's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Negotiated {
    /// How often the server must send something (`None`: never).
    pub send_every: Option<Duration>,
    /// How often the server should hear from the client (`None`: no expectation).
    pub expect_every: Option<Duration>,
}

/// Negotiates heart-beats from the client's offer (`cx,cy`) and the server's (`sx,sy`).
///
/// Server-to-client beats every `max(sx, cy)` when both are non-zero; client-to-server
/// every `max(cx, sy)` when both are non-zero.
pub fn negotiate_heartbeat(client: HeartBeat, server: HeartBeat) -> Negotiated {
    let pick =
        |a: u32, b: u32| (a != 0 && b != 0).then(|| Duration::from_millis(u64::from(a.max(b))));
    Negotiated {
        send_every: pick(server.outgoing, client.incoming),
        expect_every: pick(client.outgoing, server.incoming),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Option<Duration> {
        Some(Duration::from_millis(n))
    }

    #[test]
    fn parses_and_displays() {
        assert_eq!("10000,5000".parse(), Ok(HeartBeat::new(10_000, 5_000)));
        assert_eq!("0,0".parse(), Ok(HeartBeat::NONE));
        assert_eq!(HeartBeat::new(1, 2).to_string(), "1,2");
        for bad in ["", "1", "1,", ",1", "a,b", "-1,0", "1,2,3", "99999999999,0"] {
            assert!(bad.parse::<HeartBeat>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn negotiation_takes_the_max_when_both_sides_agree() {
        let cases = [
            // (client cx,cy), (server sx,sy) -> (send_every, expect_every)
            ((0, 0), (10_000, 10_000), (None, None)),
            ((10_000, 10_000), (0, 0), (None, None)),
            ((4_000, 20_000), (10_000, 10_000), (ms(20_000), ms(10_000))),
            ((30_000, 1_000), (10_000, 10_000), (ms(10_000), ms(30_000))),
            ((0, 5_000), (10_000, 10_000), (ms(10_000), None)),
            ((5_000, 0), (10_000, 10_000), (None, ms(10_000))),
        ];
        for ((cx, cy), (sx, sy), (send, expect)) in cases {
            let n = negotiate_heartbeat(HeartBeat::new(cx, cy), HeartBeat::new(sx, sy));
            assert_eq!(
                (n.send_every, n.expect_every),
                (send, expect),
                "{cx},{cy} vs {sx},{sy}"
            );
        }
    }
}
