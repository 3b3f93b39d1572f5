//! Finding the programs under test (`astha`, `fake-asterisk`, `relay-sim`) in cargo's target directory.
//!
//! astha-tests never links the astha crate: it runs the real binaries as an admin would.
//! They are looked up next to the running executable (`target/debug/` for a binary,
//! `target/debug/deps/` for a test), or in `ASTHA_BIN_DIR` when set.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::HarnessError;

/// Paths of the three programs.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub astha: PathBuf,
    pub fake_asterisk: PathBuf,
    pub relay_sim: PathBuf,
}

impl Binaries {
    /// Locates all three; builds `astha` with cargo when it is missing and cargo is known
    /// (tests of this package do not build another package's binaries by themselves).
    pub fn locate() -> Result<Binaries, HarnessError> {
        let dirs = search_dirs();
        let astha = match find("astha", &dirs) {
            Ok(p) => p,
            Err(e) => {
                build_astha()?;
                find("astha", &dirs).map_err(|_| e)?
            }
        };
        Ok(Binaries {
            astha,
            fake_asterisk: find("fake-asterisk", &dirs)?,
            relay_sim: find("relay-sim", &dirs)?,
        })
    }
}

fn search_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::var_os("ASTHA_BIN_DIR") {
        dirs.push(PathBuf::from(dir));
    }
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent() {
            dirs.push(dir.to_path_buf());
            if dir.file_name().is_some_and(|n| n == "deps") {
                if let Some(up) = dir.parent() {
                    dirs.push(up.to_path_buf());
                }
            }
        }
    }
    dirs
}

fn find(name: &str, dirs: &[PathBuf]) -> Result<PathBuf, HarnessError> {
    dirs.iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| HarnessError::MissingBinary {
            name: name.to_owned(),
            searched: dirs.iter().map(|d| d.display().to_string()).collect(),
        })
}

fn build_astha() -> Result<(), HarnessError> {
    let Some(cargo) = std::env::var_os("CARGO") else {
        return Ok(());
    };
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let status = Command::new(cargo)
        .args(["build", "-p", "astha", "--bin", "astha", "--manifest-path"])
        .arg(&manifest)
        .status()
        .map_err(|source| HarnessError::Spawn {
            program: "cargo".into(),
            source,
        })?;
    if status.success() {
        Ok(())
    } else {
        Err(HarnessError::Command {
            command: "cargo build -p astha --bin astha".into(),
            status: status.to_string(),
            stderr: String::new(),
        })
    }
}
