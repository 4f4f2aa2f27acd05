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

/// Read `dir`'s cluster file: one entry per dev cluster, in order (none when there is no
/// file).
pub fn read_clusters(dir: &Path) -> Result<Vec<Known>> {
    let path = dir.join(CLUSTER_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(DevnetError::ReadClusterFile { path, source }),
    };
    let mut clusters = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let words: Vec<&str> = line.split_whitespace().collect();
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
        clusters.push(known.ok_or_else(|| DevnetError::BadClusterFile { path: path.clone() })?);
    }
    if clusters.is_empty() {
        return Err(DevnetError::BadClusterFile { path });
    }
    Ok(clusters)
}

/// Replace `dir`'s cluster file with `text`, durably (a temporary file, synced, renamed).
pub fn write_cluster(dir: &Path, text: &str) -> std::io::Result<()> {
    let path = dir.join(CLUSTER_FILE);
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, &path)
}

/// The cluster file's text for `clusters`, one line each.
pub fn clusters_text(clusters: &[Known]) -> String {
    clusters
        .iter()
        .map(|known| match known {
            Known::Created(id, n) => format!("{id} {n}\n"),
            Known::Pending(id, n) => format!("pending {id} {n}\n"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cluster_file_says_created_or_pending() {
        let dir = crate::testing::TempDir::new("dev-cluster-file");
        let dir = dir.path();
        assert_eq!(read_clusters(dir).unwrap(), vec![]);
        let (a, b) = (ClusterId([7; 32]), ClusterId([8; 32]));
        write_cluster(dir, &format!("pending {a} 2\n")).unwrap();
        assert_eq!(read_clusters(dir).unwrap(), vec![Known::Pending(a, 2)]);
        write_cluster(dir, &format!("{a} 2\n")).unwrap();
        assert_eq!(read_clusters(dir).unwrap(), vec![Known::Created(a, 2)]);
        for text in ["nonsense", "", &format!("{a} 2\n{b}\n")] {
            write_cluster(dir, text).unwrap();
            let err = read_clusters(dir).unwrap_err().to_string();
            assert!(
                err.contains("is not `[pending] <cluster> <workers>`"),
                "{text:?}: {err}"
            );
        }
        let both = [Known::Created(a, 3), Known::Pending(b, 2)];
        write_cluster(dir, &clusters_text(&both)).unwrap();
        assert_eq!(read_clusters(dir).unwrap(), both);
    }
}
