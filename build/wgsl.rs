//! The WGSL kernel generator, run by the build script under feature `gpu`: the nonce scan of
//! `src/sha256/portable.rs`, unrolled into single-assignment `let`s with every constant folded,
//! because WGSL has no unrolling and a runtime-indexed array costs a memory gather per access
//! on software rasterisers. It reads the crate's own constants (`src/sha256/consts.rs`), so the
//! kernel and the CPU engines cannot disagree on them.

use super::consts::{HASH_BITS, HEADER_BITS, IV, K, PAD_WORD};

/// A value known to the generator: a sum of WGSL terms plus a literal, so constants from
/// several places fold into one literal.
#[derive(Clone, Default)]
struct Val {
    terms: Vec<String>,
    lit: u32,
}

fn lit(c: u32) -> Val {
    Val {
        terms: Vec::new(),
        lit: c,
    }
}

fn name(n: &str) -> Val {
    Val {
        terms: vec![n.to_string()],
        lit: 0,
    }
}

impl Val {
    fn as_lit(&self) -> Option<u32> {
        self.terms.is_empty().then_some(self.lit)
    }

    fn wgsl(&self) -> String {
        let mut parts = self.terms.clone();
        if self.lit != 0 || parts.is_empty() {
            parts.push(format!("0x{:08x}u", self.lit));
        }
        parts.join(" + ")
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

/// `f(args)` in WGSL, or its value when every argument is a literal.
fn call(f: &str, args: &[&Val], eval: fn(&[u32]) -> u32) -> Val {
    let lits: Option<Vec<u32>> = args.iter().map(|a| a.as_lit()).collect();
    match lits {
        Some(l) => lit(eval(&l)),
        None => {
            let args: Vec<String> = args.iter().map(|a| a.wgsl()).collect();
            name(&format!("{f}({})", args.join(", ")))
        }
    }
}

fn big_s0(x: &Val) -> Val {
    call("big_s0", &[x], |v| {
        v[0].rotate_right(2) ^ v[0].rotate_right(13) ^ v[0].rotate_right(22)
    })
}
fn big_s1(x: &Val) -> Val {
    call("big_s1", &[x], |v| {
        v[0].rotate_right(6) ^ v[0].rotate_right(11) ^ v[0].rotate_right(25)
    })
}
fn small_s0(x: &Val) -> Val {
    call("small_s0", &[x], |v| {
        v[0].rotate_right(7) ^ v[0].rotate_right(18) ^ (v[0] >> 3)
    })
}
fn small_s1(x: &Val) -> Val {
    call("small_s1", &[x], |v| {
        v[0].rotate_right(17) ^ v[0].rotate_right(19) ^ (v[0] >> 10)
    })
}
fn ch(e: &Val, f: &Val, g: &Val) -> Val {
    call("ch", &[e, f, g], |v| v[2] ^ (v[0] & (v[1] ^ v[2])))
}
fn maj(a: &Val, b: &Val, c: &Val) -> Val {
    call("maj", &[a, b, c], |v| {
        (v[0] & v[1]) | (v[2] & (v[0] | v[1]))
    })
}

/// The body of `last_word`, as `let` statements.
#[derive(Default)]
struct Body {
    lets: Vec<(String, String)>,
}

impl Body {
    /// Names a compound value so later uses read a register, not a recomputation.
    fn bind(&mut self, n: &str, v: Val) -> Val {
        let plain = |t: &str| {
            t.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._".contains(c))
        };
        if v.as_lit().is_some() || (v.lit == 0 && v.terms.len() == 1 && plain(&v.terms[0])) {
            return v;
        }
        self.lets.push((n.to_string(), v.wgsl()));
        name(n)
    }

    /// The message schedule from word `from` on: `w[i] = σ1(w[i-2]) + w[i-7] + σ0(w[i-15])
    /// + w[i-16]`.
    fn schedule(&mut self, w: &mut Vec<Val>, prefix: &str, from: usize, to: usize) {
        for i in from..to {
            let v = add(&[
                &small_s1(&w[i - 2]),
                &w[i - 7],
                &small_s0(&w[i - 15]),
                &w[i - 16],
            ]);
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
        from: usize,
        to: usize,
        names: (&str, &str, &str),
    ) {
        for i in from..to {
            let n = i + 3;
            let kw = add(&[&lit(K[i]), &w[i]]);
            let t1 = add(&[
                &e[n - 3],
                &big_s1(&e[n]),
                &ch(&e[n], &e[n - 1], &e[n - 2]),
                &kw,
            ]);
            let t1 = self.bind(&format!("{}{i}", names.2), t1);
            let new_e = add(&[&a[n - 3], &t1]);
            let new_a = add(&[&t1, &big_s0(&a[n]), &maj(&a[n], &a[n - 1], &a[n - 2])]);
            let new_e = self.bind(&format!("{}{}", names.1, i + 1), new_e);
            let new_a = self.bind(&format!("{}{}", names.0, i + 1), new_a);
            e.push(new_e);
            a.push(new_a);
        }
    }

    /// Drops every `let` the result does not depend on (the a registers of the last
    /// rounds, say), walking back from `result`.
    fn prune(&mut self, result: &str) {
        let idents = |s: &str| -> Vec<String> {
            s.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .collect()
        };
        let mut needed: std::collections::HashSet<String> = idents(result).into_iter().collect();
        let mut keep = vec![false; self.lets.len()];
        for (k, (n, expr)) in self.lets.iter().enumerate().rev() {
            if needed.contains(n) {
                keep[k] = true;
                needed.extend(idents(expr));
            }
        }
        let mut k = keep.into_iter();
        self.lets.retain(|_| k.next().unwrap_or(false));
    }
}

fn last_word_body() -> String {
    let mut body = Body::default();
    let w3 = body.bind("w3", name("swap_bytes(nonce)"));
    // Header block 2: the nonce is word 3; the padding words are literals.
    let mut w = vec![
        name("p.tail0"),
        name("p.tail1"),
        name("p.tail2"),
        w3.clone(),
    ];
    w.push(lit(PAD_WORD));
    w.extend((5..15).map(|_| lit(0)));
    w.push(lit(HEADER_BITS));
    w.push(name("p.w16"));
    w.push(name("p.w17"));
    body.schedule(&mut w, "w", 18, 64);

    // The host ran rounds 0..3 and all of round 3 but its message word.
    let a4 = body.bind("a4", add(&[&name("p.a4_base"), &w3]));
    let e4 = body.bind("e4", add(&[&name("p.e4_base"), &w3]));
    // Round 4 reads back to the registers after round 1; what came before is never read.
    let mut a = vec![lit(0); 4];
    a.extend([name("p.a1"), name("p.a2"), name("p.a3"), a4]);
    let mut e = vec![lit(0); 4];
    e.extend([name("p.e1"), name("p.e2"), name("p.e3"), e4]);
    body.rounds(&mut a, &mut e, &w, 4, 64, ("a", "e", "t"));

    // The first hash (midstate + block-2 state) is the second hash's message.
    let final_a = |r: usize| &a[64 + 3 - r];
    let final_e = |r: usize| &e[64 + 3 - r];
    let mut v = Vec::new();
    for i in 0..4 {
        let word = add(&[&name(&format!("p.mid{i}")), final_a(i)]);
        v.push(body.bind(&format!("v{i}"), word));
    }
    for i in 4..8 {
        let word = add(&[&name(&format!("p.mid{i}")), final_e(i - 4)]);
        v.push(body.bind(&format!("v{i}"), word));
    }
    v.push(lit(PAD_WORD));
    v.extend((9..15).map(|_| lit(0)));
    v.push(lit(HASH_BITS));
    body.schedule(&mut v, "v", 16, 61);

    let mut x: Vec<Val> = [IV[3], IV[2], IV[1], IV[0]].into_iter().map(lit).collect();
    let mut y: Vec<Val> = [IV[7], IV[6], IV[5], IV[4]].into_iter().map(lit).collect();
    // Round 60 only for its new e: three more rounds would carry it into h unchanged.
    body.rounds(&mut x, &mut y, &v, 0, 61, ("x", "y", "u"));
    let h7 = add(&[&lit(IV[7]), &y[61 + 3]]).wgsl();
    body.prune(&h7);

    let mut out = String::new();
    for (n, expr) in &body.lets {
        out.push_str(&format!("    let {n} = {expr};\n"));
    }
    out.push_str(&format!("    return {h7};\n"));
    out
}

const HEAD: &str = "\
// sha256d nonce scan: the WGSL twin of src/sha256/portable.rs.
//
// GENERATED by `kernel_source` in tests/gpu.rs; edit the generator, then rewrite this file with
//     SHA256D_BLESS=1 cargo test --features gpu --test gpu kernel_matches_generator
//
// Per nonce: rounds 4..64 of the header's second block (the host folds rounds 0..3 into
// `Params`) and rounds 0..61 of the second hash, whose last state word alone decides whether
// the nonce is a candidate; the host re-hashes every candidate in full. In `last_word`,
// w<i>/v<i> are message words of the first/second hash, a<n>/e<n> and x<n>/y<n> the a/e
// registers after n rounds, t<i>/u<i> round i's T1.

// Invocations per workgroup and nonces per invocation, set when the pipeline is built.
override WG: u32 = 64u;
override NPI: u32 = 32u;

// Everything about the header that does not depend on the nonce (`Prehash`), and the range.
struct Params {
    mid0: u32, mid1: u32, mid2: u32, mid3: u32, mid4: u32, mid5: u32, mid6: u32, mid7: u32,
    a1: u32, a2: u32, a3: u32, e1: u32, e2: u32, e3: u32, a4_base: u32, e4_base: u32,
    tail0: u32, tail1: u32, tail2: u32, w16: u32, w17: u32,
    first: u32, count: u32, limit: u32,
}

// Candidates: `count` may exceed the array's length; the host then scans the range again.
struct Hits {
    count: atomic<u32>,
    nonces: array<u32>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> hits: Hits;

// WGSL has no rotate; drivers turn this pattern into one (funnel shift, alignbit).
fn rotr(x: u32, n: u32) -> u32 {
    return (x >> n) | (x << (32u - n));
}
fn big_s0(x: u32) -> u32 {
    return rotr(x, 2u) ^ rotr(x, 13u) ^ rotr(x, 22u);
}
fn big_s1(x: u32) -> u32 {
    return rotr(x, 6u) ^ rotr(x, 11u) ^ rotr(x, 25u);
}
fn small_s0(x: u32) -> u32 {
    return rotr(x, 7u) ^ rotr(x, 18u) ^ (x >> 3u);
}
fn small_s1(x: u32) -> u32 {
    return rotr(x, 17u) ^ rotr(x, 19u) ^ (x >> 10u);
}
fn ch(e: u32, f: u32, g: u32) -> u32 {
    return g ^ (e & (f ^ g));
}
fn maj(a: u32, b: u32, c: u32) -> u32 {
    return (a & b) | (c & (a | b));
}
// The header stores the nonce little-endian; SHA-256 reads words big-endian.
fn swap_bytes(x: u32) -> u32 {
    return (x << 24u) | ((x & 0xff00u) << 8u) | ((x >> 8u) & 0xff00u) | (x >> 24u);
}

// The last state word of the double hash for one nonce.
fn last_word(nonce: u32) -> u32 {
";

const TAIL: &str = "}

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
        if swap_bytes(last_word(nonce)) <= p.limit {
            let slot = atomicAdd(&hits.count, 1u);
            if slot < arrayLength(&hits.nonces) {
                hits.nonces[slot] = nonce;
            }
        }
    }
}
";

pub fn sha256d_wgsl() -> String {
    format!("{HEAD}{}{TAIL}", last_word_body())
}
