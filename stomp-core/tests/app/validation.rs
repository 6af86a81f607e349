//! `Valid<Payload<T>>` (feature `validation`): payloads checked with garde; failures are
//! application errors, reported like the others (exception handler, else the session's
//! `/user/queue/errors`).

use crate::support::{body, Harness};
use garde::Validate;
use serde::Deserialize;
use stomp_core::app::{
    on_exception, on_message, AppDispatch, AppErrorPolicy, AppRouter, AppRouterBuilder, Json,
    Payload, Valid, ValidationRejection,
};

#[derive(Debug, Deserialize, Validate)]
struct Signup {
    #[garde(length(chars, min = 1, max = 8))]
    name: String,
    #[garde(range(min = 18))]
    age: u8,
}

fn routes() -> AppRouterBuilder {
    AppRouter::builder()
        .route(
            "/signup",
            on_message(|Valid(Payload(s)): Valid<Payload<Signup>>| async move {
                format!("{} ({})", s.name, s.age)
            }),
        )
        .route(
            "/json",
            on_message(|Valid(Json(s)): Valid<Json<Signup>>| async move { s.name }),
        )
}

#[tokio::test]
async fn a_valid_payload_reaches_the_handler() {
    let h = Harness::new(None);
    let r = routes().build().unwrap();
    r.dispatch(h.send("/signup", &[], r#"{"name":"ann","age":30}"#))
        .await
        .unwrap();
    r.dispatch(h.send("/json", &[], r#"{"name":"bob","age":40}"#))
        .await
        .unwrap();
    let sent = h.broker.take();
    assert_eq!(body(&sent[0]), "ann (30)");
    assert_eq!(body(&sent[1]), "bob");
}

#[tokio::test]
async fn a_failed_rule_is_reported_on_the_error_queue_with_each_field() {
    let h = Harness::new(Some("ann"));
    let r = routes().build().unwrap();
    for path in ["/signup", "/json"] {
        r.dispatch(h.send(
            path,
            &[("receipt", "r-1"), ("correlation-id", "c-1")],
            r#"{"name":"much too long","age":3}"#,
        ))
        .await
        .expect("the session is kept");
        let sent = h.broker.take();
        assert_eq!(sent.len(), 1, "{path}: only the report");
        let m = &sent[0];
        assert_eq!(m.destination, "/queue/errors-users1");
        assert_eq!(m.headers.get("message"), Some("validation failed"));
        assert_eq!(m.headers.get("receipt-id"), Some("r-1"));
        assert_eq!(m.headers.get("correlation-id"), Some("c-1"));
        assert!(body(m).contains("name: "), "{}", body(m));
        assert!(body(m).contains("age: "), "{}", body(m));
    }
    // Not JSON at all: the payload rejection, inside the validation one.
    r.dispatch(h.send("/signup", &[], "{")).await.unwrap();
    assert_eq!(
        h.broker.take()[0].headers.get("message"),
        Some("invalid payload")
    );
}

#[tokio::test]
async fn an_exception_handler_gets_the_failed_rules() {
    let h = Harness::new(None);
    let r = routes()
        .exception_handler(
            on_exception(|e: ValidationRejection| async move {
                match e {
                    ValidationRejection::Invalid { errors } => {
                        let mut fields: Vec<_> = errors.into_iter().map(|(f, _)| f).collect();
                        fields.sort();
                        fields.join(",")
                    }
                    other => other.to_string(),
                }
            })
            .send_to("/topic/invalid"),
        )
        .build()
        .unwrap();
    r.dispatch(h.send("/signup", &[], r#"{"name":"","age":3}"#))
        .await
        .unwrap();
    let sent = h.broker.take();
    assert_eq!(sent[0].destination, "/topic/invalid");
    assert_eq!(body(&sent[0]), "age,name");
}

#[tokio::test]
async fn under_the_close_policy_a_failed_rule_is_an_error_frame() {
    let h = Harness::new(None);
    let r = routes()
        .error_policy(AppErrorPolicy::Close)
        .build()
        .unwrap();
    let err = r
        .dispatch(h.send("/signup", &[], r#"{"name":"","age":30}"#))
        .await
        .unwrap_err();
    assert_eq!(err.message, "validation failed");
    assert!(err.detail.contains("name: "), "{}", err.detail);
}
