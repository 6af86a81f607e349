//! Attribute macros for STOMP handlers: Spring's `@MessageMapping` model, as sugar over the
//! public API of `stomp_core::app` (everything they generate can be written by hand).
//!
//! | macro | on | does |
//! |---|---|---|
//! | `#[message_mapping("/chat/{room}")]` | `async fn` | handles SENDs to `/app/chat/{room}` |
//! | `#[subscribe_mapping("/rooms")]` | `async fn` | answers SUBSCRIBEs to `/app/rooms`, straight to the subscriber |
//! | `#[send_to("/topic/chat/{room}")]` | mapped fn | where replies go (default: `/topic` + the destination) |
//! | `#[send_to_user("/queue/reply", broadcast = false)]` | mapped fn | replies to the calling user (or session) |
//! | `#[message_exception_handler]` | `async fn(err: E, ...)` | handles `Err(E)` returned by handlers, and application errors of type `E` (`PayloadRejection`, `AppError`, ..) |
//! | `#[controller("/room")]` | `impl` block | its annotated methods become routes under `/room` |
//!
//! An annotated fn `chat` becomes a unit struct `chat` that still calls like the fn
//! (`chat(args).await`, the future boxed) and mounts with `.handler(chat)`
//! (`MappedHandler`); exception handlers mount with `.exception_handler(f)`, controllers
//! with `.controller(value)`.
//!
//! Checked at compile time: handlers are `async`, not generic, take `self` only in a
//! `#[controller]` (as `&self`); destination templates are well formed; every `{var}` is
//! taken by a `DestinationVar` argument of that name (in template order) or used by a
//! reply destination; `send_to` placeholders exist.
//!
//! Return values: `IntoReply` types by their impl; any other `T: Serialize` is sent as JSON;
//! a top-level `Option<_>` / `Result<_, E>` is looked through (`None` sends nothing, `Err`
//! goes to the exception handler for `E`).
//!
//! Generated code names `::stomp_axum::core` (the `stomp-core` re-export of `stomp-axum`, the
//! one dependency an application needs); add `crate = path` to any attribute to change that
//! (e.g. `#[message_mapping("/chat", crate = ::stomp_core)]` without `stomp-axum`).

mod args;
mod codegen;
mod controller;
mod free_fn;
mod message_exception_handler;
mod message_mapping;
mod send_to;
mod send_to_user;
mod signature;
mod subscribe_mapping;
mod target;
mod template;

use proc_macro::TokenStream;

fn finish(result: syn::Result<proc_macro2::TokenStream>) -> TokenStream {
    result.unwrap_or_else(syn::Error::into_compile_error).into()
}

/// Handles SENDs to an application destination (`/app` + the template).
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use stomp_core::app::{AppRouter, DestinationVar, Payload};
/// use stomp_macros::{message_mapping, send_to};
///
/// #[derive(Serialize, Deserialize)]
/// struct Chat { text: String }
///
/// #[message_mapping("/chat/{room}")]
/// #[send_to("/topic/chat/{room}")]
/// async fn chat(DestinationVar(room): DestinationVar<String>, Payload(msg): Payload<Chat>) -> Chat {
///     Chat { text: format!("{room}: {}", msg.text) }
/// }
///
/// let router = AppRouter::builder().handler(chat).build().expect("valid routes");
/// # let _ = router;
/// ```
#[proc_macro_attribute]
pub fn message_mapping(attr: TokenStream, item: TokenStream) -> TokenStream {
    finish(message_mapping::expand(attr.into(), item.into()))
}

/// Answers SUBSCRIBEs to an application destination; the reply goes straight to the
/// subscriber as a MESSAGE on its subscription (unless `#[send_to]` says otherwise).
#[proc_macro_attribute]
pub fn subscribe_mapping(attr: TokenStream, item: TokenStream) -> TokenStream {
    finish(subscribe_mapping::expand(attr.into(), item.into()))
}

/// Where a mapped fn's replies go: one or more broker destinations, with `{var}`
/// placeholders filled from the destination variables.
#[proc_macro_attribute]
pub fn send_to(attr: TokenStream, item: TokenStream) -> TokenStream {
    finish(send_to::expand(attr.into(), item.into()))
}

/// Sends a mapped fn's replies to the calling user's destination (`/user/queue/...` on
/// the client): every session of the user, or only the calling one with
/// `broadcast = false`.
#[proc_macro_attribute]
pub fn send_to_user(attr: TokenStream, item: TokenStream) -> TokenStream {
    finish(send_to_user::expand(attr.into(), item.into()))
}

/// Handles `Err(E)` returned by handlers, `E` being the type of the first argument; the
/// other arguments are extractors. Global with `.exception_handler(f)`, or scoped to a
/// controller when it is a method of a `#[controller]` impl.
#[proc_macro_attribute]
pub fn message_exception_handler(attr: TokenStream, item: TokenStream) -> TokenStream {
    finish(message_exception_handler::expand(attr.into(), item.into()))
}

/// Turns an `impl` block's annotated methods into routes of a controller value, the
/// optional prefix joined to each method's path.
#[proc_macro_attribute]
pub fn controller(attr: TokenStream, item: TokenStream) -> TokenStream {
    finish(controller::expand(attr.into(), item.into()))
}
