//! A segment trie of subscription patterns, walked once per published destination.

use std::collections::{HashMap, HashSet};

use super::{segments, validate_pattern, PatternError, Segment, Separator};

/// Patterns (and plain destinations) in a segment trie, each holding a value `V` (a broker
/// keeps its subscriber list there).
///
/// Matching a destination runs the trie as a nondeterministic automaton: it keeps the set
/// of trie nodes the destination's prefix has reached (the *states*) and advances all of
/// them one segment at a time, following the literal child (a hash lookup), the `*` child,
/// and the self-loop of a `**` node (a `**` child is entered without consuming a segment).
/// Each node is in the set at most once, so a match costs at most
/// `segments x live states` steps: linear in the destination's length, whatever the
/// patterns (`/a/**/**/**` included; a backtracking walk would be quadratic or worse). It
/// never scans the patterns one by one. Every value whose pattern matches is visited
/// exactly once.
#[derive(Debug)]
pub struct PatternTrie<V> {
    separator: Separator,
    root: Node<V>,
    len: usize,
}

#[derive(Debug)]
struct Node<V> {
    literal: HashMap<Box<str>, Node<V>>,
    star: Option<Box<Node<V>>>,
    globstar: Option<Box<Node<V>>>,
    value: Option<V>,
}

impl<V> Default for Node<V> {
    fn default() -> Self {
        Node {
            literal: HashMap::new(),
            star: None,
            globstar: None,
            value: None,
        }
    }
}

impl<V> Node<V> {
    fn is_empty(&self) -> bool {
        self.value.is_none()
            && self.literal.is_empty()
            && self.star.is_none()
            && self.globstar.is_none()
    }

    fn child_mut(&mut self, segment: Segment<'_>) -> Option<&mut Node<V>> {
        match segment {
            Segment::Literal(s) => self.literal.get_mut(s),
            Segment::Star => self.star.as_deref_mut(),
            Segment::Globstar => self.globstar.as_deref_mut(),
        }
    }

    fn child_or_insert(&mut self, segment: Segment<'_>) -> &mut Node<V> {
        match segment {
            Segment::Literal(s) => self.literal.entry(s.into()).or_default(),
            Segment::Star => self.star.get_or_insert_with(Box::default),
            Segment::Globstar => self.globstar.get_or_insert_with(Box::default),
        }
    }

    fn remove_child(&mut self, segment: Segment<'_>) {
        match segment {
            Segment::Literal(s) => {
                self.literal.remove(s);
            }
            Segment::Star => self.star = None,
            Segment::Globstar => self.globstar = None,
        }
    }
}

impl<V> PatternTrie<V> {
    /// An empty trie splitting on `separator`.
    pub fn new(separator: Separator) -> Self {
        PatternTrie {
            separator,
            root: Node::default(),
            len: 0,
        }
    }

    /// Number of patterns holding a value.
    pub fn len(&self) -> usize {
        self.len
    }

    /// `true` when no pattern is stored.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The value of `pattern`, inserted with `V::default()` if absent.
    pub fn entry(&mut self, pattern: &str) -> Result<&mut V, PatternError>
    where
        V: Default,
    {
        validate_pattern(pattern, self.separator)?;
        let mut node = &mut self.root;
        for segment in segments(pattern, self.separator) {
            node = node.child_or_insert(segment?);
        }
        if node.value.is_none() {
            self.len += 1;
        }
        Ok(node.value.get_or_insert_with(V::default))
    }

    /// The value of `pattern`, if stored.
    pub fn get_mut(&mut self, pattern: &str) -> Option<&mut V> {
        let mut node = &mut self.root;
        for segment in segments(pattern, self.separator) {
            node = node.child_mut(segment.ok()?)?;
        }
        node.value.as_mut()
    }

    /// Removes `pattern` and its value, pruning the nodes left empty.
    pub fn remove(&mut self, pattern: &str) -> Option<V> {
        let path: Vec<Segment<'_>> = segments(pattern, self.separator)
            .collect::<Result<_, _>>()
            .ok()?;
        let removed = remove_at(&mut self.root, &path);
        if removed.is_some() {
            self.len -= 1;
        }
        removed
    }

    /// Calls `f` once with the value of every pattern matching `destination`.
    ///
    /// Costs at most `segments x live states` steps (see the [type docs](PatternTrie)).
    pub fn for_each_match<'a>(&'a self, destination: &str, mut f: impl FnMut(&'a V)) {
        if self.len == 0 {
            return;
        }
        let mut states = States::default();
        states.enter(&self.root, false);
        let mut next = States::default();
        for segment in destination.split(self.separator.as_char()) {
            for &(node, globstar) in &states.nodes {
                if globstar {
                    // `**` eats this segment and stays.
                    next.enter(node, true);
                }
                if let Some(child) = node.literal.get(segment) {
                    next.enter(child, false);
                }
                if let Some(star) = &node.star {
                    next.enter(star, false);
                }
            }
            std::mem::swap(&mut states, &mut next);
            next.clear();
            if states.nodes.is_empty() {
                return;
            }
        }
        for (node, _) in states.nodes {
            if let Some(value) = &node.value {
                f(value);
            }
        }
    }
}

/// The set of trie nodes a destination prefix has reached, each with whether it is a `**`
/// node (which loops on every segment).
///
/// Only a `**` node can be reached twice in one step (by its own loop and from its parent
/// entering the set); every other node has one parent and one edge from it. So only `**`
/// nodes are checked for membership (a short list, or a hash set once there are many), and
/// a step costs one insertion per edge followed.
struct States<'a, V> {
    nodes: Vec<(&'a Node<V>, bool)>,
    globstars: Vec<*const Node<V>>,
    globstar_set: HashSet<*const Node<V>>,
}

/// Up to this many `**` states, membership is a scan of a list.
const GLOBSTAR_SCAN: usize = 16;

impl<V> Default for States<'_, V> {
    fn default() -> Self {
        States {
            nodes: Vec::new(),
            globstars: Vec::new(),
            globstar_set: HashSet::new(),
        }
    }
}

impl<'a, V> States<'a, V> {
    /// Adds `node` and, without consuming a segment, the `**` nodes below it.
    fn enter(&mut self, node: &'a Node<V>, globstar: bool) {
        let mut node = node;
        let mut globstar = globstar;
        loop {
            if globstar && !self.insert_globstar(node) {
                return;
            }
            self.nodes.push((node, globstar));
            match &node.globstar {
                Some(child) => {
                    node = child;
                    globstar = true;
                }
                None => return,
            }
        }
    }

    /// `false` if the `**` node is in the set already.
    fn insert_globstar(&mut self, node: &Node<V>) -> bool {
        let node = node as *const Node<V>;
        if self.globstars.len() < GLOBSTAR_SCAN {
            if self.globstars.contains(&node) {
                return false;
            }
            self.globstars.push(node);
            return true;
        }
        if self.globstar_set.is_empty() {
            self.globstar_set.extend(self.globstars.iter().copied());
        }
        self.globstar_set.insert(node)
    }

    fn clear(&mut self) {
        self.nodes.clear();
        self.globstars.clear();
        if !self.globstar_set.is_empty() {
            self.globstar_set.clear();
        }
    }
}

fn remove_at<V>(node: &mut Node<V>, path: &[Segment<'_>]) -> Option<V> {
    match path.split_first() {
        None => node.value.take(),
        Some((segment, rest)) => {
            let child = node.child_mut(*segment)?;
            let removed = remove_at(child, rest);
            if child.is_empty() {
                node.remove_child(*segment);
            }
            removed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::destination::matches;
    use proptest::prelude::*;

    fn matching(trie: &PatternTrie<String>, destination: &str) -> Vec<String> {
        let mut got = Vec::new();
        trie.for_each_match(destination, |v| got.push(v.clone()));
        got.sort();
        got
    }

    #[test]
    fn finds_every_matching_pattern_once() {
        let mut trie = PatternTrie::new(Separator::Slash);
        for p in [
            "/topic/a/b",
            "/topic/a/*",
            "/topic/**",
            "/topic/**/b",
            "/**/b/**",
            "/*/*/*",
        ] {
            *trie.entry(p).unwrap() = p.to_string();
        }
        assert_eq!(trie.len(), 6);
        assert_eq!(
            matching(&trie, "/topic/a/b"),
            [
                "/**/b/**",
                "/*/*/*",
                "/topic/**",
                "/topic/**/b",
                "/topic/a/*",
                "/topic/a/b"
            ]
        );
        assert_eq!(matching(&trie, "/topic"), ["/topic/**"]);
        assert_eq!(matching(&trie, "/queue/a"), Vec::<String>::new());
    }

    #[test]
    fn removal_prunes_and_keeps_the_others() {
        let mut trie = PatternTrie::new(Separator::Dot);
        *trie.entry("topic.a.*").unwrap() = "star".into();
        *trie.entry("topic.a.b").unwrap() = "exact".into();
        assert_eq!(trie.remove("topic.a.*").as_deref(), Some("star"));
        assert_eq!(trie.remove("topic.a.*"), None);
        assert_eq!(matching(&trie, "topic.a.b"), ["exact"]);
        assert!(trie.get_mut("topic.a.b").is_some());
        assert_eq!(trie.remove("topic.a.b").as_deref(), Some("exact"));
        assert!(trie.is_empty());
        assert!(trie.root.is_empty(), "every node pruned");
    }

    #[test]
    fn refuses_invalid_patterns() {
        let mut trie: PatternTrie<()> = PatternTrie::new(Separator::Slash);
        assert_eq!(trie.entry("/a*").err(), Some(PatternError::PartialWildcard));
        assert!(trie.is_empty());
    }

    fn segment() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("a".to_string()),
            Just("b".to_string()),
            Just(String::new()),
            Just("*".to_string()),
            Just("**".to_string()),
        ]
    }

    proptest! {
        #[test]
        fn trie_agrees_with_the_reference_matcher(
            patterns in proptest::collection::vec(proptest::collection::vec(segment(), 0..5), 1..8),
            destination in proptest::collection::vec(prop_oneof![Just("a"), Just("b"), Just("")], 0..6),
        ) {
            let destination = destination.join("/");
            let mut trie = PatternTrie::new(Separator::Slash);
            let mut expected = Vec::new();
            for p in patterns {
                let p = p.join("/");
                if trie.entry(&p).is_ok() {
                    *trie.entry(&p).unwrap() = p.clone();
                    if matches(&p, &destination, Separator::Slash) && !expected.contains(&p) {
                        expected.push(p);
                    }
                }
            }
            expected.sort();
            prop_assert_eq!(matching(&trie, &destination), expected);
        }
    }
}
