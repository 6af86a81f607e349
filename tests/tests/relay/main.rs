//! The STOMP client and the relay: against a scripted in-memory server (`client_protocol`)
//! and against the real RabbitMQ STOMP plugin on 127.0.0.1:61613, guest/guest (the rest;
//! `scripts/services.sh` starts it). One test binary; the broker-restart test lives in
//! `relay_restart.rs`, alone, so nothing else runs while RabbitMQ is down.

#![allow(clippy::unwrap_used)] // tests panic on purpose

mod client_protocol;
mod client_rabbitmq;
mod engine;
mod rabbitmq;
mod user;
