//! Code shared by the macros: the companion item of an annotated fn, the route expression,
//! and the conversion of return values.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Ident, PatType, ReturnType, Type};

use crate::signature::{Kind, Targets};

/// The output type of a fn (`()` when none is written).
pub(crate) fn output_type(ret: &ReturnType) -> TokenStream {
    match ret {
        ReturnType::Default => quote!(()),
        ReturnType::Type(_, ty) => quote!(#ty),
    }
}

fn outer_name(ty: &Type) -> Option<String> {
    match ty {
        Type::Path(p) if p.qself.is_none() => p.path.segments.last().map(|s| s.ident.to_string()),
        _ => None,
    }
}

/// Converts `value` (an expression of the fn's return type) to a `Reply`: `IntoReply`
/// types by their impl, any other `Serialize` type as JSON; a top-level `Option` or
/// `Result` is looked through.
pub(crate) fn reply(krate: &TokenStream, ret: &ReturnType, value: TokenStream) -> TokenStream {
    // Spanned at the return type, so "neither IntoReply nor Serialize" points there.
    let span = match ret {
        ReturnType::Type(_, ty) => ty.span(),
        ReturnType::Default => Span::call_site(),
    };
    let auto = |v: TokenStream| {
        quote_spanned! {span=> (&&#krate::__private::Wrap::new(#v)).__stomp_reply() }
    };
    let outer = match ret {
        ReturnType::Type(_, ty) => outer_name(ty),
        ReturnType::Default => None,
    };
    let inner_auto = auto(quote!(__v));
    let body = match outer.as_deref() {
        Some("Option") => quote! {
            match #value {
                ::core::option::Option::Some(__v) => #inner_auto,
                ::core::option::Option::None => #krate::app::Reply::empty(),
            }
        },
        Some("Result") => quote! {
            match #value {
                ::core::result::Result::Ok(__v) => #inner_auto,
                ::core::result::Result::Err(__e) => #krate::app::Reply::error(__e),
            }
        },
        _ => auto(value),
    };
    quote! {{
        #[allow(unused_imports)]
        use #krate::__private::{ViaIntoReply as _, ViaSerialize as _};
        #[allow(clippy::needless_borrow)]
        let __reply: #krate::app::Reply = #body;
        __reply
    }}
}

/// `__arg0, __arg1, ...`
pub(crate) fn arg_idents(n: usize) -> Vec<Ident> {
    (0..n).map(|i| format_ident!("__arg{}", i)).collect()
}

/// `on_message(move |__arg0: T0, ...| async move { reply(call) })` plus the reply targets.
/// `capture` is a statement run in the closure before the async block (cloning an `Arc`).
pub(crate) fn route_expr(
    krate: &TokenStream,
    kind: Kind,
    args: &[PatType],
    call: &dyn Fn(&[Ident]) -> TokenStream,
    ret: &ReturnType,
    targets: &Targets,
    capture: TokenStream,
) -> TokenStream {
    let idents = arg_idents(args.len());
    let tys: Vec<&Type> = args.iter().map(|a| &*a.ty).collect();
    let call = call(&idents);
    let reply = reply(krate, ret, quote!(#call.await));
    let ctor = match kind {
        Kind::Message => quote!(#krate::app::on_message),
        Kind::Subscribe => quote!(#krate::app::on_subscribe),
        Kind::Exception => quote!(#krate::app::on_exception),
    };
    let send_to = &targets.send_to;
    let send_to_user = &targets.send_to_user;
    let broadcast = targets.broadcast.as_ref().map(|b| quote!(.broadcast(#b)));
    quote! {
        #ctor(move |#(#idents: #tys),*| {
            #capture
            async move { #reply }
        })
        #(.send_to(#send_to))*
        #(.send_to_user(#send_to_user))*
        #broadcast
    }
}

/// The `where` bounds of a companion impl: every extractor implements `FromMessage<__S>`.
pub(crate) fn bounds(krate: &TokenStream, extractors: &[PatType]) -> TokenStream {
    let tys = extractors.iter().map(|a| &*a.ty);
    quote! {
        __S: ::core::clone::Clone + ::core::marker::Send + ::core::marker::Sync + 'static,
        #(#tys: #krate::app::FromMessage<__S> + ::core::marker::Send,)*
    }
}

/// `Deref` from the companion unit struct to a fn pointer, so `name(args).await` still
/// calls the fn (its future boxed).
pub(crate) fn deref_impl(
    name: &Ident,
    inner: &Ident,
    args: &[PatType],
    ret: &ReturnType,
) -> TokenStream {
    let idents = arg_idents(args.len());
    let tys: Vec<&Type> = args.iter().map(|a| &*a.ty).collect();
    let out = output_type(ret);
    let fn_ty = quote! {
        fn(#(#tys),*) -> ::core::pin::Pin<::std::boxed::Box<
            dyn ::core::future::Future<Output = #out> + ::core::marker::Send + 'static>>
    };
    quote! {
        impl ::core::ops::Deref for #name {
            type Target = #fn_ty;

            fn deref(&self) -> &Self::Target {
                fn __call(#(#idents: #tys),*) -> ::core::pin::Pin<::std::boxed::Box<
                    dyn ::core::future::Future<Output = #out> + ::core::marker::Send + 'static>>
                {
                    ::std::boxed::Box::pin(#inner(#(#idents),*))
                }
                static __CALL: #fn_ty = __call;
                &__CALL
            }
        }
    }
}

/// The hidden name the annotated fn is renamed to.
pub(crate) fn inner_name(name: &Ident) -> Ident {
    Ident::new(
        &format!("__stomp_handler_{name}"),
        Span::mixed_site().located_at(name.span()),
    )
}
