//! Compile-time checks of destination templates (the rules of the runtime router, matchit
//! 0.8: `{var}` ends its segment, `{*rest}` ends the path, `{{`/`}}` are literal braces).

use syn::LitStr;

/// The variables of `template`, or an error pointing at `lit`.
pub(crate) fn parse(template: &str, lit: &LitStr) -> syn::Result<Vec<String>> {
    let err = |msg: String| syn::Error::new(lit.span(), msg);
    if !template.starts_with('/') {
        return Err(err(format!(
            "invalid destination template {template:?}: it must start with '/'"
        )));
    }
    let mut vars: Vec<String> = Vec::new();
    let bytes = template.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' if bytes.get(i + 1) == Some(&b'{') => i += 2,
            b'}' if bytes.get(i + 1) == Some(&b'}') => i += 2,
            b'}' => {
                return Err(err(format!(
                    "invalid destination template {template:?}: unmatched '}}'"
                )))
            }
            b'{' => {
                let rest = &template[i + 1..];
                let Some(end) = rest.find('}') else {
                    return Err(err(format!(
                        "invalid destination template {template:?}: unclosed '{{'"
                    )));
                };
                let inner = &rest[..end];
                let (catch_all, name) = match inner.strip_prefix('*') {
                    Some(n) => (true, n),
                    None => (false, inner),
                };
                if !is_ident(name) {
                    return Err(err(format!(
                        "invalid destination template {template:?}: `{{{inner}}}` is not a variable name"
                    )));
                }
                if vars.iter().any(|v| v == name) {
                    return Err(err(format!(
                        "invalid destination template {template:?}: `{{{name}}}` appears twice"
                    )));
                }
                let after = &rest[end + 1..];
                if catch_all && !after.is_empty() {
                    return Err(err(format!(
                        "invalid destination template {template:?}: `{{*{name}}}` must end the template"
                    )));
                }
                if !after.is_empty() && !after.starts_with('/') {
                    return Err(err(format!(
                        "invalid destination template {template:?}: `{{{name}}}` must end its segment"
                    )));
                }
                vars.push(name.to_owned());
                i += end + 2;
            }
            _ => i += 1,
        }
    }
    Ok(vars)
}

fn is_ident(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The `{name}` placeholders of a reply destination.
pub(crate) fn placeholders(destination: &str) -> Vec<String> {
    destination
        .split('{')
        .skip(1)
        .filter_map(|s| s.find('}').map(|end| s[..end].to_owned()))
        .collect()
}

/// Joins a controller prefix and a method path (`/room` + `/{id}` = `/room/{id}`).
pub(crate) fn join(prefix: &str, path: &str) -> String {
    let prefix = prefix.trim_end_matches('/');
    if path.is_empty() || path == "/" {
        if prefix.is_empty() {
            "/".to_owned()
        } else {
            prefix.to_owned()
        }
    } else if path.starts_with('/') {
        format!("{prefix}{path}")
    } else {
        format!("{prefix}/{path}")
    }
}
