//! The VMX instructions, each checked for VMfailInvalid (CF) and VMfailValid (ZF, with
//! the VM-instruction error number from the current VMCS). SDM Vol. 3C, ch. 31.
//!
//! All are `unsafe`: they change the CPU's mode (VMXON) or hand it memory it will own
//! (VMXON region, VMCS); the caller gives physical addresses of memory reserved for it.

use core::arch::asm;
use core::fmt;

/// VMCS field: VM-instruction error (read-only, 32 bits).
pub const VMCS_VM_INSTRUCTION_ERROR: u64 = 0x4400;

/// A VMX instruction failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmFail {
    /// CF set: no current VMCS, or the operand is unusable.
    Invalid,
    /// ZF set: the current VMCS records why (SDM Vol. 3C, 31.4 "VM instruction error numbers").
    Valid(u32),
}

impl fmt::Display for VmFail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VmFail::Invalid => f.write_str("VMfailInvalid"),
            VmFail::Valid(e) => write!(f, "VMfailValid, error {e}"),
        }
    }
}

/// CF and ZF as captured right after a VMX instruction.
fn check(cf: u8, zf: u8) -> Result<(), VmFail> {
    if cf != 0 {
        Err(VmFail::Invalid)
    } else if zf != 0 {
        // SAFETY: ZF means a current VMCS exists and holds the error number.
        let error = unsafe { vmread_unchecked(VMCS_VM_INSTRUCTION_ERROR) };
        Err(VmFail::Valid(error.map_or(u32::MAX, |e| e as u32)))
    } else {
        Ok(())
    }
}

/// VMREAD without error decoding (`None` on any failure).
///
/// # Safety
/// In VMX operation.
unsafe fn vmread_unchecked(field: u64) -> Option<u64> {
    let (value, cf, zf): (u64, u8, u8);
    // SAFETY: forwarded to the caller; VMREAD to a register touches no memory.
    unsafe {
        asm!("vmread {v}, {f}", "setc {cf}", "setz {zf}",
             v = out(reg) value, f = in(reg) field, cf = out(reg_byte) cf, zf = out(reg_byte) zf,
             options(nomem, nostack))
    }
    (cf == 0 && zf == 0).then_some(value)
}

/// Enters VMX operation with the VMXON region at physical `region`.
///
/// # Safety
/// CR0/CR4 satisfy the VMX fixed bits (CR4.VMXE set); `region` is the physical address of
/// a 4 KiB aligned page holding the VMCS revision id, reserved for VMX until VMXOFF.
pub unsafe fn vmxon(region: u64) -> Result<(), VmFail> {
    let (cf, zf): (u8, u8);
    // SAFETY: forwarded to the caller; the operand is a u64 on our stack.
    unsafe {
        asm!("vmxon qword ptr [{p}]", "setc {cf}", "setz {zf}",
             p = in(reg) &region, cf = out(reg_byte) cf, zf = out(reg_byte) zf, options(nostack))
    }
    check(cf, zf)
}

/// Initialises the VMCS at physical `vmcs` and makes it not current.
///
/// # Safety
/// In VMX operation; `vmcs` is a 4 KiB aligned page reserved for this VMCS.
pub unsafe fn vmclear(vmcs: u64) -> Result<(), VmFail> {
    let (cf, zf): (u8, u8);
    // SAFETY: forwarded to the caller.
    unsafe {
        asm!("vmclear qword ptr [{p}]", "setc {cf}", "setz {zf}",
             p = in(reg) &vmcs, cf = out(reg_byte) cf, zf = out(reg_byte) zf, options(nostack))
    }
    check(cf, zf)
}

/// Makes the VMCS at physical `vmcs` current.
///
/// # Safety
/// As [`vmclear`]; the page starts with the VMCS revision id.
pub unsafe fn vmptrld(vmcs: u64) -> Result<(), VmFail> {
    let (cf, zf): (u8, u8);
    // SAFETY: forwarded to the caller.
    unsafe {
        asm!("vmptrld qword ptr [{p}]", "setc {cf}", "setz {zf}",
             p = in(reg) &vmcs, cf = out(reg_byte) cf, zf = out(reg_byte) zf, options(nostack))
    }
    check(cf, zf)
}

/// INVVPID types (SDM Vol. 3C, 31.3): the translations of one VPID, or of every VPID but 0.
pub const INVVPID_SINGLE_CONTEXT: u64 = 1;
pub const INVVPID_ALL_CONTEXTS: u64 = 2;

/// Drops the cached linear translations tagged `vpid` (`kind`: [`INVVPID_SINGLE_CONTEXT`]
/// or [`INVVPID_ALL_CONTEXTS`]).
///
/// # Safety
/// In VMX operation, on a CPU whose INVVPID supports `kind`.
#[cfg(not(test))]
pub unsafe fn invvpid(kind: u64, vpid: u16) -> Result<(), VmFail> {
    let descriptor: [u64; 2] = [u64::from(vpid), 0];
    let (cf, zf): (u8, u8);
    // SAFETY: forwarded to the caller; INVVPID reads the 16-byte descriptor on our stack.
    unsafe {
        asm!("invvpid {k}, xmmword ptr [{d}]", "setc {cf}", "setz {zf}",
             k = in(reg) kind, d = in(reg) &descriptor, cf = out(reg_byte) cf, zf = out(reg_byte) zf, options(nostack))
    }
    check(cf, zf)
}

// Host builds: the INVVPIDs the vCPU asked for, in order, for its tests.
#[cfg(test)]
std::thread_local! {
    pub static INVVPIDS: core::cell::RefCell<std::vec::Vec<(u64, u16)>> = Default::default();
}

/// # Safety
/// None on the host: it only records the call.
#[cfg(test)]
pub unsafe fn invvpid(kind: u64, vpid: u16) -> Result<(), VmFail> {
    INVVPIDS.with(|v| v.borrow_mut().push((kind, vpid)));
    Ok(())
}

/// A page handed to the CPU for VMX: a VMXON region or a VMCS (4 KiB, 4 KiB aligned), at a
/// physical address equal to its virtual one (identity map).
#[repr(C, align(4096))]
pub struct Region(core::cell::UnsafeCell<[u8; REGION_SIZE]>);

/// Bytes of a [`Region`]; `cpu::probe` checks the CPU asks for no more.
pub const REGION_SIZE: usize = 4096;

// SAFETY: a region is written only by `prepare`, whose caller guarantees no CPU uses it.
unsafe impl Sync for Region {}

impl Default for Region {
    fn default() -> Self {
        Self::new()
    }
}

impl Region {
    pub const fn new() -> Self {
        Region(core::cell::UnsafeCell::new([0; REGION_SIZE]))
    }

    pub fn phys(&self) -> u64 {
        self.0.get() as u64
    }

    /// Zeroes the region and writes the VMCS revision identifier first.
    ///
    /// # Safety
    /// No CPU uses the region (not a VMXON region in use, not a current or active VMCS),
    /// and no other reference to it is live.
    pub unsafe fn prepare(&self, revision: u32) {
        // SAFETY: forwarded to the caller: nobody else touches the bytes.
        let bytes = unsafe { &mut *self.0.get() };
        bytes.fill(0);
        bytes[..4].copy_from_slice(&revision.to_le_bytes());
    }
}
