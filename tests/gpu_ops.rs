//! The kernels' ALU cost per nonce, counted from the SPIR-V a Vulkan driver receives, under a
//! model of NVIDIA's instruction set, and held under a budget: a kernel change that costs
//! instructions fails here, on any machine, without a GPU.
//!
//! The model (what NVIDIA's compiler does with such code): a rotate written as two shifts and
//! an or is one funnel shift (`SHF`); a tree of bitwise logic over at most three inputs is one
//! `LOP3` (more inputs: one more per two more); a tree of adds likewise one `IADD3` per three
//! inputs; a byte permutation of one value (shifts by whole bytes, byte masks, ors) is one
//! `PRMT`; literals fold into the instruction that uses them; loads of parameters are operands
//! from the constant bank and cost nothing. Every other arithmetic, compare or select is one.
//! A tree's inner values must have no other use, else they are computed on their own.
//!
//! Per nonce means one trip of the kernel's nonce loop: its whole body, loop control included.
#![cfg(feature = "gpu")]

use sha256d::engine::gpu;
use std::collections::{BTreeSet, HashMap};

mod op {
    pub const ENTRY_POINT: u16 = 15;
    pub const CONSTANT: u16 = 43;
    pub const FUNCTION: u16 = 54;
    pub const FUNCTION_END: u16 = 56;
    pub const LOAD: u16 = 61;
    pub const ACCESS_CHAIN: u16 = 65;
    pub const IN_BOUNDS_ACCESS_CHAIN: u16 = 66;
    pub const IADD: u16 = 128;
    pub const ISUB: u16 = 130;
    pub const SHR: u16 = 194;
    pub const SHL: u16 = 196;
    pub const OR: u16 = 197;
    pub const XOR: u16 = 198;
    pub const AND: u16 = 199;
    pub const NOT: u16 = 200;
    pub const LOOP_MERGE: u16 = 246;
    pub const LABEL: u16 = 248;
    /// Instructions that move or name values and cost no ALU slot.
    pub const FREE: &[u16] = &[
        59,  // OpVariable
        61,  // OpLoad
        62,  // OpStore
        65,  // OpAccessChain
        66,  // OpInBoundsAccessChain
        81,  // OpCompositeExtract
        124, // OpBitcast
        245, // OpPhi
        246, // OpLoopMerge
        247, // OpSelectionMerge
        248, // OpLabel
        249, // OpBranch
        250, // OpBranchConditional
        253, // OpReturn
        57,  // OpFunctionCall: the only calls record a candidate, rare enough to ignore
    ];
}

/// One SPIR-V instruction: its opcode and the words after the opcode word.
struct Inst {
    op: u16,
    args: Vec<u32>,
}

fn decode(words: &[u32]) -> Vec<Inst> {
    assert_eq!(words.first(), Some(&0x0723_0203), "SPIR-V magic");
    let mut out = Vec::new();
    let mut at = 5; // the header
    while at < words.len() {
        let len = (words[at] >> 16) as usize;
        assert!(
            len > 0 && at + len <= words.len(),
            "instruction at word {at}"
        );
        out.push(Inst {
            op: words[at] as u16,
            args: words[at + 1..at + len].to_vec(),
        });
        at += len;
    }
    out
}

/// Whether `op`, found in a function body, yields a value as (result type, result id,
/// operands...).
fn has_result(op: u16) -> bool {
    // OpLine, OpNoLine and the like (below 20), OpStore, the merges, labels, branches, returns,
    // OpUnreachable and the function's end have none.
    op >= 20 && !matches!(op, 56 | 62 | 246..=250 | 252..=255)
}

/// The SPIR-V of `versions`' kernel with the engine's default pipeline constants.
fn spirv(versions: u32) -> Vec<u32> {
    let source = gpu::kernel_wgsl(versions).expect("1..=MAX_VERSIONS");
    let module = naga::front::wgsl::parse_str(source).expect("the kernel parses");
    let info = naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::default(),
    )
    .validate(&module)
    .expect("the kernel validates");
    let config = gpu::GpuConfig::default();
    let mut constants = naga::back::PipelineConstants::default();
    constants.insert("WG".into(), f64::from(config.workgroup_size));
    constants.insert("NPI".into(), f64::from(config.nonces_per_invocation));
    let entry = (naga::ShaderStage::Compute, "scan");
    let (module, info) =
        naga::back::pipeline_constants::process_overrides(&module, &info, Some(entry), &constants)
            .expect("the constants apply");
    let options = naga::back::spv::Options {
        // As the engine creates the module.
        force_loop_bounding: false,
        ..Default::default()
    };
    let pipeline = naga::back::spv::PipelineOptions {
        shader_stage: entry.0,
        entry_point: entry.1.into(),
    };
    naga::back::spv::write_vec(&module, &info, &options, Some(&pipeline)).expect("SPIR-V out")
}

/// A value the model sees: an instruction's result, or a leaf (parameter, literal, anything
/// from outside the loop).
struct Graph<'a> {
    defs: HashMap<u32, &'a Inst>,
    constants: HashMap<u32, u32>,
    /// Uses of each id inside the loop.
    uses: HashMap<u32, usize>,
}

impl Graph<'_> {
    fn def(&self, id: u32) -> Option<&Inst> {
        self.defs.get(&id).copied()
    }

    fn op(&self, id: u32) -> Option<u16> {
        self.def(id).map(|i| i.op)
    }

    fn operands(&self, id: u32) -> &[u32] {
        self.def(id).map_or(&[], |i| &i.args[2..])
    }

    fn single_use(&self, id: u32) -> bool {
        self.uses.get(&id).copied().unwrap_or(0) == 1
    }

    /// A leaf's identity: loads of the same parameter field are one input.
    fn leaf(&self, id: u32) -> String {
        if let Some(c) = self.constants.get(&id) {
            return format!("const {c}");
        }
        match self.def(id) {
            Some(i) if i.op == op::LOAD => format!("load {}", self.leaf(i.args[2])),
            Some(i) if i.op == op::ACCESS_CHAIN || i.op == op::IN_BOUNDS_ACCESS_CHAIN => {
                let path: Vec<String> = i.args[2..].iter().map(|&a| self.leaf(a)).collect();
                format!("({})", path.join(" "))
            }
            _ => format!("%{id}"),
        }
    }

    /// `x` if `id` is `(x >> c) | (x << (32 - c))` with both shifts used only there.
    fn rotate(&self, id: u32) -> Option<u32> {
        if self.op(id)? != op::OR {
            return None;
        }
        let [a, b] = self.operands(id) else {
            return None;
        };
        let shift = |s: u32| -> Option<(u16, u32, u32)> {
            let i = self.def(s)?;
            let [x, n] = i.args[2..] else { return None };
            ((i.op == op::SHR || i.op == op::SHL) && self.single_use(s))
                .then(|| Some((i.op, x, *self.constants.get(&n)?)))
                .flatten()
        };
        let (sa, sb) = (shift(*a)?, shift(*b)?);
        (sa.0 != sb.0 && sa.1 == sb.1 && sa.2 + sb.2 == 32).then_some(sa.1)
    }

    /// The one value a byte permutation rooted at `id` rearranges, if it is one: shifts by
    /// whole bytes, masks of whole bytes and ors, over a single source.
    fn permute_source(&self, id: u32, root: bool) -> Option<Option<u32>> {
        let i = self.def(id)?;
        let inner = |x: u32| -> Option<Option<u32>> {
            if self.constants.contains_key(&x) {
                return None;
            }
            let is_op = matches!(self.op(x), Some(op::SHL | op::SHR | op::AND | op::OR));
            if is_op && self.single_use(x) {
                self.permute_source(x, false)
            } else {
                Some(Some(x))
            }
        };
        let c = |x: u32| self.constants.get(&x).copied();
        match (i.op, &i.args[2..]) {
            (op::SHL | op::SHR, [x, n]) if !root && c(*n)? % 8 == 0 => inner(*x),
            (op::AND, [x, m]) | (op::AND, [m, x]) if !root && c(*m).is_some() => {
                let m = c(*m)?;
                m.to_le_bytes()
                    .iter()
                    .all(|b| *b == 0 || *b == 0xff)
                    .then(|| inner(*x))
                    .flatten()
            }
            (op::OR, [a, b]) => match (inner(*a)?, inner(*b)?) {
                (Some(x), Some(y)) if x == y => Some(Some(x)),
                _ => None,
            },
            _ => None,
        }
    }
}

/// Operations per trip of the nonce loop of the kernel in `words`.
fn count(words: &[u32]) -> u64 {
    let insts = decode(words);
    let entry = insts
        .iter()
        .find(|i| i.op == op::ENTRY_POINT)
        .expect("an entry point")
        .args[1];
    let start = insts
        .iter()
        .position(|i| i.op == op::FUNCTION && i.args[1] == entry)
        .expect("the entry function");
    let end = start
        + insts[start..]
            .iter()
            .position(|i| i.op == op::FUNCTION_END)
            .expect("the function ends");
    let body = &insts[start..end];
    let merges: Vec<usize> = (0..body.len())
        .filter(|&k| body[k].op == op::LOOP_MERGE)
        .collect();
    assert_eq!(merges.len(), 1, "one loop, over the invocation's nonces");
    let merge_label = body[merges[0]].args[0];
    // The loop: from its header block to its merge block.
    let header = (0..merges[0])
        .rev()
        .find(|&k| body[k].op == op::LABEL)
        .expect("the loop header has a label");
    let merge = (merges[0]..body.len())
        .find(|&k| body[k].op == op::LABEL && body[k].args[0] == merge_label)
        .expect("the merge block follows");
    let looped = &body[header..merge];

    let mut g = Graph {
        defs: HashMap::new(),
        constants: HashMap::new(),
        uses: HashMap::new(),
    };
    for i in &insts {
        if i.op == op::CONSTANT && i.args.len() == 3 {
            g.constants.insert(i.args[1], i.args[2]);
        }
    }
    for i in looped.iter().filter(|i| has_result(i.op)) {
        g.defs.insert(i.args[1], i);
        for &a in &i.args[2..] {
            *g.uses.entry(a).or_default() += 1;
        }
    }
    for i in looped.iter().filter(|i| !has_result(i.op)) {
        for &a in &i.args {
            *g.uses.entry(a).or_default() += 1;
        }
    }

    // Values some fused instruction absorbs: they cost nothing on their own.
    let mut absorbed = BTreeSet::new();
    let mut ops = 0u64;
    // Roots first (later instructions use earlier ones), so a tree is claimed whole.
    for i in looped.iter().rev().filter(|i| has_result(i.op)) {
        let id = i.args[1];
        if absorbed.contains(&id) || op::FREE.contains(&i.op) {
            continue;
        }
        if g.rotate(id).is_some() {
            absorbed.extend(g.operands(id).iter().copied());
            ops += 1;
            continue;
        }
        let logic = |o: Option<u16>| matches!(o, Some(op::AND | op::OR | op::XOR | op::NOT));
        if i.op == op::OR {
            if let Some(Some(_)) = g.permute_source(id, true) {
                absorb_tree(&g, id, &mut absorbed, &|x| {
                    matches!(g.op(x), Some(op::SHL | op::SHR | op::AND | op::OR)) && g.single_use(x)
                });
                ops += 1;
                continue;
            }
        }
        let tree = |inner: &dyn Fn(u32) -> bool| -> u64 {
            let leaves = leaves(&g, id, inner);
            let constants = leaves.iter().any(|l| l.starts_with("const"));
            let inputs =
                leaves.iter().filter(|l| !l.starts_with("const")).count() + usize::from(constants);
            (inputs.saturating_sub(1)).div_ceil(2).max(1) as u64
        };
        if logic(Some(i.op)) {
            let inner = |x: u32| logic(g.op(x)) && g.rotate(x).is_none() && g.single_use(x);
            ops += tree(&inner);
            absorb_tree(&g, id, &mut absorbed, &inner);
        } else if i.op == op::IADD || i.op == op::ISUB {
            let inner = |x: u32| matches!(g.op(x), Some(op::IADD | op::ISUB)) && g.single_use(x);
            ops += tree(&inner);
            absorb_tree(&g, id, &mut absorbed, &inner);
        } else {
            ops += 1;
        }
    }
    ops
}

/// The distinct inputs of the tree rooted at `id` whose inner nodes satisfy `inner`.
fn leaves(g: &Graph<'_>, id: u32, inner: &dyn Fn(u32) -> bool) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for &a in g.operands(id) {
        if inner(a) {
            out.extend(leaves(g, a, inner));
        } else {
            out.insert(g.leaf(a));
        }
    }
    out
}

fn absorb_tree(g: &Graph<'_>, id: u32, absorbed: &mut BTreeSet<u32>, inner: &dyn Fn(u32) -> bool) {
    for &a in g.operands(id) {
        if inner(a) {
            absorbed.insert(a);
            absorb_tree(g, a, absorbed, inner);
        }
    }
}

/// Ops per nonce for each kernel, all its versions together.
fn counts() -> Vec<u64> {
    (1..=gpu::MAX_VERSIONS).map(|v| count(&spirv(v))).collect()
}

#[test]
fn kernels_within_op_budget() {
    let counts = counts();
    let per_version: Vec<f64> = counts
        .iter()
        .zip(1..)
        .map(|(&c, v)| c as f64 / f64::from(v))
        .collect();
    eprintln!("ops per nonce, all versions: {counts:?}; per version: {per_version:.1?}");
    // The budgets of the kernel's design: one version at the 2445-op floor plus loop control,
    // four versions sharing the schedule at most 2200 each.
    assert!(counts[0] <= 2461, "one version: {} ops", counts[0]);
    assert!(
        per_version[3] <= 2200.0,
        "four versions: {:.1} ops each",
        per_version[3]
    );
    // Sharing never costs more per version than not sharing.
    for w in per_version.windows(2) {
        assert!(w[1] < w[0], "{per_version:?}");
    }
}

/// The engine reports the counts this test makes (the bench shows the GPU's ceiling from them).
#[test]
fn engine_reports_the_counted_ops() {
    let counts = counts();
    for (v, &c) in (1..).zip(&counts) {
        assert_eq!(
            gpu::ops_per_nonce(v),
            Some(c as f64 / f64::from(v)),
            "{v} versions"
        );
    }
    assert_eq!(gpu::ops_per_nonce(0), None);
    assert_eq!(gpu::ops_per_nonce(gpu::MAX_VERSIONS + 1), None);
}

/// The model on a known shape: σ0 of a name is two funnel shifts, a shift and one LOP3; a
/// byte swap is one PRMT; a four-input add is two IADD3.
#[test]
fn model_counts_known_shapes() {
    let kernel = |body: &str| {
        format!(
            "@group(0) @binding(0) var<storage, read_write> out: array<u32>;\n\
             @compute @workgroup_size(1)\n\
             fn scan(@builtin(global_invocation_id) id: vec3<u32>) {{\n\
                 for (var j = 0u; j < 4u; j++) {{\n\
                     let x = out[j];\n let y = out[j + 4u];\n {body}\n\
                 }}\n\
             }}\n"
        )
    };
    let ops = |body: &str| {
        let source = kernel(body);
        let module = naga::front::wgsl::parse_str(&source).expect("parses");
        let info = naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::default(),
        )
        .validate(&module)
        .expect("validates");
        let options = naga::back::spv::Options {
            force_loop_bounding: false,
            ..Default::default()
        };
        let words = naga::back::spv::write_vec(&module, &info, &options, None).expect("SPIR-V");
        count(&words)
    };
    // Loop control and the two loads' indices: j < 4, j + 4, j + 1.
    let base = ops("out[j] = x;");
    assert_eq!(base, 3);
    let s0 = "out[j] = ((x >> 7u) | (x << 25u)) ^ ((x >> 18u) | (x << 14u)) ^ (x >> 3u);";
    assert_eq!(ops(s0) - base, 4);
    let swap = "out[j] = (x << 24u) | ((x & 0xff00u) << 8u) | ((x >> 8u) & 0xff00u) | (x >> 24u);";
    assert_eq!(ops(swap) - base, 1);
    assert_eq!(ops("out[j] = x + y + (x ^ y) + 5u;") - base, 3);
    assert_eq!(ops("out[j] = y ^ (x & (y ^ (x >> 3u)));") - base, 2);
}
