//! The boot epoch: a number that grows at every start of the sidecar, persisted across restarts.

use std::io;
use std::path::Path;

use crate::decide::term_store::write_atomic;

/// Pick this boot's epoch: `max(wall_ms, last epoch + 1)`, and persist it durably before use.
/// Using the wall clock keeps epochs growing even if the file is lost (as long as the clock is
/// roughly right); the file keeps them growing if the clock is wrong.
pub fn next_boot_epoch(path: &Path, wall_ms: u64) -> io::Result<u64> {
    let last = match std::fs::read_to_string(path) {
        Ok(text) => text.trim().parse::<u64>().map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("boot epoch file {} is corrupt: {e}", path.display()),
            )
        })?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
        Err(e) => return Err(e),
    };
    let epoch = wall_ms.max(last.saturating_add(1));
    write_atomic(path, format!("{epoch}\n").as_bytes())?;
    Ok(epoch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_grow_even_when_the_clock_goes_back() {
        let dir = std::env::temp_dir().join(format!("astha-epoch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        let path = dir.join("epoch");
        let e1 = next_boot_epoch(&path, 1_000).expect("first");
        assert_eq!(e1, 1_000);
        let e2 = next_boot_epoch(&path, 500).expect("clock went back");
        assert_eq!(e2, 1_001);
        let e3 = next_boot_epoch(&path, 5_000).expect("clock moved on");
        assert_eq!(e3, 5_000);
        std::fs::write(&path, "garbage").expect("corrupt");
        assert!(next_boot_epoch(&path, 6_000).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
