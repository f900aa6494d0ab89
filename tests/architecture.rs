//! The house rules on imports, read from the sources: no import cycle between the top-level
//! modules of `src/` and the modules of `src/adapters`; nothing under `src/core` names an
//! adapter; the wall clock is read only by the clock port's adapter (`adapters::system_clock`),
//! and by the command-line tools, for which "now" is the moment the operator asked.
//! Unit-test modules (`#[cfg(test)] mod …` and `tests.rs` files) are not production imports and
//! are left out of the cycle and clock checks; the core check reads them too.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src");

/// Wall-clock reads; `Instant::now` (monotonic, for durations) is not one.
const WALL_CLOCK_READS: [&str; 7] = [
    "SystemTime::now",
    "Timestamp::now",
    "Zoned::now",
    "Utc::now",
    "Local::now",
    "OffsetDateTime::now",
    "Date::today",
];

/// Where the wall clock may be read, and why.
const CLOCK_READERS: [(&str, &str); 2] = [
    ("adapters/system_clock.rs", "the clock port's adapter"),
    ("cli/", "a command-line tool's request time"),
];

/// Every `.rs` file under `src/`, with its path relative to `src/`.
fn sources() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut paths = Vec::new();
    walk(Path::new(SRC), &mut paths);
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let relative = path
                .strip_prefix(SRC)
                .expect("under src")
                .to_string_lossy()
                .into_owned();
            (
                relative,
                std::fs::read_to_string(&path).expect("read source"),
            )
        })
        .collect()
}

/// A file of unit tests only.
fn is_test_file(relative: &str) -> bool {
    relative.ends_with("/tests.rs") || relative.ends_with("_tests.rs")
}

/// The code of a file without its comments and without its trailing `#[cfg(test)] mod …`.
fn production_code(text: &str) -> String {
    let mut code = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]")
            && lines
                .peek()
                .is_some_and(|next| next.trim_start().starts_with("mod "))
        {
            break;
        }
        if !trimmed.starts_with("//") {
            code.push_str(line);
            code.push('\n');
        }
    }
    code
}

/// The module a file belongs to for these rules: `adapters::<name>` under `src/adapters`,
/// otherwise the top-level module (`core`, `lane`, …); `None` for the crate root and binaries.
fn unit_of(relative: &str) -> Option<String> {
    let parts: Vec<&str> = relative.trim_end_matches(".rs").split('/').collect();
    match parts.as_slice() {
        ["lib"] | ["bin", ..] => None,
        ["adapters", "mod"] => Some("adapters".into()),
        ["adapters", name, ..] => Some(format!("adapters::{name}")),
        [top, ..] => Some((*top).into()),
        [] => None,
    }
}

fn identifier(text: &str) -> &str {
    let end = text
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    &text[..end]
}

/// The top-level items of a `{a, b::c, d::{e, f}}` group (the text after its `{`).
fn group_items(text: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                items.push(text[start..i].trim());
                return items;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(text[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    items
}

/// The units a path after `crate::` names: `core`, or `adapters::feed`, or several for a group.
fn units_named(path: &str) -> Vec<String> {
    if let Some(group) = path.strip_prefix('{') {
        return group_items(group)
            .into_iter()
            .flat_map(units_named)
            .collect();
    }
    let top = identifier(path);
    if top.is_empty() {
        return Vec::new();
    }
    if top != "adapters" {
        return vec![top.to_string()];
    }
    match path[top.len()..].strip_prefix("::") {
        Some(rest) if rest.starts_with('{') => group_items(&rest[1..])
            .into_iter()
            .map(|item| match identifier(item) {
                "self" | "" => "adapters".to_string(),
                name => format!("adapters::{name}"),
            })
            .collect(),
        Some(rest) if !identifier(rest).is_empty() => {
            vec![format!("adapters::{}", identifier(rest))]
        }
        _ => vec!["adapters".into()],
    }
}

/// Every unit `code` names through a `crate::` path.
fn references(code: &str) -> BTreeSet<String> {
    code.match_indices("crate::")
        .filter(|(at, _)| {
            // `checkpointd::crate::` does not exist; `$crate::` in a macro is the crate too.
            !code[..*at].ends_with(|c: char| c.is_alphanumeric() || c == '_')
        })
        .flat_map(|(at, _)| units_named(&code[at + "crate::".len()..]))
        .collect()
}

/// Unit → units it imports, with one file per edge to show.
type Graph = BTreeMap<String, BTreeMap<String, String>>;

fn import_graph() -> Graph {
    let mut graph = Graph::new();
    for (relative, text) in sources() {
        if is_test_file(&relative) {
            continue;
        }
        let Some(unit) = unit_of(&relative) else {
            continue;
        };
        let edges = graph.entry(unit.clone()).or_default();
        for target in references(&production_code(&text)) {
            if target != unit {
                edges.entry(target).or_insert_with(|| relative.clone());
            }
        }
    }
    graph
}

/// One cycle of `graph`, as the path that closes it, if there is any.
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        unit: &str,
        graph: &Graph,
        done: &mut BTreeSet<String>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|u| u == unit) {
            let mut cycle = path[at..].to_vec();
            cycle.push(unit.to_string());
            return Some(cycle);
        }
        if done.contains(unit) {
            return None;
        }
        path.push(unit.to_string());
        for target in graph.get(unit).into_iter().flat_map(BTreeMap::keys) {
            if let Some(cycle) = visit(target, graph, done, path) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(unit.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|unit| visit(unit, graph, &mut done, &mut Vec::new()))
}

#[test]
fn no_import_cycle_between_top_level_modules_and_adapters() {
    let graph = import_graph();
    assert!(
        graph.contains_key("core") && graph.contains_key("adapters::feed"),
        "the source walk found the modules: {:?}",
        graph.keys().collect::<Vec<_>>()
    );
    if let Some(cycle) = find_cycle(&graph) {
        let steps: Vec<String> = cycle
            .windows(2)
            .map(|pair| {
                format!(
                    "{} -> {} (in src/{})",
                    pair[0], pair[1], graph[&pair[0]][&pair[1]]
                )
            })
            .collect();
        panic!("import cycle:\n  {}", steps.join("\n  "));
    }
}

#[test]
fn the_core_names_no_adapter() {
    let offenders: Vec<String> = sources()
        .into_iter()
        .filter(|(relative, _)| relative.starts_with("core/"))
        .filter(|(_, text)| {
            references(&production_code_with_tests(text))
                .iter()
                .any(|u| u.starts_with("adapters"))
        })
        .map(|(relative, _)| format!("src/{relative}"))
        .collect();
    assert!(
        offenders.is_empty(),
        "the core imports adapters in {offenders:?}"
    );
}

/// Comments removed, unit tests kept: the core's tests may not use an adapter either.
fn production_code_with_tests(text: &str) -> String {
    text.lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_wall_clock_is_read_only_through_the_clock_port() {
    let mut offenders = Vec::new();
    for (relative, text) in sources() {
        if is_test_file(&relative)
            || CLOCK_READERS
                .iter()
                .any(|(allowed, _)| relative.starts_with(allowed))
        {
            continue;
        }
        let code = production_code(&text);
        for read in WALL_CLOCK_READS {
            if code.contains(read) {
                offenders.push(format!("src/{relative}: {read}"));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "wall-clock reads outside the clock port (use ports::clock::Clock; allowed: {CLOCK_READERS:?}):\n  {}",
        offenders.join("\n  ")
    );
}

#[test]
fn the_checks_see_what_they_look_for() {
    // A cycle and a group import are found, so the tests above cannot pass by reading nothing.
    let refs =
        references("use crate::adapters::{feed::Outbox, self};\nuse crate::{config, core::event};");
    assert_eq!(
        refs.into_iter().collect::<Vec<_>>(),
        ["adapters", "adapters::feed", "config", "core"]
    );
    let mut graph = Graph::new();
    graph
        .entry("a".into())
        .or_default()
        .insert("b".into(), "a.rs".into());
    graph
        .entry("b".into())
        .or_default()
        .insert("a".into(), "b.rs".into());
    assert_eq!(
        find_cycle(&graph),
        Some(vec!["a".into(), "b".into(), "a".into()])
    );
    assert!(
        production_code("fn f() {}\n#[cfg(test)]\nmod tests {\n use crate::adapters;\n}\n").trim()
            == "fn f() {}"
    );
}
