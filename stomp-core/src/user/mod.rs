//! User destinations: `/user/...` addresses that reach one user's (or one session's)
//! subscriptions.
//!
//! A session that subscribes to `/user/queue/reply` is subscribed, in the broker, to a
//! destination unique to it: `/queue/reply-user{session-id}` (the naming Spring uses).
//! Anything sent to `/user/{name}/queue/reply` is published to that destination of every
//! session of user `{name}` that subscribed to `/user/queue/reply`, with `/user/queue/reply`
//! in the MESSAGE `destination` header.
//!
//! [`UserRegistry`] knows the connected users, their sessions and subscriptions (the session
//! keeps it current through its hooks); [`UserDestinations`] does the resolving.

mod destinations;
mod registry;

pub use destinations::{
    decode_user, encode_user, ResolvedDestinationGuard, SessionTarget, UserDestinationError,
    UserDestinations, UserSend, DEFAULT_BROKER_PREFIXES, DEFAULT_USER_PREFIX,
};
pub use registry::{RegisteredSession, RegisteredSubscription, RegisteredUser, UserRegistry};

use crate::identity::SessionId;

/// The broker destination by which one session receives what its user destination
/// `destination` (without the user prefix, e.g. `/queue/reply`) carries.
pub fn session_destination(destination: &str, session: &SessionId) -> String {
    let mut d = String::with_capacity(destination.len() + session.len() + 5);
    d.push_str(destination);
    d.push_str("-user");
    d.push_str(session);
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_destinations_follow_springs_naming() {
        assert_eq!(
            session_destination("/queue/reply", &SessionId::from("s1")),
            "/queue/reply-users1"
        );
    }
}
