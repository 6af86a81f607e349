//! Authentication the axum way: who a session is, decided at the WebSocket handshake or at
//! STOMP CONNECT, and what handlers know of it.
//!
//! - **At the handshake** (cookies, an `Authorization` header on the upgrade request): an
//!   axum extractor given to [`StompBuilder::handshake_extractor`] runs on the upgrade
//!   request with the state given to [`StompBuilder::with_state`], as axum runs a handler's
//!   extractors; its rejection is the HTTP response (401, 403) and no WebSocket is opened.
//!   [`StompBuilder::handshake_extractor_with_state`] gives the extractor a state of its own.
//!   [`StompBuilder::handshake_principal`] takes an async closure of the request head instead.
//! - **At CONNECT** (a token in the CONNECT headers, as browsers cannot set headers on a
//!   WebSocket upgrade): [`StompBuilder::authenticate`] takes an async closure of the
//!   [`ConnectRequest`]; a [`Rejection`] is an ERROR frame and the connection closes.
//!   [`StompBuilder::intercept_inbound`] adds an async closure that sees every client frame.
//! - **In handlers**: [`Principal`] (name, roles) and [`Claims<T>`]: the typed value the
//!   authenticator attached with [`Principal::with_claims`] (a decoded JWT, a session record),
//!   shared, not cloned. A session without such claims is a [`ClaimsRejection`], reported on
//!   the user's `/user/queue/errors` like every extractor rejection. [`UserRegistry`] says
//!   who is online.
//!
//! The crate's examples `jwt_auth` (a JWT in the CONNECT headers, `jsonwebtoken`) and
//! `cookie_session` (a session cookie looked up in a store held in the axum state) are
//! complete servers: `cargo run -p stomp-axum --example jwt_auth`.
//!
//! # A token at CONNECT, claims in a handler
//!
//! ```
//! use stomp_axum::auth::{Claims, ConnectRequest, Principal, Rejection};
//! use stomp_axum::prelude::*;
//!
//! struct Tenant {
//!     id: String,
//! }
//!
//! #[message_mapping("/whoami")]
//! #[send_to_user("/queue/whoami")]
//! async fn whoami(user: Principal, tenant: Claims<Tenant>) -> String {
//!     format!("{} of {}", user.name(), tenant.id)
//! }
//!
//! // Stands for a real check (a JWT library, a database).
//! fn verify(token: &str) -> Option<(String, Tenant)> {
//!     let (user, tenant) = token.split_once(':')?;
//!     Some((user.to_owned(), Tenant { id: tenant.to_owned() }))
//! }
//!
//! let stomp = Stomp::builder()
//!     .simple_broker(["/topic", "/queue"])
//!     .handler(whoami)
//!     .authenticate(|connect: ConnectRequest| async move {
//!         let token = connect.passcode().ok_or_else(|| Rejection::new("missing token"))?;
//!         let (name, tenant) = verify(token).ok_or_else(|| Rejection::new("invalid token"))?;
//!         Ok(Principal::new(name).with_claims(tenant))
//!     })
//!     .build();
//! # let _ = stomp;
//! ```
//!
//! # A cookie at the handshake, with the app's state
//!
//! ```
//! use std::collections::HashMap;
//! use std::sync::{Arc, RwLock};
//!
//! use axum::extract::{FromRef, FromRequestParts};
//! use axum::http::request::Parts;
//! use stomp_axum::auth::{HandshakeRejection, Principal};
//! use stomp_axum::Stomp;
//!
//! #[derive(Clone, Default)]
//! struct Sessions(Arc<RwLock<HashMap<String, String>>>);
//!
//! #[derive(Clone)]
//! struct AppState {
//!     sessions: Sessions,
//! }
//!
//! impl FromRef<AppState> for Sessions {
//!     fn from_ref(state: &AppState) -> Self {
//!         state.sessions.clone()
//!     }
//! }
//!
//! /// The user of the request's `sid` cookie.
//! struct SessionUser(Principal);
//!
//! impl<S: Send + Sync> FromRequestParts<S> for SessionUser
//! where
//!     Sessions: FromRef<S>,
//! {
//!     type Rejection = HandshakeRejection;
//!
//!     async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
//!         let Sessions(sessions) = Sessions::from_ref(state);
//!         let sid = parts
//!             .headers
//!             .get_all(axum::http::header::COOKIE)
//!             .iter()
//!             .filter_map(|value| value.to_str().ok())
//!             .flat_map(|value| value.split(';'))
//!             .find_map(|pair| pair.trim().strip_prefix("sid="))
//!             .ok_or_else(|| HandshakeRejection::unauthorized("no session"))?;
//!         let user = sessions
//!             .read()
//!             .map_err(|_| HandshakeRejection::unauthorized("session store unavailable"))?
//!             .get(sid)
//!             .cloned()
//!             .ok_or_else(|| HandshakeRejection::unauthorized("unknown session"))?;
//!         Ok(SessionUser(Principal::new(user)))
//!     }
//! }
//!
//! impl From<SessionUser> for Option<Principal> {
//!     fn from(SessionUser(user): SessionUser) -> Self {
//!         Some(user)
//!     }
//! }
//!
//! let state = AppState { sessions: Sessions::default() };
//! let stomp = Stomp::builder()
//!     .simple_broker(["/topic", "/queue"])
//!     .with_state(state.clone())
//!     // Runs with the state above: no second copy of it to pass.
//!     .handshake_extractor::<SessionUser>()
//!     .build();
//! let app: axum::Router = axum::Router::new()
//!     .merge(stomp.router("/ws"))
//!     .with_state(state);
//! # let _ = app;
//! ```
//!
//! # Who is online
//!
//! ```
//! use stomp_axum::auth::UserRegistry;
//! use stomp_axum::prelude::*;
//!
//! #[message_mapping("/online")]
//! #[send_to_user("/queue/online")]
//! async fn online(users: UserRegistry) -> String {
//!     let names: Vec<String> = users.users().into_iter().map(|u| u.name.to_string()).collect();
//!     names.join(", ")
//! }
//! # let _ = Stomp::builder().handler(online).build();
//! ```
//!
//! [`StompBuilder::handshake_extractor`]: crate::StompBuilder::handshake_extractor
//! [`StompBuilder::with_state`]: crate::StompBuilder::with_state
//! [`StompBuilder::handshake_extractor_with_state`]: crate::StompBuilder::handshake_extractor_with_state
//! [`StompBuilder::handshake_principal`]: crate::StompBuilder::handshake_principal
//! [`StompBuilder::authenticate`]: crate::StompBuilder::authenticate
//! [`StompBuilder::intercept_inbound`]: crate::StompBuilder::intercept_inbound

pub use crate::handshake::HandshakeRejection;
pub use stomp_core::app::{Claims, ClaimsRejection, MissingPrincipal};
pub use stomp_core::identity::{Principal, SessionInfo};
pub use stomp_core::interceptor::{
    authenticator_fn, inbound_fn, Authenticator, AuthenticatorFn, ConnectRequest, InboundFn,
    InboundInterceptor, Rejection,
};
pub use stomp_core::user::UserRegistry;
