//! Mounting the endpoint as a tower [`Layer`] on any axum app.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::Response;
use tower::{Layer, Service};

use crate::endpoint::{self, Endpoint};

/// A tower layer serving the STOMP endpoint at one path and passing every other request
/// to the service it wraps. Made by [`Stomp::layer`](crate::Stomp::layer).
#[derive(Debug, Clone)]
pub struct StompLayer {
    path: Arc<str>,
    endpoint: Arc<Endpoint>,
}

impl StompLayer {
    pub(crate) fn new(endpoint: Arc<Endpoint>, path: &str) -> Self {
        StompLayer {
            path: path.into(),
            endpoint,
        }
    }
}

impl<S> Layer<S> for StompLayer {
    type Service = StompService<S>;

    fn layer(&self, inner: S) -> StompService<S> {
        StompService {
            inner,
            path: self.path.clone(),
            endpoint: self.endpoint.clone(),
        }
    }
}

/// The service made by [`StompLayer`]: requests to the endpoint path upgrade to STOMP,
/// everything else goes to `inner`.
#[derive(Debug, Clone)]
pub struct StompService<S> {
    inner: S,
    path: Arc<str>,
    endpoint: Arc<Endpoint>,
}

impl<S> Service<Request> for StompService<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // The endpoint itself is always ready; readiness is the inner service's.
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        if request.uri().path() == &*self.path {
            let endpoint = self.endpoint.clone();
            Box::pin(async move { Ok(endpoint::handle(endpoint, request).await) })
        } else {
            Box::pin(self.inner.call(request))
        }
    }
}
