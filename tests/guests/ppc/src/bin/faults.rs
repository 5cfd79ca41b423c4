//! Faults: the guest's own handlers see exactly what the hardware reports.
//! - data TLB error (IVOR13) for a load and a store to an unmapped page: DEAR, ESR[ST];
//! - data storage (IVOR2) for a store to a read-only page: DEAR, ESR[ST];
//! - instruction TLB error (IVOR14) for a branch to an unmapped page: SRR0;
//! - program (IVOR6) for an illegal instruction (ESR[PIL]) and a trap (ESR[PTR]);
//! - alignment (IVOR5) for a misaligned `lwarx`: DEAR.
#![no_std]
#![no_main]

use core::arch::asm;
use guests_ppc::{esr, ivor, println, set_trap_handler, tlb, tlb1_write, Frame, Mapping};

const UNMAPPED: u32 = 0x3000_0000;
const READ_ONLY: u32 = 0x3010_0000;
const NO_CODE: u32 = 0x3020_0000;

#[repr(align(4096))]
struct Page(#[allow(dead_code)] [u32; 1024]);
static mut RO_PAGE: Page = Page([0; 1024]);
static mut WORDS: [u32; 4] = [0; 4];

fn name(vector: u32) -> &'static str {
    match vector {
        ivor::DATA_STORAGE => "data storage",
        ivor::INSTRUCTION_STORAGE => "instruction storage",
        ivor::ALIGNMENT => "alignment",
        ivor::PROGRAM => "program",
        ivor::DATA_TLB => "data TLB error",
        ivor::INSTRUCTION_TLB => "instruction TLB error",
        _ => "other",
    }
}

fn on_trap(f: &mut Frame) -> bool {
    let what = name(f.vector);
    match f.vector {
        ivor::DATA_STORAGE | ivor::DATA_TLB => {
            let kind = if f.esr & esr::ST != 0 { "store" } else { "load" };
            println!("faults: {what} ({kind}) DEAR {:#010x} ESR {:#010x}", f.dear, f.esr);
            f.srr0 += 4;
        }
        ivor::ALIGNMENT => {
            // Alignment defines only ESR[ST] (and SPE); QEMU leaves the rest stale.
            let kind = if f.esr & esr::ST != 0 { "store" } else { "load" };
            println!("faults: {what} ({kind}) DEAR {:#010x}", f.dear);
            f.srr0 += 4;
        }
        ivor::INSTRUCTION_TLB | ivor::INSTRUCTION_STORAGE => {
            println!("faults: {what} at SRR0 {:#010x}", f.srr0);
            f.srr0 = f.lr; // back to the caller of the bad branch
        }
        ivor::PROGRAM => {
            let kind = match f.esr {
                e if e & esr::PIL != 0 => "illegal",
                e if e & esr::PTR != 0 => "trap",
                e if e & esr::PPR != 0 => "privileged",
                _ => "?",
            };
            println!("faults: {what} ({kind}) ESR {:#010x}", f.esr);
            f.srr0 += 4;
        }
        _ => return false,
    }
    true
}

#[no_mangle]
fn main() {
    set_trap_handler(on_trap);
    println!("faults: start");
    // SAFETY (all below): every access either works or faults into on_trap, which steps
    // over it; the mapped page is this guest's own.
    unsafe {
        asm!("lwz {0}, 0({1})", out(reg) _, in(reg_nonzero) UNMAPPED);
        asm!("stw {0}, 0({1})", in(reg) 1u32, in(reg_nonzero) UNMAPPED + 8);
        let pa = core::ptr::addr_of!(RO_PAGE) as u32;
        tlb1_write(&Mapping { esel: 5, va: READ_ONLY, pa: pa.into(), tsize: tlb::TSIZE_4K, wimge: tlb::COHERENT, perms: tlb::SR });
        asm!("lwz {0}, 4({1})", out(reg) _, in(reg_nonzero) READ_ONLY);
        asm!("stw {0}, 4({1})", in(reg) 1u32, in(reg_nonzero) READ_ONLY);
        asm!("mtctr {0}", "bctrl", in(reg) NO_CODE, out("lr") _, out("ctr") _);
        asm!(".long 0");
        asm!("tw 31, 0, 0");
        let odd = core::ptr::addr_of_mut!(WORDS) as u32 + 2;
        asm!("lwarx {0}, 0, {1}", out(reg) _, in(reg_nonzero) odd);
    }
    println!("faults: done");
}
