//! The host tool's library half: what integration tests (and `main.rs`) share.
//! Only `config` lives here; everything else is private to the `xtask` binary.

pub mod config;
