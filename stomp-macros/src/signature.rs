//! What an annotated fn looks like: its reply targets, arguments and checks.

use syn::spanned::Spanned;
use syn::{Attribute, FnArg, LitBool, LitStr, Pat, PatType, Signature, Type};

use crate::args::TargetArgs;
use crate::template;

/// Which attribute maps the fn.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Message,
    Subscribe,
    Exception,
}

impl Kind {
    pub(crate) fn attr_name(self) -> &'static str {
        match self {
            Kind::Message => "message_mapping",
            Kind::Subscribe => "subscribe_mapping",
            Kind::Exception => "message_exception_handler",
        }
    }
}

fn last_segment(attr: &Attribute) -> Option<String> {
    attr.path().segments.last().map(|s| s.ident.to_string())
}

/// The mapping kind an attribute stands for, if any.
pub(crate) fn mapping_kind(attr: &Attribute) -> Option<Kind> {
    match last_segment(attr)?.as_str() {
        "message_mapping" => Some(Kind::Message),
        "subscribe_mapping" => Some(Kind::Subscribe),
        "message_exception_handler" => Some(Kind::Exception),
        _ => None,
    }
}

/// `true` for `#[send_to]` / `#[send_to_user]`.
pub(crate) fn is_target_attr(attr: &Attribute) -> bool {
    matches!(
        last_segment(attr).as_deref(),
        Some("send_to" | "send_to_user")
    )
}

/// Marks the paths of attributes a macro consumed as used (they are never expanded, so an
/// explicit `use stomp_macros::send_to;` would otherwise warn as unused).
pub(crate) fn use_paths<'a>(
    paths: impl IntoIterator<Item = &'a syn::Path>,
) -> proc_macro2::TokenStream {
    let paths = paths.into_iter();
    quote::quote! {
        #(const _: () = {
            #[allow(unused_imports)]
            use #paths as _;
        };)*
    }
}

/// Where replies go, from `#[send_to]` / `#[send_to_user]`.
#[derive(Default)]
pub(crate) struct Targets {
    /// The attribute paths consumed.
    pub(crate) paths: Vec<syn::Path>,
    pub(crate) send_to: Vec<LitStr>,
    pub(crate) send_to_user: Vec<LitStr>,
    pub(crate) broadcast: Option<LitBool>,
}

/// Removes the `#[send_to]` / `#[send_to_user]` attributes from `attrs` and parses them.
pub(crate) fn take_targets(attrs: &mut Vec<Attribute>) -> syn::Result<Targets> {
    let mut targets = Targets::default();
    let mut kept = Vec::with_capacity(attrs.len());
    for attr in attrs.drain(..) {
        if is_target_attr(&attr) {
            targets.paths.push(attr.path().clone());
        }
        match last_segment(&attr).as_deref() {
            Some("send_to") => {
                let args: TargetArgs = attr.parse_args()?;
                if let Some(b) = args.broadcast {
                    return Err(syn::Error::new(
                        b.span(),
                        "`broadcast` belongs to #[send_to_user]",
                    ));
                }
                targets.send_to.extend(args.destinations);
            }
            Some("send_to_user") => {
                let args: TargetArgs = attr.parse_args()?;
                targets.send_to_user.extend(args.destinations);
                if args.broadcast.is_some() {
                    targets.broadcast = args.broadcast;
                }
            }
            _ => kept.push(attr),
        }
    }
    *attrs = kept;
    Ok(targets)
}

/// Checks what every handler fn must be: async, not generic, no `self` unless in a
/// controller (and then only `&self`). Returns the typed arguments.
pub(crate) fn check(sig: &Signature, kind: Kind, in_controller: bool) -> syn::Result<Vec<PatType>> {
    if sig.asyncness.is_none() {
        return Err(syn::Error::new(
            sig.fn_token.span(),
            format!("#[{}] handlers must be `async fn`", kind.attr_name()),
        ));
    }
    if !sig.generics.params.is_empty() {
        return Err(syn::Error::new(
            sig.generics.span(),
            "STOMP handlers cannot be generic",
        ));
    }
    let mut args = Vec::new();
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(r) => {
                if !in_controller {
                    return Err(syn::Error::new(
                        r.self_token.span(),
                        "`self` is only allowed in methods of a #[controller] impl block",
                    ));
                }
                if r.reference.is_none() || r.mutability.is_some() {
                    return Err(syn::Error::new(
                        r.span(),
                        "controller handlers take `&self` (the controller is shared by all sessions)",
                    ));
                }
            }
            FnArg::Typed(pt) => args.push(pt.clone()),
        }
    }
    if kind == Kind::Exception && args.is_empty() {
        return Err(syn::Error::new(
            sig.paren_token.span.join(),
            "an exception handler's first argument is the error it handles",
        ));
    }
    Ok(args)
}

/// `true` when the receiver is `&self`.
pub(crate) fn has_receiver(sig: &Signature) -> bool {
    sig.inputs.iter().any(|a| matches!(a, FnArg::Receiver(_)))
}

/// Types whose `DestinationVar` holds one variable.
const SCALARS: &[&str] = &[
    "String", "bool", "char", "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32",
    "i64", "i128", "isize", "f32", "f64",
];

enum Binding {
    /// Names bound to single variables.
    Named(Vec<syn::Ident>),
    /// Takes every variable (a struct, `DestinationVars`, a `_` pattern).
    All,
}

fn type_last(ty: &Type) -> Option<&syn::PathSegment> {
    match ty {
        Type::Path(p) => p.path.segments.last(),
        _ => None,
    }
}

fn destination_binding(pt: &PatType) -> Option<Binding> {
    let seg = type_last(&pt.ty)?;
    if seg.ident == "DestinationVars" {
        return Some(Binding::All);
    }
    if seg.ident != "DestinationVar" {
        return None;
    }
    let syn::PathArguments::AngleBracketed(generic) = &seg.arguments else {
        return Some(Binding::All);
    };
    let Some(syn::GenericArgument::Type(inner_ty)) = generic.args.first() else {
        return Some(Binding::All);
    };
    let scalar = |t: &Type| type_last(t).is_some_and(|s| SCALARS.iter().any(|n| s.ident == n));
    let inner_pat = match &*pt.pat {
        Pat::TupleStruct(ts) if ts.elems.len() == 1 => &ts.elems[0],
        _ => return Some(Binding::All),
    };
    let ident_of = |p: &Pat| match p {
        Pat::Ident(i) => Some(i.ident.clone()),
        _ => None,
    };
    match (inner_ty, inner_pat) {
        (Type::Tuple(_), Pat::Tuple(pats)) => {
            let names: Option<Vec<_>> = pats.elems.iter().map(ident_of).collect();
            Some(names.map_or(Binding::All, Binding::Named))
        }
        (t, p) if scalar(t) => Some(ident_of(p).map_or(Binding::All, |i| Binding::Named(vec![i]))),
        _ => Some(Binding::All),
    }
}

fn var_name(ident: &syn::Ident) -> String {
    let name = ident.to_string();
    name.trim_start_matches('_').to_owned()
}

/// Checks a route template against the fn: every `{var}` is extracted by a
/// `DestinationVar` argument bound to a variable of that name, or used by a reply
/// destination; every bound name and every placeholder is a variable of the template.
pub(crate) fn check_vars(
    path: &str,
    lit: &LitStr,
    args: &[PatType],
    targets: &Targets,
) -> syn::Result<()> {
    let vars = template::parse(path, lit)?;
    let mut named = Vec::new();
    let mut takes_all = false;
    for pt in args {
        match destination_binding(pt) {
            Some(Binding::Named(idents)) => {
                let names: Vec<String> = idents.iter().map(var_name).collect();
                if names.len() != vars.len() {
                    return Err(syn::Error::new(
                        pt.span(),
                        format!(
                            "this `DestinationVar` takes {} variable(s), the destination template {path:?} has {}",
                            names.len(),
                            vars.len()
                        ),
                    ));
                }
                if names.iter().all(|n| vars.contains(n)) && names != vars {
                    return Err(syn::Error::new(
                        pt.span(),
                        format!(
                            "destination variables are taken in template order: {}",
                            vars.join(", ")
                        ),
                    ));
                }
                named.extend(idents);
            }
            Some(Binding::All) => takes_all = true,
            None => {}
        }
    }
    for ident in &named {
        let name = var_name(ident);
        if !vars.contains(&name) {
            return Err(syn::Error::new(
                ident.span(),
                format!(
                    "`{name}` is not a variable of the destination template {path:?} \
                     (destination variables are matched by name)"
                ),
            ));
        }
    }
    let mut used: Vec<String> = named.iter().map(var_name).collect();
    for dest in targets.send_to.iter().chain(&targets.send_to_user) {
        for placeholder in template::placeholders(&dest.value()) {
            if !vars.contains(&placeholder) {
                return Err(syn::Error::new(
                    dest.span(),
                    format!("`{{{placeholder}}}` is not a variable of the destination template {path:?}"),
                ));
            }
            used.push(placeholder);
        }
    }
    if !takes_all {
        if let Some(unused) = vars.iter().find(|v| !used.contains(v)) {
            return Err(syn::Error::new(
                lit.span(),
                format!(
                    "destination variable `{{{unused}}}` is not used: add an argument \
                     `DestinationVar({unused}): DestinationVar<String>` or use it in #[send_to]"
                ),
            ));
        }
    }
    Ok(())
}
