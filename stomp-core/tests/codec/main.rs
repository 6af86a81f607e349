//! Codec tests: framing and escaping, errors and limits, split input at every byte, properties, zero-copy slices.

#![allow(clippy::unwrap_used, missing_docs)] // tests panic on purpose

mod support;

mod errors;
mod framing;
mod props;
mod split;
mod zero_copy;
