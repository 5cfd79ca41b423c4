//! bulkhead PowerPC Book E (e500) trap-and-emulate port.
//!
//! e500v2 has no hypervisor state (no E.HV): bulkhead runs in supervisor state and
//! partitions run in problem state (MSR[PR]=1), in address space 1, so every privileged
//! instruction they execute traps to us and is emulated.
//!
//! Reading order:
//! - [`entry`]: the reset entry (stack, .bss, vectors, CCSR mapping) and the ePAPR boot
//!   arguments ([`entry::BootInfo`]); a board instantiates it with [`entry!`](crate::entry!).
//! - [`trap`]: the exception vectors, the trap frame, entering guest code
//!   ([`trap::run`]) and the one place a hypervisor fault is reported.
//! - [`percpu`]: each core's trap-path state (fault frame and stack), found through SPRG2.
//! - [`cpu`]: what the core is (PVR, SVR, MMU geometry, timebase).
//! - [`tlb`]: TLB1 entries: encoding (pure) and writing them (`tlbwe`).
//! - [`spr`]: SPR numbers, declared once, and `mfspr`/`mtspr`.
//! - [`smp`]: releasing the second core (ePAPR spin table), which partition runs where.
//! - [`selftest`]: proves the trap path at first light (problem-state `mfmsr` traps).
//! - [`uart`], [`gpio`]: the SoC devices first light needs (NS16550 console, MPC8xxx GPIO).
//!
//! Running partitions (the `hv::exit::Vcpu` implementation):
//! - `guest` (PowerPC only): a partition's vCPU, [`vcpu`] state + [`guest_tlb`] + a trap
//!   frame; its run loop enters the guest and hands each trap to `trap::exits`, which
//!   decodes it into an `hv::exit::Exit` or finishes it (emulation, shadow refill,
//!   reflection).
//! - [`shadow`]: the shadow TLB (guest TLB → real TLB0 entries in address space 1).
//! - [`mmio`]: decoding the load/store that touched an emulated device.
//! - [`timer`]: the tickless physical decrementer; `idle`: dozing while a guest waits.
//! - [`poweroff`]: the emulated power-off GPIO; [`loader`]: copying a staged image in;
//!   [`guest_dt`]: the device tree it boots with.
//!
//! Everything that is not an instruction is plain Rust and unit-tested on the host; the
//! assembly and SPR accessors only exist when building for PowerPC.
#![cfg_attr(not(test), no_std)]

pub mod cpu;
pub mod entry;
pub mod gpio;
#[cfg(target_arch = "powerpc")]
pub mod guest;
#[cfg(target_arch = "powerpc")]
mod guest_irq;
#[cfg(target_arch = "powerpc")]
pub mod idle;
pub mod guest_dt;
pub mod loader;
pub mod mpic;
pub mod percpu;
pub mod poweroff;
pub mod selftest;
pub mod smp;
pub mod spr;
pub mod timer;
pub mod tlb;
pub mod trap;
pub mod uart;
pub mod vccsr;
pub mod vmpic;

// The virtual e500v2 CPU, pure logic (host-tested): decoder, emulator, guest TLB model,
// interrupt reflection. See docs/booke-emulation.md.
pub mod emulate;
pub mod guest_tlb;
pub mod insn;
pub mod mmio;
pub mod reflect;
pub mod shadow;
pub mod sprn;
pub mod vcpu;
