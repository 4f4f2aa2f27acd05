//! Compiled code: a component validated and pre-linked for both engines.

use fat_types::CodeHash;
use fat_types::component::ComponentProblem;
use wasmtime::component::{Component, InstancePre};
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use crate::call::Mode;
use crate::engine::ModeEngine;
use crate::error::{Error, Result};
use crate::host::{ContractPre, HostState};

/// Code compiled for both engines, ready to instantiate.
pub struct Code {
    hash: CodeHash,
    command: ContractPre<HostState>,
    query: ContractPre<HostState>,
    /// Present when the component also exports `wasi:http/incoming-handler`.
    http: Option<ProxyPre<HostState>>,
}

impl Code {
    /// The hash of the code, as the chain names it.
    pub fn hash(&self) -> CodeHash {
        self.hash
    }

    /// Whether the contract serves HTTP itself (exports `wasi:http/incoming-handler`).
    pub fn serves_http(&self) -> bool {
        self.http.is_some()
    }

    /// Validate `wasm` (named `hash`) and pre-link it on both engines.
    pub(crate) fn compile(
        hash: CodeHash,
        wasm: &[u8],
        command: &ModeEngine,
        query: &ModeEngine,
    ) -> Result<Self> {
        let prepare = |mode: &ModeEngine, wasm: &[u8]| -> Result<InstancePre<HostState>> {
            let component = Component::new(&mode.engine, wasm)
                .map_err(|source| Error::InvalidCode { code: hash, source })?;
            mode.instantiate_pre(&component)
                .map_err(|source| Error::NotAContract { code: hash, source })
        };
        let contract = |pre: InstancePre<HostState>| {
            ContractPre::new(pre).map_err(|source| Error::NotAContract { code: hash, source })
        };
        // What the chain checks at upload, again: a worker does not run code that copies
        // between its own instances without gas, whatever the chain let through.
        match fat_types::component::problem(wasm) {
            None => {}
            Some(
                problem @ (ComponentProblem::NotWasm
                | ComponentProblem::CoreModule
                | ComponentProblem::Invalid(_)),
            ) => {
                return Err(Error::InvalidCode {
                    code: hash,
                    source: wasmtime::Error::new(problem),
                });
            }
            Some(problem) => {
                return Err(Error::RefusedCode {
                    code: hash,
                    problem,
                });
            }
        }
        let query = prepare(query, wasm)?;
        // Commands run the code with canonical NaNs written in (see `crate::nan`); the query
        // engine has validated it above, so what fails here is the rewrite itself.
        let canonical = crate::nan::canonicalize(wasm).map_err(|source| Error::InvalidCode {
            code: hash,
            source: wasmtime::Error::new(source).context("making NaNs canonical for commands"),
        })?;
        Ok(Self {
            hash,
            command: contract(prepare(command, &canonical)?)?,
            // Serving HTTP is optional: no export, no HTTP entry.
            http: ProxyPre::new(query.clone()).ok(),
            query: contract(query)?,
        })
    }

    /// The contract world pre-linked on the engine of `mode`.
    pub(crate) fn contract(&self, mode: Mode) -> &ContractPre<HostState> {
        match mode {
            Mode::Command => &self.command,
            Mode::Query | Mode::Job => &self.query,
        }
    }

    /// The HTTP handler, when the contract serves HTTP (on the query engine).
    pub(crate) fn http(&self) -> Option<&ProxyPre<HostState>> {
        self.http.as_ref()
    }
}

impl std::fmt::Debug for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Code").field("hash", &self.hash).finish()
    }
}
