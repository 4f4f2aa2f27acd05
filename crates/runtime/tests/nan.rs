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
    ]
}

fn module() -> Vec<u8> {
    let cases = cases();
    let mut module = Module::new();
    let mut types = TypeSection::new();
    types.ty().function([], [ValType::I64]);
    module.section(&types);
    let mut functions = FunctionSection::new();
    for _ in &cases {
        functions.function(0);
    }
    module.section(&functions);
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
    for (i, (name, _, _)) in cases.iter().enumerate() {
        exports.export(name, ExportKind::Func, i as u32);
    }
    module.section(&exports);
    let mut code = CodeSection::new();
    for (_, body, _) in &cases {
        let mut f = Function::new([(1, ValType::F64)]);
        for instruction in body {
            f.instruction(instruction);
        }
        f.instruction(&I::End);
        code.function(&f);
    }
    module.section(&code);
    module.finish()
}

/// What every case answers on an engine (`cranelift`: Cranelift's own NaN pass on).
fn run(wasm: &[u8], cranelift: bool) -> Vec<i64> {
    let mut config = wasmtime::Config::new();
    config.cranelift_nan_canonicalization(cranelift);
    let engine = wasmtime::Engine::new(&config).unwrap();
    let module = wasmtime::Module::new(&engine, wasm).unwrap();
    let mut store = wasmtime::Store::new(&engine, ());
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
