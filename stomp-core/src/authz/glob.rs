//! A small destination pattern matcher for the policy rules: segments split on `/`, `*`
//! matches any run of characters within one segment, `**` (a whole segment) matches zero or
//! more segments.
//!
//! Private on purpose: the shared matcher in `crate::destination` can replace it.

/// Whether `destination` matches `pattern`.
pub(super) fn matches(pattern: &str, destination: &str) -> bool {
    let pattern: Vec<&str> = pattern.split('/').collect();
    let destination: Vec<&str> = destination.split('/').collect();
    match_segments(&pattern, &destination)
}

fn match_segments(pattern: &[&str], destination: &[&str]) -> bool {
    // Iterative with one backtracking point for the last `**` seen (linear-ish, no recursion
    // blow-up on patterns with several `**`).
    let (mut p, mut d) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while d < destination.len() {
        if p < pattern.len() && pattern[p] == "**" {
            star = Some((p, d));
            p += 1;
        } else if p < pattern.len() && match_segment(pattern[p], destination[d]) {
            p += 1;
            d += 1;
        } else if let Some((sp, sd)) = star {
            p = sp + 1;
            d = sd + 1;
            star = Some((sp, sd + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|s| *s == "**")
}

fn match_segment(pattern: &str, segment: &str) -> bool {
    if !pattern.contains('*') {
        return pattern == segment;
    }
    let pattern = pattern.as_bytes();
    let segment = segment.as_bytes();
    let (mut p, mut s) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while s < segment.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, s));
            p += 1;
        } else if p < pattern.len() && pattern[p] == segment[s] {
            p += 1;
            s += 1;
        } else if let Some((sp, ss)) = star {
            p = sp + 1;
            s = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|b| *b == b'*')
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn patterns() {
        let table = [
            ("/topic/a", "/topic/a", true),
            ("/topic/a", "/topic/b", false),
            ("/topic/*", "/topic/a", true),
            ("/topic/*", "/topic/a/b", false),
            ("/topic/*", "/topic", false),
            ("/topic/**", "/topic", true),
            ("/topic/**", "/topic/a/b/c", true),
            ("/topic/**", "/queue/a", false),
            ("/**", "/anything/at/all", true),
            ("/topic/**/x", "/topic/x", true),
            ("/topic/**/x", "/topic/a/b/x", true),
            ("/topic/**/x", "/topic/a/b/y", false),
            ("/topic/a*", "/topic/abc", true),
            ("/topic/*c", "/topic/abc", true),
            ("/topic/a*c", "/topic/ac", true),
            ("/topic/a*c", "/topic/ab", false),
            ("/topic/price.*", "/topic/price.eur", true),
            ("/user/**", "/user/queue/x", true),
            ("/topic/**/**/z", "/topic/z", true),
        ];
        for (pattern, dest, want) in table {
            assert_eq!(matches(pattern, dest), want, "{pattern} vs {dest}");
        }
    }
}
