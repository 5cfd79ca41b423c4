//! Secondary CPUs, and multi-vCPU partitions.
//!
//! Physical CPUs: started by the boot CPU with INIT-SIPI-SIPI (SDM Vol. 3A, 9.4.4), one
//! at a time, each into the board's entry for it on a stack of its own.
//!
//! A started CPU begins in real mode at the trampoline, which the boot CPU copies to
//! [`TRAMPOLINE`] (below 1 MiB, 4 KiB aligned: the SIPI vector is its page number). The
//! trampoline loads the boot CPU's GDT and page tables and goes straight to long mode
//! (PAE, LME, then PE and PG in one write), then to [`ap_main`] with the stack and CPU
//! number the boot CPU left in the trampoline's data. The boot CPU waits for the CPU to
//! report in before it starts the next one; the trampoline's page is not used after that
//! (partitions may own it: every CPU is started before any partition is loaded).
//!
//! Delays: INIT and SIPI want 10 ms and 200 µs pauses on old CPUs. The hypervisor does not
//! know the TSC's frequency, so they are counted in TSC ticks, generous for CPUs and
//! emulators from 100 MHz to 10 GHz of TSC; the wait for the CPU to report in likewise.
//!
//! vCPUs ([`Group`], one per partition, parallel to `armv8::smp`): vCPU `n` of a
//! partition always runs on the partition's `n`-th CPU; its x2APIC id is `n`. vCPU 0
//! starts at the partition's boot entry (a Multiboot kernel's state); the others wait in
//! the hypervisor, halted ([`wait_for_start`]: STI; HLT until a physical IPI at
//! [`crate::irq::KICK`]), until a sibling's STARTUP IPI, then enter the guest in real mode
//! at `vector << 12`, as an AP does. The guest's ICR ([`crate::vlapic::VLapic::icr`])
//! reaches its siblings only through [`Group::send`]: a destination beyond the
//! partition's vCPUs is refused; fixed IPIs set the vector in the target's mailbox and
//! kick its CPU, which takes them into its virtual APIC at the exit the kick causes. A
//! stop or restart forces the other vCPUs out with an NMI ([`Group::halt_others`],
//! `irq::force_exit`).

#![cfg_attr(not(target_os = "none"), allow(dead_code, unused_imports))]

use core::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};

use hv::config::{MAX_CPUS, MAX_PARTITIONS};

use crate::cpu::{rdtsc, CR0_NE, CR0_PE, CR0_PG, CR4_PAE};
use crate::gdt::{KERNEL_CS, KERNEL_DS};
use crate::irq::{self, ICR_LOW};
use crate::msr::{EFER_LME, IA32_EFER};
use crate::vlapic::{Ipi, IpiKind};

/// Where the trampoline runs (SIPI vector 0x08).
pub const TRAMPOLINE: u64 = 0x8000;
const SIPI_VECTOR: u32 = (TRAMPOLINE >> 12) as u32;
/// The GDT's limit (entry.rs: three descriptors, then one 16-byte TSS descriptor per CPU).
const GDT_LIMIT: usize = (3 + 2 * MAX_CPUS) * 8 - 1;
/// Pauses after INIT and between the SIPIs, and the wait for the CPU, in TSC ticks.
const INIT_PAUSE: u64 = 10_000_000;
const SIPI_PAUSE: u64 = 200_000;
const REPORT_TIMEOUT: u64 = 10_000_000_000;
/// Each secondary CPU's hypervisor stack.
const STACK_SIZE: usize = 32 * 1024;

#[repr(C, align(16))]
struct Stack([u8; STACK_SIZE]);
#[cfg(target_os = "none")]
static mut STACKS: [Stack; MAX_CPUS - 1] = [const { Stack([0; STACK_SIZE]) }; MAX_CPUS - 1];

/// Bit N: CPU N reached [`ap_main`].
#[cfg(target_os = "none")]
static ONLINE: AtomicU32 = AtomicU32::new(1);
/// The board's entry for started CPUs (an `fn(usize) -> !`).
#[cfg(target_os = "none")]
static ENTRY: AtomicUsize = AtomicUsize::new(0);

#[cfg(target_os = "none")]
core::arch::global_asm!(
    // Copied to TRAMPOLINE; runs there in real mode with CS = TRAMPOLINE >> 4, IP = 0.
    ".pushsection .rodata.ap_trampoline, \"a\"",
    ".code16",
    ".global vtx_ap_trampoline",
    "vtx_ap_trampoline:",
    "cli",
    "cld",
    "mov %cs, %ax",                                   // DS = CS: the data below by offset
    "mov %ax, %ds",
    "lgdtl (ap_gdt_pointer - vtx_ap_trampoline)",     // the boot CPU's GDT
    "mov %cr4, %eax",                                 // PAE
    "or ${cr4_pae}, %eax",
    "mov %eax, %cr4",
    "mov $boot_pml4, %eax",                           // the boot CPU's page tables (entry.rs)
    "mov %eax, %cr3",
    "mov ${efer}, %ecx",                              // EFER.LME
    "rdmsr",
    "or ${efer_lme}, %eax",
    "wrmsr",
    "mov %cr0, %eax",                                 // PE and PG at once: long mode
    "or ${cr0_bits}, %eax",
    "mov %eax, %cr0",
    "ljmpl ${kernel_cs}, $vtx_ap_long_mode",          // 64-bit code segment
    ".p2align 3",
    "ap_gdt_pointer:",
    ".short {gdt_limit}",
    ".long boot_gdt",
    ".p2align 3",
    "ap_stack_top: .quad 0",                          // written by start() for each CPU
    "ap_cpu: .quad 0",
    ".global vtx_ap_trampoline_end",
    "vtx_ap_trampoline_end:",
    ".popsection",

    ".pushsection .text.ap, \"ax\"",
    ".code64",
    "vtx_ap_long_mode:",
    "mov ${kernel_ds}, %eax",
    "mov %eax, %ds",
    "mov %eax, %es",
    "mov %eax, %ss",
    "xor %eax, %eax",
    "mov %eax, %fs",
    "mov %eax, %gs",
    "mov ({tramp} + ap_stack_top - vtx_ap_trampoline), %rsp",
    "mov ({tramp} + ap_cpu - vtx_ap_trampoline), %rdi",
    "call {ap_main}",                                 // never returns
    "ud2",
    ".popsection",
    cr4_pae = const CR4_PAE,
    efer = const IA32_EFER,
    efer_lme = const EFER_LME,
    cr0_bits = const CR0_PE | CR0_PG | CR0_NE,
    kernel_cs = const KERNEL_CS,
    kernel_ds = const KERNEL_DS,
    gdt_limit = const GDT_LIMIT,
    tramp = const TRAMPOLINE,
    ap_main = sym ap_main,
    options(att_syntax),
);

/// Why a CPU did not start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartError {
    /// Not a CPU this hypervisor can run (beyond MAX_CPUS, or the boot CPU).
    NoSuchCpu(u32),
    /// It did not report in.
    NoResponse(u32),
}

impl core::fmt::Display for StartError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let (c, what) = match self {
            StartError::NoSuchCpu(c) => (c, "cannot be started"),
            StartError::NoResponse(c) => (c, "did not start"),
        };
        write!(f, "cpu {c} {what}")
    }
}

/// Starts the CPU with local APIC id `cpu` into `entry(cpu)`, and waits until it runs.
/// Boot CPU only, before any partition is loaded.
#[cfg(target_os = "none")]
pub fn start(cpu: u32, entry: fn(usize) -> !) -> Result<(), StartError> {
    let index = cpu as usize;
    if index == 0 || index >= MAX_CPUS {
        return Err(StartError::NoSuchCpu(cpu));
    }
    unsafe extern "C" {
        // The trampoline in the assembly above: code and data, copied as one.
        static vtx_ap_trampoline: u8;
        static vtx_ap_trampoline_end: u8;
        static mut ap_stack_top: u64;
        static mut ap_cpu: u64;
    }
    ENTRY.store(entry as usize, Ordering::Release);
    let stack = core::ptr::addr_of_mut!(STACKS).cast::<Stack>().wrapping_add(index - 1);
    let top = stack.wrapping_add(1) as u64;
    // SAFETY: the trampoline's code and data are one block of the image; the copy goes to
    // low memory nothing uses once the CPUs run (no partition is loaded yet), identity-
    // mapped; its data slots are written before the CPU is started, which reads them once.
    unsafe {
        let from = core::ptr::addr_of!(vtx_ap_trampoline);
        let len = core::ptr::addr_of!(vtx_ap_trampoline_end) as usize - from as usize;
        let to = TRAMPOLINE as *mut u8;
        core::ptr::copy_nonoverlapping(from, to, len);
        let slot = |s: *const u64| to.add(s as usize - from as usize).cast::<u64>();
        slot(core::ptr::addr_of!(ap_stack_top)).write_volatile(top);
        slot(core::ptr::addr_of!(ap_cpu)).write_volatile(u64::from(cpu));
    }
    irq::send(cpu, ICR_LOW::DELIVERY::Init + ICR_LOW::LEVEL::Assert + ICR_LOW::TRIGGER::Edge);
    pause(INIT_PAUSE);
    for _ in 0..2 {
        irq::send(cpu, ICR_LOW::DELIVERY::Startup + ICR_LOW::VECTOR.val(SIPI_VECTOR) + ICR_LOW::LEVEL::Assert);
        pause(SIPI_PAUSE);
        if online(cpu) {
            return Ok(());
        }
    }
    let deadline = rdtsc().saturating_add(REPORT_TIMEOUT);
    while !online(cpu) {
        if rdtsc() > deadline {
            return Err(StartError::NoResponse(cpu));
        }
        core::hint::spin_loop();
    }
    Ok(())
}

#[cfg(target_os = "none")]
fn online(cpu: u32) -> bool {
    ONLINE.load(Ordering::Acquire) & (1 << cpu) != 0
}

#[cfg(target_os = "none")]
fn pause(ticks: u64) {
    let until = rdtsc().saturating_add(ticks);
    while rdtsc() < until {
        core::hint::spin_loop();
    }
}

/// A started CPU, in long mode on its own stack: the IDT, then the board's entry.
#[cfg(target_os = "none")]
extern "C" fn ap_main(cpu: u64) -> ! {
    crate::trap::init();
    ONLINE.fetch_or(1 << cpu, Ordering::AcqRel);
    let entry = ENTRY.load(Ordering::Acquire);
    // SAFETY: ENTRY holds the `fn(usize) -> !` start() stored before starting this CPU.
    let entry: fn(usize) -> ! = unsafe { core::mem::transmute::<usize, fn(usize) -> !>(entry) };
    entry(cpu as usize)
}

/// How a vCPU starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// vCPU 0: the partition's boot state (a Multiboot kernel's) at `entry`, EBX = `info`.
    Boot { entry: u64, info: u64 },
    /// A STARTUP IPI: real mode at `vector << 12`.
    Sipi { vector: u8 },
}

/// What the sender's vCPU does about an [`Ipi`] ([`Group::send`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// A fixed IPI to itself: raise the vector in its own virtual APIC.
    Local(u8),
    /// Send the kick to this physical CPU (APIC id): it has a fixed IPI waiting, or its
    /// STARTUP.
    Kick(u32),
    /// Nothing to do (an INIT; a STARTUP to a vCPU that runs; a fixed IPI to one that
    /// does not run, lost as on a CPU waiting for its SIPI).
    Nothing,
    /// Not one of the partition's vCPUs: refused (`Refusal::IpiTarget`).
    Refused(u64),
}

/// A vCPU's power state: OFF (waiting for a start), a start requested, running.
const OFF: u8 = 0;
const CLAIMED: u8 = 1;
const PENDING: u8 = 2;
const ON: u8 = 3;
/// [`Group::halt_others`] repeats its signal every this many polls.
const REPEAT: u32 = 10_000;
/// Marks a registered slot's `cpu` (APIC id 0 is valid).
const VALID: u64 = 1 << 63;
/// `Slot::sipi`: the start is the boot entry, not a STARTUP.
const BOOT: u64 = 1 << 63;

/// One vCPU: its CPU, power state, start mailbox and the fixed IPIs sent to it.
struct Slot {
    cpu: AtomicU64,
    state: AtomicU8,
    /// Boot entry (with `BOOT` in `sipi`) or STARTUP vector.
    entry: AtomicU64,
    info: AtomicU64,
    sipi: AtomicU64,
    /// Fixed IPIs not yet taken into the vCPU's virtual APIC: bit v of word v / 64.
    ipis: [AtomicU64; 4],
}

impl Slot {
    const EMPTY: Slot = Slot {
        cpu: AtomicU64::new(0),
        state: AtomicU8::new(OFF),
        entry: AtomicU64::new(0),
        info: AtomicU64::new(0),
        sipi: AtomicU64::new(0),
        ipis: [const { AtomicU64::new(0) }; 4],
    };
}

/// The vCPUs of one partition.
pub struct Group {
    slots: [Slot; MAX_CPUS],
}

/// Every partition's vCPUs, by partition id.
pub static GROUPS: [Group; MAX_PARTITIONS] = [const { Group::new() }; MAX_PARTITIONS];

impl Group {
    pub const fn new() -> Group {
        Group { slots: [Slot::EMPTY; MAX_CPUS] }
    }

    /// Records the physical CPUs (APIC ids, by vCPU index); every vCPU is OFF (the board
    /// then starts vCPU 0 at the boot entry with [`Group::request`]).
    pub fn register(&self, cpus: &[u32]) {
        for (i, s) in self.slots.iter().enumerate() {
            s.cpu.store(cpus.get(i).map_or(0, |&c| VALID | u64::from(c)), Ordering::Relaxed);
            s.state.store(OFF, Ordering::Relaxed);
        }
    }

    /// How many vCPUs the partition has.
    pub fn len(&self) -> usize {
        self.slots.iter().take_while(|s| s.cpu.load(Ordering::Relaxed) & VALID != 0).count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The vCPU index physical CPU `apic_id` runs, if it is one of this partition's.
    pub fn index_of(&self, apic_id: u32) -> Option<usize> {
        self.slots.iter().position(|s| s.cpu.load(Ordering::Relaxed) == VALID | u64::from(apic_id))
    }

    /// The physical CPU (APIC id) of vCPU `index`.
    pub fn cpu(&self, index: usize) -> Option<u32> {
        let c = self.slots.get(index)?.cpu.load(Ordering::Relaxed);
        (c & VALID != 0).then_some(c as u32)
    }

    fn on(&self, index: usize) -> bool {
        self.slots[index].state.load(Ordering::Acquire) == ON
    }

    /// Asks OFF vCPU `target` to start as `start` says; false if it is not OFF.
    pub fn request(&self, target: usize, start: Start) -> bool {
        let Some(s) = self.slots.get(target).filter(|_| target < self.len()) else { return false };
        if s.state.compare_exchange(OFF, CLAIMED, Ordering::Acquire, Ordering::Relaxed).is_err() {
            return false;
        }
        let (entry, info, sipi) = match start {
            Start::Boot { entry, info } => (entry, info, BOOT),
            Start::Sipi { vector } => (0, 0, u64::from(vector)),
        };
        s.entry.store(entry, Ordering::Relaxed);
        s.info.store(info, Ordering::Relaxed);
        s.sipi.store(sipi, Ordering::Relaxed);
        s.state.store(PENDING, Ordering::Release);
        true
    }

    /// The start request for vCPU `index`, if one waits: taken, the vCPU is ON.
    pub fn take(&self, index: usize) -> Option<Start> {
        let s = self.slots.get(index)?;
        s.state.compare_exchange(PENDING, ON, Ordering::Acquire, Ordering::Relaxed).ok()?;
        for w in &s.ipis {
            w.store(0, Ordering::Relaxed); // nothing sent before the start reaches it
        }
        Some(match s.sipi.load(Ordering::Relaxed) {
            BOOT => Start::Boot { entry: s.entry.load(Ordering::Relaxed), info: s.info.load(Ordering::Relaxed) },
            v => Start::Sipi { vector: v as u8 },
        })
    }

    /// vCPU `index` left its guest for good (or until its next start); true if no vCPU of
    /// the partition is left on.
    pub fn off(&self, index: usize) -> bool {
        if let Some(s) = self.slots.get(index) {
            s.state.store(OFF, Ordering::Release);
        }
        (0..self.len()).all(|i| self.slots[i].state.load(Ordering::Acquire) == OFF)
    }

    /// A restart or stop by vCPU `me`, the partition already halted or stopped (a vCPU
    /// turns off at its next exit, one just started never enters its guest): forces every
    /// other vCPU that is on out of its guest (`force_exit(its CPU)`, repeated while it is
    /// on: one that was in the hypervisor meanwhile may not see it), withdraws the starts
    /// not yet taken, and waits until all are OFF.
    pub fn halt_others(&self, me: usize, force_exit: impl Fn(u32)) {
        let others = || (0..self.len()).filter(move |&i| i != me);
        let mut round = 0u32;
        loop {
            if round.is_multiple_of(REPEAT) {
                others().filter(|&i| self.on(i)).filter_map(|i| self.cpu(i)).for_each(&force_exit);
            }
            round = round.wrapping_add(1);
            let mut all_off = true;
            for s in others().map(|i| &self.slots[i]) {
                let _ = s.state.compare_exchange(PENDING, OFF, Ordering::AcqRel, Ordering::Acquire);
                all_off &= s.state.load(Ordering::Acquire) == OFF;
            }
            if all_off {
                return;
            }
            core::hint::spin_loop(); // a few exits' time: each vCPU turns off at once
        }
    }

    /// The ICR command `ipi` of vCPU `me`: what its vCPU does about it. Every field is
    /// guest input; only this partition's vCPUs can be named.
    pub fn send(&self, me: usize, ipi: Ipi) -> Delivery {
        let target = ipi.dest as usize;
        if target >= self.len() {
            return Delivery::Refused(u64::from(ipi.dest));
        }
        let cpu = || self.cpu(target).map_or(Delivery::Nothing, Delivery::Kick);
        match ipi.kind {
            IpiKind::Fixed(v) if target == me => Delivery::Local(v),
            IpiKind::Fixed(v) if self.on(target) => {
                self.slots[target].ipis[usize::from(v / 64)].fetch_or(1 << (v % 64), Ordering::Release);
                cpu()
            }
            IpiKind::Startup(vector) if target != me && self.request(target, Start::Sipi { vector }) => cpu(),
            // A vCPU that is on is never reset by INIT (nor restarted by STARTUP); one that
            // is off already waits for its STARTUP.
            _ => Delivery::Nothing,
        }
    }

    /// Takes the fixed IPIs waiting for vCPU `index`, each through `raise`.
    pub fn take_ipis(&self, index: usize, mut raise: impl FnMut(u8)) {
        for (w, word) in self.slots[index].ipis.iter().enumerate() {
            let mut bits = word.swap(0, Ordering::Acquire);
            while bits != 0 {
                raise((w * 64) as u8 + bits.trailing_zeros() as u8);
                bits &= bits - 1;
            }
        }
    }
}

impl Default for Group {
    fn default() -> Self {
        Group::new()
    }
}

/// Waits, halted, until vCPU `index` of `group` is asked to start (a kick wakes it).
pub fn wait_for_start(group: &Group, index: usize) -> Start {
    loop {
        if let Some(s) = group.take(index) {
            return s;
        }
        crate::irq::wait_for_kick();
    }
}

/// Abandons everything on this CPU's stack (APIC id `cpu`) and calls `f` on the stack's
/// top: the boot stack (`entry.rs`) or the CPU's own ([`start`]). For a vCPU that was
/// turned off: its frames are dropped, not unwound (they own no lock, and nothing else
/// refers to them).
#[cfg(target_os = "none")]
pub fn restart_on_fresh_stack(cpu: u32, f: extern "C" fn() -> !) -> ! {
    unsafe extern "C" {
        static boot_stack_top: u8;
    }
    let top = match (cpu as usize).checked_sub(1).filter(|&i| i < MAX_CPUS - 1) {
        Some(i) => core::ptr::addr_of_mut!(STACKS).cast::<Stack>().wrapping_add(i + 1) as u64,
        None => core::ptr::addr_of!(boot_stack_top) as u64,
    };
    // SAFETY: `top` is the top of the stack this CPU runs on; `f` never returns, so
    // nothing below the new RSP is used again.
    unsafe { core::arch::asm!("mov rsp, {top}", "call {f}", "ud2", top = in(reg) top, f = in(reg) f, options(noreturn)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(n: usize) -> Group {
        let g = Group::new();
        g.register(&[1, 2, 5, 7][..n]);
        assert!(g.request(0, Start::Boot { entry: 0x10_000c, info: 0xff_f000 }));
        g
    }

    const fn ipi(dest: u32, kind: IpiKind) -> Ipi {
        Ipi { dest, kind }
    }

    #[test]
    fn vcpu0_boots_the_others_wait_for_their_startup() {
        let g = group(2);
        assert_eq!((g.len(), g.index_of(2), g.index_of(0), g.cpu(1)), (2, Some(1), None, Some(2)));
        assert_eq!(g.take(0), Some(Start::Boot { entry: 0x10_000c, info: 0xff_f000 }));
        assert_eq!(g.take(1), None, "no STARTUP yet");
        assert_eq!(g.send(0, ipi(1, IpiKind::Init)), Delivery::Nothing, "INIT: it already waits");
        assert_eq!(g.send(0, ipi(1, IpiKind::Startup(0x08))), Delivery::Kick(2), "its CPU woken");
        assert_eq!(g.send(0, ipi(1, IpiKind::Startup(0x09))), Delivery::Nothing, "the second STARTUP: ignored");
        assert_eq!(g.take(1), Some(Start::Sipi { vector: 0x08 }));
        assert_eq!(g.send(0, ipi(1, IpiKind::Startup(0x08))), Delivery::Nothing, "running: ignored");
        assert_eq!(g.send(1, ipi(1, IpiKind::Startup(0x08))), Delivery::Nothing, "not to itself");
        assert_eq!(g.send(1, ipi(0, IpiKind::Init)), Delivery::Nothing, "INIT never resets a running vCPU");
    }

    #[test]
    fn ipis_reach_only_the_partitions_own_vcpus() {
        let g = group(2);
        assert_eq!(g.send(0, ipi(2, IpiKind::Fixed(0x41))), Delivery::Refused(2));
        assert_eq!(g.send(0, ipi(u32::MAX, IpiKind::Startup(8))), Delivery::Refused(0xffff_ffff));
        assert_eq!(g.send(1, ipi(5, IpiKind::Init)), Delivery::Refused(5), "APIC id 5 is a CPU, not a vCPU");
    }

    #[test]
    fn fixed_ipis_wait_in_the_targets_mailbox_until_its_kick() {
        let g = group(2);
        g.take(0);
        assert_eq!(g.send(0, ipi(1, IpiKind::Fixed(0x41))), Delivery::Nothing, "not started: lost");
        g.send(0, ipi(1, IpiKind::Startup(8)));
        g.take(1);
        let taken = |i| {
            let mut v = Vec::new();
            g.take_ipis(i, |x| v.push(x));
            v
        };
        assert_eq!(taken(1), [] as [u8; 0], "the one sent before the start is gone");
        assert_eq!(g.send(0, ipi(1, IpiKind::Fixed(0x41))), Delivery::Kick(2));
        assert_eq!(g.send(0, ipi(1, IpiKind::Fixed(0xf3))), Delivery::Kick(2));
        assert_eq!(g.send(0, ipi(1, IpiKind::Fixed(0x41))), Delivery::Kick(2));
        assert_eq!(taken(1), [0x41, 0xf3], "each vector once");
        assert_eq!(taken(1), [] as [u8; 0]);
        assert_eq!(g.send(1, ipi(1, IpiKind::Fixed(0x42))), Delivery::Local(0x42), "to itself: no kick");
        assert_eq!(g.send(1, ipi(0, IpiKind::Fixed(0x42))), Delivery::Kick(1));
        assert_eq!(taken(0), [0x42]);
    }

    #[test]
    fn a_restart_withdraws_startups_and_forces_the_running_vcpus_out() {
        let g = group(3);
        g.take(0);
        g.send(0, ipi(1, IpiKind::Startup(8)));
        g.take(1);
        g.send(0, ipi(2, IpiKind::Startup(8))); // asked, not yet taken
        let kicked = std::cell::RefCell::new(Vec::new());
        g.halt_others(0, |cpu| {
            kicked.borrow_mut().push(cpu);
            g.off(1); // the CPU's exit: its vCPU turns off
        });
        assert_eq!(*kicked.borrow(), [2], "only the running one");
        assert_eq!(g.take(2), None, "the pending STARTUP withdrawn");
        assert!(!g.off(2), "vCPU 0, restarting, is on");
        assert!(!g.request(0, Start::Boot { entry: 1, info: 2 }), "vCPU 0 is on");
        assert!(g.off(0), "the last one off");
        assert!(g.request(0, Start::Boot { entry: 1, info: 2 }));
        assert_eq!(g.take(0), Some(Start::Boot { entry: 1, info: 2 }));
    }
}
