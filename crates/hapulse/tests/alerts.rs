//! Alert accuracy, end to end against an in-process ha-sim, on tokio's paused clock (no real
//! sleeping; time advances only when every task waits).
//!
//! What is real and what is not:
//! - `latency_fault_*`: everything is real — the simulator and its injected fault
//!   (`delay_responses`), the client, the measured command latencies, the recording, the rules,
//!   the alert engine, the publishing calls and the notifications the simulator holds — except the
//!   clock, which is tokio's paused clock (so the 3 s delay and the rule's `for` take no real time).
//! - `healthy_*`: the simulator's load, the client, the mirror, the sampler, the rules, the engine
//!   and the sensor posts are real, on the paused clock; the round-trip latencies are 20 real pings
//!   measured in real time first and then replayed once per simulated second, because a round trip
//!   timed on the paused clock occasionally reads several virtual seconds (the clock jumps while the
//!   answer is in flight) and would raise a false latency alert.
//! - `noise_*`: the latencies are fed into the same metrics, rules, alert engine and publish
//!   planner with an injected `now`; no server is involved (the question is hysteresis, not I/O).

use std::time::Duration;

use ha_client::{Client, ClientConfig, ServiceCall};
use ha_monitor::alert::{AlertEngine, AlertState};
use ha_monitor::publish::{self, PublisherConfig, PublisherState};
use ha_monitor::rules::RuleSet;
use ha_monitor::{Millis, Registry, StdMetrics};
use ha_proto::{Secret, Target};
use ha_sim::{Sim, SimConfig};
use hapulse::agent::{Agent, AgentConfig};
use hapulse::monitor::{Monitor, Session, SessionConfig};

const TOKEN: &str = "alert-test-token";

async fn sim(rate: f64) -> Sim {
    let config =
        SimConfig { entities: 200, rate, token: TOKEN.into(), heartbeat: Duration::ZERO, ..SimConfig::default() };
    Sim::start(config).await.expect("sim starts")
}

async fn client(sim: &Sim) -> Client {
    let mut config = ClientConfig::new(&sim.http_url(), Secret::new(TOKEN)).unwrap();
    config.heartbeat = None;
    config.command_timeout = Duration::from_secs(60);
    Client::connect(config).await.expect("client connects")
}

fn agent() -> Agent {
    let config = AgentConfig {
        publish_every: Duration::from_secs(10),
        publisher: PublisherConfig { min_interval: Duration::from_secs(10), ..PublisherConfig::default() },
        ..AgentConfig::default()
    };
    Agent::new(RuleSet::defaults(), config)
}

fn state_of(agent: &Agent, rule: &str) -> AlertState {
    agent.engine().statuses().iter().find(|s| s.rule.name == rule).expect("rule exists").state
}

fn shown(sim: &Sim, id: &str) -> bool {
    sim.notifications().iter().any(|n| n.notification_id == id)
}

#[tokio::test(start_paused = true)]
async fn latency_fault_goes_pending_fires_after_for_notifies_and_resolves_after_removal() {
    // arrange
    let sim = sim(0.0).await;
    let client = client(&sim).await;
    let monitor = Monitor::new();
    let mut agent = agent();
    let light = sim.states().into_iter().find(|s| s.entity_id.domain() == "light").expect("fixtures have lights");
    let call = ServiceCall::new("light", "toggle").target(Target::entities([light.entity_id.as_str()]));
    let rule = agent.engine().statuses().iter().find(|s| s.rule.name == "command_latency").unwrap().rule.clone();

    // act 1: every response delayed by 3 s; one call and one evaluation every 10 s
    sim.faults().delay_responses(Duration::from_secs(3));
    let mut pending_at = None;
    let mut firing_at = None;
    for _ in 0..30 {
        monitor.timed("call_service", client.call_service(&call)).await.expect("call succeeds, slowly");
        tokio::time::sleep(Duration::from_secs(7)).await;
        agent.tick(&monitor, &client, monitor.now()).await;
        match state_of(&agent, "command_latency") {
            AlertState::Pending { since } => pending_at = pending_at.or(Some(since)),
            AlertState::Firing { since } => {
                firing_at = Some(since);
                break;
            }
            _ => {}
        }
    }
    // one more round publishes the notification (the publisher runs every 10 s)
    tokio::time::sleep(Duration::from_secs(10)).await;
    agent.tick(&monitor, &client, monitor.now()).await;

    // assert 1
    let (pending_at, firing_at) = (pending_at.expect("went pending"), firing_at.expect("fired"));
    assert!(firing_at.duration_since(pending_at) >= rule.for_duration, "fired before its `for`");
    assert!(shown(&sim, "hapulse_command_latency"), "{:?}", sim.notifications());

    // act 2: the fault is removed; fast calls push the slow ones out of the window
    sim.faults().delay_responses(Duration::ZERO);
    let mut resolved = false;
    for _ in 0..60 {
        monitor.timed("call_service", client.call_service(&call)).await.expect("call succeeds");
        tokio::time::sleep(Duration::from_secs(10)).await;
        let (transitions, _) = agent.tick(&monitor, &client, monitor.now()).await;
        resolved |=
            transitions.iter().any(|t| t.rule == "command_latency" && matches!(t.to, AlertState::Resolved { .. }));
        if resolved && !shown(&sim, "hapulse_command_latency") {
            break;
        }
    }

    // assert 2
    assert!(resolved, "never resolved");
    assert!(!shown(&sim, "hapulse_command_latency"), "{:?}", sim.notifications());
}

#[test]
fn noise_between_the_resolve_and_firing_thresholds_does_not_flap() {
    // arrange: p99 over 10 s above 1 s fires after 30 s; resolves only below 0.5 s
    let rules = RuleSet::parse(
        r#"
        use_default_rules = false
        [[rule]]
        name = "latency"
        metric = "hapulse_command_latency_seconds"
        aggregation = "p99"
        window = "10s"
        above = "1s"
        resolve = "500ms"
        for = "30s"
        "#,
    )
    .unwrap();
    let mut registry = Registry::default();
    let metrics = StdMetrics::register(&mut registry);
    let mut engine = AlertEngine::new(rules);
    let mut published = PublisherState::default();
    let config = PublisherConfig::default();
    let (mut creates, mut dismisses, mut transitions) = (0, 0, Vec::new());
    let mut run = |from_s: u64, to_s: u64, latency_ms: &dyn Fn(u64) -> u64| {
        for s in from_s..to_s {
            let now = Millis(s * 1000);
            metrics.on_command("call_service", Duration::from_millis(latency_ms(s)), now);
            transitions.extend(engine.evaluate(&registry, now).into_iter().map(|t| (s, t.to.name())));
            let plan = publish::plan(now, &[], &[], engine.statuses(), &published, &config);
            creates += plan.create.len();
            dismisses += plan.dismiss.len();
            published.commit(&plan, now);
        }
    };

    // act: a real breach (2 s for a minute), then ten minutes of noise between 0.6 s and 1.4 s
    run(0, 60, &|_| 2000);
    run(60, 660, &|s| 600 + (s * 7919 % 9) * 100);

    // assert: pending and firing once, never resolved during the noise; one notification, never dismissed
    assert_eq!(transitions.iter().map(|(_, to)| *to).collect::<Vec<_>>(), ["pending", "firing"]);
    assert_eq!((creates, dismisses), (1, 0));
}

#[tokio::test]
async fn healthy_ten_minutes_raise_no_alert_and_no_notification() {
    // arrange, in real time: 20 state changes per second into the session's mirror and sampler;
    // 20 real pings; the first publishing round (it dismisses what an earlier run may have left)
    let sim = sim(20.0).await;
    let client = client(&sim).await;
    let monitor = Monitor::new();
    let config = SessionConfig { ping_every: None, ..SessionConfig::default() };
    let session = Session::start(client.clone(), monitor.clone(), config).await.unwrap();
    let mut agent = agent();
    let mut rtts = Vec::new();
    for _ in 0..20 {
        rtts.push(monitor.timed("ping", client.ping()).await.unwrap());
    }
    agent.tick(&monitor, &session.client, monitor.now()).await;
    let mut transitions = Vec::new();

    // act: ten minutes on the paused clock, evaluating and publishing every second; the real round
    // trips are replayed (a WebSocket round trip measured on the paused clock can read virtual
    // seconds when time jumps while the answer is in flight)
    tokio::time::pause();
    for i in 0..600 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = monitor.now();
        monitor.metrics.on_ping(rtts[i % rtts.len()], now);
        monitor.metrics.on_command("ping", rtts[i % rtts.len()], now);
        let (t, _) = agent.tick(&monitor, &session.client, now).await;
        transitions.extend(t.into_iter().map(|t| format!("{} -> {}", t.rule, t.to.name())));
    }

    // assert
    assert_eq!(transitions, Vec::<String>::new());
    assert_eq!(sim.notifications().len(), 0, "{:?}", sim.notifications());
    let changes: u64 = monitor.metrics.state_changes.series().iter().map(|(_, c)| c.total()).sum();
    assert!(changes > 1000, "only {changes} state changes reached the mirror");
}

#[tokio::test(start_paused = true)]
async fn mirror_stale_longer_than_the_threshold_fires_and_resolves_once_the_mirror_is_current() {
    // arrange: the real simulator, client, session (sampler) and default rules, on the paused clock
    let sim = sim(0.0).await;
    let client = client(&sim).await;
    let monitor = Monitor::new();
    let config = SessionConfig { ping_every: None, ..SessionConfig::default() };
    let session = Session::start(client.clone(), monitor.clone(), config).await.unwrap();
    let mut agent = Agent::new(RuleSet::defaults(), AgentConfig { publish: false, ..AgentConfig::default() });
    let threshold = agent.engine().statuses().iter().find(|s| s.rule.name == "mirror_stale").unwrap().rule.threshold();

    // act 1: Home Assistant goes away for ten minutes; evaluate every second for three
    sim.faults().restart_with_downtime(Duration::from_secs(600));
    let dropped_at = tokio::time::Instant::now();
    let mut firing_after = None;
    let mut stale_seen = false;
    for _ in 0..180 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        agent.evaluate(&monitor.registry, monitor.now());
        stale_seen |= !session.freshness().is_current();
        if firing_after.is_none() && state_of(&agent, "mirror_stale").is_firing() {
            firing_after = Some(dropped_at.elapsed());
        }
    }

    // act 2: Home Assistant is back; the client reconnects and resyncs by itself
    sim.faults().clear();
    let mut resolved = false;
    for _ in 0..120 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let transitions = agent.evaluate(&monitor.registry, monitor.now());
        resolved |= transitions.iter().any(|t| t.rule == "mirror_stale" && matches!(t.to, AlertState::Resolved { .. }));
        if resolved {
            break;
        }
    }

    // assert
    assert!(stale_seen, "the session never saw the mirror stale");
    let firing_after = firing_after.expect("mirror_stale fired");
    assert!(firing_after.as_secs_f64() > threshold, "fired after {firing_after:?}, before the {threshold} s threshold");
    assert!(firing_after.as_secs_f64() < threshold + 5.0, "fired only after {firing_after:?}");
    assert!(resolved, "never resolved; freshness {:?}", session.freshness());
    assert!(session.freshness().is_current());
}
