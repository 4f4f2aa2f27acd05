//! Canonical NaNs written into a command's code, before it is compiled.
//!
//! Wasm leaves the bits of a NaN that arithmetic produces to the machine: one worker may get a
//! negative NaN where another gets a positive one, and a command that looks at the bits
//! (`to_bits`, a store read back as an integer) would leave different state on each. Commands
//! must agree, so every floating-point result that may be such a NaN is replaced by the
//! canonical one (`0x7fc00000`, `0x7ff8000000000000`, on every lane of a vector).
//!
//! Cranelift can do this itself (`cranelift_nan_canonicalization`), but on x86-64 it builds
//! every check from vector compares and blends that sit on the critical path of each operation:
//! a float-heavy command ran at about a third of its speed as a query. Here the check is
//! written in wasm after each such operation, `x != x ? NaN : x` with `select`, which the
//! compiler turns into a compare and a branch that is never taken: the result flows on without
//! waiting for the compare.
//!
//! The operations checked are those whose NaN result the machine chooses, the same set as
//! Cranelift's pass: `add`, `sub`, `mul`, `div`, `min`, `max`, `sqrt`, `ceil`, `floor`,
//! `trunc`, `nearest`, promotion and demotion, and the relaxed `madd`, `nmadd`, `min` and
//! `max`, scalar and vector. Sign operations (`neg`, `abs`, `copysign`), loads, stores and
//! reinterpretations keep their bits, as wasm requires. The inserted instructions cost gas
//! like any other (seven units per check). A value whose bits cannot be seen before another
//! check is not checked: one that only feeds more of that arithmetic (a NaN in it gives a NaN
//! there, which is checked), a comparison or a conversion to an integer (blind to a NaN's
//! bits), or a local whose every read is such (see `fate` and `quiet_locals`).

use wasm_encoder::reencode::{Error as ReencodeError, Reencode};
use wasm_encoder::{Function, Instruction, RawSection, ValType};
use wasmparser::{CompositeInnerType, Operator, Parser, Payload};

/// The canonical NaN of `f32`, as wasm defines it.
const CANONICAL_F32: u32 = 0x7fc0_0000;
/// The canonical NaN of `f64`.
const CANONICAL_F64: u64 = 0x7ff8_0000_0000_0000;

/// Components nested deeper than this are refused (each level is a recursion here).
pub const MAX_NESTING: usize = 32;

/// Why code could not be rewritten.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The bytes are not valid wasm, or hold something the rewrite cannot re-encode.
    #[error("cannot re-encode the code: {0}")]
    Reencode(#[from] ReencodeError),
    /// Components nest deeper than [`MAX_NESTING`].
    #[error("components nest deeper than {MAX_NESTING} levels")]
    TooDeep,
}

impl From<wasmparser::BinaryReaderError> for Error {
    fn from(e: wasmparser::BinaryReaderError) -> Self {
        Error::Reencode(e.into())
    }
}

/// The kind of value an operation produces that must be made canonical.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Float {
    F32,
    F64,
    F32x4,
    F64x2,
}

impl Float {
    const ALL: [Float; 4] = [Float::F32, Float::F64, Float::F32x4, Float::F64x2];

    fn val_type(self) -> ValType {
        match self {
            Float::F32 => ValType::F32,
            Float::F64 => ValType::F64,
            Float::F32x4 | Float::F64x2 => ValType::V128,
        }
    }

    /// Replace the value on top of the stack by the canonical NaN if it is a NaN, through
    /// `local` (a scratch local of this kind): `select(NaN, x, x != x)`, lane by lane for
    /// vectors.
    fn canonicalize(self, f: &mut Function, local: u32) {
        f.instruction(&Instruction::LocalSet(local));
        f.instruction(&match self {
            Float::F32 => Instruction::F32Const(f32::from_bits(CANONICAL_F32).into()),
            Float::F64 => Instruction::F64Const(f64::from_bits(CANONICAL_F64).into()),
            Float::F32x4 => Instruction::V128Const(i128::from_le_bytes(
                [CANONICAL_F32.to_le_bytes(); 4]
                    .concat()
                    .try_into()
                    .unwrap(),
            )),
            Float::F64x2 => Instruction::V128Const(i128::from_le_bytes(
                [CANONICAL_F64.to_le_bytes(); 2]
                    .concat()
                    .try_into()
                    .unwrap(),
            )),
        });
        for _ in 0..3 {
            f.instruction(&Instruction::LocalGet(local));
        }
        f.instruction(&match self {
            Float::F32 => Instruction::F32Ne,
            Float::F64 => Instruction::F64Ne,
            Float::F32x4 => Instruction::F32x4Ne,
            Float::F64x2 => Instruction::F64x2Ne,
        });
        f.instruction(&match self {
            Float::F32 | Float::F64 => Instruction::Select,
            Float::F32x4 | Float::F64x2 => Instruction::V128Bitselect,
        });
    }
}

/// An operation whose NaN result the machine chooses.
struct Checked {
    /// What it leaves on the stack.
    kind: Float,
    /// How many values it takes.
    operands: usize,
    /// The shape it reads its operands in: its own but for promotion and demotion. A vector
    /// is bits; read in another shape, a NaN lane may be an ordinary number.
    reads: Float,
    /// Whether a NaN operand always gives a NaN result (lane by lane for vectors), as wasm's
    /// arithmetic, `min` and `max` do. The relaxed operations need not.
    propagates: bool,
}

fn checked(op: &Operator<'_>) -> Option<Checked> {
    use Float::{F32, F32x4, F64, F64x2};
    use Operator as O;
    let (kind, operands, propagates) = match op {
        O::F32Add | O::F32Sub | O::F32Mul | O::F32Div | O::F32Min | O::F32Max => (F32, 2, true),
        O::F32Sqrt | O::F32Ceil | O::F32Floor | O::F32Trunc | O::F32Nearest | O::F32DemoteF64 => {
            (F32, 1, true)
        }
        O::F64Add | O::F64Sub | O::F64Mul | O::F64Div | O::F64Min | O::F64Max => (F64, 2, true),
        O::F64Sqrt | O::F64Ceil | O::F64Floor | O::F64Trunc | O::F64Nearest | O::F64PromoteF32 => {
            (F64, 1, true)
        }
        O::F32x4Add | O::F32x4Sub | O::F32x4Mul | O::F32x4Div | O::F32x4Min | O::F32x4Max => {
            (F32x4, 2, true)
        }
        O::F32x4Sqrt
        | O::F32x4Ceil
        | O::F32x4Floor
        | O::F32x4Trunc
        | O::F32x4Nearest
        | O::F32x4DemoteF64x2Zero => (F32x4, 1, true),
        O::F32x4RelaxedMin | O::F32x4RelaxedMax => (F32x4, 2, false),
        O::F32x4RelaxedMadd | O::F32x4RelaxedNmadd => (F32x4, 3, false),
        O::F64x2Add | O::F64x2Sub | O::F64x2Mul | O::F64x2Div | O::F64x2Min | O::F64x2Max => {
            (F64x2, 2, true)
        }
        O::F64x2Sqrt
        | O::F64x2Ceil
        | O::F64x2Floor
        | O::F64x2Trunc
        | O::F64x2Nearest
        | O::F64x2PromoteLowF32x4 => (F64x2, 1, true),
        O::F64x2RelaxedMin | O::F64x2RelaxedMax => (F64x2, 2, false),
        O::F64x2RelaxedMadd | O::F64x2RelaxedNmadd => (F64x2, 3, false),
        _ => return None,
    };
    let reads = match op {
        O::F32DemoteF64 => F64,
        O::F64PromoteF32 => F32,
        O::F32x4DemoteF64x2Zero => F64x2,
        O::F64x2PromoteLowF32x4 => F32x4,
        _ => kind,
    };
    Some(Checked {
        kind,
        operands,
        reads,
        propagates,
    })
}

/// `wasm` (a component or a core module) with every NaN its arithmetic produces made
/// canonical, in every core module it holds (nested components included).
pub fn canonicalize(wasm: &[u8]) -> Result<Vec<u8>, Error> {
    if wasmparser::Parser::is_core_wasm(wasm) {
        return module(wasm);
    }
    component(wasm, 0)
}

fn component(wasm: &[u8], depth: usize) -> Result<Vec<u8>, Error> {
    if depth > MAX_NESTING {
        return Err(Error::TooDeep);
    }
    let mut out = wasm_encoder::Component::new();
    let mut parser = Parser::new(0);
    let mut rest = wasm;
    loop {
        let (consumed, payload) = match parser.parse(rest, true)? {
            wasmparser::Chunk::NeedMoreData(_) => {
                unreachable!("the whole component is in memory (eof is set)")
            }
            wasmparser::Chunk::Parsed { consumed, payload } => (consumed, payload),
        };
        let section_start = wasm.len() - rest.len();
        rest = &rest[consumed..];
        match payload {
            Payload::Version { .. } => {}
            Payload::ModuleSection {
                unchecked_range, ..
            } => {
                let rewritten = module(&wasm[unchecked_range.clone()])?;
                out.section(&RawSection {
                    id: wasm_encoder::ComponentSectionId::CoreModule as u8,
                    data: &rewritten,
                });
                // The parser has moved past the nested code; the bytes must follow it.
                rest = &wasm[unchecked_range.end..];
            }
            Payload::ComponentSection {
                unchecked_range, ..
            } => {
                let rewritten = component(&wasm[unchecked_range.clone()], depth + 1)?;
                out.section(&RawSection {
                    id: wasm_encoder::ComponentSectionId::Component as u8,
                    data: &rewritten,
                });
                // The parser has moved past the nested code; the bytes must follow it.
                rest = &wasm[unchecked_range.end..];
            }
            Payload::End(_) => return Ok(out.finish()),
            other => match other.as_section() {
                Some((id, range)) => {
                    out.section(&RawSection {
                        id,
                        data: &wasm[range],
                    });
                }
                // Only the header and the end carry no section, and both are handled above.
                None => unreachable!("a component payload at {section_start} with no section"),
            },
        }
    }
}

fn module(wasm: &[u8]) -> Result<Vec<u8>, Error> {
    let mut rewriter = Rewriter {
        params: function_params(wasm)?,
        next_function: 0,
    };
    let mut out = wasm_encoder::Module::new();
    rewriter.parse_core_module(&mut out, Parser::new(0), wasm)?;
    Ok(out.finish())
}

/// How many parameters each function the module defines has (imports excluded: they have
/// no body), in the order of their bodies.
fn function_params(wasm: &[u8]) -> Result<Vec<u32>, Error> {
    let mut types: Vec<u32> = Vec::new();
    let mut params = Vec::new();
    for payload in Parser::new(0).parse_all(wasm) {
        match payload? {
            Payload::TypeSection(section) => {
                for group in section {
                    for sub in group?.into_types() {
                        types.push(match &sub.composite_type.inner {
                            CompositeInnerType::Func(f) => f.params().len() as u32,
                            _ => 0,
                        });
                    }
                }
            }
            Payload::FunctionSection(section) => {
                for t in section {
                    // An unknown type fails validation later; count it as no parameters.
                    params.push(types.get(t? as usize).copied().unwrap_or(0));
                }
            }
            _ => {}
        }
    }
    Ok(params)
}

/// How far the rewrite looks ahead for what becomes of a value; beyond it the value is
/// checked. It keeps the rewrite linear in the size of the code.
const LOOKAHEAD: usize = 64;

/// Operations whose result is the same for every NaN operand, whatever its bits: comparisons
/// (a NaN is unordered) and conversions to integers (a NaN traps, or saturates to zero). How
/// many values each takes, and the shape it reads them in.
fn payload_blind(op: &Operator<'_>) -> Option<(usize, Float)> {
    use Float::{F32, F32x4, F64, F64x2};
    use Operator as O;
    Some(match op {
        O::F32Eq | O::F32Ne | O::F32Lt | O::F32Gt | O::F32Le | O::F32Ge => (2, F32),
        O::F64Eq | O::F64Ne | O::F64Lt | O::F64Gt | O::F64Le | O::F64Ge => (2, F64),
        O::F32x4Eq | O::F32x4Ne | O::F32x4Lt | O::F32x4Gt | O::F32x4Le | O::F32x4Ge => (2, F32x4),
        O::F64x2Eq | O::F64x2Ne | O::F64x2Lt | O::F64x2Gt | O::F64x2Le | O::F64x2Ge => (2, F64x2),
        O::I32TruncF32S
        | O::I32TruncF32U
        | O::I64TruncF32S
        | O::I64TruncF32U
        | O::I32TruncSatF32S
        | O::I32TruncSatF32U
        | O::I64TruncSatF32S
        | O::I64TruncSatF32U => (1, F32),
        O::I32TruncF64S
        | O::I32TruncF64U
        | O::I64TruncF64S
        | O::I64TruncF64U
        | O::I32TruncSatF64S
        | O::I32TruncSatF64U
        | O::I64TruncSatF64S
        | O::I64TruncSatF64U => (1, F64),
        O::I32x4TruncSatF32x4S | O::I32x4TruncSatF32x4U => (1, F32x4),
        O::I32x4TruncSatF64x2SZero | O::I32x4TruncSatF64x2UZero => (1, F64x2),
        _ => return None,
    })
}

/// What becomes of the value on top of the stack before `rest`, as far as the straight-line
/// code after it shows. `None`: its bits may be seen (stored, returned, passed, branched on,
/// reinterpreted, moved by a sign operation), so a NaN in it must be canonical now. `Some(locals)`:
/// its bits are never seen unless one of `locals` is, because every way it goes is one of
///
/// - an operand of an operation that returns a NaN whenever an operand is one, and is itself
///   checked (or hidden in turn);
/// - an operand of an operation blind to a NaN's bits ([`payload_blind`]);
/// - dropped;
/// - written to a local (`local.set`, or `local.tee` and on), which is listed.
///
/// The operation that takes it must read it in its `shape` (a vector's lanes as they were
/// made); a value of unknown shape (`None`: a local's) is hidden only by scalar operations,
/// which read a local in its own type. Only straight-line code that pushes values above it is
/// looked through (`local.get`, constants, loads), up to [`LOOKAHEAD`] operations.
fn fate(shape: Option<Float>, rest: &[Operator<'_>]) -> Option<Vec<u32>> {
    use Operator as O;
    // Values pushed above ours so far.
    let mut above = 0usize;
    let mut through = Vec::new();
    for op in rest.iter().take(LOOKAHEAD) {
        let (pops, pushes, hides) = match op {
            O::LocalGet { .. }
            | O::GlobalGet { .. }
            | O::I32Const { .. }
            | O::I64Const { .. }
            | O::F32Const { .. }
            | O::F64Const { .. }
            | O::V128Const { .. } => (0, 1, false),
            O::I32Load { .. }
            | O::I64Load { .. }
            | O::F32Load { .. }
            | O::F64Load { .. }
            | O::V128Load { .. } => (1, 1, false),
            O::LocalTee { local_index } if above == 0 => {
                // Ours goes into the local and stays on top.
                through.push(*local_index);
                continue;
            }
            O::LocalTee { .. } => (1, 1, false),
            O::LocalSet { local_index } if above == 0 => {
                through.push(*local_index);
                return Some(through);
            }
            O::LocalSet { .. } | O::Drop => (1, 0, true),
            _ => match (checked(op), payload_blind(op)) {
                (Some(c), _) => (c.operands, 1, c.propagates && reads_as(shape, c.reads)),
                (None, Some((operands, reads))) => (operands, 1, reads_as(shape, reads)),
                (None, None) => return None,
            },
        };
        if pops > above {
            // This operation takes our value.
            return hides.then_some(through);
        }
        above = above - pops + pushes;
    }
    None
}

/// Whether an operation that reads its operand in shape `reads` sees a value of `shape` as it
/// was made (see [`fate`]).
fn reads_as(shape: Option<Float>, reads: Float) -> bool {
    match shape {
        Some(shape) => shape == reads,
        None => matches!(reads, Float::F32 | Float::F64),
    }
}

/// The locals of a function body whose values' bits are never seen: every read of one is
/// hidden ([`fate`]) behind checked arithmetic, blind operations, or other such locals. A
/// value written to one needs no check; a NaN in it is made canonical where it comes out.
///
/// A local is seen if one of its reads is, or if a read goes into a local that is seen; the
/// rest (cycles through arithmetic in a loop included) are quiet.
fn quiet_locals(ops: &[Operator<'_>]) -> std::collections::HashSet<u32> {
    use std::collections::{HashMap, HashSet};
    // Only locals that something writes matter.
    let mut written: HashSet<u32> = HashSet::new();
    for op in ops {
        if let Operator::LocalSet { local_index } | Operator::LocalTee { local_index } = op {
            written.insert(*local_index);
        }
    }
    let mut seen: Vec<u32> = Vec::new();
    // local -> the locals that are seen if it is.
    let mut feeds: HashMap<u32, Vec<u32>> = HashMap::new();
    for (i, op) in ops.iter().enumerate() {
        let Operator::LocalGet { local_index } = op else {
            continue;
        };
        if !written.contains(local_index) {
            continue;
        }
        match fate(None, &ops[i + 1..]) {
            None => seen.push(*local_index),
            Some(into) => {
                for target in into {
                    feeds.entry(target).or_default().push(*local_index);
                }
            }
        }
    }
    let mut quiet = written;
    while let Some(local) = seen.pop() {
        if quiet.remove(&local)
            && let Some(sources) = feeds.get(&local)
        {
            seen.extend(sources);
        }
    }
    quiet
}

/// Re-encodes a core module, adding the checks to every function body.
struct Rewriter {
    /// Parameters of each function the module defines, in the order of their bodies.
    params: Vec<u32>,
    /// Which body comes next.
    next_function: usize,
}

impl Reencode for Rewriter {
    type Error = std::convert::Infallible;

    fn parse_function_body(
        &mut self,
        code: &mut wasm_encoder::CodeSection,
        body: wasmparser::FunctionBody<'_>,
    ) -> Result<(), ReencodeError> {
        let params = self
            .params
            .get(self.next_function)
            .copied()
            .ok_or(ReencodeError::InvalidCodeSectionSize)?;
        self.next_function += 1;

        let ops = body
            .get_operators_reader()?
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?;
        // A scratch local for each kind of value the body makes canonical, after its own.
        let mut needed = [false; 4];
        for c in ops.iter().filter_map(checked) {
            needed[c.kind as usize] = true;
        }
        let mut locals = Vec::new();
        let mut next_local = params;
        for pair in body.get_locals_reader()? {
            let (count, ty) = pair?;
            next_local = next_local.saturating_add(count);
            locals.push((count, self.val_type(ty)?));
        }
        let mut scratch = [0; 4];
        for kind in Float::ALL {
            if needed[kind as usize] {
                scratch[kind as usize] = next_local;
                locals.push((1, kind.val_type()));
                // Too many locals fail validation when the result is compiled.
                next_local = next_local.saturating_add(1);
            }
        }

        let quiet = quiet_locals(&ops);
        let mut function = Function::new(locals);
        for (i, op) in ops.iter().enumerate() {
            let produced = checked(op).map(|c| c.kind);
            function.instruction(&self.instruction(op.clone())?);
            if let Some(kind) = produced {
                let hidden = fate(Some(kind), &ops[i + 1..])
                    .is_some_and(|into| into.iter().all(|local| quiet.contains(local)));
                if !hidden {
                    kind.canonicalize(&mut function, scratch[kind as usize]);
                }
            }
        }
        code.function(&function);
        Ok(())
    }
}
