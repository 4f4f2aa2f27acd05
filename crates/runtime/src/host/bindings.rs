//! The bindings wasmtime generates for the contract world (`wit/`).

wasmtime::component::bindgen!({
    world: "contract",
    path: "../../wit",
    imports: { default: trappable },
    exports: { default: async },
});
