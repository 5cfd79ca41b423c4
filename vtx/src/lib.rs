//! bulkhead's x86-64 VT-x port (see `docs/vtx.md`).
//!
//! Reading order:
//! - [`entry`]: multiboot2 header, GRUB's 32-bit entry, identity map, long mode, the
//!   board's `main` ([`entry!`]); [`gdt`]: its GDT and each CPU's TSS.
//! - [`cpu`]: CPUID and VMX capability probe, VMXON, control capabilities; [`vmx`] and
//!   [`vmcs`]: the VMX instructions and the VMCS fields, declared once.
//! - [`vcpu`]: the vCPU (`hv::exit::Vcpu`), its VMCS set-up and boot state, the exit path;
//!   [`trap`]: VM exits decoded by reason (and the hypervisor's own exceptions).
//! - [`ept`]: a partition's guest-physical map; [`ioports`]: its port space (bitmaps,
//!   emulated ports); [`loader`]: its image and Multiboot information.
//! - [`vlapic`]: the virtual x2APIC and its TSC-deadline timer; [`vpic`]: the virtual
//!   8259s, through which passthrough devices interrupt; [`emulate`]: CPUID and the MSR
//!   bitmap; [`irq`]: the host's local APIC, I/O APIC and PICs; [`smp`]: starting the
//!   other CPUs.
//! - [`multiboot2`]: the boot information (config DTB module, staged images, memory map).
//! - [`uart`]: 16550 console over port I/O; [`io`] and [`msr`]: port I/O and MSRs, the
//!   register numbers declared once.
#![cfg_attr(not(test), no_std)]

#[cfg(not(target_arch = "x86_64"))]
compile_error!("vtx is the x86-64 port: build it for x86_64-unknown-none");

pub mod cpu;
pub mod emulate;
pub mod gdt;
pub mod ept;
// The boot code defines `_start`: only in the bare-metal image, not in host tests.
#[cfg(target_os = "none")]
pub mod entry;
pub mod io;
pub mod irq;
pub mod ioports;
pub mod loader;
pub mod msr;
pub mod multiboot2;
pub mod smp;
pub mod trap;
pub mod uart;
pub mod vcpu;
pub mod vlapic;
pub mod vpic;
pub mod vmcs;
pub mod vmx;
