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

/// The daemon is split by reason to change; each of its files is named in the map's `daemon/`
/// row (or elsewhere as `daemon/<file>`), so a new concern gets its line.
#[test]
fn every_daemon_file_is_on_the_architecture_map() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("../docs/ARCHITECTURE.md"))
        .expect("read docs/ARCHITECTURE.md");
    let daemon_row = doc
        .lines()
        .find(|l| l.starts_with("| `daemon/` |"))
        .expect("a `daemon/` row in the module table");
    let mut files: Vec<String> = std::fs::read_dir(root.join("src/daemon"))
        .expect("list src/daemon")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".rs") && name != "mod.rs")
        .collect();
    files.sort();
    assert!(files.len() > 5, "too few daemon files: {files:?}");
    let missing: Vec<_> = files
        .iter()
        .filter(|f| {
            !daemon_row.contains(&format!("`{f}`")) && !doc.contains(&format!("`daemon/{f}`"))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "daemon files missing from docs/ARCHITECTURE.md: {missing:?}"
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
