//! The build of the workspace: the tests add no feature to a crate the functions share with them.
//! A crate built with other features is another build of it and of every crate above it, so one
//! such feature makes the functions' own debug build (cargo lambda watch, scripts/run-local)
//! compile most of the dependencies a second time after the tests' build.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use crate::support::repo_path;

/// Every crate of `cargo tree` with `args`, and the features it is built with.
fn features(args: &[&str]) -> BTreeMap<String, BTreeSet<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(repo_path(""))
        .args(["tree", "--locked", "--offline", "--prefix", "none", "--format", "{p}|{f}"])
        .args(args)
        .output()
        .expect("cargo tree runs");
    assert!(output.status.success(), "cargo tree {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    let mut crates: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in String::from_utf8(output.stdout).unwrap().lines() {
        let line = line.trim_end_matches(" (*)");
        let Some((package, features)) = line.split_once('|') else { continue };
        // `name vX.Y.Z`, without the path a workspace member carries after it.
        let package = package.split(" (").next().unwrap().to_owned();
        crates.entry(package).or_default().extend(features.split(',').filter(|f| !f.is_empty()).map(str::to_owned));
    }
    crates
}

#[test]
fn the_tests_turn_on_no_feature_of_a_crate_the_functions_are_built_from() {
    // What the functions are built from, and what `cargo test --workspace` builds.
    let functions = features(&["-p", "supplychain-delete-instance", "-e", "normal"]);
    let tests = features(&["--workspace", "-e", "normal,dev"]);
    assert!(functions.keys().any(|package| package.starts_with("aws-sdk-supplychain ")), "{functions:?}");
    let added: Vec<String> = functions
        .iter()
        .filter_map(|(package, own)| {
            let more: Vec<&String> = tests.get(package)?.difference(own).collect();
            (!more.is_empty()).then(|| format!("{package}: {more:?}"))
        })
        .collect();
    assert!(added.is_empty(), "the tests turn on features the functions lack (add them to Cargo.toml's [dependencies]): {added:#?}");
}
