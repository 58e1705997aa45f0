//! The WGSL kernel generator, run by the build script under feature `gpu`: the nonce scan of
//! `src/sha256/portable.rs`, unrolled into single-assignment `let`s with every constant folded,
//! because WGSL has no unrolling and a runtime-indexed array costs a memory gather per access
//! on software rasterisers. It reads the crate's own constants (`src/sha256/consts.rs`), so the
//! kernel and the CPU engines cannot disagree on them.
//!
//! One kernel per count of versions sharing a dispatch (1 to [`MAX_VERSIONS`]): headers that
//! differ only in version share block 2, so its message schedule is computed once per nonce and
//! each version runs its own rounds and second hash against it.
//!
//! Everything that does not depend on the nonce (a sum of parameters and constants, a σ of a
//! parameter) becomes a parameter the host computes: alongside each kernel the generator writes
//! the Rust that fills its `Params` from the versions' `Prehash`es, so the two cannot drift.

use super::consts::{HASH_BITS, HEADER_BITS, IV, K, PAD_WORD};
use std::collections::HashSet;

/// The most versions one kernel shares a schedule across.
pub const MAX_VERSIONS: usize = 4;

/// One summand of a [`Val`]: WGSL text for a nonce-dependent value, Rust text (over the
/// versions' `Prehash`es `r0`, `r1`, ...) for a value the host computes, or both for a plain
/// parameter.
#[derive(Clone)]
struct Term {
    wgsl: Option<String>,
    rust: Option<String>,
    /// The version a host value belongs to; `None` for values shared by all versions.
    version: Option<usize>,
}

impl Term {
    fn host(&self) -> bool {
        self.rust.is_some()
    }
}

/// A value known to the generator: a sum of terms plus a literal, so constants and host values
/// from several places fold into one literal or one parameter.
#[derive(Clone, Default)]
struct Val {
    terms: Vec<Term>,
    lit: u32,
}

fn lit(c: u32) -> Val {
    Val {
        terms: Vec::new(),
        lit: c,
    }
}

fn nonce_term(wgsl: String) -> Val {
    Val {
        terms: vec![Term {
            wgsl: Some(wgsl),
            rust: None,
            version: None,
        }],
        lit: 0,
    }
}

impl Val {
    fn as_lit(&self) -> Option<u32> {
        self.terms.is_empty().then_some(self.lit)
    }

    /// Every term is computed on the host.
    fn host_only(&self) -> bool {
        self.terms.iter().all(Term::host)
    }

    /// The host's Rust for a host-only value.
    fn rust(&self) -> String {
        let mut parts: Vec<String> = self
            .terms
            .iter()
            .map(|t| t.rust.clone().expect("host-only value"))
            .collect();
        if self.lit != 0 || parts.is_empty() {
            parts.push(format!("0x{:08x}", self.lit));
        }
        let first = parts.remove(0);
        parts
            .into_iter()
            .fold(first, |acc, p| format!("{acc}.wrapping_add({p})"))
    }

    fn version(&self) -> Option<usize> {
        self.terms.iter().find_map(|t| t.version)
    }
}

fn add(vals: &[&Val]) -> Val {
    let mut out = lit(0);
    for v in vals {
        out.terms.extend(v.terms.iter().cloned());
        out.lit = out.lit.wrapping_add(v.lit);
    }
    out
}

/// The SHA-256 functions: their value on literals, their WGSL inlined on names (the kernel is
/// one straight-line block, which is what an op count reads and what drivers schedule best),
/// and the crate's Rust function for host values.
#[derive(Clone, Copy, Debug)]
enum F {
    BigS0,
    BigS1,
    SmallS0,
    SmallS1,
    Ch,
    Maj,
}

fn rotr(x: &str, n: u32) -> String {
    format!("(({x} >> {n}u) | ({x} << {}u))", 32 - n)
}

/// The header stores the nonce little-endian and the target compare reads the hash
/// little-endian; SHA-256 words are big-endian.
fn swap_bytes(x: &str) -> String {
    format!("(({x} << 24u) | (({x} & 0xff00u) << 8u) | (({x} >> 8u) & 0xff00u) | ({x} >> 24u))")
}

impl F {
    fn eval(self, v: &[u32]) -> u32 {
        match self {
            F::BigS0 => v[0].rotate_right(2) ^ v[0].rotate_right(13) ^ v[0].rotate_right(22),
            F::BigS1 => v[0].rotate_right(6) ^ v[0].rotate_right(11) ^ v[0].rotate_right(25),
            F::SmallS0 => v[0].rotate_right(7) ^ v[0].rotate_right(18) ^ (v[0] >> 3),
            F::SmallS1 => v[0].rotate_right(17) ^ v[0].rotate_right(19) ^ (v[0] >> 10),
            F::Ch => v[2] ^ (v[0] & (v[1] ^ v[2])),
            F::Maj => (v[0] & v[1]) | (v[2] & (v[0] | v[1])),
        }
    }

    fn rust_name(self) -> &'static str {
        match self {
            F::BigS0 => "big_s0",
            F::BigS1 => "big_s1",
            F::SmallS0 => "small_s0",
            F::SmallS1 => "small_s1",
            F::Ch => "ch",
            F::Maj => "maj",
        }
    }

    fn wgsl(self, a: &[String]) -> String {
        let rot3 = |x: &str, n: [u32; 3]| {
            format!(
                "({} ^ {} ^ {})",
                rotr(x, n[0]),
                rotr(x, n[1]),
                rotr(x, n[2])
            )
        };
        match self {
            F::BigS0 => rot3(&a[0], [2, 13, 22]),
            F::BigS1 => rot3(&a[0], [6, 11, 25]),
            F::SmallS0 => format!(
                "({} ^ {} ^ ({} >> 3u))",
                rotr(&a[0], 7),
                rotr(&a[0], 18),
                a[0]
            ),
            F::SmallS1 => format!(
                "({} ^ {} ^ ({} >> 10u))",
                rotr(&a[0], 17),
                rotr(&a[0], 19),
                a[0]
            ),
            F::Ch => format!("({2} ^ ({0} & ({1} ^ {2})))", a[0], a[1], a[2]),
            F::Maj => format!("(({0} & {1}) | ({2} & ({0} | {1})))", a[0], a[1], a[2]),
        }
    }
}

/// A host-computed parameter of the kernel.
struct Field {
    name: String,
    rust: String,
    version: Option<usize>,
}

/// One kernel being generated: its `let`s and the parameters they read.
#[derive(Default)]
struct Gen {
    lets: Vec<(String, String)>,
    fields: Vec<Field>,
    /// Per-version parameter names get a version prefix when versions share the kernel.
    shared: bool,
}

impl Gen {
    /// A parameter the host fills with `rust`.
    fn param(&mut self, name: &str, rust: &str, version: Option<usize>) -> Val {
        let name = match version {
            Some(k) if self.shared => format!("r{k}_{name}"),
            _ => name.to_string(),
        };
        self.fields.push(Field {
            name: name.clone(),
            rust: rust.to_string(),
            version,
        });
        Val {
            terms: vec![Term {
                wgsl: Some(format!("p.{name}")),
                rust: Some(rust.to_string()),
                version,
            }],
            lit: 0,
        }
    }

    /// The WGSL of `v`: its nonce-dependent terms plus one parameter (or literal) holding
    /// everything else.
    fn emit(&mut self, v: &Val) -> String {
        let (host, parts): (Vec<&Term>, Vec<&Term>) = v.terms.iter().partition(|t| t.host());
        let folded = Val {
            terms: host.into_iter().cloned().collect(),
            lit: v.lit,
        };
        let mut out: Vec<String> = parts
            .into_iter()
            .map(|t| t.wgsl.clone().expect("a nonce-dependent term has WGSL"))
            .collect();
        let plain = folded.lit == 0 && folded.terms.len() == 1 && folded.terms[0].wgsl.is_some();
        if plain {
            out.push(folded.terms[0].wgsl.clone().expect("checked"));
        } else if folded.terms.is_empty() {
            if folded.lit != 0 || out.is_empty() {
                out.push(format!("0x{:08x}u", folded.lit));
            }
        } else {
            let rust = folded.rust();
            let version = folded.version();
            let existing = self
                .fields
                .iter()
                .find(|f| f.rust == rust)
                .map(|f| format!("p.{}", f.name));
            let field = match existing {
                Some(name) => name,
                None => {
                    let n = self.fields.len();
                    let v = self.param(&format!("u{n}"), &rust, version);
                    v.terms[0].wgsl.clone().expect("a parameter has WGSL")
                }
            };
            out.push(field);
        }
        out.join(" + ")
    }

    /// `f(args)`: a literal when every argument is one, a host value when every argument is
    /// one, else inline WGSL over the arguments, which are names, parameters or literals.
    fn call(&mut self, f: F, args: &[&Val]) -> Val {
        let lits: Option<Vec<u32>> = args.iter().map(|a| a.as_lit()).collect();
        if let Some(l) = lits {
            return lit(f.eval(&l));
        }
        if args.iter().all(|a| a.host_only()) {
            let rust: Vec<String> = args.iter().map(|a| a.rust()).collect();
            return Val {
                terms: vec![Term {
                    wgsl: None,
                    rust: Some(format!(
                        "crate::sha256::{}({})",
                        f.rust_name(),
                        rust.join(", ")
                    )),
                    version: args.iter().find_map(|a| a.version()),
                }],
                lit: 0,
            };
        }
        let wgsl: Vec<String> = args
            .iter()
            .map(|a| {
                let text = self.emit(a);
                assert!(!text.contains(' '), "{f:?} of a compound value: {text}");
                text
            })
            .collect();
        nonce_term(f.wgsl(&wgsl))
    }

    /// Names a compound nonce-dependent value so later uses read a register, not a
    /// recomputation. Literals, host values and single names stay as they are.
    fn bind(&mut self, n: &str, v: Val) -> Val {
        let plain = |t: &Term| {
            t.wgsl.as_deref().is_some_and(|w| {
                w.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._".contains(c))
            })
        };
        if v.host_only() || (v.lit == 0 && v.terms.len() == 1 && plain(&v.terms[0])) {
            return v;
        }
        let text = self.emit(&v);
        self.lets.push((n.to_string(), text));
        nonce_term(n.to_string())
    }

    /// The message schedule from word `from` on: `w[i] = σ1(w[i-2]) + w[i-7] + σ0(w[i-15])
    /// + w[i-16]`.
    fn schedule(&mut self, w: &mut Vec<Val>, prefix: &str, from: usize, to: usize) {
        for i in from..to {
            let s1 = self.call(F::SmallS1, &[&w[i - 2]]);
            let s0 = self.call(F::SmallS0, &[&w[i - 15]]);
            let v = add(&[&s1, &w[i - 7], &s0, &w[i - 16]]);
            let v = self.bind(&format!("{prefix}{i}"), v);
            w.push(v);
        }
    }

    /// Rounds `from..to`. `a[n + 3]` / `e[n + 3]` hold the a / e register after `n`
    /// rounds; b, c, d (f, g, h) are the a (e) of the previous three rounds, so each round
    /// adds just two values, `names.0` (new a) and `names.1` (new e), via `names.2` (T1).
    fn rounds(
        &mut self,
        a: &mut Vec<Val>,
        e: &mut Vec<Val>,
        w: &[Val],
        (from, to): (usize, usize),
        names: (&str, &str, &str),
    ) {
        for i in from..to {
            let n = i + 3;
            let s1 = self.call(F::BigS1, &[&e[n]]);
            let ch = self.call(F::Ch, &[&e[n], &e[n - 1], &e[n - 2]]);
            let t1 = add(&[&e[n - 3], &s1, &ch, &lit(K[i]), &w[i]]);
            let t1 = self.bind(&format!("{}{i}", names.2), t1);
            let new_e = add(&[&a[n - 3], &t1]);
            let s0 = self.call(F::BigS0, &[&a[n]]);
            let maj = self.call(F::Maj, &[&a[n], &a[n - 1], &a[n - 2]]);
            let new_a = add(&[&t1, &s0, &maj]);
            let new_e = self.bind(&format!("{}{}", names.1, i + 1), new_e);
            let new_a = self.bind(&format!("{}{}", names.0, i + 1), new_a);
            e.push(new_e);
            a.push(new_a);
        }
    }

    /// Drops every `let` the results do not depend on (the a registers of the last rounds,
    /// say), walking back from `results`, then every parameter no `let` reads.
    fn prune(&mut self, results: &[String]) {
        let idents = |s: &str| -> Vec<String> {
            s.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .collect()
        };
        let mut needed: HashSet<String> = results.iter().flat_map(|r| idents(r)).collect();
        let mut keep = vec![false; self.lets.len()];
        for (k, (n, expr)) in self.lets.iter().enumerate().rev() {
            if needed.contains(n) {
                keep[k] = true;
                needed.extend(idents(expr));
            }
        }
        let mut k = keep.into_iter();
        self.lets.retain(|_| k.next().unwrap_or(false));
        self.fields
            .retain(|f| needed.contains(&format!("p.{}", f.name)));
    }
}

/// The per-nonce code for `versions` versions: the `let`s, then one candidate test per
/// version (the last state word of its double hash, byte-swapped, against the limit).
fn body(g: &mut Gen, versions: usize) -> Vec<String> {
    // Shared by every version: the first three block-2 words and the two schedule words that
    // depend on nothing else.
    let tail: Vec<Val> = (0..3)
        .map(|i| g.param(&format!("tail{i}"), &format!("r0.tail[{i}]"), None))
        .collect();
    let w16 = g.param("w16", "r0.w16", None);
    let w17 = g.param("w17", "r0.w17", None);
    let w3 = g.bind("w3", nonce_term(swap_bytes("nonce")));
    // Header block 2: the nonce is word 3; the padding words are literals.
    let mut w = tail.clone();
    w.push(w3.clone());
    w.push(lit(PAD_WORD));
    w.extend((5..15).map(|_| lit(0)));
    w.push(lit(HEADER_BITS));
    w.push(w16);
    w.push(w17);
    g.schedule(&mut w, "w", 18, 64);

    let mut tests = Vec::new();
    for k in 0..versions {
        let pre = |i: &str| format!("r{k}.{i}");
        let ver = Some(k);
        let prefix = if g.shared {
            format!("r{k}_")
        } else {
            String::new()
        };
        // The host ran rounds 0..3 and all of round 3 but its message word; `state3` is
        // [a, b, c, d, e, f, g, h] after three rounds.
        let a4 = g.param("a4_base", &pre("a4_base"), ver);
        let e4 = g.param("e4_base", &pre("e4_base"), ver);
        let a4 = g.bind(&format!("{prefix}a4"), add(&[&a4, &w3]));
        let e4 = g.bind(&format!("{prefix}e4"), add(&[&e4, &w3]));
        // Round 4 reads back to the registers after round 1; what came before is never read.
        let mut a = vec![lit(0); 4];
        let mut e = vec![lit(0); 4];
        for (r, s) in [(1, 2), (2, 1), (3, 0)] {
            a.push(g.param(&format!("a{r}"), &pre(&format!("state3[{s}]")), ver));
        }
        for (r, s) in [(1, 6), (2, 5), (3, 4)] {
            e.push(g.param(&format!("e{r}"), &pre(&format!("state3[{s}]")), ver));
        }
        a.push(a4);
        e.push(e4);
        let names = |c: &str| format!("{prefix}{c}");
        let (na, ne, nt) = (names("a"), names("e"), names("t"));
        g.rounds(&mut a, &mut e, &w, (4, 64), (&na, &ne, &nt));

        // The first hash (midstate + block-2 state) is the second hash's message.
        let mid: Vec<Val> = (0..8)
            .map(|i| g.param(&format!("mid{i}"), &pre(&format!("midstate[{i}]")), ver))
            .collect();
        let mut v = Vec::new();
        for (i, m) in mid.iter().enumerate() {
            let reg = if i < 4 { &a[67 - i] } else { &e[71 - i] };
            v.push(g.bind(&format!("{prefix}v{i}"), add(&[m, reg])));
        }
        v.push(lit(PAD_WORD));
        v.extend((9..15).map(|_| lit(0)));
        v.push(lit(HASH_BITS));
        g.schedule(&mut v, &names("v"), 16, 61);

        let mut x: Vec<Val> = [IV[3], IV[2], IV[1], IV[0]].into_iter().map(lit).collect();
        let mut y: Vec<Val> = [IV[7], IV[6], IV[5], IV[4]].into_iter().map(lit).collect();
        // Round 60 only for its new e: three more rounds would carry it into h unchanged.
        let (nx, ny, nu) = (names("x"), names("y"), names("u"));
        g.rounds(&mut x, &mut y, &v, (0, 61), (&nx, &ny, &nu));
        let h7 = g.bind(&names("h7"), add(&[&lit(IV[7]), &y[61 + 3]]));
        let h7 = g.emit(&h7);
        tests.push(swap_bytes(&h7));
    }
    g.prune(&tests);
    tests
}

const HEAD: &str = "\
// sha256d nonce scan: the WGSL twin of src/sha256/portable.rs.
//
// GENERATED by build/wgsl.rs; edit the generator, then rewrite the kernels/ copy with
//     SHA256D_BLESS=1 cargo test -p sha256d --features gpu --test gpu the_checked_in_kernel
//
// Per nonce: the message schedule of the header's second block (the same for every version),
// then for each version rounds 4..64 of that block (the host folds rounds 0..3 into `Params`)
// and rounds 0..61 of the second hash, whose last state word alone decides whether the nonce
// is a candidate; the host re-hashes every candidate in full. w<i>/v<i> are message words of
// the first/second hash, a<n>/e<n> and x<n>/y<n> the a/e registers after n rounds, t<i>/u<i>
// round i's T1; r<k>_ prefixes version k's values and parameters. Parameters u<n> are sums and
// σs of other parameters, computed on the host.

// Invocations per workgroup and nonces per invocation, set when the pipeline is built.
override WG: u32 = 64u;
override NPI: u32 = 32u;
";

const TAIL: &str = "
// The candidate `nonce` of version `version` (an index into the dispatch's versions). `count`
// may exceed the array's length; the host then scans the range again.
fn record(nonce: u32, version: u32) {
    let slot = atomicAdd(&hits.count, 1u);
    if slot < arrayLength(&hits.found) {
        hits.found[slot] = vec2<u32>(nonce, version);
    }
}

@compute @workgroup_size(WG)
fn scan(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    // Rows of groups.x workgroups: one dimension stops at 65535 workgroups.
    let invocation = id.y * groups.x * WG + id.x;
    let base = invocation * NPI;
    for (var j = 0u; j < NPI; j++) {
        let offset = base + j;
        if offset >= p.count {
            return;
        }
        let nonce = p.first + offset;
";

/// Words of `Params` before the generated ones: the range and the limit, set per dispatch.
const FIXED: [&str; 3] = ["first", "count", "limit"];

/// The kernel file for `versions` versions sharing a dispatch, in OUT_DIR (and, for one
/// version, in kernels/).
pub fn file_name(versions: usize) -> String {
    match versions {
        1 => "sha256d.wgsl".to_string(),
        n => format!("sha256d_x{n}.wgsl"),
    }
}

/// A generated kernel and the host code that fills its parameters.
pub struct Kernel {
    pub wgsl: String,
    /// The body of the `params` match arm for this kernel: a `vec![...]` over `r0`, `r1`, ...
    pub rust: String,
    /// Words in its `Params`.
    pub words: usize,
}

pub fn kernel(versions: usize) -> Kernel {
    let mut g = Gen {
        shared: versions > 1,
        ..Gen::default()
    };
    let tests = body(&mut g, versions);
    // Shared parameters first, then each version's, each group in the order first used.
    g.fields.sort_by_key(|f| f.version.map_or(0, |k| k + 1));

    let mut wgsl = String::from(HEAD);
    wgsl.push_str(
        "\n// Everything about the headers that does not depend on the nonce, and the range.\n\
         struct Params {\n",
    );
    for n in FIXED {
        wgsl.push_str(&format!("    {n}: u32,\n"));
    }
    for f in &g.fields {
        wgsl.push_str(&format!("    {}: u32,\n", f.name));
    }
    wgsl.push_str(
        "}\n\n\
         // Candidates as (nonce, version index).\n\
         struct Hits {\n    count: atomic<u32>,\n    found: array<vec2<u32>>,\n}\n\n\
         @group(0) @binding(0) var<uniform> p: Params;\n\
         @group(0) @binding(1) var<storage, read_write> hits: Hits;\n",
    );
    wgsl.push_str(TAIL);
    for (n, expr) in &g.lets {
        wgsl.push_str(&format!("        let {n} = {expr};\n"));
    }
    for (k, t) in tests.iter().enumerate() {
        wgsl.push_str(&format!(
            "        if {t} <= p.limit {{\n            record(nonce, {k}u);\n        }}\n"
        ));
    }
    wgsl.push_str("    }\n}\n");

    let mut rust = String::from("vec![0, 0, 0");
    for f in &g.fields {
        rust.push_str(&format!(", {}", f.rust));
    }
    rust.push(']');
    Kernel {
        wgsl,
        rust,
        words: FIXED.len() + g.fields.len(),
    }
}

/// The Rust of `params`, which fills a kernel's `Params` from the versions' prehashes.
pub fn params_rust(kernels: &[Kernel]) -> String {
    let words = kernels.iter().map(|k| k.words).max().unwrap_or(0);
    let mut out = format!(
        "// GENERATED by build/wgsl.rs from the kernels' parameter lists.\n\
         /// Words in the largest kernel's `Params`.\n\
         pub(super) const PARAM_WORDS: usize = {words};\n\
         /// The kernel's `Params` for versions sharing a dispatch, one `Prehash` each (1 to\n\
         /// MAX_VERSIONS), with the range and limit left zero; empty for any other count.\n\
         pub(super) fn params(pre: &[Prehash]) -> Vec<u32> {{\n    match pre {{\n",
    );
    for (i, k) in kernels.iter().enumerate() {
        let names: Vec<String> = (0..=i).map(|r| format!("r{r}")).collect();
        out.push_str(&format!("        [{}] => {},\n", names.join(", "), k.rust));
    }
    out.push_str("        _ => Vec::new(),\n    }\n}\n");
    out
}
