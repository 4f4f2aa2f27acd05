//! What the command engine's fuel counts of bulk memory operations: their length, not one
//! unit. Commands are bounded by fuel alone, so a `memory.copy` or `memory.fill` of 64 MiB
//! for one unit, in a loop, would stall a cluster for almost no gas. Wasmtime charges them
//! by the byte (and `memory.init`, the table operations and `memory.grow` by their size);
//! this keeps that true across upgrades of the engine.

use wasmtime::{Config, Engine, Instance, Module, Store};

#[test]
fn bulk_memory_operations_cost_fuel_by_their_length() {
    let wasm = wat::parse_str(
        r#"(module
             (memory 2)
             (func (export "copy") (param i32)
               (memory.copy (i32.const 0) (i32.const 1) (local.get 0)))
             (func (export "fill") (param i32)
               (memory.fill (i32.const 0) (i32.const 7) (local.get 0))))"#,
    )
    .unwrap();
    // The command engine's metering: fuel on, wasmtime's default costs.
    let mut config = Config::new();
    config.consume_fuel(true);
    let engine = Engine::new(&config).unwrap();
    let module = Module::new(&engine, &wasm).unwrap();
    let mut store = Store::new(&engine, ());
    store.set_fuel(u64::MAX).unwrap();
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    for name in ["copy", "fill"] {
        let f = instance
            .get_typed_func::<i32, ()>(&mut store, name)
            .unwrap();
        let mut used = |len: i32| {
            let before = store.get_fuel().unwrap();
            f.call(&mut store, len).unwrap();
            before - store.get_fuel().unwrap()
        };
        let (small, large) = (used(16), used(65_536));
        assert!(
            large - small >= 65_536 - 16,
            "{name}: {large} units for 64 KiB, {small} for 16 bytes"
        );
    }
}
