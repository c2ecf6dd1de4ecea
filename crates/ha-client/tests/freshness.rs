//! A mirror never lies about being current: [`Freshness`] while the client reconnects, while a
//! refused re-subscribe is retried with the connection's backoff, and after Home Assistant
//! refused it for good or the client stopped.

mod common;

use std::time::Duration;

use common::{assert_mirror_matches, client, settle, sim, within};
use ha_client::{ClientError, Freshness, Mirror};
use ha_proto::ErrorCode;
use tokio::sync::watch;
use tokio::time::Instant;

async fn wait_for(fresh: &mut watch::Receiver<Freshness>, what: impl FnMut(&Freshness) -> bool) -> Freshness {
    within(fresh.wait_for(what)).await.expect("the mirror's freshness is still reported").clone()
}

#[tokio::test]
async fn mirror_is_resyncing_since_the_drop_while_reconnecting_then_current_again() {
    // arrange
    let sim = sim(20).await;
    let client = client(&sim).await;
    let mirror = within(client.subscribe_entities(None)).await.unwrap();
    let mut fresh = mirror.watch_freshness();
    let current_at_first = mirror.is_current();

    // act: Home Assistant goes away (503 to every reconnect attempt) until cleared
    let before = Instant::now();
    sim.faults().restart_with_downtime(Duration::from_secs(3600));
    let stale = wait_for(&mut fresh, |f| !f.is_current()).await;
    let after = Instant::now();
    sim.faults().clear();
    let again = wait_for(&mut fresh, Freshness::is_current).await;

    // assert
    assert!(current_at_first);
    let Freshness::Resyncing { since, last_error } = stale else { panic!("{stale:?}") };
    assert!(before <= since && since <= after, "{since:?} not in {before:?}..{after:?}");
    assert!(matches!(last_error, Some(ClientError::ConnectionLost { .. })), "{last_error:?}");
    assert!(again.is_current());
    assert_eq!(mirror.snapshots(), 2);
}

#[tokio::test]
async fn refused_resubscribe_is_retried_with_backoff_until_home_assistant_accepts() {
    // arrange
    let sim = sim(50).await;
    let client = client(&sim).await;
    let mut mirror = within(client.subscribe_entities(None)).await.unwrap();

    // act: the first three re-subscribes after the drop fail with a transient error
    sim.faults().refuse_commands("subscribe_entities", 3, ErrorCode::HomeAssistantError);
    sim.faults().drop_all_now();
    sim.emit_changes(30);
    let snapshots = within(mirror.wait_for_snapshot(2)).await.expect("the mirror resyncs");
    settle(&client).await;

    // assert
    assert_eq!((snapshots, client.stats().reconnects), (2, 1));
    assert!(mirror.is_current(), "{:?}", mirror.freshness());
    assert_mirror_matches(&mirror, &sim);
}

#[tokio::test]
async fn while_a_refused_resubscribe_waits_for_its_retry_the_mirror_says_why() {
    // arrange
    let sim = sim(20).await;
    let client = client(&sim).await;
    let mut mirror = within(client.subscribe_entities(None)).await.unwrap();
    let mut fresh = mirror.watch_freshness();

    // act
    sim.faults().refuse_commands("subscribe_entities", u64::MAX, ErrorCode::HomeAssistantError);
    sim.faults().drop_all_now();
    let refused = wait_for(
        &mut fresh,
        |f| matches!(f, Freshness::Resyncing { last_error: Some(e), .. } if e.is_code("home_assistant_error")),
    )
    .await;
    sim.faults().clear();
    within(mirror.wait_for_snapshot(2)).await.expect("the retries go on and succeed");

    // assert
    assert!(refused.stale_since().is_some());
    assert!(mirror.is_current(), "{:?}", mirror.freshness());
}

/// The mirror after Home Assistant answered its re-subscribe with `code`.
async fn refused_for_good(code: ErrorCode) -> (Mirror, Freshness, usize) {
    let sim = sim(20).await;
    let client = client(&sim).await;
    let mirror = within(client.subscribe_entities(None)).await.unwrap();
    let mut fresh = mirror.watch_freshness();
    sim.faults().refuse_commands("subscribe_entities", 1, code);
    sim.faults().drop_all_now();
    let ended = wait_for(&mut fresh, |f| matches!(f, Freshness::Ended { .. })).await;
    // Later connections do not revive it.
    sim.faults().drop_all_now();
    within(client.wait_for_generation(3)).await.unwrap();
    settle(&client).await;
    let entities = mirror.len();
    (mirror, ended, entities)
}

#[tokio::test]
async fn resubscribe_answered_unknown_command_ends_the_mirror_with_the_error() {
    let (mirror, ended, entities) = refused_for_good(ErrorCode::UnknownCommand).await;

    let Freshness::Ended { error, .. } = ended else { panic!("{ended:?}") };
    assert!(error.is_code("unknown_command"), "{error}");
    assert!(matches!(mirror.freshness(), Freshness::Ended { .. }), "{:?}", mirror.freshness());
    assert_eq!(entities, 20, "the last content is still served");
}

#[tokio::test]
async fn resubscribe_answered_unauthorized_ends_the_mirror_with_the_error() {
    let (mirror, ended, _) = refused_for_good(ErrorCode::Unauthorized).await;

    let Freshness::Ended { error, .. } = ended else { panic!("{ended:?}") };
    assert!(error.is_code("unauthorized"), "{error}");
    assert!(matches!(mirror.freshness(), Freshness::Ended { .. }), "{:?}", mirror.freshness());
}

#[tokio::test]
async fn a_client_that_stops_ends_its_mirrors() {
    let sim = sim(5).await;
    let client = client(&sim).await;
    let mirror = within(client.subscribe_entities(None)).await.unwrap();

    within(client.close()).await;

    assert!(
        matches!(mirror.freshness(), Freshness::Ended { error: ClientError::Shutdown, .. }),
        "{:?}",
        mirror.freshness()
    );
}
