//! Rejected tokens: one attempt, a typed error, no retry loop, and the token never printed.

mod common;

use common::{client, config, sim, within};
use ha_client::{Client, ClientError};
use ha_proto::Secret;

const WRONG: &str = "wrong-token-7f3a9c";

#[tokio::test]
async fn bad_token_gives_auth_invalid_once_without_retry() {
    let sim = sim(5).await;
    let mut cfg = config(&sim);
    cfg.token = Secret::new(WRONG);

    let err = within(Client::connect(cfg)).await.unwrap_err();
    // A later, good client's round trip orders after anything a retry loop would have sent.
    let good = client(&sim).await;
    within(good.ping()).await.unwrap();

    assert!(matches!(err, ClientError::AuthInvalid { .. }), "{err:?}");
    assert_eq!(sim.auth_failures(), 1);
}

#[tokio::test]
async fn token_never_appears_in_errors_or_debug_output() {
    let sim = sim(5).await;
    let mut cfg = config(&sim);
    cfg.token = Secret::new(WRONG);

    let ws_err = within(Client::connect(cfg.clone())).await.unwrap_err();
    let rest_err = within(ha_client::RestClient::new(&cfg).unwrap().get_states()).await.unwrap_err();
    let good_cfg = config(&sim);
    let good = client(&sim).await;

    for text in [
        format!("{ws_err} {ws_err:?}"),
        format!("{rest_err} {rest_err:?}"),
        format!("{cfg:?}"),
        format!("{:?}", ha_client::RestClient::new(&cfg).unwrap()),
    ] {
        assert!(!text.contains(WRONG), "token leaked: {text}");
    }
    let good_debug = format!("{good:?} {:?}", good.rest());
    assert!(!good_debug.contains(good_cfg.token.expose()), "token leaked: {good_debug}");
    assert!(matches!(rest_err, ClientError::Unauthorized { .. }), "{rest_err:?}");
}
