//! The bindings wasmtime generates for the contract world (`wit/`).

wasmtime::component::bindgen!({
    world: "contract",
    path: "../../wit",
    imports: {
        "fat:contract/jobs.wait-next": async | trappable,
        default: trappable,
    },
    exports: { default: async },
});
