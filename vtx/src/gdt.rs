//! The hypervisor's GDT, as the entry code builds it (`entry.rs`): its selectors, and each
//! CPU's task-state segment and descriptor.

/// Selectors of the hypervisor's GDT (built by the entry code, `entry.rs`): 64-bit code,
/// data, and the first TSS descriptor (CPU `n`'s is 16 bytes further per CPU).
pub const KERNEL_CS: u16 = 0x08;
pub const KERNEL_DS: u16 = 0x10;
pub const FIRST_TSS: u16 = 0x18;

/// A 64-bit task-state segment. The hypervisor never changes privilege level nor uses
/// interrupt stacks, so its TSS only exists because VMX needs a task register for the
/// host: a VM exit loads TR from the VMCS.
#[repr(C, packed(4))]
pub struct Tss {
    reserved0: u32,
    rsp: [u64; 3],
    reserved1: u64,
    ist: [u64; 7],
    reserved2: u64,
    reserved3: u16,
    io_map_base: u16,
}

const _: () = assert!(core::mem::size_of::<Tss>() == 104);

#[cfg(target_os = "none")]
static TSS: [Tss; hv::config::MAX_CPUS] = [const {
    Tss { reserved0: 0, rsp: [0; 3], reserved1: 0, ist: [0; 7], reserved2: 0, reserved3: 0, io_map_base: 104 }
}; hv::config::MAX_CPUS];

/// Loads CPU `cpu`'s task register (its own TSS descriptor in the GDT); returns TR's
/// selector and base, for the VMCS host state.
#[cfg(target_os = "none")]
pub fn load_task_register(cpu: usize) -> (u16, u64) {
    unsafe extern "C" {
        // The GDT in entry.rs: three descriptors, then one 16-byte TSS descriptor per CPU.
        static mut boot_gdt: [u64; 3 + 2 * hv::config::MAX_CPUS];
    }
    let cpu = cpu % hv::config::MAX_CPUS;
    let base = core::ptr::addr_of!(TSS[cpu]) as u64;
    let limit = (core::mem::size_of::<Tss>() - 1) as u64;
    // Present, DPL 0, type 9 (available 64-bit TSS); base split over both words.
    let low = limit | (base & 0xff_ffff) << 16 | 0x89 << 40 | (base >> 24 & 0xff) << 56;
    let selector = FIRST_TSS + 16 * cpu as u16;
    // SAFETY: this CPU's own descriptor slot, written once before it loads it; LTR marks
    // it busy, which nobody else's LTR touches.
    unsafe {
        let slot = core::ptr::addr_of_mut!(boot_gdt).cast::<u64>().add(usize::from(selector) / 8);
        slot.write_volatile(low);
        slot.add(1).write_volatile(base >> 32);
        core::arch::asm!("ltr {0:x}", in(reg) selector, options(nostack, preserves_flags));
    }
    (selector, base)
}

