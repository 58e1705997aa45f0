//! Criterion benches: one group per engine family, throughput in hashes (nonces times
//! versions). The CLI's `bench` command is the quick side-by-side table; these are for tracking
//! one engine over time.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sha256d::{engine::ENGINE_NAMES, Header, Options, Target, Work};

const HEADER: &str = "0100000081cd02ab7e569e8bcd9317e2fe99f2de44d49ab2b8851ba4a308000000000000e320b6c2fffc8d750423db8b1eb942ae710e951ed797f7affc8892b0f1fc122bc7f5d74df2b9441a42a14695";

fn engines(c: &mut Criterion) {
    let header = Header::from_hex(HEADER).expect("valid header");
    for name in ENGINE_NAMES {
        let mut group = c.benchmark_group(*name);
        for threads in [1usize, 2] {
            let mut options = Options::default();
            options.threads = Some(threads);
            let Ok(engine) = sha256d::open(name, &options) else {
                continue;
            };
            // Big enough that per-search setup is noise for the fastest engine.
            let nonces: u64 = if *name == "portable" {
                1 << 19
            } else {
                1 << 21
            };
            let work = Work::new(header, Target::DIFFICULTY_1)
                .with_nonces(0..nonces)
                .expect("in range");
            group.throughput(Throughput::Elements(nonces));
            group.sample_size(10);
            group.bench_with_input(BenchmarkId::new("threads", threads), &work, |b, w| {
                b.iter(|| engine.search(w).expect("search runs"))
            });
            if threads == 1 {
                // The same number of hashes as eight rolled versions, which CPU engines hash
                // sharing each nonce's schedule.
                let rolled = Work::new(header, Target::DIFFICULTY_1)
                    .with_nonces(0..nonces / 8)
                    .expect("in range")
                    .with_version_rolling(0x1fff_e000, 8)
                    .expect("eight versions fit the mask");
                group.bench_with_input(BenchmarkId::new("versions", 8), &rolled, |b, w| {
                    b.iter(|| engine.search(w).expect("search runs"))
                });
            }
        }
        group.finish();
    }
}

criterion_group!(benches, engines);
criterion_main!(benches);
