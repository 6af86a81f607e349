//! User destinations, the messaging template and destination authorization, through `BrokerChannel`.

#![allow(clippy::unwrap_used, missing_docs)] // tests panic on purpose

mod support;

mod authz;
mod destinations;
mod inbox;
mod simple_broker;
mod template;
mod template_simple_broker;
