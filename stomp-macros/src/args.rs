//! Parsing attribute arguments.

use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::{LitBool, LitStr, Path, Token};

/// `("/path", crate = some::path)`: the path is optional for `#[controller]`.
pub(crate) struct MappingArgs {
    pub(crate) path: Option<LitStr>,
    pub(crate) krate: Option<Path>,
}

impl Parse for MappingArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = MappingArgs {
            path: None,
            krate: None,
        };
        if input.peek(LitStr) {
            args.path = Some(input.parse()?);
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        while !input.is_empty() {
            input.parse::<Token![crate]>()?;
            input.parse::<Token![=]>()?;
            args.krate = Some(input.parse()?);
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(args)
    }
}

/// `("/a", "/b", broadcast = false)`.
pub(crate) struct TargetArgs {
    pub(crate) destinations: Vec<LitStr>,
    pub(crate) broadcast: Option<LitBool>,
}

impl Parse for TargetArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = TargetArgs {
            destinations: Vec::new(),
            broadcast: None,
        };
        while !input.is_empty() {
            if input.peek(LitStr) {
                args.destinations.push(input.parse()?);
            } else {
                let key: syn::Ident = input.parse()?;
                if key != "broadcast" {
                    return Err(syn::Error::new(
                        key.span(),
                        "expected a destination string or `broadcast = true|false`",
                    ));
                }
                input.parse::<Token![=]>()?;
                args.broadcast = Some(input.parse()?);
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        if args.destinations.is_empty() {
            return Err(syn::Error::new(
                Span::call_site(),
                "expected at least one destination, e.g. \"/topic/chat\"",
            ));
        }
        Ok(args)
    }
}

/// The crate path generated code refers to.
pub(crate) fn krate(path: Option<Path>) -> proc_macro2::TokenStream {
    match path {
        Some(p) => quote::quote!(#p),
        None => quote::quote!(::stomp_axum::core),
    }
}
