//! [`SimpleBrokerConfig`]: prefixes, separator and limits of a [`SimpleBroker`](super::SimpleBroker).

use crate::destination::Separator;

/// What a destination is to the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DestinationKind {
    /// Broadcast: every matching subscription gets every message.
    Topic,
    /// Point-to-point: each message goes to one consumer.
    Queue,
}

/// Configuration of a [`SimpleBroker`](super::SimpleBroker). Builder-style:
///
/// ```
/// use stomp_core::broker::SimpleBrokerConfig;
/// use stomp_core::destination::Separator;
///
/// let config = SimpleBrokerConfig::new()
///     .topic_prefixes(["/topic"])
///     .queue_prefixes(["/queue"])
///     .separator(Separator::Slash)
///     .max_queue_depth(10_000)
///     .max_redeliveries(Some(5));
/// assert!(config.handles("/queue/jobs"));
/// assert!(!config.handles("/app/chat"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimpleBrokerConfig {
    pub(crate) topic_prefixes: Vec<String>,
    pub(crate) queue_prefixes: Vec<String>,
    pub(crate) separator: Separator,
    pub(crate) max_queue_depth: usize,
    pub(crate) max_queued_bytes: usize,
    pub(crate) max_unacked: usize,
    pub(crate) default_prefetch: usize,
    pub(crate) max_redeliveries: Option<u32>,
    pub(crate) spring_compatible: bool,
    #[cfg(feature = "durable")]
    pub(crate) data_dir: Option<std::path::PathBuf>,
    #[cfg(feature = "durable")]
    pub(crate) max_stored_messages: usize,
    #[cfg(feature = "durable")]
    pub(crate) max_stored_bytes: usize,
}

impl Default for SimpleBrokerConfig {
    fn default() -> Self {
        SimpleBrokerConfig {
            topic_prefixes: vec!["/topic".into()],
            queue_prefixes: vec!["/queue".into()],
            separator: Separator::Slash,
            max_queue_depth: 10_000,
            max_queued_bytes: 256 * 1024 * 1024,
            max_unacked: 1_000,
            default_prefetch: 100,
            max_redeliveries: None,
            spring_compatible: false,
            #[cfg(feature = "durable")]
            data_dir: None,
            #[cfg(feature = "durable")]
            max_stored_messages: 1_000_000,
            #[cfg(feature = "durable")]
            max_stored_bytes: 1024 * 1024 * 1024,
        }
    }
}

impl SimpleBrokerConfig {
    /// The defaults: topics under `/topic`, queues under `/queue`, `/` separator, queue
    /// depth 10,000, 256 MiB held by all queues, 1,000 un-acked messages per subscription
    /// (100 in flight per queue consumer unless its `prefetch-count` says otherwise),
    /// unlimited redeliveries.
    pub fn new() -> Self {
        Self::default()
    }

    /// Prefixes of broadcast destinations (default `["/topic"]`).
    #[must_use]
    pub fn topic_prefixes<I, S>(mut self, prefixes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.topic_prefixes = prefixes.into_iter().map(Into::into).collect();
        self
    }

    /// Prefixes of point-to-point destinations (default `["/queue"]`).
    #[must_use]
    pub fn queue_prefixes<I, S>(mut self, prefixes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.queue_prefixes = prefixes.into_iter().map(Into::into).collect();
        self
    }

    /// The segment separator of destination patterns (default `/`).
    #[must_use]
    pub fn separator(mut self, separator: Separator) -> Self {
        self.separator = separator;
        self
    }

    /// Most messages a queue holds (default 10,000): waiting for a consumer, plus delivered
    /// to a `client` / `client-individual` consumer and not yet acknowledged. Past it, a
    /// SEND to the queue fails with
    /// [`BrokerError::QueueFull`](crate::broker::BrokerError::QueueFull) and the message is
    /// not kept. Un-acked deliveries count until acknowledged, so handing them back (NACK, a
    /// consumer leaving) never takes a queue past it. `0` keeps nothing.
    #[must_use]
    pub fn max_queue_depth(mut self, depth: usize) -> Self {
        self.max_queue_depth = depth;
        self
    }

    /// Most bytes of encoded messages all queues together hold (default 256 MiB, half the
    /// engine's default memory total): waiting
    /// for a consumer, plus delivered to a `client` / `client-individual` consumer and not
    /// yet acknowledged. Each queue is bounded by [`max_queue_depth`](Self::max_queue_depth);
    /// this bounds the sum, so a client sending to many fresh queue names, or consuming
    /// without ever acking, cannot make the broker grow without limit. Past it a SEND to a
    /// queue fails with `QueueFull`, unless an `auto` consumer takes it at once.
    ///
    /// Under a server engine, a client's SEND to a queue also counts against that
    /// session's memory share until the message leaves the queue, so a few producers
    /// are refused at their own share long before they fill this pool; messages the
    /// server publishes itself count only here.
    #[must_use]
    pub fn max_queued_bytes(mut self, bytes: usize) -> Self {
        self.max_queued_bytes = bytes;
        self
    }

    /// Most un-acked messages per `client` / `client-individual` subscription (default
    /// 1,000; at least 1), and the cap of a queue consumer's `prefetch-count`. A topic
    /// subscription at the limit forgets its oldest pending delivery (acking it later is an
    /// unknown ack id).
    #[must_use]
    pub fn max_unacked(mut self, max: usize) -> Self {
        self.max_unacked = max.max(1);
        self
    }

    /// Most un-acked messages in flight to a `client` / `client-individual` queue consumer
    /// whose SUBSCRIBE has no `prefetch-count` header (default 100, at least 1; never more
    /// than [`max_unacked`](Self::max_unacked)). A consumer at its prefetch gets nothing
    /// more until it acks: the next consumer does, or the queue keeps the message.
    ///
    /// A SUBSCRIBE may ask for its own with `prefetch-count: n` (RabbitMQ's header): a value
    /// above `max_unacked` is lowered to it; `0` (RabbitMQ's "unlimited") or a value that
    /// is not a number is refused with an ERROR naming the header. `auto` consumers need no
    /// prefetch: a queue hands them a message only when their outbound queue has room.
    #[must_use]
    pub fn default_prefetch(mut self, prefetch: usize) -> Self {
        self.default_prefetch = prefetch.max(1);
        self
    }

    /// Most times a queue message is delivered again after a NACK or after its consumer
    /// left without acking it; past it the message is dropped. `None` (the default)
    /// redelivers without limit.
    #[must_use]
    pub fn max_redeliveries(mut self, max: Option<u32>) -> Self {
        self.max_redeliveries = max;
        self
    }

    /// Spring-compatible mode: every prefix, queue prefixes included, broadcasts like a
    /// topic (what Spring's `SimpleBroker` does with `/queue`). Off by default.
    #[must_use]
    pub fn spring_compatible(mut self, on: bool) -> Self {
        self.spring_compatible = on;
        self
    }

    /// Keeps persistent queue messages on disk in `dir` (feature `durable`; created if
    /// missing): a SEND with `persistent:true` to a queue destination is written and
    /// fsync'd before the broker accepts it (so before its RECEIPT and before any consumer
    /// sees it), removed when acknowledged (or delivered, on an `ack:auto` subscription),
    /// and restored to its queue, in order and with the same `message-id`, when a broker is
    /// opened on the same directory again. Open such a broker with
    /// [`SimpleBroker::open`](super::SimpleBroker::open). Other messages stay in memory.
    #[cfg(feature = "durable")]
    #[must_use]
    pub fn data_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// The data directory, if durable queues are on.
    #[cfg(feature = "durable")]
    pub fn data_dir_value(&self) -> Option<&std::path::Path> {
        self.data_dir.as_deref()
    }

    /// Most persistent messages the durable store keeps in all (default 1,000,000); past
    /// it a persistent SEND fails with `QueueFull`. Restored messages always load.
    #[cfg(feature = "durable")]
    #[must_use]
    pub fn max_stored_messages(mut self, max: usize) -> Self {
        self.max_stored_messages = max;
        self
    }

    /// Most bytes (of encoded messages) the durable store keeps in all (default 1 GiB);
    /// past it a persistent SEND fails with `QueueFull`.
    #[cfg(feature = "durable")]
    #[must_use]
    pub fn max_stored_bytes(mut self, max: usize) -> Self {
        self.max_stored_bytes = max;
        self
    }

    /// The separator.
    pub fn separator_value(&self) -> Separator {
        self.separator
    }

    /// What `destination` is to this broker; `None` when it is under no configured prefix
    /// (the broker answers [`BrokerError::InvalidDestination`](crate::broker::BrokerError)).
    ///
    /// A prefix matches when the destination starts with it and continues with `/` or `.`
    /// (or ends there, or the prefix itself ends in a separator): `/topic` covers
    /// `/topic/a` and `/topic.a`, not `/topics`. Queue prefixes are tried first.
    pub fn kind(&self, destination: &str) -> Option<DestinationKind> {
        if self
            .queue_prefixes
            .iter()
            .any(|p| has_prefix(destination, p))
        {
            return Some(if self.spring_compatible {
                DestinationKind::Topic
            } else {
                DestinationKind::Queue
            });
        }
        self.topic_prefixes
            .iter()
            .any(|p| has_prefix(destination, p))
            .then_some(DestinationKind::Topic)
    }

    /// `true` if `destination` is under one of the configured prefixes.
    pub fn handles(&self, destination: &str) -> bool {
        self.kind(destination).is_some()
    }
}

/// Whether `destination` is under `prefix` (see [`SimpleBrokerConfig::kind`]). Runs twice per
/// SEND for each prefix (the session asks whether the broker holds the destination, the
/// broker classifies it): bytes compared directly, the prefix's last byte first, which
/// turns most other prefixes away (`/queue` against `/topic/...`) before any `memcmp`.
#[inline]
fn has_prefix(destination: &str, prefix: &str) -> bool {
    let (d, p) = (destination.as_bytes(), prefix.as_bytes());
    let Some(&last) = p.last() else {
        return false;
    };
    if d.len() < p.len() || d[p.len() - 1] != last || d[..p.len()] != *p {
        return false;
    }
    // ASCII separators: a byte test is a character test on UTF-8.
    match d.get(p.len()) {
        None => true,
        Some(&next) => matches!(last, b'/' | b'.') || matches!(next, b'/' | b'.'),
    }
}

/// The reference `has_prefix` the fast one is tested against.
#[cfg(test)]
fn has_prefix_reference(destination: &str, prefix: &str) -> bool {
    let Some(rest) = destination.strip_prefix(prefix) else {
        return false;
    };
    !prefix.is_empty()
        && (rest.is_empty() || prefix.ends_with(['/', '.']) || rest.starts_with(['/', '.']))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_destinations() {
        let config = SimpleBrokerConfig::new().topic_prefixes(["/topic", "topic."]);
        let cases = [
            ("/topic/a", Some(DestinationKind::Topic)),
            ("/topic", Some(DestinationKind::Topic)),
            ("/topic.a", Some(DestinationKind::Topic)),
            ("/topics/a", None),
            ("topic.a.b", Some(DestinationKind::Topic)),
            ("/queue/a", Some(DestinationKind::Queue)),
            ("/app/a", None),
            ("", None),
        ];
        for (destination, expected) in cases {
            assert_eq!(config.kind(destination), expected, "{destination}");
        }
        let spring = config.spring_compatible(true);
        assert_eq!(spring.kind("/queue/a"), Some(DestinationKind::Topic));
    }

    #[test]
    fn has_prefix_agrees_with_reference() {
        let prefixes = [
            "", "/", ".", "/topic", "/topic/", "topic.", "/queue", "/q", "/top", "/tépic", "/日本",
            "/user", "*", "/topic/*",
        ];
        let destinations = [
            "",
            "/",
            ".",
            "/topic",
            "/topic/",
            "/topic/a",
            "/topic.a",
            "/topics/a",
            "/topic-a",
            "/topicé",
            "/tépic",
            "/tépic/a",
            "/日本",
            "/日本/x",
            "/日本語",
            "topic.a.b",
            "topic.",
            "topic",
            "/queue/a",
            "/q",
            "/qu",
            "/topic/*",
            "/topic/**",
            "*",
            "/user/queue/a",
            "/users/x",
            "/topic/pair-17",
        ];
        for prefix in prefixes {
            for destination in destinations {
                assert_eq!(
                    has_prefix(destination, prefix),
                    has_prefix_reference(destination, prefix),
                    "{destination:?} under {prefix:?}"
                );
            }
        }
    }
}
