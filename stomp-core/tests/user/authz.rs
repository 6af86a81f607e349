//! Destination authorization through the broker channel: refused SENDs and SUBSCRIBEs
//! deliver nothing and subscribe nothing; server-side sends skip the policy.

use crate::support::{TestBroker, TestSession};
use stomp_core::authz::{policy_fn, Access, AccessRequest, Decision, DestinationRules};
use stomp_core::broker::Message;
use stomp_core::channel::{BrokerChannel, ChannelError};
use stomp_core::frame::Headers;
use stomp_core::identity::Principal;
use stomp_core::template::MessagingTemplate;
use stomp_core::Command;

fn rules() -> DestinationRules {
    DestinationRules::new()
        .subscribe("/topic/admin/**")
        .role("admin")
        .send("/topic/**")
        .deny_all()
        .any("/queue/**")
        .authenticated()
}

fn message(destination: &str) -> Message {
    Message {
        destination: destination.into(),
        headers: Headers::new(),
        body: "x".into(),
    }
}

async fn open(channel: &BrokerChannel, s: &TestSession) {
    channel
        .session_opened(&s.info, &Headers::new())
        .await
        .unwrap();
}

#[tokio::test]
async fn refused_subscribe_creates_no_subscription_and_names_the_destination() {
    let broker = TestBroker::new();
    let channel = BrokerChannel::builder(broker.arc()).policy(rules()).build();
    let mut ann = TestSession::new("s1", Some("ann"));
    let mut root =
        TestSession::with_principal("s2", Some(Principal::new("root").with_roles(["admin"])));
    open(&channel, &ann).await;
    open(&channel, &root).await;

    let err = channel
        .subscribe(&ann.info, ann.subscription("0", "/topic/admin/stats"))
        .await
        .unwrap_err();
    let ChannelError::Denied(denied) = &err else {
        panic!("expected a denial, got {err:?}");
    };
    assert_eq!(denied.access, Access::Subscribe);
    assert_eq!(denied.destination, "/topic/admin/stats");
    let frame = err.to_error_frame();
    assert_eq!(frame.command, Command::Error);
    assert!(frame
        .headers
        .message()
        .unwrap()
        .contains("/topic/admin/stats"));
    assert_eq!(&frame.body[..], b"requires role admin");

    channel
        .subscribe(&root.info, root.subscription("0", "/topic/admin/stats"))
        .await
        .unwrap();
    assert_eq!(broker.subscribed_destinations(), ["/topic/admin/stats"]);
    let ann_subs = channel.user_registry().user("ann").unwrap().sessions[0]
        .subscriptions
        .len();
    assert_eq!(ann_subs, 0);

    // The server publishes to the admin topic; only root receives.
    let template = MessagingTemplate::from_channel(channel.clone());
    template.send("/topic/admin/stats", "42").await.unwrap();
    assert!(ann.messages().is_empty());
    assert_eq!(root.messages().len(), 1);
}

#[tokio::test]
async fn refused_send_delivers_nothing() {
    let broker = TestBroker::new();
    let channel = BrokerChannel::builder(broker.arc()).policy(rules()).build();
    let mut ann = TestSession::new("s1", Some("ann"));
    let anon = TestSession::new("s2", None);
    open(&channel, &ann).await;
    open(&channel, &anon).await;
    channel
        .subscribe(&ann.info, ann.subscription("0", "/topic/news"))
        .await
        .unwrap();
    channel
        .subscribe(&ann.info, ann.subscription("1", "/queue/work"))
        .await
        .unwrap();

    for (who, dest) in [(&ann, "/topic/news"), (&anon, "/queue/work")] {
        let err = channel
            .send_from(&who.info, message(dest))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ChannelError::Denied(d) if d.access == Access::Send && d.destination == dest),
            "{err:?}"
        );
        assert!(err
            .to_error_frame()
            .headers
            .message()
            .unwrap()
            .contains(dest));
    }
    assert!(broker.published().is_empty());
    assert!(ann.messages().is_empty());

    // Allowed: an authenticated SEND to a queue.
    channel
        .send_from(&ann.info, message("/queue/work"))
        .await
        .unwrap();
    assert_eq!(ann.messages().len(), 1);
}

#[tokio::test]
async fn refused_user_destination_send_delivers_nothing() {
    let broker = TestBroker::new();
    let policy = DestinationRules::new().send("/user/**").role("support");
    let channel = BrokerChannel::builder(broker.arc()).policy(policy).build();
    let mut ann = TestSession::new("s1", Some("ann"));
    let bob = TestSession::new("s2", Some("bob"));
    open(&channel, &ann).await;
    open(&channel, &bob).await;
    channel
        .subscribe(&ann.info, ann.subscription("0", "/user/queue/inbox"))
        .await
        .unwrap();
    let err = channel
        .send_from(&bob.info, message("/user/ann/queue/inbox"))
        .await
        .unwrap_err();
    assert!(err.is_refusal());
    assert!(broker.published().is_empty());
    assert!(ann.messages().is_empty());
}

#[tokio::test]
async fn closure_policies_see_principal_session_and_destination() {
    let broker = TestBroker::new();
    // Each user may only subscribe to their own room topic.
    let policy = policy_fn(|req: &AccessRequest<'_>| match req.access {
        Access::Subscribe if req.destination.starts_with("/topic/room/") => match req.principal() {
            Some(p) if req.destination == format!("/topic/room/{}", p.name()) => Decision::Allow,
            _ => Decision::deny_with(format!("session {} may not", req.session.id)),
        },
        _ => Decision::Allow,
    });
    let channel = BrokerChannel::builder(broker.arc()).policy(policy).build();
    let ann = TestSession::new("s1", Some("ann"));
    open(&channel, &ann).await;
    channel
        .subscribe(&ann.info, ann.subscription("0", "/topic/room/ann"))
        .await
        .unwrap();
    let err = channel
        .subscribe(&ann.info, ann.subscription("1", "/topic/room/bob"))
        .await
        .unwrap_err();
    assert_eq!(&err.to_error_frame().body[..], b"session s1 may not");
    assert_eq!(broker.subscribed_destinations(), ["/topic/room/ann"]);
}

#[tokio::test]
async fn the_user_destination_guard_holds_under_an_allow_all_policy() {
    let broker = TestBroker::new();
    let channel = BrokerChannel::builder(broker.arc())
        .policy(policy_fn(|_: &AccessRequest<'_>| true))
        .build();
    let ann = TestSession::new("s1", Some("ann"));
    let eve = TestSession::new("s2", Some("eve"));
    open(&channel, &ann).await;
    open(&channel, &eve).await;
    let err = channel
        .subscribe(&eve.info, eve.subscription("0", "/queue/reply-users1"))
        .await
        .unwrap_err();
    assert!(matches!(err, ChannelError::UserDestination(_)));
    assert!(broker.subscribed_destinations().is_empty());
}

#[tokio::test]
async fn the_policy_sees_user_destinations_as_sent() {
    let broker = TestBroker::new();
    let policy = DestinationRules::new()
        .subscribe("/user/queue/**")
        .authenticated();
    let channel = BrokerChannel::builder(broker.arc()).policy(policy).build();
    let anon = TestSession::new("s1", None);
    let ann = TestSession::new("s2", Some("ann"));
    open(&channel, &anon).await;
    open(&channel, &ann).await;
    assert!(channel
        .subscribe(&anon.info, anon.subscription("0", "/user/queue/r"))
        .await
        .is_err());
    channel
        .subscribe(&ann.info, ann.subscription("0", "/user/queue/r"))
        .await
        .unwrap();
    assert_eq!(broker.subscribed_destinations(), ["/queue/r-users2"]);
}
