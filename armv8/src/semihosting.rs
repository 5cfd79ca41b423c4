//! Arm semihosting from EL2: a byte channel to the debugger or emulator, used for defmt log
//! frames under QEMU (the console stays free for people).
//!
//! A call is `hlt #0xf000` with the operation in w0 and a pointer to its parameter block
//! in x1; the result comes back in x0. Only what a log channel needs is here.
//!
//! Two ways out, as observed with QEMU 7.2:
//! - [`console_write`] (SYS_WRITEC / SYS_WRITE0): the semihosting console, which QEMU
//!   sends to `-semihosting-config chardev=ID` (else to its stderr). Any byte values.
//! - [`open`] + [`File::write`] (SYS_OPEN / SYS_WRITE): a file on the host, relative to
//!   QEMU's working directory (`target=native`). Note that ":tt" opened this way is
//!   QEMU's own stdout (mixed into the serial console under `-nographic`), NOT the chardev.
//!
//! Without semihosting (QEMU run without `-semihosting-config enable=on`, real hardware
//! without a debugger), `hlt` is an undefined instruction at EL2: the trap handler
//! recognises the call ([`is_call_at`]) and makes it fail with -1
//! ([`fail_unimplemented`]). [`present`] asks once, so a board runs without logs instead of
//! trapping on every byte.

use crate::trap::TrapFrame;
use core::ffi::CStr;
use core::sync::atomic::{AtomicBool, Ordering};

/// SYS_WRITEC: write the byte pointed to by x1 to the debug console.
const SYS_WRITEC: u64 = 0x03;
/// SYS_WRITE0: write the NUL-terminated string at x1 to the debug console.
const SYS_WRITE0: u64 = 0x04;
/// SYS_ERRNO: the host's errno of the last call; harmless, so used as the probe.
const SYS_ERRNO: u64 = 0x13;

/// SYS_OPEN: open a host file (or ":tt", the debug console); returns a handle or -1.
const SYS_OPEN: u64 = 0x01;
/// SYS_WRITE: write a buffer to a handle; returns the number of bytes NOT written.
const SYS_WRITE: u64 = 0x05;

/// `hlt #0xf000`, the AArch64 semihosting trap, as an instruction word.
const HLT_SEMIHOSTING: u32 = 0xd45e_0000;

/// SYS_OPEN modes (ISO C fopen modes, numbered as the semihosting specification does).
#[derive(Clone, Copy, Debug)]
#[repr(u64)]
pub enum Mode {
    /// "rb"
    ReadBinary = 1,
    /// "w": on ":tt", the console output
    Write = 4,
    /// "wb": create or truncate a host file
    WriteBinary = 5,
    /// "ab": append to a host file
    AppendBinary = 9,
}

/// An open semihosting handle.
#[derive(Clone, Copy, Debug)]
pub struct File(u64);

/// Set by the trap handler when a call found no semihosting implementation.
static UNAVAILABLE: AtomicBool = AtomicBool::new(false);

/// Whether a debugger or emulator answers semihosting calls.
pub fn present() -> bool {
    call(SYS_ERRNO, &[]);
    !UNAVAILABLE.load(Ordering::Relaxed)
}

/// Bytes for the semihosting console not yet sent: a NUL-terminated buffer, so that one
/// SYS_WRITE0 sends a whole run (defmt hands the transport one byte at a time).
static PENDING: spin::Mutex<Pending> = spin::Mutex::new(Pending { buf: [0; PENDING_SIZE], len: 0 });
const PENDING_SIZE: usize = 64;

struct Pending {
    buf: [u8; PENDING_SIZE],
    len: usize,
}

impl Pending {
    /// Sends the buffered run (SYS_WRITE0 stops at the NUL after it).
    fn flush(&mut self) {
        if self.len > 0 {
            self.buf[self.len] = 0;
            call_ptr(SYS_WRITE0, self.buf.as_ptr());
            self.len = 0;
        }
    }
}

/// Writes `bytes` to the semihosting console. Non-zero bytes are collected and sent as one
/// SYS_WRITE0 when a zero byte arrives (the end of a defmt frame) or the buffer fills;
/// a zero byte itself goes with SYS_WRITEC. Two traps per defmt frame, usually.
pub fn console_write(bytes: &[u8]) {
    let mut p = PENDING.lock();
    for &b in bytes {
        if b == 0 {
            p.flush();
            call_ptr(SYS_WRITEC, [0u8].as_ptr());
        } else {
            if p.len == PENDING_SIZE - 1 {
                p.flush();
            }
            let at = p.len;
            p.buf[at] = b;
            p.len += 1;
        }
    }
}

/// Opens `name` (":tt" or a path on the host, relative to the emulator's working
/// directory). `None` if the host refuses or semihosting is not there at all.
pub fn open(name: &CStr, mode: Mode) -> Option<File> {
    let block = [name.as_ptr() as u64, mode as u64, name.to_bytes().len() as u64];
    let handle = call(SYS_OPEN, &block);
    (handle as i64 >= 0).then_some(File(handle))
}

impl File {
    /// Writes all of `bytes`; false if the host took fewer.
    pub fn write(&self, bytes: &[u8]) -> bool {
        let block = [self.0, bytes.as_ptr() as u64, bytes.len() as u64];
        call(SYS_WRITE, &block) == 0
    }
}

/// Whether `addr` (an ELR_EL2 from a trap) holds a semihosting call.
pub fn is_call_at(addr: u64) -> bool {
    // SAFETY: called for an exception taken at EL2 from this image's own code: ELR_EL2 is
    // the address of the instruction that trapped, which was just fetched and is readable.
    let insn = unsafe { core::ptr::read_volatile(addr as *const u32) };
    insn == HLT_SEMIHOSTING
}

/// Completes a semihosting call nobody implemented: result -1, continue after the `hlt`.
pub fn fail_unimplemented(frame: &mut TrapFrame) {
    UNAVAILABLE.store(true, Ordering::Relaxed);
    frame.x[0] = u64::MAX;
    frame.elr += 4;
}

/// One semihosting call: operation `op`, parameter block `block`.
fn call(op: u64, block: &[u64]) -> u64 {
    call_ptr(op, block.as_ptr().cast())
}

/// One semihosting call: operation `op`, x1 = `param` (a block, a byte or a string).
///
/// ELR_EL2 and SPSR_EL2 come back as they were: during a guest's exit they hold its PC and
/// PSTATE (`crate::vcpu`), and a call nobody answers is an exception taken at EL2, whose
/// entry overwrites both.
#[cfg(target_arch = "aarch64")]
fn call_ptr(op: u64, param: *const u8) -> u64 {
    let ret;
    // SAFETY: the host only reads what `param` points to (borrowed by the caller for the
    // duration of the call, and any buffers a block points to) and writes x0; ELR_EL2 and
    // SPSR_EL2 are written back with the values read just before.
    unsafe {
        core::arch::asm!(
            "mrs {elr}, elr_el2",   // the guest's PC and PSTATE, if in an exit ...
            "mrs {spsr}, spsr_el2", //
            "hlt #0xf000",          // the call (may trap: trap.rs fails it)
            "msr elr_el2, {elr}",   // ... back as they were
            "msr spsr_el2, {spsr}", //
            inout("x0") op => ret,
            in("x1") param,
            elr = out(reg) _,
            spsr = out(reg) _,
            options(nostack, readonly),
        );
    }
    ret
}

#[cfg(not(target_arch = "aarch64"))]
fn call_ptr(_op: u64, _param: *const u8) -> u64 {
    unimplemented!("semihosting exists only on AArch64")
}
