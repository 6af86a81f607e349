//! A JWT in the STOMP CONNECT headers, checked by a closure authenticator; its claims typed
//! and extracted in a handler.
//!
//! Browsers cannot set headers on a WebSocket upgrade, so a browser app sends its token in
//! CONNECT: `connectHeaders: { Authorization: 'Bearer <token>' }` with `@stomp/stompjs`,
//! or as the `passcode`. A missing, expired or forged token is an ERROR frame and the
//! connection closes; a good one makes the token's subject the session's principal (so
//! `/user/...` destinations address it) and its claims reach handlers as `Claims<JwtClaims>`.
//! A session does not outlive its token: an inbound interceptor ends it at its first frame
//! after the token's `exp`.
//!
//! Run `JWT_SECRET=... cargo run -p stomp-axum --example jwt_auth`: it prints a token for
//! `ann`; CONNECT to `ws://127.0.0.1:8080/ws` with it, SUBSCRIBE to `/user/queue/whoami`
//! and SEND to `/app/whoami`.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use stomp_axum::auth::{Claims, ConnectRequest, Principal, Rejection, SessionInfo};
use stomp_axum::core::Frame;
use stomp_axum::prelude::*;

/// What the tokens carry (registered claims `sub` and `exp`, and the app's own).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct JwtClaims {
    /// The user: the session's principal name.
    pub(crate) sub: String,
    /// Expiry, seconds since the Unix epoch.
    pub(crate) exp: u64,
    /// The user's tenant (an application claim).
    pub(crate) tenant: String,
    /// The user's roles, given to the principal for authorization rules.
    #[serde(default)]
    pub(crate) roles: Vec<String>,
}

impl JwtClaims {
    /// Claims for `sub` of `tenant`, expiring `ttl` from now (a negative `ttl` makes an
    /// expired token).
    pub(crate) fn new(sub: &str, tenant: &str, roles: &[&str], ttl: i64) -> Self {
        JwtClaims {
            sub: sub.to_owned(),
            exp: unix_now().saturating_add_signed(ttl),
            tenant: tenant.to_owned(),
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        }
    }
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}

/// The verifying half: the key and the rules a token must pass.
pub(crate) struct JwtVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl JwtVerifier {
    /// HS256 tokens signed with `secret` (not empty); `exp` and `sub` are required, no
    /// leeway.
    pub(crate) fn hs256(secret: &[u8]) -> jsonwebtoken::errors::Result<Self> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.leeway = 0;
        Ok(JwtVerifier {
            key: DecodingKey::from_secret(secret)?,
            validation,
        })
    }

    /// The CONNECT's principal: the token's subject, with its roles and claims.
    pub(crate) fn authenticate(&self, connect: &ConnectRequest) -> Result<Principal, Rejection> {
        let token = bearer_token(connect).ok_or_else(|| {
            Rejection::new("missing token")
                .with_detail("send `Authorization: Bearer <jwt>` or the JWT as `passcode`")
        })?;
        let data = jsonwebtoken::decode::<JwtClaims>(token, &self.key, &self.validation)
            .map_err(|error| Rejection::new("invalid token").with_detail(error.to_string()))?;
        let claims = data.claims;
        Ok(Principal::new(claims.sub.as_str())
            .with_roles(claims.roles.clone())
            .with_claims(claims))
    }
}

/// The token of a CONNECT: its `Authorization: Bearer ..` header (either case), else its
/// `passcode`.
fn bearer_token(connect: &ConnectRequest) -> Option<&str> {
    connect
        .headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))
        .and_then(|(_, value)| value.strip_prefix("Bearer "))
        .or_else(|| connect.passcode())
        .map(str::trim)
        .filter(|token| !token.is_empty())
}

/// Signs `claims` with `secret` (HS256): what the app's login endpoint would hand out.
pub(crate) fn issue(secret: &[u8], claims: &JwtClaims) -> jsonwebtoken::errors::Result<String> {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret)?,
    )
}

/// Answers the caller (on its own `/user/queue/whoami`) with what its token says.
#[message_mapping("/whoami")]
#[send_to_user("/queue/whoami")]
async fn whoami(user: Principal, claims: Claims<JwtClaims>) -> String {
    format!(
        "{} of {} (roles: {})",
        user.name(),
        claims.tenant,
        claims.roles.join(",")
    )
}

/// The STOMP endpoint: tokens checked at CONNECT with `secret` (not empty).
pub(crate) fn stomp(secret: &[u8]) -> jsonwebtoken::errors::Result<Stomp> {
    let verifier = Arc::new(JwtVerifier::hs256(secret)?);
    Ok(Stomp::builder()
        .simple_broker(["/topic", "/queue"])
        .handler(whoami)
        .authenticate(move |connect: ConnectRequest| {
            // Decoding is quick and synchronous: done here, the future only hands it over.
            let verdict = verifier.authenticate(&connect);
            async move { verdict }
        })
        .intercept_inbound(|frame: Frame, session: SessionInfo| async move {
            // Before CONNECT completes there is no principal yet: CONNECT itself passes.
            let claims = session
                .principal
                .as_ref()
                .and_then(|p| p.claims::<JwtClaims>());
            match claims {
                // Expired as `jsonwebtoken` judges it (no leeway): `exp` is in the past.
                Some(claims) if claims.exp < unix_now() => Err(Rejection::new("token expired")
                    .with_detail("the session's token expired: reconnect with a fresh one")),
                _ => Ok(frame),
            }
        })
        .build())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let secret = std::env::var("JWT_SECRET")
        .unwrap_or_else(|_| "a demo secret: set JWT_SECRET for anything real".to_owned());
    let demo = JwtClaims::new("ann", "acme", &["user"], 3600);
    match issue(secret.as_bytes(), &demo) {
        Ok(token) => println!("a token for ann, valid for an hour:\n{token}"),
        Err(error) => eprintln!("cannot sign a demo token: {error}"),
    }
    let stomp = stomp(secret.as_bytes()).map_err(std::io::Error::other)?;
    let app = axum::Router::new().merge(stomp.router("/ws"));
    let listener = stomp_axum::bind("127.0.0.1:8080").await?;
    println!("STOMP over WebSocket on ws://127.0.0.1:8080/ws");
    stomp_axum::serve(listener, app)
        .with_graceful_shutdown(stomp.shutdown_signal(async {
            let _ = tokio::signal::ctrl_c().await;
        }))
        .await
}
