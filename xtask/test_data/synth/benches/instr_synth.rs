//! iai-callgrind (instruction count) side of the synthetic crate: group = area, function = op,
//! bench id = case, so the benchmark id is `synth/sum/small` like its wall-clock twin.

use std::hint::black_box;

use iai_callgrind::{LibraryBenchmarkConfig, library_benchmark, library_benchmark_group, main};

#[library_benchmark]
#[bench::small(setup = synth_benches::iterations_from_env)]
fn sum(iterations: u64) -> u64 {
    black_box(synth_benches::work(iterations))
}

#[library_benchmark]
#[bench::large(setup = large_iterations)]
fn mix(iterations: u64) -> u64 {
    black_box(synth_benches::work(iterations))
}

fn large_iterations() -> u64 {
    synth_benches::BASE_ITERATIONS * 2
}

library_benchmark_group!(name = synth; benchmarks = sum, mix);

main!(
    config = LibraryBenchmarkConfig::default().pass_through_envs(["SYNTH_EXTRA_WORK_PERCENT"]);
    library_benchmark_groups = synth
);
