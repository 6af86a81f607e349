//! Temporary stand-in for `codec::Limits` until branch `codec` lands.
/// Decoder limits (stand-in).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {}
