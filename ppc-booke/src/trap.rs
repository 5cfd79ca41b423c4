//! Traps: the exception vectors, the frame they save into, entering guest code, and the
//! one place a fault of the hypervisor itself is reported.
//!
//! How a trap is handled (start here):
//! 1. The core jumps to IVPR | IVORn (set by [`crate::entry`]): the stub `bh_vec_<n>`
//!    in the vector page below saves r0 and r1, loads r0 = n and branches to the save code
//!    of its interrupt class ([`Class`]).
//! 2. The save code stores the interrupted state into the [`TrapFrame`] that SPRG0 points
//!    at: the running guest's frame while a guest runs, this core's fault frame otherwise
//!    ([`crate::percpu`], whose address SPRG2 holds).
//! 3. Trapped from problem state (a guest, SRR1[PR]=1): it returns from [`run`] with the
//!    [`Ivor`]; the caller (`Guest`) decodes and decides. Trapped from supervisor state (the hypervisor itself): it switches to a
//!    private stack and calls [`hypervisor_fault`], which panics with SRR0/SRR1/ESR/DEAR;
//!    the board's panic handler prints that and powers off. The one exception: a trap
//!    from the idle wait loop ([`crate::idle`]), which returns like a guest exit.
//!
//! Each core has its own fault frame and stack (`percpu`): nothing here is shared between
//! cores. Limits: critical and machine-check interrupts use the same SPRG1 scratch as the
//! others, so one arriving inside another's first instructions corrupts the saved r1. Both are only ever reported, never resumed.
//! Only the 32-bit GPR halves are saved (no SPE state yet).
// Host builds (unit tests) keep the types only.
#![cfg_attr(not(target_arch = "powerpc"), allow(dead_code, unused_imports))]

use core::fmt;
use core::mem::offset_of;

use crate::vcpu::VcpuState;

#[cfg(target_arch = "powerpc")]
pub(crate) mod exits;
#[cfg(target_arch = "powerpc")]
mod program;

/// MSR bits (Book III-E, 32-bit numbering from the LSB).
pub mod msr {
    /// Critical interrupts enabled.
    pub const CE: u32 = 1 << 17;
    /// External and decrementer interrupts enabled.
    pub const EE: u32 = 1 << 15;
    /// Problem state: set for guests.
    pub const PR: u32 = 1 << 14;
    /// Machine checks enabled (otherwise a machine check stops the core).
    pub const ME: u32 = 1 << 12;
    /// Debug interrupts enabled.
    pub const DE: u32 = 1 << 9;
    /// Instruction address space 1 (the guests' space).
    pub const IS: u32 = 1 << 5;
    /// Data address space 1.
    pub const DS: u32 = 1 << 4;
}

/// ESR bits: why a Program, Data/Instruction Storage or Alignment interrupt happened
/// (declared once, with the interrupt model in `reflect`).
pub use crate::reflect::esr;

/// Which save/restore registers an interrupt uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// SRR0/SRR1, ESR, DEAR; returns with `rfi`.
    Standard,
    /// CSRR0/CSRR1 (critical input, watchdog, and debug on e500v2); `rfci`.
    Critical,
    /// MCSRR0/MCSRR1; MCSR and MCAR are saved in place of ESR and DEAR; `rfmci`.
    MachineCheck,
}

/// The e500v2 interrupts, by IVOR number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Ivor {
    CriticalInput = 0,
    MachineCheck = 1,
    DataStorage = 2,
    InstructionStorage = 3,
    External = 4,
    Alignment = 5,
    Program = 6,
    FpUnavailable = 7,
    SystemCall = 8,
    ApUnavailable = 9,
    Decrementer = 10,
    FixedIntervalTimer = 11,
    Watchdog = 12,
    DataTlbError = 13,
    InstructionTlbError = 14,
    Debug = 15,
    SpeUnavailable = 32,
    SpeFpData = 33,
    SpeFpRound = 34,
    PerformanceMonitor = 35,
}

impl Ivor {
    /// Every interrupt the core has; `entry` points an IVOR at a stub for each.
    pub const ALL: [Ivor; 20] = [
        Ivor::CriticalInput, Ivor::MachineCheck, Ivor::DataStorage, Ivor::InstructionStorage,
        Ivor::External, Ivor::Alignment, Ivor::Program, Ivor::FpUnavailable,
        Ivor::SystemCall, Ivor::ApUnavailable, Ivor::Decrementer, Ivor::FixedIntervalTimer,
        Ivor::Watchdog, Ivor::DataTlbError, Ivor::InstructionTlbError, Ivor::Debug,
        Ivor::SpeUnavailable, Ivor::SpeFpData, Ivor::SpeFpRound, Ivor::PerformanceMonitor,
    ];

    /// The interrupt with IVOR number `n`. On every trap's path: a `match`, not a search
    /// of [`Ivor::ALL`] (which copied the array with `memcpy` on each call).
    pub const fn from_number(n: u32) -> Option<Ivor> {
        Some(match n {
            0 => Ivor::CriticalInput,
            1 => Ivor::MachineCheck,
            2 => Ivor::DataStorage,
            3 => Ivor::InstructionStorage,
            4 => Ivor::External,
            5 => Ivor::Alignment,
            6 => Ivor::Program,
            7 => Ivor::FpUnavailable,
            8 => Ivor::SystemCall,
            9 => Ivor::ApUnavailable,
            10 => Ivor::Decrementer,
            11 => Ivor::FixedIntervalTimer,
            12 => Ivor::Watchdog,
            13 => Ivor::DataTlbError,
            14 => Ivor::InstructionTlbError,
            15 => Ivor::Debug,
            32 => Ivor::SpeUnavailable,
            33 => Ivor::SpeFpData,
            34 => Ivor::SpeFpRound,
            35 => Ivor::PerformanceMonitor,
            _ => return None,
        })
    }

    pub const fn class(self) -> Class {
        match self {
            Ivor::CriticalInput | Ivor::Watchdog | Ivor::Debug => Class::Critical,
            Ivor::MachineCheck => Class::MachineCheck,
            _ => Class::Standard,
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            Ivor::CriticalInput => "critical input",
            Ivor::MachineCheck => "machine check",
            Ivor::DataStorage => "data storage",
            Ivor::InstructionStorage => "instruction storage",
            Ivor::External => "external input",
            Ivor::Alignment => "alignment",
            Ivor::Program => "program",
            Ivor::FpUnavailable => "floating-point unavailable",
            Ivor::SystemCall => "system call",
            Ivor::ApUnavailable => "auxiliary processor unavailable",
            Ivor::Decrementer => "decrementer",
            Ivor::FixedIntervalTimer => "fixed-interval timer",
            Ivor::Watchdog => "watchdog",
            Ivor::DataTlbError => "data TLB error",
            Ivor::InstructionTlbError => "instruction TLB error",
            Ivor::Debug => "debug",
            Ivor::SpeUnavailable => "SPE unavailable",
            Ivor::SpeFpData => "SPE floating-point data",
            Ivor::SpeFpRound => "SPE floating-point round",
            Ivor::PerformanceMonitor => "performance monitor",
        }
    }
}

/// The state saved by a trap, and loaded by [`run`] to enter a guest.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct TrapFrame {
    pub gpr: [u32; 32],
    pub cr: u32,
    pub lr: u32,
    pub ctr: u32,
    pub xer: u32,
    /// Where the interrupted code resumes (SRR0, CSRR0 or MCSRR0).
    pub srr0: u32,
    /// The interrupted MSR (SRR1, CSRR1 or MCSRR1).
    pub srr1: u32,
    /// ESR (MCSR for a machine check).
    pub esr: u32,
    /// DEAR (MCAR for a machine check).
    pub dear: u32,
    /// The IVOR number of the trap.
    pub ivor: u32,
    /// The hypervisor's r1 inside [`run`] (assembly only).
    host_sp: u32,
    /// 0, or a [`TrapHandler`] the trap path calls before leaving [`enter`] (as a `u32`:
    /// the frame is shared with assembly).
    pub handler: u32,
    /// The Program vector's fast path (`bh_program`, `trap/program.rs`): two guest instruction pages
    /// (the last used and the one before: typically the interrupted code's and the
    /// exception handler's), each or'ed with the virtual MSR[IS] it was translated under,
    /// and their host pages. A hit on the second swaps them, so a miss replaces the one
    /// used least recently. Only a vCPU's frame (the end of a [`VcpuState`], `guest.rs`) ever holds
    /// a page here; [`FETCH_NONE`] (not page-aligned) never matches one.
    pub fetch_tag: [u32; 2],
    pub fetch_host: [u32; 2],
    /// For the same fast path: the MSR bits that would let a pending interrupt in
    /// (`VcpuState::wake_mask` as of the last entry).
    pub wake: u32,
    /// The timebase's low word when a Program interrupt left the fast path: when the
    /// instruction executed, as near as the emulator can tell (`Guest::trap_time`).
    pub tbl: u32,
}

/// A [`TrapFrame::fetch_tag`] that matches no instruction address.
pub const FETCH_NONE: u32 = 1;

/// Called by the trap path on the hypervisor's stack, with the guest's state saved in
/// `frame`, before anything of the host is restored: returns non-zero to re-enter the
/// guest from `frame` at once, zero to return from [`enter`]. A vCPU finishes emulation,
/// shadow refills and reflections here, so they never unwind to its run loop.
pub type TrapHandler = extern "C" fn(frame: *mut TrapFrame) -> u32;

impl TrapFrame {
    pub const ZERO: TrapFrame = TrapFrame {
        gpr: [0; 32], cr: 0, lr: 0, ctr: 0, xer: 0,
        srr0: 0, srr1: 0, esr: 0, dear: 0, ivor: 0, host_sp: 0, handler: 0,
        fetch_tag: [FETCH_NONE; 2], fetch_host: [0; 2], wake: 0, tbl: 0,
    };

    pub fn from_problem_state(&self) -> bool {
        self.srr1 & msr::PR != 0
    }
}

/// `SRR0=... SRR1=... ESR=... DEAR=...`: the registers any trap report starts with.
impl fmt::Display for TrapFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SRR0={:#010x} SRR1={:#010x} ESR={:#010x} DEAR={:#010x}",
            self.srr0, self.srr1, self.esr, self.dear
        )
    }
}

// The assembly reaches every frame field with 16-bit displacements.
const _: () = assert!(core::mem::size_of::<TrapFrame>() < 0x8000);

/// A trap taken in supervisor state: a bug in the hypervisor. Reported through the
/// board's panic handler (console, then power off).
extern "C" fn hypervisor_fault(frame: &TrapFrame) -> ! {
    let cause = Ivor::from_number(frame.ivor).map_or("unknown", Ivor::name);
    #[cfg(target_arch = "powerpc")]
    let cpu = crate::percpu::this_cpu();
    #[cfg(not(target_arch = "powerpc"))]
    let cpu = 0;
    panic!(
        "hypervisor exception on cpu {}: {} (IVOR{}): {} LR={:#010x} r1={:#010x}",
        cpu, cause, frame.ivor, *frame, frame.lr, frame.gpr[1]
    );
}

/// Runs guest code from `frame` until its next trap, and returns which one; `frame` then
/// holds the guest state at the trap. The guest always runs in problem state and address
/// space 1 with machine checks enabled (MSR[PR], MSR[IS], MSR[DS], MSR[ME] are forced on;
/// the guest's own view of those bits is the emulator's business).
///
/// # Safety
/// Nothing the hypervisor relies on may be reachable through the TLB entries of address
/// space 1 (TS=1) that grant problem-state access.
#[cfg(target_arch = "powerpc")]
pub unsafe fn run(frame: &mut TrapFrame) -> Ivor {
    frame.srr1 |= GUEST_MSR_FORCED;
    // SAFETY: a whole TrapFrame; guest reach as the caller guarantees.
    unsafe { enter(frame) }
}

/// MSR bits every guest runs with, whatever the frame says.
pub const GUEST_MSR_FORCED: u32 = msr::PR | msr::IS | msr::DS | msr::ME;

/// [`run`] for a frame that is not one Rust object: a vCPU keeps its registers (the
/// frame's `gpr..=srr0`) in its own state and the rest (`srr1..`) right after it, so a
/// trap saves straight into the vCPU and nothing is copied (`guest.rs`).
///
/// # Safety
/// `frame` points at memory laid out as a [`TrapFrame`], valid for reads and writes and
/// not otherwise accessed until this returns; `srr1` already includes
/// [`GUEST_MSR_FORCED`]; guest reach as for [`run`].
#[cfg(target_arch = "powerpc")]
#[inline(always)]
pub unsafe fn enter(frame: *mut TrapFrame) -> Ivor {
    extern "C" {
        fn bh_enter_guest(frame: *mut TrapFrame) -> u32;
    }
    // SAFETY: bh_enter_guest saves the callee-saved state the EABI requires, runs the
    // guest with the frame's registers and returns here on its next trap (below); guest
    // reach is limited as the caller guarantees.
    let n = unsafe { bh_enter_guest(frame) };
    match Ivor::from_number(n) {
        Some(ivor) => ivor,
        None => unreachable_ivor(n),
    }
}

#[cfg(target_arch = "powerpc")]
#[cold]
fn unreachable_ivor(n: u32) -> ! {
    panic!("trap stub passed IVOR{n}, which it does not have")
}

// The vector page, the save paths and the guest entry. `entry` puts IVPR at `bh_vectors`
// (64 KiB aligned by the linker script, which KEEPs .text.vectors first) and IVORn at
// `bh_vec_<n>`. Register state of the host inside `run` is kept in a frame on its stack.
//
// The Program vector (IVOR6) first tries the fast path, `bh_program` (`trap/program.rs`),
// which either finishes the instruction and resumes the guest or continues at
// `bh_program_save` as every other trap does.
#[cfg(target_arch = "powerpc")]
core::arch::global_asm!(
    r#"
    .set BH_HOST_FRAME, 96             # host frame: back chain, LR word, CR, r14..r31, padding
    .set BH_HOST_CR, 8                 # offset of the saved CR
    .set BH_HOST_GPR, 12               # offset of the saved r14..r31

    .section .text.vectors, "ax"
    .globl bh_vectors
    .balign 16
bh_vectors:

    .macro BH_VECTOR num, class
    .balign 16                         # an IVOR holds a 16-byte aligned offset
    .globl bh_vec_\num
bh_vec_\num:
    mtspr {spr_sprg1}, 1               # stash the interrupted r1
    mfspr 1, {spr_sprg0}               # r1 = the frame this trap saves into
    stw 0, {f_gpr}(1)                  # save r0 to free it
    li 0, \num                         # r0 = the IVOR number
    b bh_save_\class                   # save the rest, per interrupt class
    .endm

    BH_VECTOR 0, critical
    BH_VECTOR 1, machine_check
    BH_VECTOR 2, standard
    BH_VECTOR 3, standard
    BH_VECTOR 4, standard
    BH_VECTOR 5, standard
    .balign 16
    .globl bh_vec_6
bh_vec_6:                              # Program: the fast path needs every GPR saved
    mtspr {spr_sprg1}, 1               # stash the interrupted r1
    mfspr 1, {spr_sprg0}               # r1 = the frame this trap saves into
    stw 0, {f_gpr}(1)                  # frame.gpr[0] = r0
    stmw 2, {f_gpr}+8(1)               # frame.gpr[2..32] = r2..r31
    b bh_program
    BH_VECTOR 7, standard
    BH_VECTOR 8, standard
    BH_VECTOR 9, standard
    BH_VECTOR 10, standard
    BH_VECTOR 11, standard
    BH_VECTOR 12, critical
    BH_VECTOR 13, standard
    BH_VECTOR 14, standard
    BH_VECTOR 15, critical
    BH_VECTOR 32, standard
    BH_VECTOR 33, standard
    BH_VECTOR 34, standard
    BH_VECTOR 35, standard

    .macro BH_SAVE_REST pc, msr, syndrome, address
    mflr 0                             # LR ...
    stw 0, {f_lr}(1)                   # ... frame.lr
    mfctr 0                            # CTR ...
    stw 0, {f_ctr}(1)                  # ... frame.ctr
    mfxer 0                            # XER ...
    stw 0, {f_xer}(1)                  # ... frame.xer
    mfspr 0, \pc                       # the resume address ...
    stw 0, {f_srr0}(1)                 # ... frame.srr0
    mfspr 0, \syndrome                 # ESR (MCSR) ...
    stw 0, {f_esr}(1)                  # ... frame.esr
    mfspr 0, \address                  # DEAR (MCAR) ...
    stw 0, {f_dear}(1)                 # ... frame.dear
    mfspr 0, \msr                      # the interrupted MSR ...
    stw 0, {f_srr1}(1)                 # ... frame.srr1
    b bh_trap_dispatch                 # guest exit or hypervisor fault
    .endm

    .macro BH_SAVE class, pc, msr, syndrome, address
bh_save_\class:
    stw 0, {f_ivor}(1)                 # frame.ivor = the IVOR number
    stmw 2, {f_gpr}+8(1)               # frame.gpr[2..32] = r2..r31
    mfspr 0, {spr_sprg1}               # the interrupted r1 ...
    stw 0, {f_gpr}+4(1)                # ... is frame.gpr[1]
    mfcr 0                             # CR ...
    stw 0, {f_cr}(1)                   # ... frame.cr
    BH_SAVE_REST \pc, \msr, \syndrome, \address
    .endm

    BH_SAVE standard, {spr_srr0}, {spr_srr1}, {spr_esr}, {spr_dear}
    BH_SAVE critical, {spr_csrr0}, {spr_csrr1}, {spr_esr}, {spr_dear}
    BH_SAVE machine_check, {spr_mcsrr0}, {spr_mcsrr1}, {spr_mcsr}, {spr_mcar}

    .globl bh_program_save
bh_program_save:                       # from bh_program_full (trap/program.rs): r1 = the
                                       #   frame, all GPRs, CR and IVOR saved
    BH_SAVE_REST {spr_srr0}, {spr_srr1}, {spr_esr}, {spr_dear}

bh_trap_dispatch:                      # r0 = the interrupted MSR
    andi. 0, 0, {msr_pr}               # was it problem state (a guest)?
    bne 2f                             # yes
    lwz 0, {f_srr0}(1)                 # no (all GPRs are saved): woken from
    lis 3, bh_idle_wait@ha             #   the idle wait (crate::idle)?
    addi 3, 3, bh_idle_wait@l
    subf 0, 3, 0                       # SRR0 - bh_idle_wait
    cmplwi 0, 16                       # inside its four instructions?
    blt bh_trap_return                 # yes: back to its caller, like a guest exit
    b 1f                               # no: the hypervisor itself trapped
2:  lwz 0, {f_handler}(1)              # a handler to try first?
    cmpwi 0, 0
    bne bh_call_handler                # yes: call it (bh_enter_guest's section)
    .globl bh_trap_return
bh_trap_return:
    lwz 3, {f_ivor}(1)                 # run's result: the IVOR number
    lwz 1, {f_host_sp}(1)              # the host frame bh_enter_guest built
    mfspr 4, {spr_sprg2}               # SPRG0 = this core's fault frame again, so
    mtspr {spr_sprg0}, 4               #   that a hypervisor fault never overwrites
                                       #   the guest's state
    lwz 0, BH_HOST_CR(1)               # the host's CR ...
    mtcr 0                             # ... back
    lmw 14, BH_HOST_GPR(1)             # the host's r14..r31 back
    addi 1, 1, BH_HOST_FRAME           # pop the host frame
    lwz 0, 4(1)                        # run's return address (caller's LR word) ...
    mtlr 0                             # ... into LR
    blr                                # return from bh_enter_guest
1:
    mr 3, 1                            # argument: the saved frame
    mfspr 1, {spr_sprg2}               # r1 = this core's fault stack ...
    addi 1, 1, {fault_stack_top}       # ... top
    li 0, 0                            # a null back chain ...
    stwu 0, -16(1)                     # ... ends stack walks here
    bl {hypervisor_fault}              # reports and powers off; never returns
    b .                                # unreachable

    .section .text.bh_enter_guest, "ax"
    .globl bh_enter_guest
bh_enter_guest:                        # r3 = the guest's TrapFrame; returns an IVOR in r3
    mflr 0                             # our return address ...
    stw 0, 4(1)                        # ... in the caller's LR save word (EABI)
    stwu 1, -BH_HOST_FRAME(1)          # push the host frame
    mfcr 0                             # CR (fields 2..4 are callee-saved) ...
    stw 0, BH_HOST_CR(1)               # ... saved
    stmw 14, BH_HOST_GPR(1)            # callee-saved r14..r31
    stw 1, {f_host_sp}(3)              # where the trap path finds the host frame
    mtspr {spr_sprg0}, 3               # guest traps save into the guest's frame
    b bh_load_guest

bh_call_handler:                       # from bh_trap_dispatch: r1 = the frame, r0 = its handler
    mr 31, 1                           # r31 = the frame (callee-saved; the guest's r31 is saved)
    mtctr 0                            # the handler
    lwz 1, {f_host_sp}(1)              # run it on the host's stack, below the host frame
    mfspr 4, {spr_sprg2}               # SPRG0 = this core's fault frame while it runs:
    mtspr {spr_sprg0}, 4               #   a hypervisor fault never overwrites the guest's
    mr 3, 31                           # argument: the frame
    bctrl                              # handler(frame)
    mr 1, 31                           # r1 = the frame again
    cmpwi 3, 0                         # handled?
    beq bh_trap_return                 # no: return from bh_enter_guest
    mr 3, 1                            # yes: enter the guest again from the frame,
    mtspr {spr_sprg0}, 3               #   whose traps save into it
    .globl bh_load_guest
bh_load_guest:                         # r3 = the frame
    lwz 0, {f_srr0}(3)                 # guest PC ...
    mtspr {spr_srr0}, 0                # ... for rfi
    lwz 0, {f_srr1}(3)                 # guest MSR (PR, IS, DS set by run) ...
    mtspr {spr_srr1}, 0                # ... for rfi
    lwz 0, {f_cr}(3)                   # guest CR ...
    mtcr 0                             # ... loaded
    lwz 0, {f_lr}(3)                   # guest LR ...
    mtlr 0                             # ... loaded
    lwz 0, {f_ctr}(3)                  # guest CTR ...
    mtctr 0                            # ... loaded
    lwz 0, {f_xer}(3)                  # guest XER ...
    mtxer 0                            # ... loaded
    lwz 0, {f_gpr}(3)                  # guest r0
    lwz 1, {f_gpr}+4(3)                # guest r1
    lwz 2, {f_gpr}+8(3)                # guest r2
    lmw 4, {f_gpr}+16(3)               # guest r4..r31
    lwz 3, {f_gpr}+12(3)               # guest r3, last: it held the frame address
    rfi                                # enter the guest
    "#,
    fault_stack_top = const crate::percpu::FAULT_STACK_TOP,
    hypervisor_fault = sym hypervisor_fault,
    msr_pr = const msr::PR,
    f_gpr = const offset_of!(TrapFrame, gpr),
    f_cr = const offset_of!(TrapFrame, cr),
    f_lr = const offset_of!(TrapFrame, lr),
    f_ctr = const offset_of!(TrapFrame, ctr),
    f_xer = const offset_of!(TrapFrame, xer),
    f_srr0 = const offset_of!(TrapFrame, srr0),
    f_srr1 = const offset_of!(TrapFrame, srr1),
    f_esr = const offset_of!(TrapFrame, esr),
    f_dear = const offset_of!(TrapFrame, dear),
    f_ivor = const offset_of!(TrapFrame, ivor),
    f_host_sp = const offset_of!(TrapFrame, host_sp),
    f_handler = const offset_of!(TrapFrame, handler),
    spr_sprg0 = const crate::spr::SPRG0,
    spr_sprg1 = const crate::spr::SPRG1,
    spr_sprg2 = const crate::spr::SPRG2,
    spr_srr0 = const crate::spr::SRR0,
    spr_srr1 = const crate::spr::SRR1,
    spr_csrr0 = const crate::spr::CSRR0,
    spr_csrr1 = const crate::spr::CSRR1,
    spr_mcsrr0 = const crate::spr::MCSRR0,
    spr_mcsrr1 = const crate::spr::MCSRR1,
    spr_esr = const crate::spr::ESR,
    spr_dear = const crate::spr::DEAR,
    spr_mcsr = const crate::spr::MCSR,
    spr_mcar = const crate::spr::MCAR,
);

/// From a vCPU's trap frame to its [`VcpuState`]: the frame is the state's last fields
/// (`gpr` onwards; `guest.rs` checks the layout).
pub const VCPU_FROM_FRAME: i32 = -(offset_of!(VcpuState, gpr) as i32);

// The fast path reaches the vCPU's fields and the SPR table with 16-bit displacements.
const _: () = assert!(offset_of!(VcpuState, gpr) < 0x8000);
const _: () = assert!(core::mem::size_of::<crate::emulate::spr_moves::SprTable>() < 0x8000);
const _: () = assert!(offset_of!(crate::emulate::spr_moves::SprTable, index) == 0);

#[cfg(test)]
mod tests;
