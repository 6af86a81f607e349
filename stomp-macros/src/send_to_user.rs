//! `#[send_to_user("/queue/...", broadcast = false)]`: replies to the calling user.

use proc_macro2::TokenStream;

pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    crate::target::reorder("send_to_user", attr, item)
}
