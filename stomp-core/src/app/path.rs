//! Route templates (`/chat/{room}`) and reply-destination placeholders.

/// The variable names of a route template, in order, or why it is malformed.
///
/// Rules (those of matchit 0.8): a template starts with `/`; `{name}` captures one segment
/// and ends its segment; `{*name}` captures the rest and ends the template; names are
/// identifiers; `{{` and `}}` are literal braces.
pub(crate) fn parse_template(template: &str) -> Result<Vec<String>, String> {
    if !template.starts_with('/') {
        return Err("a route must start with '/'".into());
    }
    let mut vars = Vec::new();
    let mut chars = template.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '{' if chars.peek().map(|&(_, c)| c) == Some('{') => {
                chars.next();
            }
            '}' if chars.peek().map(|&(_, c)| c) == Some('}') => {
                chars.next();
            }
            '}' => return Err(format!("unmatched '}}' at byte {i}")),
            '{' => {
                let rest = &template[i + 1..];
                let Some(end) = rest.find('}') else {
                    return Err(format!("unclosed '{{' at byte {i}"));
                };
                let inner = &rest[..end];
                let (catch_all, name) = match inner.strip_prefix('*') {
                    Some(name) => (true, name),
                    None => (false, inner),
                };
                if !is_ident(name) {
                    return Err(format!("{{{inner}}} is not a valid variable name"));
                }
                if vars.iter().any(|v| v == name) {
                    return Err(format!("variable {{{name}}} appears twice"));
                }
                let after = &rest[end + 1..];
                if catch_all && !after.is_empty() {
                    return Err(format!("{{*{name}}} must end the route"));
                }
                if !after.is_empty() && !after.starts_with('/') {
                    return Err(format!("{{{name}}} must end its segment"));
                }
                vars.push(name.to_owned());
                for _ in 0..=end {
                    chars.next();
                }
            }
            _ => {}
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
pub(crate) fn placeholders(destination: &str) -> impl Iterator<Item = &str> + '_ {
    destination.split('{').skip(1).filter_map(|s| {
        let end = s.find('}')?;
        Some(&s[..end])
    })
}

/// `destination` with each `{name}` replaced by the value of `name` in `vars`.
pub(crate) fn fill<'a>(destination: &str, mut var: impl FnMut(&str) -> Option<&'a str>) -> String {
    let mut out = String::with_capacity(destination.len() + 16);
    let mut rest = destination;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        match after.find('}') {
            Some(end) => {
                let name = &after[..end];
                out.push_str(var(name).unwrap_or_default());
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates() {
        let ok: &[(&str, &[&str])] = &[
            ("/a", &[]),
            ("/chat/{room}", &["room"]),
            ("/r/{a}/x/{b}", &["a", "b"]),
            ("/files/{*path}", &["path"]),
            ("/lit/{{x}}", &[]),
            ("/p-{id}", &["id"]),
        ];
        for (t, vars) in ok {
            let got = parse_template(t).unwrap();
            assert_eq!(got, *vars, "{t}");
        }
        for bad in [
            "a", "/{", "/{a", "/}", "/{}", "/{1a}", "/{a}{b}", "/{a}x", "/{*a}/b", "/{a}/{a}",
        ] {
            assert!(parse_template(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn placeholders_are_filled() {
        let vars = [("room", "1"), ("u", "ann")];
        let get = |n: &str| vars.iter().find(|(k, _)| *k == n).map(|(_, v)| *v);
        assert_eq!(fill("/topic/{room}/{u}", get), "/topic/1/ann");
        assert_eq!(fill("/topic/plain", get), "/topic/plain");
        assert_eq!(
            placeholders("/t/{a}/{b}").collect::<Vec<_>>(),
            vec!["a", "b"]
        );
    }
}
