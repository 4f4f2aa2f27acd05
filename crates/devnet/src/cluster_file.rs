//! The file in a dev network's data directory that names its dev cluster, so that a restart
//! adopts the cluster instead of creating another.

use std::path::Path;

use fat_types::ClusterId;

use crate::{DevnetError, Result};

/// The file in the data directory that names the dev cluster once it is created.
pub const CLUSTER_FILE: &str = "dev-cluster";

/// What the data directory says of the dev cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Known {
    /// Created, with this many workers.
    Created(ClusterId, usize),
    /// About to be created by a start that may have been interrupted.
    Pending(ClusterId, usize),
}

impl Known {
    /// How many workers the cluster was made of.
    pub fn workers(&self) -> usize {
        match self {
            Known::Created(_, n) | Known::Pending(_, n) => *n,
        }
    }
}

/// Read `dir`'s cluster file: `None` when there is none.
pub fn read_cluster(dir: &Path) -> Result<Option<Known>> {
    let path = dir.join(CLUSTER_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(DevnetError::ReadClusterFile { path, source }),
    };
    let words: Vec<&str> = text.split_whitespace().collect();
    let known = match words.as_slice() {
        ["pending", id, n] => id
            .parse()
            .ok()
            .zip(n.parse().ok())
            .map(|(id, n)| Known::Pending(id, n)),
        [id, n] => id
            .parse()
            .ok()
            .zip(n.parse().ok())
            .map(|(id, n)| Known::Created(id, n)),
        _ => None,
    };
    let known = known.ok_or(DevnetError::BadClusterFile { path })?;
    Ok(Some(known))
}

/// Replace `dir`'s cluster file with `text`, durably (a temporary file, synced, renamed).
pub fn write_cluster(dir: &Path, text: &str) -> std::io::Result<()> {
    let path = dir.join(CLUSTER_FILE);
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, &path)
}

/// The cluster file's text for `known`.
pub fn cluster_text(known: Known) -> String {
    match known {
        Known::Created(id, n) => format!("{id} {n}\n"),
        Known::Pending(id, n) => format!("pending {id} {n}\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cluster_file_says_created_or_pending() {
        let dir = crate::testing::TempDir::new("dev-cluster-file");
        let dir = dir.path();
        assert_eq!(read_cluster(dir).unwrap(), None);
        let id = ClusterId([7; 32]);
        write_cluster(dir, &format!("pending {id} 2\n")).unwrap();
        assert_eq!(read_cluster(dir).unwrap(), Some(Known::Pending(id, 2)));
        write_cluster(dir, &format!("{id} 2\n")).unwrap();
        assert_eq!(read_cluster(dir).unwrap(), Some(Known::Created(id, 2)));
        write_cluster(dir, "nonsense").unwrap();
        let err = read_cluster(dir).unwrap_err().to_string();
        assert!(
            err.contains("is not `[pending] <cluster> <workers>`"),
            "{err}"
        );
        for known in [Known::Pending(id, 3), Known::Created(id, 3)] {
            write_cluster(dir, &cluster_text(known)).unwrap();
            assert_eq!(read_cluster(dir).unwrap(), Some(known));
        }
    }
}
