//! Sending a handler's reply: to the broker (default `/topic` + destination, `send_to`,
//! `send_to_user`), straight to a subscriber (`subscribe_mapping`), or through the
//! exception handlers.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;

use super::panic::CatchUnwind;
use super::path::fill;
use super::reply::{HandlerError, Reply, ReplyParts, CONTENT_TYPE_TEXT};
use super::route::{ExceptionRoute, ReplyTarget};
use super::{AppError, AppRequestKind, MessageContext, CORRELATION_ID, ERROR_DESTINATION};
use crate::codec::PreparedMessage;
use crate::frame::{name, Headers};

/// The exception handlers that apply to one route.
pub(crate) struct Exceptions<'a, S> {
    pub(crate) scoped: &'a [ExceptionRoute<S>],
    pub(crate) global: &'a [ExceptionRoute<S>],
    pub(crate) state: &'a S,
}

/// Sends `reply` for the request in `ctx`.
pub(crate) async fn deliver<S: Clone + Send + Sync + 'static>(
    ctx: &Arc<MessageContext>,
    target: &ReplyTarget,
    reply: Reply,
    exceptions: &Exceptions<'_, S>,
) -> Result<(), AppError> {
    match reply.into_parts() {
        ReplyParts::Empty => Ok(()),
        ReplyParts::Message(headers, body) => send(ctx, target, headers, body).await,
        ReplyParts::Error(error) => handle_error(ctx, error, exceptions).await,
    }
}

async fn handle_error<S: Clone + Send + Sync + 'static>(
    ctx: &Arc<MessageContext>,
    error: HandlerError,
    exceptions: &Exceptions<'_, S>,
) -> Result<(), AppError> {
    let type_id = error.type_id();
    let found = exceptions
        .scoped
        .iter()
        .chain(exceptions.global)
        .find(|h| h.error_type == type_id);
    let Some(handler) = found else {
        return unhandled(ctx, &error.to_string(), error.type_name()).await;
    };
    let reply = CatchUnwind::new((handler.handler)(
        error,
        ctx.clone(),
        exceptions.state.clone(),
    ))
    .await?;
    match reply.into_parts() {
        ReplyParts::Empty => Ok(()),
        ReplyParts::Message(headers, body) => send(ctx, &handler.target, headers, body).await,
        // An exception handler's own error is not handled again.
        ReplyParts::Error(error) => unhandled(ctx, &error.to_string(), error.type_name()).await,
    }
}

/// No exception handler: log, and tell the calling session on `/user/queue/errors`.
async fn unhandled(ctx: &MessageContext, text: &str, type_name: &str) -> Result<(), AppError> {
    tracing::error!(
        session = %ctx.session().id,
        destination = %ctx.lookup_path(),
        error.type = type_name,
        error = %text,
        "unhandled error from a STOMP handler"
    );
    let mut headers = Headers::with_capacity(3);
    headers.set(name::CONTENT_TYPE, CONTENT_TYPE_TEXT);
    copy_correlation(ctx, &mut headers);
    ctx.template()
        .send_to_session(
            &ctx.session().id,
            ERROR_DESTINATION,
            headers,
            text.to_owned(),
        )
        .await
        .map_err(|e| AppError::new("could not send the error reply", e.to_string()))
}

/// A reply carries the correlation id and the W3C trace context of the message it answers.
fn copy_correlation(ctx: &MessageContext, headers: &mut Headers) {
    if let Some(id) = ctx.headers().get(CORRELATION_ID) {
        headers.set(CORRELATION_ID, id.to_owned());
    }
    crate::trace::propagate(ctx.headers(), headers);
}

async fn send(
    ctx: &MessageContext,
    target: &ReplyTarget,
    mut headers: Headers,
    body: Bytes,
) -> Result<(), AppError> {
    copy_correlation(ctx, &mut headers);
    let failed = |e: crate::template::TemplateError| {
        AppError::new("could not send the reply", e.to_string())
    };
    let template = ctx.template();
    if target.is_default() {
        if let AppRequestKind::Subscribe {
            subscriber,
            subscription_id,
        } = ctx.kind()
        {
            let destination = ctx
                .headers()
                .destination()
                .unwrap_or_else(|| ctx.lookup_path())
                .to_owned();
            headers.set(name::DESTINATION, destination);
            let prepared = PreparedMessage::new(&headers, &body);
            let frame = prepared.delivery(
                subscriber.version,
                subscription_id,
                &next_message_id(),
                None,
            );
            if subscriber.outbound.send(frame).is_err() {
                tracing::debug!(session = %subscriber.session, "subscriber gone before the subscribe reply");
            }
            return Ok(());
        }
        let destination = format!("/topic{}", ctx.lookup_path());
        return template
            .send_with_headers(destination, headers, body)
            .await
            .map_err(failed);
    }
    let var = |n: &str| ctx.var(n);
    for destination in &target.send_to {
        template
            .send_with_headers(fill(destination, var), headers.clone(), body.clone())
            .await
            .map_err(failed)?;
    }
    for destination in &target.send_to_user {
        let destination = fill(destination, var);
        let session = ctx.session();
        match (&session.principal, target.broadcast) {
            (Some(user), true) => {
                template
                    .send_to_user_with_headers(
                        user.name(),
                        &destination,
                        headers.clone(),
                        body.clone(),
                    )
                    .await
            }
            _ => {
                template
                    .send_to_session(&session.id, &destination, headers.clone(), body.clone())
                    .await
            }
        }
        .map_err(failed)?;
    }
    Ok(())
}

fn next_message_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("app-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}
