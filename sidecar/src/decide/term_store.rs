//! Durable term storage: atomic write (temp file, fsync, rename, fsync directory) and load.
//!
//! The file is text an operator can read: `term=N` and, on a second line, `active_in=N` (the
//! term this node is active in) or `active_in=none`. A restarted daemon resumes the active role
//! only in the term recorded there (see [`super::resume`]). A file of astha 0.1 has the first
//! line only and loads with [`PersistedState::legacy_format`] set. A missing file loads as term 0
//! with [`PersistedState::missing`] set (a fresh node or a lost disk: the core is safe with it
//! because it adopts any higher term it hears before taking over).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::types::PersistedState;

/// Errors reading or writing the term file.
#[derive(Debug, thiserror::Error)]
pub enum TermStoreError {
    #[error("cannot read term file {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("term file {path} is corrupt: {detail}")]
    Corrupt { path: PathBuf, detail: String },
    #[error("cannot write term file {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("the thread writing term file {path} failed: {detail}")]
    Thread { path: PathBuf, detail: String },
}

/// Where this node keeps its term.
#[derive(Debug, Clone)]
pub struct TermStore {
    path: PathBuf,
}

impl TermStore {
    pub fn new(path: impl Into<PathBuf>) -> TermStore {
        TermStore { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Read the persisted term; a missing file is term 0 with `missing` set.
    pub fn load(&self) -> Result<PersistedState, TermStoreError> {
        let text = match fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(PersistedState {
                    missing: true,
                    ..PersistedState::default()
                });
            }
            Err(source) => {
                return Err(TermStoreError::Read {
                    path: self.path.clone(),
                    source,
                })
            }
        };
        let corrupt = |detail: String| TermStoreError::Corrupt {
            path: self.path.clone(),
            detail,
        };
        let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
        let first = lines.next().unwrap_or("");
        let value = first
            .strip_prefix("term=")
            .ok_or_else(|| corrupt(format!("expected `term=N`, found {:?}", truncate(first))))?;
        let term = value
            .parse::<u64>()
            .map_err(|e| corrupt(format!("bad term {:?}: {e}", truncate(value))))?;
        let (active_in, legacy_format) = match lines.next() {
            None => (None, true),
            Some(line) => {
                let value = line.strip_prefix("active_in=").ok_or_else(|| {
                    corrupt(format!(
                        "expected `active_in=N|none`, found {:?}",
                        truncate(line)
                    ))
                })?;
                let active_in =
                    match value {
                        "none" => None,
                        n => Some(n.parse::<u64>().map_err(|e| {
                            corrupt(format!("bad active_in {:?}: {e}", truncate(n)))
                        })?),
                    };
                (active_in, false)
            }
        };
        if let Some(extra) = lines.next() {
            return Err(corrupt(format!("unexpected line {:?}", truncate(extra))));
        }
        Ok(PersistedState {
            term,
            active_in,
            missing: false,
            legacy_format,
        })
    }

    /// [`TermStore::store`] on a blocking thread, so that the caller's event loop keeps running
    /// meanwhile. The two fsyncs wait for the disk, and on a disk that other work keeps busy
    /// (stress-ng's sync and cache-drop workers) they took hundreds of ms: 261 and 726 ms on the
    /// daemon's one thread, which stopped every probe and datagram meanwhile, and 362 ms here.
    pub async fn store_off_thread(
        &self,
        term: u64,
        active_in: Option<u64>,
    ) -> Result<(), TermStoreError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.store(term, active_in))
            .await
            .unwrap_or_else(|e| {
                Err(TermStoreError::Thread {
                    path: self.path.clone(),
                    detail: e.to_string(),
                })
            })
    }

    /// Durably store `term` and the term this node is active in: after this returns Ok, a crash
    /// at any point leaves the new contents.
    pub fn store(&self, term: u64, active_in: Option<u64>) -> Result<(), TermStoreError> {
        let active_in = active_in.map_or_else(|| "none".to_string(), |t| t.to_string());
        let text = format!("term={term}\nactive_in={active_in}\n");
        write_atomic(&self.path, text.as_bytes()).map_err(|source| TermStoreError::Write {
            path: self.path.clone(),
            source,
        })
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

/// Replace `path` with `contents` atomically and durably: write a temporary file beside it, fsync
/// it, rename it over `path`, then fsync the directory so the rename itself survives a crash.
pub fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let mut tmp_name = file_name.to_os_string();
    tmp_name.push(format!(".tmp.{}", std::process::id()));
    let tmp = dir.join(tmp_name);
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        File::open(&dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    struct TempDir(PathBuf);
    impl TempDir {
        fn new(tag: &str) -> TempDir {
            let p = std::env::temp_dir().join(format!("astha-term-{tag}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&p);
            fs::create_dir_all(&p).expect("create temp dir");
            TempDir(p)
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn missing_file_loads_as_zero_and_flags_it() {
        let d = TempDir::new("missing");
        let s = TermStore::new(d.0.join("term"));
        assert_eq!(
            s.load().expect("load"),
            PersistedState {
                missing: true,
                ..PersistedState::default()
            }
        );
    }

    #[test]
    fn store_then_load_round_trips_and_overwrites() {
        let d = TempDir::new("roundtrip");
        let s = TermStore::new(d.0.join("term"));
        s.store(7, Some(7)).expect("store");
        assert_eq!(
            s.load().expect("load"),
            PersistedState {
                term: 7,
                active_in: Some(7),
                ..PersistedState::default()
            }
        );
        s.store(u64::MAX, None).expect("store");
        assert_eq!(s.load().expect("load").term, u64::MAX);
        // No temporary file is left behind.
        let names: Vec<_> = fs::read_dir(&d.0)
            .expect("readdir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("term")]);
    }

    #[test]
    fn a_file_of_astha_0_1_loads_as_legacy() {
        let d = TempDir::new("legacy");
        let path = d.0.join("term");
        fs::write(&path, "term=5\n").expect("write");
        assert_eq!(
            TermStore::new(&path).load().expect("load"),
            PersistedState {
                term: 5,
                legacy_format: true,
                ..PersistedState::default()
            }
        );
    }

    #[test]
    fn corrupt_file_is_a_clear_error() {
        let d = TempDir::new("corrupt");
        let path = d.0.join("term");
        fs::write(&path, "term=abc\n").expect("write");
        let err = TermStore::new(&path).load().expect_err("corrupt must fail");
        assert!(err.to_string().contains("corrupt"), "{err}");
        for bad in [
            "term=3\nactive_in=x\n",
            "term=3\nactive=3\n",
            "term=3\nactive_in=3\nmore\n",
        ] {
            fs::write(&path, bad).expect("write");
            assert!(TermStore::new(&path).load().is_err(), "{bad:?}");
        }
        fs::write(&path, "garbage").expect("write");
        assert!(matches!(
            TermStore::new(&path).load(),
            Err(TermStoreError::Corrupt { .. })
        ));
    }

    #[test]
    fn write_into_missing_directory_fails_cleanly() {
        let d = TempDir::new("nodir");
        let s = TermStore::new(d.0.join("no/such/dir/term"));
        assert!(matches!(
            s.store(1, None),
            Err(TermStoreError::Write { .. })
        ));
    }
}
