//! Resolving `/user/...` destinations to per-session broker destinations, and guarding the
//! resolved destinations against other sessions.

use std::borrow::Cow;
use std::sync::Arc;

use bytestring::ByteString;

use super::registry::UserRegistry;
use super::session_destination;
use crate::frame::Frame;
use crate::identity::{SessionId, SessionInfo};

/// The default user destination prefix.
pub const DEFAULT_USER_PREFIX: &str = "/user";

/// The default broker destination prefixes user destinations lead to (`/user/queue/...`,
/// `/user/topic/...`).
pub const DEFAULT_BROKER_PREFIXES: [&str; 2] = ["/queue", "/topic"];

/// Marks a resolved (per-session) destination: `{destination}-user{session-id}`.
const SESSION_SUFFIX: &str = "-user";

/// `destination.rfind(SESSION_SUFFIX)`, a word at a time: `str::rfind` builds a two-way
/// substring searcher on every call, and a `memrchr` per `-` (destinations such as
/// `/topic/lg-1-17` have several) still cost more than the scan itself.
fn rfind_session_suffix(destination: &str) -> Option<usize> {
    crate::destination::scan::rfind(destination.as_bytes(), SESSION_SUFFIX.as_bytes())
}

/// Marks a user queue's broker destination: `{destination}-user.{encoded user name}` (see
/// [`UserDestinations::durable_queue`]). The encoded name has only ASCII letters, digits
/// and `%XX`, so it never contains this marker, a `-`, a `/` or a `*`.
const USER_QUEUE_MARKER: &str = "-user.";

/// How a SUBSCRIBE to a destination that looks resolved (`...-user{id}`) is judged when `id`
/// is not the subscriber's own session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ResolvedDestinationGuard {
    /// Refuse every destination ending in `-user{id}` for any `id` but the subscriber's own
    /// session id, connected or not (so a session id that connects later is protected too).
    /// Destinations such as `/topic/power-users` are refused by this rule as well. The
    /// default.
    #[default]
    AnySession,
    /// Refuse only when `{id}` is a session connected right now. Use it when session ids are
    /// unguessable and destination names ending in `-user...` must stay usable.
    ConnectedSessions,
}

/// Why a SUBSCRIBE to a user destination, or to what looks like one, is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UserDestinationError {
    /// The destination is another session's resolved user destination.
    #[error("cannot subscribe to {destination:?}: it is another session's user destination")]
    OtherSession {
        /// The destination as the client sent it.
        destination: String,
    },
    /// The destination names another user (`/user/{other}/...`, where `/{other}` is not one
    /// of the broker prefixes).
    #[error(
        "cannot subscribe to {destination:?}: it names another user \
         (or a destination outside the broker prefixes)"
    )]
    OtherUser {
        /// The destination as the client sent it.
        destination: String,
    },
    /// A client SEND straight to another session's resolved destination
    /// (`/queue/x-user{other}`): what reaches a session's user destination comes through
    /// `/user/{name}/...`, so its `destination` header cannot be bypassed.
    #[error(
        "cannot send to {destination:?}: it is another session's user destination \
         (send to /user/{{name}}/... instead)"
    )]
    SendToOtherSession {
        /// The destination as the client sent it.
        destination: String,
    },
    /// The user destination has nothing after the prefix.
    #[error("invalid user destination {destination:?}: nothing after the user prefix")]
    Empty {
        /// The destination as the client sent it.
        destination: String,
    },
    /// A SUBSCRIBE or SEND that names a user queue's broker destination
    /// (`{queue}-user.{name}`, see [`UserDestinations::durable_queue`]), or a pattern that
    /// could match one. A user queue is reached only through the user prefix: its owner
    /// subscribes to `/user{queue}`, anyone else sends to `/user/{name}{queue}`.
    #[error(
        "cannot use {destination:?}: it is (or could match) a user's private queue \
         (subscribe to the user destination, send to /user/{{name}}/...)"
    )]
    UserQueue {
        /// The destination as the client sent it.
        destination: String,
    },
    /// A SUBSCRIBE to a user queue by a session without a user: a user queue belongs to a
    /// user, and an anonymous session has none.
    #[error("cannot subscribe to {destination:?}: a user queue needs an authenticated user")]
    Anonymous {
        /// The destination as the client sent it.
        destination: String,
    },
}

impl UserDestinationError {
    /// The destination that was refused.
    pub fn destination(&self) -> &str {
        match self {
            UserDestinationError::OtherSession { destination }
            | UserDestinationError::OtherUser { destination }
            | UserDestinationError::SendToOtherSession { destination }
            | UserDestinationError::Empty { destination }
            | UserDestinationError::UserQueue { destination }
            | UserDestinationError::Anonymous { destination } => destination,
        }
    }

    /// The ERROR frame a session sends for this refusal (its `message` names the
    /// destination).
    pub fn to_error_frame(&self) -> Frame {
        let detail = match self {
            UserDestinationError::SendToOtherSession { .. } => "The message was not sent.",
            _ => "The subscription was not created.",
        };
        Frame::error(self.to_string(), detail)
    }
}

/// One session's share of a message sent to `/user/{name}/...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionTarget {
    /// The session.
    pub session: SessionId,
    /// The broker destination it receives on (e.g. `/queue/reply-user{session}`).
    pub destination: ByteString,
}

/// What a send to `/user/{name}/{rest}` resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSend {
    /// The user name (percent-decoded).
    pub user: String,
    /// The destination subscribers see in their MESSAGE `destination` header
    /// (`{prefix}{rest}`, e.g. `/user/queue/reply`).
    pub user_destination: ByteString,
    /// One broker destination per session of the user that subscribed to it; empty when the
    /// user is not connected (nothing is delivered, which is not an error), and for a user
    /// queue.
    pub targets: Vec<SessionTarget>,
    /// For a [user queue](UserDestinations::durable_queue): the user's queue
    /// (`{queue}-user.{name}`), where the message waits for one of the user's sessions.
    /// `targets` is empty then.
    pub queue: Option<ByteString>,
}

/// User destinations: a prefix (default `/user`) and the [`UserRegistry`]. Cheap to clone.
///
/// - SUBSCRIBE `/user/queue/reply` becomes a broker subscription to
///   `/queue/reply-user{session-id}` ([`resolve_subscribe`](Self::resolve_subscribe)).
/// - A send to `/user/{name}/queue/reply` goes to that destination of every session of
///   `{name}` subscribed to `/user/queue/reply` ([`resolve_send`](Self::resolve_send)).
///   A `/` in a user name is written `%2F`.
/// - A SUBSCRIBE to another session's resolved destination is refused (always), and so is a
///   client SEND straight to one ([`check_send`](Self::check_send)).
/// - What is published to a resolved destination reaches only its session
///   ([`Broker::publish_to_session`](crate::broker::Broker::publish_to_session)): pattern
///   subscriptions never see it.
/// - A [user queue](Self::durable_queue) (e.g. `/queue/inbox`) is bound to the user, not
///   the session: `/user/{name}/queue/inbox` goes to one queue per user,
///   `/queue/inbox-user.{name}`, where messages wait while the user has no session (on
///   disk when the broker keeps persistent messages), and SUBSCRIBE `/user/queue/inbox`
///   by any session of that user consumes it.
#[derive(Debug, Clone)]
pub struct UserDestinations {
    prefix: ByteString,
    broker_prefixes: Arc<[ByteString]>,
    registry: UserRegistry,
    guard: ResolvedDestinationGuard,
    /// User queues (e.g. `/queue/inbox`), without the user prefix.
    user_queues: Arc<[ByteString]>,
}

impl Default for UserDestinations {
    fn default() -> Self {
        UserDestinations::new(UserRegistry::new())
    }
}

impl UserDestinations {
    /// User destinations under [`DEFAULT_USER_PREFIX`], backed by `registry`.
    pub fn new(registry: UserRegistry) -> Self {
        UserDestinations {
            prefix: ByteString::from_static(DEFAULT_USER_PREFIX),
            broker_prefixes: DEFAULT_BROKER_PREFIXES
                .iter()
                .map(|p| ByteString::from_static(p))
                .collect(),
            registry,
            guard: ResolvedDestinationGuard::default(),
            user_queues: Arc::new([]),
        }
    }

    /// Builder: makes `destination` (e.g. `/queue/inbox`, under a queue prefix of the
    /// broker) a *user queue*: a queue per user rather than a destination per session.
    ///
    /// - A send to `/user/{name}{destination}` (a client SEND, when the destination policy
    ///   allows it, or [`MessagingTemplate::send_to_user`](crate::template::MessagingTemplate::send_to_user))
    ///   is published once, with `persistent:true`, to the user's queue
    ///   `{destination}-user.{encoded name}` ([`user_queue`](Self::user_queue)), whether
    ///   the user is connected or not. Its MESSAGE shows `destination: /user{destination}`.
    /// - While the user has no session, messages wait there: in memory, bounded like any
    ///   queue of the broker, or on disk when the broker keeps persistent messages
    ///   ([`SimpleBrokerConfig::data_dir`](crate::broker::SimpleBrokerConfig)).
    /// - SUBSCRIBE `/user{destination}` (or `/user/{own name}{destination}`) by a session of
    ///   that user consumes the queue: waiting messages first, in order, then new ones at
    ///   once. The queue is a queue: with two sessions of the user subscribed, each message
    ///   goes to one of them (round-robin, competing consumers). A `client` ack message
    ///   not acknowledged when its session ends waits for the next one, marked
    ///   `redelivered:true`.
    /// - Only that user can consume it: an anonymous session's SUBSCRIBE is refused
    ///   ([`UserDestinationError::Anonymous`]), and any SUBSCRIBE or client SEND that names a
    ///   user queue's broker destination directly, or a pattern that could match one, is
    ///   refused for everyone ([`UserDestinationError::UserQueue`]).
    ///
    /// The name is matched exactly: `/user/queue/inbox/x` is an ordinary per-session user
    /// destination. A trailing `/` is dropped.
    #[must_use]
    pub fn durable_queue(mut self, destination: impl Into<ByteString>) -> Self {
        let destination: ByteString = destination.into();
        let destination = match destination.strip_suffix('/') {
            Some(trimmed) => ByteString::from(trimmed),
            None => destination,
        };
        let mut queues: Vec<ByteString> = self.user_queues.iter().cloned().collect();
        if !queues.contains(&destination) {
            queues.push(destination);
        }
        self.user_queues = queues.into();
        self
    }

    /// The user queues (see [`durable_queue`](Self::durable_queue)), without the prefix.
    pub fn user_queues(&self) -> &[ByteString] {
        &self.user_queues
    }

    /// The broker destination of `user`'s queue `destination` (a
    /// [user queue](Self::durable_queue), e.g. `/queue/inbox`):
    /// `{destination}-user.{name}`, the name percent-encoded so that every byte but ASCII
    /// letters and digits is `%XX` (distinct names give distinct queues). `None` if
    /// `destination` is not a user queue or `user` is empty.
    pub fn user_queue(&self, user: &str, destination: &str) -> Option<ByteString> {
        if user.is_empty() || !self.user_queues.iter().any(|q| q == destination) {
            return None;
        }
        let mut d =
            String::with_capacity(destination.len() + USER_QUEUE_MARKER.len() + user.len() * 3);
        d.push_str(destination);
        d.push_str(USER_QUEUE_MARKER);
        for b in user.bytes() {
            if b.is_ascii_alphanumeric() {
                d.push(char::from(b));
            } else {
                d.push('%');
                d.push(char::from(HEX[usize::from(b >> 4)]));
                d.push(char::from(HEX[usize::from(b & 0xf)]));
            }
        }
        Some(d.into())
    }

    /// Refuses a destination outside the user prefix that is in a user queue's namespace
    /// (`{queue}-user.…`), or a pattern whose literal part could reach one.
    fn guard_user_queues(&self, destination: &str) -> Result<(), UserDestinationError> {
        if self.user_queues.is_empty() {
            // No user queue, no namespace to guard (and no `*` to look for).
            return Ok(());
        }
        let literal = destination.find('*').map(|at| &destination[..at]);
        let refused = self.user_queues.iter().any(|queue| {
            let namespace_len = queue.len() + USER_QUEUE_MARKER.len();
            let in_namespace = |d: &str| {
                d.len() >= namespace_len
                    && d.starts_with(&**queue)
                    && d[queue.len()..].starts_with(USER_QUEUE_MARKER)
            };
            match literal {
                None => in_namespace(destination),
                // A pattern reaches a user queue if its literal part is in the namespace,
                // or is a prefix of it (a wildcard may stand for the rest).
                Some(literal) => {
                    in_namespace(literal) || {
                        let mut namespace = String::with_capacity(namespace_len);
                        namespace.push_str(queue);
                        namespace.push_str(USER_QUEUE_MARKER);
                        namespace.starts_with(literal)
                    }
                }
            }
        });
        if refused {
            Err(UserDestinationError::UserQueue {
                destination: destination.to_owned(),
            })
        } else {
            Ok(())
        }
    }

    /// Builder: the user destination prefix (a trailing `/` is dropped).
    #[must_use]
    pub fn with_prefix(mut self, prefix: impl Into<ByteString>) -> Self {
        let prefix: ByteString = prefix.into();
        self.prefix = match prefix.strip_suffix('/') {
            Some(trimmed) => ByteString::from(trimmed),
            None => prefix,
        };
        self
    }

    /// Builder: the broker destination prefixes user destinations lead to (default
    /// [`DEFAULT_BROKER_PREFIXES`]). A SUBSCRIBE to `/user/{x}/...` where `/{x}...` is under
    /// none of them is read as naming user `{x}`: allowed (and resolved without the name)
    /// for the subscriber's own name, refused for any other.
    #[must_use]
    pub fn with_broker_prefixes<I, P>(mut self, prefixes: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<ByteString>,
    {
        self.broker_prefixes = prefixes
            .into_iter()
            .map(|p| {
                let p: ByteString = p.into();
                match p.strip_suffix('/') {
                    Some(trimmed) => ByteString::from(trimmed),
                    None => p,
                }
            })
            .collect();
        self
    }

    fn under_broker_prefix(&self, rest: &str) -> bool {
        self.broker_prefixes.iter().any(|p| {
            rest.strip_prefix(&**p)
                .is_some_and(|after| after.is_empty() || after.starts_with('/'))
        })
    }

    /// Builder: how SUBSCRIBEs to what looks like another session's resolved destination
    /// are judged.
    #[must_use]
    pub fn with_resolved_destination_guard(mut self, guard: ResolvedDestinationGuard) -> Self {
        self.guard = guard;
        self
    }

    /// The prefix (e.g. `/user`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The registry (hand it to whatever needs the user-side view of sessions).
    pub fn registry(&self) -> &UserRegistry {
        &self.registry
    }

    /// The part of `destination` after the prefix (starting with `/`), if it is a user
    /// destination.
    fn strip<'a>(&self, destination: &'a str) -> Option<&'a str> {
        let rest = destination.strip_prefix(&*self.prefix)?;
        (rest.is_empty() || rest.starts_with('/')).then_some(rest)
    }

    /// Whether `destination` is under the user prefix.
    pub fn is_user_destination(&self, destination: &str) -> bool {
        self.strip(destination).is_some()
    }

    /// The broker destination a SUBSCRIBE to `destination` by `session` must use.
    ///
    /// - `Ok(Some(d))`: a user destination, resolved (`/user/queue/reply` →
    ///   `/queue/reply-user{id}`; the subscriber's own name may appear too:
    ///   `/user/{own-name}/queue/reply` resolves the same way).
    /// - `Ok(None)`: not a user destination; subscribe to `destination` as it is.
    /// - `Err(_)`: refused: another session's resolved destination, or `/user/{other}/...`
    ///   that is not under a broker prefix (see
    ///   [`with_broker_prefixes`](Self::with_broker_prefixes)) and names someone else.
    pub fn resolve_subscribe(
        &self,
        destination: &str,
        session: &SessionInfo,
    ) -> Result<Option<ByteString>, UserDestinationError> {
        let Some(rest) = self.strip(destination) else {
            self.guard_user_queues(destination)?;
            self.guard_resolved(destination, &session.id)?;
            return Ok(None);
        };
        if rest.len() <= 1 {
            return Err(UserDestinationError::Empty {
                destination: destination.to_owned(),
            });
        }
        let rest = if self.under_broker_prefix(rest) {
            rest
        } else {
            let (first, after) = split_first_segment(rest);
            let own = session.principal.as_ref().map(|p| p.name());
            if after.len() > 1 && own.is_some_and(|own| decode_user(first) == own) {
                after
            } else {
                return Err(UserDestinationError::OtherUser {
                    destination: destination.to_owned(),
                });
            }
        };
        if self.user_queues.iter().any(|q| q == rest) {
            let user = session.principal.as_ref().map(|p| p.name());
            return match user.and_then(|user| self.user_queue(user, rest)) {
                Some(queue) => Ok(Some(queue)),
                None => Err(UserDestinationError::Anonymous {
                    destination: destination.to_owned(),
                }),
            };
        }
        let resolved = session_destination(rest, &session.id);
        // A per-session name that lands in a user queue's namespace (`/user/queue/inbox-user.x`
        // resolved for session `s` is `/queue/inbox-user.x-users`) is refused, whatever it
        // would have reached.
        self.guard_user_queues(&resolved)
            .map_err(|_| UserDestinationError::UserQueue {
                destination: destination.to_owned(),
            })?;
        Ok(Some(resolved.into()))
    }

    /// Checks a client SEND to `destination` by `session`: a SEND straight to another
    /// session's resolved destination (`/queue/x-user{other}`) is refused, judged as
    /// SUBSCRIBEs are (see [`ResolvedDestinationGuard`]); user destinations
    /// (`/user/{name}/...`, allowed to anyone, as in Spring) and other destinations pass.
    pub fn check_send(
        &self,
        destination: &str,
        session: &SessionInfo,
    ) -> Result<(), UserDestinationError> {
        if self.strip(destination).is_some() {
            return Ok(());
        }
        self.check_send_outside_prefix(destination, session)
    }

    /// [`check_send`](Self::check_send) of a destination known not to be under the user
    /// prefix (the channel has just checked it).
    pub(crate) fn check_send_outside_prefix(
        &self,
        destination: &str,
        session: &SessionInfo,
    ) -> Result<(), UserDestinationError> {
        self.guard_user_queues(destination)?;
        self.guard_resolved(destination, &session.id).map_err(|_| {
            UserDestinationError::SendToOtherSession {
                destination: destination.to_owned(),
            }
        })
    }

    fn guard_resolved(
        &self,
        destination: &str,
        own: &SessionId,
    ) -> Result<(), UserDestinationError> {
        // Without the marker there is nothing to guard: the common case, one scan. (A
        // destination ending in `-user{own}` holds the marker, so the own-session check
        // below only matters when it is found.)
        let Some(at) = rfind_session_suffix(destination) else {
            return Ok(());
        };
        let own_suffix_len = SESSION_SUFFIX.len() + own.len();
        if destination.len() > own_suffix_len
            && destination.ends_with(&**own)
            && destination[..destination.len() - own.len()].ends_with(SESSION_SUFFIX)
        {
            return Ok(());
        }
        let id = &destination[at + SESSION_SUFFIX.len()..];
        if id.is_empty() || id.contains('/') {
            return Ok(());
        }
        let refused = match self.guard {
            ResolvedDestinationGuard::AnySession => true,
            ResolvedDestinationGuard::ConnectedSessions => {
                self.registry.is_connected(&SessionId::from(id))
            }
        };
        if refused {
            Err(UserDestinationError::OtherSession {
                destination: destination.to_owned(),
            })
        } else {
            Ok(())
        }
    }

    /// Where a send to `destination` goes: `None` if it is not a user destination;
    /// otherwise one [`SessionTarget`] per session of the named user that subscribed to the
    /// user destination (possibly none).
    pub fn resolve_send(&self, destination: &str) -> Option<UserSend> {
        let rest = self.strip(destination)?;
        let (name_segment, after) = split_first_segment(rest);
        let user = decode_user(name_segment).into_owned();
        let mut user_destination = String::with_capacity(self.prefix.len() + after.len());
        user_destination.push_str(&self.prefix);
        user_destination.push_str(after);
        let mut targets = Vec::new();
        if self.user_queues.iter().any(|q| q == after) {
            let queue = self.user_queue(&user, after);
            return Some(UserSend {
                user,
                user_destination: user_destination.into(),
                targets,
                queue,
            });
        }
        if !after.is_empty() && !user.is_empty() {
            let named = format!("{}/{}{}", self.prefix, name_segment, after);
            for session in self.registry.sessions_of(&user) {
                let routing = session_destination(after, &session);
                if self.guard_user_queues(&routing).is_err() {
                    continue;
                }
                let forms = [user_destination.as_str(), named.as_str(), routing.as_str()];
                if self.registry.is_subscribed_to(&session, &forms) {
                    targets.push(SessionTarget {
                        session,
                        destination: routing.into(),
                    });
                }
            }
        }
        Some(UserSend {
            user,
            user_destination: user_destination.into(),
            targets,
            queue: None,
        })
    }

    /// The destination that reaches `user` on `destination` (`/user/{user}{destination}`,
    /// a `/` in the name written `%2F`).
    pub fn user_destination(&self, user: &str, destination: &str) -> ByteString {
        user_destination(&self.prefix, user, destination)
    }

    /// The user-facing form of `destination` (`{prefix}{destination}`, e.g.
    /// `/user/queue/reply`): what a subscriber of that user destination sees in its MESSAGE
    /// `destination` header.
    pub fn user_facing(&self, destination: &str) -> ByteString {
        let mut d = String::with_capacity(self.prefix.len() + destination.len() + 1);
        d.push_str(&self.prefix);
        if !destination.starts_with('/') {
            d.push('/');
        }
        d.push_str(destination);
        d.into()
    }
}

/// Hex digits of the user-queue name encoding.
const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// `{prefix}/{user}{destination}` with `/` in the user name written `%2F`.
fn user_destination(prefix: &str, user: &str, destination: &str) -> ByteString {
    let user = encode_user(user);
    let mut d = String::with_capacity(prefix.len() + user.len() + destination.len() + 2);
    d.push_str(prefix);
    d.push('/');
    d.push_str(&user);
    if !destination.starts_with('/') {
        d.push('/');
    }
    d.push_str(destination);
    d.into()
}

/// `("ann", "/queue/x")` from `"/ann/queue/x"`; `("ann", "")` from `"/ann"`.
fn split_first_segment(rest: &str) -> (&str, &str) {
    let rest = rest.strip_prefix('/').unwrap_or(rest);
    match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    }
}

/// A user name as it appears in a destination (`/` written `%2F`, as Spring does).
pub fn encode_user(name: &str) -> Cow<'_, str> {
    if name.contains('/') {
        Cow::Owned(name.replace('/', "%2F"))
    } else {
        Cow::Borrowed(name)
    }
}

/// The user name written in a destination segment (`%2F` read as `/`).
pub fn decode_user(segment: &str) -> Cow<'_, str> {
    if segment.contains("%2F") || segment.contains("%2f") {
        Cow::Owned(segment.replace("%2F", "/").replace("%2f", "/"))
    } else {
        Cow::Borrowed(segment)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{Attributes, Principal};
    use crate::version::Version;

    #[test]
    fn session_suffix_search_agrees_with_rfind() {
        for d in [
            "",
            "-",
            "-user",
            "/queue/a-user1",
            "/queue/a-user1-user2",
            "/topic/pairs-7",
            "/q-us-user-x",
            "/q-use",
            "user-",
            "/a-b-c-userz/-user",
        ] {
            assert_eq!(rfind_session_suffix(d), d.rfind(SESSION_SUFFIX), "{d:?}");
        }
    }

    /// `check_send` as it was before its fast paths (`str::rfind`, the own-session test
    /// first, the user-queue guard always run): the reference it must agree with.
    fn check_send_reference(
        ud: &UserDestinations,
        destination: &str,
        session: &SessionInfo,
    ) -> Result<(), ()> {
        if ud.strip(destination).is_some() {
            return Ok(());
        }
        let literal = destination.find('*').map(|at| &destination[..at]);
        let in_queue = ud.user_queues.iter().any(|queue| {
            let namespace = format!("{queue}{USER_QUEUE_MARKER}");
            match literal {
                None => destination.starts_with(&namespace),
                Some(literal) => literal.starts_with(&namespace) || namespace.starts_with(literal),
            }
        });
        if in_queue {
            return Err(());
        }
        let own = &session.id;
        if destination.len() > SESSION_SUFFIX.len() + own.len()
            && destination.ends_with(&**own)
            && destination[..destination.len() - own.len()].ends_with(SESSION_SUFFIX)
        {
            return Ok(());
        }
        let Some(at) = destination.rfind(SESSION_SUFFIX) else {
            return Ok(());
        };
        let id = &destination[at + SESSION_SUFFIX.len()..];
        if id.is_empty() || id.contains('/') {
            return Ok(());
        }
        match ud.guard {
            ResolvedDestinationGuard::AnySession => Err(()),
            ResolvedDestinationGuard::ConnectedSessions => {
                if ud.registry.is_connected(&SessionId::from(id)) {
                    Err(())
                } else {
                    Ok(())
                }
            }
        }
    }

    #[test]
    fn check_send_agrees_with_reference() {
        let destinations = [
            "",
            "/",
            "-user",
            "/topic/pair-17",
            "/topic/lg-1a2b3c-17",
            "/topic/a",
            "/topic/*",
            "/topic/**",
            "/topic/a*",
            "/topic/>",
            "/topic/#",
            "/user",
            "/user/",
            "/user/queue/x",
            "/user/bob/queue/x-users2",
            "/users/queue/x-users2",
            "/queue/x-users1",
            "/queue/x-users2",
            "/queue/x-users9",
            "/queue/x-users2/y",
            "/queue/x-user",
            "/queue/x-users1-users2",
            "/queue/x-users2-users1",
            "/topic/power-users",
            "/topic/users-user/x",
            "/queue/inbox-user.bob",
            "/queue/inbox-user.",
            "/queue/inbox-user",
            "/queue/inbox-us*",
            "/queue/inbox*",
            "/queue/*",
            "/queue/inbox-user.*",
            "/queue/inboxes-user.bob",
            "/queue/ünï-usérs2",
            "/queue/ünï-users2",
            "/topic/日本語-users1",
            "/topic/日本語-user日本",
            "/queue/a-b-c-d-e-f-g-h-users2",
            "/queue/a-b-c-d-e-f-g-h-users1",
        ];
        let sessions = [info("s1", Some("ann")), info("a-userb", None)];
        let plain = UserDestinations::default();
        let queues = UserDestinations::default().durable_queue("/queue/inbox");
        let connected = UserDestinations::default()
            .with_resolved_destination_guard(ResolvedDestinationGuard::ConnectedSessions)
            .durable_queue("/queue/inbox");
        for ud in [&plain, &queues, &connected] {
            ud.registry().session_connected(&info("s2", Some("bob")));
            for destination in destinations {
                for session in &sessions {
                    assert_eq!(
                        ud.check_send(destination, session).map_err(drop),
                        check_send_reference(ud, destination, session),
                        "{destination:?} by {} ({:?}, queues {:?})",
                        session.id,
                        ud.guard,
                        ud.user_queues
                    );
                }
            }
        }
        // Spot checks of the reference itself.
        let me = &sessions[0];
        assert!(plain.check_send("/queue/x-users2", me).is_err());
        assert!(plain.check_send("/queue/x-users1", me).is_ok());
        assert!(plain.check_send("/topic/pair-17", me).is_ok());
        assert!(queues.check_send("/queue/inbox-user.bob", me).is_err());
        assert!(queues.check_send("/queue/inbox*", me).is_err());
        assert!(connected.check_send("/queue/x-users9", me).is_ok());
        assert!(connected.check_send("/queue/x-users2", me).is_err());
    }

    fn info(id: &str, user: Option<&str>) -> SessionInfo {
        SessionInfo {
            id: SessionId::from(id),
            principal: user.map(Principal::new),
            version: Version::V1_2,
            attributes: Attributes::default(),
        }
    }

    #[test]
    fn subscribe_resolution() {
        let ud = UserDestinations::default();
        ud.registry().session_connected(&info("s2", Some("bob")));
        let me = info("s1", Some("ann"));
        let table: &[(&str, Result<Option<&str>, ()>)] = &[
            ("/user/queue/reply", Ok(Some("/queue/reply-users1"))),
            ("/user/ann/queue/reply", Ok(Some("/queue/reply-users1"))),
            ("/user/bob/queue/reply", Err(())),
            ("/user/carl/queue/reply", Err(())),
            ("/user/ann", Err(())),
            ("/user/queue", Ok(Some("/queue-users1"))),
            ("/user/topic/a/b", Ok(Some("/topic/a/b-users1"))),
            ("/user/queued/x", Err(())),
            ("/user", Err(())),
            ("/user/", Err(())),
            ("/users/queue/x", Ok(None)),
            ("/topic/a", Ok(None)),
            ("/queue/reply-users1", Ok(None)),
            ("/queue/reply-users2", Err(())),
            ("/queue/reply-users9", Err(())),
            ("/topic/power-users", Err(())),
            ("/topic/users-user/x", Ok(None)),
            ("/topic/x-user", Ok(None)),
        ];
        for (dest, want) in table {
            let got = ud.resolve_subscribe(dest, &me);
            match (got, want) {
                (Ok(got), Ok(want)) => assert_eq!(got.as_deref(), *want, "{dest}"),
                (Err(e), Err(())) => assert_eq!(e.destination(), *dest),
                (got, want) => panic!("{dest}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn connected_sessions_guard_only_protects_live_sessions() {
        let ud = UserDestinations::default()
            .with_resolved_destination_guard(ResolvedDestinationGuard::ConnectedSessions);
        ud.registry().session_connected(&info("s2", Some("bob")));
        let me = info("s1", None);
        assert!(ud.resolve_subscribe("/queue/reply-users2", &me).is_err());
        assert_eq!(ud.resolve_subscribe("/topic/power-users", &me), Ok(None));
    }

    #[test]
    fn own_session_ids_containing_the_marker_are_recognised() {
        let ud = UserDestinations::default();
        let me = info("a-userb", None);
        assert_eq!(ud.resolve_subscribe("/q-usera-userb", &me), Ok(None));
    }

    #[test]
    fn send_resolution_targets_subscribed_sessions_of_the_user() {
        let ud = UserDestinations::default().with_prefix("/me/");
        let reg = ud.registry();
        reg.session_connected(&info("s1", Some("a/b")));
        reg.session_connected(&info("s2", Some("a/b")));
        reg.session_connected(&info("s3", Some("a/b")));
        reg.subscription_added(&"s1".into(), "0", "/me/queue/x");
        reg.subscription_added(&"s2".into(), "0", "/queue/x-users2");
        let send = ud.resolve_send("/me/a%2Fb/queue/x").unwrap();
        assert_eq!(send.user, "a/b");
        assert_eq!(send.user_destination, "/me/queue/x");
        let routes: Vec<&str> = send.targets.iter().map(|t| &*t.destination).collect();
        assert_eq!(routes, ["/queue/x-users1", "/queue/x-users2"]);
        assert!(ud
            .resolve_send("/me/nobody/queue/x")
            .unwrap()
            .targets
            .is_empty());
        assert!(ud.resolve_send("/me/a%2Fb").unwrap().targets.is_empty());
        assert!(ud.resolve_send("/topic/x").is_none());
        assert_eq!(ud.user_destination("a/b", "queue/x"), "/me/a%2Fb/queue/x");
        assert_eq!(ud.user_facing("/queue/x"), "/me/queue/x");
    }
}
