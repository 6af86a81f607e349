//! User queues (`UserDestinations::durable_queue`): a per-user inbox bound to the user, not
//! the session, through the broker channel in front of the real `SimpleBroker`. Messages
//! wait while the user is away, the user's next session gets them in order, and nobody
//! else can reach the queue by any name.

use std::sync::Arc;

use proptest::prelude::*;
use stomp_core::broker::{AckMode, Broker, SimpleBroker, SimpleBrokerConfig};
use stomp_core::channel::{BrokerChannel, ChannelError};
use stomp_core::frame::Headers;
use stomp_core::identity::{Attributes, Principal, SessionId, SessionInfo};
use stomp_core::template::MessagingTemplate;
use stomp_core::user::{UserDestinationError, UserDestinations, UserRegistry};
use stomp_core::Version;

use crate::support::{ReceivedMessage, TestSession};

const INBOX: &str = "/queue/inbox";

struct World {
    broker: Arc<SimpleBroker>,
    channel: BrokerChannel,
    template: MessagingTemplate,
}

fn users() -> UserDestinations {
    UserDestinations::new(UserRegistry::new()).durable_queue(INBOX)
}

fn world_on(broker: SimpleBroker) -> World {
    let broker = Arc::new(broker);
    let channel = BrokerChannel::builder(broker.clone())
        .user_destinations(users())
        .build();
    let template = MessagingTemplate::from_channel(channel.clone());
    World {
        broker,
        channel,
        template,
    }
}

fn world() -> World {
    world_on(SimpleBroker::new(SimpleBrokerConfig::new()))
}

impl World {
    async fn open(&self, id: &str, user: Option<&str>) -> TestSession {
        let s = TestSession::new(id, user);
        self.channel
            .session_opened(&s.info, &Headers::new())
            .await
            .unwrap();
        s
    }

    async fn subscribe(
        &self,
        s: &TestSession,
        id: &str,
        destination: &str,
        ack: AckMode,
    ) -> Result<(), ChannelError> {
        let mut sub = s.subscription(id, destination);
        sub.ack = ack;
        self.channel.subscribe(&s.info, sub).await
    }

    async fn inbox_of(&self, id: &str, user: &str) -> TestSession {
        let s = self.open(id, Some(user)).await;
        self.subscribe(&s, "inbox", "/user/queue/inbox", AckMode::Auto)
            .await
            .unwrap();
        s
    }

    async fn to_inbox(&self, user: &str, body: &str) {
        self.template
            .send_to_user(user, INBOX, body.to_owned())
            .await
            .unwrap();
    }
}

fn bodies(messages: &[ReceivedMessage]) -> Vec<&str> {
    messages.iter().map(ReceivedMessage::body_str).collect()
}

fn info(id: &str, user: Option<&str>) -> SessionInfo {
    SessionInfo {
        id: SessionId::from(id),
        principal: user.map(Principal::new),
        version: Version::V1_2,
        attributes: Attributes::default(),
    }
}

#[tokio::test]
async fn messages_wait_for_the_users_next_session_in_order_then_arrive_at_once() {
    let w = world();
    for i in 0..5 {
        w.to_inbox("bob", &format!("m{i}")).await;
    }
    assert_eq!(w.broker.stats().queued, 5, "bob is offline: they wait");

    let mut bob = w.inbox_of("s1", "bob").await;
    let got = bob.messages();
    assert_eq!(bodies(&got), ["m0", "m1", "m2", "m3", "m4"]);
    for m in &got {
        assert_eq!(m.destination(), "/user/queue/inbox");
        assert_eq!(m.header("redelivered"), None, "first delivery");
    }
    w.to_inbox("bob", "now").await;
    assert_eq!(bodies(&bob.messages()), ["now"], "online: at once");
    assert_eq!(w.broker.stats().queued, 0);
}

#[tokio::test]
async fn an_inbox_outlives_sessions_and_is_not_shared_with_other_users() {
    let w = world();
    let mut alice = w.inbox_of("s1", "alice").await;
    let bob = w.inbox_of("s2", "bob").await;
    w.channel.session_closed(&bob.info.id).await;
    w.to_inbox("bob", "for bob").await;
    w.to_inbox("alice", "for alice").await;
    assert_eq!(bodies(&alice.messages()), ["for alice"]);
    let mut bob = w.inbox_of("s3", "bob").await;
    assert_eq!(bodies(&bob.messages()), ["for bob"]);
    assert!(alice.messages().is_empty());
}

#[tokio::test]
async fn the_owners_name_may_appear_in_the_subscription() {
    let w = world();
    w.to_inbox("bob", "hi").await;
    let mut bob = w.open("s1", Some("bob")).await;
    w.subscribe(&bob, "0", "/user/bob/queue/inbox", AckMode::Auto)
        .await
        .unwrap();
    assert_eq!(bodies(&bob.messages()), ["hi"]);
}

/// A client SEND to `/user/{name}/queue/inbox` (when the policy allows it) lands in the
/// inbox as the template's does, and an inbox is bounded like any queue.
#[tokio::test]
async fn a_client_send_reaches_the_inbox_which_is_bounded_like_any_queue() {
    let w = world_on(SimpleBroker::new(
        SimpleBrokerConfig::new().max_queue_depth(2),
    ));
    let alice = w.open("s1", Some("alice")).await;
    for body in ["one", "two"] {
        let message = stomp_core::broker::Message {
            destination: "/user/bob/queue/inbox".into(),
            headers: Headers::new(),
            body: body.into(),
        };
        w.channel.send_from(&alice.info, message).await.unwrap();
    }
    let err = w
        .template
        .send_to_user("bob", INBOX, "three")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("full"), "{err}");
    let mut bob = w.inbox_of("s2", "bob").await;
    let got = bob.messages();
    assert_eq!(bodies(&got), ["one", "two"]);
    assert!(got.iter().all(|m| m.header("persistent") == Some("true")));
}

/// Two tabs of one user: the inbox is a queue, each message goes to one of them.
#[tokio::test]
async fn two_sessions_of_a_user_are_competing_consumers() {
    let w = world();
    let mut tab1 = w.inbox_of("s1", "bob").await;
    let mut tab2 = w.inbox_of("s2", "bob").await;
    for i in 0..6 {
        w.to_inbox("bob", &format!("m{i}")).await;
    }
    let (one, two) = (tab1.messages(), tab2.messages());
    assert_eq!(one.len() + two.len(), 6);
    assert_eq!(bodies(&one), ["m0", "m2", "m4"]);
    assert_eq!(bodies(&two), ["m1", "m3", "m5"]);
}

#[tokio::test]
async fn an_unacked_client_message_waits_for_the_next_session_marked_redelivered() {
    let w = world();
    let mut first = w.open("s1", Some("bob")).await;
    w.subscribe(&first, "0", "/user/queue/inbox", AckMode::ClientIndividual)
        .await
        .unwrap();
    w.to_inbox("bob", "one").await;
    w.to_inbox("bob", "two").await;
    let got = first.messages();
    assert_eq!(bodies(&got), ["one", "two"]);
    let ack = got[0].header("ack").unwrap().to_owned();
    w.broker.ack(&first.info.id, &ack).await.unwrap();
    w.channel.session_closed(&first.info.id).await;
    assert_eq!(w.broker.stats().queued, 1, "the un-acked one waits");

    let mut next = w.inbox_of("s2", "bob").await;
    let got = next.messages();
    assert_eq!(bodies(&got), ["two"]);
    assert_eq!(got[0].header("redelivered"), Some("true"));
}

#[tokio::test]
async fn an_anonymous_session_has_no_inbox() {
    let w = world();
    let anon = w.open("s1", None).await;
    let err = w
        .subscribe(&anon, "0", "/user/queue/inbox", AckMode::Auto)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ChannelError::UserDestination(UserDestinationError::Anonymous { .. })
        ),
        "{err:?}"
    );
    assert_eq!(w.broker.subscription_count(), 0);
}

/// Users whose names are prefixes or suffixes of the victim's, contain `/`, `*`, `%`, `.`,
/// `-user` or are empty-looking, and anonymous sessions: every name by which the victim's
/// inbox could be reached is refused, and nothing they may subscribe to ever carries the
/// victim's messages.
#[tokio::test]
async fn no_other_user_can_reach_an_inbox_by_any_name() {
    let w = world();
    let victim = "bob";
    let attackers: &[Option<&str>] = &[
        None,
        Some("bo"),
        Some("bobby"),
        Some("xbob"),
        Some("bob/"),
        Some("bob/x"),
        Some("b*"),
        Some("*"),
        Some("**"),
        Some("bob%"),
        Some("%62ob"),
        Some("bob-user"),
        Some("bob-user.bob"),
        Some("-user.bob"),
        Some("user.bob"),
        Some("inbox-user.bob"),
        Some(".bob"),
        Some("bob.x"),
        Some("BOB"),
        Some(" bob"),
    ];
    let names: Vec<String> = vec![
        "/user/bob/queue/inbox".into(),
        "/user/bob/queue/inbox/".into(),
        "/queue/inbox-user.bob".into(),
        "/queue/inbox-user.bob/".into(),
        "/queue/inbox-user.bo".into(),
        "/queue/inbox-user.".into(),
        "/queue/inbox-user.*".into(),
        "/queue/inbox-user.b*".into(),
        "/queue/inbox-*".into(),
        "/queue/inbox*".into(),
        "/queue/*".into(),
        "/queue/**".into(),
        "/**".into(),
        "/*/inbox-user.bob".into(),
        "/user/queue/inbox-user.bob".into(),
        "/user/queue/inbox-user.bo".into(),
        "/user/queue/*".into(),
    ];
    let mut watchers = Vec::new();
    for (n, attacker) in attackers.iter().enumerate() {
        let mut s = w.open(&format!("a{n}"), *attacker).await;
        for (k, name) in names.iter().enumerate() {
            let result = w.subscribe(&s, &format!("{k}"), name, AckMode::Auto).await;
            assert!(
                result.as_ref().is_err_and(ChannelError::is_refusal),
                "{attacker:?} subscribed to {name}: {result:?}"
            );
        }
        let mut forged = Headers::new();
        forged.append("destination", "/user/queue/inbox");
        for name in [
            "/queue/inbox-user.bob",
            "/queue/inbox-user.bo",
            "/queue/inbox-user.bob/x",
        ] {
            let message = stomp_core::broker::Message {
                destination: name.into(),
                headers: forged.clone(),
                body: "forged".into(),
            };
            let result = w.channel.send_from(&s.info, message).await;
            assert!(
                matches!(
                    result,
                    Err(ChannelError::UserDestination(
                        UserDestinationError::UserQueue { .. }
                    ))
                ),
                "{attacker:?} sent to {name}: {result:?}"
            );
        }
        // Their own inbox, where allowed, is theirs and not the victim's.
        if attacker.is_some() {
            w.subscribe(&s, "own", "/user/queue/inbox", AckMode::Auto)
                .await
                .unwrap();
        }
        assert!(s.messages().is_empty());
        watchers.push(s);
    }
    w.to_inbox(victim, "secret").await;
    for (s, attacker) in watchers.iter_mut().zip(attackers) {
        assert!(s.messages().is_empty(), "{attacker:?} got the secret");
    }
    let mut bob = w.inbox_of("victim", victim).await;
    assert_eq!(bodies(&bob.messages()), ["secret"]);
}

#[test]
fn inbox_names_are_distinct_and_guarded_for_every_guard_mode() {
    let ud = users();
    assert_eq!(
        ud.user_queue("bob", INBOX).as_deref(),
        Some("/queue/inbox-user.bob")
    );
    assert_eq!(
        ud.user_queue("a/b*-user.c", INBOX).as_deref(),
        Some("/queue/inbox-user.a%2Fb%2A%2Duser%2Ec")
    );
    assert_eq!(ud.user_queue("", INBOX), None);
    assert_eq!(ud.user_queue("bob", "/queue/other"), None);
    // A session whose id is the victim's encoded name gains nothing, whichever guard.
    for ud in [
        users(),
        users().with_resolved_destination_guard(
            stomp_core::user::ResolvedDestinationGuard::ConnectedSessions,
        ),
    ] {
        let me = info(".bob", Some("mallory"));
        assert!(ud.resolve_subscribe("/queue/inbox-user.bob", &me).is_err());
        assert!(ud.check_send("/queue/inbox-user.bob", &me).is_err());
    }
}

proptest! {
    /// Distinct user names never share an inbox, and no user's per-session resolution of
    /// any other `/user/...` destination lands on an inbox.
    #[test]
    fn distinct_names_never_share_an_inbox(a in "\\PC{0,12}", b in "\\PC{0,12}", rest in "[a-z./*-]{0,12}") {
        let ud = users();
        let (qa, qb) = (ud.user_queue(&a, INBOX), ud.user_queue(&b, INBOX));
        if a != b && !a.is_empty() && !b.is_empty() {
            prop_assert_ne!(qa.clone(), qb);
        }
        let me = info("s1", Some(&b));
        let destination = format!("/user/queue/{rest}");
        if let Ok(Some(resolved)) = ud.resolve_subscribe(&destination, &me) {
            if rest != "inbox" {
                prop_assert_ne!(Some(resolved.clone()), qa.clone());
                prop_assert!(!resolved.starts_with("/queue/inbox-user."), "{}", resolved);
            }
        }
    }
}

/// With a data directory, a user's inbox survives a restart of the broker, in order, and
/// the next session gets it marked `redelivered:true`.
#[cfg(feature = "durable")]
#[tokio::test]
async fn with_a_data_dir_an_inbox_survives_a_restart() {
    let dir = std::env::temp_dir().join(format!(
        "stomp-core-inbox-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    let open = || SimpleBroker::open(SimpleBrokerConfig::new().data_dir(&dir)).unwrap();
    {
        let w = world_on(open());
        w.to_inbox("bob", "first").await;
        w.to_inbox("bob", "second").await;
        w.to_inbox("alice", "for alice").await;
        assert_eq!(w.broker.stats().stored_messages, 3);
    }
    let w = world_on(open());
    let mut bob = w.inbox_of("s1", "bob").await;
    let got = bob.messages();
    assert_eq!(bodies(&got), ["first", "second"]);
    assert!(got.iter().all(|m| m.header("redelivered") == Some("true")));
    assert!(got.iter().all(|m| m.destination() == "/user/queue/inbox"));
    // Delivered to an auto-ack consumer: gone from disk; alice's still waits.
    assert_eq!(w.broker.stats().stored_messages, 1);
    drop(w);
    let _ = std::fs::remove_dir_all(&dir);
}
