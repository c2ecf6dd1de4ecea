//! Read batching (`ClientConfig::read_batching`) against ha-sim: reads held back still reach the
//! mirror, with no command to release them, and nothing is lost. Linux only, as read batching is.
#![cfg(target_os = "linux")]

mod common;

use std::time::Duration;

use common::{assert_mirror_matches, config, sim, truth, within};
use futures_util::StreamExt;
use ha_client::{Client, ReadBatching};

#[tokio::test]
async fn held_reads_reach_the_mirror_when_the_window_ends_without_a_command() {
    // arrange: a client holding reads back for 50 ms (no heartbeat, whose ping would release
    // them), its mirror, and a stream of small frames close enough together to be held back
    let sim = sim(100).await;
    let mut cfg = config(&sim);
    cfg.heartbeat = None;
    cfg.read_batching = Some(ReadBatching::new(Duration::from_millis(50)).unwrap());
    let client = within(Client::connect(cfg)).await.unwrap();
    let mut mirror = within(client.subscribe_entities(None)).await.unwrap();

    // act: changes in small bursts, each a frame of its own, then nothing; the last ones stay
    // below the 64 KiB batch, so only the window's end can make the client read them
    for _ in 0..40 {
        sim.emit_changes(2);
        tokio::task::yield_now().await;
    }
    let expected = truth(&sim);
    within(async {
        while mirror.states() != expected {
            mirror.next().await;
        }
    })
    .await;

    // assert
    assert!(client.stats().read_windows > 0, "the stream was never held back: the test shows nothing");
    assert_mirror_matches(&mirror, &sim);
}
