//! The one rule of the layout (`lib.rs`): the domain depends on nothing outside it. Read
//! from the sources, so that a `use` of an adapter, an HTTP type or an SDK in `domain/`
//! fails here before it becomes a habit.

use std::path::{Path, PathBuf};

/// What the domain may not name: the other layers and the crates of the outside world.
const OUTSIDE: &[&str] = &[
    "crate::adapters",
    "crate::http",
    "crate::invocation",
    "crate::render",
    "crate::config",
    "lambda_http",
    "lambda_runtime",
    "reqwest",
    "aws_sdk",
    "aws_smithy",
    "aws_types",
    "hyper",
];

fn sources(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// The lines of `text` that name one of `OUTSIDE`, comments aside.
fn outside_names(text: &str) -> Vec<String> {
    text.lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .filter(|line| OUTSIDE.iter().any(|name| line.contains(name)))
        .map(|line| line.trim().to_owned())
        .collect()
}

#[test]
fn the_domain_names_nothing_outside_it() {
    let mut files = Vec::new();
    sources(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/domain"), &mut files);
    assert!(files.len() > 10, "the domain's sources were not found: {files:?}");
    let offences: Vec<String> = files
        .iter()
        .flat_map(|f| {
            outside_names(&std::fs::read_to_string(f).unwrap())
                .into_iter()
                .map(move |l| format!("{}: {l}", f.display()))
        })
        .collect();
    assert!(offences.is_empty(), "the domain names what is outside it:\n{}", offences.join("\n"));
}

#[test]
fn a_use_of_an_adapter_or_an_sdk_is_caught_and_a_comment_is_not() {
    assert_eq!(
        outside_names("use crate::adapters::dynamodb::TOKEN_KEY;"),
        ["use crate::adapters::dynamodb::TOKEN_KEY;"]
    );
    assert_eq!(outside_names("    let c: aws_sdk_dynamodb::Client;").len(), 1);
    assert_eq!(outside_names("fn f() -> lambda_http::Response<()> {").len(), 1);
    assert!(outside_names("// not crate::http, only a word about it\nuse crate::domain::ports::Clock;").is_empty());
}
