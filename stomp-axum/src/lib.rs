//! STOMP over WebSocket for axum.
