//! WebSocket close codes the endpoint sends, and why.
//!
//! | code | when |
//! |---|---|
//! | 1000 normal | the client sent DISCONNECT; application code closed the session |
//! | 1001 going away | the server is shutting down |
//! | 1002 protocol error | a STOMP protocol or application error (an ERROR frame was sent) |
//! | 1008 policy violation | no message within the time to the first message |
//! | 1009 message too big | a WebSocket message over the size limit (an ERROR frame was sent) |
//! | 4000 | the client's heart-beats stopped |
//! | 4500 session not reliable | slow consumer: outbound buffer full, or a send over the time limit (as Spring) |
//! | 1011 internal error | any other reason |

use stomp_core::outbound::CloseReason;

/// Normal closure (DISCONNECT).
pub const NORMAL: u16 = 1000;
/// The server is going away (shutdown).
pub const GOING_AWAY: u16 = 1001;
/// STOMP protocol error (after an ERROR frame).
pub const PROTOCOL_ERROR: u16 = 1002;
/// Policy violation (no first message in time).
pub const POLICY_VIOLATION: u16 = 1008;
/// A message over the size limit.
pub const MESSAGE_TOO_BIG: u16 = 1009;
/// Unexpected server condition.
pub const INTERNAL_ERROR: u16 = 1011;
/// Heart-beats from the client stopped.
pub const HEART_BEAT_TIMEOUT: u16 = 4000;
/// The session cannot be written to reliably (slow consumer, send time limit), as Spring's
/// `SESSION_NOT_RELIABLE`.
pub const SESSION_NOT_RELIABLE: u16 = 4500;

/// The close code for a session ending for `reason`.
pub fn code_for(reason: &CloseReason) -> u16 {
    match reason {
        CloseReason::ClientDisconnect | CloseReason::TransportClosed | CloseReason::Closed(_) => {
            NORMAL
        }
        CloseReason::ServerShutdown => GOING_AWAY,
        CloseReason::Error(_) => PROTOCOL_ERROR,
        CloseReason::HeartBeatTimeout => HEART_BEAT_TIMEOUT,
        CloseReason::SlowConsumer => SESSION_NOT_RELIABLE,
        _ => INTERNAL_ERROR,
    }
}

/// `reason` cut to the 123 bytes a close frame can carry, on a character boundary.
pub(crate) fn truncate_reason(reason: &str) -> &str {
    const MAX: usize = 123;
    if reason.len() <= MAX {
        return reason;
    }
    let mut end = MAX;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_per_reason() {
        let cases = [
            (CloseReason::ClientDisconnect, 1000),
            (CloseReason::Closed("bye".into()), 1000),
            (CloseReason::ServerShutdown, 1001),
            (CloseReason::Error("bad frame".into()), 1002),
            (CloseReason::HeartBeatTimeout, 4000),
            (CloseReason::SlowConsumer, 4500),
        ];
        for (reason, code) in cases {
            assert_eq!(code_for(&reason), code, "{reason:?}");
        }
    }

    #[test]
    fn reasons_fit_a_close_frame() {
        assert_eq!(truncate_reason("short"), "short");
        let long = "é".repeat(100);
        let cut = truncate_reason(&long);
        assert!(cut.len() <= 123);
        assert_eq!(cut.len(), 122);
    }
}
