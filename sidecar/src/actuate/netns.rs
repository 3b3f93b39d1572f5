//! Running a closure inside another network namespace, on a short-lived thread, to create sockets that belong to it.
//!
//! Test scaffolding (the `test-support` feature, not in the release binary): it lets one test
//! process act as several hosts. A socket stays in the namespace it was created in, whichever
//! thread uses it later, so [`crate::actuate::FloatingIp::open_in_netns`] creates its netlink
//! and packet sockets on a helper thread that has joined the target namespace and then uses them
//! from the async runtime as usual. The calling thread's own namespace never changes. The daemon
//! itself runs in the namespace it acts in (`ip netns exec`, a container) and needs none of this.

use std::fs::File;
use std::path::{Path, PathBuf};

use nix::sched::{setns, CloneFlags};

#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error("cannot open network namespace {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot enter network namespace {path}: {source}")]
    Enter {
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("network namespace helper thread failed")]
    Thread,
}

/// Run `f` on a fresh thread that has joined the network namespace at `path`
/// (e.g. `/var/run/netns/x`), and return its result.
pub fn run_in_netns<T, F>(path: &Path, f: F) -> Result<T, NetnsError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let file = File::open(path).map_err(|source| NetnsError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let shown = path.to_path_buf();
    std::thread::spawn(move || {
        setns(&file, CloneFlags::CLONE_NEWNET).map_err(|source| NetnsError::Enter {
            path: shown,
            source,
        })?;
        Ok(f())
    })
    .join()
    .map_err(|_| NetnsError::Thread)?
}

/// Join the network namespace at `path` for the rest of this thread's life. For dedicated
/// threads (tests, benchmarks) that then build their own current-thread runtime.
pub fn enter_netns_for_this_thread(path: &Path) -> Result<(), NetnsError> {
    let file = File::open(path).map_err(|source| NetnsError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    setns(&file, CloneFlags::CLONE_NEWNET).map_err(|source| NetnsError::Enter {
        path: path.to_path_buf(),
        source,
    })
}
