//! The import graph runs one way: no cycle among the top-level modules of `stomp-core` or of
//! `stomp-axum` (identity types at the bottom, the engine owning its sessions, the transport
//! on top; see ARCHITECTURE.md).
//!
//! Reads the sources and collects, for every top-level module, the other top-level modules
//! its code names through `crate::…` or `super::…` paths (comments and doc links are not
//! imports and are skipped), then looks for a cycle.

#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

/// Module path of a source file relative to `src/` (`app/extract/mod.rs` -> `[app, extract]`).
fn module_path(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let file = parts.pop().unwrap();
    let stem = file.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" {
        parts.push(stem.to_owned());
    }
    parts
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Code without comments: line comments (`//`, `///`, `//!`) cut off.
fn code_of(source: &str) -> String {
    source
        .lines()
        .map(|line| match line.find("//") {
            Some(at) if !line[..at].contains('"') => &line[..at],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The identifier starting at `s` (empty when none).
fn ident(s: &str) -> &str {
    let end = s.find(|c: char| !is_ident(c)).unwrap_or(s.len());
    &s[..end]
}

/// The top-level modules named right after `crate::`, including each name of a braced
/// group (`crate::{a::X, b}`).
fn crate_targets(code: &str, out: &mut BTreeSet<String>) {
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| is_ident(c) || c == ':' || c == '$') {
            continue; // `$crate::`, `stomp_core::crate::`…
        }
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    ',' if depth == 1 => start = true,
                    c if c.is_whitespace() => {}
                    _ if start && depth == 1 => {
                        start = false;
                        out.insert(ident(&group[i..]).to_owned());
                    }
                    _ => start = false,
                }
            }
        } else {
            out.insert(ident(rest).to_owned());
        }
    }
}

/// The top-level modules named through `super::` from the module at `path`.
fn super_targets(code: &str, path: &[String], out: &mut BTreeSet<String>) {
    let mut rest = code;
    while let Some(at) = rest.find("super::") {
        let before = rest[..at].chars().next_back();
        if before.is_some_and(|c| is_ident(c) || c == ':') {
            rest = &rest[at + "super::".len()..];
            continue;
        }
        let mut ups = 0;
        rest = &rest[at..];
        while let Some(next) = rest.strip_prefix("super::") {
            ups += 1;
            rest = next;
        }
        if ups < path.len() {
            out.insert(path[0].clone()); // still inside the same top-level module
        } else {
            out.insert(ident(rest).to_owned());
        }
    }
}

fn graph_of(src: &Path) -> Graph {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut graph = Graph::new();
    for file in &files {
        let path = module_path(file.strip_prefix(src).unwrap());
        let Some(top) = path.first() else { continue }; // lib.rs
        let code = code_of(&fs::read_to_string(file).unwrap());
        let mut targets = BTreeSet::new();
        crate_targets(&code, &mut targets);
        super_targets(&code, &path, &mut targets);
        let edges = graph.entry(top.clone()).or_default();
        edges.extend(targets.into_iter().filter(|t| t != top));
    }
    let modules: BTreeSet<String> = graph.keys().cloned().collect();
    for edges in graph.values_mut() {
        edges.retain(|t| modules.contains(t));
    }
    graph
}

/// A cycle of `graph`, if there is one, as the list of modules along it.
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    fn visit(
        node: &str,
        graph: &Graph,
        marks: &mut BTreeMap<String, Mark>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match marks.get(node) {
            Some(Mark::Done) => return None,
            Some(Mark::Open) => {
                let from = stack.iter().position(|n| n == node).unwrap();
                let mut cycle = stack[from..].to_vec();
                cycle.push(node.to_owned());
                return Some(cycle);
            }
            None => {}
        }
        marks.insert(node.to_owned(), Mark::Open);
        stack.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, marks, stack) {
                return Some(cycle);
            }
        }
        stack.pop();
        marks.insert(node.to_owned(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut marks, &mut Vec::new()))
}

fn crate_src(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(name)
        .join("src")
}

fn assert_acyclic(name: &str) -> Graph {
    let graph = graph_of(&crate_src(name));
    if let Some(cycle) = find_cycle(&graph) {
        panic!(
            "{name}: import cycle {}\nfull graph: {graph:#?}",
            cycle.join(" -> ")
        );
    }
    graph
}

#[test]
fn stomp_core_top_level_modules_have_no_import_cycle() {
    let graph = assert_acyclic("stomp-core");
    // The layers the design names: identity types and frames at the bottom, the engine (which
    // owns the sessions) on top of everything else in the crate.
    for (module, edges) in &graph {
        assert!(!edges.contains("engine"), "{module} imports the engine");
    }
    assert!(graph["identity"]
        .iter()
        .all(|m| m == "version" || m == "sync"));
    assert!(
        graph["frame"].is_empty(),
        "frame imports {:?}",
        graph["frame"]
    );
    // Cluster membership is shared by the backplane and the relay, so it uses neither.
    let cluster = &graph["cluster"];
    for user in ["backplane", "relay", "engine"] {
        assert!(!cluster.contains(user), "cluster imports {user}");
    }
    assert!(graph["backplane"].contains("cluster"), "the graph was read");
    assert!(graph["engine"].contains("broker"), "the graph was read");
}

#[test]
fn stomp_axum_modules_have_no_import_cycle() {
    let graph = assert_acyclic("stomp-axum");
    assert!(graph["stomp"].contains("endpoint"), "the graph was read");
}

#[test]
fn the_checker_finds_a_cycle() {
    let mut graph = Graph::new();
    graph.insert("a".into(), ["b".into()].into());
    graph.insert("b".into(), ["c".into()].into());
    graph.insert("c".into(), ["a".into()].into());
    assert_eq!(find_cycle(&graph).unwrap(), ["a", "b", "c", "a"]);
    graph.get_mut("c").unwrap().clear();
    assert_eq!(find_cycle(&graph), None);
}

#[test]
fn the_reader_sees_grouped_and_relative_imports() {
    let mut targets = BTreeSet::new();
    crate_targets(
        "use crate::{a::X, b::{Y, Z}, c};\nlet x = crate::d::f();\n$crate::e::g",
        &mut targets,
    );
    assert_eq!(targets, ["a", "b", "c", "d"].map(String::from).into());
    let mut targets = BTreeSet::new();
    let path = ["m".to_owned(), "inner".to_owned()];
    super_targets(
        "use super::x; use super::super::other::Y;",
        &path,
        &mut targets,
    );
    assert_eq!(targets, ["m", "other"].map(String::from).into());
}
