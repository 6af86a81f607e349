//! Patterns as sets of destinations: whether two patterns can match a common destination
//! ([`patterns_intersect`]), and whether one pattern matches every destination another does
//! ([`pattern_covers`]).
//!
//! Authorization uses these to judge a pattern SUBSCRIBE by everything it could receive,
//! not by its literal text: with a rule on `/topic/admin/**`, a SUBSCRIBE to `/topic/**` or
//! `/topic/*/secret` intersects the rule, so the rule applies to it.
//!
//! ```
//! use stomp_core::destination::{pattern_covers, patterns_intersect, Separator};
//!
//! let s = Separator::Slash;
//! assert_eq!(patterns_intersect("/topic/**", "/topic/admin/**", s), Ok(true));
//! assert_eq!(patterns_intersect("/topic/*/secret", "/topic/admin/**", s), Ok(true));
//! assert_eq!(patterns_intersect("/topic/news/*", "/topic/admin/**", s), Ok(false));
//! assert_eq!(pattern_covers("/topic/admin/**", "/topic/admin/*", s), Ok(true));
//! assert_eq!(pattern_covers("/topic/admin/**", "/topic/**", s), Ok(false));
//! assert_eq!(patterns_intersect("topic.*.secret", "topic.admin.**", Separator::Dot), Ok(true));
//! ```
//!
//! Both run in time proportional to the product of the two patterns' segment counts; neither
//! is on a delivery path (they run once per SUBSCRIBE, per rule).

use super::{segments, PatternError, Segment, Separator};

fn parse(pattern: &str, separator: Separator) -> Result<Vec<Segment<'_>>, PatternError> {
    segments(pattern, separator).collect()
}

/// Whether some destination matches both `a` and `b` (plain destinations are patterns that
/// match only themselves). Exact: `true` exactly when such a destination exists.
///
/// `Err` if either is not a valid pattern (a wildcard that is not a whole segment).
pub fn patterns_intersect(a: &str, b: &str, separator: Separator) -> Result<bool, PatternError> {
    let a = parse(a, separator)?;
    let b = parse(b, separator)?;
    Ok(intersect(&a, &b))
}

/// Whether every destination matching `inner` also matches `outer`.
///
/// Sound, and conservative on unusual rewritings: `true` is always right; a few
/// equivalent forms that shuffle `*` and `**` (`*/**` inside `**/*`) answer `false`.
/// Callers use it to decide that a rule settles a whole pattern, so a `false` only sends
/// them to the slower, stricter path.
///
/// `Err` if either is not a valid pattern.
pub fn pattern_covers(
    outer: &str,
    inner: &str,
    separator: Separator,
) -> Result<bool, PatternError> {
    let outer = parse(outer, separator)?;
    let inner = parse(inner, separator)?;
    Ok(covers(&outer, &inner))
}

/// States `(i, j)`: `a[..i]` and `b[..j]` consumed. A visited set of `(la+1)·(lb+1)`
/// flags bounds the search.
struct Search {
    width: usize,
    seen: Vec<bool>,
    stack: Vec<(usize, usize)>,
}

impl Search {
    fn new(la: usize, lb: usize) -> Self {
        let width = lb + 1;
        let mut search = Search {
            width,
            seen: vec![false; (la + 1) * width],
            stack: Vec::new(),
        };
        search.push(0, 0);
        search
    }

    fn push(&mut self, i: usize, j: usize) {
        let at = i * self.width + j;
        if !self.seen[at] {
            self.seen[at] = true;
            self.stack.push((i, j));
        }
    }
}

/// How one side consumes one concrete segment: the literal it needs (`None`: any), and
/// the index it moves to.
fn step<'p>(pattern: &[Segment<'p>], i: usize) -> Option<(Option<&'p str>, usize)> {
    match pattern.get(i)? {
        Segment::Literal(l) => Some((Some(*l), i + 1)),
        Segment::Star => Some((None, i + 1)),
        // `**` takes the segment and stays (leaving it is an empty move, handled apart).
        Segment::Globstar => Some((None, i)),
    }
}

/// The product of the two patterns' automata: is the state "both fully consumed"
/// reachable?
fn intersect(a: &[Segment<'_>], b: &[Segment<'_>]) -> bool {
    let mut search = Search::new(a.len(), b.len());
    while let Some((i, j)) = search.stack.pop() {
        if i == a.len() && j == b.len() {
            return true;
        }
        // `**` may match no segment at all.
        if a.get(i) == Some(&Segment::Globstar) {
            search.push(i + 1, j);
        }
        if b.get(j) == Some(&Segment::Globstar) {
            search.push(i, j + 1);
        }
        // Both sides consume the same concrete segment.
        if let (Some((need_a, next_i)), Some((need_b, next_j))) = (step(a, i), step(b, j)) {
            let compatible = match (need_a, need_b) {
                (Some(x), Some(y)) => x == y,
                _ => true,
            };
            if compatible && (next_i, next_j) != (i, j) {
                search.push(next_i, next_j);
            }
        }
    }
    false
}

/// `inner`'s segments, read as opaque symbols, match `outer`: each literal of `outer` meets
/// the same literal, each `*` meets one literal or `*`, each `**` absorbs any run.
fn covers(outer: &[Segment<'_>], inner: &[Segment<'_>]) -> bool {
    let mut search = Search::new(outer.len(), inner.len());
    while let Some((i, j)) = search.stack.pop() {
        if i == outer.len() && j == inner.len() {
            return true;
        }
        match (outer.get(i), inner.get(j)) {
            (Some(Segment::Globstar), next) => {
                search.push(i + 1, j);
                if next.is_some() {
                    search.push(i, j + 1);
                }
            }
            (Some(Segment::Literal(x)), Some(Segment::Literal(y))) if x == y => {
                search.push(i + 1, j + 1);
            }
            (Some(Segment::Star), Some(Segment::Literal(_) | Segment::Star)) => {
                search.push(i + 1, j + 1);
            }
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::destination::matches;
    use proptest::prelude::*;

    #[test]
    fn intersections() {
        use Separator::{Dot, Slash};
        let cases = [
            ("/topic/**", "/topic/admin/**", Slash, true),
            ("/topic/*", "/topic/admin/**", Slash, true),
            ("/topic/*/secret", "/topic/admin/**", Slash, true),
            ("/**", "/topic/admin", Slash, true),
            ("/*/*", "/topic/admin", Slash, true),
            ("/*", "/topic/admin", Slash, false),
            ("/topic/news/*", "/topic/admin/**", Slash, false),
            ("/topic/a/**/z", "/topic/*/b/**", Slash, true),
            ("/topic/**/x/y", "/topic/**/y/x", Slash, false),
            ("/topic/**/x/**", "/topic/**/y/**", Slash, true),
            ("/topic/a", "/topic/a", Slash, true),
            ("/topic/a", "/topic/b", Slash, false),
            ("/queue/**", "/topic/**", Slash, false),
            ("topic.*.secret", "topic.admin.**", Dot, true),
            ("topic.**", "topic.admin.x", Dot, true),
            ("topic.news.*", "topic.admin.**", Dot, false),
            ("/topic/chat.*", "/topic/chat.x-users1", Dot, true),
        ];
        for (a, b, separator, expected) in cases {
            assert_eq!(
                patterns_intersect(a, b, separator),
                Ok(expected),
                "{a} ∩ {b}"
            );
            assert_eq!(
                patterns_intersect(b, a, separator),
                Ok(expected),
                "{b} ∩ {a}"
            );
        }
        assert_eq!(
            patterns_intersect("/topic/a*", "/topic/**", Slash),
            Err(PatternError::PartialWildcard)
        );
    }

    #[test]
    fn coverings() {
        use Separator::{Dot, Slash};
        let cases = [
            ("/topic/admin/**", "/topic/admin/*", Slash, true),
            ("/topic/admin/**", "/topic/admin", Slash, true),
            ("/topic/admin/**", "/topic/admin/**/x", Slash, true),
            ("/topic/**", "/topic/*/secret", Slash, true),
            ("/**", "/topic/**", Slash, true),
            ("/topic/*", "/topic/a", Slash, true),
            ("/topic/admin/**", "/topic/**", Slash, false),
            ("/topic/*", "/topic/**", Slash, false),
            ("/topic/a", "/topic/*", Slash, false),
            ("/topic/a", "/topic/a", Slash, true),
            ("topic.admin.**", "topic.admin.*", Dot, true),
            ("topic.admin.**", "topic.*.secret", Dot, false),
        ];
        for (outer, inner, separator, expected) in cases {
            assert_eq!(
                pattern_covers(outer, inner, separator),
                Ok(expected),
                "{inner} ⊆ {outer}"
            );
        }
    }

    fn segment() -> impl Strategy<Value = &'static str> {
        prop_oneof![Just("a"), Just("b"), Just(""), Just("*"), Just("**")]
    }

    /// Every destination of 1..=5 segments over `a`, `b`, the empty segment and `c` (a
    /// literal neither pattern names).
    fn destinations() -> Vec<String> {
        let alphabet = ["a", "b", "", "c"];
        let mut all = Vec::new();
        let mut layer: Vec<Vec<&str>> = alphabet.iter().map(|s| vec![*s]).collect();
        for _ in 0..5 {
            all.extend(layer.iter().map(|d| d.join("/")));
            layer = layer
                .iter()
                .flat_map(|d| {
                    alphabet.iter().map(move |s| {
                        let mut d = d.clone();
                        d.push(s);
                        d
                    })
                })
                .collect();
        }
        all
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn agree_with_enumeration(
            a in proptest::collection::vec(segment(), 1..4),
            b in proptest::collection::vec(segment(), 1..4),
        ) {
            let (a, b) = (a.join("/"), b.join("/"));
            let s = Separator::Slash;
            let all = destinations();
            // A common destination, if there is one, has at most 1 + 3 + 3 segments, of
            // which the enumeration holds those up to 5: enough for patterns this short,
            // since a witness never needs a `**` to take more than one segment.
            let common = all.iter().any(|d| matches(&a, d, s) && matches(&b, d, s));
            prop_assert_eq!(patterns_intersect(&a, &b, s), Ok(common), "{} ∩ {}", a, b);
            if pattern_covers(&a, &b, s) == Ok(true) {
                for d in &all {
                    prop_assert!(!matches(&b, d, s) || matches(&a, d, s), "{} ⊆ {} but {}", b, a, d);
                }
            }
        }
    }
}
