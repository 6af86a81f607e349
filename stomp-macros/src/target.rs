//! `#[send_to]` / `#[send_to_user]` written above the mapping attribute: moved below it,
//! where the mapping attribute reads them.

use proc_macro2::TokenStream;
use quote::quote;
use syn::ItemFn;

use crate::args::TargetArgs;
use crate::signature::mapping_kind;

pub(crate) fn reorder(
    which: &str,
    attr: TokenStream,
    item: TokenStream,
) -> syn::Result<TokenStream> {
    // Parse now so errors point at the arguments.
    let _: TargetArgs = syn::parse2(attr.clone())?;
    let mut func: ItemFn = syn::parse2(item)?;
    let Some(at) = func.attrs.iter().position(|a| mapping_kind(a).is_some()) else {
        return Err(syn::Error::new(
            proc_macro2::Span::call_site(),
            format!(
                "#[{which}] needs #[message_mapping], #[subscribe_mapping] or \
                 #[message_exception_handler] on the same fn (or use it in a #[controller] impl)"
            ),
        ));
    };
    let mapping = func.attrs.remove(at);
    let ident = syn::Ident::new(which, proc_macro2::Span::call_site());
    let target: syn::Attribute = syn::parse_quote!(#[#ident(#attr)]);
    func.attrs.insert(0, target);
    func.attrs.insert(0, mapping);
    Ok(quote!(#func))
}
