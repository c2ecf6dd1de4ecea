//! Helpers of the real Home Assistant suite: the environment `cargo xtask ha-conformance` sets, clients, bulk REST
//! writes with bounded concurrency, waiting for the mirror on its change stream, comparing it with
//! `GET /api/states`, and the xtask's control socket.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt, stream};
use ha_client::{BackoffPolicy, Client, ClientConfig, Mirror, RestClient, StreamItem};
use ha_proto::rest::SetStateRequest;
use ha_proto::{Secret, State};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, copy_bidirectional};
use tokio::net::{TcpListener, TcpStream, UnixStream};
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout, timeout_at};

/// Printed by every test when the server variables are absent, so plain `cargo test` stays self-contained.
pub(crate) const SKIPPED: &str = "HAPULSE_HA_URL/HAPULSE_HA_TOKEN not set: skipped real Home Assistant conformance \
                                  (run `cargo xtask ha-conformance`)";

/// A guard against hangs of single operations (never an assertion about speed).
pub(crate) const HANG: Duration = Duration::from_secs(120);

/// How long the mirror may take to converge after bulk writes (generous: the machine may be loaded).
pub(crate) const CONVERGE: Duration = Duration::from_secs(180);

/// REST writes in flight at once during bulk changes (enough for Home Assistant to coalesce events).
pub(crate) const IN_FLIGHT: usize = 16;

/// Tolerance for timestamps: compressed states send epoch floats, REST sends ISO strings.
pub(crate) const TIMESTAMP_TOLERANCE_MICROS: i64 = 1_000;

/// Where the server is, as `cargo xtask ha-conformance` exports it.
#[derive(Debug)]
pub(crate) struct RealHa {
    /// `HAPULSE_HA_URL`, e.g. `http://127.0.0.1:41234`.
    pub(crate) url: String,
    /// `HAPULSE_HA_TOKEN`: a long-lived token of the owner.
    pub(crate) token: Secret,
    /// `HAPULSE_HA_CONTROL`: the xtask's control socket (absent when running against your own server).
    pub(crate) control: Option<PathBuf>,
}

/// The server from the environment, or `None` (after printing why the test does nothing).
pub(crate) fn real_ha() -> Option<RealHa> {
    let var = |name| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    match (var("HAPULSE_HA_URL"), var("HAPULSE_HA_TOKEN")) {
        (Some(url), Some(token)) => {
            Some(RealHa { url, token: Secret::new(token), control: var("HAPULSE_HA_CONTROL").map(PathBuf::from) })
        }
        _ => {
            // Straight to the stderr handle: libtest captures `println!`/`eprintln!` of passing tests.
            let _ = writeln!(std::io::stderr(), "{SKIPPED}");
            None
        }
    }
}

impl RealHa {
    /// Client settings: quick reconnects (the restart test waits for them) and room for large results.
    pub(crate) fn config(&self) -> ClientConfig {
        self.config_via(&self.url)
    }

    /// [`RealHa::config`] for another base URL (a proxy in front of the server).
    pub(crate) fn config_via(&self, url: &str) -> ClientConfig {
        let mut cfg = ClientConfig::new(url, self.token.clone()).expect("HAPULSE_HA_URL is a valid url");
        cfg.backoff = BackoffPolicy { base: Duration::from_millis(100), cap: Duration::from_secs(1), factor: 2.0 };
        cfg.command_timeout = Duration::from_secs(60);
        cfg
    }

    /// A connected client.
    pub(crate) async fn client(&self) -> Client {
        within(Client::connect(self.config())).await.expect("client connects to the real Home Assistant")
    }
}

/// Fails the test if `fut` does not finish within [`HANG`].
pub(crate) async fn within<F: Future>(fut: F) -> F::Output {
    timeout(HANG, fut).await.expect("operation hung (no answer within the hang guard)")
}

/// `sensor.hapulse_<prefix>_0000` … : ids of REST-created entities.
pub(crate) fn bulk_ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("sensor.hapulse_{prefix}_{i:04}")).collect()
}

/// Writes `POST /api/states/<id>` for each `(id, body)` with [`IN_FLIGHT`] requests at once; returns the stored
/// states by id.
pub(crate) async fn bulk_set(rest: &RestClient, writes: Vec<(String, SetStateRequest)>) -> BTreeMap<String, State> {
    let written: Vec<(String, State)> = within(
        stream::iter(writes)
            .map(|(id, body)| async move { rest.set_state(&id, &body).await.map(|outcome| (id, outcome.state)) })
            .buffer_unordered(IN_FLIGHT)
            .try_collect(),
    )
    .await
    .expect("POST /api/states succeeds");
    written.into_iter().collect()
}

/// `DELETE /api/states/<id>` for each id, [`IN_FLIGHT`] at once; every one must have existed.
pub(crate) async fn bulk_delete(rest: &RestClient, ids: &[String]) {
    let existed: Vec<bool> =
        within(stream::iter(ids).map(|id| rest.delete_state(id)).buffer_unordered(IN_FLIGHT).try_collect())
            .await
            .expect("DELETE /api/states succeeds");
    assert!(existed.iter().all(|e| *e), "some deleted entity did not exist");
}

/// Why `mine` (a mirrored state) differs from `truth` (Home Assistant's), or `None` when they are the same:
/// entity id, state, attributes and context exactly, `last_changed`/`last_updated` within
/// [`TIMESTAMP_TOLERANCE_MICROS`]. `last_reported` is not compared (compressed states do not carry it).
pub(crate) fn state_difference(mine: &State, truth: &State) -> Option<String> {
    let id = truth.entity_id.as_str();
    let off = |a: ha_proto::Timestamp, b: ha_proto::Timestamp| (a.as_micros() - b.as_micros()).abs();
    if mine.entity_id != truth.entity_id {
        Some(format!("{id}: entity_id {} != {}", mine.entity_id.as_str(), id))
    } else if mine.state != truth.state {
        Some(format!("{id}: state {:?} != {:?}", mine.state, truth.state))
    } else if mine.attributes != truth.attributes {
        Some(format!("{id}: attributes {:?} != {:?}", mine.attributes, truth.attributes))
    } else if mine.context != truth.context {
        Some(format!("{id}: context {:?} != {:?}", mine.context, truth.context))
    } else if off(mine.last_changed, truth.last_changed) > TIMESTAMP_TOLERANCE_MICROS {
        Some(format!("{id}: last_changed {} != {}", mine.last_changed, truth.last_changed))
    } else if off(mine.last_updated, truth.last_updated) > TIMESTAMP_TOLERANCE_MICROS {
        Some(format!("{id}: last_updated {} != {}", mine.last_updated, truth.last_updated))
    } else {
        None
    }
}

/// Every difference between the mirror's states and `truth` (a full list such as `GET /api/states`).
pub(crate) fn differences(mine: &[State], truth: &[State]) -> Vec<String> {
    let mine: BTreeMap<&str, &State> = mine.iter().map(|s| (s.entity_id.as_str(), s)).collect();
    let truth_map: BTreeMap<&str, &State> = truth.iter().map(|s| (s.entity_id.as_str(), s)).collect();
    let mut out = Vec::new();
    if truth_map.len() != truth.len() {
        out.push(format!("the truth lists {} states for {} entity ids", truth.len(), truth_map.len()));
    }
    for (id, t) in &truth_map {
        match mine.get(id) {
            None => out.push(format!("{id}: missing from the mirror")),
            Some(m) => out.extend(state_difference(m, t)),
        }
    }
    out.extend(mine.keys().filter(|id| !truth_map.contains_key(*id)).map(|id| format!("{id}: only in the mirror")));
    out
}

/// What the mirror should hold for one entity: `Some(state)`, or `None` for "absent".
pub(crate) type Expected = BTreeMap<String, Option<State>>;

fn mismatch(mirror: &Mirror, id: &str, want: &Option<State>) -> Option<String> {
    match (mirror.get(id), want) {
        (None, None) => None,
        (Some(_), None) => Some(format!("{id}: still in the mirror")),
        (None, Some(_)) => Some(format!("{id}: missing from the mirror")),
        (Some(mine), Some(truth)) => state_difference(&mine, truth),
    }
}

/// Waits, on the mirror's change stream, until every entity of `expected` is as expected. Rechecks only the
/// entities each change report names (all of them after `Lagged` or `Reconnected`). Fails after [`CONVERGE`]
/// with what still differs.
pub(crate) async fn await_mirror(mirror: &mut Mirror, expected: &Expected) {
    let mut pending: BTreeSet<&str> =
        expected.iter().filter(|(id, want)| mismatch(mirror, id, want).is_some()).map(|(id, _)| id.as_str()).collect();
    let deadline = Instant::now() + CONVERGE;
    while !pending.is_empty() {
        let item = match timeout_at(deadline, mirror.changes().next()).await {
            Ok(item) => item,
            Err(_) => {
                let sample: Vec<String> =
                    pending.iter().take(10).filter_map(|id| mismatch(mirror, id, &expected[*id])).collect();
                panic!(
                    "the mirror did not converge within {CONVERGE:?}: {} of {} entities differ, e.g. {sample:#?}",
                    pending.len(),
                    expected.len()
                );
            }
        };
        let touched: Vec<String> = match item {
            None => panic!("the mirror's change stream ended (client stopped: {:?})", mirror.len()),
            Some(StreamItem::Item(report)) => {
                report.added.iter().chain(&report.updated).chain(&report.removed).map(|id| id.to_string()).collect()
            }
            Some(StreamItem::Lagged(_) | StreamItem::Reconnected) => expected.keys().cloned().collect(),
        };
        for id in touched {
            if let Some((key, want)) = expected.get_key_value(&id) {
                if mismatch(mirror, key, want).is_none() {
                    pending.remove(key.as_str());
                } else {
                    pending.insert(key.as_str());
                }
            }
        }
    }
}

/// Asserts that the mirror equals `GET /api/states` (see [`state_difference`]). Each round reads the REST states,
/// then pings on the WebSocket (whatever Home Assistant queued before the pong has then been applied) and
/// compares; a mismatch (a change racing the two reads) is retried until [`CONVERGE`] runs out.
pub(crate) async fn assert_mirror_equals_rest(client: &Client, mirror: &Mirror) {
    let deadline = Instant::now() + CONVERGE;
    let mut rounds = 0;
    loop {
        rounds += 1;
        let truth = within(client.rest().get_states()).await.expect("GET /api/states");
        within(client.ping()).await.expect("ping");
        let diffs = differences(&mirror.states(), &truth);
        if diffs.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "after {rounds} rounds the mirror ({} entities) still differs from GET /api/states ({} entities) in {} \
             ways, e.g. {:#?}",
            mirror.len(),
            truth.len(),
            diffs.len(),
            &diffs[..diffs.len().min(10)]
        );
    }
}

/// Waits until a `ping` succeeds on a connection that stayed the same during the ping. Whatever the server
/// queued on that connection before the pong (resubscription results, snapshots) has then been applied, because
/// one task reads the frames in order.
pub(crate) async fn settle_on_live_connection(client: &Client) {
    within(async {
        loop {
            let connects = client.stats().connects;
            if client.stats().connected && client.ping().await.is_ok() && client.stats().connects == connects {
                return;
            }
            // That connection is gone (or was not up yet): wait for the next one.
            client.wait_for_generation(connects + 1).await.expect("the client reconnects by itself");
        }
    })
    .await;
}

/// Sends one request line (`restart`, `stop`, `start`, `status`) to the xtask's control socket and returns the
/// reply line; fails on `err …`.
pub(crate) async fn control(real: &RealHa, request: &str) -> String {
    let path = real.control.as_ref().expect("HAPULSE_HA_CONTROL is set (run `cargo xtask ha-conformance`)");
    let exchange = async {
        let mut socket = UnixStream::connect(path).await?;
        socket.write_all(format!("{request}\n").as_bytes()).await?;
        let mut reply = String::new();
        BufReader::new(socket).read_line(&mut reply).await?;
        Ok::<_, std::io::Error>(reply.trim_end().to_owned())
    };
    let reply = timeout(Duration::from_secs(300), exchange)
        .await
        .unwrap_or_else(|_| panic!("control socket: no reply to {request:?}"))
        .unwrap_or_else(|e| panic!("control socket {}: {e}", path.display()));
    assert!(reply.starts_with("ok"), "control socket answered {reply:?} to {request:?}");
    reply
}

/// A TCP forwarder on 127.0.0.1 in front of the server that counts the connections made through it: the way to
/// see client retries that leave no trace on the server.
#[derive(Debug)]
pub(crate) struct CountingProxy {
    /// Base URL of the proxy (same scheme as the server's).
    pub(crate) url: String,
    accepted: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl CountingProxy {
    /// Starts forwarding to the host and port of `server_url`.
    pub(crate) async fn start(server_url: &str) -> CountingProxy {
        let (scheme, rest) = server_url.split_once("://").expect("url has a scheme");
        let authority = rest.split('/').next().expect("url has a host").to_owned();
        let target = if authority.contains(':') {
            authority
        } else {
            format!("{authority}:{}", if scheme == "https" { 443 } else { 80 })
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy binds on 127.0.0.1");
        let url = format!("{scheme}://{}", listener.local_addr().expect("proxy address"));
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&accepted);
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let target = target.clone();
                tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&target).await {
                        let _ = copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        CountingProxy { url, accepted, task }
    }

    /// Connections accepted so far.
    pub(crate) fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
