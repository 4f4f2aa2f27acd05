//! The SDK's copy of the contract world (`crates/sdk/wit/`) is the host's (`wit/`), byte for byte.
//!
//! The guest bindings are generated from the copy so that the SDK can be packaged alone; the
//! host (`crates/runtime`) is generated from the repository's `wit/`. If the two differ, a
//! contract built with the SDK may not link against the host.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// The `.wit` files directly under `dir`, by name.
fn wit_files(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "wit"))
        .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn sdk_wit_is_the_host_wit() {
    let sdk = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let guest = sdk.join("wit");
    let host = sdk.join("../../wit");
    if !host.is_dir() {
        // The SDK packaged on its own: there is no host world next to it to compare with.
        eprintln!("no {} next to the SDK; nothing to compare", host.display());
        return;
    }

    let guest_files = wit_files(&guest);
    let host_files = wit_files(&host);
    assert!(!host_files.is_empty(), "no .wit file in {}", host.display());
    let missing: Vec<_> = host_files.difference(&guest_files).collect();
    assert!(
        missing.is_empty(),
        "the SDK has no copy of {missing:?}: copy each wit/NAME to crates/sdk/wit/NAME"
    );
    let extra: Vec<_> = guest_files.difference(&host_files).collect();
    assert!(
        extra.is_empty(),
        "crates/sdk/wit/ has {extra:?}, which the host's wit/ does not: remove them, or add \
         them to wit/ (the host's world) and keep both the same"
    );
    for name in &host_files {
        let host_text = fs::read(host.join(name)).expect("read the host's wit");
        let guest_text = fs::read(guest.join(name)).expect("read the SDK's wit");
        assert!(
            host_text == guest_text,
            "crates/sdk/wit/{name} differs from wit/{name}: the SDK's contract world must be \
             the host's; copy wit/{name} to crates/sdk/wit/{name} (cp wit/{name} \
             crates/sdk/wit/{name})"
        );
    }
}
