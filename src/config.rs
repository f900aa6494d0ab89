//! The terminal configuration: TOML read into raw serde types, validated into typed `Config`.
