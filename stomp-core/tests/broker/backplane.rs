//! `BackplaneBroker` over an in-memory bus (a second `Backplane` implementation): the
//! transport-agnostic logic without Redis.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use stomp_core::backplane::{
    Backplane, BackplaneBroker, BackplaneConfig, Channel, LinkState, PublishError,
};
use stomp_core::broker::{BoxFuture, Broker, Message, SimpleBroker, Subscriber, Subscription};
use stomp_core::identity::SessionId;
use stomp_core::outbound::{self, Outbound, OutboundConfig, OutboundReceiver};
use stomp_core::user::UserDestinations;
use stomp_core::{Headers, Version};
use tokio::sync::{mpsc, watch};

type Node = (Arc<Mutex<HashSet<Channel>>>, mpsc::Sender<Bytes>);

/// Every node gets what is published on a channel it subscribed to, its own included.
#[derive(Default, Clone)]
struct Bus {
    nodes: Arc<Mutex<Vec<Node>>>,
}

struct MemoryBackplane {
    bus: Bus,
    channels: Arc<Mutex<HashSet<Channel>>>,
    /// Every subscribe/unsubscribe, in order.
    log: Arc<Mutex<Vec<String>>>,
    link: watch::Sender<LinkState>,
    inbound: Mutex<Option<mpsc::Receiver<Bytes>>>,
}

impl Bus {
    fn node(
        &self,
    ) -> (
        MemoryBackplane,
        Arc<Mutex<Vec<String>>>,
        watch::Sender<LinkState>,
    ) {
        let (tx, rx) = mpsc::channel(1024);
        let channels = Arc::new(Mutex::new(HashSet::new()));
        self.nodes.lock().unwrap().push((channels.clone(), tx));
        let log = Arc::new(Mutex::new(Vec::new()));
        let link = watch::Sender::new(LinkState::Connected);
        let node = MemoryBackplane {
            bus: self.clone(),
            channels,
            log: log.clone(),
            link: link.clone(),
            inbound: Mutex::new(Some(rx)),
        };
        (node, log, link)
    }
}

impl Backplane for MemoryBackplane {
    fn publish(&self, channel: &Channel, payload: Bytes) -> Result<(), PublishError> {
        if *self.link.borrow() != LinkState::Connected {
            return Err(PublishError::Disconnected);
        }
        for (channels, tx) in self.bus.nodes.lock().unwrap().iter() {
            if channels.lock().unwrap().contains(channel) {
                let _ = tx.try_send(payload.clone());
            }
        }
        Ok(())
    }

    fn subscribe(&self, channel: Channel) -> BoxFuture<'_, ()> {
        self.log.lock().unwrap().push(format!("+{channel:?}"));
        self.channels.lock().unwrap().insert(channel);
        Box::pin(async {})
    }

    fn unsubscribe(&self, channel: Channel) {
        self.log.lock().unwrap().push(format!("-{channel:?}"));
        self.channels.lock().unwrap().remove(&channel);
    }

    fn link(&self) -> watch::Receiver<LinkState> {
        self.link.subscribe()
    }

    fn take_inbound(&self) -> Option<mpsc::Receiver<Bytes>> {
        self.inbound.lock().unwrap().take()
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

fn instance(
    bus: &Bus,
) -> (
    BackplaneBroker,
    Arc<Mutex<Vec<String>>>,
    watch::Sender<LinkState>,
) {
    let (node, log, link) = bus.node();
    let broker = BackplaneBroker::new(
        SimpleBroker::default(),
        UserDestinations::default(),
        node,
        BackplaneConfig::new().heartbeat_interval(Duration::from_secs(3600)),
    );
    (broker, log, link)
}

async fn subscribe(
    broker: &BackplaneBroker,
    session: &str,
    id: &str,
    dest: &str,
) -> OutboundReceiver {
    let (tx, rx) = outbound::channel(OutboundConfig::default());
    broker
        .subscribe(Subscription {
            subscriber: Subscriber {
                session: SessionId::from(session),
                version: Version::V1_2,
                outbound: tx,
            },
            id: id.into(),
            destination: dest.into(),
            ack: Default::default(),
            headers: [("destination", dest)].into_iter().collect(),
        })
        .await
        .unwrap();
    rx
}

fn message(dest: &str, body: &str) -> Message {
    Message {
        destination: dest.into(),
        headers: Headers::new(),
        body: Bytes::copy_from_slice(body.as_bytes()),
    }
}

/// Bodies of the MESSAGE frames delivered so far.
fn bodies(rx: &mut OutboundReceiver) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(item) = rx.try_next() {
        if let Outbound::Frame(bytes) = item {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let body = text.split("\n\n").nth(1).unwrap_or_default();
            out.push(body.trim_end_matches('\0').to_owned());
        }
    }
    out
}

/// Lets the presence tasks handle what the bus delivered.
async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn one_channel_subscription_per_destination_whatever_the_subscriber_count() {
    let bus = Bus::default();
    let (a, log, _link) = instance(&bus);
    let _r1 = subscribe(&a, "s1", "0", "/topic/t").await;
    let _r2 = subscribe(&a, "s2", "0", "/topic/t").await;
    let _q = subscribe(&a, "s3", "0", "/queue/q").await; // queues stay local
    a.unsubscribe(&SessionId::from("s1"), "0").await.unwrap();
    a.session_closed(&SessionId::from("s2")).await;
    let log = log.lock().unwrap().clone();
    assert_eq!(
        log,
        ["+Presence", "+Topic(\"/topic/t\")", "-Topic(\"/topic/t\")"]
    );
}

#[tokio::test]
async fn topics_reach_other_instances_once_and_queues_stay_local() {
    let bus = Bus::default();
    let (a, _, _) = instance(&bus);
    let (b, _, _) = instance(&bus);
    let mut on_a = subscribe(&a, "a1", "0", "/topic/t").await;
    let mut on_b = subscribe(&b, "b1", "0", "/topic/t").await;
    let mut queue_b = subscribe(&b, "b2", "0", "/queue/q").await;

    for i in 0..3 {
        a.publish(message("/topic/t", &format!("m{i}")))
            .await
            .unwrap();
    }
    a.publish(message("/queue/q", "local only")).await.unwrap();
    settle().await;
    // A's own messages come back over the bus and are not delivered twice.
    assert_eq!(bodies(&mut on_a), ["m0", "m1", "m2"]);
    assert_eq!(bodies(&mut on_b), ["m0", "m1", "m2"]);
    assert!(bodies(&mut queue_b).is_empty());
    assert_eq!(a.stats().forwarded, 3);
    assert_eq!(b.stats().received, 3);
}

#[tokio::test]
async fn a_down_link_delivers_locally_and_counts_the_gap() {
    let bus = Bus::default();
    let (a, _, link) = instance(&bus);
    let (b, _, _) = instance(&bus);
    let mut on_a = subscribe(&a, "a1", "0", "/topic/t").await;
    let mut on_b = subscribe(&b, "b1", "0", "/topic/t").await;
    link.send_replace(LinkState::Disconnected);
    a.publish(message("/topic/t", "gap")).await.unwrap();
    link.send_replace(LinkState::Connected);
    a.publish(message("/topic/t", "back")).await.unwrap();
    settle().await;
    assert_eq!(bodies(&mut on_a), ["gap", "back"]);
    assert_eq!(bodies(&mut on_b), ["back"]);
    let stats = a.stats();
    assert_eq!((stats.forwarded, stats.not_forwarded), (1, 1));
    assert_eq!(stats.link, LinkState::Connected);
}

#[tokio::test]
async fn the_trace_context_crosses_the_backplane() {
    use stomp_core::trace::{TRACEPARENT, TRACESTATE};
    let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let bus = Bus::default();
    let (a, _, _) = instance(&bus);
    let (b, _, _) = instance(&bus);
    let mut on_b = subscribe(&b, "b1", "0", "/topic/t").await;
    let mut traced = message("/topic/t", "traced");
    traced.headers.append(TRACEPARENT, parent);
    traced.headers.append(TRACESTATE, "vendor=1");
    a.publish(traced).await.unwrap();
    settle().await;
    let Some(Outbound::Frame(bytes)) = on_b.try_next() else {
        panic!("nothing crossed");
    };
    let text = String::from_utf8_lossy(&bytes).into_owned();
    assert!(
        text.contains(&format!("\n{TRACEPARENT}:{parent}\n")),
        "{text}"
    );
    assert!(
        text.contains(&format!("\n{TRACESTATE}:vendor=1\n")),
        "{text}"
    );
}
