//! Name the contracts the build compiles for `wasm32-wasip2`, one constant per artefact.
//!
//! The build script compiles the examples (`counter`, `http-bot`, `render`) and the test
//! contracts under `contracts/` with the workspace's `guest` profile, in a target directory
//! of their own (`target/guest`), and writes a constant per artefact holding the path of its
//! `.wasm` file. Tests read them with [`read`].

include!(concat!(env!("OUT_DIR"), "/programs.rs"));

/// The bytes of a built contract; panics with the path when it cannot be read.
pub fn read(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("cannot read contract {path}: {e}"))
}
