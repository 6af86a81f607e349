//! [`MessageContext`]: what extractors see of a routed request.

use std::sync::Arc;

use bytes::Bytes;

use super::{AppRequest, AppRequestKind};
use crate::frame::{Frame, Headers};
use crate::identity::SessionInfo;
use crate::template::MessagingTemplate;

/// A request that matched a route: the [`AppRequest`] plus the destination variables the
/// route template captured. Extractors read from it.
#[derive(Debug, Clone)]
pub struct MessageContext {
    request: AppRequest,
    pattern: Arc<str>,
    vars: Vec<(Arc<str>, String)>,
}

impl MessageContext {
    /// A context for `request`, matched by route `pattern` with captured `vars` (in template
    /// order).
    pub fn new(request: AppRequest, pattern: Arc<str>, vars: Vec<(Arc<str>, String)>) -> Self {
        MessageContext {
            request,
            pattern,
            vars,
        }
    }

    /// The request as the session gave it.
    pub fn request(&self) -> &AppRequest {
        &self.request
    }

    /// The frame as received.
    pub fn frame(&self) -> &Frame {
        &self.request.frame
    }

    /// The frame's headers.
    pub fn headers(&self) -> &Headers {
        &self.request.frame.headers
    }

    /// The frame's body.
    pub fn body(&self) -> &Bytes {
        &self.request.frame.body
    }

    /// The destination with the application prefix stripped.
    pub fn lookup_path(&self) -> &str {
        &self.request.lookup_path
    }

    /// The route template that matched (e.g. `/chat/{room}`).
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// The destination variables, in template order.
    pub fn vars(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + '_ {
        self.vars.iter().map(|(n, v)| (&**n, v.as_str()))
    }

    /// The value of destination variable `name`.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|(n, _)| &**n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The calling session.
    pub fn session(&self) -> &SessionInfo {
        &self.request.session
    }

    /// The messaging template replies are published with.
    pub fn template(&self) -> &MessagingTemplate {
        &self.request.template
    }

    /// SEND or SUBSCRIBE.
    pub fn kind(&self) -> &AppRequestKind {
        &self.request.kind
    }
}
