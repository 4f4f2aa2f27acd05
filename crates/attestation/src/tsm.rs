//! The Linux configfs-tsm report interface (`/sys/kernel/config/tsm/report`), through which
//! TDX and SEV-SNP guests ask the platform for a report.
//!
//! One report: create a directory, write the 64 bytes of report data to `inblob`, check
//! `provider` names the expected TEE, read `outblob` (the quote or report) and `auxblob`
//! (SEV-SNP: the certificate table, if the host supplies it), check `generation` did not
//! move (nobody else wrote meanwhile), remove the directory.

use std::path::{Path, PathBuf};

use super::{AttestationError, Provider, Result};

/// The standard mount point of configfs-tsm reports.
pub const TSM_REPORT_DIR: &str = "/sys/kernel/config/tsm/report";

/// What configfs-tsm returned.
#[derive(Debug, Clone)]
pub struct TsmReport {
    /// The report or quote.
    pub outblob: Vec<u8>,
    /// Auxiliary data (certificates), empty when there is none.
    pub auxblob: Vec<u8>,
}

/// A configfs-tsm report directory.
#[derive(Debug, Clone)]
pub struct ConfigfsTsm {
    root: PathBuf,
}

impl Default for ConfigfsTsm {
    fn default() -> Self {
        Self::at(TSM_REPORT_DIR)
    }
}

impl ConfigfsTsm {
    /// configfs-tsm mounted at `root`.
    pub fn at(root: impl AsRef<Path>) -> Self {
        Self {
            root: root.as_ref().to_owned(),
        }
    }

    /// Ask for a report with `report_data` from the TEE named `expected` (`tdx_guest`,
    /// `sev_guest`).
    pub fn report(
        &self,
        provider: Provider,
        expected: &str,
        report_data: &[u8; 64],
    ) -> Result<TsmReport> {
        let unavailable = |reason: String| AttestationError::NotAvailable { provider, reason };
        if !self.root.is_dir() {
            return Err(unavailable(format!(
                "no configfs-tsm report interface at {}",
                self.root.display()
            )));
        }
        let dir = self
            .root
            .join(format!("fat-{}-{}", std::process::id(), unique()));
        std::fs::create_dir(&dir)
            .map_err(|e| unavailable(format!("cannot create {}: {e}", dir.display())))?;
        let result = read_report(&dir, expected, report_data).map_err(unavailable);
        let _ = std::fs::remove_dir(&dir);
        result
    }
}

fn read_report(
    dir: &Path,
    expected: &str,
    report_data: &[u8; 64],
) -> std::result::Result<TsmReport, String> {
    let read = |name: &str| std::fs::read(dir.join(name)).map_err(|e| format!("{name}: {e}"));
    let found = String::from_utf8_lossy(&read("provider")?)
        .trim()
        .to_owned();
    if found != expected {
        return Err(format!("the TEE is {found:?}, not {expected:?}"));
    }
    std::fs::write(dir.join("inblob"), report_data).map_err(|e| format!("inblob: {e}"))?;
    let generation = read("generation")?;
    let outblob = read("outblob")?;
    let auxblob = read("auxblob").unwrap_or_default();
    if read("generation")? != generation {
        return Err("the report changed while being read (concurrent writer)".to_owned());
    }
    Ok(TsmReport { outblob, auxblob })
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
