//! `#[send_to("/topic/...", ...)]`: where a handler's replies go.

use proc_macro2::TokenStream;

pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    crate::target::reorder("send_to", attr, item)
}
