//! What the test crates share: fresh data directories, and a man in the middle.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

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

/// A proxy on loopback to `target` (`host:port`) that replaces `real` with `forged` (of the
/// same length, so that the answers' lengths still hold) in everything the target answers:
/// someone on the path between a client and its node. Returns its URL; it serves until the
/// runtime ends. A `real` split between two reads of the answer is not replaced.
pub async fn rewriting_proxy(target: String, real: String, forged: String) -> String {
    assert_eq!(real.len(), forged.len(), "the replacement keeps the length");
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port is free");
    let url = format!("http://{}", listener.local_addr().expect("bound"));
    let (real, forged) = (Arc::new(real.into_bytes()), Arc::new(forged.into_bytes()));
    tokio::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            let Ok(outbound) = TcpStream::connect(&target).await else {
                continue;
            };
            let (mut in_read, mut in_write) = inbound.into_split();
            let (mut out_read, mut out_write) = outbound.into_split();
            tokio::spawn(async move { tokio::io::copy(&mut in_read, &mut out_write).await });
            let (real, forged) = (real.clone(), forged.clone());
            tokio::spawn(async move {
                let mut buf = vec![0u8; 1 << 20];
                loop {
                    let n = match out_read.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    let chunk = &mut buf[..n];
                    let mut i = 0;
                    while i + real.len() <= chunk.len() {
                        if chunk[i..i + real.len()] == real[..] {
                            chunk[i..i + real.len()].copy_from_slice(&forged);
                            i += real.len();
                        } else {
                            i += 1;
                        }
                    }
                    if in_write.write_all(chunk).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    url
}
