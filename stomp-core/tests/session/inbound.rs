//! Socket-free tests of the INBOUND side of sessions: authentication, interceptors and
//! transactions.

use std::sync::{Arc, Mutex};

use stomp_core::broker::BoxFuture;
use stomp_core::engine::TransportInfo;
use stomp_core::identity::{Principal, SessionInfo};
use stomp_core::interceptor::{Authenticator, ConnectRequest, InboundInterceptor, Rejection};
use stomp_core::{Command, Frame};

use crate::support::*;
struct Deny;
impl Authenticator for Deny {
    fn authenticate(
        &self,
        request: ConnectRequest,
    ) -> BoxFuture<'static, Result<Option<Principal>, Rejection>> {
        let ok = request.passcode() == Some("secret");
        let login = request.login().map(Principal::new);
        Box::pin(async move {
            if ok {
                Ok(login)
            } else {
                Err(Rejection::new("bad credentials").with_detail("try again"))
            }
        })
    }
}

#[tokio::test]
async fn authentication_sets_or_refuses_the_principal() {
    let broker = RecordingBroker::default();
    let engine = builder(&broker).authenticator(Deny).build();
    let (mut session, mut rx) = engine.open_session(TransportInfo::default());
    session
        .handle_frame(
            connect_frame()
                .header("login", "ann")
                .header("passcode", "nope"),
        )
        .await
        .unwrap_err();
    let e = next_frame(&mut rx).await;
    assert_eq!(e.headers.message(), Some("bad credentials"));
    assert_eq!(&e.body[..], b"try again");
    assert!(
        broker.log().is_empty(),
        "broker never saw the refused session"
    );

    let (_s, _rx) = connect_with(
        &engine,
        TransportInfo::default(),
        connect_frame()
            .header("login", "ann")
            .header("passcode", "secret"),
    )
    .await;
    assert_eq!(
        engine.sessions()[0].principal.as_ref().unwrap().name(),
        "ann"
    );
}

#[tokio::test]
async fn default_authentication_keeps_transport_principal_and_ignores_login() {
    let broker = RecordingBroker::default();
    let engine = builder(&broker).build();
    let transport = TransportInfo {
        principal: Some(Principal::new("web-user")),
        ..TransportInfo::default()
    };
    let (mut s1, mut rx1) = engine.open_session(transport);
    s1.handle_frame(connect_frame().header("login", "other"))
        .await
        .unwrap();
    let c = next_frame(&mut rx1).await;
    assert_eq!(c.headers.get("user-name"), Some("web-user"));
    let (s2, _) = connect_with(
        &engine,
        TransportInfo::default(),
        connect_frame().header("login", "bob"),
    )
    .await;
    let (s3, _) = connect(&engine).await;
    let names: Vec<_> = [s1.id(), s2.id(), s3.id()]
        .iter()
        .map(|id| {
            engine
                .sessions()
                .into_iter()
                .find(|s| &s.id == *id)
                .unwrap()
                .principal
                .map(|p| p.name().to_owned())
        })
        .collect();
    // `login:bob` without a check makes nobody bob.
    assert_eq!(names, [Some("web-user".into()), None, None]);
}

/// Tags every frame with its name, in order; rejects destinations containing "forbidden".
struct Tagger {
    name: &'static str,
    seen: Arc<Mutex<Vec<String>>>,
}
impl InboundInterceptor for Tagger {
    fn intercept<'a>(
        &'a self,
        frame: Frame,
        session: &'a SessionInfo,
    ) -> BoxFuture<'a, Result<Frame, Rejection>> {
        Box::pin(async move {
            self.seen.lock().unwrap().push(format!(
                "{} {} {}",
                self.name, frame.command, session.version
            ));
            if frame
                .headers
                .destination()
                .is_some_and(|d| d.contains("forbidden"))
                || frame.headers.get("login") == Some("mallory")
            {
                return Err(Rejection::new(format!("{} says no", self.name)));
            }
            Ok(frame.header("x-tag", self.name))
        })
    }
}

#[tokio::test]
async fn interceptors_run_in_order_and_may_modify_or_reject() {
    let broker = RecordingBroker::default();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let engine = builder(&broker)
        .inbound_interceptor(Tagger {
            name: "first",
            seen: seen.clone(),
        })
        .inbound_interceptor(Tagger {
            name: "second",
            seen: seen.clone(),
        })
        .build();
    let (mut session, mut rx) = connect(&engine).await;
    session
        .handle_frame(frame(
            Command::Subscribe,
            &[("destination", "/t"), ("id", "1")],
        ))
        .await
        .unwrap();
    let sub_headers = broker.state.lock().unwrap().subs[0].headers.clone();
    assert_eq!(
        sub_headers.get_all("x-tag").collect::<Vec<_>>(),
        ["first", "second"]
    );
    assert_eq!(
        *seen.lock().unwrap(),
        [
            "first CONNECT 1.2",
            "second CONNECT 1.2",
            "first SUBSCRIBE 1.2",
            "second SUBSCRIBE 1.2"
        ]
    );
    session
        .handle_frame(frame(
            Command::Send,
            &[("destination", "/forbidden"), ("receipt", "r")],
        ))
        .await
        .unwrap_err();
    let e = next_frame(&mut rx).await;
    assert_eq!(e.headers.message(), Some("first says no"));
    assert_eq!(e.headers.receipt_id(), Some("r"));
    assert!(!broker.log().iter().any(|l| l.contains("forbidden")));

    let (mut s2, mut rx2) = engine.open_session(TransportInfo::default());
    s2.handle_frame(connect_frame().header("login", "mallory"))
        .await
        .unwrap_err();
    assert_eq!(
        next_frame(&mut rx2).await.headers.message(),
        Some("first says no")
    );
}

#[tokio::test]
async fn transactions_apply_on_commit_in_order_and_abort_discards() {
    let broker = RecordingBroker::default();
    let engine = builder(&broker).build();
    let (mut session, _rx) = connect(&engine).await;
    let publishes = || {
        broker
            .log()
            .into_iter()
            .filter(|l| l.starts_with("publish") || l.starts_with("ack"))
            .collect::<Vec<_>>()
    };
    let send = |tx: &str, body: &str| {
        frame(Command::Send, &[("destination", "/q"), ("transaction", tx)]).body(body.to_owned())
    };
    session
        .handle_frame(frame(Command::Begin, &[("transaction", "t1")]))
        .await
        .unwrap();
    session
        .handle_frame(frame(Command::Begin, &[("transaction", "t2")]))
        .await
        .unwrap();
    session.handle_frame(send("t1", "1")).await.unwrap();
    session.handle_frame(send("t2", "x")).await.unwrap();
    session
        .handle_frame(frame(Command::Ack, &[("id", "m1"), ("transaction", "t1")]))
        .await
        .unwrap();
    session.handle_frame(send("t1", "2")).await.unwrap();
    assert!(publishes().is_empty(), "nothing before COMMIT");
    session
        .handle_frame(frame(Command::Abort, &[("transaction", "t2")]))
        .await
        .unwrap();
    session
        .handle_frame(frame(Command::Commit, &[("transaction", "t1")]))
        .await
        .unwrap();
    assert_eq!(publishes(), ["publish /q 1", "ack m1", "publish /q 2"]);

    // Disconnect discards open transactions.
    session
        .handle_frame(frame(Command::Begin, &[("transaction", "t3")]))
        .await
        .unwrap();
    session.handle_frame(send("t3", "lost")).await.unwrap();
    session.transport_closed().await;
    assert_eq!(publishes().len(), 3);
}

#[tokio::test]
async fn duplicate_begin_and_transaction_limits_are_errors() {
    let broker = RecordingBroker::default();
    let engine = builder(&broker)
        .max_transactions_per_session(1)
        .max_transaction_frames(1)
        .build();
    let cases: Vec<(Vec<Frame>, &str)> = vec![
        (
            vec![
                frame(Command::Begin, &[("transaction", "a")]),
                frame(Command::Begin, &[("transaction", "a")]),
            ],
            "transaction already started",
        ),
        (
            vec![
                frame(Command::Begin, &[("transaction", "a")]),
                frame(Command::Begin, &[("transaction", "b")]),
            ],
            "too many open transactions",
        ),
        (
            vec![
                frame(Command::Begin, &[("transaction", "a")]),
                frame(
                    Command::Send,
                    &[("destination", "/q"), ("transaction", "a")],
                ),
                frame(
                    Command::Send,
                    &[("destination", "/q"), ("transaction", "a")],
                ),
            ],
            "transaction too large",
        ),
    ];
    for (frames, expected) in cases {
        let (mut session, mut rx) = connect(&engine).await;
        let last = frames.len() - 1;
        for (i, f) in frames.into_iter().enumerate() {
            let r = session.handle_frame(f).await;
            assert_eq!(r.is_err(), i == last, "{expected} step {i}");
        }
        assert_eq!(next_frame(&mut rx).await.headers.message(), Some(expected));
    }
}
