//! Instruction counts of ha-proto's decoding and encoding (iai-callgrind), the twins of
//! `wall_proto` with the same ids: group = area, function = op, bench id = case. Inputs are built
//! by `setup`, outside the counted region, and results are returned so their drop is not counted.

use std::hint::black_box;

use benches::hot;
use benches::inputs;
use ha_proto::{ClientMessage, State};
use iai_callgrind::{library_benchmark, library_benchmark_group, main};

#[library_benchmark]
// Only the 1k case under callgrind: counts scale linearly with entities (18.7k per entity measured at
// 1k, 10k and 16,384), and building the larger installs under valgrind cost minutes of gate time.
#[bench::n1k(args = (ha_fixtures::SMALL), setup = inputs::get_states_text)]
fn parse_get_states(text: String) -> (Vec<State>, String) {
    black_box((hot::parse_get_states(&text), text))
}

#[library_benchmark]
#[bench::median(setup = inputs::one_compressed_diff)]
fn parse_compressed_diff(text: String) -> (usize, String) {
    black_box((hot::parse_compressed(&text), text))
}

#[library_benchmark]
#[bench::median(setup = inputs::one_state_changed)]
fn parse_state_changed(text: String) -> (usize, String) {
    black_box((hot::parse_state_changed(&text), text))
}

#[library_benchmark]
#[bench::median(setup = inputs::one_state_changed)]
fn parse_state_changed_frame(text: String) -> (usize, String) {
    black_box((hot::parse_state_changed_frame(&text), text))
}

#[library_benchmark]
#[bench::light_turn_on(setup = inputs::call_service)]
fn serialise_call_service(message: ClientMessage) -> (String, ClientMessage) {
    black_box((message.to_json(), message))
}

library_benchmark_group!(
    name = proto;
    benchmarks = parse_get_states, parse_compressed_diff, parse_state_changed, parse_state_changed_frame, serialise_call_service
);

main!(library_benchmark_groups = proto);
