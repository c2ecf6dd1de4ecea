//! dhat (heap) side of the synthetic crate: one scenario per binary, stats written as the gate's
//! small JSON file into `$HAPULSE_PERF_DHAT_DIR` (see docs/benchmarking.md).

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

fn main() {
    let extra = synth_benches::extra_allocs_from_env();
    let profiler = dhat::Profiler::builder().testing().build();

    let sum = synth_benches::allocate(100, extra);
    std::hint::black_box(sum);

    let stats = dhat::HeapStats::get();
    drop(profiler);
    let dir = std::env::var_os("HAPULSE_PERF_DHAT_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| "target/perf/dhat".into());
    std::fs::create_dir_all(&dir).expect("create dhat dir");
    let json = format!(
        "{{\"id\":\"synth/alloc/hundred\",\"total_bytes\":{},\"total_blocks\":{},\"max_bytes\":{},\"max_blocks\":{},\"curr_bytes\":{},\"curr_blocks\":{}}}\n",
        stats.total_bytes, stats.total_blocks, stats.max_bytes, stats.max_blocks, stats.curr_bytes, stats.curr_blocks
    );
    std::fs::write(dir.join("synth_alloc_hundred.json"), json).expect("write dhat stats");
}
