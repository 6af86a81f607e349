//! Destination authorization: who may SUBSCRIBE to, or SEND to, which destination.
//!
//! A [`DestinationPolicy`] is consulted with an [`AccessRequest`] (the kind of access, the
//! session and its principal, the destination as the client sent it). A refusal becomes an
//! [`AccessDenied`], which the session turns into an ERROR frame naming the destination;
//! nothing is subscribed or delivered.
//!
//! The default policy, [`AllowAll`], allows everything. [`DestinationRules`] is a rule list
//! with the broker's own `*` / `**` patterns ([`crate::destination`]), which judges a pattern
//! SUBSCRIBE by every destination it could match; [`policy_fn`] turns a closure into a
//! policy. Whatever the policy, a session may never subscribe to another session's user
//! destination, nor SEND straight to one (see [`crate::user`]).
//!
//! ```
//! use stomp_core::authz::DestinationRules;
//!
//! let rules = DestinationRules::new()
//!     .subscribe("/topic/admin/**").role("admin")
//!     .send("/topic/**").deny_all()
//!     .any("/queue/**").authenticated();
//! # let _ = rules;
//! ```

mod rules;

use std::fmt;
use std::sync::Arc;

use crate::frame::Frame;
use crate::identity::{Principal, SessionInfo};

pub use rules::{DestinationRules, RuleBuilder};

/// What a client wants to do with a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Access {
    /// SUBSCRIBE.
    Subscribe,
    /// SEND.
    Send,
}

impl Access {
    /// `"subscribe"` or `"send"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Access::Subscribe => "subscribe",
            Access::Send => "send",
        }
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One question for a [`DestinationPolicy`].
#[derive(Debug, Clone, Copy)]
pub struct AccessRequest<'a> {
    /// SUBSCRIBE or SEND.
    pub access: Access,
    /// The session asking.
    pub session: &'a SessionInfo,
    /// The destination as the client sent it (user destinations unresolved, e.g.
    /// `/user/queue/reply`).
    pub destination: &'a str,
}

impl<'a> AccessRequest<'a> {
    /// The session's principal, if it is authenticated.
    pub fn principal(&self) -> Option<&'a Principal> {
        self.session.principal.as_ref()
    }
}

/// A policy's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead.
    Allow,
    /// Refused, optionally with a reason for the ERROR frame's body.
    Deny(Option<String>),
}

impl Decision {
    /// A refusal without a reason.
    pub const fn deny() -> Self {
        Decision::Deny(None)
    }

    /// A refusal with a reason.
    pub fn deny_with(reason: impl Into<String>) -> Self {
        Decision::Deny(Some(reason.into()))
    }

    /// Whether this allows.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow)
    }
}

impl From<bool> for Decision {
    fn from(allowed: bool) -> Self {
        if allowed {
            Decision::Allow
        } else {
            Decision::deny()
        }
    }
}

/// Decides whether a session may SUBSCRIBE or SEND to a destination.
///
/// Called on the session's task for every SUBSCRIBE and SEND (before user destinations are
/// resolved), so it must be quick and must not block.
pub trait DestinationPolicy: Send + Sync + 'static {
    /// Decides one request.
    fn decide(&self, request: &AccessRequest<'_>) -> Decision;
}

impl<P: DestinationPolicy + ?Sized> DestinationPolicy for Arc<P> {
    fn decide(&self, request: &AccessRequest<'_>) -> Decision {
        (**self).decide(request)
    }
}

impl<P: DestinationPolicy + ?Sized> DestinationPolicy for Box<P> {
    fn decide(&self, request: &AccessRequest<'_>) -> Decision {
        (**self).decide(request)
    }
}

/// The default policy: everything is allowed.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAll;

impl DestinationPolicy for AllowAll {
    fn decide(&self, _request: &AccessRequest<'_>) -> Decision {
        Decision::Allow
    }
}

/// A policy made from a closure (see [`policy_fn`]).
#[derive(Clone)]
pub struct PolicyFn<F>(F);

impl<F> fmt::Debug for PolicyFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolicyFn").finish_non_exhaustive()
    }
}

/// A policy from a closure returning a [`Decision`] or a `bool` (`true` allows).
///
/// ```
/// use stomp_core::authz::{policy_fn, Access, AccessRequest};
///
/// let policy = policy_fn(|req: &AccessRequest<'_>| {
///     req.access != Access::Send || req.principal().is_some()
/// });
/// # let _ = policy;
/// ```
pub fn policy_fn<F, D>(f: F) -> PolicyFn<F>
where
    F: Fn(&AccessRequest<'_>) -> D + Send + Sync + 'static,
    D: Into<Decision>,
{
    PolicyFn(f)
}

impl<F, D> DestinationPolicy for PolicyFn<F>
where
    F: Fn(&AccessRequest<'_>) -> D + Send + Sync + 'static,
    D: Into<Decision>,
{
    fn decide(&self, request: &AccessRequest<'_>) -> Decision {
        (self.0)(request).into()
    }
}

/// A SUBSCRIBE or SEND refused by the destination policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("access denied: cannot {access} to {destination:?}")]
pub struct AccessDenied {
    /// What was refused.
    pub access: Access,
    /// The destination, as the client sent it.
    pub destination: String,
    /// The policy's reason, if it gave one.
    pub reason: Option<String>,
}

impl AccessDenied {
    /// The ERROR frame a session sends for this refusal: its `message` names the
    /// destination, the body carries the policy's reason.
    pub fn to_error_frame(&self) -> Frame {
        let detail = match &self.reason {
            Some(reason) => reason.clone(),
            None => format!("{} to this destination is not allowed", self.access),
        };
        Frame::error(self.to_string(), detail)
    }
}

/// Asks `policy` about `request`; `Err` if it refuses.
pub fn check(
    policy: &dyn DestinationPolicy,
    request: &AccessRequest<'_>,
) -> Result<(), AccessDenied> {
    match policy.decide(request) {
        Decision::Allow => Ok(()),
        Decision::Deny(reason) => Err(AccessDenied {
            access: request.access,
            destination: request.destination.to_owned(),
            reason,
        }),
    }
}
