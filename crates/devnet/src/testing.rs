//! What the test crates share: fresh data directories.

use std::path::{Path, PathBuf};

/// A fresh, empty directory `fat-{name}-{pid}` under the system's temp dir (whatever was there
/// is removed); it stays after the test.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fat-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("the temp dir is writable");
    dir
}

/// A [`temp_dir`] removed on drop.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A new empty directory named after `name` and the process.
    pub fn new(name: &str) -> Self {
        Self(temp_dir(name))
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
