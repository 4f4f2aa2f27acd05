//! Name the contracts the build compiles for `wasm32-wasip2`, one constant per artefact.
//!
//! The build script compiles the examples (`counter`, `http-bot`, `render`) and the test
//! contracts under `contracts/` with the workspace's `guest` profile, in a target directory
//! of their own (`target/guest`), and writes a constant per artefact holding the path of its
//! `.wasm` file. Tests read them with [`read`]. Hostile components that no compiler makes are
//! written in text under `contracts/` and read with their own function.

include!(concat!(env!("OUT_DIR"), "/programs.rs"));

/// The bytes of a built contract; panics with the path when it cannot be read.
pub fn read(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("cannot read contract {path}: {e}"))
}

/// A component that copies between its own core instances without end, each copy outside
/// gas metering (`contracts/copy-bomb.wat`): code the platform must refuse.
pub fn copy_bomb() -> Vec<u8> {
    wat::parse_str(include_str!("../contracts/copy-bomb.wat")).expect("copy-bomb.wat parses")
}
