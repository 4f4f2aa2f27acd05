//! What code the platform accepts: a flat WebAssembly component whose every call between
//! its parts is metered.
//!
//! Gas counts the instructions of a contract's core modules and what each host call does.
//! One thing a component can do is neither: when it lowers a function it lifts itself (or one
//! a component nested in it lifts), a call goes from one of its core instances to another
//! through an adapter that copies the arguments, strings and lists of any length, from one
//! memory to the other. The adapter is the engine's code, not the contract's: a command
//! paid for one call and could copy megabytes with it, again and again, for the price of a
//! few instructions. So a contract may lower only functions it imports (the host's), its
//! nested components may hold no code (a `wasm32-wasip2` build nests small ones that only
//! import, alias and export, to give its exports their types), and it may use no built-in
//! that moves values between its own instances (streams, futures, threads: the component
//! model's async features). A contract built for `wasm32-wasip2` from one crate is such a
//! component; composing several is what this refuses.
//!
//! The chain refuses such code at upload, `fat deploy` before sending it, and a worker again
//! before it compiles code, so a component that slipped onto a chain before this check still
//! never runs. (Blocks that hold such an upload, made before, would now execute differently:
//! no chain with such history exists yet; one would need the rule to start at a height.)

use wasmparser::{
    CanonicalFunction, ComponentAlias, ComponentExternalKind, ComponentInstance, ComponentTypeRef,
    Parser, Payload, Validator, WasmFeatures,
};

/// Why uploaded code is not a contract the platform runs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ComponentProblem {
    /// Not WebAssembly at all.
    #[error("the code is not WebAssembly")]
    NotWasm,
    /// A core module: contracts are components.
    #[error("the code is a core WebAssembly module, not a component: build it for wasm32-wasip2")]
    CoreModule,
    /// The bytes do not validate as a component.
    #[error("the component does not validate: {0}")]
    Invalid(String),
    /// A component nested in the contract's that holds code of its own.
    #[error(
        "a component nested in the contract's holds code (core modules, core instances or \
         canonical functions): nested components may only import, alias and export, as the \
         ones a wasm32-wasip2 build makes to type its exports do"
    )]
    NestedCode,
    /// A lowered function that the component itself provides.
    #[error(
        "the component lowers function {func}, which it provides itself: a call between two \
         of its own core instances copies its arguments without gas, so a contract may lower \
         only functions it imports"
    )]
    LowersOwnFunction {
        /// The index of the function in the component's function index space.
        func: u32,
    },
    /// A canonical built-in that moves values between the component's own instances.
    #[error(
        "the component uses the canonical built-in `{0}`, which contracts may not (only lift, \
         lower and resource handles)"
    )]
    Builtin(&'static str),
}

/// What is wrong with `code` as a contract, if anything: it must be a component that
/// validates (with every feature the parser knows, so that the chain never refuses what a
/// worker's engine could compile; whether it compiles there is the worker's to say), nest no
/// component that holds code, and lower only what it imports (see the module's
/// documentation).
pub fn problem(code: &[u8]) -> Option<ComponentProblem> {
    if !Parser::is_component(code) {
        return Some(if Parser::is_core_wasm(code) {
            ComponentProblem::CoreModule
        } else {
            ComponentProblem::NotWasm
        });
    }
    if let Err(e) = Validator::new_with_features(WasmFeatures::all()).validate_all(code) {
        return Some(ComponentProblem::Invalid(e.to_string()));
    }
    shape(code).err()
}

/// Where an item of the component's function or instance index space comes from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// Imported, or an export of something imported: the host's.
    Host,
    /// Lifted, instantiated or bundled by the component itself.
    Own,
}

/// The rules on a component that validates: walk its function and instance index spaces in
/// order, knowing for each item whether it is the host's.
fn shape(code: &[u8]) -> Result<(), ComponentProblem> {
    let mut funcs: Vec<Origin> = Vec::new();
    let mut instances: Vec<Origin> = Vec::new();
    // The payloads of a nested core module or component follow its section, up to its own
    // end: a module's are skipped, a component's checked by `nested`.
    let mut in_module = false;
    let mut in_component = 0usize;
    for payload in Parser::new(0).parse_all(code) {
        // The code validated, so it parses.
        let payload = payload.map_err(invalid)?;
        if in_module {
            // Core modules nest nothing (the validator refuses a module section in one).
            in_module = !matches!(payload, Payload::End(_));
            continue;
        }
        if in_component > 0 {
            in_component = nested(&payload, in_component)?;
            continue;
        }
        match payload {
            Payload::ModuleSection { .. } => in_module = true,
            Payload::ComponentSection { .. } => in_component = 1,
            Payload::ComponentImportSection(section) => {
                for import in section {
                    let import = import.map_err(invalid)?;
                    match import.ty {
                        ComponentTypeRef::Func(_) => funcs.push(Origin::Host),
                        ComponentTypeRef::Instance(_) => instances.push(Origin::Host),
                        _ => {}
                    }
                }
            }
            Payload::ComponentAliasSection(section) => {
                for alias in section {
                    if let ComponentAlias::InstanceExport {
                        kind,
                        instance_index,
                        ..
                    } = alias.map_err(invalid)?
                    {
                        let origin = origin(&instances, instance_index);
                        push(kind, origin, &mut funcs, &mut instances);
                    }
                }
            }
            Payload::ComponentInstanceSection(section) => {
                for instance in section {
                    let origin = match instance.map_err(invalid)? {
                        // What a nested component exports is what it was given, or its
                        // own; an imported component is not the host's either.
                        ComponentInstance::Instantiate { .. } => Origin::Own,
                        // A bundle is the host's when all it bundles is.
                        ComponentInstance::FromExports(exports) => {
                            let own = exports.iter().any(|e| match e.kind {
                                ComponentExternalKind::Func => {
                                    origin(&funcs, e.index) == Origin::Own
                                }
                                ComponentExternalKind::Instance => {
                                    origin(&instances, e.index) == Origin::Own
                                }
                                _ => false,
                            });
                            if own { Origin::Own } else { Origin::Host }
                        }
                    };
                    instances.push(origin);
                }
            }
            Payload::ComponentExportSection(section) => {
                // An export is a new index for the item it exports.
                for export in section {
                    let export = export.map_err(invalid)?;
                    let origin = match export.kind {
                        ComponentExternalKind::Func => origin(&funcs, export.index),
                        ComponentExternalKind::Instance => origin(&instances, export.index),
                        _ => continue,
                    };
                    push(export.kind, origin, &mut funcs, &mut instances);
                }
            }
            Payload::ComponentCanonicalSection(section) => {
                for function in section {
                    match function.map_err(invalid)? {
                        CanonicalFunction::Lift { .. } => funcs.push(Origin::Own),
                        CanonicalFunction::Lower { func_index, .. } => {
                            if origin(&funcs, func_index) != Origin::Host {
                                return Err(ComponentProblem::LowersOwnFunction {
                                    func: func_index,
                                });
                            }
                        }
                        CanonicalFunction::ResourceNew { .. }
                        | CanonicalFunction::ResourceDrop { .. }
                        | CanonicalFunction::ResourceRep { .. } => {}
                        other => return Err(ComponentProblem::Builtin(builtin_name(&other))),
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Check one payload of a component nested `depth` deep, and say how deep the next one is.
/// A nested component may hold no code: with no canonical function it lowers nothing, so
/// every call between instances is at the top, where `shape` sees it; what the top gets
/// from an instance of a nested component is the component's own.
fn nested(payload: &Payload<'_>, depth: usize) -> Result<usize, ComponentProblem> {
    match payload {
        Payload::ComponentSection { .. } => Ok(depth + 1),
        Payload::End(_) => Ok(depth - 1),
        Payload::Version { .. }
        | Payload::CustomSection(_)
        | Payload::CoreTypeSection(_)
        | Payload::ComponentTypeSection(_)
        | Payload::ComponentImportSection(_)
        | Payload::ComponentExportSection(_)
        | Payload::ComponentAliasSection(_)
        | Payload::ComponentInstanceSection(_) => Ok(depth),
        _ => Err(ComponentProblem::NestedCode),
    }
}

fn invalid(e: wasmparser::BinaryReaderError) -> ComponentProblem {
    ComponentProblem::Invalid(e.to_string())
}

/// The origin of item `index`; one the code does not define is not the host's (validation
/// refuses such an index before this is asked).
fn origin(space: &[Origin], index: u32) -> Origin {
    space.get(index as usize).copied().unwrap_or(Origin::Own)
}

fn push(
    kind: ComponentExternalKind,
    origin: Origin,
    funcs: &mut Vec<Origin>,
    instances: &mut Vec<Origin>,
) {
    match kind {
        ComponentExternalKind::Func => funcs.push(origin),
        ComponentExternalKind::Instance => instances.push(origin),
        _ => {}
    }
}

/// The text-format name of a refused canonical built-in, for the error.
fn builtin_name(function: &CanonicalFunction) -> &'static str {
    use CanonicalFunction as F;
    match function {
        F::ThreadSpawnRef { .. } | F::ThreadSpawnIndirect { .. } => "thread.spawn",
        F::StreamRead { .. } => "stream.read",
        F::StreamWrite { .. } => "stream.write",
        F::FutureRead { .. } => "future.read",
        F::FutureWrite { .. } => "future.write",
        F::TaskReturn { .. } => "task.return",
        _ => "an async or thread built-in",
    }
}

#[cfg(test)]
mod tests {
    use super::{ComponentProblem, problem};

    fn component(text: &str) -> Vec<u8> {
        wat::parse_str(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    /// A core module with a memory, an allocator and a function taking a string, lifted as
    /// `take`; `$lowered` is a core function calling `$lower_target` with the memory of `$b`.
    fn with_caller(lower_target: &str, setup: &str) -> String {
        format!(
            r#"(component
              (import "host" (instance $host (export "log" (func (param "s" string)))))
              (core module $a
                (memory (export "mem") 1)
                (func (export "realloc") (param i32 i32 i32 i32) (result i32) i32.const 0)
                (func (export "take") (param i32 i32)))
              (core instance $a (instantiate $a))
              (func $take (param "s" string)
                (canon lift (core func $a "take") (memory $a "mem")
                  (realloc (func $a "realloc"))))
              {setup}
              (core module $b
                (import "a" "take" (func $take (param i32 i32)))
                (memory (export "mem") 1)
                ;; One call copies 64 KiB; a loop of them copies without end.
                (func (export "run") (loop $again
                  (call $take (i32.const 0) (i32.const 65536)) (br $again))))
              (core func $lowered (canon lower (func {lower_target}) (memory $a "mem")))
              (core instance $b (instantiate $b
                (with "a" (instance (export "take" (func $lowered))))))
              (func (export "run") (canon lift (core func $b "run")))
            )"#
        )
    }

    #[test]
    fn what_is_not_a_valid_component_is_refused() {
        assert_eq!(
            problem(b"\0asm\x0d\x00\x01\x00"),
            None,
            "the empty component"
        );
        assert_eq!(
            problem(b"\0asm\x01\x00\x00\x00"),
            Some(ComponentProblem::CoreModule)
        );
        assert_eq!(problem(b"#!/bin/sh"), Some(ComponentProblem::NotWasm));
        let mut cut = b"\0asm\x0d\x00\x01\x00".to_vec();
        cut.extend_from_slice(&[0x00, 0x10, 0x01]);
        let refused = problem(&cut).unwrap();
        assert!(
            matches!(refused, ComponentProblem::Invalid(_)),
            "{refused:?}"
        );
        assert!(refused.to_string().contains("does not validate"));
    }

    #[test]
    fn a_component_calling_itself_through_a_copying_adapter_is_refused() {
        // Directly: lower what it lifts.
        let direct = component(&with_caller("$take", ""));
        let refused = problem(&direct).unwrap();
        assert!(
            matches!(refused, ComponentProblem::LowersOwnFunction { .. }),
            "{refused:?}"
        );
        assert!(refused.to_string().contains("without gas"), "{refused}");
        // Through an export, which is a new index for the same function.
        let exported = component(&with_caller(
            "$again",
            r#"(export $again "take" (func $take))"#,
        ));
        assert!(matches!(
            problem(&exported),
            Some(ComponentProblem::LowersOwnFunction { .. })
        ));
        // Through a bundle of its own and an alias out of it, beside a host function.
        let bundled = component(&with_caller(
            "$out",
            r#"(alias export $host "log" (func $log))
               (instance $bundle (export "log" (func $log)) (export "take" (func $take)))
               (alias export $bundle "take" (func $out))"#,
        ));
        assert!(matches!(
            problem(&bundled),
            Some(ComponentProblem::LowersOwnFunction { .. })
        ));
    }

    #[test]
    fn lowering_what_the_host_provides_is_accepted() {
        // The host's function, through an alias of an imported instance, through a bundle of
        // host functions only, and lifted functions exported: what a wasm32-wasip2 build does.
        let host = component(&with_caller(
            "$out",
            r#"(alias export $host "log" (func $log))
               (instance $bundle (export "log" (func $log)))
               (alias export $bundle "log" (func $out))
               (export "take" (func $take))"#,
        ));
        assert_eq!(problem(&host), None);
        let direct = component(&with_caller(
            "$log",
            r#"(alias export $host "log" (func $log))"#,
        ));
        assert_eq!(problem(&direct), None);
    }

    #[test]
    fn nested_components_with_code_and_async_built_ins_are_refused() {
        // What a wasm32-wasip2 build nests: a component that imports a function and exports
        // it with its type. Lowering what comes out of its instance lowers the lifted one.
        let typed = with_caller(
            "$typed",
            r#"(component $typing
                 (import "f" (func $f (param "s" string)))
                 (export "f" (func $f)))
               (instance $typed_export (instantiate $typing (with "f" (func $take))))
               (alias export $typed_export "f" (func $typed))
               (alias export $host "log" (func $log))"#,
        );
        assert!(matches!(
            problem(&component(&typed)),
            Some(ComponentProblem::LowersOwnFunction { .. })
        ));
        let exported_only = typed.replace("(canon lower (func $typed)", "(canon lower (func $log)");
        assert_eq!(problem(&component(&exported_only)), None);
        for inner in [
            "(core module $m)",
            r#"(import "f" (func $f (param "s" string)))
               (core module $m (memory (export "mem") 1))
               (core instance $i (instantiate $m))
               (core func (canon lower (func $f) (memory $i "mem")))"#,
            "(component (core module $m))",
        ] {
            let nested = component(&format!("(component (component {inner}))"));
            assert_eq!(
                problem(&nested),
                Some(ComponentProblem::NestedCode),
                "{inner}"
            );
        }
        let spawn = component(
            r#"(component
                 (core func $inc (canon backpressure.inc))
               )"#,
        );
        let refused = problem(&spawn).unwrap();
        assert!(
            matches!(refused, ComponentProblem::Builtin(_)),
            "{refused:?}"
        );
    }
}
