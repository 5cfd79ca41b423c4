//! Start-up self-tests of the trap path, run by boards at first light.
//!
//! [`privileged_instruction_traps`] runs a two-instruction guest, `mfmsr` in problem state,
//! and checks that it comes back as a Program interrupt with ESR[PPR] at that very
//! instruction: the mechanism every later emulated instruction relies on.
//!
//! The probe code sits alone in a 4 KiB page in section `.guest_probe`, which the board's
//! linker script must keep (after `.text`, so the page alignment wastes little).

use core::fmt;

use crate::tlb::{Memory, PageSize, Perms, Tlb1Entry};
use crate::trap::{Ivor, TrapFrame};

/// The guest did not trap the way trap-and-emulate needs.
#[derive(Clone, Copy, Debug)]
pub struct Unexpected {
    pub ivor: Ivor,
    pub frame: TrapFrame,
}

impl fmt::Display for Unexpected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} interrupt (IVOR{}): {}", self.ivor.name(), self.ivor as u32, self.frame)
    }
}

/// The page the probe guest runs from, mapped for problem state in address space 1.
#[cfg_attr(not(target_arch = "powerpc"), allow(dead_code))]
const fn probe_mapping(esel: u8, page: u32) -> Tlb1Entry {
    Tlb1Entry {
        esel,
        va: page,
        pa: page as u64,
        size: PageSize::K4,
        memory: Memory::Normal,
        perms: Perms::USER_RX,
        iprot: false,
        guest_space: true,
    }
}

/// Runs `mfmsr` in problem state (mapped with TLB1 entry `esel`, which must be free and is
/// free again afterwards); returns the ESR of the Program interrupt it raised.
#[cfg(target_arch = "powerpc")]
pub fn privileged_instruction_traps(esel: u8) -> Result<u32, Unexpected> {
    extern "C" {
        static bh_guest_probe: u8;
    }
    // Only the address of the stub is taken (no read).
    let page = core::ptr::addr_of!(bh_guest_probe) as u32;
    let mapping = probe_mapping(esel, page);
    // SAFETY: the entry maps only the stub's own page (code, nothing else lives there:
    // see the assembly below), read/execute, in the guests' address space 1, which the
    // hypervisor never uses.
    unsafe { crate::tlb::write(&mapping) };
    let mut frame = TrapFrame::ZERO;
    frame.srr0 = page;
    // SAFETY: the only problem-state mapping in address space 1 is the stub page.
    let ivor = unsafe { crate::trap::run(&mut frame) };
    // SAFETY: nothing but the finished probe used the entry.
    unsafe { crate::tlb::invalidate(&mapping) };
    if ivor == Ivor::Program && frame.esr & crate::trap::esr::PPR != 0 && frame.srr0 == page {
        Ok(frame.esr)
    } else {
        Err(Unexpected { ivor, frame })
    }
}

// The probe guest, alone in its 4 KiB page.
#[cfg(target_arch = "powerpc")]
core::arch::global_asm!(
    r#"
    .section .guest_probe, "ax"        # placed after .text by the linker script
    .balign 4096                       # a page of its own: it is mapped for the guest
    .globl bh_guest_probe
bh_guest_probe:
    mfmsr 3                            # privileged: must raise a Program interrupt
    sc                                 # reached only if it did not: exits as a system call
    b .                                # never reached (sc always traps)
    .balign 4096                       # nothing else shares the page
    "#
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_page_is_user_executable_in_guest_space() {
        let m = probe_mapping(2, 0x7000);
        assert!(m.is_valid());
        assert_eq!(m.mas1() & crate::tlb::mas1::TS, crate::tlb::mas1::TS);
        assert_eq!(m.mas3() & crate::tlb::mas3::UX, crate::tlb::mas3::UX);
        assert_eq!(m.mas3() & (crate::tlb::mas3::UW | crate::tlb::mas3::SW), 0);
    }
}
