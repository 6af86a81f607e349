//! The chat's handlers, tested without a socket through `stomp_axum::testing::TestClient`:
//! the real endpoint (`chat::stomp`), its authenticator, destination policy and broker.

use chat::messages::{ChatMessage, Kind, PresenceEvent, PrivateMessage};
use chat::{Config, PRESENCE_TOPIC};
use serde_json::json;
use stomp_axum::testing::{TestClient, TestError};
use stomp_axum::Stomp;

fn chat() -> Stomp {
    chat::stomp(&Config::default())
}

/// A client logged in with CONNECT's `login`, as the page does.
async fn login(stomp: &Stomp, name: &str) -> Result<TestClient, TestError> {
    TestClient::builder(stomp.engine())
        .login(name, "")
        .connect()
        .await
}

#[tokio::test]
async fn a_chat_message_reaches_the_room_signed_by_its_sender() -> Result<(), TestError> {
    let stomp = chat();
    let mut alice = login(&stomp, "alice").await?;
    let mut bob = login(&stomp, "bob").await?;
    alice.subscribe("/topic/chat.lobby").await?;
    bob.subscribe("/topic/chat.lobby").await?;

    alice
        .send_json("/app/chat/lobby", &json!({ "text": "  hello  " }))
        .await?;

    for client in [&mut alice, &mut bob] {
        let message: ChatMessage = client.expect_json_on("/topic/chat.lobby").await?;
        assert_eq!(message.room, "lobby");
        assert_eq!(message.from, "alice");
        assert_eq!(message.text, "hello");
        assert_eq!(message.kind, Kind::Chat);
    }
    Ok(())
}

#[tokio::test]
async fn a_blank_message_is_not_broadcast() -> Result<(), TestError> {
    let stomp = chat();
    let mut alice = login(&stomp, "alice").await?;
    alice.subscribe("/topic/chat.lobby").await?;
    alice
        .send_json("/app/chat/lobby", &json!({ "text": "   " }))
        .await?;
    // The handler ran before the RECEIPT, so a reply would be queued by now.
    alice.expect_no_message()
}

#[tokio::test]
async fn rooms_are_separate() -> Result<(), TestError> {
    let stomp = chat();
    let mut alice = login(&stomp, "alice").await?;
    let mut bob = login(&stomp, "bob").await?;
    bob.subscribe("/topic/chat.garden").await?;
    alice
        .send_json("/app/chat/lobby", &json!({ "text": "hi" }))
        .await?;
    alice
        .send_json("/app/chat/garden", &json!({ "text": "psst" }))
        .await?;
    let message: ChatMessage = bob.expect_json_on("/topic/chat.garden").await?;
    assert_eq!(
        (message.room.as_str(), message.text.as_str()),
        ("garden", "psst")
    );
    bob.expect_no_message()
}

#[tokio::test]
async fn joining_announces_the_user_to_the_room() -> Result<(), TestError> {
    let stomp = chat();
    let mut alice = login(&stomp, "alice").await?;
    let mut bob = login(&stomp, "bob").await?;
    alice.subscribe("/topic/chat.lobby").await?;
    bob.send("/app/join/lobby", "").await?;
    let message: ChatMessage = alice.expect_json_on("/topic/chat.lobby").await?;
    assert_eq!(message.kind, Kind::Join);
    assert_eq!(message.from, "bob");
    Ok(())
}

#[tokio::test]
async fn a_private_message_reaches_its_recipient_and_a_copy_the_sender() -> Result<(), TestError> {
    let stomp = chat();
    let mut alice = login(&stomp, "alice").await?;
    let mut bob = login(&stomp, "bob").await?;
    let mut carol = login(&stomp, "carol").await?;
    for client in [&mut alice, &mut bob, &mut carol] {
        client.subscribe("/user/queue/inbox").await?;
        client.subscribe("/user/queue/private").await?;
    }

    alice
        .send_json(
            "/app/private",
            &json!({ "to": "bob", "text": "between us" }),
        )
        .await?;

    for (client, destination) in [
        (&mut bob, "/user/queue/inbox"),
        (&mut alice, "/user/queue/private"),
    ] {
        let message: PrivateMessage = client.expect_json_on(destination).await?;
        assert_eq!(message.from, "alice");
        assert_eq!(message.to, "bob");
        assert_eq!(message.text, "between us");
    }
    bob.expect_no_message()?;
    alice.expect_no_message()?;
    carol.expect_no_message()
}

/// Issue 15, item 4: a private message to someone offline waits in their inbox and reaches
/// them when they next join; once they are online, the next one arrives at once.
#[tokio::test]
async fn a_private_message_to_someone_offline_reaches_them_when_they_join() -> Result<(), TestError>
{
    let stomp = chat();
    let mut alice = login(&stomp, "alice").await?;
    alice.subscribe("/user/queue/private").await?;
    alice
        .send_json(
            "/app/private",
            &json!({ "to": "bob", "text": "while away" }),
        )
        .await?;
    // Alice's copy is sent once bob's message is in his inbox.
    let _: PrivateMessage = alice.expect_json_on("/user/queue/private").await?;

    let mut bob = login(&stomp, "bob").await?;
    bob.subscribe("/user/queue/inbox").await?;
    let waited: PrivateMessage = bob.expect_json_on("/user/queue/inbox").await?;
    assert_eq!(
        (waited.from.as_str(), waited.text.as_str()),
        ("alice", "while away")
    );

    alice
        .send_json("/app/private", &json!({ "to": "bob", "text": "now" }))
        .await?;
    let now: PrivateMessage = bob.expect_json_on("/user/queue/inbox").await?;
    assert_eq!(now.text, "now");
    bob.expect_no_message()
}

#[tokio::test]
async fn clients_cannot_send_into_an_inbox_directly() -> Result<(), TestError> {
    let stomp = chat();
    let mut mallory = login(&stomp, "mallory").await?;
    let forged = json!({ "from": "alice", "to": "bob", "text": "forged", "at": 0 });
    for destination in ["/user/bob/queue/inbox", "/queue/inbox-user.bob"] {
        let error = mallory
            .send_json(destination, &forged)
            .await
            .expect_err("refused");
        assert!(
            matches!(error, TestError::ErrorFrame { .. }),
            "{destination}: an ERROR frame, got {error}"
        );
        mallory = login(&stomp, "mallory").await?;
    }
    let mut bob = login(&stomp, "bob").await?;
    bob.subscribe("/user/queue/inbox").await?;
    bob.expect_no_message()
}

#[tokio::test]
async fn subscribing_to_online_answers_with_the_names_online() -> Result<(), TestError> {
    let stomp = chat();
    let mut presence = login(&stomp, "watcher").await?;
    presence.subscribe(PRESENCE_TOPIC).await?;
    let _alice = login(&stomp, "alice").await?;
    // Wait until the presence task has seen alice (an event, not a sleep).
    loop {
        let event: PresenceEvent = presence.expect_json_on(PRESENCE_TOPIC).await?;
        if event.user == "alice" && event.online {
            break;
        }
    }
    let mut bob = login(&stomp, "bob").await?;
    bob.subscribe("/app/online").await?;
    let message = bob.expect_message().await?;
    let names: Vec<String> = serde_json::from_slice(&message.body)?;
    // bob is listed even if his own "connected" event is still on its way.
    for name in ["alice", "bob", "watcher"] {
        assert!(
            names.iter().any(|n| n == name),
            "{name} missing from {names:?}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn leaving_is_published_on_the_presence_topic() -> Result<(), TestError> {
    let stomp = chat();
    let mut watcher = login(&stomp, "watcher").await?;
    watcher.subscribe(PRESENCE_TOPIC).await?;
    let alice = login(&stomp, "alice").await?;
    alice.close().await; // the tab closes: no DISCONNECT
    let mut seen = Vec::new();
    while !seen.contains(&(String::from("alice"), false)) {
        let event: PresenceEvent = watcher.expect_json_on(PRESENCE_TOPIC).await?;
        seen.push((event.user, event.online));
    }
    assert!(seen.contains(&("alice".into(), true)), "{seen:?}");
    Ok(())
}

#[tokio::test]
async fn clients_cannot_write_to_a_room_topic_directly() -> Result<(), TestError> {
    let stomp = chat();
    let mut mallory = login(&stomp, "mallory").await?;
    let error = mallory
        .send_json(
            "/topic/chat.lobby",
            &json!({ "room": "lobby", "from": "alice", "text": "forged", "kind": "chat", "at": 0 }),
        )
        .await
        .expect_err("the policy refuses it");
    assert!(
        matches!(error, TestError::ErrorFrame { .. }),
        "an ERROR frame, got {error}"
    );
    Ok(())
}

#[tokio::test]
async fn an_anonymous_client_cannot_chat() -> Result<(), TestError> {
    let stomp = chat();
    let mut nobody = TestClient::connect(stomp.engine()).await?;
    nobody.subscribe("/user/queue/errors").await?;
    // An application error: reported on the sender's error queue, the session stays.
    nobody
        .send_json("/app/chat/lobby", &json!({ "text": "hi" }))
        .await?;
    let report = nobody.expect_message_on("/user/queue/errors").await?;
    let text = String::from_utf8_lossy(&report.body).into_owned();
    assert!(
        text.contains("requires an authenticated user"),
        "a Principal is required: {text}"
    );
    nobody.expect_no_message()?;
    Ok(())
}
