//! Pin each chain's genesis hash on first use of its URL.
//!
//! The file is one JSON object, `{"<rpc url>": "<genesis hash hex>"}`. A URL seen for the
//! first time is added (written to a temporary file, then renamed over the old one); a URL
//! whose chain now has another genesis is refused with [`Error::ChainChanged`].

use std::collections::BTreeMap;
use std::path::Path;

use fat_types::Hash32;

use crate::error::{Error, Result};

/// Check that the chain at `url` has genesis `genesis`, or pin it if `file` does not know
/// `url` yet (creating the file and its directories).
pub fn check(file: &Path, url: &str, genesis: &Hash32) -> Result<()> {
    let mut known = read(file)?;
    if let Some(pinned) = known.get(url) {
        let pinned_hash: Hash32 = pinned.parse().map_err(|e| corrupt(file, url, e))?;
        if pinned_hash == *genesis {
            return Ok(());
        }
        return Err(Error::ChainChanged {
            url: url.into(),
            pinned: pinned_hash.to_string(),
            found: genesis.to_string(),
            file: file.display().to_string(),
        });
    }
    known.insert(url.into(), genesis.to_string());
    write(file, &known)
}

fn corrupt(file: &Path, url: &str, error: impl std::fmt::Display) -> Error {
    Error::KnownChains {
        file: file.display().to_string(),
        message: format!(
            "the entry of {url} is not a genesis hash ({error}): fix it or remove the entry"
        ),
    }
}

fn read(file: &Path) -> Result<BTreeMap<String, String>> {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => {
            return Err(Error::KnownChains {
                file: file.display().to_string(),
                message: format!("cannot read it: {e}"),
            });
        }
    };
    serde_json::from_str(&text).map_err(|e| Error::KnownChains {
        file: file.display().to_string(),
        message: format!(
            "not a JSON object of node URLs to genesis hashes ({e}): fix it, or remove the file \
             to forget every known chain"
        ),
    })
}

fn write(file: &Path, known: &BTreeMap<String, String>) -> Result<()> {
    let failed = |e: std::io::Error| Error::KnownChains {
        file: file.display().to_string(),
        message: format!("cannot write it: {e}"),
    };
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(failed)?;
    }
    let mut text = serde_json::to_string_pretty(known).expect("a map of strings serializes");
    text.push('\n');
    let mut temp = file.as_os_str().to_owned();
    temp.push(format!(".tmp.{}", std::process::id()));
    let temp = std::path::PathBuf::from(temp);
    std::fs::write(&temp, text).map_err(failed)?;
    std::fs::rename(&temp, file).map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        failed(e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Dir(std::path::PathBuf);

    impl Dir {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir()
                .join(format!("fat-client-known-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            Self(dir)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    const URL: &str = "http://127.0.0.1:8545";

    #[test]
    fn first_use_pins_and_the_same_chain_passes() {
        let dir = Dir::new("pin");
        let file = dir.0.join("nested/known_chains.json");
        check(&file, URL, &Hash32([1; 32])).unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        let known: BTreeMap<String, String> = serde_json::from_str(&text).unwrap();
        assert_eq!(known[URL], Hash32([1; 32]).to_string());
        check(&file, URL, &Hash32([1; 32])).unwrap();
        // Another URL is pinned beside it.
        check(&file, "http://127.0.0.1:9000", &Hash32([2; 32])).unwrap();
        let known: BTreeMap<String, String> =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        assert_eq!(known.len(), 2);
        // No temporary file is left behind.
        assert_eq!(
            std::fs::read_dir(file.parent().unwrap()).unwrap().count(),
            1
        );
    }

    #[test]
    fn another_chain_at_a_known_url_is_refused() {
        let dir = Dir::new("changed");
        let file = dir.0.join("known_chains.json");
        check(&file, URL, &Hash32([1; 32])).unwrap();
        let error = check(&file, URL, &Hash32([2; 32])).unwrap_err();
        assert!(
            matches!(&error, Error::ChainChanged { url, pinned, found, .. }
                if url == URL
                    && *pinned == Hash32([1; 32]).to_string()
                    && *found == Hash32([2; 32]).to_string()),
            "{error:?}"
        );
        let message = error.to_string();
        assert!(message.contains(&file.display().to_string()), "{message}");
        assert!(
            message.contains(&format!("remove the \"{URL}\" entry")),
            "{message}"
        );
        // The pin is unchanged.
        assert!(matches!(
            check(&file, URL, &Hash32([2; 32])),
            Err(Error::ChainChanged { .. })
        ));
        check(&file, URL, &Hash32([1; 32])).unwrap();
    }

    #[test]
    fn a_corrupt_file_is_refused_clearly() {
        let dir = Dir::new("corrupt");
        std::fs::create_dir_all(&dir.0).unwrap();
        let file = dir.0.join("known_chains.json");
        std::fs::write(&file, "{not json").unwrap();
        let error = check(&file, URL, &Hash32([1; 32])).unwrap_err();
        assert!(matches!(error, Error::KnownChains { .. }), "{error:?}");
        assert!(error.to_string().contains("not a JSON object"), "{error}");
        // The file is left as it was.
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "{not json");

        std::fs::write(&file, format!(r#"{{"{URL}": "xyz"}}"#)).unwrap();
        let error = check(&file, URL, &Hash32([1; 32])).unwrap_err();
        assert!(
            error.to_string().contains("is not a genesis hash"),
            "{error}"
        );
    }
}
