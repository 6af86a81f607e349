//! Which headers of a client's frames the relay forwards to the external broker: see
//! [`HeaderPolicy`].

use bytestring::ByteString;

use crate::frame::{name, Headers};

/// What a [`HeaderPolicy`] forwards of one command's headers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderRule {
    /// Only headers with these names (an allow-list).
    Only(Vec<ByteString>),
    /// Every header except those with these names (application headers pass).
    AllExcept(Vec<ByteString>),
}

impl HeaderRule {
    /// An allow-list.
    pub fn only<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<ByteString>,
    {
        HeaderRule::Only(names.into_iter().map(Into::into).collect())
    }

    /// Everything except `names`.
    pub fn all_except<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<ByteString>,
    {
        HeaderRule::AllExcept(names.into_iter().map(Into::into).collect())
    }

    /// Whether a header named `header` passes (before the relay's own headers are
    /// removed).
    pub fn allows(&self, header: &str) -> bool {
        match self {
            HeaderRule::Only(names) => names.iter().any(|n| **n == *header),
            HeaderRule::AllExcept(names) => !names.iter().any(|n| **n == *header),
        }
    }
}

/// Which client headers the relay forwards on SUBSCRIBE, SEND, ACK and NACK. Set it with
/// [`RelayConfig::header_policy`](super::RelayConfig::header_policy).
///
/// The broker reads some client headers as instructions about its own objects: RabbitMQ
/// attaches a subscription to the queue named by `x-queue-name`, declares queues with the
/// `durable` / `auto-delete` / `exclusive` flags and the `x-*` queue arguments it finds on
/// SUBSCRIBE and SEND, and names a durable topic subscription's queue after the
/// subscription. Forwarded as they are, such headers let one browser attach to, declare
/// (first, with arguments that break the owner's later declaration) or bind another
/// session's queue, for instance the `/queue/private-user{session}` behind a user
/// destination. [`HeaderPolicy`] decides, per command, what is forwarded.
///
/// | frame | forwarded by default |
/// |---|---|
/// | SUBSCRIBE | [`DEFAULT_SUBSCRIBE`](HeaderPolicy::DEFAULT_SUBSCRIBE) only: `prefetch-count`, `selector`, `x-stream-offset`, `x-stream-filter` |
/// | SEND | every header but [`QUEUE_DECLARATION`](HeaderPolicy::QUEUE_DECLARATION) (`x-queue-name`, `durable`, `auto-delete`, `exclusive` and RabbitMQ's `x-*` queue arguments): application headers, `persistent`, `reply-to`, `expiration`, `priority`, ... travel with the message |
/// | ACK, NACK | [`DEFAULT_ACK`](HeaderPolicy::DEFAULT_ACK) only: `requeue` (RabbitMQ's NACK `requeue:false`) |
/// | UNSUBSCRIBE, BEGIN, COMMIT, ABORT, DISCONNECT | nothing: the relay sends its own UNSUBSCRIBE, and transactions are applied by the session before anything reaches the broker |
///
/// Whatever the SEND rule, two values are never forwarded on SEND, because RabbitMQ acts on
/// them against the sending connection, which for the relay is the system connection every
/// session shares: `persistent` other than `true` (it declares a queue that does not exist
/// yet exclusive to that connection, locking out its owner, e.g. the session behind a
/// `/queue/...-user{session}` queue), and a `reply-to` under `/temp-queue/` (a temporary
/// queue on that connection, whose replies no client could receive). Leaving out
/// `persistent:false` changes nothing for the message: non-persistent is the default.
///
/// Headers the relay sets itself (`destination`, `id`, `ack`, `receipt`, `subscription`,
/// `message-id`, `transaction`, `content-length`, the user-destination header) are never
/// taken from the client, whatever the policy says. Even when an application allows
/// `x-queue-name`, a value naming another session's resolved user destination
/// (`...-user{other session}`) refuses the SUBSCRIBE.
///
/// ```
/// use stomp_core::relay::{HeaderPolicy, HeaderRule};
///
/// // ActiveMQ: let clients set their consumer's priority too.
/// let policy = HeaderPolicy::default().subscribe(HeaderRule::only([
///     "prefetch-count",
///     "selector",
///     "activemq.priority",
/// ]));
/// assert!(policy.subscribe_rule().allows("activemq.priority"));
/// assert!(!policy.subscribe_rule().allows("x-queue-name"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct HeaderPolicy {
    subscribe: HeaderRule,
    send: HeaderRule,
    ack: HeaderRule,
    nack: HeaderRule,
}

impl Default for HeaderPolicy {
    fn default() -> Self {
        HeaderPolicy {
            subscribe: HeaderRule::only(Self::DEFAULT_SUBSCRIBE),
            send: HeaderRule::all_except(Self::QUEUE_DECLARATION),
            ack: HeaderRule::only(Self::DEFAULT_ACK),
            nack: HeaderRule::only(Self::DEFAULT_ACK),
        }
    }
}

impl HeaderPolicy {
    /// SUBSCRIBE headers forwarded by default: consumer settings that concern the
    /// subscriber's own consumer only.
    pub const DEFAULT_SUBSCRIBE: [&'static str; 4] = [
        "prefetch-count",
        "selector",
        "x-stream-offset",
        "x-stream-filter",
    ];

    /// ACK / NACK headers forwarded by default.
    pub const DEFAULT_ACK: [&'static str; 1] = ["requeue"];

    /// Headers by which RabbitMQ names or declares a queue (on SUBSCRIBE and SEND): never
    /// forwarded on SEND by default, and not on the default SUBSCRIBE allow-list. Think
    /// twice before allowing one: `durable` on a topic SUBSCRIBE makes RabbitMQ name the
    /// queue after the destination and the relay's subscription id, which is unique per
    /// broker connection only, so two sessions' durable subscriptions to one topic would
    /// share a queue.
    pub const QUEUE_DECLARATION: [&'static str; 17] = [
        "x-queue-name",
        "durable",
        "auto-delete",
        "exclusive",
        "x-queue-type",
        "x-dead-letter-exchange",
        "x-dead-letter-routing-key",
        "x-expires",
        "x-max-length",
        "x-max-length-bytes",
        "x-max-age",
        "x-max-priority",
        "x-message-ttl",
        "x-overflow",
        "x-single-active-consumer",
        "x-stream-max-segment-size-bytes",
        "x-stream-filter-size-bytes",
    ];

    /// Forwards every client header on SUBSCRIBE, SEND, ACK and NACK (the relay's own
    /// headers and the two SEND values above aside): what Spring's relay does. Only for a broker whose own permissions
    /// confine each client (per-client connections with per-user broker accounts).
    pub fn forward_all() -> Self {
        let all = HeaderRule::AllExcept(Vec::new());
        HeaderPolicy {
            subscribe: all.clone(),
            send: all.clone(),
            ack: all.clone(),
            nack: all,
        }
    }

    /// The rule for SUBSCRIBE.
    pub fn subscribe(mut self, rule: HeaderRule) -> Self {
        self.subscribe = rule;
        self
    }

    /// The rule for SEND.
    pub fn send(mut self, rule: HeaderRule) -> Self {
        self.send = rule;
        self
    }

    /// The rule for ACK.
    pub fn ack(mut self, rule: HeaderRule) -> Self {
        self.ack = rule;
        self
    }

    /// The rule for NACK.
    pub fn nack(mut self, rule: HeaderRule) -> Self {
        self.nack = rule;
        self
    }

    /// The rule for SUBSCRIBE.
    pub fn subscribe_rule(&self) -> &HeaderRule {
        &self.subscribe
    }

    /// The rule for SEND.
    pub fn send_rule(&self) -> &HeaderRule {
        &self.send
    }

    /// The rule for ACK.
    pub fn ack_rule(&self) -> &HeaderRule {
        &self.ack
    }

    /// The rule for NACK.
    pub fn nack_rule(&self) -> &HeaderRule {
        &self.nack
    }
}

/// Appends to `out` the headers of `from` that `rule` lets through, except those named in
/// `reserved` (set by the relay itself).
pub(crate) fn forward(rule: &HeaderRule, from: &Headers, reserved: &[&str], out: &mut Headers) {
    for (n, v) in from.entries() {
        if !reserved.contains(&&**n) && rule.allows(n) {
            out.append(n.clone(), v.clone());
        }
    }
}

/// Appends to `out` the SEND headers of `from` that `rule` lets through, except those named
/// in `reserved` and the values RabbitMQ would act on against the sending connection (see
/// [`declares_on_send`]).
pub(crate) fn forward_send(
    rule: &HeaderRule,
    from: &Headers,
    reserved: &[&str],
    out: &mut Headers,
) {
    for (n, v) in from.entries() {
        if !reserved.contains(&&**n) && rule.allows(n) && !declares_on_send(n, v) {
            out.append(n.clone(), v.clone());
        }
    }
}

/// Whether RabbitMQ would turn this SEND header into a queue of the sending connection,
/// which for the relay is the system connection every session shares: `persistent` other
/// than `true` declares the destination queue (if it does not exist yet) exclusive to that
/// connection, locking its owner out (RESOURCE_LOCKED); `reply-to: /temp-queue/...`
/// creates a temporary queue there whose replies no client could ever receive.
pub(crate) fn declares_on_send(header: &str, value: &str) -> bool {
    (header == "persistent" && value != "true")
        || (header == "reply-to" && value.starts_with("/temp-queue/"))
}

/// Whether `queue` (an `x-queue-name` value) names a resolved user destination of a
/// session other than `own` (`{name}-user{id}`, `id` not `own`).
pub(crate) fn names_other_session(queue: &str, own: &str) -> bool {
    let Some(at) = queue.rfind("-user") else {
        return false;
    };
    let id = &queue[at + "-user".len()..];
    !id.is_empty() && id != own
}

/// Headers of a SUBSCRIBE that the relay sets itself.
pub(crate) const SUBSCRIBE_RESERVED: [&str; 5] = [
    name::ID,
    name::DESTINATION,
    name::ACK,
    name::RECEIPT,
    name::CONTENT_LENGTH,
];

/// Headers of an ACK / NACK that the relay sets itself.
pub(crate) const ACK_RESERVED: [&str; 6] = [
    name::ID,
    name::MESSAGE_ID,
    name::SUBSCRIPTION,
    name::RECEIPT,
    name::TRANSACTION,
    name::CONTENT_LENGTH,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_policy_keeps_queue_naming_and_declaration_out() {
        let policy = HeaderPolicy::default();
        for header in HeaderPolicy::QUEUE_DECLARATION {
            assert!(!policy.subscribe_rule().allows(header), "{header}");
            assert!(!policy.send_rule().allows(header), "{header}");
        }
        assert!(policy.subscribe_rule().allows("prefetch-count"));
        assert!(policy.send_rule().allows("x-app-header"));
        assert!(policy.send_rule().allows("persistent"));
        assert!(policy.nack_rule().allows("requeue"));
        assert!(!policy.nack_rule().allows("x-queue-name"));
    }

    #[test]
    fn reserved_headers_never_pass() {
        let from: Headers = [("id", "7"), ("requeue", "false"), ("receipt", "r")]
            .into_iter()
            .collect();
        let mut out = Headers::new();
        forward(
            &HeaderPolicy::forward_all().nack,
            &from,
            &ACK_RESERVED,
            &mut out,
        );
        let names: Vec<&str> = out.iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["requeue"]);
    }

    #[test]
    fn send_values_acting_on_the_shared_connection_are_dropped() {
        let from: Headers = [
            ("persistent", "false"),
            ("reply-to", "/temp-queue/r"),
            ("reply-to", "/queue/replies"),
            ("x-app", "1"),
        ]
        .into_iter()
        .collect();
        let mut out = Headers::new();
        forward_send(&HeaderPolicy::forward_all().send, &from, &[], &mut out);
        let kept: Vec<(&str, &str)> = out.iter().collect();
        assert_eq!(kept, [("reply-to", "/queue/replies"), ("x-app", "1")]);
        assert!(!declares_on_send("persistent", "true"));
    }

    #[test]
    fn other_sessions_queue_names() {
        let cases = [
            ("private-users-1", "s-1", false),
            ("private-users-2", "s-1", true),
            ("private-user", "s-1", false),
            ("orders", "s-1", false),
        ];
        for (queue, own, other) in cases {
            assert_eq!(names_other_session(queue, own), other, "{queue}");
        }
    }
}
