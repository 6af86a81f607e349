//! The application router in front of the real `SimpleBroker`: a handler's reply reaches
//! the subscribers of its destination, and an unhandled error reaches the caller's
//! `/user/queue/errors`.

use std::sync::Arc;

use bytestring::ByteString;
use stomp_core::app::{
    on_message, AppDispatch, AppRequest, AppRequestKind, AppRouter, DestinationVar,
};
use stomp_core::broker::{AckMode, SimpleBroker, SimpleBrokerConfig, Subscriber, Subscription};
use stomp_core::channel::BrokerChannel;
use stomp_core::identity::{Attributes, Principal, SessionId, SessionInfo};
use stomp_core::outbound::{self, Next, Outbound, OutboundConfig, OutboundReceiver};
use stomp_core::template::MessagingTemplate;
use stomp_core::{Command, Frame, Headers, Version};

struct Client {
    info: SessionInfo,
    outbound: OutboundReceiver,
}

async fn connect(channel: &BrokerChannel, id: &str, user: &str, subscribe: &str) -> Client {
    let info = SessionInfo {
        id: SessionId::from(id),
        principal: Some(Principal::new(user)),
        version: Version::V1_2,
        attributes: Attributes::default(),
    };
    channel.user_registry().session_connected(&info);
    let (tx, rx) = outbound::channel(OutboundConfig::default());
    let subscription = Subscription {
        subscriber: Subscriber {
            session: info.id.clone(),
            version: Version::V1_2,
            outbound: tx,
        },
        id: "sub-0".into(),
        destination: subscribe.into(),
        ack: AckMode::Auto,
        headers: Headers::new(),
    };
    channel.subscribe(&info, subscription).await.unwrap();
    Client { info, outbound: rx }
}

fn send(template: &MessagingTemplate, from: &SessionInfo, path: &str, body: &str) -> AppRequest {
    AppRequest {
        kind: AppRequestKind::Send,
        frame: Frame::new(Command::Send)
            .header("destination", format!("/app{path}"))
            .body(body.to_owned()),
        lookup_path: ByteString::from(path),
        session: from.clone(),
        template: template.clone(),
    }
}

async fn next_text(client: &mut Client) -> String {
    match client.outbound.next().await {
        Next::Item(Outbound::Frame(bytes)) => String::from_utf8(bytes.to_vec()).unwrap(),
        other => panic!("expected a frame, got {other:?}"),
    }
}

#[tokio::test]
async fn replies_reach_subscribers_through_the_simple_broker() {
    let broker = Arc::new(SimpleBroker::new(SimpleBrokerConfig::new()));
    let channel = BrokerChannel::new(broker);
    let template = MessagingTemplate::new(channel.clone(), "/user");
    let mut ann = connect(&channel, "s1", "ann", "/user/queue/errors").await;
    let mut bob = connect(&channel, "s2", "bob", "/topic/chat/7").await;

    let router = AppRouter::builder()
        .route(
            "/chat/{room}",
            on_message(
                |DestinationVar(room): DestinationVar<u32>, text: String| async move {
                    if text.is_empty() {
                        Err(format!("empty message for room {room}"))
                    } else {
                        Ok(format!("{room}: {text}"))
                    }
                },
            ),
        )
        .build()
        .unwrap();

    router
        .dispatch(send(&template, &ann.info, "/chat/7", "hello"))
        .await
        .unwrap();
    let frame = next_text(&mut bob).await;
    assert!(frame.starts_with("MESSAGE\n"), "{frame}");
    assert!(frame.contains("\ndestination:/topic/chat/7\n"), "{frame}");
    assert!(
        frame.contains("\ncontent-type:text/plain;charset=UTF-8\n"),
        "{frame}"
    );
    assert!(frame.ends_with("\n\n7: hello\0"), "{frame}");

    router
        .dispatch(send(&template, &ann.info, "/chat/7", ""))
        .await
        .unwrap();
    let frame = next_text(&mut ann).await;
    assert!(frame.starts_with("MESSAGE\n"), "{frame}");
    assert!(frame.contains("subscription:sub-0\n"), "{frame}");
    assert!(frame.ends_with("\n\nempty message for room 7\0"), "{frame}");
}
