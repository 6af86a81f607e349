//! Expansion of a mapping attribute on a free `async fn`: the fn is renamed and hidden,
//! and a unit struct of the fn's name takes its place. The struct derefs to a fn pointer
//! (so `name(args).await` still works) and implements `MappedHandler<S>` (or
//! `IntoExceptionRoute<S>`), so `.handler(name)` mounts it.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{Attribute, ItemFn};

use crate::args::{krate, MappingArgs};
use crate::codegen::{bounds, deref_impl, inner_name, route_expr};
use crate::signature::{check, check_vars, mapping_kind, take_targets, Kind};

pub(crate) fn expand(kind: Kind, attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let args: MappingArgs = syn::parse2(attr)?;
    let mut func: ItemFn = syn::parse2(item)?;
    let targets = take_targets(&mut func.attrs)?;
    if let Some(other) = func.attrs.iter().find(|a| mapping_kind(a).is_some()) {
        return Err(syn::Error::new_spanned(
            other,
            "a fn takes one mapping attribute; write one fn per mapping",
        ));
    }
    let all_args = check(&func.sig, kind, false)?;
    let path = match (kind, &args.path) {
        (Kind::Exception, Some(lit)) => {
            return Err(syn::Error::new(
                lit.span(),
                "#[message_exception_handler] takes no destination; the error type is its first argument's type",
            ))
        }
        (Kind::Exception, None) => None,
        (_, Some(lit)) => {
            check_vars(&lit.value(), lit, &all_args, &targets)?;
            Some(lit.clone())
        }
        (_, None) => {
            return Err(syn::Error::new(
                proc_macro2::Span::call_site(),
                format!("#[{}] needs a destination, e.g. #[{}(\"/chat/{{room}}\")]", kind.attr_name(), kind.attr_name()),
            ))
        }
    };
    let krate = krate(args.krate);
    let name = func.sig.ident.clone();
    let inner = inner_name(&name);
    let vis = func.vis.clone();
    let (docs, attrs): (Vec<Attribute>, Vec<Attribute>) =
        func.attrs.drain(..).partition(|a| a.path().is_ident("doc"));
    func.attrs = attrs;
    func.sig.ident = inner.clone();
    func.vis = syn::Visibility::Inherited;

    let extractors = match kind {
        Kind::Exception => &all_args[1..],
        _ => &all_args[..],
    };
    let where_bounds = bounds(&krate, extractors);
    let route = route_expr(
        &krate,
        kind,
        &all_args,
        &|idents| quote!(#inner(#(#idents),*)),
        &func.sig.output,
        &targets,
        quote!(),
    );
    let deref = deref_impl(&name, &inner, &all_args, &func.sig.output);
    let registration = match path {
        Some(path) => quote! {
            impl<__S> #krate::app::MappedHandler<__S> for #name
            where #where_bounds
            {
                fn into_route(self) -> (&'static str, #krate::app::Route<__S>) {
                    (#path, #route)
                }
            }
        },
        None => quote! {
            impl<__S> #krate::app::IntoExceptionRoute<__S> for #name
            where #where_bounds
            {
                fn into_exception_route(self) -> #krate::app::ExceptionRoute<__S> {
                    #route
                }
            }
        },
    };
    let used = crate::signature::use_paths(&targets.paths);
    Ok(quote! {
        #used

        #[doc(hidden)]
        #[allow(non_snake_case)]
        #func

        #(#docs)*
        #[allow(non_camel_case_types)]
        #[derive(Debug, Clone, Copy)]
        #vis struct #name;

        #deref
        #registration
    })
}
