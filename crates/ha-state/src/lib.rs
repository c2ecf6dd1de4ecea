//! ha-state
