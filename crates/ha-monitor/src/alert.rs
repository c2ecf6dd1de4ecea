//! The alert state machine: inactive → pending → firing → resolved → inactive, stepped with an
//! explicit `now`.
//!
//! - inactive: a breach (value past the threshold) makes it pending, or firing at once when `for` is 0.
//! - pending: firing once the breach has lasted `for`; back to inactive as soon as a value is not a breach.
//! - firing: stays until the value is past the resolve threshold on the healthy side (hysteresis),
//!   so noise between the two thresholds never makes it flap. No data counts as healthy.
//! - resolved: shown for one evaluation (so sinks can dismiss the notification), then inactive,
//!   or pending again when it breaches.

use crate::Millis;
use crate::registry::MetricSource;
use crate::rules::{Rule, RuleSet, Severity};

/// Where one rule stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AlertState {
    /// Healthy.
    #[default]
    Inactive,
    /// Breaching since `since`, not yet for long enough.
    Pending {
        /// When the breach started.
        since: Millis,
    },
    /// Firing since `since`.
    Firing {
        /// When it started firing.
        since: Millis,
    },
    /// Stopped firing at `at` (lasts one evaluation).
    Resolved {
        /// When it resolved.
        at: Millis,
    },
}

impl AlertState {
    /// Short lowercase name: `inactive`, `pending`, `firing` or `resolved`.
    pub fn name(&self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending { .. } => "pending",
            AlertState::Firing { .. } => "firing",
            AlertState::Resolved { .. } => "resolved",
        }
    }

    /// Whether this is [`AlertState::Firing`].
    pub fn is_firing(&self) -> bool {
        matches!(self, AlertState::Firing { .. })
    }
}

/// The next state of `rule` given its current `state` and the `value` read at `now` (`None` = no data).
pub fn step(rule: &Rule, state: AlertState, value: Option<f64>, now: Millis) -> AlertState {
    let breached = value.is_some_and(|v| rule.breached(v));
    let start_breach = || {
        if rule.for_duration.is_zero() { AlertState::Firing { since: now } } else { AlertState::Pending { since: now } }
    };
    match state {
        AlertState::Inactive | AlertState::Resolved { .. } => {
            if breached {
                start_breach()
            } else {
                AlertState::Inactive
            }
        }
        AlertState::Pending { since } => {
            if !breached {
                AlertState::Inactive
            } else if now.duration_since(since) >= rule.for_duration {
                AlertState::Firing { since: now }
            } else {
                state
            }
        }
        AlertState::Firing { .. } => {
            if value.is_none_or(|v| rule.recovered(v)) {
                AlertState::Resolved { at: now }
            } else {
                state
            }
        }
    }
}

/// A rule's state with what it saw last.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertStatus {
    /// The rule.
    pub rule: Rule,
    /// Its state.
    pub state: AlertState,
    /// The value read at the last evaluation.
    pub value: Option<f64>,
}

/// A change of state seen by [`AlertEngine::evaluate`].
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// Name of the rule.
    pub rule: String,
    /// Its severity.
    pub severity: Severity,
    /// State before.
    pub from: AlertState,
    /// State after.
    pub to: AlertState,
    /// The value that caused it.
    pub value: Option<f64>,
}

/// Evaluates every rule of a [`RuleSet`] against a [`MetricSource`].
#[derive(Debug, Clone)]
pub struct AlertEngine {
    statuses: Vec<AlertStatus>,
}

impl AlertEngine {
    /// All rules inactive.
    pub fn new(rules: RuleSet) -> Self {
        Self {
            statuses: rules
                .rules
                .into_iter()
                .map(|rule| AlertStatus { rule, state: AlertState::Inactive, value: None })
                .collect(),
        }
    }

    /// Reads every rule's value at `now` and steps its state; returns the changes.
    pub fn evaluate(&mut self, source: &dyn MetricSource, now: Millis) -> Vec<Transition> {
        let mut changes = Vec::new();
        for s in &mut self.statuses {
            let value = s.rule.read(source, now);
            let next = step(&s.rule, s.state, value, now);
            if std::mem::discriminant(&next) != std::mem::discriminant(&s.state) {
                changes.push(Transition {
                    rule: s.rule.name.clone(),
                    severity: s.rule.severity,
                    from: s.state,
                    to: next,
                    value,
                });
            }
            s.state = next;
            s.value = value;
        }
        changes
    }

    /// Every rule with its state.
    pub fn statuses(&self) -> &[AlertStatus] {
        &self.statuses
    }

    /// The rules firing now.
    pub fn firing(&self) -> impl Iterator<Item = &AlertStatus> {
        self.statuses.iter().filter(|s| s.state.is_firing())
    }
}

#[cfg(test)]
mod tests;
