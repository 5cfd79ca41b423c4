//! bulkhead's arch-neutral core.
//!
//! Design principles:
//! 1. Static configuration. Everything a partition owns is fixed by the device-tree
//!    configuration at boot; nothing is allocated afterwards (no heap: fixed-capacity
//!    `heapless` collections only).
//! 2. Never trust the blob, never trust the guest. The configuration is re-validated here
//!    even though the host tool checked it; guest input can stop its own partition, never
//!    the hypervisor.
//! 3. Pure where possible. Everything in this crate builds and is unit-tested on the host
//!    with plain `cargo test`; hardware access lives in the ports (`armv8`, `ppc-booke`,
//!    `vtx`) and the boards.
//!
//! Reading order:
//! - [`config`]: the configuration model, parsed from the flattened device tree, and the
//!   checks that make it trustworthy.
//! - [`boot`]: what every board prints at first light (banner, hardware, partition table).
//! - [`exit`]: the port contract: the [`exit::Vcpu`] trait every port implements and the
//!   arch-neutral [`exit::Exit`] its trap decoding returns.
//! - [`run`]: the per-CPU run loop deciding what each exit means; the only place fault
//!   policy is applied.
//! - [`partition`]: a partition's run-time state; [`memmap`]: its guest-physical map, from
//!   which ports build their translations and against which every guest pointer is checked.
//! - [`fdt_writer`]: heap-free device-tree writer (each partition gets its own tree).
//! - [`image`]: where a guest image (raw, ELF, arm64 Image) goes in guest memory.
//! - [`hypercall`]: the ABI, identical on every port; [`console`]: the per-partition,
//!   line-buffered console multiplexer; [`console_input`]: who gets what the operator types
//!   (Ctrl-A then a partition id moves the focus); [`vdev`]: emulated device models.
//! - `log`: the defmt logger; boards supply its transport.
#![cfg_attr(not(test), no_std)]

pub mod boot;
pub mod config;
pub mod console;
pub mod console_input;
pub mod exit;
pub mod fdt_writer;
pub mod hypercall;
pub mod image;
pub mod memmap;
pub mod partition;
pub mod run;
pub mod vdev;
#[cfg(feature = "defmt")]
pub mod log;

/// bulkhead's version, as printed in the banner.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
