//! `#[message_exception_handler]`: handles the `Err(E)` of handlers, `E` being the type of
//! the fn's first argument.

use proc_macro2::TokenStream;

use crate::signature::Kind;

pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    crate::free_fn::expand(Kind::Exception, attr, item)
}
