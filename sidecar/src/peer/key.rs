//! The shared peer key: loaded from a file that must exist, be private and hold at least 32 bytes.

use std::fmt;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Shortest key accepted (bytes): the HMAC-SHA256 block of security.
pub const MIN_KEY_LEN: usize = 32;

/// Why the key file was refused.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("peer key file {path} does not exist (create it with 32+ random bytes, mode 0600, same on both nodes)")]
    Missing { path: PathBuf },
    #[error("cannot read peer key file {path}: {source}")]
    Unreadable { path: PathBuf, source: io::Error },
    #[error("peer key file {path} is not a regular file")]
    NotAFile { path: PathBuf },
    #[error("peer key file {path} has mode {mode:o}: it must not be accessible by group or others (chmod 600)")]
    TooOpen { path: PathBuf, mode: u32 },
    #[error("peer key file {path} holds {len} bytes: at least {MIN_KEY_LEN} are needed")]
    TooShort { path: PathBuf, len: usize },
}

/// The shared secret. Its Debug output never shows the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct PeerKey(Vec<u8>);

impl fmt::Debug for PeerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerKey([redacted; {} bytes])", self.0.len())
    }
}

impl PeerKey {
    /// Load and check the key file. Trailing whitespace (a newline from an editor) is ignored.
    pub fn load(path: &Path) -> Result<PeerKey, KeyError> {
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(KeyError::Missing { path: path.into() })
            }
            Err(source) => {
                return Err(KeyError::Unreadable {
                    path: path.into(),
                    source,
                })
            }
        };
        if !meta.is_file() {
            return Err(KeyError::NotAFile { path: path.into() });
        }
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyError::TooOpen {
                path: path.into(),
                mode,
            });
        }
        let bytes = std::fs::read(path).map_err(|source| KeyError::Unreadable {
            path: path.into(),
            source,
        })?;
        let end = bytes
            .iter()
            .rposition(|b| !b.is_ascii_whitespace())
            .map_or(0, |i| i + 1);
        let key = PeerKey::from_bytes(bytes[..end].to_vec()).map_err(|len| KeyError::TooShort {
            path: path.into(),
            len,
        })?;
        Ok(key)
    }

    /// A key from memory (tests, fuzzing); Err(len) when shorter than [`MIN_KEY_LEN`].
    pub fn from_bytes(bytes: Vec<u8>) -> Result<PeerKey, usize> {
        if bytes.len() < MIN_KEY_LEN {
            return Err(bytes.len());
        }
        Ok(PeerKey(bytes))
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    struct TempFile(PathBuf);
    impl TempFile {
        fn new(tag: &str, contents: &[u8], mode: u32) -> TempFile {
            let p = std::env::temp_dir().join(format!("astha-key-{tag}-{}", std::process::id()));
            fs::write(&p, contents).expect("write key");
            fs::set_permissions(&p, fs::Permissions::from_mode(mode)).expect("chmod");
            TempFile(p)
        }
    }
    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = fs::remove_file(&self.0);
        }
    }

    #[test]
    fn good_key_loads_and_trailing_newline_is_ignored() {
        let f = TempFile::new("good", b"0123456789abcdef0123456789abcdef\n", 0o600);
        let key = PeerKey::load(&f.0).expect("load");
        assert_eq!(key.bytes(), b"0123456789abcdef0123456789abcdef");
    }

    #[test]
    fn missing_key_is_refused_with_a_hint() {
        let err = PeerKey::load(Path::new("/nonexistent/astha/peer.key")).expect_err("missing");
        assert!(matches!(err, KeyError::Missing { .. }));
        assert!(err.to_string().contains("does not exist"), "{err}");
    }

    #[test]
    fn short_key_is_refused() {
        let f = TempFile::new("short", b"too short\n", 0o600);
        assert!(matches!(
            PeerKey::load(&f.0),
            Err(KeyError::TooShort { len: 9, .. })
        ));
    }

    #[test]
    fn group_or_world_accessible_key_is_refused() {
        for mode in [0o644, 0o640, 0o604, 0o620] {
            let f = TempFile::new(&format!("open{mode:o}"), &[7u8; 40], mode);
            let err = PeerKey::load(&f.0).expect_err("too open");
            assert!(
                matches!(err, KeyError::TooOpen { .. }),
                "mode {mode:o}: {err}"
            );
            assert!(err.to_string().contains("chmod 600"));
        }
    }

    #[test]
    fn debug_never_shows_the_key() {
        let key =
            PeerKey::from_bytes(b"supersecret-supersecret-supersecret".to_vec()).expect("key");
        let shown = format!("{key:?}");
        assert!(!shown.contains("supersecret"), "{shown}");
        assert!(shown.contains("redacted"));
    }
}
