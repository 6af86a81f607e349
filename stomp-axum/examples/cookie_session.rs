//! A cookie session at the WebSocket handshake: the `sid` cookie of the upgrade request is
//! looked up in a session store held in the axum state, by an axum extractor that runs with
//! that state; the session's user becomes the STOMP principal. No cookie, or an unknown one,
//! is HTTP 401 before any upgrade.
//!
//! The store is the one the app's login page writes (not shown: any axum route with
//! `State<AppState>`); here `main` seeds one session and prints its cookie.
//!
//! Run `cargo run -p stomp-axum --example cookie_session`, then open a WebSocket to
//! `ws://127.0.0.1:8080/ws` with the printed `Cookie` header, CONNECT, SUBSCRIBE to
//! `/user/queue/whoami` and SEND to `/app/whoami`.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::COOKIE;
use axum::http::request::Parts;
use stomp_axum::auth::{HandshakeRejection, Principal, UserRegistry};
use stomp_axum::prelude::*;

/// The cookie that names a login session.
pub(crate) const SESSION_COOKIE: &str = "sid";

/// Login sessions: session id → user name. Cheap to clone; clones share the map.
#[derive(Debug, Clone, Default)]
pub(crate) struct SessionStore(Arc<RwLock<HashMap<String, String>>>);

impl SessionStore {
    /// Records a login session (what a login page does).
    pub(crate) fn insert(&self, sid: &str, user: &str) {
        if let Ok(mut sessions) = self.0.write() {
            sessions.insert(sid.to_owned(), user.to_owned());
        }
    }

    /// The user of session `sid`.
    pub(crate) fn user(&self, sid: &str) -> Option<String> {
        self.0.read().ok()?.get(sid).cloned()
    }
}

/// The axum application state: the session store, and whatever else the app's routes use.
#[derive(Debug, Clone, Default)]
pub(crate) struct AppState {
    /// The login sessions.
    pub(crate) sessions: SessionStore,
}

impl FromRef<AppState> for SessionStore {
    fn from_ref(state: &AppState) -> Self {
        state.sessions.clone()
    }
}

/// The user of the upgrade request's session cookie: an axum extractor for any state that
/// holds a [`SessionStore`].
pub(crate) struct SessionUser(pub(crate) Principal);

impl<S> FromRequestParts<S> for SessionUser
where
    SessionStore: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = HandshakeRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let sid = session_cookie(parts)
            .ok_or_else(|| HandshakeRejection::unauthorized("log in first: no session cookie"))?;
        let user = SessionStore::from_ref(state)
            .user(sid)
            .ok_or_else(|| HandshakeRejection::unauthorized("unknown or expired session"))?;
        Ok(SessionUser(Principal::new(user)))
    }
}

impl From<SessionUser> for Option<Principal> {
    fn from(SessionUser(user): SessionUser) -> Self {
        Some(user)
    }
}

/// The value of the `sid` cookie (`Cookie: a=1; sid=xyz`), across every `Cookie` header.
fn session_cookie(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim_matches('"'))
        .filter(|value| !value.is_empty())
}

/// Greets the caller by its principal's name, on its own `/user/queue/whoami`.
#[message_mapping("/whoami")]
#[send_to_user("/queue/whoami")]
async fn whoami(user: Principal) -> String {
    format!("hello, {}", user.name())
}

/// Who is online (sorted user names), answered to the caller.
#[message_mapping("/online")]
#[send_to_user("/queue/online")]
async fn online(users: UserRegistry) -> String {
    let mut names: Vec<String> = users
        .users()
        .into_iter()
        .map(|user| user.name.to_string())
        .collect();
    names.sort();
    names.join(",")
}

/// The STOMP endpoint and the axum app serving it at `/ws`, both on `state`.
pub(crate) fn app(state: AppState) -> (Stomp, axum::Router) {
    let stomp = Stomp::builder()
        .simple_broker(["/topic", "/queue"])
        .handler(whoami)
        .handler(online)
        .with_state(state.clone())
        // Runs with the state given to `with_state`.
        .handshake_extractor::<SessionUser>()
        .build();
    let router = axum::Router::new()
        .merge(stomp.router("/ws"))
        .with_state(state);
    (stomp, router)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let state = AppState::default();
    state.sessions.insert("demo-session-ann", "ann");
    println!("a session for ann: Cookie: {SESSION_COOKIE}=demo-session-ann");
    let (stomp, app) = app(state);
    let listener = stomp_axum::bind("127.0.0.1:8080").await?;
    println!("STOMP over WebSocket on ws://127.0.0.1:8080/ws");
    stomp_axum::serve(listener, app)
        .with_graceful_shutdown(stomp.shutdown_signal(async {
            let _ = tokio::signal::ctrl_c().await;
        }))
        .await
}
