//! Configuration: the device-tree bindings of `/hypervisor`, parsed into a [`Config`] and
//! checked so that nothing later has to trust the blob.
//!
//! The bindings are documented in `docs/configuration.md` and as dt-schema in
//! `guest-configs/schema/`. The same parser and checks run in the host tool
//! (`cargo xtask check-config`) and in the hypervisor at boot.
//!
//! Entry points:
//! - [`parse`]: the first error, for boot (the hypervisor refuses to start on any error).
//! - [`parse_all`]: every error, for the host tool.
//! - [`parse_into`]: fills a caller-provided [`Config`] (e.g. in a `static`), so that the
//!   large model never sits on a small boot stack.
//!
//! Nothing here panics on any input: the blob is validated token by token before the
//! `fdt` crate sees it ([`blob`]), every property is decoded with length checks, and all
//! address arithmetic is checked.

mod blob;
mod check;
pub mod compact;
mod device;
mod error;
mod model;
mod names;
mod parse;
#[cfg(test)]
mod testfdt;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_check;

pub use error::{ConfigError, ErrorKind, Path};
pub use model::*;

/// Parses and checks `dtb` into `cfg` (cleared first), calling `report` for every error.
/// Returns the number of errors; `cfg` is only meaningful when that is 0.
pub fn parse_into(dtb: &[u8], cfg: &mut Config, report: &mut dyn FnMut(&ConfigError)) -> usize {
    *cfg = Config::new();
    let mut names = parse::Names::new();
    let mut sink = parse::Sink { report, errors: 0 };
    parse::parse_tree(dtb, cfg, &mut names, &mut sink);
    // A tree that is not even walkable has nothing to check.
    let walkable = sink.errors == 0 || blob::validate(dtb).is_ok();
    if walkable {
        check::check(cfg, &names, &mut sink);
    }
    sink.errors
}

/// Parses and checks `dtb`, calling `report` for every error (host tool).
/// `Some` only if there were none.
pub fn parse_all(dtb: &[u8], report: &mut dyn FnMut(&ConfigError)) -> Option<Config> {
    let mut cfg = Config::new();
    (parse_into(dtb, &mut cfg, report) == 0).then_some(cfg)
}

/// Parses and checks `dtb`; the first error if any (boot).
pub fn parse(dtb: &[u8]) -> Result<Config, ConfigError> {
    let mut first: Option<ConfigError> = None;
    let mut cfg = Config::new();
    parse_into(dtb, &mut cfg, &mut |e| {
        if first.is_none() {
            first = Some(e.clone());
        }
    });
    match first {
        Some(e) => Err(e),
        None => Ok(cfg),
    }
}
