//! Finding a real Asterisk install for the tests: its binary, modules and data (sounds), and what a test does without one.
//!
//! Which Asterisk, first match wins (the same order as `scripts/asterisk.sh`):
//! 1. `ASTHA_ASTERISK_BIN=/path/to/asterisk`;
//! 2. `asterisk` on `PATH`;
//! 3. a build of `scripts/asterisk.sh` in its cache (`$ASTHA_CACHE`, else
//!    `$XDG_CACHE_HOME/astha`, else `~/.cache/astha`: `asterisk-<version>-<sha>/sbin/asterisk`).
//!
//! The modules and data directories are derived from the binary's prefix (`<prefix>/lib/asterisk/modules`,
//! `<prefix>/var/lib/asterisk`, or the Debian-style `/usr/lib/<arch>/asterisk/modules` and
//! `/usr/share/asterisk`); `ASTHA_ASTERISK_MODULES_DIR` and `ASTHA_ASTERISK_DATA_DIR` override them.

use std::path::{Path, PathBuf};

/// The sounds the shipped dialplan (`dialplan/extensions_astha.conf`) plays, relative to
/// `<data>/sounds/en/`, without the format extension.
pub const SHIPPED_SOUNDS: &[&str] = &[
    "silence/1",
    "beep",
    "agent-pass",
    "auth-thankyou",
    "auth-incorrect",
    "vm-goodbye",
    // The failover's call count and confirmation (SayNumber plays digits/N for N < 21).
    "vm-sorry",
    "if-correct-press",
    "digits/0",
    "digits/1",
    "digits/2",
    "digits/3",
    "digits/4",
    "digits/5",
    "digits/6",
    "digits/7",
    "digits/8",
    "digits/9",
];

/// How to get an Asterisk, in one line (what a skipped test prints).
pub const HOW_TO_PROVIDE: &str = "set ASTHA_ASTERISK_BIN=/path/to/asterisk, put `asterisk` on PATH, or build one with scripts/asterisk.sh";

/// Set to `1` (scripts/test.sh does when `CI` is set) to fail instead of skip without an Asterisk.
pub const REQUIRE_VAR: &str = "ASTHA_REQUIRE_ASTERISK";

/// Why no usable Asterisk was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InstallError {
    #[error("no Asterisk found ({HOW_TO_PROVIDE})")]
    NotFound,
    #[error("ASTHA_ASTERISK_BIN={0} is not an executable file")]
    BadBinary(PathBuf),
    #[error("no Asterisk modules directory for {binary} (tried {tried}); set ASTHA_ASTERISK_MODULES_DIR")]
    NoModules { binary: PathBuf, tried: String },
    #[error("no Asterisk data directory with sounds/ for {binary} (tried {tried}); set ASTHA_ASTERISK_DATA_DIR")]
    NoData { binary: PathBuf, tried: String },
    #[error("{data}/sounds/en lacks {missing} (the shipped dialplan plays them): install the core sounds, or use scripts/asterisk.sh, which writes them")]
    MissingSounds { data: PathBuf, missing: String },
}

/// One Asterisk installation; several instances can run from it at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Install {
    pub binary: PathBuf,
    pub modules: PathBuf,
    /// `astdatadir`: holds `sounds/`.
    pub data: PathBuf,
}

impl Install {
    /// Finds an install as the module documentation says and checks it has what the shipped
    /// dialplan needs.
    pub fn locate() -> Result<Install, InstallError> {
        let binary = find_binary()?;
        let prefix = binary
            .parent()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("/usr"));
        let modules = pick_dir(
            "ASTHA_ASTERISK_MODULES_DIR",
            &[
                prefix.join("lib/asterisk/modules"),
                prefix.join("lib64/asterisk/modules"),
                prefix.join("lib/x86_64-linux-gnu/asterisk/modules"),
                prefix.join("lib/aarch64-linux-gnu/asterisk/modules"),
            ],
            |d| d.join("app_playback.so").is_file(),
        )
        .map_err(|tried| InstallError::NoModules {
            binary: binary.clone(),
            tried,
        })?;
        let data = pick_dir(
            "ASTHA_ASTERISK_DATA_DIR",
            &[
                prefix.join("var/lib/asterisk"),
                prefix.join("share/asterisk"),
                PathBuf::from("/var/lib/asterisk"),
                PathBuf::from("/usr/share/asterisk"),
            ],
            |d| d.join("sounds").is_dir(),
        )
        .map_err(|tried| InstallError::NoData {
            binary: binary.clone(),
            tried,
        })?;
        let missing: Vec<&str> = SHIPPED_SOUNDS
            .iter()
            .copied()
            .filter(|s| !has_sound(&data, s))
            .collect();
        if !missing.is_empty() {
            return Err(InstallError::MissingSounds {
                data,
                missing: missing.join(", "),
            });
        }
        Ok(Install {
            binary,
            modules,
            data,
        })
    }

    /// For a test that needs a real Asterisk: the install, or `None` after printing one line
    /// that says how to provide one. With `ASTHA_REQUIRE_ASTERISK=1` a missing Asterisk panics.
    pub fn for_test(test: &str) -> Option<Install> {
        match Install::locate() {
            Ok(install) => Some(install),
            Err(e) if required() => panic!("{test}: {REQUIRE_VAR}=1 but {e}"),
            Err(e) => {
                eprintln!("SKIP {test}: {e}");
                None
            }
        }
    }
}

/// Whether tests must fail rather than skip without an Asterisk.
pub fn required() -> bool {
    std::env::var(REQUIRE_VAR).is_ok_and(|v| v == "1")
}

fn find_binary() -> Result<PathBuf, InstallError> {
    if let Some(bin) = std::env::var_os("ASTHA_ASTERISK_BIN").filter(|v| !v.is_empty()) {
        let bin = PathBuf::from(bin);
        return if is_executable(&bin) {
            Ok(bin)
        } else {
            Err(InstallError::BadBinary(bin))
        };
    }
    if let Some(path) = std::env::var_os("PATH") {
        if let Some(bin) = std::env::split_paths(&path)
            .map(|d| d.join("asterisk"))
            .find(|p| is_executable(p))
        {
            return Ok(bin);
        }
    }
    cached_build().ok_or(InstallError::NotFound)
}

/// The newest complete build of scripts/asterisk.sh in its cache.
fn cached_build() -> Option<PathBuf> {
    let cache = match std::env::var_os("ASTHA_CACHE").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?
            .join("astha"),
    };
    let mut builds: Vec<PathBuf> = std::fs::read_dir(&cache)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("asterisk-"))
                && p.join(".complete").is_file()
                && is_executable(&p.join("sbin/asterisk"))
        })
        .collect();
    // asterisk-22.10.1-<sha>: the lexically last is not always the newest version, but the
    // cache normally holds one build; prefer the most recently completed.
    builds.sort_by_key(|p| {
        std::fs::metadata(p.join(".complete"))
            .and_then(|m| m.modified())
            .ok()
    });
    builds.pop().map(|p| p.join("sbin/asterisk"))
}

fn pick_dir(
    var: &str,
    candidates: &[PathBuf],
    usable: impl Fn(&Path) -> bool,
) -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os(var).filter(|v| !v.is_empty()) {
        let dir = PathBuf::from(dir);
        return if usable(&dir) {
            Ok(dir)
        } else {
            Err(format!("{var}={}", dir.display()))
        };
    }
    candidates
        .iter()
        .find(|d| usable(d))
        .cloned()
        .ok_or_else(|| {
            candidates
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        })
}

fn has_sound(data: &Path, name: &str) -> bool {
    let base = data.join("sounds/en").join(name);
    let Some(dir) = base.parent() else {
        return false;
    };
    let Some(stem) = base.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.filter_map(Result::ok).any(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_prefix(stem))
                .is_some_and(|rest| rest.starts_with('.'))
        })
    })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sound_is_found_in_any_format_and_only_by_its_full_name() {
        let dir = std::env::temp_dir().join(format!("astha-sounds-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sounds/en/silence")).unwrap();
        std::fs::write(dir.join("sounds/en/silence/1.sln"), [0u8; 4]).unwrap();
        std::fs::write(dir.join("sounds/en/beep.gsm"), [0u8; 4]).unwrap();
        std::fs::write(dir.join("sounds/en/auth-thankyou-long.gsm"), [0u8; 4]).unwrap();
        assert!(has_sound(&dir, "silence/1"));
        assert!(has_sound(&dir, "beep"));
        assert!(!has_sound(&dir, "auth-thankyou"));
        assert!(!has_sound(&dir, "agent-pass"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
