//! Auth extractors: `Claims<T>` (typed claims on the principal; anonymous or claim-less
//! sessions are reported on `/user/queue/errors`) and `UserRegistry` (who is online).

use crate::support::{body, Harness};
use stomp_core::app::{on_exception, on_message, AppDispatch, AppRouter, Claims, ClaimsRejection};
use stomp_core::identity::Principal;
use stomp_core::user::UserRegistry;

#[derive(Debug)]
struct Jwt {
    sub: String,
    tenant: String,
}

fn router() -> AppRouter {
    AppRouter::builder()
        .route(
            "/whoami",
            on_message(
                |claims: Claims<Jwt>| async move { format!("{}@{}", claims.sub, claims.tenant) },
            ),
        )
        .route(
            "/maybe",
            on_message(|claims: Option<Claims<Jwt>>| async move {
                claims.map_or("no claims".to_owned(), |c| c.tenant.clone())
            }),
        )
        .route(
            "/online",
            on_message(|users: UserRegistry| async move {
                let mut names: Vec<String> = users
                    .users()
                    .into_iter()
                    .map(|u| u.name.to_string())
                    .collect();
                names.sort();
                names.join(",")
            }),
        )
        .build()
        .unwrap()
}

fn with_claims(user: &str) -> Harness {
    let mut h = Harness::new(Some(user));
    h.session.principal = Some(Principal::new(user).with_claims(Jwt {
        sub: user.to_owned(),
        tenant: "acme".to_owned(),
    }));
    h
}

#[tokio::test]
async fn a_handler_extracts_the_principals_typed_claims() {
    let h = with_claims("ann");
    let r = router();
    r.dispatch(h.send("/whoami", &[], "")).await.unwrap();
    r.dispatch(h.send("/maybe", &[], "")).await.unwrap();
    let sent = h.broker.take();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(sent[0].destination, "/topic/whoami");
    assert_eq!(body(&sent[0]), "ann@acme");
    assert_eq!(body(&sent[1]), "acme");
}

#[tokio::test]
async fn missing_claims_are_reported_on_the_error_queue_and_the_session_is_kept() {
    // (session, expected `message` header, expected detail fragment)
    let cases = [
        (
            Harness::new(None),
            "not authenticated",
            "requires an authenticated user",
        ),
        (
            Harness::new(Some("bob")),
            "missing claims",
            "no claims of type",
        ),
    ];
    for (h, message, detail) in cases {
        let r = router();
        r.dispatch(h.send("/whoami", &[("receipt", "r-1")], ""))
            .await
            .unwrap_or_else(|e| panic!("the session is kept, got {e:?}"));
        let sent = h.broker.take();
        assert_eq!(sent.len(), 1, "{sent:?}");
        let m = &sent[0];
        assert_eq!(m.headers.destination(), Some("/user/queue/errors"));
        assert_eq!(m.headers.get("message"), Some(message));
        assert_eq!(m.headers.get("receipt-id"), Some("r-1"));
        assert!(body(m).contains(detail), "{}", body(m));
        // `Option<Claims<T>>` accepts the same session.
        r.dispatch(h.send("/maybe", &[], "")).await.unwrap();
        assert_eq!(body(&h.broker.take()[0]), "no claims");
    }
}

#[tokio::test]
async fn a_claims_rejection_reaches_its_exception_handler() {
    let h = Harness::new(Some("bob"));
    let r = AppRouter::builder()
        .route("/whoami", on_message(|_: Claims<Jwt>| async {}))
        .exception_handler(
            on_exception(|e: ClaimsRejection| async move { format!("{e}") }).send_to("/topic/auth"),
        )
        .build()
        .unwrap();
    r.dispatch(h.send("/whoami", &[], "")).await.unwrap();
    let sent = h.broker.take();
    assert_eq!(sent[0].destination, "/topic/auth");
    assert!(
        body(&sent[0]).contains("no claims of type"),
        "{}",
        body(&sent[0])
    );
}

#[tokio::test]
async fn a_handler_sees_who_is_online_through_the_user_registry() {
    let h = Harness::new(Some("ann"));
    h.user_session("s1", "ann", "/queue/a");
    h.user_session("s2", "bob", "/queue/b");
    let r = router();
    r.dispatch(h.send("/online", &[], "")).await.unwrap();
    assert_eq!(body(&h.broker.take()[0]), "ann,bob");
    h.template
        .channel()
        .user_registry()
        .session_disconnected(&"s2".into());
    r.dispatch(h.send("/online", &[], "")).await.unwrap();
    assert_eq!(body(&h.broker.take()[0]), "ann");
}
