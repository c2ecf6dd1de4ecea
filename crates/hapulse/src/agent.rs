//! Alerting and publishing into Home Assistant: every tick the rules are evaluated and, when
//! publishing is on, ha-monitor's [`publish::plan`] says which `sensor.hapulse_*` states and
//! persistent notifications to send. The plan is rate-limited and coalesced by ha-monitor; this
//! module does the HTTP and WebSocket calls and commits what succeeded, so a failed call is
//! simply planned again later.

use std::time::Duration;

use ha_client::{Client, ServiceCall};
use ha_monitor::alert::{AlertEngine, Transition};
use ha_monitor::publish::{self, Plan, PublisherConfig, PublisherState, SensorSpec};
use ha_monitor::rules::RuleSet;
use ha_monitor::{Millis, Registry};
use ha_proto::rest::SetStateRequest;

use crate::monitor::Monitor;

/// How the agent publishes.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Post sensors and notifications into Home Assistant.
    pub publish: bool,
    /// Plan (and send) at most this often.
    pub publish_every: Duration,
    /// Rate limits of the planner.
    pub publisher: PublisherConfig,
    /// The sensors.
    pub sensors: Vec<SensorSpec>,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            publish: true,
            publish_every: Duration::from_secs(10),
            publisher: PublisherConfig::default(),
            sensors: publish::default_sensors(),
        }
    }
}

/// What one publishing round did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Delivery {
    /// Calls that succeeded.
    pub sent: usize,
    /// Calls that failed (planned again next round).
    pub failed: usize,
}

/// The alert engine plus what Home Assistant was told.
#[derive(Debug)]
pub struct Agent {
    engine: AlertEngine,
    published: PublisherState,
    config: AgentConfig,
    last_publish: Option<Millis>,
}

impl Agent {
    /// An agent with `rules`; at start-up every rule's notification is assumed shown, so the
    /// first round dismisses what a previous run left behind.
    pub fn new(rules: RuleSet, config: AgentConfig) -> Self {
        let mut published = PublisherState::default();
        if config.publish {
            published.assume_shown(rules.rules.iter().map(|r| r.name.as_str()));
        }
        Self { engine: AlertEngine::new(rules), published, config, last_publish: None }
    }

    /// The alert engine (statuses, firing rules).
    pub fn engine(&self) -> &AlertEngine {
        &self.engine
    }

    /// Evaluates every rule at `now`.
    pub fn evaluate(&mut self, registry: &Registry, now: Millis) -> Vec<Transition> {
        self.engine.evaluate(registry, now)
    }

    /// The plan at `now` when a publishing round is due (`None` otherwise, or when publishing is off).
    pub fn plan(&self, registry: &Registry, now: Millis) -> Option<Plan> {
        if !self.config.publish
            || self.last_publish.is_some_and(|at| now.duration_since(at) < self.config.publish_every)
        {
            return None;
        }
        let values = publish::read_sensors(&self.config.sensors, registry, now);
        Some(publish::plan(
            now,
            &self.config.sensors,
            &values,
            self.engine.statuses(),
            &self.published,
            &self.config.publisher,
        ))
    }

    /// Evaluates the rules and, when due, publishes; returns the transitions and the delivery.
    pub async fn tick(&mut self, monitor: &Monitor, client: &Client, now: Millis) -> (Vec<Transition>, Delivery) {
        let transitions = self.evaluate(&monitor.registry, now);
        let mut delivery = Delivery::default();
        if let Some(plan) = self.plan(&monitor.registry, now) {
            self.last_publish = Some(now);
            delivery = self.deliver(monitor, client, &plan, now).await;
        }
        (transitions, delivery)
    }

    /// Sends `plan`, committing each call that succeeded.
    pub async fn deliver(&mut self, monitor: &Monitor, client: &Client, plan: &Plan, now: Millis) -> Delivery {
        let mut d = Delivery::default();
        let mut count = |ok: bool| if ok { d.sent += 1 } else { d.failed += 1 };
        for n in &plan.create {
            let call = ServiceCall::new("persistent_notification", "create").data(n.body.clone());
            let ok = monitor.timed("call_service", client.call_service(&call)).await.is_ok();
            if ok {
                self.published.commit(&Plan { create: vec![n.clone()], ..Plan::default() }, now);
            }
            count(ok);
        }
        for id in &plan.dismiss {
            let call = ServiceCall::new("persistent_notification", "dismiss")
                .data(serde_json::json!({ "notification_id": id }));
            let ok = monitor.timed("call_service", client.call_service(&call)).await.is_ok();
            if ok {
                self.published.commit(&Plan { dismiss: vec![id.clone()], ..Plan::default() }, now);
            }
            count(ok);
        }
        for post in &plan.sensors {
            let Ok(body) = serde_json::from_value::<SetStateRequest>(post.body.clone()) else {
                count(false);
                continue;
            };
            let ok = client.rest().set_state(&post.entity_id, &body).await.is_ok();
            if ok {
                self.published.commit_sensor(post, now);
            }
            count(ok);
        }
        if d.failed > 0 {
            tracing::warn!(sent = d.sent, failed = d.failed, "publishing into home assistant partly failed");
        }
        d
    }
}
