//! Destinations and destination patterns, and the pattern index brokers use to find the
//! subscriptions a published destination matches.
//!
//! A destination is split into segments by a [`Separator`] (`/` as in `/topic/chat/room1`, or
//! `.` as in `topic.chat.room1`, like Spring's path matcher). In a subscription pattern a
//! segment may be a wildcard:
//!
//! | segment | matches |
//! |---|---|
//! | `*` | exactly one segment (possibly empty) |
//! | `**` | any number of segments, including none (`/topic/**` matches `/topic`) |
//!
//! Patterns are also sets of destinations: [`patterns_intersect`] and [`pattern_covers`]
//! compare two of them (authorization judges a pattern SUBSCRIBE by what it could match).
//!
//! Wildcards are whole segments: `a*b` is refused, so is a pattern with more than
//! [`MAX_GLOBSTARS`] `**` segments (bounding the matching cost of peer-given patterns).
//!
//! ```
//! use stomp_core::destination::{matches, Separator};
//!
//! assert!(matches("/topic/a/*", "/topic/a/b", Separator::Slash));
//! assert!(matches("/topic/**", "/topic/a/b/c", Separator::Slash));
//! assert!(matches("topic.a.*", "topic.a.b", Separator::Dot));
//! assert!(!matches("/topic/a/*", "/topic/a/b/c", Separator::Slash));
//! ```

mod overlap;
pub(crate) mod scan;
mod trie;

pub use overlap::{pattern_covers, patterns_intersect};
pub use trie::PatternTrie;

use std::fmt;

/// Most `**` segments one pattern may hold.
pub const MAX_GLOBSTARS: usize = 2;

/// What splits a destination into segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Separator {
    /// `/`, as in `/topic/chat/room1` (the default).
    #[default]
    Slash,
    /// `.`, as in `topic.chat.room1` (Spring's `AntPathMatcher(".")`).
    Dot,
}

impl Separator {
    /// The separator character.
    pub const fn as_char(self) -> char {
        match self {
            Separator::Slash => '/',
            Separator::Dot => '.',
        }
    }
}

impl fmt::Display for Separator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_char())
    }
}

/// Why a destination or pattern is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PatternError {
    /// A segment mixes `*` with other characters (`a*b`, `***`).
    #[error("wildcards must be whole segments (`*` or `**`)")]
    PartialWildcard,
    /// More than [`MAX_GLOBSTARS`] `**` segments.
    #[error("at most {MAX_GLOBSTARS} `**` segments are allowed")]
    TooManyGlobstars,
    /// A published destination contains a wildcard.
    #[error("a destination to send to cannot contain wildcards")]
    WildcardInDestination,
}

/// One segment of a pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Segment<'a> {
    /// Matches itself only.
    Literal(&'a str),
    /// `*`: one segment.
    Star,
    /// `**`: any number of segments.
    Globstar,
}

impl<'a> Segment<'a> {
    fn parse(segment: &'a str) -> Result<Self, PatternError> {
        match segment {
            "*" => Ok(Segment::Star),
            "**" => Ok(Segment::Globstar),
            s if s.contains('*') => Err(PatternError::PartialWildcard),
            s => Ok(Segment::Literal(s)),
        }
    }
}

/// Iterates over the segments of `pattern`.
pub(crate) fn segments(
    pattern: &str,
    separator: Separator,
) -> impl Iterator<Item = Result<Segment<'_>, PatternError>> {
    pattern.split(separator.as_char()).map(Segment::parse)
}

/// `true` if `destination` holds a wildcard (and so is a pattern, not a plain destination).
pub fn is_pattern(destination: &str) -> bool {
    // `destination.contains('*')`, a word at a time.
    scan::contains_byte(destination.as_bytes(), b'*')
}

/// Checks a subscription pattern (or plain destination): wildcards are whole segments and
/// there are at most [`MAX_GLOBSTARS`] `**`.
pub fn validate_pattern(pattern: &str, separator: Separator) -> Result<(), PatternError> {
    let mut globstars = 0;
    for segment in segments(pattern, separator) {
        if segment? == Segment::Globstar {
            globstars += 1;
        }
    }
    if globstars > MAX_GLOBSTARS {
        return Err(PatternError::TooManyGlobstars);
    }
    Ok(())
}

/// Checks a destination messages are sent to: no wildcards.
pub fn validate_destination(destination: &str) -> Result<(), PatternError> {
    if is_pattern(destination) {
        return Err(PatternError::WildcardInDestination);
    }
    Ok(())
}

/// Whether `destination` matches `pattern` (a plain destination matches only itself).
///
/// This is the reference matcher, one pattern at a time; brokers use a [`PatternTrie`] to
/// match many patterns in one walk. An invalid pattern matches nothing.
pub fn matches(pattern: &str, destination: &str, separator: Separator) -> bool {
    let Ok(pattern) = segments(pattern, separator).collect::<Result<Vec<_>, _>>() else {
        return false;
    };
    let destination: Vec<&str> = destination.split(separator.as_char()).collect();
    match_segments(&pattern, &destination)
}

fn match_segments(pattern: &[Segment<'_>], destination: &[&str]) -> bool {
    match pattern.split_first() {
        None => destination.is_empty(),
        Some((Segment::Globstar, rest)) => {
            (0..=destination.len()).any(|skip| match_segments(rest, &destination[skip..]))
        }
        Some((segment, rest)) => match destination.split_first() {
            None => false,
            Some((head, tail)) => {
                let ok = match segment {
                    Segment::Literal(literal) => literal == head,
                    _ => true,
                };
                ok && match_segments(rest, tail)
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_matcher() {
        use Separator::{Dot, Slash};
        let cases = [
            ("/topic/a", "/topic/a", Slash, true),
            ("/topic/a", "/topic/b", Slash, false),
            ("/topic/a/*", "/topic/a/b", Slash, true),
            ("/topic/a/*", "/topic/a/", Slash, true),
            ("/topic/a/*", "/topic/a", Slash, false),
            ("/topic/a/*", "/topic/a/b/c", Slash, false),
            ("/topic/**", "/topic", Slash, true),
            ("/topic/**", "/topic/a/b/c", Slash, true),
            ("/topic/**", "/topics/a", Slash, false),
            ("/topic/**/z", "/topic/z", Slash, true),
            ("/topic/**/z", "/topic/a/b/z", Slash, true),
            ("/topic/**/z", "/topic/a/b/y", Slash, false),
            ("/*/a", "/topic/a", Slash, true),
            ("topic.a.*", "topic.a.b", Dot, true),
            ("topic.a.*", "topic.a.b.c", Dot, false),
            ("topic.**", "topic.a.b", Dot, true),
            ("/topic/x.*", "/topic/x.y", Dot, true),
            ("/topic/x.*", "/topic/x/y", Dot, false),
            ("/topic/a*", "/topic/ab", Slash, false),
        ];
        for (pattern, destination, separator, expected) in cases {
            assert_eq!(
                matches(pattern, destination, separator),
                expected,
                "{pattern} vs {destination} ({separator})"
            );
        }
    }

    #[test]
    fn validation() {
        let s = Separator::Slash;
        assert_eq!(validate_pattern("/topic/**/a/*", s), Ok(()));
        assert_eq!(
            validate_pattern("/topic/a*", s),
            Err(PatternError::PartialWildcard)
        );
        assert_eq!(
            validate_pattern("/topic/***", s),
            Err(PatternError::PartialWildcard)
        );
        assert_eq!(
            validate_pattern("/**/a/**/b/**", s),
            Err(PatternError::TooManyGlobstars)
        );
        assert_eq!(
            validate_destination("/topic/*"),
            Err(PatternError::WildcardInDestination)
        );
        assert_eq!(validate_destination("/topic/a"), Ok(()));
    }

    #[test]
    fn is_pattern_is_contains_star() {
        for d in [
            "",
            "*",
            "/topic/a",
            "/topic/*",
            "/topic/**",
            "/topic/a*b",
            "/topic/>",
            "/topic/#",
            "/topic/a/b/c/d/e/f/g/h/*",
            "*/topic/a/b/c/d/e/f/g/h",
            "/topic/ünïcødé",
            "/topic/日本語/*",
            "/user/queue/x-users1",
        ] {
            assert_eq!(is_pattern(d), d.contains('*'), "{d:?}");
            assert_eq!(validate_destination(d).is_err(), d.contains('*'), "{d:?}");
        }
    }
}
