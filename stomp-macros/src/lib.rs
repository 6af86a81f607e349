//! Attribute macros for stomp-axum handlers.
