//! Who a session is: its id, principal, negotiated version and attributes.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, Mutex};

use crate::version::Version;

/// A session's unique id (also sent as CONNECTED's `session` header). Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(Arc<str>);

impl SessionId {
    /// Wraps an id.
    pub fn new(id: impl Into<Arc<str>>) -> Self {
        SessionId(id.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Deref for SessionId {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for SessionId {
    fn from(id: &str) -> Self {
        SessionId(id.into())
    }
}

impl From<String> for SessionId {
    fn from(id: String) -> Self {
        SessionId(id.into())
    }
}

/// An authenticated user: set from the WebSocket handshake or by the CONNECT authenticator.
///
/// Besides a name and roles it may carry one typed *claims* value (a JWT's claims, a
/// session record, ...), set with [`with_claims`](Self::with_claims) and read with
/// [`claims`](Self::claims) or, in a message handler, the `Claims<T>` extractor.
///
/// Two principals are equal (and hash alike) when their names and roles are; claims are not
/// compared. `Debug` shows the claims' type name, never their value.
#[derive(Clone)]
pub struct Principal {
    name: Arc<str>,
    roles: Arc<[Arc<str>]>,
    claims: Option<TypedClaims>,
}

/// A type-erased claims value and the name of its type (for `Debug`).
#[derive(Clone)]
struct TypedClaims {
    value: Arc<dyn Any + Send + Sync>,
    type_name: &'static str,
}

impl PartialEq for Principal {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.roles == other.roles
    }
}

impl Eq for Principal {}

impl std::hash::Hash for Principal {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
        self.roles.hash(state);
    }
}

impl fmt::Debug for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Principal")
            .field("name", &self.name)
            .field("roles", &self.roles)
            .field("claims", &self.claims.as_ref().map(|c| c.type_name))
            .finish()
    }
}

impl Principal {
    /// A principal with a name and no roles.
    pub fn new(name: impl Into<Arc<str>>) -> Self {
        Principal {
            name: name.into(),
            roles: Arc::new([]),
            claims: None,
        }
    }

    /// Builder: the principal's typed claims (one value; a second call replaces the first),
    /// e.g. a decoded JWT's claims. Handlers read them with the `Claims<T>` extractor.
    ///
    /// ```
    /// use stomp_core::identity::Principal;
    ///
    /// struct Claims { tenant: String }
    ///
    /// let user = Principal::new("ann").with_claims(Claims { tenant: "acme".into() });
    /// assert_eq!(user.claims::<Claims>().map(|c| c.tenant.as_str()), Some("acme"));
    /// assert!(user.claims::<String>().is_none());
    /// ```
    #[must_use]
    pub fn with_claims<T: Any + Send + Sync>(mut self, claims: T) -> Self {
        self.claims = Some(TypedClaims {
            value: Arc::new(claims),
            type_name: std::any::type_name::<T>(),
        });
        self
    }

    /// The claims, when the principal has claims of type `T`.
    pub fn claims<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.claims.as_ref()?.value.downcast_ref::<T>()
    }

    /// A shared handle to the claims, when the principal has claims of type `T`.
    pub fn claims_arc<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        Arc::clone(&self.claims.as_ref()?.value)
            .downcast::<T>()
            .ok()
    }

    /// Builder: the principal's roles (for authorization policies).
    #[must_use]
    pub fn with_roles<I, R>(mut self, roles: I) -> Self
    where
        I: IntoIterator<Item = R>,
        R: Into<Arc<str>>,
    {
        self.roles = roles.into_iter().map(Into::into).collect();
        self
    }

    /// The user name (what `/user/{name}/...` destinations address).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The roles.
    pub fn roles(&self) -> impl Iterator<Item = &str> {
        self.roles.iter().map(|r| &**r)
    }

    /// Whether the principal has `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| &**r == role)
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// Per-session values set by interceptors or handlers, keyed by type. Cheap to clone;
/// clones share the same map.
#[derive(Clone, Default)]
pub struct Attributes {
    map: Arc<Mutex<HashMap<TypeId, Box<dyn Any + Send + Sync>>>>,
}

impl fmt::Debug for Attributes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let len = self.lock().len();
        f.debug_struct("Attributes").field("len", &len).finish()
    }
}

impl Attributes {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TypeId, Box<dyn Any + Send + Sync>>> {
        crate::sync::lock(&self.map)
    }

    /// Stores `value`, returning the previous value of that type.
    pub fn insert<T: Any + Send + Sync + Clone>(&self, value: T) -> Option<T> {
        self.lock()
            .insert(TypeId::of::<T>(), Box::new(value))
            .and_then(|old| old.downcast::<T>().ok().map(|b| *b))
    }

    /// A clone of the stored value of type `T`.
    pub fn get<T: Any + Send + Sync + Clone>(&self) -> Option<T> {
        self.lock()
            .get(&TypeId::of::<T>())
            .and_then(|v| v.downcast_ref::<T>())
            .cloned()
    }

    /// Removes and returns the stored value of type `T`.
    pub fn remove<T: Any + Send + Sync + Clone>(&self) -> Option<T> {
        self.lock()
            .remove(&TypeId::of::<T>())
            .and_then(|old| old.downcast::<T>().ok().map(|b| *b))
    }
}

/// What the application may know about a connected session. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    /// The session id.
    pub id: SessionId,
    /// The authenticated user, if any.
    pub principal: Option<Principal>,
    /// The negotiated protocol version.
    pub version: Version,
    /// Per-session attributes.
    pub attributes: Attributes,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_typed_and_shared_by_clones() {
        let attrs = Attributes::default();
        let clone = attrs.clone();
        assert_eq!(attrs.insert(5u32), None);
        assert_eq!(clone.get::<u32>(), Some(5));
        assert_eq!(clone.insert(6u32), Some(5));
        assert_eq!(attrs.get::<String>(), None);
        assert_eq!(attrs.remove::<u32>(), Some(6));
        assert_eq!(clone.get::<u32>(), None);
    }

    #[test]
    fn principal_claims_are_typed_and_not_compared() {
        #[derive(Debug, PartialEq)]
        struct Tenant(&'static str);
        let plain = Principal::new("ann");
        let with = Principal::new("ann").with_claims(Tenant("acme"));
        assert_eq!(with.claims::<Tenant>(), Some(&Tenant("acme")));
        assert_eq!(
            with.claims_arc::<Tenant>().as_deref(),
            Some(&Tenant("acme"))
        );
        assert!(with.claims::<u32>().is_none());
        assert!(plain.claims::<Tenant>().is_none());
        assert_eq!(plain, with);
        let debug = format!("{with:?}");
        assert!(
            debug.contains("Tenant") && !debug.contains("acme"),
            "{debug}"
        );
        let replaced = with.with_claims(7u32);
        assert!(replaced.claims::<Tenant>().is_none());
        assert_eq!(replaced.claims::<u32>(), Some(&7));
    }

    #[test]
    fn principal_roles() {
        let p = Principal::new("ann").with_roles(["admin"]);
        assert_eq!(p.name(), "ann");
        assert!(p.has_role("admin"));
        assert!(!p.has_role("user"));
    }
}
