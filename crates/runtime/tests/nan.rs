//! Canonical NaNs written into commands' code (`fat_runtime::nan`): the same bits as
//! Cranelift's own pass, on scalars and vectors, while loads, stores and sign operations keep
//! the bits wasm says they keep.

use wasm_encoder::{
    CodeSection, ExportKind, ExportSection, Function, FunctionSection, Instruction as I, MemArg,
    MemorySection, MemoryType, Module, TypeSection, ValType,
};

const NEG_PAYLOAD_F64: u64 = 0xfff4_0000_0000_0001; // a negative signalling NaN with a payload
const NEG_PAYLOAD_F32: u32 = 0xffa0_0001;
const CANONICAL_F64: i64 = 0x7ff8_0000_0000_0000;
const CANONICAL_F32: i64 = 0x7fc0_0000;

fn f64c(bits: u64) -> I<'static> {
    I::F64Const(f64::from_bits(bits).into())
}

fn f32c(bits: u32) -> I<'static> {
    I::F32Const(f32::from_bits(bits).into())
}

fn f32x4(lanes: &[f32; 4]) -> I<'static> {
    let bytes: Vec<u8> = lanes.iter().flat_map(|l| l.to_le_bytes()).collect();
    I::V128Const(i128::from_le_bytes(bytes.try_into().unwrap()))
}

fn f64x2(lanes: &[f64; 2]) -> I<'static> {
    let bytes: Vec<u8> = lanes.iter().flat_map(|l| l.to_le_bytes()).collect();
    I::V128Const(i128::from_le_bytes(bytes.try_into().unwrap()))
}

fn num(x: f64) -> I<'static> {
    I::F64Const(x.into())
}

fn num32(x: f32) -> I<'static> {
    I::F32Const(x.into())
}

const MEM: MemArg = MemArg {
    offset: 0,
    align: 0,
    memory_index: 0,
};

/// Each case: a name, a body that leaves an `i64` of bits, and what a canonicalising engine
/// must answer (`None`: the bits must only be the same on every engine).
fn cases() -> Vec<(&'static str, Vec<I<'static>>, Option<i64>)> {
    let f64_bits = |mut body: Vec<I<'static>>| {
        body.push(I::I64ReinterpretF64);
        body
    };
    let f32_bits = |mut body: Vec<I<'static>>| {
        body.extend([I::I32ReinterpretF32, I::I64ExtendI32U]);
        body
    };
    let lane_f64 = |mut body: Vec<I<'static>>| {
        body.push(I::I64x2ExtractLane(1));
        body
    };
    let lane_f32 = |mut body: Vec<I<'static>>| {
        body.extend([I::I32x4ExtractLane(3), I::I64ExtendI32U]);
        body
    };
    // 0/0 in lane 0 of an f32x4 (the machine chooses its NaN), lane 1 is 1.0; then lane 0
    // of the vector read as i64x2, after whatever the case does to it in between.
    let lane_nan = || {
        vec![
            f32x4(&[0.0, 1.0, 0.0, 0.0]),
            f32x4(&[0.0, 1.0, 1.0, 1.0]),
            I::F32x4Div,
        ]
    };
    // That lane pair once the NaN is canonical: an ordinary f64.
    let half_nan = (0x3f80_0000u64 << 32 | CANONICAL_F32 as u64) as i64;
    let payload = || f64c(NEG_PAYLOAD_F64);
    let payload32 = || f32c(NEG_PAYLOAD_F32);
    vec![
        (
            "f64_div_zero_by_zero",
            f64_bits(vec![num(0.0), num(0.0), I::F64Div]),
            Some(CANONICAL_F64),
        ),
        (
            "f64_add_payload",
            f64_bits(vec![payload(), num(1.0), I::F64Add]),
            Some(CANONICAL_F64),
        ),
        (
            "f64_sub_infinities",
            f64_bits(vec![num(f64::INFINITY), num(f64::INFINITY), I::F64Sub]),
            Some(CANONICAL_F64),
        ),
        (
            "f64_mul_payload",
            f64_bits(vec![num(2.0), payload(), I::F64Mul]),
            Some(CANONICAL_F64),
        ),
        (
            "f64_sqrt_negative",
            f64_bits(vec![num(-1.0), I::F64Sqrt]),
            Some(CANONICAL_F64),
        ),
        (
            "f64_min_payload",
            f64_bits(vec![payload(), num(1.0), I::F64Min]),
            Some(CANONICAL_F64),
        ),
        (
            "f64_max_payload",
            f64_bits(vec![num(1.0), payload(), I::F64Max]),
            Some(CANONICAL_F64),
        ),
        (
            "f64_floor_payload",
            f64_bits(vec![payload(), I::F64Floor]),
            Some(CANONICAL_F64),
        ),
        (
            "f64_nearest_payload",
            f64_bits(vec![payload(), I::F64Nearest]),
            Some(CANONICAL_F64),
        ),
        (
            "f64_promote_payload",
            f64_bits(vec![payload32(), I::F64PromoteF32]),
            Some(CANONICAL_F64),
        ),
        (
            "f32_div_zero_by_zero",
            f32_bits(vec![num32(0.0), num32(0.0), I::F32Div]),
            Some(CANONICAL_F32),
        ),
        (
            "f32_add_payload",
            f32_bits(vec![payload32(), num32(1.0), I::F32Add]),
            Some(CANONICAL_F32),
        ),
        (
            "f32_sqrt_negative",
            f32_bits(vec![num32(-1.0), I::F32Sqrt]),
            Some(CANONICAL_F32),
        ),
        (
            "f32_demote_payload",
            f32_bits(vec![payload(), I::F32DemoteF64]),
            Some(CANONICAL_F32),
        ),
        (
            "f64x2_add_payload",
            lane_f64(vec![
                payload(),
                I::F64x2Splat,
                num(1.0),
                I::F64x2Splat,
                I::F64x2Add,
            ]),
            Some(CANONICAL_F64),
        ),
        (
            "f64x2_div_zero_by_zero",
            lane_f64(vec![
                num(0.0),
                I::F64x2Splat,
                num(0.0),
                I::F64x2Splat,
                I::F64x2Div,
            ]),
            Some(CANONICAL_F64),
        ),
        (
            "f32x4_mul_payload",
            lane_f32(vec![
                payload32(),
                I::F32x4Splat,
                num32(3.0),
                I::F32x4Splat,
                I::F32x4Mul,
            ]),
            Some(CANONICAL_F32),
        ),
        (
            "f32x4_sqrt_negative",
            lane_f32(vec![num32(-1.0), I::F32x4Splat, I::F32x4Sqrt]),
            Some(CANONICAL_F32),
        ),
        // A NaN carried through more arithmetic ends canonical (checked once, at the end)...
        (
            "f64_chain",
            f64_bits(vec![
                payload(),
                num(1.0),
                I::F64Add,
                I::LocalGet(0),
                I::F64Mul,
                num(2.0),
                I::F64Div,
                I::F64Sqrt,
            ]),
            Some(CANONICAL_F64),
        ),
        (
            "f32x4_chain",
            lane_f32(vec![
                payload32(),
                I::F32x4Splat,
                num32(1.0),
                I::F32x4Splat,
                I::F32x4Add,
                num32(2.0),
                I::F32x4Splat,
                I::F32x4Mul,
            ]),
            Some(CANONICAL_F32),
        ),
        // ...and one whose sign is flipped after it was made is canonical, then flipped.
        (
            "f64_div_then_neg",
            f64_bits(vec![num(0.0), num(0.0), I::F64Div, I::F64Neg]),
            Some((CANONICAL_F64 as u64 | 1 << 63) as i64),
        ),
        // Ordinary results are untouched.
        (
            "f64_ordinary",
            f64_bits(vec![num(1.5), num(2.25), I::F64Mul, I::F64Sqrt]),
            Some((1.5f64 * 2.25).sqrt().to_bits() as i64),
        ),
        // Sign operations and reinterpretation keep every bit, as wasm requires.
        (
            "f64_neg_keeps_bits",
            f64_bits(vec![payload(), I::F64Neg]),
            Some((NEG_PAYLOAD_F64 ^ (1 << 63)) as i64),
        ),
        (
            "f64_copysign_keeps_bits",
            f64_bits(vec![num(1.0), payload(), I::F64Copysign]),
            Some((-1.0f64).to_bits() as i64),
        ),
        (
            "f32_abs_keeps_bits",
            f32_bits(vec![payload32(), I::F32Abs]),
            Some(i64::from(NEG_PAYLOAD_F32 & 0x7fff_ffff)),
        ),
        // A payload stored as a float and read back as an integer is the same payload.
        (
            "f64_store_keeps_bits",
            vec![
                I::I32Const(8),
                payload(),
                I::F64Store(MEM),
                I::I32Const(8),
                I::I64Load(MEM),
            ],
            Some(NEG_PAYLOAD_F64 as i64),
        ),
        // A NaN computed, kept in a local, then stored: canonical by the time it lands.
        (
            "f64_computed_then_stored",
            vec![
                I::I32Const(16),
                num(0.0),
                num(0.0),
                I::F64Div,
                I::LocalSet(0),
                I::LocalGet(0),
                I::F64Store(MEM),
                I::I32Const(16),
                I::I64Load(MEM),
            ],
            Some(CANONICAL_F64),
        ),
        // Local 0 is only copied into local 1, whose bits are read: the copy is seen, so the
        // NaN must be canonical when it is written to local 0.
        (
            "f64_local_copied_then_read",
            f64_bits(vec![
                payload(),
                num(1.0),
                I::F64Add,
                I::LocalSet(0),
                I::LocalGet(0),
                I::LocalSet(1),
                I::LocalGet(1),
            ]),
            Some(CANONICAL_F64),
        ),
        // A local only read by arithmetic: canonical where the arithmetic checks it.
        (
            "f64_local_read_by_arithmetic",
            f64_bits(vec![
                payload(),
                num(1.0),
                I::F64Add,
                I::LocalSet(0),
                I::LocalGet(0),
                num(2.0),
                I::F64Mul,
            ]),
            Some(CANONICAL_F64),
        ),
        // A vector is bits: an f32x4 NaN lane read as half an f64x2 lane is an ordinary
        // number, so arithmetic or a comparison in the other shape does not make it canonical.
        (
            "f32x4_nan_read_as_f64x2_by_arithmetic",
            [
                lane_nan(),
                vec![f64x2(&[0.0, 0.0]), I::F64x2Add, I::I64x2ExtractLane(0)],
            ]
            .concat(),
            Some(half_nan),
        ),
        (
            "f32x4_nan_read_as_f64x2_by_a_comparison",
            [
                lane_nan(),
                vec![
                    I::V128Const(i128::from(half_nan)),
                    I::F64x2Eq,
                    I::I64x2ExtractLane(0),
                ],
            ]
            .concat(),
            Some(-1),
        ),
        (
            "f32x4_nan_kept_in_a_local_read_as_f64x2",
            [
                lane_nan(),
                vec![
                    I::LocalSet(2),
                    I::LocalGet(2),
                    f64x2(&[0.0, 0.0]),
                    I::F64x2Add,
                    I::I64x2ExtractLane(0),
                ],
            ]
            .concat(),
            Some(half_nan),
        ),
        // A local only compared: any NaN is unequal to itself.
        (
            "f64_local_only_compared",
            vec![
                payload(),
                num(1.0),
                I::F64Add,
                I::LocalTee(0),
                I::LocalGet(0),
                I::F64Ne,
                I::I64ExtendI32U,
            ],
            Some(1),
        ),
    ]
}

fn module() -> Vec<u8> {
    let functions: Vec<(&str, Function)> = cases()
        .into_iter()
        .map(|(name, body, _)| {
            let mut f = Function::new([(2, ValType::F64), (1, ValType::V128)]);
            for instruction in &body {
                f.instruction(instruction);
            }
            f.instruction(&I::End);
            (name, f)
        })
        .collect();
    module_of(&[ValType::I64], &functions)
}

/// A module of one memory page, exported as `memory`, and `functions` (each ended, taking
/// nothing and returning `results`), each exported under its name.
fn module_of(results: &[ValType], functions: &[(&str, Function)]) -> Vec<u8> {
    let mut module = Module::new();
    let mut types = TypeSection::new();
    types.ty().function([], results.iter().copied());
    module.section(&types);
    let mut declared = FunctionSection::new();
    for _ in functions {
        declared.function(0);
    }
    module.section(&declared);
    let mut memories = MemorySection::new();
    memories.memory(MemoryType {
        minimum: 1,
        maximum: Some(1),
        memory64: false,
        shared: false,
        page_size_log2: None,
    });
    module.section(&memories);
    let mut exports = ExportSection::new();
    for (i, (name, _)) in functions.iter().enumerate() {
        exports.export(name, ExportKind::Func, i as u32);
    }
    exports.export("memory", ExportKind::Memory, 0);
    module.section(&exports);
    let mut code = CodeSection::new();
    for (_, f) in functions {
        code.function(f);
    }
    module.section(&code);
    module.finish()
}

/// `wasm` compiled on an engine with Cranelift's own NaN pass on or off (and relaxed SIMD
/// deterministic, as the runtime has it), with a store to instantiate it in.
fn load(wasm: &[u8], cranelift: bool) -> (wasmtime::Store<()>, wasmtime::Module) {
    let mut config = wasmtime::Config::new();
    config
        .cranelift_nan_canonicalization(cranelift)
        .relaxed_simd_deterministic(true);
    let engine = wasmtime::Engine::new(&config).unwrap();
    let module = wasmtime::Module::new(&engine, wasm).unwrap();
    (wasmtime::Store::new(&engine, ()), module)
}

/// What every case answers on an engine (`cranelift`: Cranelift's own NaN pass on).
fn run(wasm: &[u8], cranelift: bool) -> Vec<i64> {
    let (mut store, module) = load(wasm, cranelift);
    let instance = wasmtime::Instance::new(&mut store, &module, &[]).unwrap();
    cases()
        .iter()
        .map(|(name, _, _)| {
            let f = instance
                .get_typed_func::<(), i64>(&mut store, name)
                .unwrap();
            f.call(&mut store, ()).unwrap()
        })
        .collect()
}

#[test]
fn rewritten_code_gives_the_bits_of_cranelifts_pass() {
    let original = module();
    let rewritten = fat_runtime::nan::canonicalize(&original).unwrap();
    assert_ne!(original, rewritten);
    assert_eq!(
        fat_runtime::nan::canonicalize(&original).unwrap(),
        rewritten,
        "the rewrite is deterministic"
    );
    let bare = run(&original, false);
    let ours = run(&rewritten, false);
    let theirs = run(&original, true);
    for (i, (name, _, want)) in cases().iter().enumerate() {
        assert_eq!(
            ours[i], theirs[i],
            "{name}: rewritten {:#x}, Cranelift {:#x}",
            ours[i], theirs[i]
        );
        if let Some(want) = want {
            assert_eq!(ours[i], *want, "{name}: {:#x}, want {want:#x}", ours[i]);
        }
    }
    // The cases mean something: on x86-64 the machine's own NaNs are not canonical.
    if cfg!(target_arch = "x86_64") {
        let differ = cases()
            .iter()
            .enumerate()
            .filter(|(i, _)| bare[*i] != ours[*i])
            .count();
        assert!(
            differ >= 10,
            "only {differ} cases differ without the rewrite"
        );
    }
}

#[test]
fn a_component_keeps_its_shape_and_every_module_is_rewritten() {
    let probe = fat_test_programs::read(fat_test_programs::PROBE);
    let rewritten = fat_runtime::nan::canonicalize(&probe).unwrap();
    assert_ne!(probe, rewritten);
    // Still a valid component with the same imports and exports.
    let engine = wasmtime::Engine::default();
    let before = wasmtime::component::Component::new(&engine, &probe).unwrap();
    let after = wasmtime::component::Component::new(&engine, &rewritten).unwrap();
    let names = |c: &wasmtime::component::Component| {
        let ty = c.component_type();
        let imports: Vec<String> = ty.imports(&engine).map(|(n, _)| n.to_string()).collect();
        let exports: Vec<String> = ty.exports(&engine).map(|(n, _)| n.to_string()).collect();
        (imports, exports)
    };
    assert_eq!(names(&before), names(&after));
    // Rewriting twice adds the checks twice but changes nothing else.
    assert!(fat_runtime::nan::canonicalize(&rewritten).unwrap().len() > rewritten.len());
}

#[test]
fn bytes_that_are_not_wasm_are_refused() {
    for bad in [
        &b""[..],
        b"\0asm",
        b"not wasm at all",
        &[0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 200],
    ] {
        assert!(fat_runtime::nan::canonicalize(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn components_nested_too_deep_are_refused() {
    // The test module at the bottom of `depth` nested components.
    let nested = |depth: usize| {
        let bottom = module();
        let mut inner = wasm_encoder::Component::new();
        inner.section(&wasm_encoder::RawSection {
            id: wasm_encoder::ComponentSectionId::CoreModule as u8,
            data: &bottom,
        });
        for _ in 0..depth {
            let mut outer = wasm_encoder::Component::new();
            outer.section(&wasm_encoder::NestedComponentSection(&inner));
            inner = outer;
        }
        inner.finish()
    };
    let shallow = nested(4);
    let rewritten = fat_runtime::nan::canonicalize(&shallow).unwrap();
    assert!(
        rewritten.len() > shallow.len(),
        "the module at the bottom was rewritten"
    );
    wasmparser::Validator::new()
        .validate_all(&rewritten)
        .unwrap();
    let deep = nested(fat_runtime::nan::MAX_NESTING + 2);
    wasmparser::Validator::new().validate_all(&deep).unwrap();
    assert!(matches!(
        fat_runtime::nan::canonicalize(&deep),
        Err(fat_runtime::nan::Error::TooDeep)
    ));
}

/// A seeded stream of bytes (SplitMix64) for `arbitrary`: the same seed, the same module.
fn seeded_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Modules with float arithmetic, scalar and vector, memory and globals, and no imports or
/// references.
/// Relaxed SIMD is left out: its NaN results are the implementation's to choose, and
/// Cranelift's pass does not check them all where the rewrite does.
fn smith_config(straight_line: bool) -> wasm_smith::Config {
    use wasm_smith::{InstructionKind as K, InstructionKinds};
    // Straight-line code (no control) keeps most calls from trapping, so more floats reach
    // the results; the other half of the modules has every kind of instruction.
    let kinds = if straight_line {
        InstructionKinds::new(&[K::Numeric, K::Vector, K::Parametric, K::Variable, K::Memory])
    } else {
        InstructionKinds::all()
    };
    wasm_smith::Config {
        allowed_instructions: kinds,
        allow_floats: true,
        canonicalize_nans: false,
        export_everything: true,
        allow_start_export: false,
        max_imports: 0,
        min_funcs: 4,
        max_funcs: 12,
        // Trapping operations are guarded, so calls run to their end and floats reach the
        // results.
        disallow_traps: true,
        max_instructions: 300,
        max_memories: 1,
        max_memory32_bytes: 2 << 16,
        max_tables: 1,
        max_table_elements: 16,
        simd_enabled: true,
        relaxed_simd_enabled: false,
        // Typed references need wasmtime's GC support, which the runtime does not build.
        reference_types_enabled: false,
        memory64_enabled: false,
        threads_enabled: false,
        gc_enabled: false,
        exceptions_enabled: false,
        tail_call_enabled: false,
        ..wasm_smith::Config::default()
    }
}

/// Arguments for `ty`, floats and vectors chosen among NaNs with payloads, signed zeros,
/// infinities and ordinary values.
fn arguments(ty: &wasmtime::FuncType, pick: &mut impl FnMut() -> u64) -> Vec<wasmtime::Val> {
    const F64S: [u64; 6] = [
        NEG_PAYLOAD_F64,
        0x7ff4_0000_0000_00ab,
        0x8000_0000_0000_0000,
        0x7ff0_0000_0000_0000,
        0x3ff8_0000_0000_0000,
        0xc000_0000_0000_0000,
    ];
    const F32S: [u32; 6] = [
        NEG_PAYLOAD_F32,
        0x7fa0_00ab,
        0x8000_0000,
        0x7f80_0000,
        0x3fc0_0000,
        0xc000_0000,
    ];
    ty.params()
        .map(|param| match param {
            wasmtime::ValType::I32 => wasmtime::Val::I32(pick() as i32),
            wasmtime::ValType::I64 => wasmtime::Val::I64(pick() as i64),
            wasmtime::ValType::F32 => wasmtime::Val::F32(F32S[pick() as usize % F32S.len()]),
            wasmtime::ValType::F64 => wasmtime::Val::F64(F64S[pick() as usize % F64S.len()]),
            wasmtime::ValType::V128 => {
                let lanes = [pick(), pick()];
                let lane = |i: u64| F64S[i as usize % F64S.len()];
                wasmtime::Val::V128(
                    (u128::from(lane(lanes[0])) | u128::from(lane(lanes[1])) << 64).into(),
                )
            }
            wasmtime::ValType::Ref(r) => wasmtime::Val::null_ref(r.heap_type()),
        })
        .collect()
}

/// Everything a run shows: each export's results (bits) or trap, then memory and globals.
fn observe(wasm: &[u8], cranelift: bool, seed: u64) -> Vec<String> {
    let (mut store, module) = load(wasm, cranelift);
    let instance = match wasmtime::Instance::new(&mut store, &module, &[]) {
        Ok(instance) => instance,
        Err(e) => return vec![format!("instantiation failed: {}", e.root_cause())],
    };
    let mut state = seed;
    let mut pick = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        state >> 11
    };
    let mut seen = Vec::new();
    let exports: Vec<(String, wasmtime::ExternType)> = module
        .exports()
        .map(|e| (e.name().to_string(), e.ty()))
        .collect();
    let show = |v: &wasmtime::Val| match v {
        wasmtime::Val::I32(x) => format!("i32 {x:#x}"),
        wasmtime::Val::I64(x) => format!("i64 {x:#x}"),
        wasmtime::Val::F32(x) => format!("f32 {x:#x}"),
        wasmtime::Val::F64(x) => format!("f64 {x:#x}"),
        wasmtime::Val::V128(x) => format!("v128 {:#x}", x.as_u128()),
        other => format!("ref null={}", other.ref_().is_none_or(|r| r.is_null())),
    };
    for (name, ty) in &exports {
        let wasmtime::ExternType::Func(ty) = ty else {
            continue;
        };
        let func = instance.get_func(&mut store, name).unwrap();
        let args = arguments(ty, &mut pick);
        let mut results = vec![wasmtime::Val::I32(0); ty.results().len()];
        seen.push(match func.call(&mut store, &args, &mut results) {
            Ok(()) => format!(
                "{name}: {}",
                results.iter().map(show).collect::<Vec<_>>().join(", ")
            ),
            Err(e) => format!("{name}: trap {:?}", e.downcast_ref::<wasmtime::Trap>()),
        });
    }
    for (name, ty) in &exports {
        match ty {
            wasmtime::ExternType::Memory(_) => {
                let memory = instance.get_memory(&mut store, name).unwrap();
                let hash = blake3::hash(memory.data(&store));
                seen.push(format!("memory {name}: {hash}"));
            }
            wasmtime::ExternType::Global(_) => {
                let global = instance.get_global(&mut store, name).unwrap();
                seen.push(format!("global {name}: {}", show(&global.get(&mut store))));
            }
            _ => {}
        }
    }
    seen
}

#[test]
fn random_modules_give_the_bits_of_cranelifts_pass() {
    let mut compared = 0;
    let mut with_floats = 0;
    for seed in 0..150u64 {
        let bytes = seeded_bytes(seed, 16 << 10);
        let mut u = arbitrary::Unstructured::new(&bytes);
        let Ok(mut module) = wasm_smith::Module::new(smith_config(seed % 2 == 0), &mut u) else {
            continue;
        };
        module.ensure_termination(2_000).unwrap();
        let wasm = module.to_bytes();
        let rewritten =
            fat_runtime::nan::canonicalize(&wasm).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        wasmparser::Validator::new()
            .validate_all(&rewritten)
            .unwrap_or_else(|e| panic!("seed {seed}: the rewrite is not valid: {e}"));
        if rewritten != wasm {
            with_floats += 1;
        }
        let theirs = observe(&wasm, true, seed);
        let ours = observe(&rewritten, false, seed);
        assert_eq!(
            ours, theirs,
            "seed {seed}: the rewrite and Cranelift's pass differ"
        );
        compared += 1;
    }
    assert!(compared >= 100, "only {compared} modules generated");
    assert!(
        with_floats >= 50,
        "only {with_floats} modules had arithmetic to check"
    );
}

/// Random straight-line float programs aimed at the rewrite's one shortcut (a value feeding
/// more arithmetic is checked there, not here): expressions mix arithmetic with operations
/// that keep bits (`neg`, `abs`, `copysign`, `local.tee`, `select`, lanes, reinterpretation),
/// over NaNs with payloads, and every result lands in memory.
struct Program {
    state: u64,
    body: Vec<I<'static>>,
}

/// f64 values the programs start from: NaNs with payloads of both signs, zeros, infinities.
const POOL_F64: [u64; 7] = [
    NEG_PAYLOAD_F64,
    0x7ff4_0000_0000_00ab,
    0xfff8_0000_0000_0000,
    0x8000_0000_0000_0000,
    0x7ff0_0000_0000_0000,
    0xfff0_0000_0000_0000,
    0x3ff8_0000_0000_0000,
];
/// The f64 locals (0..4) and the f32 ones (4..6) of a program.
const F64_LOCALS: u32 = 4;
/// The i32 local that counts a loop's turns.
const COUNTER: u32 = 6;

impl Program {
    fn next(&mut self, n: u64) -> u64 {
        self.state = self
            .state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.state >> 33) % n
    }

    fn emit(&mut self, i: I<'static>) {
        self.body.push(i);
    }

    /// Emit one of `ops`, chosen at random.
    fn emit_one_of(&mut self, ops: &[I<'static>]) {
        let op = ops[self.next(ops.len() as u64) as usize].clone();
        self.emit(op);
    }

    fn f64(&mut self, depth: u32) {
        let leaf = depth == 0 || self.next(4) == 0;
        if leaf {
            match self.next(4) {
                0 => {
                    let bits = POOL_F64[self.next(POOL_F64.len() as u64) as usize];
                    self.emit(f64c(bits));
                }
                1 => {
                    let local = self.next(u64::from(F64_LOCALS)) as u32;
                    self.emit(I::LocalGet(local));
                }
                2 => {
                    let bits = POOL_F64[self.next(POOL_F64.len() as u64) as usize];
                    self.emit(I::I64Const(bits as i64));
                    self.emit(I::F64ReinterpretI64);
                }
                _ => {
                    let value = 8 * self.next(8) as i32;
                    self.emit(I::I32Const(value));
                    self.emit(I::F64Load(MEM));
                }
            }
            return;
        }
        match self.next(10) {
            9 => {
                // The lesser of two values, chosen by a comparison of copies kept in locals.
                let (a, b) = (self.next(2) as u32, 2 + self.next(2) as u32);
                self.f64(depth - 1);
                self.emit(I::LocalTee(a));
                self.f64(depth - 1);
                self.emit(I::LocalTee(b));
                self.emit(I::LocalGet(a));
                self.emit(I::LocalGet(b));
                let ops = [I::F64Lt, I::F64Ge, I::F64Eq, I::F64Ne];
                self.emit_one_of(&ops);
                self.emit(I::Select);
            }
            0 | 1 => {
                self.f64(depth - 1);
                self.f64(depth - 1);
                let ops = [
                    I::F64Add,
                    I::F64Sub,
                    I::F64Mul,
                    I::F64Div,
                    I::F64Min,
                    I::F64Max,
                    I::F64Copysign,
                ];
                self.emit_one_of(&ops);
            }
            2 => {
                self.f64(depth - 1);
                let ops = [
                    I::F64Sqrt,
                    I::F64Ceil,
                    I::F64Floor,
                    I::F64Trunc,
                    I::F64Nearest,
                    I::F64Neg,
                    I::F64Abs,
                ];
                self.emit_one_of(&ops);
            }
            3 => {
                self.f64(depth - 1);
                let local = self.next(u64::from(F64_LOCALS)) as u32;
                self.emit(I::LocalTee(local));
            }
            4 => {
                self.f64(depth - 1);
                self.f64(depth - 1);
                let value = self.next(2) as i32;
                self.emit(I::I32Const(value));
                self.emit(I::Select);
            }
            5 => {
                self.f32(depth - 1);
                self.emit(I::F64PromoteF32);
            }
            6 => {
                self.f64x2(depth - 1);
                let value = self.next(2) as u8;
                self.emit(I::F64x2ExtractLane(value));
            }
            7 => {
                self.f64(depth - 1);
                self.emit(I::I64ReinterpretF64);
                self.emit(I::F64ReinterpretI64);
            }
            _ => {
                self.f64(depth - 1);
                self.f64(depth - 1);
                self.emit(I::F64Add);
                self.f64(depth - 1);
                self.emit(I::F64Mul);
            }
        }
    }

    fn f32(&mut self, depth: u32) {
        if depth == 0 || self.next(3) == 0 {
            if self.next(2) == 0 {
                let value = F64_LOCALS + self.next(2) as u32;
                self.emit(I::LocalGet(value));
            } else {
                self.f64(0);
                self.emit(I::F32DemoteF64);
            }
            return;
        }
        match self.next(4) {
            0 => {
                self.f32(depth - 1);
                self.f32(depth - 1);
                let ops = [I::F32Add, I::F32Mul, I::F32Div, I::F32Min, I::F32Copysign];
                self.emit_one_of(&ops);
            }
            1 => {
                self.f32(depth - 1);
                let ops = [I::F32Sqrt, I::F32Neg, I::F32Nearest, I::F32Abs];
                self.emit_one_of(&ops);
            }
            2 => {
                self.f32(depth - 1);
                let value = F64_LOCALS + self.next(2) as u32;
                self.emit(I::LocalTee(value));
            }
            _ => {
                self.f64(depth - 1);
                self.emit(I::F32DemoteF64);
            }
        }
    }

    fn f64x2(&mut self, depth: u32) {
        if depth == 0 || self.next(3) == 0 {
            self.f64(0);
            self.emit(I::F64x2Splat);
            return;
        }
        match self.next(6) {
            5 => {
                // f32x4 arithmetic whose lanes are then read as f64x2: a NaN lane there is
                // half of an ordinary number.
                self.f32(depth - 1);
                self.emit(I::F32x4Splat);
                self.f32(depth - 1);
                self.emit(I::F32x4Splat);
                let ops = [I::F32x4Div, I::F32x4Add, I::F32x4Mul, I::F32x4Max];
                self.emit_one_of(&ops);
            }
            0 | 1 => {
                self.f64x2(depth - 1);
                self.f64x2(depth - 1);
                let ops = [
                    I::F64x2Add,
                    I::F64x2Mul,
                    I::F64x2Div,
                    I::F64x2Min,
                    I::F64x2Max,
                    I::F64x2Sub,
                ];
                self.emit_one_of(&ops);
            }
            2 => {
                self.f64x2(depth - 1);
                let ops = [I::F64x2Sqrt, I::F64x2Neg, I::F64x2Floor, I::F64x2Abs];
                self.emit_one_of(&ops);
            }
            3 => {
                self.f64x2(depth - 1);
                self.f64(depth - 1);
                let value = self.next(2) as u8;
                self.emit(I::F64x2ReplaceLane(value));
            }
            _ => {
                self.f32(depth - 1);
                self.emit(I::F32x4Splat);
                self.emit(I::F64x2PromoteLowF32x4);
            }
        }
    }

    /// A module whose `run` stores `statements` random results in memory.
    fn module(seed: u64, statements: u32) -> Vec<u8> {
        let mut p = Program {
            state: seed,
            body: Vec::new(),
        };
        // Locals start as values of the pool; memory's first 64 bytes too.
        for local in 0..F64_LOCALS {
            let bits = POOL_F64[p.next(POOL_F64.len() as u64) as usize];
            p.emit(f64c(bits));
            p.emit(I::LocalSet(local));
        }
        for local in F64_LOCALS..F64_LOCALS + 2 {
            let sign = (p.next(2) as u32) << 31;
            p.emit(f32c(NEG_PAYLOAD_F32 ^ sign));
            p.emit(I::LocalSet(local));
        }
        for slot in 0..8 {
            let bits = POOL_F64[p.next(POOL_F64.len() as u64) as usize];
            p.emit(I::I32Const(8 * slot));
            p.emit(I::I64Const(bits as i64));
            p.emit(I::I64Store(MEM));
        }
        for n in 0..statements {
            let at = 64 + 16 * n as i32;
            // Statements that store nothing here: a local written or copied, a value dropped,
            // a loop.
            match p.next(9) {
                3 => {
                    let from = p.next(u64::from(F64_LOCALS)) as u32;
                    let to = p.next(u64::from(F64_LOCALS)) as u32;
                    p.emit(I::LocalGet(from));
                    p.emit(I::LocalSet(to));
                    continue;
                }
                0 => {
                    p.f64(4);
                    let local = p.next(u64::from(F64_LOCALS)) as u32;
                    p.emit(I::LocalSet(local));
                    continue;
                }
                1 => {
                    p.f64(3);
                    p.emit(I::Drop);
                    continue;
                }
                2 => {
                    // Three turns of `local = local op expression`, for one or two locals.
                    p.emit(I::I32Const(3));
                    p.emit(I::LocalSet(COUNTER));
                    p.emit(I::Loop(wasm_encoder::BlockType::Empty));
                    for _ in 0..1 + p.next(2) {
                        let local = p.next(u64::from(F64_LOCALS)) as u32;
                        p.emit(I::LocalGet(local));
                        p.f64(2);
                        let ops = [I::F64Mul, I::F64Add, I::F64Div, I::F64Max];
                        p.emit_one_of(&ops);
                        p.emit(I::LocalSet(local));
                    }
                    p.emit(I::LocalGet(COUNTER));
                    p.emit(I::I32Const(1));
                    p.emit(I::I32Sub);
                    p.emit(I::LocalTee(COUNTER));
                    p.emit(I::BrIf(0));
                    p.emit(I::End);
                    continue;
                }
                _ => {}
            }
            p.emit(I::I32Const(at));
            match p.next(6) {
                4 => {
                    // Blind to a NaN's bits: a comparison, a saturating conversion.
                    p.f64(4);
                    p.f64(3);
                    let ops = [I::F64Lt, I::F64Gt, I::F64Le, I::F64Ne];
                    p.emit_one_of(&ops);
                    p.emit(I::I32Store(MEM));
                }
                5 => {
                    p.f64(5);
                    p.emit(I::I64TruncSatF64S);
                    p.emit(I::I64Store(MEM));
                }
                0 => {
                    p.f64x2(4);
                    p.emit(I::V128Store(MEM));
                }
                1 => {
                    p.f32(4);
                    p.emit(I::F32Store(MEM));
                }
                2 => {
                    p.f64(5);
                    p.emit(I::I64ReinterpretF64);
                    p.emit(I::I64Store(MEM));
                }
                _ => {
                    p.f64(5);
                    p.emit(I::F64Store(MEM));
                }
            }
        }
        // And the locals, as they end: stored as they are, or through arithmetic (then a
        // local whose every read is arithmetic or a comparison need not be checked when it is
        // written).
        for local in 0..F64_LOCALS {
            p.emit(I::I32Const(8 * local as i32));
            p.emit(I::LocalGet(local));
            if p.next(2) == 0 {
                p.emit(num(1.0));
                p.emit(I::F64Mul);
            }
            p.emit(I::F64Store(MEM));
        }

        let mut run = Function::new([
            (F64_LOCALS, ValType::F64),
            (2, ValType::F32),
            (1, ValType::I32),
        ]);
        for instruction in &p.body {
            run.instruction(instruction);
        }
        run.instruction(&I::End);
        module_of(&[], &[("run", run)])
    }
}

/// The memory a program leaves.
fn memory_after(wasm: &[u8], cranelift: bool) -> Vec<u8> {
    let (mut store, module) = load(wasm, cranelift);
    let instance = wasmtime::Instance::new(&mut store, &module, &[]).unwrap();
    let run = instance
        .get_typed_func::<(), ()>(&mut store, "run")
        .unwrap();
    run.call(&mut store, ()).unwrap();
    let memory = instance.get_memory(&mut store, "memory").unwrap();
    memory.data(&store)[..64 + 16 * 24].to_vec()
}

#[test]
fn random_float_programs_give_the_bits_of_cranelifts_pass() {
    let mut differ_bare = 0;
    for seed in 0..1000u64 {
        let wasm = Program::module(seed, 4 + (seed % 21) as u32);
        let rewritten = fat_runtime::nan::canonicalize(&wasm).unwrap();
        let theirs = memory_after(&wasm, true);
        let ours = memory_after(&rewritten, false);
        if ours != theirs {
            let first = ours.iter().zip(&theirs).position(|(a, b)| a != b).unwrap();
            panic!(
                "seed {seed}: memory differs from byte {first}: rewritten {:02x?}, Cranelift {:02x?}",
                &ours[first & !7..(first & !7) + 8],
                &theirs[first & !7..(first & !7) + 8]
            );
        }
        if memory_after(&wasm, false) != ours {
            differ_bare += 1;
        }
    }
    // The programs make NaNs the machine chooses: without any check, most would differ.
    if cfg!(target_arch = "x86_64") {
        assert!(
            differ_bare >= 500,
            "only {differ_bare} programs differ unchecked"
        );
    }
}
