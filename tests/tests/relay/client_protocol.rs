//! The client against a scripted in-memory server: heart-beats (with paused time), receipts,
//! ERROR frames, backpressure. No sockets, no sleeps.

use std::time::Duration;

use stomp_core::broker::AckMode;
use stomp_core::client::{Client, ClientConfig, ClientError};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

/// Reads one frame (up to its NUL) or a lone heart-beat EOL from the client.
async fn read_frame(server: &mut DuplexStream) -> String {
    let mut out = Vec::new();
    loop {
        let mut byte = [0u8; 1];
        if server.read(&mut byte).await.unwrap_or(0) == 0 {
            return String::from_utf8_lossy(&out).into_owned();
        }
        if out.is_empty() && byte[0] == b'\n' {
            return "\n".to_owned();
        }
        if byte[0] == 0 {
            return String::from_utf8_lossy(&out).into_owned();
        }
        out.push(byte[0]);
    }
}

fn header<'a>(frame: &'a str, name: &str) -> Option<&'a str> {
    frame
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')))
}

/// Connects a client over an in-memory pipe; the server answers CONNECTED with
/// `server_beat`.
async fn connect(config: ClientConfig, server_beat: &str) -> (Client, DuplexStream) {
    let (client_io, mut server) = tokio::io::duplex(64 * 1024);
    let beat = server_beat.to_owned();
    let server_task = tokio::spawn(async move {
        let connect = read_frame(&mut server).await;
        assert!(connect.starts_with("CONNECT\n"), "{connect:?}");
        let reply = format!("CONNECTED\nversion:1.2\nheart-beat:{beat}\nsession:s1\n\n\0");
        server.write_all(reply.as_bytes()).await.unwrap();
        (connect, server)
    });
    let client = Client::connect(client_io, config).await.unwrap();
    let (connect, server) = server_task.await.unwrap();
    assert_eq!(header(&connect, "accept-version"), Some("1.2,1.1"));
    (client, server)
}

#[tokio::test(start_paused = true)]
async fn client_beats_when_idle_and_not_when_busy() {
    let (client, mut server) = connect(ClientConfig::new().heart_beat(1_000, 0), "0,1000").await;
    assert_eq!(
        client.heart_beat().send_every,
        Some(Duration::from_millis(1_000))
    );
    tokio::time::advance(Duration::from_millis(1_001)).await;
    assert_eq!(read_frame(&mut server).await, "\n");
    client.send("/queue/a", "x").await.unwrap();
    let send = read_frame(&mut server).await;
    assert!(send.starts_with("SEND\n"), "{send:?}");
}

#[tokio::test(start_paused = true)]
async fn a_silent_server_is_a_heart_beat_timeout() {
    let (client, _server) = connect(
        ClientConfig::new()
            .heart_beat(0, 1_000)
            .heart_beat_tolerance(2),
        "1000,0",
    )
    .await;
    assert_eq!(
        client.heart_beat().expect_every,
        Some(Duration::from_millis(1_000))
    );
    let error = tokio::time::timeout(Duration::from_secs(3), client.closed())
        .await
        .unwrap();
    assert!(
        matches!(error, ClientError::HeartBeatTimeout(d) if d == Duration::from_millis(2_000)),
        "{error:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn server_beats_keep_the_connection_alive() {
    let (client, mut server) = connect(ClientConfig::new().heart_beat(0, 1_000), "1000,0").await;
    for _ in 0..5 {
        tokio::time::advance(Duration::from_millis(900)).await;
        server.write_all(b"\n").await.unwrap();
        tokio::task::yield_now().await;
    }
    assert!(client.error().is_none());
}

#[tokio::test(start_paused = true)]
async fn receipts_resolve_and_time_out() {
    let config = ClientConfig::new()
        .heart_beat(0, 0)
        .receipt_timeout(Duration::from_secs(5));
    let (client, mut server) = connect(config, "0,0").await;
    let subscribing = tokio::spawn({
        let client = client.clone();
        async move { client.subscribe("/topic/t", AckMode::Client).await }
    });
    let subscribe = read_frame(&mut server).await;
    assert!(subscribe.starts_with("SUBSCRIBE\n"));
    assert_eq!(header(&subscribe, "ack"), Some("client"));
    let receipt = header(&subscribe, "receipt").unwrap().to_owned();
    let id = header(&subscribe, "id").unwrap().to_owned();
    server
        .write_all(format!("RECEIPT\nreceipt-id:{receipt}\n\n\0").as_bytes())
        .await
        .unwrap();
    let mut sub = subscribing.await.unwrap().unwrap();
    assert_eq!(sub.id(), id);

    server
        .write_all(
            format!(
                "MESSAGE\nsubscription:{id}\nmessage-id:m1\nack:a1\ndestination:/topic/t\n\nbody\0"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let message = sub.next().await.unwrap();
    assert_eq!(message.body().as_ref(), b"body");
    assert_eq!(message.ack_id(), Some("a1"));
    client.ack(&message).await.unwrap();
    let ack = read_frame(&mut server).await;
    assert!(ack.starts_with("ACK\n"));
    assert_eq!(header(&ack, "id"), Some("a1"));

    // No answer: the receipt times out, the connection stays usable.
    let err = client.send_with_receipt("/queue/q", "x").await.unwrap_err();
    assert!(matches!(err, ClientError::Timeout(_)), "{err:?}");
    assert!(client.error().is_none());
}

#[tokio::test]
async fn an_error_frame_fails_waiters_and_closes() {
    let (client, mut server) = connect(ClientConfig::new().heart_beat(0, 0), "0,0").await;
    let sending = tokio::spawn({
        let client = client.clone();
        async move { client.send_with_receipt("/queue/q", "x").await }
    });
    let send = read_frame(&mut server).await;
    let receipt = header(&send, "receipt").unwrap().to_owned();
    server
        .write_all(
            format!("ERROR\nmessage:access refused\nreceipt-id:{receipt}\n\nno\0").as_bytes(),
        )
        .await
        .unwrap();
    let err = sending.await.unwrap().unwrap_err();
    assert!(
        matches!(&err, ClientError::Server { message, body } if message == "access refused" && body.as_ref() == b"no"),
        "{err:?}"
    );
    assert!(client.closed().await.is_server_error());
}

#[tokio::test]
async fn a_closed_socket_ends_the_client() {
    let (client, server) = connect(ClientConfig::new().heart_beat(0, 0), "0,0").await;
    drop(server);
    let err = client.closed().await;
    assert!(err.is_connection_lost(), "{err:?}");
    assert!(client.send("/queue/q", "x").await.is_err());
}

#[tokio::test]
async fn disconnect_waits_for_its_receipt() {
    let (client, mut server) = connect(ClientConfig::new().heart_beat(0, 0), "0,0").await;
    let disconnecting = tokio::spawn({
        let client = client.clone();
        async move { client.disconnect().await }
    });
    let frame = read_frame(&mut server).await;
    assert!(frame.starts_with("DISCONNECT\n"));
    let receipt = header(&frame, "receipt").unwrap().to_owned();
    server
        .write_all(format!("RECEIPT\nreceipt-id:{receipt}\n\n\0").as_bytes())
        .await
        .unwrap();
    disconnecting.await.unwrap().unwrap();
    assert!(matches!(client.error(), Some(ClientError::Closed)));
}

#[tokio::test]
async fn dropping_every_handle_closes_the_connection() {
    let (client, mut server) = connect(ClientConfig::new().heart_beat(0, 0), "0,0").await;
    drop(client);
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), server.read_to_end(&mut rest)).await;
    assert!(matches!(read, Ok(Ok(0))), "{read:?} {rest:?}");
}

#[tokio::test(start_paused = true)]
async fn an_unread_full_subscription_does_not_hang_the_connection() {
    let config = ClientConfig::new()
        .heart_beat(0, 0)
        .subscription_capacity(1)
        .receipt_timeout(Duration::from_secs(2));
    let (client, mut server) = connect(config, "0,0").await;
    let subscribing = tokio::spawn({
        let client = client.clone();
        async move { client.subscribe("/topic/t", AckMode::Auto).await }
    });
    let subscribe = read_frame(&mut server).await;
    let receipt = header(&subscribe, "receipt").unwrap().to_owned();
    let id = header(&subscribe, "id").unwrap().to_owned();
    server
        .write_all(format!("RECEIPT\nreceipt-id:{receipt}\n\n\0").as_bytes())
        .await
        .unwrap();
    let mut sub = subscribing.await.unwrap().unwrap();
    for n in 0..3 {
        server
            .write_all(format!("MESSAGE\nsubscription:{id}\nmessage-id:{n}\n\n\0").as_bytes())
            .await
            .unwrap();
    }
    // The reader is stuck on the full queue, so the DISCONNECT receipt cannot be routed:
    // disconnect gives up after the receipt timeout and still closes everything.
    let result = client.disconnect().await;
    assert!(matches!(result, Err(ClientError::Timeout(_))), "{result:?}");
    assert!(client.is_closed());
    assert!(sub.next().await.is_some(), "what was queued is still there");
    assert!(sub.next().await.is_none(), "then the subscription ends");
}
