//! Scenario TOML: schema, span-aware validation, lowering into engine types.
