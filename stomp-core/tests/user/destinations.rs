//! User destinations through the broker channel: resolution, fan-out to every session of a
//! user, the guard on other sessions' destinations, and the registry's lifecycle.

use crate::support::{TestBroker, TestSession};
use stomp_core::channel::{BrokerChannel, ChannelError};
use stomp_core::frame::Headers;
use stomp_core::template::MessagingTemplate;
use stomp_core::user::{UserDestinationError, UserDestinations, UserRegistry};
use stomp_core::Command;

struct World {
    broker: TestBroker,
    channel: BrokerChannel,
    template: MessagingTemplate,
}

fn world() -> World {
    let broker = TestBroker::new();
    let channel = BrokerChannel::builder(broker.arc())
        .user_destinations(UserDestinations::new(UserRegistry::new()))
        .build();
    let template = MessagingTemplate::from_channel(channel.clone());
    World {
        broker,
        channel,
        template,
    }
}

impl World {
    async fn connect(&self, id: &str, user: Option<&str>) -> TestSession {
        let s = TestSession::new(id, user);
        self.channel
            .session_opened(&s.info, &Headers::new())
            .await
            .unwrap();
        s
    }

    async fn subscribe(&self, s: &TestSession, id: &str, destination: &str) {
        self.channel
            .subscribe(&s.info, s.subscription(id, destination))
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn every_session_of_the_user_gets_user_messages_and_others_do_not() {
    let w = world();
    let mut ann1 = w.connect("s1", Some("ann")).await;
    let mut ann2 = w.connect("s2", Some("ann")).await;
    let mut bob = w.connect("s3", Some("bob")).await;
    for s in [&ann1, &ann2, &bob] {
        w.subscribe(s, "sub-0", "/user/queue/reply").await;
    }
    assert_eq!(
        w.broker.subscribed_destinations(),
        [
            "/queue/reply-users1",
            "/queue/reply-users2",
            "/queue/reply-users3"
        ]
    );

    w.template
        .send_to_user("ann", "/queue/reply", "hi ann")
        .await
        .unwrap();

    for s in [&mut ann1, &mut ann2] {
        let got = s.messages();
        assert_eq!(got.len(), 1, "{}", s.info.id);
        assert_eq!(got[0].command, "MESSAGE");
        assert_eq!(got[0].body_str(), "hi ann");
        assert_eq!(got[0].header("subscription"), Some("sub-0"));
        // The subscriber sees the destination it subscribed to, not the routing one.
        assert_eq!(got[0].destination(), "/user/queue/reply");
    }
    assert!(bob.messages().is_empty());
    let routed: Vec<String> = w
        .broker
        .published()
        .iter()
        .map(|m| m.destination.to_string())
        .collect();
    assert_eq!(routed, ["/queue/reply-users1", "/queue/reply-users2"]);
}

#[tokio::test]
async fn a_client_send_to_a_user_destination_is_resolved_too() {
    let w = world();
    let mut ann = w.connect("s1", Some("ann")).await;
    let bob = w.connect("s2", Some("bob")).await;
    w.subscribe(&ann, "0", "/user/queue/inbox").await;
    let message = stomp_core::broker::Message {
        destination: "/user/ann/queue/inbox".into(),
        headers: Headers::new(),
        body: "from bob".into(),
    };
    w.channel.send_from(&bob.info, message).await.unwrap();
    let got = ann.messages();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].destination(), "/user/queue/inbox");
    assert_eq!(got[0].body_str(), "from bob");
}

#[tokio::test]
async fn subscribing_to_another_sessions_resolved_destination_is_refused() {
    let w = world();
    let mut ann = w.connect("s1", Some("ann")).await;
    let mut eve = w.connect("s2", Some("eve")).await;
    w.subscribe(&ann, "0", "/user/queue/reply").await;

    for (n, target) in [
        "/queue/reply-users1",   // ann's live session
        "/queue/reply-users99",  // a session that has not connected yet
        "/user/ann/queue/reply", // ann by name
    ]
    .into_iter()
    .enumerate()
    {
        let err = w
            .channel
            .subscribe(&eve.info, eve.subscription(&format!("x{n}"), target))
            .await
            .unwrap_err();
        assert!(err.is_refusal(), "{target}: {err}");
        assert!(
            matches!(err, ChannelError::UserDestination(ref e) if e.destination() == target),
            "{target}: {err:?}"
        );
        let frame = err.to_error_frame();
        assert_eq!(frame.command, Command::Error);
        assert!(
            frame.headers.message().unwrap().contains(target),
            "ERROR names the destination: {:?}",
            frame.headers.message()
        );
    }
    // Nothing was subscribed for eve, in the broker or the registry.
    assert_eq!(w.broker.subscribed_destinations(), ["/queue/reply-users1"]);
    let eve_view = w.channel.user_registry().user("eve").unwrap();
    assert!(eve_view.sessions[0].subscriptions.is_empty());

    w.template
        .send_to_user("ann", "/queue/reply", "secret")
        .await
        .unwrap();
    assert_eq!(ann.messages().len(), 1);
    assert!(eve.messages().is_empty());
}

#[tokio::test]
async fn own_name_form_and_own_resolved_destination_are_allowed() {
    let w = world();
    let mut ann1 = w.connect("s1", Some("ann")).await;
    let mut ann2 = w.connect("s2", Some("ann")).await;
    w.subscribe(&ann1, "0", "/user/ann/queue/reply").await;
    w.subscribe(&ann2, "0", "/queue/reply-users2").await;
    w.template
        .send_to_user("ann", "/queue/reply", "x")
        .await
        .unwrap();
    assert_eq!(ann1.messages().len(), 1);
    assert_eq!(ann2.messages().len(), 1);
}

#[test]
fn resolve_subscribe_refuses_another_users_destination() {
    let ud = UserDestinations::default();
    let ann = TestSession::new("s1", Some("ann"));
    let bob = TestSession::new("s2", Some("bob"));
    ud.registry().session_connected(&ann.info);
    ud.registry().session_connected(&bob.info);
    assert_eq!(
        ud.resolve_subscribe("/user/queue/x", &bob.info)
            .unwrap()
            .as_deref(),
        Some("/queue/x-users2")
    );
    assert_eq!(
        ud.resolve_subscribe("/user/ann/queue/x", &bob.info),
        Err(UserDestinationError::OtherUser {
            destination: "/user/ann/queue/x".into()
        })
    );
    assert_eq!(
        ud.resolve_subscribe("/queue/x-users1", &bob.info),
        Err(UserDestinationError::OtherSession {
            destination: "/queue/x-users1".into()
        })
    );
    assert_eq!(ud.resolve_subscribe("/topic/x", &bob.info), Ok(None));
}

#[tokio::test]
async fn unknown_users_and_unsubscribed_sessions_receive_nothing() {
    let w = world();
    let mut ann1 = w.connect("s1", Some("ann")).await;
    let mut ann2 = w.connect("s2", Some("ann")).await;
    w.subscribe(&ann1, "0", "/user/queue/reply").await;
    // ann2 is connected but not subscribed.
    w.template
        .send_to_user("nobody", "/queue/reply", "x")
        .await
        .unwrap();
    w.template
        .send_to_user("ann", "/queue/reply", "y")
        .await
        .unwrap();
    assert_eq!(w.broker.published().len(), 1);
    assert_eq!(ann1.messages().len(), 1);
    assert!(ann2.messages().is_empty());

    w.channel.unsubscribe(&ann1.info.id, "0").await.unwrap();
    w.template
        .send_to_user("ann", "/queue/reply", "z")
        .await
        .unwrap();
    assert!(ann1.messages().is_empty());
    assert_eq!(w.broker.published().len(), 1, "no session left to route to");
}

#[tokio::test]
async fn user_names_with_a_slash_are_percent_encoded() {
    let w = world();
    let mut s = w.connect("s1", Some("corp/ann")).await;
    w.subscribe(&s, "0", "/user/queue/reply").await;
    assert_eq!(
        w.template.user_destination("corp/ann", "/queue/reply"),
        "/user/corp%2Fann/queue/reply"
    );
    w.template
        .send_to_user("corp/ann", "/queue/reply", "x")
        .await
        .unwrap();
    let got = s.messages();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].destination(), "/user/queue/reply");
}

#[tokio::test]
async fn custom_prefix() {
    let broker = TestBroker::new();
    let channel = BrokerChannel::builder(broker.arc())
        .user_destinations(UserDestinations::default().with_prefix("/me"))
        .build();
    let template = MessagingTemplate::from_channel(channel.clone());
    let mut s = TestSession::new("s1", Some("ann"));
    channel
        .session_opened(&s.info, &Headers::new())
        .await
        .unwrap();
    channel
        .subscribe(&s.info, s.subscription("0", "/me/queue/r"))
        .await
        .unwrap();
    assert_eq!(broker.subscribed_destinations(), ["/queue/r-users1"]);
    template.send_to_user("ann", "/queue/r", "x").await.unwrap();
    assert_eq!(s.messages()[0].destination(), "/me/queue/r");
}

#[tokio::test]
async fn the_registry_shows_users_and_empties_after_disconnects() {
    let w = world();
    let a1 = w.connect("s1", Some("ann")).await;
    let a2 = w.connect("s2", Some("ann")).await;
    let b = w.connect("s3", Some("bob")).await;
    let anon = w.connect("s4", None).await;
    w.subscribe(&a1, "0", "/user/queue/reply").await;
    w.subscribe(&a1, "1", "/topic/news").await;
    w.subscribe(&anon, "0", "/topic/news").await;
    let reg = w.channel.user_registry().clone();
    assert_eq!(reg.user_count(), 2);
    assert_eq!(reg.session_count(), 4);
    let names: Vec<String> = reg.users().iter().map(|u| u.name.to_string()).collect();
    assert_eq!(names, ["ann", "bob"]);
    assert_eq!(
        reg.sessions_of("ann"),
        [a1.info.id.clone(), a2.info.id.clone()]
    );
    let news = reg.subscriptions_to("/topic/news");
    assert_eq!(news.len(), 2);
    assert!(news
        .iter()
        .any(|s| s.session == a1.info.id && s.user.as_deref() == Some("ann")));

    w.channel.session_closed(&a1.info.id).await;
    assert_eq!(reg.sessions_of("ann"), std::slice::from_ref(&a2.info.id));
    assert!(reg.subscriptions_to("/topic/news").len() == 1);
    for s in [&a2, &b, &anon] {
        w.channel.session_closed(&s.info.id).await;
    }
    assert_eq!(reg.user_count(), 0);
    assert_eq!(reg.session_count(), 0);
    assert!(reg.users().is_empty());
    assert!(reg.find_subscriptions(|_| true).is_empty());
    assert!(w.broker.subscribed_destinations().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_is_shared_and_consistent_under_concurrent_sessions() {
    let reg = UserRegistry::new();
    let mut tasks = Vec::new();
    for t in 0..8 {
        let reg = reg.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..200 {
                let s = TestSession::new(&format!("t{t}-{i}"), Some(&format!("u{}", i % 5)));
                reg.session_connected(&s.info);
                reg.subscription_added(&s.info.id, "0", "/user/queue/x");
                tokio::task::yield_now().await;
                assert!(reg.sessions_of(&format!("u{}", i % 5)).contains(&s.info.id));
                reg.subscription_removed(&s.info.id, "0");
                reg.session_disconnected(&s.info.id);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(reg.user_count(), 0);
    assert_eq!(reg.session_count(), 0);
}

#[tokio::test]
async fn a_user_named_like_a_broker_prefix_cannot_block_others() {
    let w = world();
    let mut q = w.connect("s1", Some("queue")).await;
    let mut ann = w.connect("s2", Some("ann")).await;
    // "queue" is a broker prefix, not a user name, in a SUBSCRIBE.
    w.subscribe(&ann, "0", "/user/queue/reply").await;
    w.subscribe(&q, "0", "/user/queue/reply").await;
    w.template
        .send_to_user("ann", "/queue/reply", "a")
        .await
        .unwrap();
    w.template
        .send_to_user("queue", "/queue/reply", "q")
        .await
        .unwrap();
    assert_eq!(ann.messages()[0].body_str(), "a");
    assert_eq!(q.messages()[0].body_str(), "q");
}

#[test]
fn broker_prefixes_are_configurable() {
    let ud = UserDestinations::default().with_broker_prefixes(["/exchange/", "/amq/queue"]);
    let ann = TestSession::new("s1", Some("ann"));
    assert_eq!(
        ud.resolve_subscribe("/user/exchange/amq.direct/x", &ann.info)
            .unwrap()
            .as_deref(),
        Some("/exchange/amq.direct/x-users1")
    );
    assert_eq!(
        ud.resolve_subscribe("/user/amq/queue/x", &ann.info)
            .unwrap()
            .as_deref(),
        Some("/amq/queue/x-users1")
    );
    // No longer a broker prefix: read as a user name, and not ann's.
    assert!(ud.resolve_subscribe("/user/queue/x", &ann.info).is_err());
}
