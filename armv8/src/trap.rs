//! EL2 exceptions: the vector table, and [`handle`], the one Rust function every
//! exception taken to the hypervisor reaches.
//!
//! Path of a trap, start to end:
//! 1. `__el2_vectors` (below): 16 slots of 128 bytes, one per (origin, kind). Each slot
//!    makes room for a [`TrapFrame`] on the stack, saves x0/x1, puts its [`Vector`] number
//!    in x1 and branches to the common path.
//! 2. `__el2_trap_common`: saves x2..x30, ELR_EL2 and SPSR_EL2, calls [`handle`].
//! 3. [`handle`]: decides by vector and exception class (ESR_EL2.EC). If it returns, the
//!    frame (possibly changed) is restored and `eret` resumes where ELR_EL2 points.
//!
//! What is handled today:
//! - a semihosting call (`hlt #0xf000`) when the debugger/QEMU does not implement
//!   semihosting: it fails with -1 instead of killing the hypervisor (see
//!   [`crate::semihosting`]);
//! - anything else is unexpected, since no partition runs yet: [`unexpected`] panics with
//!   ESR_EL2, ELR_EL2 and FAR_EL2, and the board's panic handler prints that on the
//!   console and powers off.

// The vector table (and so every caller of `handle`) only exists on AArch64; host builds
// compile the rest for the unit tests.
#![cfg_attr(not(target_arch = "aarch64"), allow(dead_code))]

use aarch64_cpu::registers::{ESR_EL2, FAR_EL2, Readable};
use core::fmt;

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
    ".section .text.vectors, \"ax\"",
    ".balign 0x800",                             // VBAR_EL2 needs 2 KiB alignment
    ".global __el2_vectors",
    "__el2_vectors:",
    ".irp n, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15",
    "    el2_vector_slot \\n",                    // the 16 slots, in Vector order
    ".endr",
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
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_are_named_in_table_order() {
        assert_eq!(Vector::from_index(5), Some(Vector::CurrentSpxIrq));
        assert_eq!(Vector::from_index(16), None);
        assert_eq!(Vector::CurrentSpxSync.to_string(), "synchronous exception from EL2");
        assert_eq!(Vector::Lower32SError.to_string(), "SError from lower EL (AArch32)");
    }
}
