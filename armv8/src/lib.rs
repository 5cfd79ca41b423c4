//! bulkhead's ARMv8-A port: the hypervisor runs at EL2 (non-VHE layout), partitions at
//! EL1/EL0 behind stage-2 translation.
//!
//! Reading order (the PowerPC and x86 ports use the same file names):
//! - [`entry`]: reset entry in assembly: boot CPU only, stack, .bss, vector base, then the
//!   board's `main`; also the entry point secondary CPUs start at.
//! - [`trap`]: the EL2 vector table; the hypervisor's own exceptions, and the decoding of
//!   a guest's synchronous exceptions (by ESR_EL2.EC) into `hv::exit::Exit`s.
//! - [`vcpu`]: `hv::exit::Vcpu` for this port: the context switch into and out of EL1
//!   (its assembly and system registers in `vcpu/hw.rs`), per-CPU trap configuration
//!   (HCR_EL2, timers, debug), MMIO completion, fault injection, reset; [`sysreg`]: the
//!   trapped debug and PMU registers it emulates as RAZ/WI.
//! - [`mmu`]: the hypervisor's identity map at EL2 (caches on); [`stage2`]: each
//!   partition's guest-physical map, built from `hv::memmap`; [`tables`]: the static
//!   pools their translation tables come from; [`cache`]: maintenance by address.
//! - [`loader`]: a partition's image, initramfs and device tree into its RAM;
//!   [`guest_dt`]: that device tree.
//! - [`cpu`]: what virtualization hardware this CPU has (EL, VHE, PA range, GIC, list
//!   registers), bringing the other CPUs online and handing them work.
//! - [`gic`]: the host interrupt controller: which version, its register blocks (GICD,
//!   GICR, GICC, GICH); [`irq`]: physical interrupts at EL2 (distributor set-up, each CPU's
//!   interface with EOImode = 1, acknowledge / priority drop / deactivate, list registers,
//!   kick SGIs); its GICv3 system registers in `irq_sys.rs`; [`deadline`]: the
//!   hypervisor's one-shot timer (CNTHP, PPI 26), armed only on demand.
//! - [`vgic`]: the virtual GIC model, pure and host-tested (`docs/vgic.md`); [`virq`]:
//!   the glue between it and [`irq`] for one vCPU: list registers around every entry,
//!   IRQ exits, emulated distributor accesses and SGI traps, WFI.
//! - [`psci`]: firmware calls (power off, CPU_ON) over the SMC conduit, and the PSCI
//!   partitions see over HVC; [`smp`]: the power state of a partition's vCPUs (CPU_ON
//!   between them).
//! - [`uart`]: the PL011 console driver; [`semihosting`]: the debug channel defmt logs
//!   travel on under QEMU.
//!
//! Assembly and system-register access only build for AArch64; the pure parts (decoding,
//! formatting) are unit-tested on the host.
#![cfg_attr(not(test), no_std)]
// The hot exit handlers (vcpu.rs) are optimised for speed in an image built for size
// (`#[optimize(speed)]`: no outlined code on them). Cross builds only (`cargo xtask`
// builds with RUSTC_BOOTSTRAP=1); host builds run no guest.
#![cfg_attr(target_arch = "aarch64", feature(optimize_attribute))]

#[cfg(target_arch = "aarch64")]
pub mod entry;
pub mod cache;
pub mod cpu;
pub mod deadline;
pub mod gic;
pub mod guest_dt;
pub mod irq;
pub mod loader;
pub mod mmu;
pub mod psci;
pub mod semihosting;
pub mod smp;
pub mod stage2;
pub mod sysreg;
pub mod tables;
pub mod trap;
pub mod uart;
pub mod vcpu;
pub mod vgic;
pub mod virq;
