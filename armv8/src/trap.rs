//! EL2 exceptions: the vector table, [`handle`] for exceptions taken from EL2 itself, and
//! [`decode_sync`], which turns a guest's synchronous exception into an [`Exit`].
//!
//! Two paths through the vector table:
//! - from EL2 (slots 0..7), the hypervisor's own exceptions:
//!   1. the slot makes room for a [`TrapFrame`] on the stack, saves x0/x1, puts its
//!      [`Vector`] number in x1 and branches to `__el2_trap_common`;
//!   2. `__el2_trap_common` saves x2..x30, ELR_EL2 and SPSR_EL2, calls [`handle`];
//!   3. if [`handle`] returns, the frame (possibly changed) is restored and `eret` resumes.
//!
//!   Handled: a semihosting call (`hlt #0xf000`) nobody implements (fails with -1, see
//!   [`crate::semihosting`]); anything else is a hypervisor bug: [`unexpected`] panics with
//!   ESR_EL2, ELR_EL2 and FAR_EL2 and the board's panic handler reports it and powers off.
//! - from a guest (slots 8..15): the slot frees x0/x1 on the stack and branches to the
//!   save path for that kind of exit ([`crate::vcpu`], `vcpu/hw.rs`): an HVC (told by
//!   ESR_EL2.EC) to `__guest_hvc`, a WFI/WFE to `__guest_wfx`, an IRQ or FIQ to
//!   `__guest_irq` (light paths: x0..x18 and x30 saved), anything else with its slot
//!   number in x1 to `__guest_trap` (every register). Each saves the guest's registers
//!   into its vCPU and calls the vCPU's handler for that exit on this same stack. The vCPU
//!   decodes (a synchronous exception with [`decode_sync`], by ESR_EL2.EC) and hands the
//!   exit to the core (`hv::run::exit`): the port decodes, the core decides. When the
//!   handler returns, the guest is resumed from its (possibly changed) registers.

// The vector table (and so every caller of `handle`) only exists on AArch64; host builds
// compile the rest for the unit tests.
#![cfg_attr(not(target_arch = "aarch64"), allow(dead_code))]

use aarch64_cpu::registers::{ESR_EL2, FAR_EL2, Readable};
use core::fmt;
use hv::exit::{Exit, Fault, MmioAccess, Width};

/// General registers and exception state saved on entry, restored on `eret`.
#[repr(C)]
#[derive(Debug)]
pub struct TrapFrame {
    /// x0..x30 at the time of the exception.
    pub x: [u64; 31],
    /// Where `eret` returns to (ELR_EL2).
    pub elr: u64,
    /// The interrupted PSTATE (SPSR_EL2).
    pub spsr: u64,
    /// Keeps the frame a multiple of 16 bytes (SP alignment).
    _pad: u64,
}

const FRAME_SIZE: usize = core::mem::size_of::<TrapFrame>();
const ELR_OFFSET: usize = core::mem::offset_of!(TrapFrame, elr);
const SPSR_OFFSET: usize = core::mem::offset_of!(TrapFrame, spsr);
// The assembly stores x30 and ELR_EL2 with one `stp`: they must be adjacent.
const _: () = assert!(ELR_OFFSET == 30 * 8 + 8 && FRAME_SIZE.is_multiple_of(16));

/// The 16 vector-table slots, in table order: where the exception came from (current EL
/// on SP_EL0, current EL on SP_EL2, a lower EL in AArch64, a lower EL in AArch32), times
/// the kind (synchronous, IRQ, FIQ, SError).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vector {
    CurrentSp0Sync,
    CurrentSp0Irq,
    CurrentSp0Fiq,
    CurrentSp0SError,
    CurrentSpxSync,
    CurrentSpxIrq,
    CurrentSpxFiq,
    CurrentSpxSError,
    Lower64Sync,
    Lower64Irq,
    Lower64Fiq,
    Lower64SError,
    Lower32Sync,
    Lower32Irq,
    Lower32Fiq,
    Lower32SError,
}

impl Vector {
    const ALL: [Vector; 16] = [
        Vector::CurrentSp0Sync,
        Vector::CurrentSp0Irq,
        Vector::CurrentSp0Fiq,
        Vector::CurrentSp0SError,
        Vector::CurrentSpxSync,
        Vector::CurrentSpxIrq,
        Vector::CurrentSpxFiq,
        Vector::CurrentSpxSError,
        Vector::Lower64Sync,
        Vector::Lower64Irq,
        Vector::Lower64Fiq,
        Vector::Lower64SError,
        Vector::Lower32Sync,
        Vector::Lower32Irq,
        Vector::Lower32Fiq,
        Vector::Lower32SError,
    ];

    /// The slot number the assembly passes in x1.
    pub fn from_index(i: u64) -> Option<Vector> {
        Self::ALL.get(i as usize).copied()
    }
}

impl fmt::Display for Vector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = *self as usize;
        let from = ["EL2 (SP_EL0)", "EL2", "lower EL (AArch64)", "lower EL (AArch32)"][i / 4];
        let kind = ["synchronous exception", "IRQ", "FIQ", "SError"][i % 4];
        write!(f, "{kind} from {from}")
    }
}

/// ESR_EL2.EC "unknown reason": among others, an undefined instruction at EL2.
const EC_UNKNOWN: u64 = 0x00;

/// Every exception taken to EL2 comes here (from `__el2_trap_common`).
extern "C" fn handle(frame: &mut TrapFrame, vector: u64) {
    let esr = ESR_EL2.get();
    let ec = ESR_EL2.read(ESR_EL2::EC);
    match Vector::from_index(vector) {
        Some(Vector::CurrentSpxSync) if ec == EC_UNKNOWN && crate::semihosting::is_call_at(frame.elr) => {
            crate::semihosting::fail_unimplemented(frame);
        }
        v => unexpected(v, esr, frame),
    }
}

/// A hypervisor bug or a hardware error: nothing can be resumed. Reported through the
/// board's panic handler, which prints on the console and powers off.
#[cold]
fn unexpected(vector: Option<Vector>, esr: u64, frame: &TrapFrame) -> ! {
    let far = FAR_EL2.get();
    match vector {
        Some(v) => panic!(
            "unexpected {v}: ESR_EL2={esr:#x} (EC {:#x}) ELR_EL2={:#x} FAR_EL2={far:#x}",
            esr >> 26,
            frame.elr
        ),
        None => panic!("bad vector number (ESR_EL2={esr:#x} ELR_EL2={:#x})", frame.elr),
    }
}

/// ESR_EL2 fields (Arm ARM D17.2.37).
pub mod esr {
    /// Exception class.
    pub const EC_SHIFT: u64 = 26;
    pub const EC_MASK: u64 = 0x3f;
    /// Instruction length: 32-bit instruction.
    pub const IL: u64 = 1 << 25;
    /// Instruction-specific syndrome.
    pub const ISS_MASK: u64 = 0x1ff_ffff;

    pub const EC_WFX: u64 = 0x01;
    pub const EC_HVC64: u64 = 0x16;
    pub const EC_SMC64: u64 = 0x17;
    pub const EC_SYSREG: u64 = 0x18;
    pub const EC_IABT_LOWER: u64 = 0x20;
    pub const EC_IABT_CURRENT: u64 = 0x21;
    pub const EC_DABT_LOWER: u64 = 0x24;
    pub const EC_DABT_CURRENT: u64 = 0x25;

    /// HVC/SMC: the immediate.
    pub const IMM16_MASK: u64 = 0xffff;

    /// Data abort ISS: the syndrome below is valid.
    pub const ISV: u64 = 1 << 24;
    /// Access size: 1 << SAS bytes.
    pub const SAS_SHIFT: u64 = 22;
    pub const SAS_MASK: u64 = 0x3;
    /// Sign-extend the loaded value.
    pub const SSE: u64 = 1 << 21;
    /// The register transferred.
    pub const SRT_SHIFT: u64 = 16;
    pub const SRT_MASK: u64 = 0x1f;
    /// The register is 64-bit (else a W register).
    pub const SF: u64 = 1 << 15;
    /// A cache maintenance instruction, not a load or store.
    pub const CM: u64 = 1 << 8;
    /// Stage-2 fault on a stage-1 translation-table walk.
    pub const S1PTW: u64 = 1 << 7;
    /// Write, not read.
    pub const WNR: u64 = 1 << 6;
    /// Data/instruction fault status code.
    pub const FSC_MASK: u64 = 0x3f;
    /// FSC classes (bits 5:2; bits 1:0 give the level): translation, access flag, permission.
    pub const FSC_TRANSLATION: u64 = 0b00_0100;
    pub const FSC_ACCESS_FLAG: u64 = 0b00_1000;
    pub const FSC_PERMISSION: u64 = 0b00_1100;
    /// Synchronous external abort, not on a table walk (what [`crate::vcpu`] injects).
    pub const FSC_EXTERNAL: u64 = 0b01_0000;
    pub const FSC_CLASS_MASK: u64 = 0b11_1100;

    pub fn ec(esr: u64) -> u64 {
        (esr >> EC_SHIFT) & EC_MASK
    }
}

/// HPFAR_EL2.FIPA (bits 43:4) holds IPA bits 51:12 of a stage-2 fault.
const HPFAR_FIPA_SHIFT: u64 = 4;
const HPFAR_FIPA_MASK: u64 = (1 << 40) - 1;
const PAGE_OFFSET_MASK: u64 = 0xfff;

/// The guest-physical address of a stage-2 fault: the page from HPFAR_EL2, the offset
/// from FAR_EL2.
pub fn fault_ipa(far: u64, hpfar: u64) -> u64 {
    (((hpfar >> HPFAR_FIPA_SHIFT) & HPFAR_FIPA_MASK) << 12) | (far & PAGE_OFFSET_MASK)
}

/// Whether a data/instruction fault status is one stage-2 translation explains
/// (translation, access flag or permission fault): the guest touched an address its
/// map does not give it. Anything else is an external abort or a hardware error.
fn stage2_miss(esr: u64) -> bool {
    matches!(esr & esr::FSC_MASK & esr::FSC_CLASS_MASK, esr::FSC_TRANSLATION | esr::FSC_ACCESS_FLAG | esr::FSC_PERMISSION)
}

/// Decodes a synchronous exception a guest took to EL2 into an [`Exit`]. `x` is the
/// guest's x0..x30 (a store's value comes from there). Pure: every field of ESR_EL2 is
/// guest-influenced and is only ever masked, never used as an index unchecked.
///
/// - HVC → [`Exit::Hypercall`] (the vCPU answers PSCI itself);
/// - data abort with a valid syndrome on an unmapped address → [`Exit::Mmio`]; without
///   syndrome (e.g. load pair, writeback) → [`Fault::Memory`];
/// - instruction abort → [`Fault::Fetch`];
/// - WFI/WFE → [`Exit::Idle`];
/// - SMC → [`Fault::Firmware`] (partitions use PSCI over HVC);
/// - anything else (trapped system registers included) → [`Fault::Forbidden`].
pub fn decode_sync(esr: u64, far: u64, hpfar: u64, x: &[u64; 31]) -> Exit {
    let iss = esr & esr::ISS_MASK;
    match esr::ec(esr) {
        esr::EC_HVC64 => Exit::Hypercall,
        esr::EC_WFX => Exit::Idle,
        esr::EC_SMC64 => Exit::Fault(Fault::Firmware { function: x[0] }),
        esr::EC_DABT_LOWER => {
            let ipa = fault_ipa(far, hpfar);
            let write = iss & esr::WNR != 0 && iss & esr::CM == 0;
            if !stage2_miss(esr) {
                return Exit::Fault(Fault::Hardware { syndrome: esr });
            }
            if iss & esr::ISV == 0 || iss & (esr::S1PTW | esr::CM) != 0 {
                return Exit::Fault(Fault::Memory { addr: ipa, write });
            }
            let reg = ((iss >> esr::SRT_SHIFT) & esr::SRT_MASK) as u8;
            // SAS is two bits: 1, 2, 4 or 8 bytes; from_bytes cannot fail.
            let width = Width::from_bytes(1 << ((iss >> esr::SAS_SHIFT) & esr::SAS_MASK)).unwrap_or(Width::Double);
            let value = |r: u8| x.get(r as usize).copied().unwrap_or(0); // 31 is XZR
            Exit::Mmio(MmioAccess {
                addr: ipa,
                width,
                write: write.then(|| value(reg) & width_mask(width)),
                reg,
                sign_extend: iss & esr::SSE != 0,
            })
        }
        esr::EC_IABT_LOWER if stage2_miss(esr) => Exit::Fault(Fault::Fetch { addr: fault_ipa(far, hpfar) }),
        esr::EC_IABT_LOWER => Exit::Fault(Fault::Hardware { syndrome: esr }),
        _ => Exit::Fault(Fault::Forbidden { syndrome: esr }),
    }
}

/// ISS of a trapped MSR/MRS (EC 0x18): Op0 21:20, Op2 19:17, Op1 16:14, CRn 13:10, Rt 9:5,
/// CRm 4:1, Direction 0 (1: read).
const SYSREG_ID_MASK: u64 = 0x3f_fc1e;
const SYSREG_RT_SHIFT: u64 = 5;
const SYSREG_READ: u64 = 1;
/// The SGI generation registers: ICC_SGI1R_EL1 (3, 0, C12, C11, 5), ICC_ASGI1R_EL1 (op2 6)
/// and ICC_SGI0R_EL1 (op2 7). HCR_EL2.IMO/FMO trap them from EL1.
const fn sysreg_id(op0: u64, op1: u64, crn: u64, crm: u64, op2: u64) -> u64 {
    op0 << 20 | op2 << 17 | op1 << 14 | crn << 10 | crm << 1
}
const ICC_SGI_IDS: [u64; 3] = [sysreg_id(3, 0, 12, 11, 5), sysreg_id(3, 0, 12, 11, 6), sysreg_id(3, 0, 12, 11, 7)];

/// The value a guest wrote to an SGI generation register, if `esr` is such a trapped
/// write (the virtual GIC delivers it; the group the SGI is in decides how it signals).
pub fn sgi_write(esr: u64, x: &[u64; 31]) -> Option<u64> {
    let iss = esr & esr::ISS_MASK;
    if esr::ec(esr) != esr::EC_SYSREG || iss & SYSREG_READ != 0 || !ICC_SGI_IDS.contains(&(iss & SYSREG_ID_MASK)) {
        return None;
    }
    let rt = ((iss >> SYSREG_RT_SHIFT) & esr::SRT_MASK) as usize;
    Some(x.get(rt).copied().unwrap_or(0)) // 31 is XZR
}

/// All ones in the low `width` bytes.
pub fn width_mask(width: Width) -> u64 {
    u64::MAX >> (64 - 8 * width.bytes())
}

#[cfg(target_arch = "aarch64")]
core::arch::global_asm!(
    // One slot: room for the frame, free x0/x1, x1 = slot number, to the common path.
    ".macro el2_vector_slot n",
    "    .balign 0x80",                          // slots are 128 bytes apart
    "    sub   sp, sp, #{frame_size}",            // room for a TrapFrame
    "    stp   x0, x1, [sp, #0]",                 // save x0, x1
    "    mov   x1, #\\n",                         // which slot (Vector)
    "    b     __el2_trap_common",                // save the rest, call handle
    ".endm",
    "",
    // One slot for an exception from a guest that takes the full path: free x0/x1,
    // x1 = slot number, to `__guest_trap` (vcpu/hw.rs), which saves every register.
    ".macro guest_vector_slot n",
    "    .balign 0x80",                          // slots are 128 bytes apart
    "    stp   x0, x1, [sp, #-16]!",             // guest x0, x1 onto the hypervisor stack
    "    mov   x1, #\\n",                        // which slot (Vector)
    "    b     __guest_trap",                    // save the guest, handle the exit
    ".endm",
    "",
    // One slot whose exceptions all take the light path of one kind of exit (vcpu/hw.rs:
    // it saves only what a Rust call may clobber): IRQ and FIQ name no register.
    ".macro guest_light_slot path",
    "    .balign 0x80",                          //
    "    stp   x0, x1, [sp, #-16]!",             // guest x0, x1 onto the hypervisor stack
    "    b     \\path",                          // save x2..x18, x30; handle the exit
    ".endm",
    "",
    // A synchronous exception from a guest: an HVC or a WFI/WFE names no register beyond
    // x0..x4, so each takes its light path; anything else (a data abort or system
    // register access names any Xt) the full one.
    ".macro guest_sync_slot n",
    "    .balign 0x80",                          //
    "    stp   x0, x1, [sp, #-16]!",             // guest x0, x1 onto the hypervisor stack
    "    mrs   x0, esr_el2",                     //
    "    ubfx  x0, x0, #{ec_shift}, #6",         // the exception class
    "    cmp   x0, #{ec_hvc64}",                 // an HVC ...
    "    b.eq  __guest_hvc",                     // ... on its light path
    "    cmp   x0, #{ec_wfx}",                   // a WFI/WFE ...
    "    b.eq  __guest_wfx",                     // ... on its light path
    "    mov   x1, #\\n",                        // anything else: which slot (Vector) ...
    "    b     __guest_trap",                    // ... on the full path
    ".endm",
    "",
    ".section .text.vectors, \"ax\"",
    ".balign 0x800",                             // VBAR_EL2 needs 2 KiB alignment
    ".global __el2_vectors",
    "__el2_vectors:",
    ".irp n, 0, 1, 2, 3, 4, 5, 6, 7",
    "    el2_vector_slot \\n",                    // slots from EL2, in Vector order
    ".endr",
    "    guest_sync_slot 8",                      // slots from a guest (lower EL), AArch64:
    "    guest_light_slot __guest_irq",           //   IRQ and FIQ are routed by the vGIC
    "    guest_light_slot __guest_irq",           //   glue (guest_irq);
    "    guest_vector_slot 11",                   //   SError: rare, full save
    "    guest_sync_slot 12",                     // the same from AArch32
    "    guest_light_slot __guest_irq",           //
    "    guest_light_slot __guest_irq",           //
    "    guest_vector_slot 15",                   //
    "",
    "__el2_trap_common:",
    "    stp   x2, x3, [sp, #16 * 1]",            // save x2..x29 ...
    "    stp   x4, x5, [sp, #16 * 2]",            //
    "    stp   x6, x7, [sp, #16 * 3]",            //
    "    stp   x8, x9, [sp, #16 * 4]",            //
    "    stp   x10, x11, [sp, #16 * 5]",          //
    "    stp   x12, x13, [sp, #16 * 6]",          //
    "    stp   x14, x15, [sp, #16 * 7]",          //
    "    stp   x16, x17, [sp, #16 * 8]",          //
    "    stp   x18, x19, [sp, #16 * 9]",          //
    "    stp   x20, x21, [sp, #16 * 10]",         //
    "    stp   x22, x23, [sp, #16 * 11]",         //
    "    stp   x24, x25, [sp, #16 * 12]",         //
    "    stp   x26, x27, [sp, #16 * 13]",         //
    "    stp   x28, x29, [sp, #16 * 14]",         // ... in TrapFrame.x order
    "    mrs   x2, elr_el2",                      // return address
    "    mrs   x3, spsr_el2",                     // interrupted PSTATE
    "    stp   x30, x2, [sp, #16 * 15]",          // x30 and TrapFrame.elr
    "    str   x3, [sp, #{spsr}]",                // TrapFrame.spsr
    "    mov   x0, sp",                           // handle(frame, ...
    "    bl    {handle}",                         // ... vector in x1)
    "    ldr   x3, [sp, #{spsr}]",                // PSTATE to return to
    "    ldp   x30, x2, [sp, #16 * 15]",          // x30 and the return address
    "    msr   elr_el2, x2",                      // (handle may have moved it)
    "    msr   spsr_el2, x3",                     //
    "    ldp   x2, x3, [sp, #16 * 1]",            // restore x2..x29 ...
    "    ldp   x4, x5, [sp, #16 * 2]",            //
    "    ldp   x6, x7, [sp, #16 * 3]",            //
    "    ldp   x8, x9, [sp, #16 * 4]",            //
    "    ldp   x10, x11, [sp, #16 * 5]",          //
    "    ldp   x12, x13, [sp, #16 * 6]",          //
    "    ldp   x14, x15, [sp, #16 * 7]",          //
    "    ldp   x16, x17, [sp, #16 * 8]",          //
    "    ldp   x18, x19, [sp, #16 * 9]",          //
    "    ldp   x20, x21, [sp, #16 * 10]",         //
    "    ldp   x22, x23, [sp, #16 * 11]",         //
    "    ldp   x24, x25, [sp, #16 * 12]",         //
    "    ldp   x26, x27, [sp, #16 * 13]",         //
    "    ldp   x28, x29, [sp, #16 * 14]",         // ... done
    "    ldp   x0, x1, [sp, #0]",                 // and x0, x1
    "    add   sp, sp, #{frame_size}",            // drop the frame
    "    eret",                                   // resume at ELR_EL2
    frame_size = const FRAME_SIZE,
    spsr = const SPSR_OFFSET,
    handle = sym handle,
    ec_shift = const esr::EC_SHIFT,
    ec_hvc64 = const esr::EC_HVC64,
    ec_wfx = const esr::EC_WFX,
);

#[cfg(test)]
mod tests {
    use super::*;

    /// A data abort syndrome: stage-2 translation fault at level 3, ISV set.
    fn dabt(sas: u64, sse: bool, srt: u64, sf: bool, wnr: bool) -> u64 {
        (esr::EC_DABT_LOWER << esr::EC_SHIFT)
            | esr::IL
            | esr::ISV
            | (sas << esr::SAS_SHIFT)
            | if sse { esr::SSE } else { 0 }
            | (srt << esr::SRT_SHIFT)
            | if sf { esr::SF } else { 0 }
            | if wnr { esr::WNR } else { 0 }
            | 0b0001_11
    }

    #[test]
    fn data_aborts_with_syndrome_are_mmio() {
        let mut x = [0u64; 31];
        x[3] = 0xdead_beef_1234_5678;
        let far = 0x0900_0018;
        let hpfar = (0x0900_0000 >> 12) << 4;
        let store = decode_sync(dabt(2, false, 3, false, true), far, hpfar, &x);
        assert_eq!(
            store,
            Exit::Mmio(MmioAccess { addr: 0x0900_0018, width: Width::Word, write: Some(0x1234_5678), reg: 3, sign_extend: false })
        );
        let load = decode_sync(dabt(0, true, 7, true, false), far, hpfar, &x);
        assert_eq!(load, Exit::Mmio(MmioAccess { addr: 0x0900_0018, width: Width::Byte, write: None, reg: 7, sign_extend: true }));
        let xzr = decode_sync(dabt(3, false, 31, true, true), far, hpfar, &x);
        assert_eq!(xzr, Exit::Mmio(MmioAccess { addr: 0x0900_0018, width: Width::Double, write: Some(0), reg: 31, sign_extend: false }));
    }

    #[test]
    fn the_ipa_comes_from_hpfar_not_the_virtual_address() {
        let x = [0u64; 31];
        let e = decode_sync(dabt(2, false, 0, false, false), 0xffff_0000_1234_5abc, (0x49_000u64) << 4, &x);
        assert!(matches!(e, Exit::Mmio(MmioAccess { addr: 0x4900_0abc, .. })));
    }

    #[test]
    fn aborts_without_syndrome_or_on_walks_are_memory_faults() {
        let x = [0u64; 31];
        let no_isv = dabt(2, false, 0, false, true) & !esr::ISV;
        assert_eq!(decode_sync(no_isv, 0x4900_0000, 0x49_000 << 4, &x), Exit::Fault(Fault::Memory { addr: 0x4900_0000, write: true }));
        let walk = dabt(2, false, 0, false, false) | esr::S1PTW;
        assert_eq!(decode_sync(walk, 0, 0x49_000 << 4, &x), Exit::Fault(Fault::Memory { addr: 0x4900_0000, write: false }));
        let external = (dabt(2, false, 0, false, false) & !esr::FSC_MASK) | esr::FSC_EXTERNAL;
        assert!(matches!(decode_sync(external, 0, 0, &x), Exit::Fault(Fault::Hardware { .. })));
    }

    #[test]
    fn other_classes() {
        let mut x = [0u64; 31];
        x[0] = 0x8400_0008;
        let ec = |c: u64| (c << esr::EC_SHIFT) | esr::IL;
        assert_eq!(decode_sync(ec(esr::EC_HVC64), 0, 0, &x), Exit::Hypercall);
        assert_eq!(decode_sync(ec(esr::EC_WFX), 0, 0, &x), Exit::Idle);
        assert_eq!(decode_sync(ec(esr::EC_SMC64), 0, 0, &x), Exit::Fault(Fault::Firmware { function: 0x8400_0008 }));
        let iabt = ec(esr::EC_IABT_LOWER) | 0b0001_10;
        assert_eq!(decode_sync(iabt, 0x4900_0004, 0x49_000 << 4, &x), Exit::Fault(Fault::Fetch { addr: 0x4900_0004 }));
        let msr = ec(esr::EC_SYSREG) | 0x12345;
        assert_eq!(decode_sync(msr, 0, 0, &x), Exit::Fault(Fault::Forbidden { syndrome: msr }));
        assert_eq!(decode_sync(u64::MAX, u64::MAX, u64::MAX, &x), Exit::Fault(Fault::Forbidden { syndrome: u64::MAX }));
    }

    #[test]
    fn sgi_register_writes_are_recognised() {
        let mut x = [0u64; 31];
        x[5] = 0x0100_0001;
        let msr = |id: u64, rt: u64| (esr::EC_SYSREG << esr::EC_SHIFT) | esr::IL | id | rt << 5;
        assert_eq!(sgi_write(msr(ICC_SGI_IDS[0], 5), &x), Some(0x0100_0001));
        assert_eq!(sgi_write(msr(ICC_SGI_IDS[0], 31), &x), Some(0), "xzr");
        assert_eq!(sgi_write(msr(ICC_SGI_IDS[0], 5) | 1, &x), None, "a read is not a write");
        assert_eq!(sgi_write(msr(sysreg_id(3, 0, 12, 12, 0), 5), &x), None, "ICC_IAR1_EL1");
        assert_eq!(ICC_SGI_IDS[0], 0x3a_3016, "op0 3, op2 5, CRn 12, CRm 11");
    }

    #[test]
    fn vectors_are_named_in_table_order() {
        assert_eq!(Vector::from_index(5), Some(Vector::CurrentSpxIrq));
        assert_eq!(Vector::from_index(16), None);
        assert_eq!(Vector::CurrentSpxSync.to_string(), "synchronous exception from EL2");
        assert_eq!(Vector::Lower32SError.to_string(), "SError from lower EL (AArch32)");
    }
}
