//! `#[controller("/prefix")]` on an `impl` block: its methods carrying mapping attributes
//! become routes (prefix joined to their paths) and controller-scoped exception handlers;
//! `&self` is the registered controller value.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{ImplItem, ItemImpl, LitStr};

use crate::args::{krate, MappingArgs};
use crate::codegen::{bounds, route_expr};
use crate::signature::{check, check_vars, has_receiver, mapping_kind, take_targets, Kind};
use crate::template;

pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let args: MappingArgs = syn::parse2(attr)?;
    let mut block: ItemImpl = syn::parse2(item)?;
    if let Some((_, path, _)) = &block.trait_ {
        return Err(syn::Error::new_spanned(
            path,
            "#[controller] goes on an inherent `impl Type { ... }` block",
        ));
    }
    if !block.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &block.generics,
            "#[controller] impl blocks cannot be generic",
        ));
    }
    let prefix = args.path.as_ref().map(LitStr::value).unwrap_or_default();
    if let Some(lit) = &args.path {
        if !prefix.is_empty() {
            template::parse(&prefix, lit)?;
        }
    }
    let krate = krate(args.krate);
    let self_ty = &block.self_ty;
    let mut routes = Vec::new();
    let mut route_paths = Vec::new();
    let mut handlers = Vec::new();
    let mut extractors = Vec::new();
    let mut consumed = Vec::new();
    for item in &mut block.items {
        let ImplItem::Fn(method) = item else { continue };
        let Some(at) = method.attrs.iter().position(|a| mapping_kind(a).is_some()) else {
            if let Some(stray) = method
                .attrs
                .iter()
                .find(|a| crate::signature::is_target_attr(a))
            {
                return Err(syn::Error::new_spanned(
                    stray,
                    "#[send_to] / #[send_to_user] need a mapping attribute on the same method",
                ));
            }
            continue;
        };
        let mapping = method.attrs.remove(at);
        let kind = mapping_kind(&mapping).unwrap_or(Kind::Message);
        if let Some(other) = method.attrs.iter().find(|a| mapping_kind(a).is_some()) {
            return Err(syn::Error::new_spanned(
                other,
                "a method takes one mapping attribute",
            ));
        }
        let targets = take_targets(&mut method.attrs)?;
        consumed.push(mapping.path().clone());
        consumed.extend(targets.paths.iter().cloned());
        let args = check(&method.sig, kind, true)?;
        let name = &method.sig.ident;
        let call = |idents: &[syn::Ident]| {
            if has_receiver(&method.sig) {
                quote!(this.#name(#(#idents),*))
            } else {
                quote!(<#self_ty>::#name(#(#idents),*))
            }
        };
        let capture = if has_receiver(&method.sig) {
            quote!(let this = ::std::sync::Arc::clone(&this);)
        } else {
            quote!()
        };
        let route = route_expr(
            &krate,
            kind,
            &args,
            &call,
            &method.sig.output,
            &targets,
            capture,
        );
        let outer_capture = if has_receiver(&method.sig) {
            quote!(let this = ::std::sync::Arc::clone(&self);)
        } else {
            quote!()
        };
        match kind {
            Kind::Exception => {
                if let syn::Meta::List(_) = &mapping.meta {
                    let margs: MappingArgs = mapping.parse_args()?;
                    if let Some(lit) = margs.path {
                        return Err(syn::Error::new(
                            lit.span(),
                            "#[message_exception_handler] takes no destination",
                        ));
                    }
                }
                extractors.extend(args[1..].iter().cloned());
                handlers.push(quote!({ #outer_capture #route }));
            }
            _ => {
                let margs: MappingArgs = mapping.parse_args()?;
                let Some(lit) = margs.path else {
                    return Err(syn::Error::new_spanned(
                        &mapping,
                        format!("#[{}] needs a destination", kind.attr_name()),
                    ));
                };
                let full = template::join(&prefix, &lit.value());
                check_vars(&full, &lit, &args, &targets)?;
                extractors.extend(args.iter().cloned());
                route_paths.push(full);
                routes.push(quote!({ #outer_capture #route }));
            }
        }
    }
    let where_bounds = bounds(&krate, &extractors);
    let used = crate::signature::use_paths(&consumed);
    Ok(quote! {
        #block

        #used

        impl<__S> #krate::app::Controller<__S> for #self_ty
        where #where_bounds
        {
            fn routes(self: ::std::sync::Arc<Self>) -> #krate::app::ControllerRoutes<__S> {
                let _ = &self;
                #krate::app::ControllerRoutes::new()
                    #(.route(#route_paths, #routes))*
                    #(.exception_handler(#handlers))*
            }
        }
    })
}
