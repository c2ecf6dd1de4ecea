//! Many callers on one connection, and consumers that fall behind.

mod common;

use common::{assert_mirror_matches, client, config, settle, sim, within};
use futures_util::StreamExt;
use ha_client::{Client, CommandKind, StreamItem};

#[tokio::test]
async fn hundred_concurrent_callers_get_their_own_answers() {
    let sim = sim(20).await;
    let client = client(&sim).await;

    let callers: Vec<_> = (0..100)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move { (i, client.render_template(&format!("caller {i}")).await) })
        })
        .collect();
    let mut answers = Vec::new();
    for caller in callers {
        answers.push(within(caller).await.unwrap());
    }

    for (i, answer) in answers {
        assert_eq!(answer.unwrap(), serde_json::json!(format!("caller {i}")));
    }
    assert_eq!(sim.connections(), 1);
}

#[tokio::test]
async fn concurrent_mixed_commands_all_succeed_on_one_connection() {
    let sim = sim(20).await;
    let client = client(&sim).await;

    let callers: Vec<_> = (0..100)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                match i % 3 {
                    0 => client.ping().await.map(|_| 0),
                    1 => client.get_states().await.map(|s| s.len()),
                    _ => client.get_config().await.map(|_| 0),
                }
            })
        })
        .collect();
    let mut sizes = Vec::new();
    for caller in callers {
        sizes.push(within(caller).await.unwrap().unwrap());
    }

    assert!(sizes.iter().enumerate().all(|(i, n)| if i % 3 == 1 { *n == 20 } else { *n == 0 }));
    assert_eq!(client.stats().command(CommandKind::GetStates).ok, 33);
}

#[tokio::test]
async fn slow_consumer_gets_lagged_with_the_exact_count() {
    let sim = sim(50).await;
    let mut cfg = config(&sim);
    cfg.stream_capacity = 8;
    let client = within(Client::connect(cfg)).await.unwrap();
    let mut events = within(client.subscribe_events(Some("state_changed"))).await.unwrap();

    sim.emit_changes(100);
    settle(&client).await;
    let first = within(events.next()).await.unwrap();
    let rest: Vec<_> = within(events.by_ref().take(8).collect::<Vec<_>>()).await;

    assert_eq!(first, StreamItem::Lagged(92));
    assert!(rest.iter().all(|i| matches!(i, StreamItem::Item(_))));
    assert_eq!(events.backlog(), 0);
    assert_eq!(client.stats().lagged, 92);
}

#[tokio::test]
async fn mirror_stays_current_when_nobody_reads_its_changes() {
    let sim = sim(100).await;
    let mut cfg = config(&sim);
    cfg.stream_capacity = 4;
    let client = within(Client::connect(cfg)).await.unwrap();
    let mirror = within(client.subscribe_entities(None)).await.unwrap();

    sim.emit_changes(1000);
    settle(&client).await;

    assert_mirror_matches(&mirror, &sim);
}

#[tokio::test]
async fn two_mirrors_on_one_connection_stay_independent() {
    let sim = sim(60).await;
    let client = client(&sim).await;
    let all = within(client.subscribe_entities(None)).await.unwrap();
    let one_id = all.states()[0].entity_id.to_string();
    let one = within(client.subscribe_entities(Some(vec![one_id.clone()]))).await.unwrap();

    sim.emit_changes(300);
    settle(&client).await;

    assert_mirror_matches(&all, &sim);
    assert_eq!(one.len(), 1);
    assert_eq!(one.get(&one_id), all.get(&one_id));
}
