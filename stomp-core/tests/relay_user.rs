//! User destinations through the relay and RabbitMQ: a session of user `ann` subscribed to
//! `/user/queue/reply` receives what is sent to `/user/ann/queue/reply`, with the user-facing
//! destination in its MESSAGE.

#![allow(clippy::unwrap_used)] // test support code panics on purpose

mod support;

use std::sync::Arc;
use std::time::Duration;

use stomp_core::broker::AckMode;
use stomp_core::channel::BrokerChannel;
use stomp_core::frame::Headers;
use stomp_core::relay::{ConnectionMode, Relay, RelayConfig};
use stomp_core::session::Principal;
use stomp_core::template::MessagingTemplate;
use support::{unique, TestSession, RABBIT, WAIT};

#[tokio::test]
async fn user_destinations_resolve_through_the_relay() {
    for mode in [
        ConnectionMode::PerClient,
        ConnectionMode::Multiplexed { connections: 1 },
    ] {
        let relay = Relay::start(
            RelayConfig::new([RABBIT])
                .virtual_host("/")
                .system_login("guest", "guest")
                .client_login("guest", "guest")
                .backoff(Duration::from_millis(50), Duration::from_millis(500))
                .mode(mode),
        );
        relay.wait_available(WAIT).await.unwrap();
        let channel = BrokerChannel::new(Arc::new(relay.clone()));
        let template = MessagingTemplate::new(channel.clone(), "/user");

        let user = unique("ann");
        let mut ann = TestSession::new("ann");
        ann.info.principal = Some(Principal::new(user.clone()));
        channel
            .session_opened(&ann.info, &Headers::new())
            .await
            .unwrap();
        let mut subscription = ann.subscription("r", "/user/queue/reply", AckMode::Auto);
        subscription
            .headers
            .append("destination", "/user/queue/reply");
        channel.subscribe(&ann.info, subscription).await.unwrap();

        template
            .send_to_user(&user, "/queue/reply", "for ann")
            .await
            .unwrap();
        let frame = ann.message().await;
        assert_eq!(frame.headers.subscription(), Some("r"), "{mode:?}");
        assert_eq!(frame.headers.destination(), Some("/user/queue/reply"));
        assert!(!frame.headers.contains("x-user-destination"));
        assert_eq!(frame.body.as_ref(), b"for ann");
        channel.session_closed(ann.id()).await;
    }
}
