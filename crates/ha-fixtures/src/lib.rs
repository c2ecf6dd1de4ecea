//! ha-fixtures
