//! Files only their owner may read: data directories, sealed keys, account keys, databases.
//!
//! On Unix a directory this module creates is `0700` and a file `0600` from the moment it
//! exists (never written first and restricted after); a database another program created
//! readable by others is tightened to `0600` when opened. Elsewhere the platform's defaults
//! apply.

use std::io::Write;
use std::path::Path;

/// Create `dir` (and its parents) if missing; a directory created here is the owner's alone.
/// An existing directory is left as it is: it may be the user's own (`--data-dir .`).
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)?;
    restrict(dir, 0o700)
}

/// Write `bytes` to `path`, which must not exist yet, durably and readable by its owner only:
/// a temporary file made `0600`, written, synced, then renamed into place.
pub fn write_private_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if path.exists() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!("{} exists already", path.display()),
        ));
    }
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)?;
    if let Some(parent) = path.parent()
        && let Ok(dir) = std::fs::File::open(parent)
    {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// Make the file at `path` readable and writable by its owner only, if others may read it.
pub fn restrict_file(path: &Path) -> std::io::Result<()> {
    restrict(path, 0o600)
}

#[cfg(unix)]
fn restrict(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let current = std::fs::metadata(path)?.permissions().mode() & 0o777;
    if current & 0o077 != 0 || current != mode {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn restrict(_: &Path, _: u32) -> std::io::Result<()> {
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn what_it_makes_is_the_owners_alone() {
        let root = std::env::temp_dir().join(format!("fat-private-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let dir = root.join("data");
        create_private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        let key = dir.join("keys.sealed");
        write_private_new(&key, b"secret").unwrap();
        assert_eq!(mode(&key), 0o600);
        assert_eq!(std::fs::read(&key).unwrap(), b"secret");
        // Never over an existing file.
        let err = write_private_new(&key, b"other").unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&key).unwrap(), b"secret");
        // A database someone left readable is tightened.
        let db = dir.join("store.redb");
        std::fs::write(&db, b"db").unwrap();
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
        restrict_file(&db).unwrap();
        assert_eq!(mode(&db), 0o600);
        // An existing directory is the user's: left alone.
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
        create_private_dir(&root).unwrap();
        assert_eq!(mode(&root), 0o755);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
