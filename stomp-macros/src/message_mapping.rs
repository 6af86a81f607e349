//! `#[message_mapping("/path")]`: a handler for SENDs to an application destination.

use proc_macro2::TokenStream;

use crate::signature::Kind;

pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    crate::free_fn::expand(Kind::Message, attr, item)
}
