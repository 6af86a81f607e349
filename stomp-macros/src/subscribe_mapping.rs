//! `#[subscribe_mapping("/path")]`: a handler for SUBSCRIBEs to an application destination;
//! its reply goes straight back to the subscriber.

use proc_macro2::TokenStream;

use crate::signature::Kind;

pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    crate::free_fn::expand(Kind::Subscribe, attr, item)
}
