//! The pattern trie's cost per publish stays linear in the destination's segments, even
//! for stacked `**` patterns (issue 14: a backtracking walk was quadratic).

use std::time::{Duration, Instant};

use stomp_core::destination::{PatternTrie, Separator};

/// Patterns that all match `/topic/x` followed by any number of empty segments; each has
/// two `**` (the most a pattern may hold), the shape that made the old walk quadratic.
const STACKED: [&str; 8] = [
    "/topic/x/**/**",
    "/topic/*/**/**",
    "/topic/**/**",
    "/topic/**/x/**",
    "/topic/**/*/**",
    "/topic/x/**/*/**",
    "/topic/*/**/*/**",
    "/topic/x/*/**/**",
];

/// `/topic/x` and then `/` repeated: 6 KB of empty segments.
fn deep_destination() -> String {
    format!("/topic/x{}", "/".repeat(6 * 1024))
}

fn matching(trie: &PatternTrie<String>, destination: &str) -> Vec<String> {
    let mut got = Vec::new();
    trie.for_each_match(destination, |v| got.push(v.clone()));
    got.sort();
    got
}

#[test]
fn stacked_globstars_match_a_deep_destination_once_each_and_fast() {
    let mut trie = PatternTrie::new(Separator::Slash);
    for p in STACKED {
        *trie.entry(p).unwrap() = p.to_owned();
    }
    // Patterns that share the `**` prefixes but never match: they add live states.
    for i in 0..64 {
        *trie.entry(&format!("/topic/x/**/**/n{i}")).unwrap() = format!("n{i}");
        *trie.entry(&format!("/topic/x/**/n{i}/**")).unwrap() = format!("m{i}");
    }
    let destination = deep_destination();
    let mut want: Vec<String> = STACKED.iter().map(|p| (*p).to_owned()).collect();
    want.sort();

    let start = Instant::now();
    let got = matching(&trie, &destination);
    let took = start.elapsed();
    assert_eq!(got, want);
    // Linear: ~6,000 segments x a handful of states is well under a millisecond in
    // release; the old backtracking walk took seconds (minutes in a debug build). The
    // bound is generous for a debug build on a loaded machine.
    assert!(took < Duration::from_secs(2), "match took {took:?}");
}

#[test]
fn a_deep_destination_that_matches_nothing_ends_early() {
    let mut trie = PatternTrie::new(Separator::Slash);
    *trie.entry("/topic/y/**/**").unwrap() = "y".to_owned();
    *trie.entry("/queue/*").unwrap() = "q".to_owned();
    assert!(matching(&trie, &deep_destination()).is_empty());
}

#[test]
fn many_globstar_states_are_deduplicated() {
    // More than 16 live `**` states at once: the set switches from a list to a hash set.
    let mut trie = PatternTrie::new(Separator::Slash);
    let mut want = Vec::new();
    for i in 0..40 {
        let p = format!("/**/a{i}/**");
        *trie.entry(&p).unwrap() = p.clone();
        want.push(p);
    }
    let destination: String = (0..40).map(|i| format!("/a{i}")).collect::<String>() + "/z/z";
    want.sort();
    assert_eq!(matching(&trie, &destination), want);
}
