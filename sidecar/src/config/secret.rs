//! Secrets (AMI/ARI passwords, webhook tokens) read from a file or an environment variable, never printed.

use std::fmt;
use std::path::{Path, PathBuf};

use super::problem::{ProblemSeverity, Problems};
use super::reader::Section;

/// A secret value. Its `Debug` and `Display` never show the content.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for handing to the protocol that needs it. Never log the result.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Where a secret comes from, as written in the configuration (safe to show).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    File(PathBuf),
    Env(String),
}

impl fmt::Display for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::File(p) => write!(f, "file {}", p.display()),
            SecretSource::Env(v) => write!(f, "environment variable {v}"),
        }
    }
}

/// Why a secret could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot read secret file {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("environment variable {0} is not set (or not valid UTF-8)")]
    EnvMissing(String),
    #[error("the secret from {0} is empty")]
    Empty(SecretSource),
}

/// Resolves secret sources; tests substitute the environment.
pub trait SecretResolver {
    fn env(&self, name: &str) -> Option<String>;
    fn read_file(&self, path: &Path) -> std::io::Result<String> {
        std::fs::read_to_string(path)
    }
}

/// Reads real files and the real process environment.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemSecrets;

impl SecretResolver for SystemSecrets {
    fn env(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

/// Reads a secret; a trailing newline in a file (as editors and `echo` write) is not part of it.
pub fn resolve(
    source: &SecretSource,
    resolver: &dyn SecretResolver,
) -> Result<Secret, SecretError> {
    let raw = match source {
        SecretSource::File(path) => resolver.read_file(path).map_err(|e| SecretError::File {
            path: path.clone(),
            source: e,
        })?,
        SecretSource::Env(name) => resolver
            .env(name)
            .ok_or_else(|| SecretError::EnvMissing(name.clone()))?,
    };
    let value = raw.trim_end_matches(['\r', '\n']);
    if value.is_empty() {
        return Err(SecretError::Empty(source.clone()));
    }
    Ok(Secret(value.to_string()))
}

/// Whether a secret must be configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need {
    Required,
    Optional,
}

/// Reports `<name> = "..."` written inline, where only `<name>_file` / `<name>_env` are
/// accepted: configuration files are shared and shown, secrets must not be in them.
pub(crate) fn refuse_inline(s: &mut Section<'_, '_>, p: &mut Problems, name: &str) {
    if s.string(p, name).is_some() {
        s.problem_at(
            p,
            ProblemSeverity::Error,
            name,
            format!("inline secrets are not accepted: use {name}_file or {name}_env"),
        );
    }
}

/// The secret configured as `<name>_file` (relative to `base_dir`) or `<name>_env` (exactly
/// one of them), read now: a secret that cannot be read is a problem at its key. `None` when
/// absent (a problem too when `need` is `Required`) or unreadable.
pub(crate) fn read(
    s: &mut Section<'_, '_>,
    p: &mut Problems,
    name: &str,
    base_dir: &Path,
    resolver: &dyn SecretResolver,
    need: Need,
) -> Option<(Secret, SecretSource)> {
    let (file_key, env_key) = (format!("{name}_file"), format!("{name}_env"));
    let file = s.string(p, &file_key);
    let env = s.string(p, &env_key);
    let (key, source) = match (file, env) {
        (Some(_), Some(_)) => {
            s.problem_at(
                p,
                ProblemSeverity::Error,
                &env_key,
                format!("set only one of {file_key} and {env_key}"),
            );
            return None;
        }
        (Some(f), None) => {
            let path = Path::new(f.get_ref());
            let path = if path.is_absolute() {
                path.to_path_buf()
            } else {
                base_dir.join(path)
            };
            (file_key, SecretSource::File(path))
        }
        (None, Some(e)) => (env_key, SecretSource::Env(e.into_inner())),
        (None, None) => {
            if need == Need::Required {
                s.missing(p, &file_key);
            }
            return None;
        }
    };
    match resolve(&source, resolver) {
        Ok(secret) => Some((secret, source)),
        Err(e) => {
            s.problem_at(p, ProblemSeverity::Error, &key, e.to_string());
            None
        }
    }
}

/// Loads a secret directly from a file path (for `astha probe --secret-file`).
pub fn from_file(path: &Path) -> Result<Secret, SecretError> {
    resolve(&SecretSource::File(path.to_path_buf()), &SystemSecrets)
}
