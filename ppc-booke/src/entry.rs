//! The reset entry and the ePAPR boot arguments.
//!
//! A board instantiates the entry with [`entry!`](crate::entry!), naming its Rust main
//! and the TLB1 entry that maps CCSR (both are board facts):
//!
//! ```ignore
//! ppc_booke::entry!(main, secondary, CCSR_MAPPING);
//! fn main(boot: ppc_booke::entry::BootInfo) -> ! { ... }
//! fn secondary(cpu: u32) -> ! { ... }
//! ```
//!
//! The boot loader (QEMU's `-kernel`, or U-Boot's `bootm`) enters `_start` as ePAPR
//! specifies for Book E: MSR = 0 (supervisor, address space 0, all interrupts off),
//! r3 = the device tree, r6 = the ePAPR magic, r7 = the size of the initial mapped area
//! (IMA, from effective address 0) that TLB1 already maps and that holds the device
//! tree. The entry then:
//! 1. switches to the hypervisor's stack and zeroes `.bss`;
//! 2. points SPRG2 at the core's [`crate::percpu`] area and SPRG0 at its fault frame,
//!    IVPR/IVORs at [`crate::trap`]'s vectors;
//! 3. maps CCSR with the board's TLB1 entry (IPROT: never flushed);
//! 4. enables machine checks, so they are reported instead of stopping the core;
//! 5. calls the board's main with a [`BootInfo`].
//!
//! Steps 2 and 4 are per core (SPRs and TLB1 are the core's own): a secondary core
//! released through its ePAPR spin table enters at `bh_secondary_start` and does the same
//! on the stack the boot core gave it, without touching `.bss`; its board code maps CCSR
//! (see [`entry!`](crate::entry!)).
//!
//! The linker script provides `__stack_top`, `__bss_start` and `__bss_end` (4-byte
//! aligned), and places `.text.vectors` on a 64 KiB boundary (IVPR keeps only the upper
//! 16 bits).

use core::fmt;

/// `r6` at entry: "EPAP" (ePAPR 1.1, section 5.4.1).
pub const EPAPR_MAGIC: u32 = 0x4550_4150;

/// Flattened device tree header magic.
const FDT_MAGIC: u32 = 0xd00d_feed;
/// The header fields read before the blob is handed on: magic and totalsize.
const FDT_HEADER_MIN: usize = 8;

/// What the boot loader passed in registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BootInfo {
    /// r3: effective address of the device tree blob.
    pub dtb: usize,
    /// r6: [`EPAPR_MAGIC`] when booted the ePAPR way.
    pub epapr_magic: u32,
    /// r7: bytes mapped from address 0 at entry (the IMA).
    pub ima_size: usize,
}

/// Why the device tree handed over at boot cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DtbError {
    /// r6 is not the ePAPR magic: not booted by an ePAPR loader, r3 means nothing.
    NotEpapr { r6: u32 },
    /// r3 is null, misaligned, or the header is outside the initial mapped area.
    BadAddress { dtb: usize, ima_size: usize },
    /// No FDT magic at r3.
    BadMagic { found: u32 },
    /// The header's totalsize is too small or runs past the initial mapped area.
    BadSize { totalsize: u32, room: usize },
}

impl fmt::Display for DtbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DtbError::NotEpapr { r6 } => {
                write!(f, "not booted by an ePAPR loader (r6={r6:#010x}, want {EPAPR_MAGIC:#010x})")
            }
            DtbError::BadAddress { dtb, ima_size } => {
                write!(f, "device tree address {dtb:#x} unusable (mapped: 0..{ima_size:#x})")
            }
            DtbError::BadMagic { found } => {
                write!(f, "no device tree magic (found {found:#010x}, want {FDT_MAGIC:#010x})")
            }
            DtbError::BadSize { totalsize, room } => {
                write!(f, "device tree size {totalsize:#x} invalid ({room:#x} bytes mapped)")
            }
        }
    }
}

impl BootInfo {
    /// Checks what can be checked without trusting the blob: ePAPR boot, address, magic,
    /// size within the mapped area. Returns the range `[dtb, dtb + totalsize)`.
    ///
    /// `read_be32(addr)` reads a big-endian word at `addr`; it is only called for
    /// addresses inside `[dtb, dtb + 8)` once those are known to be mapped.
    pub fn check_dtb(&self, read_be32: impl Fn(usize) -> u32) -> Result<(usize, usize), DtbError> {
        if self.epapr_magic != EPAPR_MAGIC {
            return Err(DtbError::NotEpapr { r6: self.epapr_magic });
        }
        let bad_address = DtbError::BadAddress { dtb: self.dtb, ima_size: self.ima_size };
        if self.dtb == 0 || !self.dtb.is_multiple_of(8) {
            return Err(bad_address);
        }
        let room = self.ima_size.checked_sub(self.dtb).ok_or(bad_address)?;
        if room < FDT_HEADER_MIN {
            return Err(bad_address);
        }
        let magic = read_be32(self.dtb);
        if magic != FDT_MAGIC {
            return Err(DtbError::BadMagic { found: magic });
        }
        let totalsize = read_be32(self.dtb + 4);
        if (totalsize as usize) < FDT_HEADER_MIN || totalsize as usize > room {
            return Err(DtbError::BadSize { totalsize, room });
        }
        Ok((self.dtb, totalsize as usize))
    }

    /// The device tree handed over at boot, checked as in [`BootInfo::check_dtb`].
    ///
    /// # Safety
    /// `self` holds the registers the boot loader passed, and the initial mapped area
    /// they describe is still mapped and is not written by anyone while the slice lives.
    #[cfg(target_arch = "powerpc")]
    pub unsafe fn dtb(&self) -> Result<&'static [u8], DtbError> {
        // SAFETY: check_dtb reads only inside the IMA, which the caller vouches for.
        let read = |addr: usize| unsafe { core::ptr::read_volatile(addr as *const u32) };
        let (base, len) = self.check_dtb(read)?;
        // SAFETY: [base, base + len) lies inside the mapped IMA (checked), which no one
        // writes (caller); u8 has no alignment or validity requirements.
        Ok(unsafe { core::slice::from_raw_parts(base as *const u8, len) })
    }
}

/// Defines `_start`, the reset entry (see the module documentation), calling
/// `$main(BootInfo) -> !` after mapping CCSR with `$ccsr` (a [`crate::tlb::Tlb1Entry`]
/// constant), and `bh_secondary_start`, where a secondary core released through its
/// spin table starts (r3 = its [`crate::percpu`] area, from
/// [`crate::percpu::prepare_secondary`]), calling `$secondary(cpu) -> !` after the same
/// per-core set-up on its own stack. Use once, in the board crate.
#[macro_export]
macro_rules! entry {
    ($main:path, $secondary:path, $ccsr:expr $(,)?) => {
        const _: () = assert!($crate::tlb::Tlb1Entry::is_valid(&$ccsr), "CCSR TLB1 entry invalid");

        extern "C" fn __bulkhead_start_rust(dtb: usize, epapr_magic: u32, ima_size: usize) -> ! {
            let main: fn($crate::entry::BootInfo) -> ! = $main;
            main($crate::entry::BootInfo { dtb, epapr_magic, ima_size })
        }

        extern "C" fn __bulkhead_secondary_rust() -> ! {
            let secondary: fn(u32) -> ! = $secondary;
            secondary($crate::percpu::this_cpu())
        }

        core::arch::global_asm!(
            r#"
            .section .text.entry, "ax"
            .globl _start
        _start:
            lis 1, __stack_top@ha              # r1 = the hypervisor stack ...
            addi 1, 1, __stack_top@l           # ... top (16-byte aligned by link.ld)
            li 0, 0                            # a null back chain ...
            stwu 0, -16(1)                     # ... ends stack walks here

            lis 8, __bss_start@ha              # r8 = .bss start
            addi 8, 8, __bss_start@l
            lis 9, __bss_end@ha                # r9 = .bss end
            addi 9, 9, __bss_end@l
        1:  cmplw 8, 9                         # done?
            bge 2f
            stw 0, 0(8)                        # zero one word
            addi 8, 8, 4                       # next word
            b 1b
        2:
            lis 9, bh_percpu_areas@ha          # r9 = the boot core's per-CPU area
            addi 9, 9, bh_percpu_areas@l       #   (the first)
            bl bh_cpu_init                     # vectors, MSR (keeps r3, r6, r7)
            lis 8, {mas0}@h                    # CCSR: TLB1 entry (MAS0: TLB, index) ...
            ori 8, 8, {mas0}@l
            mtspr {spr_mas0}, 8
            lis 8, {mas1}@h                    # ... valid, IPROT, size
            ori 8, 8, {mas1}@l
            mtspr {spr_mas1}, 8
            lis 8, {mas2}@h                    # ... virtual address, cache-inhibited + guarded
            ori 8, 8, {mas2}@l
            mtspr {spr_mas2}, 8
            lis 8, {mas3}@h                    # ... physical address (low), supervisor RW
            ori 8, 8, {mas3}@l
            mtspr {spr_mas3}, 8
            li 8, {mas7}                       # ... physical address bits 32..35
            mtspr {spr_mas7}, 8
            isync                              # MAS writes done before tlbwe
            tlbwe                              # install it (TLB1 is per core)
            isync                              # later accesses see it

            mr 4, 6                            # main's 2nd argument: the ePAPR magic
            mr 5, 7                            # main's 3rd argument: the IMA size
            bl {rust_main}                     # r3 (the device tree) is the 1st; never returns
        3:  b 3b                               # unreachable

            .globl bh_secondary_start
        bh_secondary_start:                    # a released core: r3 = its per-CPU area
            mr 9, 3                            # r9 = the area
            lwz 1, {stack_top}(9)              # r1 = the stack its releaser gave it
            li 0, 0                            # a null back chain ...
            stwu 0, -16(1)                     # ... ends stack walks here
            bl bh_cpu_init                     # vectors, MSR; CCSR is mapped by the
            bl {rust_secondary}                #   board (never returns)
        4:  b 4b                               # unreachable

        bh_cpu_init:                           # r9 = this core's per-CPU area; uses r8
            mtspr {sprg2}, 9                   # SPRG2 = the area, for good
            mtspr {sprg0}, 9                   # SPRG0 = its fault frame (at offset 0)
            lis 8, bh_vectors@h                # IVPR = the vector page
            mtspr {ivpr}, 8                    #   (upper 16 bits only)
            .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
            li 8, bh_vec_\n@l                  # IVOR\n = offset of its stub
            mtspr {ivor0}+\n, 8
            .endr
            .irp n, 32,33,34,35
            li 8, bh_vec_\n@l                  # IVOR\n (SPE, performance monitor)
            mtspr {ivor32}+\n-32, 8
            .endr

            lis 8, {msr_me}@h                  # MSR = ME: report machine checks
            ori 8, 8, {msr_me}@l               #   (all other interrupts stay off)
            mtmsr 8
            isync
            blr
            "#,
            ivpr = const $crate::spr::IVPR,
            ivor0 = const $crate::spr::IVOR0,
            ivor32 = const $crate::spr::IVOR32,
            sprg0 = const $crate::spr::SPRG0,
            sprg2 = const $crate::spr::SPRG2,
            stack_top = const $crate::percpu::STACK_TOP,
            spr_mas0 = const $crate::spr::MAS0,
            spr_mas1 = const $crate::spr::MAS1,
            spr_mas2 = const $crate::spr::MAS2,
            spr_mas3 = const $crate::spr::MAS3,
            spr_mas7 = const $crate::spr::MAS7,
            mas0 = const $crate::tlb::Tlb1Entry::mas0(&$ccsr),
            mas1 = const $crate::tlb::Tlb1Entry::mas1(&$ccsr),
            mas2 = const $crate::tlb::Tlb1Entry::mas2(&$ccsr),
            mas3 = const $crate::tlb::Tlb1Entry::mas3(&$ccsr),
            mas7 = const $crate::tlb::Tlb1Entry::mas7(&$ccsr),
            msr_me = const $crate::trap::msr::ME,
            rust_main = sym __bulkhead_start_rust,
            rust_secondary = sym __bulkhead_secondary_rust,
        );
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(words: &[(usize, u32)]) -> impl Fn(usize) -> u32 + '_ {
        move |addr| words.iter().find(|(a, _)| *a == addr).map_or(0, |(_, v)| *v)
    }

    const GOOD: BootInfo = BootInfo { dtb: 0x0180_0000, epapr_magic: EPAPR_MAGIC, ima_size: 0x0400_0000 };

    #[test]
    fn a_good_header_gives_its_range() {
        let mem = [(0x0180_0000, FDT_MAGIC), (0x0180_0004, 0x2000)];
        assert_eq!(GOOD.check_dtb(blob(&mem)), Ok((0x0180_0000, 0x2000)));
    }

    #[test]
    fn bad_boots_are_refused() {
        let mem = [(0x0180_0000, FDT_MAGIC), (0x0180_0004, 0x2000)];
        let r = |b: BootInfo| b.check_dtb(blob(&mem));
        assert!(matches!(r(BootInfo { epapr_magic: 0, ..GOOD }), Err(DtbError::NotEpapr { .. })));
        assert!(matches!(r(BootInfo { dtb: 0, ..GOOD }), Err(DtbError::BadAddress { .. })));
        assert!(matches!(r(BootInfo { dtb: 0x0180_0002, ..GOOD }), Err(DtbError::BadAddress { .. })));
        assert!(matches!(r(BootInfo { ima_size: 0x0180_0004, ..GOOD }), Err(DtbError::BadAddress { .. })));
        assert!(matches!(r(BootInfo { ima_size: 0x0180_1000, ..GOOD }), Err(DtbError::BadSize { .. })));
        assert!(matches!(GOOD.check_dtb(|_| 0), Err(DtbError::BadMagic { found: 0 })));
    }
}
