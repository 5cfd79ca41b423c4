//! Port I/O: the x86 `in`/`out` instructions.
//!
//! Every function is `unsafe`: a port can be anything (a UART, the PIC, a reset or
//! power-off latch), so the caller must know what lives at the port it names.

use core::arch::asm;

/// Writes `value` to I/O port `port`.
///
/// # Safety
/// The caller knows the device at `port` and that writing `value` to it is harmless.
pub unsafe fn outb(port: u16, value: u8) {
    // SAFETY: forwarded to the caller; `out` touches no memory.
    unsafe { asm!("out dx, al", in("dx") port, in("al") value, options(nomem, nostack, preserves_flags)) }
}

/// Reads a byte from I/O port `port`.
///
/// # Safety
/// As [`outb`]: reads have side effects on some devices (FIFOs, status latches).
pub unsafe fn inb(port: u16) -> u8 {
    let value: u8;
    // SAFETY: forwarded to the caller; `in` touches no memory.
    unsafe { asm!("in al, dx", out("al") value, in("dx") port, options(nomem, nostack, preserves_flags)) }
    value
}

/// Writes each byte of `bytes` to the same port, in order.
///
/// # Safety
/// As [`outb`], for every byte.
pub unsafe fn outb_all(port: u16, bytes: &[u8]) {
    for &b in bytes {
        // SAFETY: forwarded to the caller.
        unsafe { outb(port, b) }
    }
}
