//! Sending a handler's reply: to the broker (default `/topic` + destination, `send_to`,
//! `send_to_user`), straight to a subscriber (`subscribe_mapping`), or through the
//! exception handlers.

use std::any::TypeId;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;

use super::panic::CatchUnwind;
use super::path::fill;
use super::reply::{HandlerError, Reply, ReplyParts, CONTENT_TYPE_TEXT};
use super::route::{ExceptionRoute, ReplyTarget};
use super::{
    AppError, AppErrorPolicy, AppRequestKind, MessageContext, CORRELATION_ID, ERROR_DESTINATION,
};
use crate::codec::PreparedMessage;
use crate::frame::{name, Headers};

/// The exception handlers that apply to one route, and what to do with application
/// errors.
pub(crate) struct Exceptions<'a, S> {
    pub(crate) scoped: &'a [ExceptionRoute<S>],
    pub(crate) global: &'a [ExceptionRoute<S>],
    pub(crate) state: &'a S,
    pub(crate) policy: AppErrorPolicy,
}

impl<S> Exceptions<'_, S> {
    fn find(&self, type_id: TypeId) -> Option<&ExceptionRoute<S>> {
        self.scoped
            .iter()
            .chain(self.global)
            .find(|h| h.error_type == type_id)
    }
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

/// Hands `error` to its exception handler (by its type; for the router's own errors then
/// the one for [`AppError`]); none: reports it on the session's error queue. Under
/// [`AppErrorPolicy::Close`] the router's own errors are returned instead (an ERROR frame).
pub(crate) async fn handle_error<S: Clone + Send + Sync + 'static>(
    ctx: &Arc<MessageContext>,
    error: HandlerError,
    exceptions: &Exceptions<'_, S>,
) -> Result<(), AppError> {
    let close = exceptions.policy == AppErrorPolicy::Close;
    let (handler, error) = match exceptions.find(error.type_id()) {
        Some(handler) if !(close && error.is_rejection()) => (handler, error),
        _ => match error.into_app_error() {
            Ok(app) if close => return Err(app),
            Ok(app) => match exceptions.find(TypeId::of::<AppError>()) {
                Some(handler) => (handler, HandlerError::rejection(app)),
                None => return report(ctx, Some(&app.message), &app.detail, "AppError").await,
            },
            Err(error) => {
                let text = error.to_string();
                return report(ctx, None, &text, error.type_name()).await;
            }
        },
    };
    let reply = match CatchUnwind::new((handler.handler)(
        error,
        ctx.clone(),
        exceptions.state.clone(),
    ))
    .await
    {
        Ok(reply) => reply,
        Err(e) if close => return Err(e),
        Err(e) => return report(ctx, Some(&e.message), &e.detail, "AppError").await,
    };
    match reply.into_parts() {
        ReplyParts::Empty => Ok(()),
        // No route matched: the default target (`/topic` + a destination the client made
        // up) would let a client choose a topic; the reply goes to the session instead.
        ReplyParts::Message(mut headers, body)
            if ctx.pattern().is_empty() && handler.target.is_default() =>
        {
            copy_correlation(ctx, &mut headers);
            ctx.template()
                .send_to_session(&ctx.session().id, ERROR_DESTINATION, headers, body)
                .await
                .map_err(|e| AppError::new("could not send the error reply", e.to_string()))
        }
        ReplyParts::Message(headers, body) => send(ctx, &handler.target, headers, body).await,
        // An exception handler's own error is not handled again.
        ReplyParts::Error(error) => match error.into_app_error() {
            Ok(app) if close => Err(app),
            Ok(app) => report(ctx, Some(&app.message), &app.detail, "AppError").await,
            Err(error) => report(ctx, None, &error.to_string(), error.type_name()).await,
        },
    }
}

/// No exception handler: log, and tell the calling session on `/user/queue/errors`
/// (anonymous sessions too: the report goes to the session, not to a user). `message` is
/// the short text of the router's own errors (a `message` header, as on ERROR frames).
async fn report(
    ctx: &MessageContext,
    message: Option<&str>,
    text: &str,
    type_name: &str,
) -> Result<(), AppError> {
    match message {
        // A client's mistake (bad payload, unmapped destination): not the server's error.
        Some(message) => tracing::debug!(
            session = %ctx.session().id,
            destination = %ctx.lookup_path(),
            error.message = message,
            error = %text,
            "application error reported to the session"
        ),
        None => tracing::error!(
            session = %ctx.session().id,
            destination = %ctx.lookup_path(),
            error.type = type_name,
            error = %text,
            "unhandled error from a STOMP handler"
        ),
    }
    let mut headers = Headers::with_capacity(4);
    headers.set(name::CONTENT_TYPE, CONTENT_TYPE_TEXT);
    if let Some(message) = message {
        headers.set(name::MESSAGE, message.to_owned());
    }
    if let Some(receipt) = ctx.headers().receipt() {
        headers.set(name::RECEIPT_ID, receipt.to_owned());
    }
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
