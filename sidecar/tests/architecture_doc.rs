//! `docs/ARCHITECTURE.md` names every top-level module of the `astha` library, so the map cannot
//! silently fall behind the code.

use std::path::Path;

/// The modules `lib.rs` declares (`pub mod name;` / `mod name;`).
fn library_modules(lib_rs: &str) -> Vec<String> {
    lib_rs
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            let rest = line
                .strip_prefix("pub mod ")
                .or_else(|| line.strip_prefix("mod "))?;
            Some(rest.strip_suffix(';')?.trim().to_string())
        })
        .collect()
}

#[test]
fn every_library_module_is_on_the_architecture_map() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib_rs = std::fs::read_to_string(root.join("src/lib.rs")).expect("read src/lib.rs");
    let doc = std::fs::read_to_string(root.join("../docs/ARCHITECTURE.md"))
        .expect("read docs/ARCHITECTURE.md");
    let modules = library_modules(&lib_rs);
    assert!(
        modules.len() > 5,
        "too few modules parsed from lib.rs: {modules:?}"
    );
    let missing: Vec<_> = modules
        .iter()
        .filter(|m| {
            let as_dir = format!("`{m}/`");
            let as_file = format!("`{m}.rs`");
            !doc.contains(&as_dir) && !doc.contains(&as_file)
        })
        .collect();
    assert!(
        missing.is_empty(),
        "modules missing from docs/ARCHITECTURE.md: {missing:?}"
    );
}

#[test]
fn every_path_the_map_names_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let doc = std::fs::read_to_string(root.join("docs/ARCHITECTURE.md"))
        .expect("read docs/ARCHITECTURE.md");
    // Repository paths are written in backticks and start with a top-level folder.
    let mut checked = 0;
    for quoted in doc.split('`').skip(1).step_by(2) {
        let is_repo_path = [
            "sidecar/",
            "tests/",
            "ami-client/",
            "bench/",
            "docs/",
            "dialplan/",
        ]
        .iter()
        .any(|top| quoted.starts_with(top));
        if is_repo_path && !quoted.contains(' ') && !quoted.contains('*') {
            checked += 1;
            assert!(
                root.join(quoted).exists(),
                "docs/ARCHITECTURE.md names a missing path: {quoted}"
            );
        }
    }
    assert!(
        checked > 10,
        "only {checked} paths found in docs/ARCHITECTURE.md"
    );
}
